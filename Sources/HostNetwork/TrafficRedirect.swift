// The two tc redirects that join a container's interface and the tap of its VM (Kata's "tcfilter" model):
// on each device an ingress qdisc with one filter matching every frame whose mirred action sends it out of
// the other device. Frames from the network reach the tap (and QEMU) before the namespace's own stack sees
// them; frames from the guest leave through the interface as if the container had sent them. iproute2's tc
// runs inside the namespace through nsenter.
//
// The filter is u32 `match u8 0 0` (every frame), as Kata's tcfilter first had it, not matchall: kernels
// built without CONFIG_NET_CLS_MATCHALL (this CI machine's is one) answer matchall with "TC classifier not
// found", while u32 is in every distribution kernel.
import Foundation
import HostProcess

/// One interface/tap pair's redirects in a namespace.
struct TrafficRedirect: Codable, Sendable, Equatable {
    /// The filters' priority: ahead of any filter already on the interface.
    static let priority = "1"

    var namespacePath: String
    var interface: String
    var tap: String
    /// Whether the interface's ingress qdisc was made here (then it goes at teardown, with its filters).
    var madeInterfaceQdisc = false
    /// Whether the interface's filter is in place (else there is nothing of ours on the interface).
    var filterAdded = false

    /// Adds both redirects; on a failure removes what it added.
    static func install(namespacePath: String, interface: String, tap: String) throws(TaskNetworkError) -> TrafficRedirect {
        var redirect = TrafficRedirect(namespacePath: namespacePath, interface: interface, tap: tap)
        do throws(TaskNetworkError) {
            redirect.madeInterfaceQdisc = try redirect.addIngressQdisc(interface)
            try redirect.tc(filter(on: interface, to: tap))
            redirect.filterAdded = true
            _ = try redirect.addIngressQdisc(tap)
            try redirect.tc(filter(on: tap, to: interface))
        } catch {
            redirect.remove()
            throw error
        }
        return redirect
    }

    /// The filter from `device` to `target`: every protocol, every frame.
    static func filter(on device: String, to target: String) -> [String] {
        ["filter", "add", "dev", device, "ingress", "pref", priority, "protocol", "all", "u32", "match", "u8", "0", "0",
         "action", "mirred", "egress", "redirect", "dev", target]
    }

    /// Removes the interface's redirect (the tap's goes with the tap). Errors are ignored: a namespace or an
    /// interface that has gone took its filters with it.
    func remove() {
        if madeInterfaceQdisc {
            _ = try? tc(["qdisc", "del", "dev", interface, "ingress"])
        } else if filterAdded {
            _ = try? tc(["filter", "del", "dev", interface, "ingress", "pref", Self.priority])
        }
    }

    /// Adds an ingress qdisc unless the device has one (ingress or clsact); returns whether it added it.
    private func addIngressQdisc(_ device: String) throws(TaskNetworkError) -> Bool {
        let existing = try tc(["qdisc", "show", "dev", device])
        if existing.contains("qdisc ingress ffff:") || existing.contains("qdisc clsact ffff:") { return false }
        try tc(["qdisc", "add", "dev", device, "handle", "ffff:", "ingress"])
        return true
    }

    @discardableResult
    private func tc(_ arguments: [String]) throws(TaskNetworkError) -> String {
        var command = ChildCommand("nsenter", ["--net=\(namespacePath)", "--", "tc"] + arguments)
        command.output = .capture
        command.error = .standardOutput
        let line = "tc " + arguments.joined(separator: " ") + " (in \(namespacePath))"
        let result: ChildResult
        do { result = try command.run(timeout: .seconds(30)) } catch {
            throw .trafficControl(command: line, output: "\(error)")
        }
        guard result.succeeded else {
            throw .trafficControl(command: line, output: "\(result.status): \(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return result.stdout
    }
}
