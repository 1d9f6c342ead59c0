import GuestProto
import GuestSys
import TTRPC

/// The guestkit.v1.Agent RPC surface: each method a few lines that look up what the request names and
/// call the part that owns it (processes: `ProcessSupervisor`; stdio and terminals: `StdioRouter`; power:
/// guest-init over `InitChannel`). Errors are thrown as `AgentError` and become status codes in one place,
/// `AgentError.status(of:)`.
final class AgentService {
    static let name = "guestkit.v1.Agent"

    let options: AgentOptions
    let supervisor: ProcessSupervisor
    let containers: ContainerSupervisor
    let router: StdioRouter
    let initChannel: InitChannel?

    init(options: AgentOptions, supervisor: ProcessSupervisor, containers: ContainerSupervisor, router: StdioRouter,
         initChannel: InitChannel?) {
        self.options = options
        self.supervisor = supervisor
        self.containers = containers
        self.router = router
        self.initChannel = initChannel
    }

    /// The method table with every method of the service registered.
    func methodTable() -> MethodTable<ClientConnection> {
        var methods = MethodTable<ClientConnection>(statusOf: AgentError.status(of:))
        let s = Self.name
        methods.register(service: s, method: "GetInfo") { [unowned self] (_: Guestkit_V1_GetInfoRequest, _, _) in
            GuestInfo.build(bootFile: options.bootFile, processCount: supervisor.count)
        }
        methods.register(service: s, method: "StartProcess") { [unowned self] (request: Guestkit_V1_StartProcessRequest, info, connection) in
            try supervisor.startProcess(request, call: ParkedCall(connectionID: connection.id, streamID: info.streamID))
        }
        methods.register(service: s, method: "AttachStdio") { [unowned self] (request: Guestkit_V1_AttachStdioRequest, _, connection) in
            let process = try supervisor.lookup(request.id, container: request.containerID)
            return try router.prepareAttach(request, process: process, on: connection)
        }
        methods.register(service: s, method: "SignalProcess") { [unowned self] (request: Guestkit_V1_SignalProcessRequest, _, _) in
            if request.all {
                guard !request.containerID.isEmpty else { throw AgentError.invalidRequest("all=true needs a container_id") }
                try containers.signalAll(try containers.lookup(request.containerID), request.signal)
                return Guestkit_V1_SignalProcessResponse()
            }
            let process = try supervisor.lookup(request.id, container: request.containerID)
            try supervisor.signal(process, request.signal, group: request.processGroup)
            return Guestkit_V1_SignalProcessResponse()
        }
        methods.register(service: s, method: "WaitProcess") { [unowned self] (request: Guestkit_V1_WaitProcessRequest, info, connection) in
            let process = try supervisor.lookup(request.id, container: request.containerID)
            return try supervisor.wait(process, info: info, connectionID: connection.id)
        }
        methods.register(service: s, method: "ResizeTerminal") { [unowned self] (request: Guestkit_V1_ResizeTerminalRequest, _, _) in
            let process = try supervisor.lookup(request.id, container: request.containerID)
            try router.resizeTerminal(of: process, rows: request.rows, columns: request.columns)
            return Guestkit_V1_ResizeTerminalResponse()
        }
        methods.register(service: s, method: "CloseStdin") { [unowned self] (request: Guestkit_V1_CloseStdinRequest, _, _) in
            let process = try supervisor.lookup(request.id, container: request.containerID)
            try router.closeStdin(of: process)
            return Guestkit_V1_CloseStdinResponse()
        }
        methods.register(service: s, method: "ListProcesses") { [unowned self] (request: Guestkit_V1_ListProcessesRequest, _, _) in
            if !request.containerID.isEmpty { _ = try containers.lookup(request.containerID) }
            var response = Guestkit_V1_ListProcessesResponse()
            response.processes = supervisor.all.filter { $0.containerID == request.containerID }.map(\.entry)
            return response
        }
        methods.register(service: s, method: "Shutdown") { [unowned self] (request: Guestkit_V1_ShutdownRequest, _, _) in
            guard let initChannel else {
                throw AgentError.failedPrecondition("not started by guest-init (GUESTKIT_INIT_FD unset): power the VM off from the host")
            }
            try initChannel.requestShutdown(reboot: request.reboot)
            return Guestkit_V1_ShutdownResponse()
        }
        registerContainerMethods(&methods)
        NetworkMethods.register(in: &methods, service: s)
        return methods
    }

    /// CreateContainer … DeleteContainer: each hands its request to the container supervisor; the ones
    /// that wait on a container (create, start, exec, pause, OOM, delete) are parked there.
    private func registerContainerMethods(_ methods: inout MethodTable<ClientConnection>) {
        let s = Self.name
        func call(_ info: CallInfo, _ connection: ClientConnection) -> ParkedCall {
            ParkedCall(connectionID: connection.id, streamID: info.streamID)
        }
        methods.register(service: s, method: "CreateContainer") { [unowned self] (request: Guestkit_V1_CreateContainerRequest, info, connection) in
            try containers.create(request, call: call(info, connection))
        }
        methods.register(service: s, method: "StartContainer") { [unowned self] (request: Guestkit_V1_StartContainerRequest, info, connection) in
            try containers.start(request.id, call: call(info, connection))
        }
        methods.register(service: s, method: "ExecProcess") { [unowned self] (request: Guestkit_V1_ExecProcessRequest, info, connection) in
            try containers.exec(request, call: call(info, connection))
        }
        methods.register(service: s, method: "ContainerState") { [unowned self] (request: Guestkit_V1_ContainerStateRequest, _, _) in
            var response = Guestkit_V1_ContainerStateResponse()
            response.container = try containers.lookup(request.id).info
            return response
        }
        methods.register(service: s, method: "ListContainers") { [unowned self] (_: Guestkit_V1_ListContainersRequest, _, _) in
            var response = Guestkit_V1_ListContainersResponse()
            response.containers = containers.all.map(\.info)
            return response
        }
        methods.register(service: s, method: "PauseContainer") { [unowned self] (request: Guestkit_V1_PauseContainerRequest, info, connection) in
            try containers.pause(request.id, call: call(info, connection))
        }
        methods.register(service: s, method: "ResumeContainer") { [unowned self] (request: Guestkit_V1_ResumeContainerRequest, _, _) in
            try containers.resume(request.id)
            return Guestkit_V1_ResumeContainerResponse()
        }
        methods.register(service: s, method: "UpdateContainer") { [unowned self] (request: Guestkit_V1_UpdateContainerRequest, _, _) in
            try containers.update(request)
            return Guestkit_V1_UpdateContainerResponse()
        }
        methods.register(service: s, method: "ContainerStats") { [unowned self] (request: Guestkit_V1_ContainerStatsRequest, _, _) in
            try containers.stats(request.id)
        }
        methods.register(service: s, method: "WaitContainerOOM") { [unowned self] (request: Guestkit_V1_WaitContainerOOMRequest, info, connection) in
            try containers.waitOOM(request, info: info, call: call(info, connection))
        }
        methods.register(service: s, method: "DeleteContainer") { [unowned self] (request: Guestkit_V1_DeleteContainerRequest, info, connection) in
            try containers.delete(request.id, force: request.force, call: call(info, connection))
        }
    }
}
