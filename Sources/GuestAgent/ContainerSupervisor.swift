import GuestContainer
import GuestJSON
import GuestProto
import GuestSys
import ProtoWire
import TTRPC

/// The agent's OCI containers, from CreateContainer to DeleteContainer. It drives GuestContainer's
/// `ContainerLaunch` from the loop (never waiting on a container), runs runtime-namespace hooks in helper
/// processes, and hands each container's init and exec processes to the process supervisor, so waits,
/// signals and stdio work on them like on any process. Calls that cannot be answered at once (create,
/// start, exec, OOM waits, delete) are parked and answered when their container reports.
final class ContainerSupervisor {
    /// Where bundles made from a spec given without one live.
    static let stateDirectory = "/run/guestkit/containers"
    /// How long a delete waits for the cgroup to empty after SIGKILL.
    static let emptyTimeout: UInt64 = 10_000_000_000

    let loop: EventLoop
    let processes: ProcessSupervisor
    let router: StdioRouter
    private unowned let calls: CallAnswering
    /// The GuestKit binary, opened once: a container's init is a re-exec of it.
    let binary: FileDescriptor
    let layout: CgroupLayout
    private(set) var containers: [String: ManagedContainer] = [:]
    private var order: [String] = []
    /// Children that are not processes of the table, by pid: container first stages, hook helpers.
    private var children: [Int32: (WaitStatus) -> Void] = [:]
    private var memoryEvents: MemoryEventsWatch?
    private var oomPollTimer: Int?

    init(loop: EventLoop, processes: ProcessSupervisor, router: StdioRouter, calls: CallAnswering) throws(SysError) {
        self.loop = loop
        self.processes = processes
        self.router = router
        self.calls = calls
        binary = try FileDescriptor.open("/proc/self/exe", .path)
        layout = CgroupLayout.detect()
        processes.unknownChildExited = { [unowned self] pid, status in children.removeValue(forKey: pid)?(status) }
        processes.processDidExit = { [unowned self] process in processExited(process) }
    }

    var all: [ManagedContainer] { order.compactMap { containers[$0] } }

    func lookup(_ id: String) throws(AgentError) -> ManagedContainer {
        guard let container = containers[id] else { throw .noSuchContainer(id) }
        return container
    }

    // MARK: Create

    func create(_ request: Guestkit_V1_CreateContainerRequest, call: ParkedCall) throws(AgentError) -> Guestkit_V1_CreateContainerResponse? {
        do throws(ContainerError) { try ContainerID.check(request.id) } catch { throw .container(error) }
        guard containers[request.id] == nil else { throw .alreadyExists("a container with id \"\(request.id)\" exists") }
        if !request.rootfs.isEmpty && !request.rootfs.hasPrefix("/") {
            throw .invalidRequest("rootfs \"\(request.rootfs)\" is not an absolute path")
        }
        // The spec is read before anything is mounted: a bad spec costs nothing to refuse.
        var spec: RuntimeSpec?
        if request.bundle.isEmpty {
            guard !request.specJson.isEmpty else { throw .invalidRequest("give a bundle path or spec_json") }
            do throws(SpecError) { spec = try RuntimeSpec(json: Array(request.specJson)) } catch { throw .container(.invalidSpec(error)) }
        }
        let storage = try StorageMounts.mount(request.storage)
        var ownDirectory: String?
        let bundle: ContainerBundle
        do throws(ContainerError) {
            if let spec {
                let directory = Self.stateDirectory + "/" + request.id
                do throws(SysError) {
                    try FileSystem.makeDirectories(directory)
                    try FileSystem.writeFile(directory + "/config.json", Array(request.specJson))
                } catch {
                    throw ContainerError.step("create the bundle directory \(directory)", error)
                }
                ownDirectory = directory
                bundle = try ContainerBundle(path: directory, spec: spec, rootfs: request.rootfs.isEmpty ? nil : request.rootfs)
            } else {
                bundle = try ContainerBundle(path: request.bundle)
            }
        } catch {
            StorageMounts.unmount(storage)
            if let ownDirectory { Self.removeDirectory(ownDirectory) }
            throw .container(error)
        }
        guard let process = bundle.spec.process else {
            throw .container(.invalidSpec(SpecError(JSONPath([.member("process")]), "is required")))
        }
        if process.terminal && request.stderr {
            throw .invalidRequest("stderr=true with process.terminal: the terminal merges stderr into stdout")
        }
        let cgroup = ContainerCgroup(layout: layout, path: CgroupPath.forContainer(id: request.id, spec: bundle.spec.linux.cgroupsPath))
        let container = ManagedContainer(id: request.id, bundle: bundle, cgroup: cgroup, storage: storage,
                                         ownBundleDirectory: ownDirectory, declared: (request.stdin, request.stdout, request.stderr))
        containers[container.id] = container
        order.append(container.id)
        container.createCall = call
        do throws(AgentError) {
            do throws(ContainerError) {
                try cgroup.create()
                if let resources = bundle.spec.linux.resources { try cgroup.apply(resources) }
            } catch {
                throw AgentError.container(error)
            }
            container.launch = try launch(.container, container: container, spec: process, json: nil,
                                          declared: container.declared) { [unowned self, unowned container] event in
                containerEvent(container, event)
            }
        } catch {
            container.createCall = nil
            teardown(container, reply: nil)
            throw error
        }
        return nil
    }

    /// Starts a launch (the container's init or an exec) with the stdio the host declared.
    private func launch(_ mode: ContainerLaunch.Mode, container: ManagedContainer, spec: ProcessSpec, json: JSONValue?,
                        declared: (stdin: Bool, stdout: Bool, stderr: Bool),
                        events: @escaping (ContainerLaunch.Event) -> Void) throws(AgentError) -> LaunchWatcher {
        // A terminal comes from inside the container (its own devpts); until then stdio is /dev/null.
        let stdio: ProcessStdio
        do throws(SysError) {
            stdio = try ProcessStdio(terminal: false, size: nil, stdin: declared.stdin && !spec.terminal,
                                     stdout: declared.stdout && !spec.terminal, stderr: declared.stderr && !spec.terminal,
                                     devNull: processes.devNull)
        } catch {
            throw .system(error)
        }
        let descriptors = stdio.childDescriptors
        let request = ContainerLaunch.Request(mode: mode, id: container.id, bundle: container.bundle.path, rootfs: container.bundle.rootfs,
                                              spec: container.bundle.spec, exec: json.map { (spec, $0) },
                                              initPID: mode == .exec ? container.pid : nil, cgroup: container.cgroup, binary: binary,
                                              stdio: [0, 1, 2].map { descriptors[$0] ?? processes.devNull })
        let launch: ContainerLaunch
        do throws(ContainerError) { launch = try ContainerLaunch(request) } catch {
            stdio.abandon()
            throw .container(error)
        }
        stdio.closeChildEnds()
        children[launch.stage1PID] = { _ in }
        do throws(SysError) {
            return try LaunchWatcher(launch, stdio: stdio, loop: loop, events: events)
        } catch {
            launch.cancel()
            launch.close()
            stdio.abandon()
            throw .system(error)
        }
    }

    /// The process a launch made, adopted by the process supervisor; a terminal's controller becomes its
    /// stdin and stdout.
    private func adopt(id: String, container: ManagedContainer, pid: Int32, spec: ProcessSpec, stdio: ProcessStdio,
                       terminal: FileDescriptor?, declared: (stdin: Bool, stdout: Bool, stderr: Bool)) -> ManagedProcess {
        var stdin = stdio.stdin, stdout = stdio.stdout
        if let terminal {
            try? terminal.setNonBlocking()
            if declared.stdin, let input = try? terminal.duplicate() { stdin = .waiting(input) }
            if let output = try? terminal.duplicate() { stdout = .waiting(output) }
        }
        let process = ManagedProcess(id: id, containerID: container.id, pid: pid, arguments: spec.args, terminal: terminal,
                                     stdin: stdin, stdout: stdout, stderr: stdio.stderr)
        process.declared = declared
        processes.adopt(process)
        if terminal != nil && !declared.stdout { router.discardOutput(of: process) }
        return process
    }

    private func containerEvent(_ container: ManagedContainer, _ event: ContainerLaunch.Event) {
        guard let watcher = container.launch else { return }
        switch event {
        case .spawned(let pid):
            container.pid = pid
        case .needsHooks:
            runHooks([(.prestart, container.bundle.spec.hooks.prestart), (.createRuntime, container.bundle.spec.hooks.createRuntime)],
                     container: container, status: .creating) { [weak watcher] failure in watcher?.launch.hooksFinished(failure: failure) }
        case .created(let terminal):
            container.initProcess = adopt(id: container.id, container: container, pid: container.pid, spec: watcher.launch.processSpec,
                                          stdio: watcher.stdio, terminal: terminal, declared: container.declared)
            container.status = .created
            container.createdAt = Clock.bootTimeNanoseconds
            if let call = container.createCall {
                container.createCall = nil
                var response = Guestkit_V1_CreateContainerResponse()
                response.id = container.id
                response.pid = container.pid
                answer(call, response)
            }
        case .started:
            container.launch = nil
            container.startedAt = Clock.bootTimeNanoseconds
            if container.status == .created { container.status = .running }
            runHooks([(.poststart, container.bundle.spec.hooks.poststart)], container: container, status: .running) { [unowned self, unowned container] failure in
                guard let call = container.startCall else { return }
                container.startCall = nil
                if let failure {
                    // runc kills a container whose poststart hook failed.
                    try? container.cgroup.killAll()
                    calls.answer(call, .failure(AgentError.status(of: AgentError.container(.failed(failure)))))
                    return
                }
                var response = Guestkit_V1_StartContainerResponse()
                response.pid = container.pid
                answer(call, response)
            }
        case .failed(let error):
            watcher.stop()
            container.launch = nil
            let result: Result<[UInt8], RPCError> = .failure(AgentError.status(of: AgentError.container(error)))
            if let call = container.createCall {
                container.createCall = nil
                teardown(container, reply: (call, result))
            } else if let call = container.startCall {
                container.startCall = nil
                calls.answer(call, result)
            }
        }
    }

    /// Hook phases in a helper process; `done` hears nil or the failure once it is reaped.
    private func runHooks(_ phases: [(HookPhase, [HookSpec])], container: ManagedContainer, status: GuestContainer.ContainerStatus,
                          done: @escaping (String?) -> Void) {
        do throws(AgentError) {
            guard let helper = try HookHelperProcess.start(phases, state: container.state(status), devNull: processes.devNull,
                                                           oomScoreAdjustment: processes.childOOMScoreAdjustment) else {
                done(nil)
                return
            }
            children[helper.pid] = { status in done(helper.finished(status)) }
        } catch {
            done(error.description)
        }
    }

    // MARK: Start

    func start(_ id: String, call: ParkedCall) throws(AgentError) -> Guestkit_V1_StartContainerResponse? {
        let container = try lookup(id)
        guard container.status == .created, let watcher = container.launch, container.startCall == nil else {
            throw .failedPrecondition("container \(id) is \(container.status.rawValue), not created")
        }
        do throws(ContainerError) { try watcher.launch.start() } catch { throw .container(error) }
        container.startCall = call
        return nil
    }

    // MARK: Exec

    func exec(_ request: Guestkit_V1_ExecProcessRequest, call: ParkedCall) throws(AgentError) -> Guestkit_V1_ExecProcessResponse? {
        let container = try lookup(request.containerID)
        guard container.status == .running || container.status == .created, container.exit == nil else {
            throw .failedPrecondition("container \(container.id) is \(container.status.rawValue): exec needs it created or running")
        }
        let json: JSONValue
        let spec: ProcessSpec
        do throws(JSONSyntaxError) {
            json = try JSONValue.parse(Array(request.processJson))
        } catch {
            throw .invalidRequest("process_json: \(error)")
        }
        do throws(SpecError) {
            spec = try ProcessSpec(JSONField(json, path: JSONPath([.member("process")])))
        } catch {
            throw .container(.invalidSpec(error))
        }
        guard !spec.args.isEmpty else { throw .container(.invalidSpec(SpecError(spec.path.appending("args"), "is empty"))) }
        if spec.terminal && request.stderr { throw .invalidRequest("stderr=true with terminal: the terminal merges stderr into stdout") }
        var id = request.id
        if id.isEmpty {
            var n = 1
            while container.execs["exec\(n)"] != nil || id == container.id { n += 1 }
            id = "exec\(n)"
        }
        guard id != container.id, container.execs[id] == nil, processes.processes[id, container: container.id] == nil else {
            throw .alreadyExists("container \(container.id) already has a process \"\(id)\"")
        }
        guard id.utf8.count <= 256, !id.contains("/") else { throw .invalidRequest("exec id \"\(id)\" is not a name") }
        let exec = ExecProcess(id: id, spec: spec, declared: (request.stdin, request.stdout, request.stderr))
        exec.call = call
        container.execs[id] = exec
        do throws(AgentError) {
            exec.launch = try launch(.exec, container: container, spec: spec, json: json, declared: exec.declared) { [unowned self, unowned container, unowned exec] event in
                execEvent(container, exec, event)
            }
        } catch {
            container.execs[id] = nil
            throw error
        }
        return nil
    }

    private func execEvent(_ container: ManagedContainer, _ exec: ExecProcess, _ event: ContainerLaunch.Event) {
        guard let watcher = exec.launch else { return }
        switch event {
        case .spawned, .needsHooks:
            break
        case .created(let terminal):
            exec.process = adopt(id: exec.id, container: container, pid: watcher.launch.pid ?? 0, spec: exec.spec,
                                 stdio: watcher.stdio, terminal: terminal, declared: exec.declared)
            do throws(ContainerError) { try watcher.launch.start() } catch {
                execEvent(container, exec, .failed(error))
            }
        case .started:
            exec.launch = nil
            if let call = exec.call {
                exec.call = nil
                var response = Guestkit_V1_ExecProcessResponse()
                response.id = exec.id
                response.pid = exec.process?.pid ?? 0
                answer(call, response)
            }
        case .failed(let error):
            watcher.stop()
            exec.launch = nil
            if let pid = watcher.launch.pid { try? Processes.signal(pid, Signal.kill) }
            if exec.process == nil {
                watcher.stdio.abandon()
                container.execs[exec.id] = nil
                // Its process (if stage 2 was made) is reaped as an unknown child.
                if let pid = watcher.launch.pid { children[pid] = { _ in } }
            }
            if let call = exec.call {
                exec.call = nil
                calls.answer(call, .failure(AgentError.status(of: AgentError.container(error))))
            }
        }
    }

    // MARK: Exit

    /// A process of the table exited: a container's init means the container stopped.
    private func processExited(_ process: ManagedProcess) {
        guard !process.containerID.isEmpty, let container = containers[process.containerID] else { return }
        if process.id == container.id && process === container.initProcess {
            container.exit = process.exit
            container.exitedAt = process.exitedAt
            container.status = .stopped
            container.pid = process.pid
            checkOOM(container)
        }
    }

    /// The first stage of a launch and stage 2 of a launch that never got adopted are reaped silently.
    func childExited(_ pid: Int32, _ status: WaitStatus) {
        children.removeValue(forKey: pid)?(status)
    }

    // MARK: Signals, pause, update, stats

    func signalAll(_ container: ManagedContainer, _ signal: Int32) throws(AgentError) {
        guard (1...64).contains(signal) else { throw .invalidRequest("signal \(signal) is not a signal number (1-64)") }
        do throws(ContainerError) {
            if signal == Signal.kill {
                try container.cgroup.killAll()
            } else {
                try container.cgroup.signalAll(signal)
            }
        } catch {
            throw .container(error)
        }
    }

    func pause(_ id: String, call: ParkedCall) throws(AgentError) -> Guestkit_V1_PauseContainerResponse? {
        let container = try lookup(id)
        guard container.status == .running else { throw .failedPrecondition("container \(id) is \(container.status.rawValue), not running") }
        do throws(ContainerError) { try container.cgroup.setFrozen(true) } catch { throw .container(error) }
        container.status = .paused
        // cgroup.freeze takes effect asynchronously: answer once the cgroup reports frozen.
        waitFrozen(container, call: call, deadline: Clock.monotonicNanoseconds + 10_000_000_000)
        return nil
    }

    private func waitFrozen(_ container: ManagedContainer, call: ParkedCall, deadline: UInt64) {
        if container.cgroup.isFrozen || container.cgroup.processes().isEmpty || container.exit != nil {
            answer(call, Guestkit_V1_PauseContainerResponse())
            return
        }
        guard Clock.monotonicNanoseconds < deadline else {
            calls.answer(call, .failure(RPCError(.deadlineExceeded, "container \(container.id) did not freeze within 10 s")))
            return
        }
        loop.addTimer(after: 2_000_000) { [weak self, weak container] in
            guard let self, let container else { return }
            waitFrozen(container, call: call, deadline: deadline)
        }
    }

    func resume(_ id: String) throws(AgentError) {
        let container = try lookup(id)
        guard container.status == .paused else { throw .failedPrecondition("container \(id) is \(container.status.rawValue), not paused") }
        do throws(ContainerError) { try container.cgroup.setFrozen(false) } catch { throw .container(error) }
        container.status = container.exit == nil ? .running : .stopped
    }

    func update(_ request: Guestkit_V1_UpdateContainerRequest) throws(AgentError) {
        let container = try lookup(request.id)
        let value: JSONValue
        do throws(JSONSyntaxError) { value = try JSONValue.parse(Array(request.resourcesJson)) } catch {
            throw .invalidRequest("resources_json: \(error)")
        }
        let resources: ResourcesSpec
        do throws(SpecError) {
            resources = try ResourcesSpec(JSONField(value, path: JSONPath([.member("linux"), .member("resources")])))
        } catch {
            throw .container(.invalidSpec(error))
        }
        do throws(ContainerError) { try container.cgroup.apply(resources) } catch { throw .container(error) }
    }

    func stats(_ id: String) throws(AgentError) -> Guestkit_V1_ContainerStatsResponse {
        let stats = try lookup(id).cgroup.stats()
        var response = Guestkit_V1_ContainerStatsResponse()
        response.cpuUsageUsec = stats.cpuUsageMicroseconds
        response.cpuUserUsec = stats.cpuUserMicroseconds
        response.cpuSystemUsec = stats.cpuSystemMicroseconds
        response.cpuPeriods = stats.cpuPeriods
        response.cpuThrottledPeriods = stats.cpuThrottledPeriods
        response.cpuThrottledUsec = stats.cpuThrottledMicroseconds
        response.memoryCurrent = stats.memoryCurrent
        response.memoryMax = stats.memoryMax ?? 0
        response.memorySwapCurrent = stats.memorySwapCurrent
        response.memoryStat = stats.memoryStat
        response.memoryEvents = stats.memoryEvents
        response.pidsCurrent = stats.pidsCurrent
        response.pidsMax = stats.pidsMax ?? 0
        response.io = stats.io.map { device, values in
            var io = Guestkit_V1_IOStat()
            io.device = device
            io.readBytes = values["rbytes"] ?? 0
            io.writeBytes = values["wbytes"] ?? 0
            io.readIos = values["rios"] ?? 0
            io.writeIos = values["wios"] ?? 0
            return io
        }
        return response
    }

    // MARK: OOM

    func waitOOM(_ request: Guestkit_V1_WaitContainerOOMRequest, info: CallInfo, call: ParkedCall) throws(AgentError) -> Guestkit_V1_WaitContainerOOMResponse? {
        let container = try lookup(request.id)
        let count = container.cgroup.oomKillCount
        if count > request.knownOomKills {
            var response = Guestkit_V1_WaitContainerOOMResponse()
            response.oomKills = count
            return response
        }
        var timer: Int?
        if info.timeoutNanoseconds > 0 {
            timer = loop.addTimer(after: UInt64(info.timeoutNanoseconds)) { [weak self, weak container] in
                guard let self, let container else { return }
                container.oomWaiters.removeAll { $0.call == call }
                calls.answer(call, .failure(RPCError(.deadlineExceeded, "no OOM kill in container \(container.id) within the call's timeout")))
            }
        }
        container.oomWaiters.append((call, request.knownOomKills, timer))
        watchOOM(container)
        return nil
    }

    /// memory.events signals a change with EPOLLPRI on cgroup v2; cgroup v1 is polled.
    private func watchOOM(_ container: ManagedContainer) {
        if let file = container.cgroup.memoryEventsFile {
            if memoryEvents?.container !== container {
                memoryEvents?.stop()
                memoryEvents = try? MemoryEventsWatch(file: file, container: container, loop: loop) { [unowned self] c in checkOOM(c) }
            }
            if memoryEvents != nil { return }
        }
        guard oomPollTimer == nil else { return }
        oomPollTimer = loop.addTimer(after: 100_000_000) { [unowned self] in
            oomPollTimer = nil
            var waiting = false
            for container in all where !container.oomWaiters.isEmpty {
                checkOOM(container)
                waiting = waiting || !container.oomWaiters.isEmpty
            }
            if waiting, let first = all.first(where: { !$0.oomWaiters.isEmpty }) { watchOOM(first) }
        }
    }

    private func checkOOM(_ container: ManagedContainer) {
        guard !container.oomWaiters.isEmpty else { return }
        let count = container.cgroup.oomKillCount
        let due = container.oomWaiters.filter { count > $0.known }
        container.oomWaiters.removeAll { count > $0.known }
        for waiter in due {
            if let timer = waiter.timer { loop.cancelTimer(timer) }
            var response = Guestkit_V1_WaitContainerOOMResponse()
            response.oomKills = count
            answer(waiter.call, response)
        }
    }

    // MARK: Delete

    func delete(_ id: String, force: Bool, call: ParkedCall) throws(AgentError) -> Guestkit_V1_DeleteContainerResponse? {
        let container = try lookup(id)
        guard !container.tearingDown else { throw .failedPrecondition("container \(id) is already being deleted") }
        if !force && (container.status == .running || container.status == .paused) {
            throw .failedPrecondition("container \(id) is \(container.status.rawValue); stop it first or delete with force")
        }
        let payload = Guestkit_V1_DeleteContainerResponse().serializedBytes()
        teardown(container, reply: (call, .success(payload)))
        return nil
    }

    /// Kills everything in the container, waits (from the loop) until the init is reaped and the cgroup is
    /// empty, removes the cgroup, unmounts the storage, runs poststop hooks, forgets it, then replies.
    private func teardown(_ container: ManagedContainer, reply: (ParkedCall, Result<[UInt8], RPCError>)?) {
        container.tearingDown = true
        container.launch?.launch.cancel()
        container.launch?.stop()
        for exec in container.execs.values {
            exec.launch?.launch.cancel()
            exec.launch?.stop()
            if let call = exec.call { calls.answer(call, .failure(RPCError(.aborted, "container \(container.id) is being deleted"))) }
            exec.call = nil
        }
        if let call = container.startCall {
            container.startCall = nil
            calls.answer(call, .failure(RPCError(.aborted, "container \(container.id) is being deleted")))
        }
        if container.status == .paused { try? container.cgroup.setFrozen(false) }
        try? container.cgroup.killAll()
        if container.pid > 0, container.exit == nil { try? Processes.signal(container.pid, Signal.kill) }
        finishTeardown(container, reply: reply, deadline: Clock.monotonicNanoseconds + Self.emptyTimeout)
    }

    private func finishTeardown(_ container: ManagedContainer, reply: (ParkedCall, Result<[UInt8], RPCError>)?, deadline: UInt64) {
        let initGone = container.pid == 0 || container.initProcess == nil || container.exit != nil
        if !container.cgroup.processes().isEmpty || !initGone {
            guard Clock.monotonicNanoseconds < deadline else {
                AgentLog.error("container \(container.id): processes left in \(container.cgroup.path) after 10 s")
                remove(container, reply: reply.map { ($0.0, .failure(RPCError(.deadlineExceeded, "container \(container.id): processes still in its cgroup 10 s after SIGKILL"))) })
                return
            }
            try? container.cgroup.killAll()
            loop.addTimer(after: 2_000_000) { [weak self, weak container] in
                guard let self, let container else { return }
                finishTeardown(container, reply: reply, deadline: deadline)
            }
            return
        }
        var failure: String?
        do throws(ContainerError) { try container.cgroup.remove() } catch { failure = error.description }
        runHooks([(.poststop, container.bundle.spec.hooks.poststop)], container: container, status: .stopped) { [unowned self] hookFailure in
            if let hookFailure { AgentLog.error("container \(container.id): \(hookFailure)") }
            if let failure, let reply {
                remove(container, reply: (reply.0, .failure(RPCError(.internal, failure))))
            } else {
                remove(container, reply: reply)
            }
        }
    }

    private func remove(_ container: ManagedContainer, reply: (ParkedCall, Result<[UInt8], RPCError>)?) {
        StorageMounts.unmount(container.storage)
        if let directory = container.ownBundleDirectory { Self.removeDirectory(directory) }
        for waiter in container.oomWaiters {
            if let timer = waiter.timer { loop.cancelTimer(timer) }
            calls.answer(waiter.call, .failure(RPCError(.notFound, "container \(container.id) was deleted")))
        }
        container.oomWaiters = []
        if memoryEvents?.container === container {
            memoryEvents?.stop()
            memoryEvents = nil
        }
        // Its processes go with it; a WaitProcess still parked on one hears its exit first.
        for process in processes.all where process.containerID == container.id {
            if process.exit != nil && process.waiters.isEmpty { processes.forget(process) }
        }
        for exec in container.execs.values { exec.launch?.stdio.abandon() }
        containers[container.id] = nil
        order.removeAll { $0 == container.id }
        if let reply { calls.answer(reply.0, reply.1) }
    }

    static func removeDirectory(_ path: String) {
        for name in (try? FileSystem.listDirectory(path)) ?? [] { try? FileSystem.unlink(path + "/" + name) }
        try? FileSystem.removeDirectory(path)
    }

    /// The agent is leaving: every container process dies with it.
    func killAll() {
        for container in all { try? container.cgroup.killAll() }
    }

    private func answer(_ call: ParkedCall, _ message: some WireMessage) {
        calls.answer(call, .success(message.serializedBytes()))
    }
}

/// memory.events of one container watched for EPOLLPRI (the kernel's notification of a change).
final class MemoryEventsWatch: PollTarget {
    let fd: FileDescriptor
    unowned let container: ManagedContainer
    private let loop: EventLoop
    private let changed: (ManagedContainer) -> Void

    init(file: String, container: ManagedContainer, loop: EventLoop, changed: @escaping (ManagedContainer) -> Void) throws(SysError) {
        fd = try FileDescriptor.open(file, .readOnly)
        self.container = container
        self.loop = loop
        self.changed = changed
        _ = try? fd.read(upTo: 4096)
        try loop.watch(fd, .priority, self)
    }

    func ready(_ fd: FileDescriptor, _ events: PollEvents) {
        // Reading from the start re-arms the notification.
        var buffer = [UInt8](repeating: 0, count: 4096)
        _ = buffer.withUnsafeMutableBytes { try? fd.read(into: $0, at: 0) }
        changed(container)
    }

    func stop() {
        loop.unwatch(fd)
        fd.closeQuietly()
    }
}
