// Running a program as the PID 1 of fresh PID, mount, UTS and network namespaces (util-linux unshare),
// so init-like code can kill everything, unmount and reboot without reaching the host. unshare's
// default mount propagation is private; /proc is the namespace's own (--mount-proc); a host directory
// is bind-mounted on /run so the test can read what the namespace writes there.
import Foundation
import GuestSys
import HostProcess

/// A program running as PID 1 of its own namespaces; observed and signalled from the host.
public final class NamespacedInit: @unchecked Sendable {
    // @unchecked: `process` guards its own state (HostProcess's ChildProcess); the other stored
    // properties are immutable.
    public let process: ChildProcess
    /// The host directory the namespace sees as /run.
    public let runDirectory: String
    /// Where the namespace's stdout and stderr go.
    public let outputPath: String

    /// Whether this machine can run the namespaced tests (root and util-linux's unshare).
    public static var isSupported: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
    }

    /// Starts `executable arguments…` as PID 1; `input` (if any) becomes its standard input.
    public init(_ executable: String, _ arguments: [String], scratch: ScratchDirectory, input: String? = nil) throws {
        runDirectory = scratch.file("run")
        outputPath = scratch.file("console.log")
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)

        var command = ChildCommand("/usr/bin/unshare", ["--pid", "--mount", "--uts", "--net", "--fork", "--mount-proc",
                                                        "/bin/sh", "-c", "run=$1; shift; mount --bind \"$run\" /run && exec \"$@\"", "sh",
                                                        runDirectory, executable] + arguments)
        command.output = .file(outputPath)
        command.error = .standardOutput
        if let input {
            let path = scratch.file("console.in")
            try input.write(toFile: path, atomically: true, encoding: .utf8)
            command.input = .file(path)
        }
        process = try ChildProcess(command)
    }

    deinit {
        // Never leave a namespace behind: SIGKILL to its init ends every process in it.
        if process.isRunning, let pid = initPID { kill(pid, SIGKILL) }
        process.kill()
    }

    /// The host pid of the namespace's PID 1 (unshare's only child), once it exists.
    public var initPID: Int32? {
        Self.children(of: process.pid).first
    }

    /// Host pids of a process's children.
    public static func children(of pid: Int32) -> [Int32] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0) }
    }

    /// A process's state letter from /proc/PID/stat (R, S, Z…), nil once it is gone.
    public static func state(of pid: Int32) -> Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(close, offsetBy: 2)...].first
    }

    /// A process's command line, arguments joined by spaces.
    public static func commandLine(of pid: Int32) -> String {
        let data = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        return String(decoding: data, as: UTF8.self).split(separator: "\0").joined(separator: " ")
    }

    /// What the namespace printed so far.
    public var output: String {
        (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    }

    /// Polls `condition` every 20 ms until it holds or `seconds` pass; returns whether it held.
    @discardableResult
    public func waitUntil(seconds: Double = 30, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            if !process.isRunning { return condition() }
            usleep(20_000)
        }
        return condition()
    }

    /// Sends a signal to the namespace's PID 1.
    public func signal(_ number: Int32) {
        if let pid = initPID { kill(pid, number) }
    }

    /// How the namespace ended: the signal that killed its init (unshare re-raises it), or nil if it
    /// exited normally. Kills the namespace and returns nil when it is still running after `seconds`.
    public struct Ending: Equatable, Sendable {
        public let signal: Int32?
        public let exitCode: Int32?

        public init(signal: Int32?, exitCode: Int32?) {
            self.signal = signal
            self.exitCode = exitCode
        }
    }

    public func waitForEnd(seconds: Double = 60) -> Ending? {
        guard let status = process.wait(timeout: .milliseconds(Int64(seconds * 1000))) else {
            if let pid = initPID { kill(pid, SIGKILL) }
            process.kill()
            return nil
        }
        switch status {
        case .signaled(let signal, _): return Ending(signal: signal, exitCode: nil)
        case .exited(let code): return Ending(signal: nil, exitCode: code)
        case .stopped(let signal): return Ending(signal: signal, exitCode: nil)
        case .continued: return Ending(signal: nil, exitCode: 0)
        }
    }
}
