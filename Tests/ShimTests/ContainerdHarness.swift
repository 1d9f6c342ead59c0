import ContentHash
import Foundation
import GuestSys
import GuestTestSupport
import HostProcess
import LocalContainerd
import Testing

/// Debian's containerd run by the test (a `LocalContainerd` under a scratch directory), our built shim first on
/// its PATH. Stopped when released; the shims it started end with their tasks, and `leftovers` says what would
/// not.
final class ContainerdHarness: @unchecked Sendable {
    // Immutable after init; used from one test at a time.
    let scratch: ScratchDirectory
    let containerd: LocalContainerd
    let fifoDirectory: String
    /// Shim sockets that existed before this containerd started (other tests' and sessions').
    let socketsBefore: Set<String>

    var socket: String { containerd.socket }
    var process: ChildProcess { containerd.process }

    /// `shimConfigText(runRoot)` is the shim's TOML configuration, given the run root under the scratch
    /// directory it should use (so everything the shims start names the scratch directory).
    init(shimConfigText: (String) throws -> String) throws {
        scratch = try ScratchDirectory("ctrd")
        socketsBefore = Set((try? FileManager.default.contentsOfDirectory(atPath: "/run/containerd/s")) ?? [])
        fifoDirectory = scratch.file("fifo")
        try FileManager.default.createDirectory(atPath: fifoDirectory, withIntermediateDirectories: true)
        containerd = try LocalContainerd(directory: scratch.path, shim: BuiltProducts.path("containerd-shim-guestkit-v1"),
                                         shimConfig: try shimConfigText(scratch.file("run")))
    }

    var log: String { containerd.log }

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
        containerd.stop()
    }
}

/// A harness step that failed, with what it saw.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
