// `guestkit-bench containers`: what a container costs through the agent, natively on a Unix socket,
// beside Debian's runc on the same bundle in the same run. Prints figures, asserts nothing (goals:
// create+start+wait of /bin/true p50 <= 10 ms and <= 0.2x `runc run`; agent idle private dirty with the
// engine linked <= 2 MiB).
import ArgumentParser
import Foundation
import GuestClient
import GuestProto
import GuestSys
import HostProcess

struct ContainerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "containers", abstract: "Container create+start+wait beside runc run, and the agent's memory with the engine.")

    @Option(help: "The guest-agent binary to measure (the static release build).")
    var agent: String
    @Option(help: "Scratch directory for the socket and the bundle.")
    var scratch: String = "/tmp/guestkit-container-bench"
    @Option(help: "Containers timed through the agent.")
    var runs: Int = 300
    @Option(help: "Containers timed under runc.")
    var runcRuns: Int = 60

    func run() throws {
        let scratch = URL(fileURLWithPath: self.scratch).standardizedFileURL.path
        try? FileManager.default.removeItem(atPath: scratch)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        FileSystem.syncAll()
        let bundle = try makeBundle(in: scratch)
        print("containers: bundle \(bundle): busybox rootfs, containerd's default spec (ctr oci spec), /bin/true")

        let process = try AgentUnderBench(binary: agent, directory: scratch)
        defer { process.stop() }
        let client = try GuestClient("unix://" + process.socketPath)
        _ = try client.info()
        print("containers: agent idle before any container: \(process.footprint())")

        for n in 0..<20 { _ = try cycle(client, bundle: bundle, id: "bench-warm-\(n)") }
        var phases: [[Double]] = [[], [], [], []]
        for n in 0..<runs {
            let times = try cycle(client, bundle: bundle, id: "bench-\(n % 4)")
            for (i, t) in times.enumerated() { phases[i].append(t) }
        }
        let created = zip(zip(phases[0], phases[1]), phases[2]).map { $0.0 + $0.1 + $1 }
        print("containers: agent create+start+wait of /bin/true (\(runs) runs): \(summary(created))")
        for (name, samples) in zip(["CreateContainer", "StartContainer", "WaitProcess", "DeleteContainer"], phases) {
            print("containers:   \(name): \(summary(samples))")
        }
        print("containers: agent idle after \(runs + 20) containers: \(process.footprint())")

        let runc = try (0..<runcRuns).map { n in try runcRun(bundle: bundle, id: "bench-runc-\(n % 4)") }
        print("containers: runc run of the same bundle (\(runcRuns) runs): \(summary(runc))")
        let ratio = median(created) / median(runc)
        print(String(format: "containers: agent/runc p50 ratio %.3f (goal <= 0.2), agent p50 %.2f ms (goal <= 10 ms)", ratio, median(created)))
    }

    /// Create, start, wait and delete, each in milliseconds.
    func cycle(_ client: GuestClient, bundle: String, id: String) throws -> [Double] {
        var request = Guestkit_V1_CreateContainerRequest()
        request.id = id
        request.bundle = bundle
        var marks = [Clock.monotonicNanoseconds]
        _ = try client.createContainer(request)
        marks.append(Clock.monotonicNanoseconds)
        try client.startContainer(id)
        marks.append(Clock.monotonicNanoseconds)
        let exit = try client.wait(id, container: id)
        marks.append(Clock.monotonicNanoseconds)
        try client.deleteContainer(id)
        marks.append(Clock.monotonicNanoseconds)
        guard exit == ProcessExit(code: 0, signal: 0) else { throw ValidationError("/bin/true in a container: \(exit)") }
        return (1..<marks.count).map { Double(marks[$0] - marks[$0 - 1]) / 1e6 }
    }

    func runcRun(bundle: String, id: String) throws -> Double {
        var command = ChildCommand("/usr/sbin/runc", ["--root", scratch + "/runc", "run", "--bundle", bundle, id])
        command.output = .null
        command.error = .capture
        let start = Clock.monotonicNanoseconds
        let result = try command.run()
        let took = Double(Clock.monotonicNanoseconds - start) / 1e6
        guard result.status == .exited(code: 0) else { throw ValidationError("runc run: \(result.status) \(result.stderr)") }
        return took
    }

    func makeBundle(in scratch: String) throws -> String {
        let bundle = scratch + "/bundle"
        let fm = FileManager.default
        for dir in ["bin", "proc", "sys", "dev", "tmp", "etc", "run"] {
            try fm.createDirectory(atPath: bundle + "/rootfs/" + dir, withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: "/bin/busybox", toPath: bundle + "/rootfs/bin/busybox")
        try fm.createSymbolicLink(atPath: bundle + "/rootfs/bin/true", withDestinationPath: "busybox")
        var command = ChildCommand("ctr", ["oci", "spec"])
        command.output = .capture
        command.error = .null
        guard var spec = try JSONSerialization.jsonObject(with: Data(try command.run().stdout.utf8)) as? [String: Any],
              var process = spec["process"] as? [String: Any], var linux = spec["linux"] as? [String: Any] else {
            throw ValidationError("`ctr oci spec` printed no spec (is containerd installed?)")
        }
        process["args"] = ["/bin/true"]
        process["env"] = ["PATH=/bin"]
        spec["process"] = process
        linux["cgroupsPath"] = "/guestkit-bench/true"
        spec["linux"] = linux
        try JSONSerialization.data(withJSONObject: spec).write(to: URL(fileURLWithPath: bundle + "/config.json"))
        return bundle
    }

    func median(_ samples: [Double]) -> Double { LatencySummary(samples).percentile(0.5) }

    func summary(_ samples: [Double]) -> String { LatencySummary(samples).text(decimals: 2) }
}
