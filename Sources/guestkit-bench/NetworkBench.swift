// Network figures between a peer namespace and a container's network namespace (192.0.2.0/24 only): TCP
// throughput (one connection, peer → container) and connect round trip, for the namespace carried into a
// guest as the shim carries it (tap, tc mirred redirects, virtio-net; the server runs in the guest) beside
// the namespace itself, which is where a runc container in it runs its server: runc puts nothing on the
// path, its container uses the namespace's veth as is. Under TCG every guest instruction is emulated, so the
// guest's figures are slow in absolute terms: the ratio is what the bench is for. Prints, asserts nothing.
import ArgumentParser
import Foundation
import GuestClient
import GuestLaunch
import GuestProto
import GuestSys
import HostNetwork
import HostProcess

struct NetworkBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network", abstract: "TCP throughput and connect round trip: the container's namespace in a guest vs the namespace itself.")

    @Option(help: "Directory with rootfs.img(.manifest.json) (make guest-image).") var guestDir: String
    @Option(help: "MiB sent per throughput run.") var mebibytes: Int = 32
    @Option(help: "Throughput runs per side (the median is printed).") var runs: Int = 3
    @Option(help: "Connects per side.") var connects: Int = 200
    @Option(help: "The guest-vsock-bridge executable.") var bridge: String = "guest-vsock-bridge"
    @Option(help: "Scratch directory for the guest's sockets and console.") var scratch: String = "/tmp/gk-bench-net"

    static let containerAddress = "192.0.2.2"
    static let throughputPort: UInt16 = 5000
    static let connectPort: UInt16 = 5001

    struct Figures {
        var mebibytesPerSecond: [Double]
        var connectMilliseconds: [Double]
    }

    func run() throws {
        let container = try BenchNamespace("gkbench-c")
        let peer = try BenchNamespace("gkbench-p")
        defer { container.delete(); peer.delete() }
        try BenchNamespace.ip(["-n", container.name, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0", "netns", peer.name])
        try BenchNamespace.ip(["-n", container.name, "addr", "add", Self.containerAddress + "/24", "dev", "eth0"])
        try BenchNamespace.ip(["-n", peer.name, "addr", "add", "192.0.2.1/24", "dev", "peer0"])
        try BenchNamespace.ip(["-n", container.name, "link", "set", "eth0", "up"])
        try BenchNamespace.ip(["-n", peer.name, "link", "set", "peer0", "up"])
        print("network: peer namespace → container's namespace, \(mebibytes) MiB × \(runs) runs, \(connects) connects; medians")

        // The namespace itself: what a runc container in it gets.
        let reference = try measure(peer: peer) { command in
            var child = ChildCommand("ip", ["netns", "exec", container.name] + command)
            child.output = .null
            child.error = .null
            child.lifetime = .seconds(600)
            let process = try ChildProcess(child)
            return { process.stop(grace: .seconds(2)) }
        }
        report("namespace (runc's container)", reference)

        // The same namespace carried into a guest; the servers run in the guest's network namespace, where
        // the shim runs the container.
        let network = try TaskNetwork.prepare(namespacePath: container.path)
        defer { network.tearDown() }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        var boot = BootRequest(manifestPath: guestDir + "/rootfs.img.manifest.json", runDirectory: scratch)
        boot.accelerator = .tcg
        boot.bridgeExecutable = bridge
        boot.maximumLifetime = .seconds(1800)
        boot.name = "netbench"
        var request = try boot.launchRequest()
        request.vm.interfaces = network.interfaces
        let guest = try RunningGuest(request)
        defer { guest.stop() }
        let (client, _) = try guest.connectAgent(timeout: .seconds(300))
        try network.configureGuest(client)
        let ours = try measure(peer: peer) { command in
            var start = Guestkit_V1_StartProcessRequest()
            start.args = command
            let id = try client.startProcess(start).id
            return { try? client.signal(id, Signal.kill) }
        }
        report("guest (GuestKit: tap, tc mirred, virtio-net, TCG)", ours)
        print(String(format: "network: throughput guest / namespace %.3f; connect round trip guest / namespace %.1f×",
                     median(ours.mebibytesPerSecond) / median(reference.mebibytesPerSecond),
                     median(ours.connectMilliseconds) / median(reference.connectMilliseconds)))
        _ = try? guest.shutdown(client, timeout: .seconds(60))
    }

    /// Runs the servers `serve` starts (it returns how to stop one) and measures from the peer namespace.
    func measure(peer: BenchNamespace, serve: ([String]) throws -> () -> Void) throws -> Figures {
        var throughput: [Double] = []
        for _ in 0..<runs {
            let stop = try serve(["busybox", "nc", "-l", "-p", String(Self.throughputPort), "-e", "busybox", "dd", "of=/dev/null", "bs=65536"])
            defer { stop() }
            let bytes = mebibytes << 20
            let seconds = try NamespaceThread.run(networkNamespace: peer.path) { () throws -> Double in
                try TCPProbe.send(bytes: bytes, to: Self.containerAddress, port: Self.throughputPort)
            }
            throughput.append(Double(bytes) / 1_048_576 / seconds)
        }
        let stop = try serve(["busybox", "httpd", "-f", "-p", String(Self.connectPort), "-h", "/"])
        defer { stop() }
        let count = connects
        let latencies = try NamespaceThread.run(networkNamespace: peer.path) { () throws -> [Double] in
            try TCPProbe.connectTimes(count, to: Self.containerAddress, port: Self.connectPort)
        }
        return Figures(mebibytesPerSecond: throughput, connectMilliseconds: latencies)
    }

    func report(_ name: String, _ figures: Figures) {
        let connects = LatencySummary(figures.connectMilliseconds)
        print(String(format: "  %@: throughput %.1f MiB/s; connect p50 %.3f ms, p99 %.3f ms", name,
                     median(figures.mebibytesPerSecond), connects.percentile(0.5), connects.percentile(0.99)))
    }

    func median(_ samples: [Double]) -> Double { LatencySummary(samples).percentile(0.5) }
}

/// A scratch network namespace of the bench (`ip netns add`), lo up; deleted at the end.
struct BenchNamespace {
    let name: String
    var path: String { "/var/run/netns/" + name }

    init(_ name: String) throws {
        self.name = name
        BenchNamespace(existing: name).delete()
        try Self.ip(["netns", "add", name])
        try Self.ip(["-n", name, "link", "set", "lo", "up"])
    }

    static func ip(_ arguments: [String]) throws {
        var command = ChildCommand("ip", arguments)
        command.output = .capture
        command.error = .capture
        let result = try command.run()
        guard result.succeeded else { throw ValidationError("ip \(arguments.joined(separator: " ")): \(result)") }
    }

    private init(existing name: String) { self.name = name }

    func delete() {
        var command = ChildCommand("ip", ["netns", "delete", name])
        command.output = .null
        command.error = .null
        _ = try? command.run()
    }
}

/// TCP from the calling thread's network namespace, timed with the monotonic clock.
enum TCPProbe {
    /// Connects (retrying while the server is not listening yet), sends `bytes`, half-closes and waits for
    /// the server's close; the seconds from the first byte to that close.
    static func send(bytes: Int, to address: String, port: UInt16) throws -> Double {
        let fd = try connect(address, port, retryFor: .seconds(120))
        defer { fd.closeQuietly() }
        let chunk = [UInt8](repeating: 0x5a, count: 1 << 16)
        let start = Clock.monotonicNanoseconds
        var left = bytes
        while left > 0 {
            let piece = min(left, chunk.count)
            try Sockets.sendAll(fd, piece == chunk.count ? chunk : Array(chunk.prefix(piece)))
            left -= piece
        }
        try Sockets.shutdown(fd, .write)
        while try !fd.read(upTo: 4096).isEmpty {}
        return Double(Clock.monotonicNanoseconds - start) / 1e9
    }

    /// `count` connects (each closed at once), in milliseconds. Paced: busybox httpd forks per connection
    /// and listens with a short backlog, and a SYN dropped on a full queue would measure its 1 s retransmit.
    static func connectTimes(_ count: Int, to address: String, port: UInt16) throws -> [Double] {
        try connect(address, port, retryFor: .seconds(120)).closeQuietly()
        return try (0..<count).map { _ in
            let start = Clock.monotonicNanoseconds
            let fd = try connect(address, port, retryFor: .zero)
            let elapsed = Double(Clock.monotonicNanoseconds - start) / 1e6
            fd.closeQuietly()
            usleep(5_000)
            return elapsed
        }
    }

    static func connect(_ address: String, _ port: UInt16, retryFor: Duration) throws -> FileDescriptor {
        guard let target = SocketAddress.inet(address, port: port) else {
            throw ValidationError("not an IP address: \(address)")
        }
        let deadline = ContinuousClock.now + retryFor
        while true {
            do throws(SysError) { return try Sockets.connect(target) } catch {
                guard error.code == ECONNREFUSED, ContinuousClock.now < deadline else { throw error }
            }
            usleep(50_000)
        }
    }
}
