import GuestProto
import GuestSys
import TTRPC

/// One host connection speaking ttRPC: reads frames, hands them to the server's method table, queues the
/// responses. A broken frame (over the 4 MiB limit, unknown type) ends this connection only: the agent
/// logs why, answers RESOURCE_EXHAUSTED for an over-limit frame's stream when it can, and closes it.
/// After a successful AttachStdio the socket leaves this class for a pump (`StdioRouter.attach`).
///
/// Reply budget: one read can hold thousands of small requests with large answers (ListProcesses), so
/// requests are taken from the decoder only while the unsent output is under `outputHighWater`; the rest
/// wait, unread, until the host has read its answers down to `outputLowWater`. A connection the server
/// refuses (too many open) answers every request with RESOURCE_EXHAUSTED and closes.
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
    /// Why the server will not serve this connection; every request is answered with it.
    var refusal: String?
    /// Lines about this connection, within a budget: a peer cannot flood the log.
    private let logger: BudgetedLog

    /// Stop taking requests while this many response bytes wait for a slow reader…
    static let outputHighWater = 4 << 20
    /// …and take them again once the host has read down to this.
    static let outputLowWater = 1 << 20

    init(id: Int, fd: FileDescriptor, server: ConnectionServer) {
        self.id = id
        self.fd = fd
        self.server = server
        logger = BudgetedLog(perSecond: 10, loop: server.loop, prefix: "connection \(id): ")
    }

    func start() throws(SysError) {
        try server.loop.watch(fd, .readable, self)
    }

    func ready(_ fd: FileDescriptor, _ events: PollEvents) {
        if events.contains(.writable) || events.contains(.error) {
            flush()
            // Answers went out: requests held back by the reply budget may go on.
            if !closed && unsentCount < Self.outputLowWater && decoder.bufferedCount > 0 { handleFrames() }
        }
        if !closed && (events.contains(.readable) || events.contains(.hangup)) { readRequests() }
        // A hang-up with nothing to read or write (epoll reports it whatever was asked for): the peer is
        // gone both ways, and the level-triggered report would repeat forever.
        if !closed && events.contains(.hangup) && !events.contains(.readable) && !events.contains(.writable) {
            close(reason: "the peer hung up", quietly: true)
        }
    }

    private var unsentCount: Int { output.count - outputOffset }

    private func readRequests() {
        // A few reads per turn, then let other descriptors have theirs.
        for _ in 0..<4 {
            guard !closed, !inputEnded, pendingAttach == nil, unsentCount < Self.outputHighWater else { return }
            switch fd.readNonBlocking(into: server.scratch.bytes) {
            case .bytes(let n):
                decoder.append(UnsafeRawBufferPointer(rebasing: server.scratch.bytes[0..<n]))
                handleFrames()
            case .wouldBlock:
                return
            case .endOfFile:
                inputEnded = true
                if decoder.bufferedCount > 0 {
                    log("peer closed mid-frame (\(decoder.bufferedCount) bytes unparsed)")
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
            // Over budget: the remaining requests wait in the decoder until the host reads its answers.
            if unsentCount >= Self.outputHighWater { break }
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
            if let refusal {
                if frame.type == .request {
                    send(MethodTable<ClientConnection>.encodeReply(streamID: frame.streamID, .failure(RPCError(.resourceExhausted, refusal))))
                }
                inputEnded = true
                closeIfIdle()
                break
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
                log("ignored: \(reason)")
            case .close(let reason):
                close(reason: reason)
                return
            }
            if let attach = pendingAttach {
                pendingAttach = nil
                // Sending the OK may have failed and closed the connection: then there is no stream to attach.
                guard !closed else { return }
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

    /// A refused connection's grace is over. A request already waiting is still answered (closing over
    /// unread bytes would reset the peer before it reads the refusal); then the connection goes once its
    /// answers are out.
    func endRefusal() {
        readRequests()
        guard !closed else { return }
        inputEnded = true
        closeIfIdle()
        updateInterest()
    }

    private func closeIfIdle() {
        if inputEnded && streams.count == 0 && !hasPendingOutput { close(reason: nil) }
    }

    private func updateInterest() {
        guard !closed else { return }
        var events: PollEvents = []
        if !inputEnded && unsentCount < Self.outputHighWater { events.insert(.readable) }
        if hasPendingOutput { events.insert(.writable) }
        do {
            try server.loop.setInterest(fd, events)
        } catch {
            close(reason: "epoll: \(error)")
        }
    }

    private func log(_ message: String) { logger.log(message) }

    /// Ends the connection; parked calls on it are dropped.
    func close(reason: String?, quietly: Bool = false) {
        guard !closed else { return }
        closed = true
        if let reason, !quietly { log("closing: \(reason)") }
        // The connection is gone before its second ends: its count is reported now, not never.
        logger.flush()
        server.loop.unwatch(fd)
        Sockets.end(fd)
        server.forget(self)
    }
}
