import ContainerdProto
import Foundation
import GuestProto
import GuestSys
import SwiftProtobuf
import Synchronization
import TTRPC

/// containerd.task.v2.Task: each method a few lines that find the task (or process) and call it. One
/// server serves one task (one VM); Shutdown ends the server once that task is gone. Errors become status
/// codes in `ShimError.status(of:)`.
final class TaskService: Sendable {
    static let name = "containerd.task.v2.Task"

    private let arguments: ShimArguments
    private let log: ShimLog
    private let events: EventPublisher
    private let binaryDirectory: String
    private let task = Mutex<ShimTask?>(nil)
    /// Called after Shutdown was answered, when no task is left.
    private let exit: @Sendable () -> Void

    init(arguments: ShimArguments, log: ShimLog, events: EventPublisher, binaryDirectory: String,
         exit: @escaping @Sendable () -> Void) {
        self.arguments = arguments
        self.log = log
        self.events = events
        self.binaryDirectory = binaryDirectory
        self.exit = exit
    }

    /// A terminating signal: the VM is killed and the mounts undone before the process ends.
    func stopAll() {
        task.withLock { $0 }?.abandon()
    }

    /// The task the request names.
    private func find(_ id: String) throws(ShimError) -> ShimTask {
        guard let current = task.withLock({ $0 }), current.id == id else {
            throw .notFound("no task \"\(id)\" in this shim")
        }
        return current
    }

    func methodTable() -> MethodTable<Void> {
        var m = MethodTable<Void>(statusOf: ShimError.status(of:))
        let s = Self.name
        m.register(service: s, method: "Create") { [self] (r: Containerd_Task_V2_CreateTaskRequest, info, _) in try create(r, info) }
        m.register(service: s, method: "Start") { [self] (r: Containerd_Task_V2_StartRequest, _, _) in
            var response = Containerd_Task_V2_StartResponse()
            response.pid = try find(r.id).start(r.execID)
            return response
        }
        m.register(service: s, method: "State") { [self] (r: Containerd_Task_V2_StateRequest, _, _) in try state(r) }
        m.register(service: s, method: "Delete") { [self] (r: Containerd_Task_V2_DeleteRequest, _, _) in try delete(r) }
        m.register(service: s, method: "Pids") { [self] (r: Containerd_Task_V2_PidsRequest, _, _) in
            var response = Containerd_Task_V2_PidsResponse()
            response.processes = try find(r.id).pids().map { entry in
                var info = Containerd_V1_Types_ProcessInfo()
                info.pid = UInt32(clamping: entry.pid)
                return info
            }
            return response
        }
        m.register(service: s, method: "Pause") { [self] (r: Containerd_Task_V2_PauseRequest, _, _) in
            try find(r.id).pause(true)
            return Google_Protobuf_Empty()
        }
        m.register(service: s, method: "Resume") { [self] (r: Containerd_Task_V2_ResumeRequest, _, _) in
            try find(r.id).pause(false)
            return Google_Protobuf_Empty()
        }
        m.register(service: s, method: "Checkpoint") { (_: Containerd_Task_V2_CheckpointTaskRequest, _, _) -> Google_Protobuf_Empty in
            throw ShimError.unimplemented("checkpoint is not supported by the GuestKit shim")
        }
        m.register(service: s, method: "Kill") { [self] (r: Containerd_Task_V2_KillRequest, _, _) in
            try find(r.id).kill(r.execID, signal: r.signal, all: r.all)
            return Google_Protobuf_Empty()
        }
        m.register(service: s, method: "Exec") { [self] (r: Containerd_Task_V2_ExecProcessRequest, _, _) in
            try find(r.id).addExec(r)
            return Google_Protobuf_Empty()
        }
        m.register(service: s, method: "ResizePty") { [self] (r: Containerd_Task_V2_ResizePtyRequest, _, _) in
            try find(r.id).resize(r.execID, width: r.width, height: r.height)
            return Google_Protobuf_Empty()
        }
        m.register(service: s, method: "CloseIO") { [self] (r: Containerd_Task_V2_CloseIORequest, _, _) in
            let process = try find(r.id).process(r.execID)
            if r.stdin { process.io.closeStdin() }
            return Google_Protobuf_Empty()
        }
        m.register(service: s, method: "Update") { [self] (r: Containerd_Task_V2_UpdateTaskRequest, _, _) in
            guard r.resources.value.count <= GuestSpec.maxBytes else {
                throw ShimError.invalidArgument("resources are \(r.resources.value.count) bytes, over the limit")
            }
            try find(r.id).update(resourcesJSON: [UInt8](r.resources.value))
            return Google_Protobuf_Empty()
        }
        m.register(service: s, method: "Wait") { [self] (r: Containerd_Task_V2_WaitRequest, _, _) in
            let exit = try find(r.id).process(r.execID).wait()
            var response = Containerd_Task_V2_WaitResponse()
            response.exitStatus = exit.status
            response.exitedAt = Google_Protobuf_Timestamp(date: exit.at)
            return response
        }
        m.register(service: s, method: "Stats") { [self] (r: Containerd_Task_V2_StatsRequest, _, _) in
            var response = Containerd_Task_V2_StatsResponse()
            response.stats = try CgroupMetrics.any(from: try find(r.id).stats())
            return response
        }
        m.register(service: s, method: "Connect") { [self] (r: Containerd_Task_V2_ConnectRequest, _, _) in
            var response = Containerd_Task_V2_ConnectResponse()
            response.shimPid = UInt32(clamping: Processes.currentID)
            response.taskPid = (try? find(r.id).taskPID) ?? 0
            response.version = ShimVersion.text
            return response
        }
        m.register(service: s, method: "Shutdown") { [self] (r: Containerd_Task_V2_ShutdownRequest, _, _) in
            let busy = task.withLock { $0 != nil }
            if !busy || r.now {
                log.info("shutdown: no task left; exiting")
                let exit = self.exit
                // Answer first: a closed connection also counts as success to containerd.
                Thread.detachNewThread {
                    Thread.sleep(forTimeInterval: 0.05)
                    exit()
                }
            }
            return Google_Protobuf_Empty()
        }
        return m
    }

    private func create(_ request: Containerd_Task_V2_CreateTaskRequest, _ info: CallInfo) throws(ShimError) -> Containerd_Task_V2_CreateTaskResponse {
        guard request.id == arguments.id else {
            throw .invalidArgument("this shim was started for task \(arguments.id), not \(request.id)")
        }
        guard request.checkpoint.isEmpty else { throw .unimplemented("restoring from a checkpoint is not supported") }
        let path = try Self.configPath(request.options) ?? ProcessInfo.processInfo.environment["GUESTKIT_SHIM_CONFIG"]
        let config = try ShimConfig.load(path: path, binaryDirectory: binaryDirectory)
        let runDirectory = config.runRoot + "/" + String(ShimStart.socketPath(
            containerdAddress: arguments.address, namespace: arguments.namespace, id: request.id).suffix(16))
        let created = ShimTask(request: request, namespace: arguments.namespace, config: config, log: log,
                               events: events, runDirectory: runDirectory)
        let claimed = task.withLock { current -> Bool in
            guard current == nil else { return false }
            current = created
            return true
        }
        guard claimed else { throw .alreadyExists("this shim already runs task \(request.id)") }
        do throws(ShimError) {
            var response = Containerd_Task_V2_CreateTaskResponse()
            response.pid = try created.create()
            return response
        } catch {
            task.withLock { $0 = nil }
            throw error
        }
    }

    /// containerd's runtime options name a configuration file: `runtimeoptions.v1.Options.config_path`
    /// (ctr --runtime-config-path, CRI's ConfigPath). Any other options type is refused by name.
    static func configPath(_ options: Google_Protobuf_Any) throws(ShimError) -> String? {
        guard !options.typeURL.isEmpty else { return nil }
        guard options.typeURL.hasSuffix("runtimeoptions.v1.Options") else {
            throw .invalidArgument("runtime options of type \(options.typeURL) are not understood; give runtimeoptions.v1.Options with config_path")
        }
        do {
            let decoded = try Runtimeoptions_V1_Options(serializedBytes: [UInt8](options.value))
            return decoded.configPath.isEmpty ? nil : decoded.configPath
        } catch {
            throw .invalidArgument("runtime options: \(error)")
        }
    }

    private func state(_ request: Containerd_Task_V2_StateRequest) throws(ShimError) -> Containerd_Task_V2_StateResponse {
        let task = try find(request.id)
        let process = try task.process(request.execID)
        var response = Containerd_Task_V2_StateResponse()
        response.id = request.execID.isEmpty ? task.id : request.execID
        response.execID = request.execID
        response.bundle = task.bundle
        response.pid = task.taskPID
        response.status = task.isPaused && process.status == .running ? .paused : process.containerdStatus
        response.stdin = process.stdio.stdin
        response.stdout = process.stdio.stdout
        response.stderr = process.stdio.stderr
        response.terminal = process.stdio.terminal
        if let exit = process.exit {
            response.exitStatus = exit.status
            response.exitedAt = Google_Protobuf_Timestamp(date: exit.at)
        }
        return response
    }

    private func delete(_ request: Containerd_Task_V2_DeleteRequest) throws(ShimError) -> Containerd_Task_V2_DeleteResponse {
        let task = try find(request.id)
        let exit = try task.delete(request.execID)
        if request.execID.isEmpty { self.task.withLock { $0 = nil } }
        var response = Containerd_Task_V2_DeleteResponse()
        response.pid = task.taskPID
        response.exitStatus = exit.status
        response.exitedAt = Google_Protobuf_Timestamp(date: exit.at)
        return response
    }
}
