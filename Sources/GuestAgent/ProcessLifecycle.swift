import GuestProto
import GuestSys
import TTRPC

/// A process's life in the agent, in order: start (descriptors, spawn), attach (a connection becomes a
/// stream), exit (reap, drain), completion (answer the waiters, forget it).
extension Agent {
    /// Pipe and socket buffer size of an attached output stream.
    static let attachedPipeSize: Int32 = 1 << 20

    // MARK: Start

    func startProcess(_ request: Guestkit_V1_StartProcessRequest) throws(AgentError) -> Guestkit_V1_StartProcessResponse {
        // PATH, user and limits are checked before anything is opened: a missing binary is NOT_FOUND at once.
        let plan = try LaunchPlan(request, accounts: { AccountDatabase.load() },
                                  resolveProgram: { Spawner.resolve($0, path: $1) }, fileExists: FileSystem.exists)
        let id: String
        if request.id.isEmpty {
            id = processes.newID()
        } else {
            guard processes[request.id] == nil else { throw .alreadyExists("a process with id \"\(request.id)\" exists") }
            guard request.id.utf8.count <= 256 else { throw .invalidRequest("process id is longer than 256 bytes") }
            id = request.id
        }

        // Descriptors the child gets (closed here after the spawn) and the agent's ends (closed on failure).
        var childEnds: [FileDescriptor] = []
        var agentEnds: [FileDescriptor] = []
        func cleanUp() {
            for fd in childEnds { fd.closeQuietly() }
            for fd in agentEnds { fd.closeQuietly() }
        }
        var map: [Int32: FileDescriptor] = [:]
        var stdin = InputEnd.none
        var stdout = OutputEnd.none
        var stderr = OutputEnd.none
        var terminal: FileDescriptor?
        var discardTerminalOutput = false
        do throws(SysError) {
            if plan.terminal {
                let pty = try PseudoTerminal(size: plan.terminalSize)
                childEnds.append(pty.terminal)
                agentEnds.append(pty.controller)
                try pty.controller.setNonBlocking()
                terminal = pty.controller
                map = [0: pty.terminal, 1: pty.terminal, 2: pty.terminal]
                if plan.stdin {
                    let input = try pty.controller.duplicate()
                    agentEnds.append(input)
                    stdin = .waiting(input)
                }
                let output = try pty.controller.duplicate()
                agentEnds.append(output)
                stdout = .waiting(output)
                // Nobody will read a terminal the host did not ask the output of; drain it so the process
                // cannot block on it.
                discardTerminalOutput = !plan.stdout
            } else {
                map[0] = devNull
                map[1] = devNull
                map[2] = devNull
                if plan.stdin {
                    let pipe = try Pipe()
                    childEnds.append(pipe.readEnd)
                    agentEnds.append(pipe.writeEnd)
                    try pipe.writeEnd.setNonBlocking()
                    map[0] = pipe.readEnd
                    stdin = .waiting(pipe.writeEnd)
                }
                for (number, wanted) in [(Int32(1), plan.stdout), (2, plan.stderr)] where wanted {
                    let pipe = try Pipe()
                    childEnds.append(pipe.writeEnd)
                    agentEnds.append(pipe.readEnd)
                    try pipe.readEnd.setNonBlocking()
                    map[number] = pipe.writeEnd
                    if number == 1 { stdout = .waiting(pipe.readEnd) } else { stderr = .waiting(pipe.readEnd) }
                }
            }
        } catch {
            cleanUp()
            throw .system(error)
        }

        var spawn = SpawnRequest(path: plan.program, arguments: plan.arguments, environment: plan.environment,
                                 workingDirectory: plan.workingDirectory, descriptors: map)
        // Its own session: its group id is its pid (SignalProcess with process_group), and a terminal can
        // become its controlling terminal.
        spawn.newSession = true
        spawn.controllingTerminal = plan.terminal
        spawn.identity = plan.identity
        spawn.limits = plan.limits
        let pid: Int32
        do throws(SpawnError) {
            pid = try Spawner.spawn(spawn)
        } catch {
            cleanUp()
            throw .spawn(error, workingDirectory: plan.workingDirectory)
        }
        for fd in childEnds { fd.closeQuietly() }

        let process = ManagedProcess(id: id, pid: pid, arguments: plan.arguments, terminal: terminal,
                                     stdin: stdin, stdout: stdout, stderr: stderr)
        process.declared = (plan.stdin, plan.stdout, plan.stderr)
        processes.insert(process)
        if discardTerminalOutput, case .waiting(let output) = stdout {
            let pump = OutputPump(label: "\(id) terminal (discarded)", source: output, sink: nil, initialBytes: [],
                                  processExited: false, loop: loop, scratch: scratch) { [unowned self, unowned process] in
                completeIfReady(process)
            }
            process.stdout = .attached(pump)
            pump.start()
        }
        var response = Guestkit_V1_StartProcessResponse()
        response.id = id
        response.pid = pid
        return response
    }

    // MARK: Attach

    /// Checks an AttachStdio request; the connection switches to raw bytes after its OK goes out (`attach`).
    func prepareAttach(_ request: Guestkit_V1_AttachStdioRequest,
                       on connection: ClientConnection) throws(AgentError) -> Guestkit_V1_AttachStdioResponse {
        let process = try lookup(request.id, container: request.containerID)
        guard connection.streams.count == 0 else {
            throw .failedPrecondition("this connection has \(connection.streams.count) open calls; attach stdio on a fresh connection")
        }
        let name: String
        let declared: Bool
        let end: OutputEnd?
        switch request.stream {
        case .stdin: (name, declared, end) = ("stdin", process.declared.stdin, nil)
        case .stdout: (name, declared, end) = ("stdout", process.declared.stdout, process.stdout)
        case .stderr:
            if process.terminal != nil {
                throw .failedPrecondition("process \(process.id) runs on a terminal: its stderr is part of stdout")
            }
            (name, declared, end) = ("stderr", process.declared.stderr, process.stderr)
        default:
            throw .invalidRequest("stream must be STDIO_STREAM_STDIN, _STDOUT or _STDERR, not \(request.stream)")
        }
        guard declared else {
            throw .failedPrecondition("process \(process.id) was started without \(name)=true; its \(name) is /dev/null")
        }
        if let end {
            guard case .waiting = end else { throw .alreadyExists("\(name) of process \(process.id) is already attached") }
        } else if case .attached = process.stdin {
            throw .alreadyExists("stdin of process \(process.id) is already attached")
        }
        connection.pendingAttach = (process, request.stream)
        return Guestkit_V1_AttachStdioResponse()
    }

    /// The AttachStdio response is queued: the socket now belongs to a pump. `leftover` is what the host sent
    /// after the request (stdin bytes already).
    func attach(_ connection: ClientConnection, process: ManagedProcess, stream: Guestkit_V1_StdioStream, leftover: [UInt8]) {
        let socket = connection.fd
        let unsent = connection.surrender()
        let label = "\(process.id) \(stream == .stdin ? "stdin" : stream == .stdout ? "stdout" : "stderr")"
        if stream == .stdin {
            // Nothing but the short response can be queued on a connection without open calls; a socket that
            // cannot take a few bytes at once is not worth a second buffer.
            if !unsent.isEmpty {
                let result = unsent.withUnsafeBytes { socket.writeNonBlocking($0) }
                if result != .bytes(unsent.count) {
                    AgentLog.error("\(label): could not send the AttachStdio response; closing the connection")
                    socket.closeQuietly()
                    return
                }
            }
            guard case .waiting(let sink) = process.stdin else {
                socket.closeQuietly()  // stdin already closed (CloseStdin or exit): EOF for the host
                return
            }
            let pump = InputPump(label: label, source: socket, sink: sink, terminal: process.terminal != nil,
                                 initialBytes: leftover, loop: loop, scratch: scratch)
            process.stdin = .attached(pump)
            pump.start()
            return
        }
        if !leftover.isEmpty {
            AgentLog.info("\(label): ignoring \(leftover.count) bytes the host sent on an output stream")
        }
        let end = stream == .stdout ? process.stdout : process.stderr
        guard case .waiting(let source) = end else {
            socket.closeQuietly()
            return
        }
        // Attached and drained from now on: a larger pipe and send buffer mean fewer wake-ups per megabyte
        // (the 64 KiB default stays the bound for output nobody reads yet). Best effort: a pty has no pipe
        // size and vsock sizes its buffers its own way.
        if process.terminal == nil { _ = try? source.setPipeSize(Self.attachedPipeSize) }
        try? Sockets.setBufferSizes(socket, send: Self.attachedPipeSize)
        let pump = OutputPump(label: label, source: source, sink: socket, initialBytes: unsent,
                              processExited: process.exit != nil, sourceIsPipe: process.terminal == nil,
                              loop: loop, scratch: scratch) { [unowned self, unowned process] in
            completeIfReady(process)
        }
        if stream == .stdout { process.stdout = .attached(pump) } else { process.stderr = .attached(pump) }
        pump.start()
    }

    // MARK: Exit

    /// Reaped: stdin closes; output pumps drain what is in the pipe and finish; then the waiters hear.
    func processExited(_ process: ManagedProcess, _ status: WaitStatus) {
        process.exit = status
        process.exitedAt = Clock.bootTimeNanoseconds
        processes.reaped(process)
        switch process.stdin {
        case .waiting(let fd): fd.closeQuietly()
        case .attached(let pump): pump.finish()
        case .none, .closed: break
        }
        process.stdin = .closed
        for end in [process.stdout, process.stderr] {
            if case .attached(let pump) = end { pump.processDidExit() }
        }
        completeIfReady(process)
    }

    /// Answers the waiters once the process is reaped and its output delivered, then forgets it.
    func completeIfReady(_ process: ManagedProcess) {
        guard process.isComplete, !process.waiters.isEmpty, processes[process.id] === process else { return }
        let payload: [UInt8]
        do {
            payload = try process.waitResponse.serializedBytes()
        } catch {
            payload = []
        }
        let waiters = process.waiters
        process.waiters = []
        for waiter in waiters {
            if let timer = waiter.timerID { loop.cancelTimer(timer) }
            connections[waiter.connectionID]?.waitingOn.remove(process.id)
            answer(connectionID: waiter.connectionID, streamID: waiter.streamID, .success(payload))
        }
        forget(process)
    }

    /// Drops a completed process and every descriptor still held for it.
    func forget(_ process: ManagedProcess) {
        process.closeAll()
        processes.remove(process)
    }
}
