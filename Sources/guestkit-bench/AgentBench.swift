// `guestkit-bench agent`: the agent's speed and footprint, measured against a real guest-agent started
// natively on a Unix socket. Prints figures, asserts nothing (goals: exec round trip p50 <= 1 ms and
// p99 <= 2 ms, stdout throughput >= 1.5 GB/s, idle private dirty memory <= 5 MiB and flat after 10,000 execs).
import ArgumentParser
import Foundation
import GuestClient
import GuestProto
import GuestSys
import HostProcess

struct AgentBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Exec round trip, stdout throughput, idle memory and descriptors of guest-agent.")

    @Option(help: "The guest-agent binary to measure (the static release build).")
    var agent: String
    @Option(help: "Scratch directory for the socket and the large file.")
    var scratch: String = "/tmp/guestkit-agent-bench"
    @Option(help: "Exec round trips timed for the latency figures.")
    var execs: Int = 2000
    @Option(help: "Execs before the second memory reading.")
    var memoryExecs: Int = 10_000
    @Option(help: "Size of the file `cat` streams, in MiB.")
    var catMebibytes: Int = 512

    func run() throws {
        // Socket paths and agent addresses want an absolute directory.
        let scratch = URL(fileURLWithPath: self.scratch).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        // A freshly linked binary's pages are dirty in the page cache until written back, and smaps counts
        // them as the agent's private dirty memory: write them back first so the figure is the agent's own.
        FileSystem.syncAll()
        let size = (try? FileManager.default.attributesOfItem(atPath: agent)[.size] as? Int) ?? 0
        print("agent: binary \(agent), \(String(format: "%.1f", Double(size) / 1_048_576)) MiB")
        let linked = try AgentBenchCommand.output(["ldd", agent])
        let shared = linked.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .compactMap { $0.split(separator: " ").first.map(String.init) }
        print("agent: shared libraries: \(shared.joined(separator: " "))")
        let foundation = shared.filter { $0.contains("Foundation") || $0.contains("icu") || $0.contains("swift") }
        print("agent: Foundation/ICU/Swift shared libraries linked: \(foundation.isEmpty ? "none" : foundation.joined(separator: " "))")

        let process = try AgentUnderBench(binary: agent, directory: scratch)
        defer { process.stop() }
        let client = try GuestClient("unix://" + process.socketPath)
        // One call so the first connection's buffers exist, as in any idle agent a host has reached.
        _ = try client.info()
        print("agent: idle: \(process.footprint())")

        var trueRequest = Guestkit_V1_StartProcessRequest()
        trueRequest.args = ["/bin/true"]
        for _ in 0..<50 { _ = try roundTrip(client, trueRequest) }
        let bare = try (0..<execs).map { _ in try roundTrip(client, trueRequest) }
        print("agent: exec /bin/true round trip, no stdio (\(execs) runs): \(summary(bare))")
        let attachedRuns = max(execs / 2, 1)
        let attached = try (0..<attachedRuns).map { _ in try roundTripWithStdout(client, trueRequest) }
        print("agent: exec /bin/true round trip, stdout attached (\(attachedRuns) runs): \(summary(attached))")

        let file = try largeFile(in: scratch)
        var rates: [Double] = []
        for _ in 0..<3 { rates.append(try catThroughput(client, file)) }
        let sorted = rates.sorted()
        print("agent: stdout throughput, cat of a \(catMebibytes) MiB file: \(Int(sorted[1])) MB/s median, \(Int(sorted[2])) MB/s best (runs: \(rates.map { String(Int($0)) }.joined(separator: ", ")) MB/s)")
        print("agent: after \(execs + attachedRuns + 53) execs: \(process.footprint())")

        let done = execs + attachedRuns + 53
        for _ in done..<max(memoryExecs, done) { _ = try roundTrip(client, trueRequest) }
        print("agent: after \(max(memoryExecs, done)) execs: \(process.footprint())")
    }

    /// StartProcess + WaitProcess, in milliseconds.
    func roundTrip(_ client: GuestClient, _ request: Guestkit_V1_StartProcessRequest) throws -> Double {
        let start = Clock.monotonicNanoseconds
        let started = try client.startProcess(request)
        _ = try client.wait(started.id)
        return Double(Clock.monotonicNanoseconds - start) / 1e6
    }

    /// StartProcess + AttachStdio(stdout) + read to EOF + WaitProcess, as `guestctl exec` does it.
    func roundTripWithStdout(_ client: GuestClient, _ request: Guestkit_V1_StartProcessRequest) throws -> Double {
        var request = request
        request.stdout = true
        let start = Clock.monotonicNanoseconds
        let started = try client.startProcess(request)
        let out = try client.attach(started.id, .stdout)
        _ = try out.readToEnd()
        out.closeQuietly()
        _ = try client.wait(started.id)
        return Double(Clock.monotonicNanoseconds - start) / 1e6
    }

    func summary(_ samples: [Double]) -> String { LatencySummary(samples).text(decimals: 3) }

    /// A file of `catMebibytes` MiB of random bytes (reused when already the right size).
    func largeFile(in scratch: String) throws -> String {
        let path = scratch + "/large-\(catMebibytes)M"
        let want = catMebibytes << 20
        if let existing = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int, existing == want { return path }
        var chunk = Data(count: 1 << 20)
        var generator = SystemRandomNumberGenerator()
        chunk.withUnsafeMutableBytes { raw in
            for i in stride(from: 0, to: raw.count, by: 8) { raw.storeBytes(of: generator.next(), toByteOffset: i, as: UInt64.self) }
        }
        _ = FileManager.default.createFile(atPath: path + ".tmp", contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path + ".tmp"))
        for _ in 0..<catMebibytes { handle.write(chunk) }
        try handle.close()
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: path + ".tmp", toPath: path)
        return path
    }

    /// Streams the file through the agent and returns MB/s (10^6 bytes) from start to exit status.
    func catThroughput(_ client: GuestClient, _ path: String) throws -> Double {
        var request = Guestkit_V1_StartProcessRequest()
        request.args = ["cat", path]
        request.stdout = true
        let start = Clock.monotonicNanoseconds
        let started = try client.startProcess(request)
        let out = try client.attach(started.id, .stdout)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total = 0
        while true {
            let n = try buffer.withUnsafeMutableBytes { raw in try out.read(into: raw) }
            if n == 0 { break }
            total += n
        }
        out.closeQuietly()
        let status = try client.wait(started.id)
        let seconds = Double(Clock.monotonicNanoseconds - start) / 1e9
        guard status.code == 0, total == catMebibytes << 20 else {
            throw ValidationError("cat delivered \(total) bytes and \(status); expected \(catMebibytes << 20) bytes")
        }
        return Double(total) / seconds / 1e6
    }
}

/// guest-agent started as guest-init would (control socket on fd 3), stopped with SIGTERM.
final class AgentUnderBench {
    let process: ChildProcess
    var pid: Int32 { process.pid }
    let socketPath: String

    init(binary: String, directory: String) throws {
        socketPath = directory + "/agent.sock"
        let (control, theirs) = try Sockets.pair()
        defer { theirs.closeQuietly() }
        var command = ChildCommand(binary, ["--listen", "unix:" + socketPath],
                                   environment: ["GUESTKIT_INIT_FD": "3", "PATH": "/usr/bin:/bin"])
        command.output = .file(directory + "/agent.log", append: false)
        command.error = .standardOutput
        command.extraDescriptors = [3: theirs]
        process = try ChildProcess(command)
        guard try control.waitReadable(timeoutMilliseconds: 30_000),
              String(decoding: try control.read(upTo: 6), as: UTF8.self) == "READY\n" else {
            throw ValidationError("guest-agent did not report READY within 30 s; see \(directory)/agent.log")
        }
        control.closeQuietly()
    }

    /// Private dirty memory, RSS and open descriptors, from /proc.
    func footprint() -> String {
        let rollup = (try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8)) ?? ""
        func kib(_ key: String) -> Double {
            for line in rollup.split(separator: "\n") where line.hasPrefix(key + ":") {
                return Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
            }
            return 0
        }
        let fds = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count
        return String(format: "private dirty %.2f MiB, rss %.2f MiB, %d open descriptors",
                      kib("Private_Dirty") / 1024, kib("Rss") / 1024, fds)
    }

    func stop() {
        process.stop()
    }
}

/// Output of a host command.
enum AgentBenchCommand {
    static func output(_ arguments: [String]) throws -> String {
        var command = ChildCommand(arguments[0], Array(arguments.dropFirst()))
        command.output = .capture
        command.error = .null
        return try command.run().stdout
    }
}

/// Percentiles of latency samples in milliseconds, as the benches print them.
struct LatencySummary {
    let sorted: [Double]
    let mean: Double

    init(_ samples: [Double]) {
        sorted = samples.sorted()
        mean = samples.isEmpty ? 0 : samples.reduce(0, +) / Double(samples.count)
    }

    func percentile(_ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    func text(decimals: Int) -> String {
        let f = "%.\(decimals)f"
        return String(format: "p50 \(f) ms, p99 \(f) ms, mean \(f) ms, max \(f) ms", percentile(0.5), percentile(0.99), mean, sorted.last ?? 0)
    }
}
