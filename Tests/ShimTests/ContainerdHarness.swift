import ContentHash
import Foundation
import GuestSys
import GuestTestSupport
import HostProcess
import Testing

/// Debian's containerd run by the test: its own root, state, sockets and config under a scratch directory
/// (the CRI plugin off), our shim first on its PATH and configured through GUESTKIT_SHIM_CONFIG. Stopped
/// when released; the shims it started end with their tasks, and `leftovers` says what would not.
final class ContainerdHarness: @unchecked Sendable {
    // Immutable after init; used from one test at a time.
    let scratch: ScratchDirectory
    let socket: String
    let process: ChildProcess
    let shimConfig: String
    let fifoDirectory: String
    let logPath: String
    /// Shim sockets that existed before this containerd started (other tests' and sessions').
    let socketsBefore: Set<String>

    /// `shimConfigText(runRoot)` is the shim's TOML configuration, given the run root under the scratch
    /// directory it should use (so everything the shims start names the scratch directory).
    init(shimConfigText: (String) throws -> String) throws {
        scratch = try ScratchDirectory("ctrd")
        socketsBefore = Set((try? FileManager.default.contentsOfDirectory(atPath: "/run/containerd/s")) ?? [])
        socket = scratch.file("containerd.sock")
        fifoDirectory = scratch.file("fifo")
        logPath = scratch.file("containerd.log")
        shimConfig = scratch.file("shim.toml")
        try shimConfigText(scratch.file("run")).write(toFile: shimConfig, atomically: true, encoding: .utf8)
        let binDirectory = scratch.file("bin")
        try FileManager.default.createDirectory(atPath: binDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: fifoDirectory, withIntermediateDirectories: true)
        // containerd looks the shim up on its own PATH: a link to the built binary comes first.
        try FileManager.default.createSymbolicLink(atPath: binDirectory + "/containerd-shim-guestkit-v1",
                                                   withDestinationPath: BuiltProducts.path("containerd-shim-guestkit-v1"))
        let config = """
            version = 2
            root = "\(scratch.file("root"))"
            state = "\(scratch.file("state"))"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "\(socket)"
            [plugins."io.containerd.internal.v1.opt"]
              path = "\(scratch.file("opt"))"
            """
        try config.write(toFile: scratch.file("config.toml"), atomically: true, encoding: .utf8)
        let containerd = try #require(ChildCommand("containerd").executablePath(),
                                      "Debian's containerd is needed (make deps installs it)")
        var command = ChildCommand(containerd, ["--config", scratch.file("config.toml"), "--log-level", "debug"])
        command.environment["PATH"] = binDirectory + ":" + (command.environment["PATH"] ?? "/usr/bin:/bin")
        command.environment["GUESTKIT_SHIM_CONFIG"] = shimConfig
        command.output = .file(logPath, append: true)
        command.error = .standardOutput
        command.lifetime = .seconds(3600)
        process = try ChildProcess(command)
        let deadline = ContinuousClock.now + .seconds(30)
        while (try? ctr(["version"], timeout: .seconds(5)))?.succeeded != true {
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw HarnessError("containerd did not come up:\n\(log)")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// `ctr --address SOCK ARGS…` with the FIFOs in the scratch directory.
    @discardableResult
    func ctr(_ arguments: [String], input: Data? = nil, timeout: Duration = .seconds(300)) throws -> CommandResult {
        var words = ["ctr", "--address", socket]
        if let first = arguments.first, ["run", "task", "t", "tasks"].contains(first) {
            words += [first]
            if first == "run" { words += ["--fifo-dir", fifoDirectory] }
            words += arguments.dropFirst()
        } else {
            words += arguments
        }
        return try Command.run(words, input: input, timeout: timeout)
    }

    /// Imports an OCI layout tar; returns the image's reference.
    func importImage(_ tar: String) throws {
        let result = try ctr(["images", "import", "--all-platforms", tar])
        guard result.succeeded else { throw HarnessError("ctr images import failed: \(result)") }
    }

    /// What this containerd's tasks left behind: processes naming the scratch directory (shims, QEMU,
    /// bridges; containerd itself excepted), mounts under it, new shim sockets. Empty when all is clean.
    func leftovers() -> [String] {
        var found: [String] = []
        let me = Processes.currentID
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != me, pid != process.pid,
                  let bytes = try? FileSystem.readFile("/proc/\(pid)/cmdline", limit: 1 << 20) else { continue }
            let line = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
            if line.contains(scratch.path) && !line.hasPrefix("ctr ") { found.append("process \(pid): \(line.prefix(200))") }
        }
        if let mounts = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) {
            for line in mounts.split(separator: "\n") where line.contains(scratch.path + "/state") || line.contains(scratch.path + "/run") {
                found.append("mount: \(line)")
            }
        }
        let sockets = Set((try? FileManager.default.contentsOfDirectory(atPath: "/run/containerd/s")) ?? [])
        for socket in sockets.subtracting(socketsBefore).sorted() {
            // Only live shims' sockets of this containerd count: a socket nobody answers on is a leftover too.
            found.append("socket /run/containerd/s/\(socket)")
        }
        return found
    }

    /// Waits (bounded) until nothing is left; returns what still is.
    func leftoversAfterSettling(_ timeout: Duration = .seconds(30)) -> [String] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = leftovers()
            if left.isEmpty || ContinuousClock.now >= deadline { return left }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    deinit {
        process.stop(grace: .seconds(10))
    }
}

/// A harness step that failed, with what it saw.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
