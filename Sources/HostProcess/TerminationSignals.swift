// What a host tool does when it is told to stop (Ctrl-C, SIGTERM, a closed terminal). Children run in
// process groups of their own, so a terminal's Ctrl-C reaches only the tool; the tool passes the signal
// on. With `install()`, SIGINT, SIGTERM and SIGHUP no longer end the process at once: a relay thread
// (fed by a C handler, the only async-signal-safe part) forwards the signal to every running child's
// group, gives them `grace` to finish (make deletes its half-built targets), SIGKILLs what is left,
// runs the registered cleanups newest first (partial outputs, scratch directories, a VM), and ends the
// process with the same signal, so a calling shell or make sees how it ended. A second signal cuts the
// grace short. A caller that wants to handle the signal itself for a while (`compose-guest boot
// --keep-running` powering its guest off) uses `catching`.
import CGuestShim
import Foundation
import GuestSys

/// SIGINT, SIGTERM and SIGHUP for a host tool: forwarded to its children, then cleanups, then the exit.
public enum TerminationSignals {
    /// The signals handled.
    public static let handled: [Int32] = [Signal.interrupt, Signal.terminate, Signal.hangup]

    /// Takes over SIGINT, SIGTERM and SIGHUP for this process (idempotent). `grace` is how long children
    /// get to end after the signal is passed on to them.
    public static func install(grace: Duration = .seconds(10)) {
        Relay.shared.install(grace: grace)
    }

    /// Registers work to do if a terminating signal ends the process; remove it with `cancel` once the
    /// work it undoes is complete.
    @discardableResult
    public static func onTermination(_ action: @escaping @Sendable () -> Void) -> CleanupToken {
        Relay.shared.add(action)
    }

    /// Removes a cleanup that is no longer needed.
    public static func cancel(_ token: CleanupToken) {
        Relay.shared.remove(token)
    }

    /// The signal being handled, once one arrived.
    public static var received: Int32? { Relay.shared.terminatingSignal }

    /// If a terminating signal is being handled, waits for the relay to end the process (a caller's own
    /// error report would only describe what the signal caused). Returns at once otherwise.
    public static func parkIfTerminating() {
        guard received != nil else { return }
        while true { Thread.sleep(forTimeInterval: 3600) }
    }

    /// While `body` runs, a terminating signal is handed to it through `SignalWait` instead of ending the
    /// process; a second one, while the first is still unanswered, terminates as usual.
    public static func catching<R>(_ body: (SignalWait) throws -> R) rethrows -> R {
        let wait = SignalWait()
        Relay.shared.push(wait)
        defer { Relay.shared.pop(wait) }
        return try body(wait)
    }
}

/// A handle to remove a registered cleanup.
public struct CleanupToken: Sendable, Hashable {
    let id: Int
}

/// Signals delivered to a `TerminationSignals.catching` body.
public final class SignalWait: @unchecked Sendable {
    // Invariant: `signals` is read and written only with `condition` locked.
    private let condition = NSCondition()
    private var signals: [Int32] = []

    /// The next signal, or nil when `timeout` passed first.
    public func next(timeout: Duration) -> Int32? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: ChildSupervisor.seconds(timeout))
        while signals.isEmpty {
            if !condition.wait(until: deadline) { break }
        }
        return signals.isEmpty ? nil : signals.removeFirst()
    }

    /// Whether a signal is waiting to be taken.
    var hasPending: Bool {
        condition.lock()
        defer { condition.unlock() }
        return !signals.isEmpty
    }

    func deliver(_ signal: Int32) {
        condition.lock()
        signals.append(signal)
        condition.broadcast()
        condition.unlock()
    }
}

private final class Relay: @unchecked Sendable {
    // Invariant: every stored var is read and written only under `lock`.
    static let shared = Relay()
    private let lock = NSLock()
    private var installed = false
    private var grace: Duration = .seconds(10)
    private var cleanups: [(id: Int, action: @Sendable () -> Void)] = []
    private var nextID = 0
    private var waits: [SignalWait] = []
    private var terminating: Int32?
    private var hurry = false

    var terminatingSignal: Int32? { lock.withLock { terminating } }

    func install(grace: Duration) {
        let start: FileDescriptor? = lock.withLock {
            self.grace = grace
            guard !installed else { return nil }
            installed = true
            guard let pipe = try? GuestSys.Pipe() else { return nil }
            try? pipe.writeEnd.setNonBlocking()
            var signals = TerminationSignals.handled
            _ = gk_relay_signals(&signals, Int32(signals.count), pipe.writeEnd.rawValue)
            return pipe.readEnd
        }
        guard let readEnd = start else { return }
        let thread = Thread { [self] in self.serve(readEnd) }
        thread.name = "HostProcess.termination"
        thread.start()
    }

    func add(_ action: @escaping @Sendable () -> Void) -> CleanupToken {
        lock.withLock {
            nextID += 1
            cleanups.append((nextID, action))
            return CleanupToken(id: nextID)
        }
    }

    func remove(_ token: CleanupToken) {
        lock.withLock { cleanups.removeAll { $0.id == token.id } }
    }

    func push(_ wait: SignalWait) { lock.withLock { waits.append(wait) } }
    func pop(_ wait: SignalWait) { lock.withLock { waits.removeAll { $0 === wait } } }

    private func serve(_ readEnd: FileDescriptor) {
        while true {
            guard let byte = try? readEnd.read(upTo: 1).first else { continue }
            let signal = Int32(byte)
            let action: (catcher: SignalWait?, first: Bool) = lock.withLock {
                if terminating != nil {
                    hurry = true
                    return (nil, false)
                }
                if let wait = waits.last, !wait.hasPending { return (wait, false) }
                terminating = signal
                return (nil, true)
            }
            if let catcher = action.catcher {
                catcher.deliver(signal)
            } else if action.first {
                let worker = Thread { [self] in self.terminate(signal) }
                worker.start()
            }
        }
    }

    /// Passes the signal on to every child group, waits for them, then cleans up and ends the process.
    private func terminate(_ signal: Int32) {
        let supervisor = ChildSupervisor.shared
        for group in supervisor.liveGroups { try? Processes.signal(-group, signal) }
        let deadline = ContinuousClock.now + lock.withLock { grace }
        while !supervisor.liveGroups.allSatisfy({ (try? Processes.hasEnded($0)) ?? true }) {
            if ContinuousClock.now >= deadline || lock.withLock({ hurry }) { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        for group in supervisor.liveGroups { try? Processes.signal(-group, Signal.kill) }
        let actions = lock.withLock { cleanups.reversed().map(\.action) }
        for action in actions { action() }
        gk_raise_default(signal)
        Processes.exitImmediately(128 + signal)
    }
}
