import GuestSys
import TTRPC

/// The listening socket and the host connections it accepted: accepts, keeps the connections by id,
/// delivers answers to parked calls, and hands a connection that became a stdio stream to the router.
/// What a request means is not its business: frames go to the method table the service registered.
final class ConnectionServer: PollTarget, CallAnswering {
    let address: SocketAddress
    let loop: EventLoop
    let scratch: ScratchBuffer
    var methods: MethodTable<ClientConnection>
    /// Called when a connection closes or becomes a stdio stream, so parked calls on it can go.
    var connectionGone: (ClientConnection) -> Void = { _ in }
    /// Called once an AttachStdio response is queued: the connection's socket now belongs to a stream.
    var attachStream: (ClientConnection, PendingAttach, _ leftover: [UInt8]) -> Void = { connection, _, _ in
        connection.close(reason: "no stdio router")
    }
    private let listener: FileDescriptor
    private var connections: [Int: ClientConnection] = [:]
    private var nextConnectionID = 1
    private var acceptPaused = false

    init(address: SocketAddress, loop: EventLoop, scratch: ScratchBuffer,
         methods: MethodTable<ClientConnection>) throws(SysError) {
        self.address = address
        self.loop = loop
        self.scratch = scratch
        self.methods = methods
        listener = try Sockets.listen(address, backlog: 1024)
        try loop.watch(listener, .readable, self)
    }

    var connectionCount: Int { connections.count }

    func ready(_ fd: FileDescriptor, _ events: PollEvents) {
        acceptConnections()
    }

    private func acceptConnections() {
        while !acceptPaused {
            let accepted: FileDescriptor?
            do {
                accepted = try Sockets.accept(listener)
            } catch {
                // Out of descriptors or memory: leave the backlog alone for a moment instead of spinning.
                AgentLog.error("accept on \(address): \(error); pausing accepts for 100 ms")
                pauseAccepting()
                return
            }
            guard let fd = accepted else { return }
            let connection = ClientConnection(id: nextConnectionID, fd: fd, server: self)
            nextConnectionID += 1
            connections[connection.id] = connection
            do {
                try connection.start()
            } catch {
                connection.close(reason: "epoll: \(error)")
            }
        }
    }

    private func pauseAccepting() {
        acceptPaused = true
        try? loop.setInterest(listener, [])
        loop.addTimer(after: 100_000_000) { [unowned self] in
            acceptPaused = false
            try? loop.setInterest(listener, .readable)
        }
    }

    /// A connection closed or became a stdio stream.
    func forget(_ connection: ClientConnection) {
        connections[connection.id] = nil
        connectionGone(connection)
    }

    func answer(_ call: ParkedCall, _ result: Result<[UInt8], RPCError>) {
        guard let connection = connections[call.connectionID] else { return }
        connection.send(MethodTable<ClientConnection>.encodeReply(streamID: call.streamID, result))
        connection.finishStream(call.streamID)
    }

    /// Stops listening; a Unix socket file is removed.
    func stop() {
        loop.unwatch(listener)
        listener.closeQuietly()
        if case .unix(let path) = address { try? FileSystem.unlink(path) }
    }
}
