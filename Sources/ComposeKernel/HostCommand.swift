// Running host programs (make, tar, merge_config.sh) with their output in a file, so a long build
// never blocks on a full pipe and its log survives the run.
import Foundation

/// One host program run to completion, with stdout and stderr together in a file.
struct HostCommand {
    let executable: String
    let arguments: [String]
    var directory: URL?
    var environment: [String: String] = [:]

    init(_ executable: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]) {
        self.executable = executable
        self.arguments = arguments
        self.directory = directory
        self.environment = environment
    }

    var commandLine: String { ([executable] + arguments).joined(separator: " ") }

    /// Runs the command with output appended to `log`; `poll` is called about twice a second while it
    /// runs. Returns the exit status (128 + signal when killed by one).
    func run(log: URL, poll: () -> Void = {}) throws(ComposeKernelError) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        if let directory { process.currentDirectoryURL = directory }
        var merged = ProcessInfo.processInfo.environment
        // A parent make's jobserver and flags must not leak into ours (compose-guest runs under `make kernel`).
        for name in ["MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "KCONFIG_CONFIG", "KCONFIG_ALLCONFIG"] {
            merged[name] = nil
        }
        merged.merge(environment) { $1 }
        merged["LC_ALL"] = "C"
        process.environment = merged
        if !FileManager.default.fileExists(atPath: log.path) {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        }
        let handle: FileHandle
        do {
            handle = try FileHandle(forWritingTo: log)
            try handle.seekToEnd()
        } catch {
            throw ComposeKernelError("cannot write the log \(log.path): \(error.localizedDescription)")
        }
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ComposeKernelError("cannot run \(executable): \(error.localizedDescription)")
        }
        while process.isRunning {
            poll()
            Thread.sleep(forTimeInterval: 0.5)
        }
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// Runs the command and returns its output; throws with the output's tail when it fails.
    func output() throws(ComposeKernelError) -> String {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("guestkit-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let status = try run(log: log)
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        guard status == 0 else {
            let tail = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(40).joined(separator: "\n")
            throw ComposeKernelError("\(commandLine) failed (exit \(status)):\n\(tail)")
        }
        return text
    }
}

/// An exclusive advisory lock on a file (flock), held until `release` or deinit.
final class FileLock {
    private let descriptor: Int32

    /// Blocks until the lock on `path` is ours.
    init(_ path: URL) throws(ComposeKernelError) {
        try? FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        descriptor = open(path.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ComposeKernelError("cannot open lock file \(path.path): errno \(errno)") }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                close(descriptor)
                throw ComposeKernelError("cannot lock \(path.path): errno \(errno)")
            }
        }
    }

    deinit { close(descriptor) }
}
