import GuestSys
import TTRPC

/// The listening socket and the host connections it accepted: accepts, keeps the connections by id,
/// delivers answers to parked calls, and hands a connection that became a stdio stream to the router.
/// What a request means is not its business: frames go to the method table the service registered.
///
/// Who may connect: over vsock only the CIDs in `allowedCIDs` (the host, CID 2, by default; a peer
/// elsewhere in the guest is closed at once), and a Unix socket is created 0600. At most
/// `maximumConnections` ttRPC connections are served; a further one is accepted only to answer its
/// requests with RESOURCE_EXHAUSTED and is closed (after `refusalGraceNanoseconds` if it says nothing).
final class ConnectionServer: PollTarget, CallAnswering {
    static let refusalGraceNanoseconds: UInt64 = 10_000_000_000

    let address: SocketAddress
    let allowedCIDs: Set<UInt32>
    let maximumConnections: Int
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
    private var refused = 0
    /// Lines about refused connections, within a budget: a burst of refusals cannot flood the log.
    private let logger: BudgetedLog

    init(address: SocketAddress, allowedCIDs: Set<UInt32> = [SocketAddress.hostCID],
         maximumConnections: Int = AgentOptions.defaultMaximumConnections, loop: EventLoop, scratch: ScratchBuffer,
         methods: MethodTable<ClientConnection>) throws(SysError) {
        self.address = address
        self.allowedCIDs = allowedCIDs
        self.maximumConnections = maximumConnections
        self.loop = loop
        self.scratch = scratch
        self.methods = methods
        logger = BudgetedLog(perSecond: 10, loop: loop, noun: "connection lines")
        // The socket carries the power to run anything as root: only its owner may connect to it.
        listener = try Sockets.listen(address, backlog: 1024, unixMode: 0o600)
        try loop.watch(listener, .readable, self)
    }

    /// Connections being served (refused ones not counted).
    var connectionCount: Int { connections.count - refused }

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
            if case .vsock = address {
                let peer = try? Sockets.vsockPeer(fd)
                guard let peer, allowedCIDs.contains(peer.cid) else {
                    log("refused a vsock connection from CID \(peer.map { String($0.cid) } ?? "?"): only CID "
                        + allowedCIDs.sorted().map(String.init).joined(separator: ", ") + " may connect (--allow-cid)")
                    fd.closeQuietly()
                    continue
                }
            }
            let connection = ClientConnection(id: nextConnectionID, fd: fd, server: self)
            nextConnectionID += 1
            connections[connection.id] = connection
            if connectionCount > maximumConnections {
                refuse(connection)
            }
            do {
                try connection.start()
            } catch {
                connection.close(reason: "epoll: \(error)")
            }
        }
    }

    /// Over the limit: the connection answers whatever it is asked with RESOURCE_EXHAUSTED, then goes.
    private func refuse(_ connection: ClientConnection) {
        connection.refusal = "the agent serves at most \(maximumConnections) connections and all are in use; "
            + "close some (or start guest-agent with a higher --max-connections)"
        refused += 1
        log("connection \(connection.id) refused: \(maximumConnections) connections open (--max-connections)")
        loop.addTimer(after: Self.refusalGraceNanoseconds) { [weak connection] in
            connection?.endRefusal()
        }
    }

    private func log(_ message: String) { logger.log(message) }

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
        guard connections.removeValue(forKey: connection.id) != nil else { return }
        if connection.refusal != nil { refused -= 1 }
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
