// HostProcess is how every host tool and test runs a child process: build tools (make, mke2fs, tar),
// VMMs (QEMU) and their helpers (guest-vsock-bridge). A child starts with default signal dispositions
// and an empty signal mask (Foundation's Process hands children an almost fully blocked mask, so they
// ignore SIGTERM), in a process group of its own, with its standard streams on /dev/null, files, pipes
// or ours. Its whole group is killed on every way out: when the leader ends (nothing it started is left
// behind), at its deadline, when its ChildProcess is released, when this process is signalled (see
// TerminationSignals) and when this process dies, however it dies (PR_SET_PDEATHSIG on the child, from a
// thread that lives as long as the process, plus ParentDeathGuard for the rest of the group).
// It leaves what to run, and what the output means, to its callers.
import Foundation
import GuestSys

/// Where a child's standard input comes from.
public enum ChildInput: Sendable {
    /// /dev/null.
    case null
    /// This process's standard input.
    case inherit
    /// A file, opened read-only.
    case file(String)
    /// These bytes through a pipe, then end of file (`ChildCommand.run` only).
    case bytes([UInt8])
}

/// Where a child's standard output or error goes.
public enum ChildOutput: Sendable {
    /// /dev/null.
    case null
    /// This process's own stream.
    case inherit
    /// A file, created if missing; appended to, or truncated first.
    case file(String, append: Bool = true)
    /// Collected in memory (`ChildCommand.run` only).
    case capture
    /// For standard error: the same place as standard output.
    case standardOutput
    /// An open descriptor of the caller's (it stays open here).
    case descriptor(FileDescriptor)
}

/// A program to start: what, where, with which environment and standard streams, and for how long.
public struct ChildCommand: Sendable {
    /// A name searched in PATH (and the sbin directories a non-root PATH lacks), or a path.
    public var program: String
    public var arguments: [String]
    /// The child's whole environment (this process's by default).
    public var environment: [String: String]
    public var workingDirectory: String?
    public var input: ChildInput = .null
    public var output: ChildOutput = .inherit
    public var error: ChildOutput = .inherit
    /// More descriptors for the child: its number → ours (the child gets a copy; ours stays open).
    public var extraDescriptors: [Int32: FileDescriptor] = [:]
    /// The child's process group is killed (SIGKILL) once it has run this long, whoever waits for it.
    public var lifetime: Duration?
    /// Kill the child's process group when this process dies. Off only for a child meant to outlive us.
    public var diesWithParent = true

    public init(_ program: String, _ arguments: [String] = [], environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.program = program
        self.arguments = arguments
        self.environment = environment
    }

    /// The command as a shell would read it (for messages).
    public var commandLine: String { ShellQuoting.line([program] + arguments) }

    /// The absolute path of `program`, or nil when it is nowhere on the search path.
    public func executablePath() -> String? {
        let searchPath = (environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin:/usr/bin:/bin"
        return Spawner.resolve(program, path: searchPath)
    }
}

/// A child that could not be started or run; says which program and why.
public struct ChildProcessError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable, Equatable {
        /// No executable of that name on the search path (the shell's status 127).
        case notFound
        /// The fork, the child's setup or the exec failed.
        case spawnFailed
        /// A descriptor, pipe or file for the child could not be set up.
        case setupFailed
    }

    public let program: String
    public let reason: Reason
    public let detail: String

    public init(program: String, reason: Reason, detail: String) {
        self.program = program
        self.reason = reason
        self.detail = detail
    }

    public var description: String {
        switch reason {
        case .notFound: return "\(program) not found on PATH (\(detail)); install it (`make deps` installs what GuestKit needs)"
        case .spawnFailed, .setupFailed: return "cannot start \(program): \(detail)"
        }
    }
}
