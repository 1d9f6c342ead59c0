// HostNetwork carries a container's network namespace into its VM, for the containerd shim: when the
// container's spec names a network namespace by path (CNI, CRI, `ctr run --with-ns network:PATH`), each
// Ethernet interface there gets a tap beside it, joined to it by tc redirects both ways, and the tap goes
// to QEMU as a virtio-net NIC with the interface's MAC (so the peers' neighbour entries stay right). The
// agent then gives the guest's NIC the interface's name, MTU and addresses, and the namespace's routes and
// permanent neighbours (GuestNetworkPlan); the container runs in the guest's root network namespace.
//
// The taps are opened here, in a thread that enters the namespace (NamespaceThread), and reach QEMU as
// inherited descriptors (`-netdev tap,fd=N`): QEMU itself stays in the host's namespace, and a tap lives
// only while a descriptor holds it, so a VM that dies takes its tap along. The namespace's own interfaces
// and addresses are left as they are; teardown removes the filters (and the taps, should anything still hold
// them), never the namespace, which is the caller's.
import Foundation
import GuestClient
import GuestLaunch
import GuestNetwork
import GuestProto
import GuestSys

/// A container's network namespace carried into its VM: the NICs for the VM, what to tell the guest, and
/// how to take it down.
public final class TaskNetwork: @unchecked Sendable {
    // Unchecked: `redirects` and `taps` change only in tearDown, which the owner calls once the VM is gone
    // (a lock makes a second call harmless); everything else is immutable.
    public let namespacePath: String
    /// The VM's NICs, one per carried interface: tap name, the interface's MAC, the tap's descriptor.
    public let interfaces: [GuestLaunch.NetworkInterface]
    /// The guest's configuration, sent in order by `configureGuest`.
    public let guestInterfaces: [Guestkit_V1_ConfigureInterfaceRequest]
    public let guestRoutes: Guestkit_V1_AddRoutesRequest
    public let guestNeighbors: Guestkit_V1_AddNeighborsRequest
    /// What was carried and what was left out, for the caller's log.
    public let notes: [String]
    private let lock = NSLock()
    private var redirects: [TrafficRedirect]
    private var taps: [FileDescriptor]

    /// Reads the namespace at `namespacePath`, makes a tap per Ethernet interface and redirects traffic
    /// between them. A namespace with nothing to carry (only lo) gives no interfaces: the VM gets no NIC.
    public static func prepare(namespacePath: String) throws(TaskNetworkError) -> TaskNetwork {
        let opened: (GuestNetworkPlan, [FileDescriptor])
        do {
            opened = try NamespaceThread.run(networkNamespace: namespacePath) { () throws -> (GuestNetworkPlan, [FileDescriptor]) in
                try Self.openTaps(namespacePath)
            }
        } catch let error as TaskNetworkError {
            throw error
        } catch {
            throw .namespace(namespacePath, "\(error)")
        }
        let (plan, taps) = opened
        var redirects: [TrafficRedirect] = []
        do throws(TaskNetworkError) {
            for (index, link) in plan.links.enumerated() {
                redirects.append(try TrafficRedirect.install(namespacePath: namespacePath, interface: link.name, tap: tapName(index)))
            }
        } catch {
            for redirect in redirects { redirect.remove() }
            for tap in taps { tap.closeQuietly() }
            throw error
        }
        var notes = plan.notes
        var interfaces: [GuestLaunch.NetworkInterface] = []
        for (index, link) in plan.links.enumerated() {
            let mac = link.hardwareAddress?.description ?? ""
            interfaces.append(GuestLaunch.NetworkInterface(tap: tapName(index), mac: mac, descriptor: taps[index]))
            let addresses = plan.interfaces[index].addresses.map(\.cidr).joined(separator: " ")
            notes.insert("carrying \(link.name) (\(link.kind ?? "device") \(mac), mtu \(link.mtu)\(addresses.isEmpty ? "" : ", " + addresses)) "
                         + "through \(tapName(index))", at: index)
        }
        return TaskNetwork(namespacePath: namespacePath, interfaces: interfaces, plan: plan, notes: notes,
                           redirects: redirects, taps: taps)
    }

    private init(namespacePath: String, interfaces: [GuestLaunch.NetworkInterface], plan: GuestNetworkPlan, notes: [String],
                 redirects: [TrafficRedirect], taps: [FileDescriptor]) {
        self.namespacePath = namespacePath
        self.interfaces = interfaces
        guestInterfaces = plan.interfaces
        guestRoutes = plan.routes
        guestNeighbors = plan.neighbors
        self.notes = notes
        self.redirects = redirects
        self.taps = taps
    }

    static func tapName(_ index: Int) -> String { GuestNetworkPlan.tapPrefix + "\(index)" }

    /// In the namespace: the plan, and a tap per carried interface with the interface's MTU, up.
    private static func openTaps(_ namespacePath: String) throws -> (GuestNetworkPlan, [FileDescriptor]) {
        let state: NetworkState
        do throws(NetworkError) { state = try NetworkState.read() } catch {
            throw TaskNetworkError.network("reading the interfaces of \(namespacePath)", error)
        }
        let plan = try GuestNetworkPlan(state)
        var taps: [FileDescriptor] = []
        do {
            for (index, link) in plan.links.enumerated() {
                let name = tapName(index)
                do throws(SysError) { taps.append(try TapDevices.open(name)) } catch {
                    throw TaskNetworkError.namespace(namespacePath, "cannot make the tap \(name): \(error)")
                }
                var tap = Guestkit_V1_ConfigureInterfaceRequest()
                tap.name = name
                tap.mtu = link.mtu
                tap.up = true
                // No IPv6 of its own on the tap: its link-local address, MLD reports and router solicitations
                // would go to the guest. (No such file: the host has no IPv6 at all.)
                try? FileSystem.writeFile("/proc/sys/net/ipv6/conf/\(name)/disable_ipv6", "1\n")
                do throws(NetworkError) { _ = try InterfaceConfiguration.configure(tap) } catch {
                    throw TaskNetworkError.network("setting up \(name) in \(namespacePath)", error)
                }
            }
        } catch {
            for tap in taps { tap.closeQuietly() }
            throw error
        }
        return (plan, taps)
    }

    /// Sends the configuration to the guest's agent: each interface, then the routes, then the neighbours.
    public func configureGuest(_ client: GuestClient, timeoutNanoseconds: Int64 = 30_000_000_000) throws(TaskNetworkError) {
        for request in guestInterfaces {
            do throws(GuestClientError) {
                let _: Guestkit_V1_ConfigureInterfaceResponse = try client.channel.call("ConfigureInterface", request, timeoutNanoseconds: timeoutNanoseconds)
            } catch {
                throw .guest("interface \(request.name)", error)
            }
        }
        if !guestRoutes.routes.isEmpty {
            do throws(GuestClientError) {
                let _: Guestkit_V1_AddRoutesResponse = try client.channel.call("AddRoutes", guestRoutes, timeoutNanoseconds: timeoutNanoseconds)
            } catch {
                throw .guest("routes", error)
            }
        }
        if !guestNeighbors.neighbors.isEmpty {
            do throws(GuestClientError) {
                let _: Guestkit_V1_AddNeighborsResponse = try client.channel.call("AddNeighbors", guestNeighbors, timeoutNanoseconds: timeoutNanoseconds)
            } catch {
                throw .guest("neighbours", error)
            }
        }
    }

    /// What `cleanUp` needs to take the redirects down after this process died (for the caller's state file).
    public var record: TaskNetworkRecord {
        lock.withLock { TaskNetworkRecord(namespacePath: namespacePath, redirects: redirects) }
    }

    /// Removes the redirects and closes the taps (deleting any a VM still holds). Call once the VM is gone;
    /// idempotent.
    public func tearDown() {
        let (redirects, taps) = lock.withLock {
            defer { self.redirects = []; self.taps = [] }
            return (self.redirects, self.taps)
        }
        guard !redirects.isEmpty || !taps.isEmpty else { return }
        Self.remove(redirects, namespacePath: namespacePath)
        for tap in taps { tap.closeQuietly() }
    }

    /// Takes down what a dead process left, from its record: the redirects and any tap still there.
    public static func cleanUp(_ record: TaskNetworkRecord) {
        remove(record.redirects, namespacePath: record.namespacePath)
    }

    private static func remove(_ redirects: [TrafficRedirect], namespacePath: String) {
        for redirect in redirects { redirect.remove() }
        let taps = redirects.map(\.tap)
        _ = try? NamespaceThread.run(networkNamespace: namespacePath) { () throws -> Void in
            for tap in taps { _ = try? LinkRemoval.remove(tap) }
        }
    }

    deinit { tearDown() }
}

/// The redirects a TaskNetwork made, as JSON in the shim's state file.
public struct TaskNetworkRecord: Codable, Sendable, Equatable {
    public var namespacePath: String
    var redirects: [TrafficRedirect]
}
