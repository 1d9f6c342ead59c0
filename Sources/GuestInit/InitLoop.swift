import GuestSys

/// guest-init's steady state: one epoll loop over the signalfd (SIGCHLD, the shutdown signals) and the
/// agent's control socket, with the agent's restart time as the only timer (the wait's timeout). It
/// returns only to shut down.
public final class InitLoop {
    private let console: Console
    private let confinement: Confinement
    private let signals: SignalDescriptor
    private let poller: Poller
    private let supervisor: AgentSupervisor
    private let bootTimer: BootTimerAction
    private let report: BootReport
    private var timeline: BootTimeline
    private var timerFired = false

    /// Where and how the boot is written down once the agent is ready.
    public struct BootReport: Sendable {
        public var path = "/run/guest/boot.json"
        public var kernelRelease: String
        public var root: RootReport

        public init(kernelRelease: String, root: RootReport) {
            self.kernelRelease = kernelRelease
            self.root = root
        }
    }

    public init(console: Console, confinement: Confinement, signals: SignalDescriptor, options: BootOptions,
                timeline: BootTimeline, report: BootReport) throws(SysError) {
        self.console = console
        self.confinement = confinement
        self.signals = signals
        self.timeline = timeline
        self.report = report
        poller = try Poller()
        try poller.add(signals.fd, .readable)
        supervisor = AgentSupervisor(path: options.agentPath, port: options.agentPort, console: console, poller: poller)
        bootTimer = BootTimer.action(options.bootTimer, mmioAddress: options.bootTimerAddress)
    }

    /// Runs until a shutdown is asked for, and says which and why.
    public func run() -> (ShutdownKind, String) {
        if supervisor.start() { timeline.record(.agentStarted) }
        while true {
            var timeout: Int32 = -1
            if let due = supervisor.restartDue {
                let now = Clock.monotonicNanoseconds
                timeout = due > now ? Int32(min((due - now) / 1_000_000 + 1, 60_000)) : 0
            }
            let events: [PollEvent]
            do throws(SysError) { events = try poller.wait(timeoutMilliseconds: timeout) } catch {
                console.error("epoll_wait: \(error)")
                Clock.sleep(nanoseconds: 100_000_000)
                continue
            }
            for event in events {
                if event.fd == signals.fd {
                    if let request = handleSignals() { return finish(request) }
                } else if event.fd == supervisor.control {
                    if let request = handleControl() { return finish(request) }
                }
            }
            if let due = supervisor.restartDue, Clock.monotonicNanoseconds >= due {
                if supervisor.start() { timeline.record(.agentStarted) }
            }
        }
    }

    private func finish(_ request: (ShutdownKind, String)) -> (ShutdownKind, String) {
        supervisor.stop()
        poller.fd.closeQuietly()
        return request
    }

    private func handleSignals() -> (ShutdownKind, String)? {
        let received: [SignalInfo]
        do throws(SysError) { received = try signals.readAll() } catch {
            console.error("reading signals: \(error)")
            return nil
        }
        var request: (ShutdownKind, String)?
        for info in received {
            switch info.signal {
            case Signal.child:
                if let fromAgent = reap() { request = request ?? fromAgent }
            case Signal.terminate, Signal.power:
                request = request ?? (.powerOff, "\(Signal.name(info.signal)) from pid \(info.senderPID)")
            case Signal.interrupt:
                request = request ?? (.reboot, "SIGINT (ctrl-alt-del) from pid \(info.senderPID)")
            default:
                console.debug("ignoring \(Signal.name(info.signal)) from pid \(info.senderPID)")
            }
        }
        return request
    }

    private func reap() -> (ShutdownKind, String)? {
        var request: (ShutdownKind, String)?
        for (pid, status) in Reaper.reapAll().exited {
            if pid == supervisor.pid {
                // What the agent said before it went (a READY or POWEROFF) may still be queued.
                request = handleControl()
                supervisor.exited(status)
            } else {
                console.debug("reaped pid \(pid): \(status)")
            }
        }
        return request
    }

    private func handleControl() -> (ShutdownKind, String)? {
        for message in supervisor.readControl() {
            switch message {
            case .ready:
                agentReady()
            case .powerOff:
                return (.powerOff, "the agent asked for it (POWEROFF)")
            case .reboot:
                return (.reboot, "the agent asked for it (REBOOT)")
            case .unknown(let line):
                console.warning("agent sent an unknown control line \"\(line)\"; ignored")
            }
        }
        return nil
    }

    private func agentReady() {
        let firstTime = timeline.times[.agentReady] == nil
        timeline.record(.agentReady)
        let json = timeline.json(initVersion: GuestInit.version, kernelRelease: report.kernelRelease,
                                 root: report.root, agentRestarts: supervisor.restarts)
        do throws(SysError) {
            try FileSystem.makeDirectories(parent(of: report.path))
            try FileSystem.writeFileAtomically(report.path, json)
        } catch {
            console.error("cannot write \(report.path): \(error)")
        }
        if firstTime {
            console.info("boot timeline: " + timeline.summary)
        } else {
            console.info("agent ready again (restart \(supervisor.restarts))")
        }
        if !timerFired {
            timerFired = true
            BootTimer.fire(bootTimer, confinement: confinement, console: console)
        }
    }

    private func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }
}
