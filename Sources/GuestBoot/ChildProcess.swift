// A long-running child (QEMU, guest-vsock-bridge), started through GuestSys's spawn so it
// begins with default signal dispositions and an empty signal mask. Foundation's Process on Linux
// hands children an almost fully blocked signal mask, so SIGTERM never reaches them (QEMU and
// timeout(1) then ignore it and linger): that is why this exists.
import Foundation
import GuestSys

/// A child process with its output in a log file; stopped with SIGTERM, then SIGKILL.
public final class ChildProcess: @unchecked Sendable {
    // Sendable for helper threads: `status` is only read and written under `lock`.
    public let pid: pid_t
    public let executable: String
    private let lock = NSLock()
    private var status: WaitStatus?

    /// Starts `program` (searched in PATH) with stdin from /dev/null and stdout/stderr appended to `logPath`.
    public init(_ program: String, _ arguments: [String], logPath: String) throws {
        let environment = ProcessInfo.processInfo.environment
        guard let path = Spawner.resolve(program, path: environment["PATH"] ?? "/usr/bin:/bin") else {
            throw BootError.missingProgram(program)
        }
        executable = path
        let null = try FileDescriptor.open("/dev/null", .readOnly)
        defer { null.closeQuietly() }
        let log = try FileDescriptor.open(logPath, [.writeOnly, .create, .append])
        defer { log.closeQuietly() }
        var request = SpawnRequest(path: path, arguments: [program] + arguments,
                                   environment: environment.map { "\($0.key)=\($0.value)" },
                                   descriptors: [0: null, 1: log, 2: log])
        request.newProcessGroup = true
        pid = try Spawner.spawn(request)
    }

    /// How it ended, once it has (reaping it if needed).
    public var exitStatus: WaitStatus? {
        lock.withLock {
            guard status == nil else { return status }
            do {
                if let reaped = try Processes.reapOne(pid) { status = reaped.status }
            } catch {
                // ECHILD: someone else reaped it (a waitpid(-1) elsewhere in the process); it is gone,
                // its code unknown.
                status = .exited(code: 255)
            }
            return status
        }
    }

    public var isRunning: Bool { exitStatus == nil }

    /// Waits for the child to end by itself; nil if it still runs at the deadline.
    public func waitForExit(timeout: Duration) -> WaitStatus? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = exitStatus { return status }
            if ContinuousClock.now >= deadline { return nil }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; returns how it ended. Idempotent.
    @discardableResult
    public func stop(grace: Duration = .seconds(10)) -> WaitStatus? {
        if let status = exitStatus { return status }
        try? Processes.signal(pid, Signal.terminate)
        if let status = waitForExit(timeout: grace) { return status }
        try? Processes.signal(-pid, Signal.kill)   // its whole process group (timeout(1) and QEMU)
        try? Processes.signal(pid, Signal.kill)
        return waitForExit(timeout: .seconds(10))
    }

    deinit { stop() }
}
