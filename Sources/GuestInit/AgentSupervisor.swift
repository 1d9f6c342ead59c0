import GuestSys

/// How long to wait before restarting an agent that died: doubling from `initial` up to `maximum`
/// while it keeps dying quickly, back to `initial` once a run lasted `stable` or longer. A crash loop
/// then costs little CPU, and a one-off crash is repaired at once.
public struct RestartBackoff: Equatable, Sendable {
    public let initialMilliseconds: UInt64
    public let maximumMilliseconds: UInt64
    public let stableMilliseconds: UInt64
    public private(set) var quickFailures = 0

    public init(initialMilliseconds: UInt64 = 100, maximumMilliseconds: UInt64 = 5000, stableMilliseconds: UInt64 = 10_000) {
        self.initialMilliseconds = initialMilliseconds
        self.maximumMilliseconds = maximumMilliseconds
        self.stableMilliseconds = stableMilliseconds
    }

    /// The delay before the next start, given how long the run that just ended lasted.
    public mutating func delay(afterRunning runMilliseconds: UInt64) -> UInt64 {
        if runMilliseconds >= stableMilliseconds { quickFailures = 0 }
        let shift = UInt64(min(quickFailures, 20))
        quickFailures += 1
        return min(initialMilliseconds << shift, maximumMilliseconds)
    }
}

/// Keeps the agent running: starts it in its own session with the control socket as fd 3 (see
/// ControlChannel.swift), reads its messages, and restarts it with backoff whenever it dies, saying how.
/// It owns the agent's pid and control descriptor; the init loop owns the poller and the clock.
public final class AgentSupervisor {
    public let path: String
    public let port: UInt32
    private let console: Console
    private let poller: Poller
    private let environment: [String]

    public private(set) var pid: Int32?
    public private(set) var control: FileDescriptor?
    /// How many times the agent was started again after dying.
    public private(set) var restarts = 0
    /// Monotonic time (ns) at which to start the agent again, when it is down.
    public private(set) var restartDue: UInt64?
    private var startedAt: UInt64 = 0
    private var everStarted = false
    private var stopped = false
    private var backoff = RestartBackoff()
    private var decoder = ControlLineDecoder()

    public init(path: String, port: UInt32, console: Console, poller: Poller) {
        self.path = path
        self.port = port
        self.console = console
        self.poller = poller
        let term = Environment.value("TERM") ?? "linux"
        environment = ["GUESTKIT_INIT_FD=3", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                       "HOME=/", "TERM=" + term]
    }

    /// Starts the agent. Returns false (and schedules a retry) when it could not be started.
    @discardableResult
    public func start() -> Bool {
        guard !stopped, pid == nil else { return false }
        restartDue = nil
        if everStarted { restarts += 1 }
        everStarted = true
        let ours: FileDescriptor
        let theirs: FileDescriptor
        let null: FileDescriptor
        do throws(SysError) {
            (ours, theirs) = try Sockets.pair()
            do throws(SysError) {
                try ours.setNonBlocking()
                null = try FileDescriptor.open("/dev/null", .readWrite)
            } catch {
                ours.closeQuietly()
                theirs.closeQuietly()
                throw error
            }
        } catch {
            console.error("cannot prepare the agent's control socket: \(error)")
            scheduleRestart(ranFor: 0)
            return false
        }
        defer {
            theirs.closeQuietly()
            null.closeQuietly()
        }
        var request = SpawnRequest(path: path, arguments: [path, "--port", String(port)], environment: environment,
                                   workingDirectory: "/",
                                   descriptors: [0: null, 1: .standardOutput, 2: .standardError, 3: theirs])
        request.newSession = true
        let started: Int32
        do throws(SpawnError) {
            started = try Spawner.spawn(request)
        } catch {
            ours.closeQuietly()
            console.error("\(error); is guest.agent=\(path) right?")
            scheduleRestart(ranFor: 0)
            return false
        }
        pid = started
        startedAt = Clock.monotonicNanoseconds
        decoder = ControlLineDecoder()
        control = ours
        do throws(SysError) { try poller.add(ours, .readable) } catch {
            console.error("cannot watch the agent's control socket: \(error)")
        }
        console.info("agent \(path) started (pid \(started), port \(port))")
        return true
    }

    /// Reads what the agent sent. At end of file (the agent closed fd 3, usually because it exited)
    /// the socket is closed and unwatched; the agent's exit itself arrives through SIGCHLD.
    public func readControl() -> [ControlMessage] {
        guard let control else { return [] }
        var messages: [ControlMessage] = []
        while true {
            let bytes: [UInt8]
            do throws(SysError) { bytes = try control.read(upTo: 512) } catch {
                if error.code == Errno.EAGAIN { return messages }
                console.warning("reading the agent's control socket: \(error)")
                closeControl()
                return messages
            }
            if bytes.isEmpty {
                closeControl()
                return messages
            }
            messages.append(contentsOf: decoder.feed(bytes))
        }
    }

    /// Called by the reaper when `pid` was the agent. Logs how it ended and schedules the restart.
    public func exited(_ status: WaitStatus) {
        guard let agent = pid else { return }
        pid = nil
        closeControl()
        let ran = (Clock.monotonicNanoseconds - startedAt) / 1_000_000
        if stopped {
            console.debug("agent (pid \(agent)) \(status)")
            return
        }
        let delay = scheduleRestart(ranFor: ran)
        console.warning("agent (pid \(agent)) \(status) after \(DurationText.seconds(ran)); restarting in \(delay) ms")
    }

    /// No more restarts (shutdown has begun); the agent itself is left to the shutdown's SIGTERM.
    public func stop() {
        stopped = true
        restartDue = nil
        closeControl()
    }

    @discardableResult
    private func scheduleRestart(ranFor milliseconds: UInt64) -> UInt64 {
        let delay = backoff.delay(afterRunning: milliseconds)
        restartDue = Clock.monotonicDeadline(afterMilliseconds: delay)
        return delay
    }

    private func closeControl() {
        guard let control else { return }
        try? poller.remove(control)
        control.closeQuietly()
        self.control = nil
    }
}
