import GuestProto
import GuestSys

/// An AttachStdio request that was accepted: once its OK is queued, the connection becomes this stream.
struct PendingAttach {
    let process: ManagedProcess
    let stream: Guestkit_V1_StdioStream
}

/// Moves stdio between processes and host connections: turns a connection that sent AttachStdio into a
/// pump for one stream, drains a terminal nobody reads, ends stdin, resizes terminals, and tells the
/// supervisor when an output stream has delivered its last byte (the exit status waits for that).
final class StdioRouter {
    /// Pipe and socket buffer size of an attached output stream.
    static let attachedPipeSize: Int32 = 1 << 20

    let loop: EventLoop
    let scratch: ScratchBuffer
    /// An output stream of the process finished (delivered and closed).
    var streamFinished: (ManagedProcess) -> Void = { _ in }

    init(loop: EventLoop, scratch: ScratchBuffer) {
        self.loop = loop
        self.scratch = scratch
    }

    // MARK: Attach

    /// Checks an AttachStdio request; the connection switches to raw bytes after its OK goes out (`attach`).
    func prepareAttach(_ request: Guestkit_V1_AttachStdioRequest, process: ManagedProcess,
                       on connection: ClientConnection) throws(AgentError) -> Guestkit_V1_AttachStdioResponse {
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
        connection.pendingAttach = PendingAttach(process: process, stream: request.stream)
        return Guestkit_V1_AttachStdioResponse()
    }

    /// The AttachStdio response is queued: the socket now belongs to a pump. `leftover` is what the host sent
    /// after the request (stdin bytes already).
    func attach(_ connection: ClientConnection, _ pending: PendingAttach, leftover: [UInt8]) {
        // A connection already closed has no socket left to hand over (its number may be reused).
        guard !connection.closed else { return }
        let process = pending.process
        let stream = pending.stream
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
                    Sockets.end(socket)
                    return
                }
            }
            guard case .waiting(let sink) = process.stdin else {
                Sockets.end(socket)  // stdin already closed (CloseStdin or exit): EOF for the host
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
            Sockets.end(socket)
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
            streamFinished(process)
        }
        if stream == .stdout { process.stdout = .attached(pump) } else { process.stderr = .attached(pump) }
        pump.start()
    }

    /// A terminal whose output the host did not ask for: drained and dropped, so the process cannot block
    /// on it.
    func discardOutput(of process: ManagedProcess) {
        guard case .waiting(let output) = process.stdout else { return }
        let pump = OutputPump(label: "\(process.id) terminal (discarded)", source: output, sink: nil, initialBytes: [],
                              processExited: false, loop: loop, scratch: scratch) { [unowned self, unowned process] in
            streamFinished(process)
        }
        process.stdout = .attached(pump)
        pump.start()
    }

    // MARK: Exit, stdin, terminal

    /// Reaped: stdin closes and the output pumps drain what the process left, then finish.
    func processExited(_ process: ManagedProcess) {
        switch process.stdin {
        case .waiting(let fd): fd.closeQuietly()
        case .attached(let pump): pump.finish()
        case .none, .closed: break
        }
        process.stdin = .closed
        for end in [process.stdout, process.stderr] {
            if case .attached(let pump) = end { pump.processDidExit() }
        }
    }

    func closeStdin(of process: ManagedProcess) throws(AgentError) {
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
    }

    func resizeTerminal(of process: ManagedProcess, rows: UInt32, columns: UInt32) throws(AgentError) {
        guard let terminal = process.terminal else {
            throw .failedPrecondition("process \(process.id) has no terminal (start it with terminal=true)")
        }
        guard process.exit == nil else { throw .failedPrecondition("process \(process.id) has already exited") }
        guard rows > 0, columns > 0, rows <= UInt16.max, columns <= UInt16.max else {
            throw .invalidRequest("terminal size \(rows)x\(columns) is not 1-65535 by 1-65535")
        }
        do throws(SysError) {
            try Terminals.setSize(terminal, WindowSize(rows: UInt16(rows), columns: UInt16(columns)))
        } catch {
            throw .system(error)
        }
    }
}
