import GuestProto
import GuestSys
import TTRPC

/// Owns the agent's processes from spawn to the moment their exit status is collected: starts them (with
/// the descriptors the host asked for), signals them, reaps them on SIGCHLD, parks WaitProcess calls and
/// answers them once a process has exited and its output has been delivered, then forgets it. Moving
/// stdio bytes is the router's job; it tells the supervisor when an output stream finished.
///
/// Starting never waits for the child: it is cloned (sharing memory, copying nothing) and runs its setup
/// up to exec on its own, so a cwd on a hung filesystem stalls that one StartProcess, not the loop. The
/// call is parked until the child's report pipe says it exec'd (answered with id and pid) or failed
/// (answered with the step's error; the process is forgotten).
final class ProcessSupervisor: PollTarget {
    let loop: EventLoop
    let router: StdioRouter
    private unowned let calls: CallAnswering
    /// Opened once: every stream the host did not ask for is this in the process.
    let devNull: FileDescriptor
    private(set) var processes = ProcessTable()
    /// Processes (table keys) each connection has WaitProcess calls parked on, so a closing connection
    /// drops them.
    private var waitsByConnection: [Int: Set<String>] = [:]
    /// How many WaitProcess calls each connection has parked.
    private var parkedWaits: [Int: Int] = [:]
    /// Children whose exec is not known yet, by report descriptor.
    private var starting: [Int32: Start] = [:]
    /// A reaped child that is no process of the table (a container's first stage, a hook helper): its
    /// owner claims it here.
    var unknownChildExited: (Int32, WaitStatus) -> Void = { _, _ in }
    /// A process of the table exited (containers note their init's exit).
    var processDidExit: (ManagedProcess) -> Void = { _ in }

    /// A StartProcess waiting for its child's report.
    private struct Start {
        let process: ManagedProcess
        let spawn: SpawnInProgress
        let call: ParkedCall
        let workingDirectory: String
    }
    let limits: AgentLimits
    /// The oom_score_adj of what the agent starts: 0 once the agent protected itself at -1000 (its own
    /// score must not reach the host's processes); nil: inherited.
    var childOOMScoreAdjustment: Int32?
    /// The `cgroup.procs` of the cgroup what the agent starts moves into before it execs (AgentProtection's
    /// processes cgroup); nil: the agent's own.
    var childCgroupProcs: FileDescriptor?

    init(loop: EventLoop, router: StdioRouter, calls: CallAnswering, limits: AgentLimits = AgentLimits()) throws(SysError) {
        self.loop = loop
        self.router = router
        self.calls = calls
        self.limits = limits
        devNull = try FileDescriptor.open("/dev/null", .readWrite)
        router.streamFinished = { [unowned self] process in completeIfReady(process) }
    }

    var count: Int { processes.count }
    var all: [ManagedProcess] { processes.all }

    /// The process a request names; NOT_FOUND otherwise.
    func lookup(_ id: String, container: String) throws(AgentError) -> ManagedProcess {
        guard let process = processes[id, container: container] else {
            throw container.isEmpty ? .noSuchProcess(id) : .noSuchProcess("\(id)\" in container \"\(container)")
        }
        return process
    }

    /// A process started elsewhere (a container's init or exec) joins the table: waits, signals, stdio and
    /// reaping work on it as on any other.
    func adopt(_ process: ManagedProcess) {
        processes.insert(process)
    }

    // MARK: Start

    /// Starts the process and parks `call` until its exec is known (returns nil), or throws what was wrong
    /// before anything ran: a missing program, a bad user, a limit.
    func startProcess(_ request: Guestkit_V1_StartProcessRequest, call: ParkedCall) throws(AgentError) -> Guestkit_V1_StartProcessResponse? {
        // PATH, user and limits are checked before anything is opened: a missing binary is NOT_FOUND at once.
        let plan = try LaunchPlan(request, accounts: { AccountDatabase.load() },
                                  resolveProgram: { Spawner.resolve($0, path: $1) }, fileExists: FileSystem.exists)
        try checkRoom(for: plan)
        let id: String
        if request.id.isEmpty {
            id = processes.newID()
        } else {
            guard processes[request.id] == nil else { throw .alreadyExists("a process with id \"\(request.id)\" exists") }
            guard request.id.utf8.count <= 256 else { throw .invalidRequest("process id is longer than 256 bytes") }
            id = request.id
        }

        let stdio: ProcessStdio
        do throws(SysError) {
            stdio = try ProcessStdio(terminal: plan.terminal, size: plan.terminalSize,
                                     stdin: plan.stdin, stdout: plan.stdout, stderr: plan.stderr, devNull: devNull)
        } catch {
            throw .system(error)
        }
        var spawn = SpawnRequest(path: plan.program, arguments: plan.arguments, environment: plan.environment,
                                 workingDirectory: plan.workingDirectory, descriptors: stdio.childDescriptors)
        // Its own session: its group id is its pid (SignalProcess with process_group), and a terminal can
        // become its controlling terminal.
        spawn.newSession = true
        spawn.controllingTerminal = plan.terminal
        spawn.identity = plan.identity
        spawn.limits = plan.limits
        spawn.cgroupProcs = childCgroupProcs
        let spawning: SpawnInProgress
        do throws(SpawnError) {
            spawning = try Spawner.start(spawn)
        } catch {
            stdio.abandon()
            throw .spawn(error, workingDirectory: plan.workingDirectory)
        }
        // The child has its own descriptor table since the clone.
        stdio.closeChildEnds()

        let process = ManagedProcess(id: id, pid: spawning.pid, arguments: plan.arguments, terminal: stdio.terminal,
                                     stdin: stdio.stdin, stdout: stdio.stdout, stderr: stdio.stderr)
        process.declared = (plan.stdin, plan.stdout, plan.stderr)
        process.starting = true
        processes.insert(process)
        if plan.terminal && !plan.stdout { router.discardOutput(of: process) }
        let report = spawning.reportDescriptor
        starting[report.rawValue] = Start(process: process, spawn: spawning, call: call, workingDirectory: plan.workingDirectory)
        do throws(SysError) {
            try loop.watch(report, .readable, self)
        } catch {
            // Cannot watch the report: wait for it here rather than lose the outcome.
            AgentLog.error("watching the start report of \(id): \(error)")
            while spawning.collect() == nil { Clock.sleep(nanoseconds: 1_000_000) }
            spawning.release()
            finishStart(report.rawValue)
        }
        return nil
    }

    /// A start report is readable: the child exec'd or failed.
    func ready(_ fd: FileDescriptor, _ events: PollEvents) {
        guard let start = starting[fd.rawValue], start.spawn.collect() != nil else { return }
        loop.unwatch(fd)
        start.spawn.release()
        finishStart(fd.rawValue)
    }

    private func finishStart(_ report: Int32) {
        guard let start = starting.removeValue(forKey: report), let outcome = start.spawn.collect() else { return }
        let process = start.process
        process.starting = false
        switch outcome {
        case .success:
            if let score = childOOMScoreAdjustment {
                // After the exec: until then the child shares the agent's memory, and with it the score. It
                // fails only for a process that already ended.
                try? Processes.setOOMScoreAdjustment(of: process.pid, score)
            }
            var response = Guestkit_V1_StartProcessResponse()
            response.id = process.id
            response.pid = process.pid
            calls.answer(start.call, .success(response.serializedBytes()))
        case .failure(let error):
            // It never ran: the host hears why, and the process is forgotten (its exit, 127, is reaped).
            let status = AgentError.status(of: AgentError.spawn(error, workingDirectory: start.workingDirectory))
            calls.answer(start.call, .failure(status))
            for waiter in process.waiters {
                if let timer = waiter.timerID { loop.cancelTimer(timer) }
                waitsByConnection[waiter.call.connectionID]?.remove(ProcessTable.key(process))
                unpark(waiter.call.connectionID)
                calls.answer(waiter.call, .failure(RPCError(.notFound, "process \(process.id) did not start: \(status.message)")))
            }
            process.waiters = []
            if processes[ProcessTable.key(process)] === process { forget(process) }
        }
    }

    /// The limits a new process must stay within, checked before anything is opened.
    private func checkRoom(for plan: LaunchPlan) throws(AgentError) {
        let all = processes.all
        guard all.count < limits.processes else {
            throw .resourceExhausted("the agent holds \(all.count) processes (the limit): wait for finished ones "
                + "(WaitProcess) before starting more")
        }
        let unwaited = all.filter { $0.exit != nil && $0.waiters.isEmpty }.count
        guard unwaited < limits.exitedUnwaited else {
            throw .resourceExhausted("\(unwaited) processes have exited and nobody waited for them (the limit): collect "
                + "them with WaitProcess (ListProcesses lists them) before starting more")
        }
        let unattached = all.reduce(0) { $0 + $1.unattachedStreams }
        let adding = (plan.stdin ? 1 : 0) + (plan.stdout ? 1 : 0) + (plan.stderr ? 1 : 0)
        guard unattached + adding <= limits.unattachedStreams else {
            throw .resourceExhausted("\(unattached) declared stdio streams are not attached yet (the limit is "
                + "\(limits.unattachedStreams)): attach them (AttachStdio) or start processes without them")
        }
    }

    // MARK: Signals

    func signal(_ process: ManagedProcess, _ signal: Int32, group: Bool) throws(AgentError) {
        guard (0...64).contains(signal) else {
            throw .invalidRequest("signal \(signal) is not a signal number (0-64)")
        }
        // After the reap the pid may belong to someone else, and so may the group id once the group has
        // emptied (the agent cannot tell when that happens without racing it): never signal either then.
        guard process.exit == nil else {
            throw .failedPrecondition("process \(process.id) (pid \(process.pid)) has already exited"
                + (group ? "; its process group is no longer the agent's to signal" : ""))
        }
        if group {
            do throws(SysError) {
                try Processes.signal(-process.pid, signal)
            } catch {
                if error.code == Errno.ESRCH {
                    throw .failedPrecondition("process group \(process.pid) of \(process.id) has no processes left")
                }
                throw .system(error)
            }
        } else {
            do throws(SysError) { try Processes.signal(process.pid, signal) } catch { throw .system(error) }
        }
    }

    // MARK: Wait

    /// The exit status now if the process is complete (and forgets it), else nil with the call parked until
    /// it is, or until the call's own timeout.
    func wait(_ process: ManagedProcess, info: CallInfo, connectionID: Int) throws(AgentError) -> Guestkit_V1_WaitProcessResponse? {
        if process.isComplete {
            let response = process.waitResponse
            forget(process)
            return response
        }
        let parked = parkedWaits[connectionID, default: 0]
        guard parked < limits.parkedWaitsPerConnection else {
            throw .resourceExhausted("this connection has \(parked) WaitProcess calls parked (the limit): wait on "
                + "another connection, or with a timeout")
        }
        let call = ParkedCall(connectionID: connectionID, streamID: info.streamID)
        var waiter = Waiter(call: call, timerID: nil)
        if info.timeoutNanoseconds > 0 {
            let id = ProcessTable.key(process)
            waiter.timerID = loop.addTimer(after: UInt64(info.timeoutNanoseconds)) { [unowned self, unowned process] in
                process.waiters.removeAll { $0.call == call }
                unpark(connectionID)
                if !process.waiters.contains(where: { $0.call.connectionID == connectionID }) {
                    waitsByConnection[connectionID]?.remove(id)
                }
                calls.answer(call, .failure(RPCError(
                    .deadlineExceeded, "process \(process.id) still running after the call's \(info.timeoutNanoseconds / 1_000_000) ms timeout")))
            }
        }
        process.waiters.append(waiter)
        waitsByConnection[connectionID, default: []].insert(ProcessTable.key(process))
        parkedWaits[connectionID, default: 0] += 1
        return nil
    }

    private func unpark(_ connectionID: Int) {
        guard let parked = parkedWaits[connectionID] else { return }
        parkedWaits[connectionID] = parked > 1 ? parked - 1 : nil
    }

    /// A connection closed or became a stdio stream: its parked waits go.
    func connectionGone(_ connectionID: Int) {
        parkedWaits[connectionID] = nil
        guard let ids = waitsByConnection.removeValue(forKey: connectionID) else { return }
        for id in ids {
            guard let process = processes[id] else { continue }
            for waiter in process.waiters where waiter.call.connectionID == connectionID {
                if let timer = waiter.timerID { loop.cancelTimer(timer) }
            }
            process.waiters.removeAll { $0.call.connectionID == connectionID }
        }
    }

    // MARK: Exit

    /// SIGCHLD: reaps every child that ended; processes of ours get their exit recorded.
    func reapChildren() {
        while true {
            let reaped: (pid: Int32, status: WaitStatus)?
            do {
                reaped = try Processes.reapOne()
            } catch {
                return  // ECHILD: no children left
            }
            guard let (pid, status) = reaped else { return }
            switch status {
            case .stopped, .continued: continue
            default: break
            }
            guard let process = processes.process(pid: pid) else {
                unknownChildExited(pid, status)
                continue
            }
            processExited(process, status)
        }
    }

    /// Reaped: stdin closes; output streams drain what is in the pipe and finish; then the waiters hear.
    private func processExited(_ process: ManagedProcess, _ status: WaitStatus) {
        process.exit = status
        process.exitedAt = Clock.bootTimeNanoseconds
        processes.reaped(process)
        router.processExited(process)
        processDidExit(process)
        completeIfReady(process)
    }

    /// Answers the waiters once the process is reaped and its output delivered, then forgets it.
    func completeIfReady(_ process: ManagedProcess) {
        guard process.isComplete, !process.waiters.isEmpty, processes[ProcessTable.key(process)] === process else { return }
        let payload = process.waitResponse.serializedBytes()
        let waiters = process.waiters
        process.waiters = []
        for waiter in waiters {
            if let timer = waiter.timerID { loop.cancelTimer(timer) }
            waitsByConnection[waiter.call.connectionID]?.remove(ProcessTable.key(process))
            unpark(waiter.call.connectionID)
            calls.answer(waiter.call, .success(payload))
        }
        forget(process)
    }

    /// Drops a completed process and every descriptor still held for it.
    func forget(_ process: ManagedProcess) {
        process.closeAll()
        processes.remove(process)
    }

    /// Leaving: the processes this agent started go with it (their whole groups; a child still starting
    /// may not lead its group yet).
    func killAll() {
        for process in processes.all where process.exit == nil {
            if process.starting { try? Processes.signal(process.pid, Signal.kill) }
            try? Processes.signal(-process.pid, Signal.kill)
        }
    }
}
