import GuestProto
import GuestSys
import TTRPC

/// One host connection speaking ttRPC: reads frames, hands them to the server's method table, queues the
/// responses. A broken frame (over the 4 MiB limit, unknown type) ends this connection only: the agent
/// logs why, answers RESOURCE_EXHAUSTED for an over-limit frame's stream when it can, and closes it.
/// After a successful AttachStdio the socket leaves this class for a pump (`StdioRouter.attach`).
final class ClientConnection: PollTarget {
    let id: Int
    let fd: FileDescriptor
    private unowned let server: ConnectionServer
    private var decoder = FrameDecoder()
    var streams = OpenStreams()
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var inputEnded = false
    private(set) var closed = false
    /// Set by the AttachStdio handler; acted on once its response is queued.
    var pendingAttach: PendingAttach?

    /// Stop reading requests while this many response bytes wait for a slow reader.
    private static let outputHighWater = 4 << 20

    init(id: Int, fd: FileDescriptor, server: ConnectionServer) {
        self.id = id
        self.fd = fd
        self.server = server
    }

    func start() throws(SysError) {
        try server.loop.watch(fd, .readable, self)
    }

    func ready(_ fd: FileDescriptor, _ events: PollEvents) {
        if events.contains(.writable) || events.contains(.error) { flush() }
        if !closed && (events.contains(.readable) || events.contains(.hangup)) { readRequests() }
    }

    private func readRequests() {
        // A few reads per turn, then let other descriptors have theirs.
        for _ in 0..<4 {
            guard !closed, !inputEnded, pendingAttach == nil else { return }
            switch fd.readNonBlocking(into: server.scratch.bytes) {
            case .bytes(let n):
                decoder.append(UnsafeRawBufferPointer(rebasing: server.scratch.bytes[0..<n]))
                handleFrames()
            case .wouldBlock:
                return
            case .endOfFile:
                inputEnded = true
                if decoder.bufferedCount > 0 {
                    AgentLog.info("connection \(id): peer closed mid-frame (\(decoder.bufferedCount) bytes unparsed)")
                }
                closeIfIdle()
                updateInterest()
                return
            case .failed(let error):
                close(reason: "read failed: \(error.name)", quietly: error.code == Errno.ECONNRESET)
                return
            }
        }
    }

    private func handleFrames() {
        while !closed {
            let frame: Frame
            do {
                guard let next = try decoder.next() else { break }
                frame = next
            } catch {
                if case .payloadTooLarge = error {
                    send(MethodTable<ClientConnection>.encodeReply(
                        streamID: error.streamID, .failure(RPCError(.resourceExhausted, error.description))))
                }
                close(reason: error.description)
                return
            }
            // Handlers may look at this connection (AttachStdio checks its open calls), so the table works
            // on a copy of the open streams rather than holding an exclusive access to the property.
            var open = streams
            let action = server.methods.handle(frame, streams: &open, context: self)
            streams = open
            switch action {
            case .respond(let bytes):
                send(bytes)
            case .deferred:
                break
            case .ignore(let reason):
                AgentLog.info("connection \(id): ignored: \(reason)")
            case .close(let reason):
                close(reason: reason)
                return
            }
            if let attach = pendingAttach {
                pendingAttach = nil
                server.attachStream(self, attach, decoder.takeRemainingBytes())
                return
            }
        }
        updateInterest()
    }

    /// Queues bytes for the host and writes what the socket takes now.
    func send(_ bytes: [UInt8]) {
        guard !closed else { return }
        if outputOffset >= output.count {
            output = bytes
            outputOffset = 0
        } else {
            output.append(contentsOf: bytes)
        }
        flush()
    }

    private func flush() {
        while !closed && outputOffset < output.count {
            let result = output.withUnsafeBytes { fd.writeNonBlocking(UnsafeRawBufferPointer(rebasing: $0[outputOffset...])) }
            switch result {
            case .bytes(let n): outputOffset += n
            case .endOfFile: break
            case .wouldBlock:
                updateInterest()
                return
            case .failed(let error):
                close(reason: "write failed: \(error.name)", quietly: error.code == Errno.EPIPE || error.code == Errno.ECONNRESET)
                return
            }
        }
        if outputOffset >= output.count {
            output = []
            outputOffset = 0
        }
        closeIfIdle()
        updateInterest()
    }

    /// A deferred call on this connection was answered (or given up).
    func finishStream(_ streamID: UInt32) {
        streams.finish(streamID)
        closeIfIdle()
    }

    var hasPendingOutput: Bool { outputOffset < output.count }

    /// Takes the queued output and the socket away from this connection (AttachStdio): the caller owns the fd.
    func surrender() -> [UInt8] {
        let rest = Array(output[min(outputOffset, output.count)...])
        output = []
        outputOffset = 0
        closed = true
        server.loop.unwatch(fd)
        server.forget(self)
        return rest
    }

    private func closeIfIdle() {
        if inputEnded && streams.count == 0 && !hasPendingOutput { close(reason: nil) }
    }

    private func updateInterest() {
        guard !closed else { return }
        var events: PollEvents = []
        if !inputEnded && output.count - outputOffset < Self.outputHighWater { events.insert(.readable) }
        if hasPendingOutput { events.insert(.writable) }
        do {
            try server.loop.setInterest(fd, events)
        } catch {
            close(reason: "epoll: \(error)")
        }
    }

    /// Ends the connection; parked calls on it are dropped.
    func close(reason: String?, quietly: Bool = false) {
        guard !closed else { return }
        closed = true
        if let reason, !quietly { AgentLog.info("connection \(id): closing: \(reason)") }
        server.loop.unwatch(fd)
        fd.closeQuietly()
        server.forget(self)
    }
}
