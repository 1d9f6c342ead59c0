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
    let router: StdioRouter
    let initChannel: InitChannel?

    init(options: AgentOptions, supervisor: ProcessSupervisor, router: StdioRouter, initChannel: InitChannel?) {
        self.options = options
        self.supervisor = supervisor
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
        methods.register(service: s, method: "StartProcess") { [unowned self] (request: Guestkit_V1_StartProcessRequest, _, _) in
            try supervisor.startProcess(request)
        }
        methods.register(service: s, method: "AttachStdio") { [unowned self] (request: Guestkit_V1_AttachStdioRequest, _, connection) in
            let process = try supervisor.lookup(request.id, container: request.containerID)
            return try router.prepareAttach(request, process: process, on: connection)
        }
        methods.register(service: s, method: "SignalProcess") { [unowned self] (request: Guestkit_V1_SignalProcessRequest, _, _) in
            let process = try supervisor.lookup(request.id, container: request.containerID)
            try supervisor.signal(process, request.signal, group: request.processGroup)
            return Guestkit_V1_SignalProcessResponse()
        }
        methods.register(service: s, method: "WaitProcess") { [unowned self] (request: Guestkit_V1_WaitProcessRequest, info, connection) in
            let process = try supervisor.lookup(request.id, container: request.containerID)
            return supervisor.wait(process, info: info, connectionID: connection.id)
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
            guard request.containerID.isEmpty else { throw AgentError.noSuchContainer(request.containerID) }
            var response = Guestkit_V1_ListProcessesResponse()
            response.processes = supervisor.all.map(\.entry)
            return response
        }
        methods.register(service: s, method: "Shutdown") { [unowned self] (request: Guestkit_V1_ShutdownRequest, _, _) in
            guard let initChannel else {
                throw AgentError.failedPrecondition("not started by guest-init (GUESTKIT_INIT_FD unset): power the VM off from the host")
            }
            try initChannel.requestShutdown(reboot: request.reboot)
            return Guestkit_V1_ShutdownResponse()
        }
        NetworkMethods.register(in: &methods, service: s)
        return methods
    }
}
