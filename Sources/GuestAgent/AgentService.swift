import GuestProto
import GuestSys
import TTRPC

/// The guestkit.v1.Agent methods: each a few lines that look the process up and call the lifecycle code
/// (ProcessLifecycle.swift). Errors are thrown as `AgentError` and become status codes in one place.
extension Agent {
    func registerMethods() {
        let s = Self.service
        methods.register(service: s, method: "GetInfo") { [unowned self] (_: Guestkit_V1_GetInfoRequest, _, _) in
            GuestInfo.build(bootFile: options.bootFile, processCount: processes.count)
        }
        methods.register(service: s, method: "StartProcess") { [unowned self] (request: Guestkit_V1_StartProcessRequest, _, _) in
            try startProcess(request)
        }
        methods.register(service: s, method: "AttachStdio") { [unowned self] (request: Guestkit_V1_AttachStdioRequest, _, connection) in
            try prepareAttach(request, on: connection)
        }
        methods.register(service: s, method: "SignalProcess") { [unowned self] (request: Guestkit_V1_SignalProcessRequest, _, _) in
            try signalProcess(request)
        }
        methods.register(service: s, method: "WaitProcess") { [unowned self] (request: Guestkit_V1_WaitProcessRequest, info, connection) in
            try waitProcess(request, info: info, connection: connection)
        }
        methods.register(service: s, method: "ResizeTerminal") { [unowned self] (request: Guestkit_V1_ResizeTerminalRequest, _, _) in
            try resizeTerminal(request)
        }
        methods.register(service: s, method: "CloseStdin") { [unowned self] (request: Guestkit_V1_CloseStdinRequest, _, _) in
            try closeStdin(request)
        }
        methods.register(service: s, method: "ListProcesses") { [unowned self] (request: Guestkit_V1_ListProcessesRequest, _, _) in
            guard request.containerID.isEmpty else { throw AgentError.noSuchContainer(request.containerID) }
            var response = Guestkit_V1_ListProcessesResponse()
            response.processes = processes.all.map(\.entry)
            return response
        }
        methods.register(service: s, method: "Shutdown") { [unowned self] (request: Guestkit_V1_ShutdownRequest, _, _) in
            try shutdown(reboot: request.reboot)
        }
    }

    /// The process a request names; NOT_FOUND otherwise.
    func lookup(_ id: String, container: String) throws(AgentError) -> ManagedProcess {
        guard container.isEmpty else { throw .noSuchContainer(container) }
        guard let process = processes[id] else { throw .noSuchProcess(id) }
        return process
    }

    func signalProcess(_ request: Guestkit_V1_SignalProcessRequest) throws(AgentError) -> Guestkit_V1_SignalProcessResponse {
        let process = try lookup(request.id, container: request.containerID)
        guard (0...64).contains(request.signal) else {
            throw .invalidRequest("signal \(request.signal) is not a signal number (0-64)")
        }
        if request.processGroup {
            // The group outlives its leader while any member is left; its id is not reused meanwhile.
            do throws(SysError) {
                try Processes.signal(-process.pid, request.signal)
            } catch {
                if error.code == Errno.ESRCH {
                    throw .failedPrecondition("process group \(process.pid) of \(process.id) has no processes left")
                }
                throw .system(error)
            }
        } else {
            // After the reap the pid may belong to someone else: never signal it then.
            guard process.exit == nil else {
                throw .failedPrecondition("process \(process.id) (pid \(process.pid)) has already exited")
            }
            do throws(SysError) { try Processes.signal(process.pid, request.signal) } catch { throw .system(error) }
        }
        return Guestkit_V1_SignalProcessResponse()
    }

    func waitProcess(_ request: Guestkit_V1_WaitProcessRequest, info: CallInfo,
                     connection: ClientConnection) throws(AgentError) -> Guestkit_V1_WaitProcessResponse? {
        let process = try lookup(request.id, container: request.containerID)
        if process.isComplete {
            let response = process.waitResponse
            forget(process)
            return response
        }
        var waiter = Waiter(connectionID: connection.id, streamID: info.streamID, timerID: nil)
        if info.timeoutNanoseconds > 0 {
            let connectionID = connection.id, streamID = info.streamID, id = process.id
            waiter.timerID = loop.addTimer(after: UInt64(info.timeoutNanoseconds)) { [unowned self, unowned process] in
                process.waiters.removeAll { $0.connectionID == connectionID && $0.streamID == streamID }
                connections[connectionID]?.waitingOn.remove(id)
                answer(connectionID: connectionID, streamID: streamID, .failure(RPCError(
                    .deadlineExceeded, "process \(id) still running after the call's \(info.timeoutNanoseconds / 1_000_000) ms timeout")))
            }
        }
        process.waiters.append(waiter)
        connection.waitingOn.insert(process.id)
        return nil
    }

    func resizeTerminal(_ request: Guestkit_V1_ResizeTerminalRequest) throws(AgentError) -> Guestkit_V1_ResizeTerminalResponse {
        let process = try lookup(request.id, container: request.containerID)
        guard let terminal = process.terminal else {
            throw .failedPrecondition("process \(process.id) has no terminal (start it with terminal=true)")
        }
        guard process.exit == nil else { throw .failedPrecondition("process \(process.id) has already exited") }
        guard request.rows > 0, request.columns > 0, request.rows <= UInt16.max, request.columns <= UInt16.max else {
            throw .invalidRequest("terminal size \(request.rows)x\(request.columns) is not 1-65535 by 1-65535")
        }
        do throws(SysError) {
            try Terminals.setSize(terminal, WindowSize(rows: UInt16(request.rows), columns: UInt16(request.columns)))
        } catch {
            throw .system(error)
        }
        return Guestkit_V1_ResizeTerminalResponse()
    }

    func closeStdin(_ request: Guestkit_V1_CloseStdinRequest) throws(AgentError) -> Guestkit_V1_CloseStdinResponse {
        let process = try lookup(request.id, container: request.containerID)
        switch process.stdin {
        case .none:
            throw .failedPrecondition("process \(process.id) was started without stdin=true; its stdin is /dev/null")
        case .waiting(let fd):
            fd.closeQuietly()
        case .attached(let pump):
            pump.finish()
        case .closed:
            break
        }
        process.stdin = .closed
        return Guestkit_V1_CloseStdinResponse()
    }

    func shutdown(reboot: Bool) throws(AgentError) -> Guestkit_V1_ShutdownResponse {
        guard let initChannel else {
            throw .failedPrecondition("not started by guest-init (GUESTKIT_INIT_FD unset): power the VM off from the host")
        }
        do throws(SysError) {
            try initChannel.writeAll(reboot ? "REBOOT\n" : "POWEROFF\n")
        } catch {
            throw .unavailable("cannot reach guest-init on \(initChannel): \(error)")
        }
        AgentLog.info("asked guest-init to \(reboot ? "reboot" : "power off")")
        return Guestkit_V1_ShutdownResponse()
    }
}
