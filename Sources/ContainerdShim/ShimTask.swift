import ContainerdProto
import Foundation
import SwiftProtobuf
import GuestClient
import GuestProto
import GuestSys
import HostNetwork
import Synchronization

/// One containerd task and its VM, in the order containerd drives it: create (rootfs mounted, share made,
/// network namespace carried, VM booted, guest network configured, container created in the guest, stdio
/// attached), start, execs, kill, wait, delete (container
/// deleted, VM powered off, mounts undone). Lifecycle calls run one at a time (`lifecycle`), which also
/// keeps the events in the order containerd requires; waits and stdio run beside them.
final class ShimTask: @unchecked Sendable {
    // Unchecked: `sandbox`, `share` and `rootfsMounted` change only inside `lifecycle`; the rest is
    // immutable or behind `state`.
    private struct State {
        var execs: [String: ShimProcess] = [:]
        var paused = false
        var deleted = false
    }

    let id: String
    let namespace: String
    let bundle: String
    let rootfs: [Containerd_Types_Mount]
    let initProcess: ShimProcess
    private let config: ShimConfig
    private let log: ShimLog
    private let events: EventPublisher
    private let state = Mutex(State())
    private let lifecycle = NSLock()
    private(set) var sandbox: TaskSandbox?
    private var share: TaskShare?
    private var network: TaskNetwork?
    private var rootfsMounted = false
    let runDirectory: String

    init(request: Containerd_Task_V2_CreateTaskRequest, namespace: String, config: ShimConfig, log: ShimLog,
         events: EventPublisher, runDirectory: String) {
        id = request.id
        self.namespace = namespace
        bundle = request.bundle
        rootfs = request.rootfs
        self.config = config
        self.log = log
        self.events = events
        self.runDirectory = runDirectory
        let stdio = StdioPaths(stdin: request.stdin, stdout: request.stdout, stderr: request.stderr, terminal: request.terminal)
        initProcess = ShimProcess(execID: "", agentID: request.id, stdio: stdio, processJSON: nil,
                                  io: ProcessIO(label: request.id, log: log))
    }

    // MARK: Create

    /// Everything Create does; on a failure, what was made is undone and the error names the step.
    func create() throws(ShimError) -> UInt32 {
        lifecycle.lock()
        defer { lifecycle.unlock() }
        do throws(ShimError) {
            let configJSON = try readConfig()
            let bundleRootfs = bundle + "/rootfs"
            if !rootfs.isEmpty {
                try RootfsMount.mount(rootfs, on: bundleRootfs)
                rootfsMounted = true
            }
            let share = try TaskShare(hostRoot: runDirectory + "/share")
            self.share = share
            try share.shareRootfs(bundleRootfs)
            let spec = try GuestSpec(configJSON: configJSON, guestRootfs: share.guestRootfs,
                                     hostHostname: (try? Processes.hostname()) ?? "") { path, recursive throws(ShimError) in
                try share.share(hostPath: path, recursive: recursive)
            }
            for note in spec.notes { log.info("spec: \(note)") }
            try ShimStateFile.update(bundle: bundle) { $0.runDirectory = runDirectory }
            if let path = spec.networkNamespacePath {
                let network: TaskNetwork
                do throws(TaskNetworkError) { network = try TaskNetwork.prepare(namespacePath: path) } catch {
                    throw .failedPrecondition("carrying the network namespace \(path) into the VM: \(error)")
                }
                self.network = network
                for note in network.notes { log.info("network: \(note)") }
                try ShimStateFile.update(bundle: bundle) { $0.network = network.record }
            }
            let sandbox = try TaskSandbox(config: config, runDirectory: runDirectory, share: share,
                                          interfaces: network?.interfaces ?? [], log: log)
            self.sandbox = sandbox
            if let network {
                do throws(TaskNetworkError) {
                    try network.configureGuest(sandbox.client, timeoutNanoseconds: sandbox.callTimeout)
                } catch {
                    throw .guest("configuring the guest's network: \(error)")
                }
            }
            try ShimStateFile.update(bundle: bundle) { state in
                state.qemuPID = sandbox.qemuPID
                state.qemuStartTime = ProcessStartTime.of(sandbox.qemuPID)
                state.bridgePID = sandbox.guest.bridgePID
                state.bridgeStartTime = sandbox.guest.bridgePID.flatMap(ProcessStartTime.of)
            }

            var request = Guestkit_V1_CreateContainerRequest()
            request.id = id
            request.specJson = spec.json
            request.rootfs = share.guestRootfs
            var storage = Guestkit_V1_StorageMount()
            storage.type = "9p"
            storage.source = TaskShare.tag
            storage.target = TaskShare.guestRoot
            storage.options = ["trans=virtio", "version=9p2000.L", "msize=262144", "cache=mmap", "access=client"]
            request.storage = [storage]
            request.stdin = !initProcess.stdio.stdin.isEmpty
            request.stdout = !initProcess.stdio.stdout.isEmpty
            request.stderr = !initProcess.stdio.stderr.isEmpty && !initProcess.stdio.terminal
            let response: Guestkit_V1_CreateContainerResponse
            do throws(GuestClientError) {
                response = try sandbox.client.channel.call("CreateContainer", request, timeoutNanoseconds: sandbox.callTimeout)
            } catch {
                throw .agent("creating the container in the guest", error)
            }
            log.info("container created in the guest")
            initProcess.setPID(UInt32(clamping: response.pid))
            try initProcess.io.start(paths: initProcess.stdio, client: sandbox.client, processID: id, containerID: id)
            watchExit(initProcess, sandbox: sandbox)
            watchOOM(sandbox: sandbox)
        } catch {
            tearDown()
            throw error
        }
        var event = Containerd_Events_TaskCreate()
        event.containerID = id
        event.bundle = bundle
        event.rootfs = rootfs
        event.io.stdin = initProcess.stdio.stdin
        event.io.stdout = initProcess.stdio.stdout
        event.io.stderr = initProcess.stdio.stderr
        event.io.terminal = initProcess.stdio.terminal
        event.pid = taskPID
        events.publish("/tasks/create", event)
        return taskPID
    }

    /// The pid containerd shows for the task and its processes: the VM's QEMU, a host process that lives
    /// exactly as long as the task (as Kata reports its hypervisor).
    var taskPID: UInt32 { UInt32(clamping: sandbox?.qemuPID ?? 0) }

    private func readConfig() throws(ShimError) -> [UInt8] {
        let path = bundle + "/config.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .invalidArgument("cannot read \(path)")
        }
        guard data.count <= GuestSpec.maxBytes else {
            throw .invalidArgument("\(path) is \(data.count) bytes, over the \(GuestSpec.maxBytes)-byte limit")
        }
        return [UInt8](data)
    }

    // MARK: Processes

    func process(_ execID: String) throws(ShimError) -> ShimProcess {
        if execID.isEmpty { return initProcess }
        guard let process = state.withLock({ $0.execs[execID] }) else {
            throw .notFound("task \(id) has no exec \"\(execID)\"")
        }
        return process
    }

    var execs: [ShimProcess] { state.withLock { Array($0.execs.values) } }

    func start(_ execID: String) throws(ShimError) -> UInt32 {
        lifecycle.lock()
        defer { lifecycle.unlock() }
        let sandbox = try runningSandbox()
        let process = try self.process(execID)
        guard process.status == .created else {
            throw .failedPrecondition("process \(execID.isEmpty ? id : execID) of task \(id) is \(process.status), not created")
        }
        if execID.isEmpty {
            var request = Guestkit_V1_StartContainerRequest()
            request.id = id
            let response: Guestkit_V1_StartContainerResponse
            do throws(GuestClientError) {
                response = try sandbox.client.channel.call("StartContainer", request, timeoutNanoseconds: sandbox.callTimeout)
            } catch {
                throw .agent("starting the container", error)
            }
            process.markRunning(pid: UInt32(clamping: response.pid))
            var event = Containerd_Events_TaskStart()
            event.containerID = id
            event.pid = taskPID
            log.info("container started in the guest")
            events.publish("/tasks/start", event)
        } else {
            var request = Guestkit_V1_ExecProcessRequest()
            request.containerID = id
            request.id = execID
            request.processJson = process.processJSON ?? []
            request.stdin = !process.stdio.stdin.isEmpty
            request.stdout = !process.stdio.stdout.isEmpty
            request.stderr = !process.stdio.stderr.isEmpty && !process.stdio.terminal
            let response: Guestkit_V1_ExecProcessResponse
            do throws(GuestClientError) {
                response = try sandbox.client.channel.call("ExecProcess", request, timeoutNanoseconds: sandbox.callTimeout)
            } catch {
                throw .agent("starting exec \(execID)", error)
            }
            process.markRunning(pid: UInt32(clamping: response.pid))
            try process.io.start(paths: process.stdio, client: sandbox.client, processID: execID, containerID: id)
            var event = Containerd_Events_TaskExecStarted()
            event.containerID = id
            event.execID = execID
            event.pid = taskPID
            events.publish("/tasks/exec-started", event)
            watchExit(process, sandbox: sandbox)
        }
        return taskPID
    }

    /// containerd's Exec: the exec is recorded; it starts on Start(exec_id).
    func addExec(_ request: Containerd_Task_V2_ExecProcessRequest) throws(ShimError) {
        lifecycle.lock()
        defer { lifecycle.unlock() }
        _ = try runningSandbox()
        guard initProcess.status == .running else {
            throw .failedPrecondition("task \(id) is not running: cannot exec in it")
        }
        guard ShimArguments.isSafeName(request.execID) else {
            throw .invalidArgument("exec id \"\(request.execID)\": 1-76 characters of A-Z a-z 0-9 . _ -")
        }
        guard request.execID != id else { throw .alreadyExists("exec id \(request.execID) is the task's own id") }
        guard request.spec.typeURL.hasSuffix("opencontainers/runtime-spec/1/Process") || request.spec.typeURL.isEmpty else {
            throw .invalidArgument("exec spec has type \(request.spec.typeURL), expected an OCI runtime-spec Process")
        }
        guard request.spec.value.count <= GuestSpec.maxBytes else {
            throw .invalidArgument("exec spec is \(request.spec.value.count) bytes, over the \(GuestSpec.maxBytes)-byte limit")
        }
        let stdio = StdioPaths(stdin: request.stdin, stdout: request.stdout, stderr: request.stderr, terminal: request.terminal)
        let process = ShimProcess(execID: request.execID, agentID: request.execID, stdio: stdio,
                                  processJSON: [UInt8](request.spec.value),
                                  io: ProcessIO(label: "\(id)/\(request.execID)", log: log))
        let added = state.withLock { s -> Bool in
            guard s.execs[request.execID] == nil else { return false }
            s.execs[request.execID] = process
            return true
        }
        guard added else { throw .alreadyExists("task \(id) already has an exec \"\(request.execID)\"") }
        var event = Containerd_Events_TaskExecAdded()
        event.containerID = id
        event.execID = request.execID
        events.publish("/tasks/exec-added", event)
    }

    /// The agent's WaitProcess for the process, then its output, then the exit: recorded and published.
    /// A VM that went away counts as SIGKILL (137) for every process still running.
    private func watchExit(_ process: ShimProcess, sandbox: TaskSandbox) {
        let thread = Thread { [self] in
            let status: UInt32
            do throws(GuestClientError) {
                var request = Guestkit_V1_WaitProcessRequest()
                request.id = process.agentID
                request.containerID = id
                let response: Guestkit_V1_WaitProcessResponse = try sandbox.client.channel.call("WaitProcess", request)
                status = UInt32(clamping: response.signal != 0 ? 128 + Int(response.signal) : Int(response.exitCode))
                if !process.io.waitForOutput(timeout: .seconds(30)) {
                    log.error("\(process.agentID): output still copying 30 s after the exit; reporting the exit anyway")
                }
            } catch {
                log.info("\(process.agentID): lost the agent while waiting (\(error)); reporting SIGKILL")
                status = 128 + UInt32(Signal.kill)
            }
            lifecycle.lock()
            defer { lifecycle.unlock() }
            guard process.markExited(status: status) else { return }
            var event = Containerd_Events_TaskExit()
            event.containerID = id
            event.id = process.execID.isEmpty ? id : process.execID
            event.pid = taskPID
            event.exitStatus = status
            event.exitedAt = Google_Protobuf_Timestamp(date: process.exit?.at ?? Date())
            events.publish("/tasks/exit", event)
        }
        thread.name = "wait \(process.agentID)"
        thread.start()
    }

    /// Publishes /tasks/oom each time the guest counts a new OOM kill in the container.
    private func watchOOM(sandbox: TaskSandbox) {
        let thread = Thread { [self] in
            var seen: UInt64 = 0
            while !state.withLock({ $0.deleted }) {
                var request = Guestkit_V1_WaitContainerOOMRequest()
                request.id = id
                request.knownOomKills = seen
                do throws(GuestClientError) {
                    let response: Guestkit_V1_WaitContainerOOMResponse = try sandbox.client.channel.call("WaitContainerOOM", request)
                    guard response.oomKills > seen else { continue }
                    seen = response.oomKills
                    var event = Containerd_Events_TaskOOM()
                    event.containerID = id
                    events.publish("/tasks/oom", event)
                } catch {
                    if error.statusCode == .deadlineExceeded { continue }
                    return  // the container or the VM is gone
                }
            }
        }
        thread.name = "oom \(id)"
        thread.start()
    }

    // MARK: Signals, pause, update

    func kill(_ execID: String, signal: UInt32, all: Bool) throws(ShimError) {
        let sandbox = try runningSandbox()
        let process = try self.process(execID)
        guard signal <= 64 else { throw .invalidArgument("signal \(signal) is not a signal number (0-64)") }
        guard process.status != .stopped else {
            throw .notFound("process \(execID.isEmpty ? id : execID) of task \(id) has already exited")
        }
        var request = Guestkit_V1_SignalProcessRequest()
        request.id = process.agentID
        request.containerID = id
        request.signal = Int32(signal)
        request.all = all && execID.isEmpty
        do throws(GuestClientError) {
            let _: Guestkit_V1_SignalProcessResponse = try sandbox.client.channel.call("SignalProcess", request, timeoutNanoseconds: sandbox.callTimeout)
        } catch {
            throw .agent("signalling \(process.agentID)", error)
        }
    }

    func pause(_ pause: Bool) throws(ShimError) {
        lifecycle.lock()
        defer { lifecycle.unlock() }
        let sandbox = try runningSandbox()
        do throws(GuestClientError) {
            if pause {
                var request = Guestkit_V1_PauseContainerRequest()
                request.id = id
                let _: Guestkit_V1_PauseContainerResponse = try sandbox.client.channel.call("PauseContainer", request, timeoutNanoseconds: sandbox.callTimeout)
            } else {
                var request = Guestkit_V1_ResumeContainerRequest()
                request.id = id
                let _: Guestkit_V1_ResumeContainerResponse = try sandbox.client.channel.call("ResumeContainer", request, timeoutNanoseconds: sandbox.callTimeout)
            }
        } catch {
            throw .agent(pause ? "pausing the container" : "resuming the container", error)
        }
        state.withLock { $0.paused = pause }
        if pause {
            var event = Containerd_Events_TaskPaused()
            event.containerID = id
            events.publish("/tasks/paused", event)
        } else {
            var event = Containerd_Events_TaskResumed()
            event.containerID = id
            events.publish("/tasks/resumed", event)
        }
    }

    var isPaused: Bool { state.withLock { $0.paused } }

    func update(resourcesJSON: [UInt8]) throws(ShimError) {
        let sandbox = try runningSandbox()
        var request = Guestkit_V1_UpdateContainerRequest()
        request.id = id
        request.resourcesJson = resourcesJSON
        do throws(GuestClientError) {
            let _: Guestkit_V1_UpdateContainerResponse = try sandbox.client.channel.call("UpdateContainer", request, timeoutNanoseconds: sandbox.callTimeout)
        } catch {
            throw .agent("updating the container's resources", error)
        }
    }

    func stats() throws(ShimError) -> Guestkit_V1_ContainerStatsResponse {
        let sandbox = try runningSandbox()
        var request = Guestkit_V1_ContainerStatsRequest()
        request.id = id
        do throws(GuestClientError) {
            return try sandbox.client.channel.call("ContainerStats", request, timeoutNanoseconds: sandbox.callTimeout)
        } catch {
            throw .agent("reading the container's stats", error)
        }
    }

    /// The guest's processes of the container (pids in the guest).
    func pids() throws(ShimError) -> [Guestkit_V1_ProcessEntry] {
        let sandbox = try runningSandbox()
        var request = Guestkit_V1_ListProcessesRequest()
        request.containerID = id
        do throws(GuestClientError) {
            let response: Guestkit_V1_ListProcessesResponse = try sandbox.client.channel.call("ListProcesses", request, timeoutNanoseconds: sandbox.callTimeout)
            return response.processes
        } catch {
            throw .agent("listing the container's processes", error)
        }
    }

    func resize(_ execID: String, width: UInt32, height: UInt32) throws(ShimError) {
        let sandbox = try runningSandbox()
        let process = try self.process(execID)
        var request = Guestkit_V1_ResizeTerminalRequest()
        request.id = process.agentID
        request.containerID = id
        request.rows = height
        request.columns = width
        do throws(GuestClientError) {
            let _: Guestkit_V1_ResizeTerminalResponse = try sandbox.client.channel.call("ResizeTerminal", request, timeoutNanoseconds: sandbox.callTimeout)
        } catch {
            throw .agent("resizing the terminal of \(process.agentID)", error)
        }
    }

    private func runningSandbox() throws(ShimError) -> TaskSandbox {
        guard !state.withLock({ $0.deleted }), let sandbox else { throw .notFound("task \(id) is not created or already deleted") }
        return sandbox
    }

    // MARK: Delete

    /// Deletes an exec (once it has exited), or the whole task: container, VM, mounts.
    func delete(_ execID: String) throws(ShimError) -> ShimProcess.Exit {
        lifecycle.lock()
        defer { lifecycle.unlock() }
        if !execID.isEmpty {
            let process = try self.process(execID)
            guard let exit = process.exit else {
                throw .failedPrecondition("exec \(execID) of task \(id) is still running")
            }
            state.withLock { _ = $0.execs.removeValue(forKey: execID) }
            return exit
        }
        if let sandbox {
            var request = Guestkit_V1_DeleteContainerRequest()
            request.id = id
            request.force = true
            do throws(GuestClientError) {
                let _: Guestkit_V1_DeleteContainerResponse = try sandbox.client.channel.call("DeleteContainer", request, timeoutNanoseconds: sandbox.callTimeout)
            } catch {
                log.error("deleting the container in the guest: \(error); the VM goes anyway")
            }
        }
        // A task deleted before it ever ran (or whose VM died) still reports an exit.
        initProcess.markExited(status: 128 + UInt32(Signal.kill))
        tearDown()
        let exit = initProcess.exit ?? ShimProcess.Exit(status: 137, at: Date())
        var event = Containerd_Events_TaskDelete()
        event.containerID = id
        event.pid = taskPID
        event.exitStatus = exit.status
        event.exitedAt = Google_Protobuf_Timestamp(date: exit.at)
        events.publish("/tasks/delete", event)
        return exit
    }

    /// The server is being terminated: the VM is killed at once and the mounts undone, whatever call is
    /// under way (the process ends right after).
    func abandon() {
        sandbox?.kill()
        network?.tearDown()
        share?.remove()
        if rootfsMounted { RootfsMount.unmount(bundle + "/rootfs") }
    }

    /// Stops the VM and undoes the share and the rootfs mount (the caller holds `lifecycle`).
    private func tearDown() {
        state.withLock { $0.deleted = true }
        if let sandbox {
            sandbox.stop(log: log)
            log.info("VM powered off")
        }
        network?.tearDown()
        network = nil
        share?.remove()
        share = nil
        if rootfsMounted {
            RootfsMount.unmount(bundle + "/rootfs")
            rootfsMounted = false
        }
        // Recursive removal only once the share is gone: through a bind left mounted it would delete the
        // container's files.
        if FileManager.default.fileExists(atPath: runDirectory + "/share") {
            log.error("\(runDirectory)/share could not be removed; leaving \(runDirectory) in place")
        } else {
            try? FileManager.default.removeItem(atPath: runDirectory)
        }
        ShimStateFile.remove(bundle: bundle)
    }
}
