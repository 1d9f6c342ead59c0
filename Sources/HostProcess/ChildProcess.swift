import Foundation
import GuestSys

/// A running child in a process group of its own; its group is killed when it ends, times out, is
/// stopped, is released, or when this process dies.
public final class ChildProcess: @unchecked Sendable {
    // Sendable for helper threads: `status` and `timedOut` are read and written only under `lock`;
    // everything else is immutable.
    public let command: ChildCommand
    /// The resolved program path.
    public let executable: String
    /// The child's pid, which is also its process group id.
    public let pid: pid_t
    public let startedAt: ContinuousClock.Instant
    private let lock = NSLock()
    private var status: WaitStatus?
    private var expired = false

    /// Starts the command. `.capture` and `.bytes` belong to `ChildCommand.run`; here they are refused.
    public convenience init(_ command: ChildCommand) throws(ChildProcessError) {
        var streams = try StandardStreams(command, pipesAllowed: false)
        defer { streams.closeParentCopies() }
        try self.init(command, streams: streams)
    }

    init(_ command: ChildCommand, streams: StandardStreams) throws(ChildProcessError) {
        guard let path = command.executablePath() else {
            throw ChildProcessError(program: command.program, reason: .notFound,
                                    detail: "searched \(command.environment["PATH"] ?? "/usr/bin:/bin") and the sbin directories")
        }
        var descriptors = streams.childDescriptors
        for (target, source) in command.extraDescriptors { descriptors[target] = source }
        var request = SpawnRequest(path: path, arguments: [command.program] + command.arguments,
                                   environment: command.environment.map { "\($0.key)=\($0.value)" }.sorted(),
                                   workingDirectory: command.workingDirectory, descriptors: descriptors)
        request.newProcessGroup = true
        if command.diesWithParent { request.parentDeathSignal = Signal.kill }
        self.command = command
        executable = path
        startedAt = ContinuousClock.now
        do throws(SpawnError) {
            pid = try ChildSupervisor.shared.spawn(request, guarded: command.diesWithParent, lifetime: command.lifetime)
        } catch {
            throw ChildProcessError(program: command.program, reason: .spawnFailed, detail: error.description)
        }
    }

    /// How the child ended, once it has; nil while it runs. When the leader has ended, whatever is left
    /// of its group is killed before it is reaped (the group id cannot be reused until then).
    public var exitStatus: WaitStatus? {
        lock.withLock {
            if let status { return status }
            do {
                guard try Processes.hasEnded(pid) else { return nil }
                try? Processes.signal(-pid, Signal.kill)
                expired = ChildSupervisor.shared.ended(pid)
                status = try Processes.reapOne(pid)?.status
            } catch {
                // ECHILD: something else in this process reaped it (a waitpid(-1)); it is gone, its
                // status unknown.
                expired = ChildSupervisor.shared.ended(pid)
                status = .exited(code: 255)
            }
            return status
        }
    }

    public var isRunning: Bool { exitStatus == nil }

    /// Whether the group was killed because the command's lifetime ran out.
    public var timedOut: Bool {
        if exitStatus == nil { return ChildSupervisor.shared.hasExpired(pid) }
        return lock.withLock { expired }
    }

    /// Waits for the child to end; nil if it still runs after `timeout` (nil: wait as long as it takes).
    @discardableResult
    public func wait(timeout: Duration? = nil) -> WaitStatus? {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        var pause: Double = 0.0005
        while true {
            if let status = exitStatus { return status }
            if let deadline, ContinuousClock.now >= deadline { return nil }
            Thread.sleep(forTimeInterval: pause)
            pause = min(pause * 2, 0.02)
        }
    }

    /// Sends `signal` to the child's whole process group (nothing once it has ended).
    public func signalGroup(_ signal: Int32) {
        guard isRunning else { return }
        try? Processes.signal(-pid, signal)
    }

    /// SIGTERM to the group, SIGKILL after `grace`; returns how it ended. Idempotent.
    @discardableResult
    public func stop(grace: Duration = .seconds(10)) -> WaitStatus {
        if let status = exitStatus { return status }
        signalGroup(Signal.terminate)
        if let status = wait(timeout: grace) { return status }
        return kill()
    }

    /// SIGKILL to the group; returns how it ended. Idempotent.
    @discardableResult
    public func kill() -> WaitStatus {
        if let status = exitStatus { return status }
        try? Processes.signal(-pid, Signal.kill)
        return wait() ?? .signaled(signal: Signal.kill, coreDumped: false)
    }

    deinit { kill() }
}
