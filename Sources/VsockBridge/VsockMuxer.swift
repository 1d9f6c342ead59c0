// Routing between the guest's vsock and the host's Unix sockets, Firecracker-style (its
// devices/virtio/vsock/unix/muxer.rs plays the same part):
// - host → guest: clients connect to the `--uds` socket and write `CONNECT <port>\n`; the muxer gives the
//   connection a fresh host port and sends REQUEST to the guest;
// - guest → host: a REQUEST to CID 2 port P is accepted if a host program listens on `<uds>_P`, else RST;
// - packets for connections that do not exist get RST (except RST itself, which would loop).
// It owns every connection and host descriptor; the device feeds it tx packets and asks it for rx ones.
//
// Fairness: connections with something for the guest wait in a round-robin queue; a turn is a burst of
// up to `burstPackets` packets (64 KiB of Linux's 4 KiB rx buffers), not one packet, because every switch
// to another connection costs the guest a reader wake-up, which under TCG costs more than the data.
// Packets not tied to a live connection (RST replies to strays) come from a bounded FIFO and take turns
// with the connections, a burst each, so a guest flooding unknown ports slows only itself.
//
// The guest is not trusted: connections are capped (`maximumConnections`, host- and guest-initiated
// together), the stray FIFO is bounded (excess RSTs are dropped: the guest learns nothing it could not
// learn by timing out), log lines a guest can cause are rate-limited, and running out of descriptors
// pauses the host listener instead of spinning on it.
import GuestSys

/// Connections between guest vsock ports and host Unix sockets, and the host listener.
public final class VsockMuxer {
    /// A connection's name on the wire: host port and guest port (the guest CID is fixed).
    struct Key: Hashable {
        let localPort: UInt32
        let peerPort: UInt32
    }

    /// Tunables, with the defaults the CLI uses.
    public struct Settings: Sendable {
        /// buf_alloc we announce per connection: guest data buffered for a slow host reader, at most.
        public var bufferSize: UInt32 = 256 * 1024
        public var timeouts = VsockConnection.Timeouts()
        /// How long a host client may take to send its CONNECT line.
        public var handshakeTimeoutNanoseconds: UInt64 = 10_000_000_000
        /// Connections (both directions, host clients still in their handshake included) served at once;
        /// more are refused: a host client is closed unanswered, a guest REQUEST gets RST.
        public var maximumConnections = 1024
        /// RST replies to stray guest packets waiting for rx buffers, at most.
        public var maximumStrayReplies = 256
        /// Log lines a guest's packets may cause per second; the rest are counted in one summary line.
        public var guestLogLinesPerSecond = 20
        public init() {}
    }

    public let guestCID: UInt64
    public let udsPath: String
    private let settings: Settings
    private let loop: EventLoop
    private let log: BridgeLog
    private let clock: () -> UInt64

    private var connections: [Key: VsockConnection] = [:]
    /// Every connection with a host socket, including ones whose guest side has ended but which still
    /// write buffered bytes to the host.
    private var byDescriptor: [Int32: VsockConnection] = [:]
    private var handshakes: [Int32: PendingHybridClient] = [:]
    /// Connections that may have a packet for the guest, in turn order; `queued` mirrors it as a set.
    private var rxTurns: [Key] = []
    private var rxTurnsHead = 0
    private var queued: Set<Key> = []
    /// Header-only packets not tied to a connection (RST for strays), a bounded FIFO read from `strayHead`.
    private var strayReplies: [VsockHeader] = []
    private var strayHead = 0
    /// Stray replies the current stray turn may still send before a connection gets its turn.
    private var strayTurnLeft = VsockMuxer.burstPackets
    private var guestLogBudget: LogBudget
    /// The connection whose turn it is, and how many more packets its turn allows.
    private var burstKey: Key?
    private var burstLeft = 0
    static let burstPackets = 16
    private var nextLocalPort: UInt32 = VsockMuxer.firstLocalPort
    /// Whether the guest's queues are running; without them CONNECT requests are refused at once.
    public var deviceRunning = false

    /// Host ports for host-initiated connections start here, far above the ports guests listen on.
    static let firstLocalPort: UInt32 = 1 << 30

    /// Counters for the log and tests.
    public private(set) var connectionsOpened = 0
    public private(set) var connectionsRefused = 0
    /// Stray RST replies dropped because the FIFO was full.
    public private(set) var strayRepliesDropped = 0

    public init(guestCID: UInt64, udsPath: String, settings: Settings = Settings(), loop: EventLoop, log: BridgeLog,
                clock: @escaping () -> UInt64 = { Clock.monotonicNanoseconds }) {
        self.guestCID = guestCID
        self.udsPath = udsPath
        self.settings = settings
        self.loop = loop
        self.log = log
        self.clock = clock
        guestLogBudget = LogBudget(perSecond: settings.guestLogLinesPerSecond)
    }

    public var connectionCount: Int { connections.count }

    /// Connections holding a host descriptor or a slot: what `maximumConnections` bounds.
    private var connectionsInUse: Int { max(connections.count, byDescriptor.count) + handshakes.count }

    /// Logs a line the guest's behaviour caused, within `guestLogLinesPerSecond`.
    private func guestLog(_ level: BridgeLog.Level, _ message: @autoclosure () -> String) {
        guard level <= log.level else { return }
        let (allowed, suppressed) = guestLogBudget.spend(now: clock())
        reportSuppressed(suppressed)
        if allowed { log.log(level, message()) }
    }

    private func reportSuppressed(_ count: Int) {
        if count > 0 { log.warning("\(count) more log lines about guest packets were suppressed in the last second") }
    }

    // MARK: Host side

    /// Accepts every pending client on the `--uds` listener.
    public func acceptHostClients(from listener: FileDescriptor) {
        while true {
            let client: FileDescriptor?
            do throws(SysError) { client = try Sockets.accept(listener) } catch {
                log.error("accepting on \(udsPath): \(error)")
                loop.pauseAfterAcceptFailure(listener, error)
                return
            }
            guard let fd = client else { return }
            guard connectionsInUse < settings.maximumConnections else {
                guestLog(.warning, "host client refused: \(settings.maximumConnections) connections are open (the limit)")
                fd.closeQuietly()
                connectionsRefused += 1
                continue
            }
            let handshake = PendingHybridClient(fd: fd, deadline: clock() + settings.handshakeTimeoutNanoseconds)
            do throws(SysError) {
                try loop.add(fd, .readable) { [unowned self] _ in self.handshakeReadable(fd) }
            } catch {
                log.error("watching a host client: \(error)")
                fd.closeQuietly()
                continue
            }
            handshakes[fd.rawValue] = handshake
        }
    }

    private func handshakeReadable(_ fd: FileDescriptor) {
        guard let handshake = handshakes[fd.rawValue] else { return }
        switch handshake.readLine() {
        case .waiting:
            return
        case .failed(let reason):
            log.info("host client dropped: \(reason)")
            dropHandshake(fd)
        case .complete(.failure(let error)):
            log.warning("host client dropped: \(error)")
            dropHandshake(fd)
        case .complete(.success(.connect(let port))):
            handshakes[fd.rawValue] = nil
            guard deviceRunning else {
                log.info("CONNECT \(port) refused: the guest's vsock device is not running (guest not booted yet?)")
                loop.remove(fd)
                fd.closeQuietly()
                connectionsRefused += 1
                return
            }
            let localPort = allocateLocalPort(peerPort: port)
            let stream = UnixHostStream(fd: fd)
            let connection = VsockConnection(
                hostInitiatedTo: port, localPort: localPort, guestCID: guestCID, stream: stream,
                bufAlloc: settings.bufferSize, timeouts: settings.timeouts, now: clock())
            do throws(SysError) {
                try loop.modify(fd, [.readable, .writable, .peerClosed, .edgeTriggered])
            } catch {
                log.error("watching host client for CONNECT \(port): \(error)")
                loop.remove(fd)
                fd.closeQuietly()
                return
            }
            loop.replaceHandler(fd) { [unowned self] events in self.hostEvent(fd, events) }
            register(connection, fd: fd)
            log.debug("CONNECT \(port): REQUEST from host port \(localPort)")
        }
    }

    private func dropHandshake(_ fd: FileDescriptor) {
        handshakes[fd.rawValue] = nil
        loop.remove(fd)
        fd.closeQuietly()
    }

    private func allocateLocalPort(peerPort: UInt32) -> UInt32 {
        while true {
            let candidate = nextLocalPort
            nextLocalPort = nextLocalPort == UInt32.max ? Self.firstLocalPort : nextLocalPort + 1
            if connections[Key(localPort: candidate, peerPort: peerPort)] == nil { return candidate }
        }
    }

    private func register(_ connection: VsockConnection, fd: FileDescriptor) {
        let key = Key(localPort: connection.localPort, peerPort: connection.peerPort)
        connections[key] = connection
        byDescriptor[fd.rawValue] = connection
        connectionsOpened += 1
        review(connection)
    }

    private func hostEvent(_ fd: FileDescriptor, _ events: PollEvents) {
        guard let connection = byDescriptor[fd.rawValue] else { return }
        connection.hostEvent(events)
        review(connection)
    }

    // MARK: Guest side

    /// Handles one packet from the guest's tx queue.
    public func handleGuestPacket(_ header: VsockHeader, payload: [UnsafeRawBufferPointer]) {
        guard header.srcCID == guestCID else {
            guestLog(.warning, "dropping packet from CID \(header.srcCID), the guest is CID \(self.guestCID): \(header)")
            return
        }
        guard header.dstCID == VsockHeader.hostCID else {
            guestLog(.info, "guest addressed CID \(header.dstCID), only the host (2) is reachable: \(header)")
            replyReset(to: header)
            return
        }
        let key = Key(localPort: header.dstPort, peerPort: header.srcPort)
        if let connection = connections[key] {
            guard header.type == VsockHeader.streamType else {
                connection.abort("guest sent a packet of type \(header.type) on a stream connection")
                return review(connection)
            }
            connection.receive(header, payload: payload)
            review(connection)
            return
        }
        guard header.type == VsockHeader.streamType else {
            guestLog(.info, "guest used socket type \(header.type); only streams are offered: \(header)")
            return replyReset(to: header)
        }
        switch header.op {
        case .request:
            openGuestConnection(header)
        case .rst:
            break
        case .some:
            log.debug("packet for no connection, answering RST: \(header)")
            replyReset(to: header)
        case .none:
            guestLog(.warning, "guest sent unknown op \(header.rawOp): \(header)")
            replyReset(to: header)
        }
    }

    /// A packet from the guest that cannot be taken as it is: its connection (if any) is reset, or the
    /// guest gets RST for it; nothing else is affected.
    public func rejectMalformed(_ header: VsockHeader, reason: String) {
        guestLog(.warning, "guest packet \(header): \(reason)")
        if header.srcCID == guestCID, let connection = connections[Key(localPort: header.dstPort, peerPort: header.srcPort)] {
            connection.abort(reason)
            review(connection)
        } else {
            replyReset(to: header)
        }
    }

    private func openGuestConnection(_ header: VsockHeader) {
        guard connectionsInUse < settings.maximumConnections else {
            guestLog(.warning, "guest port \(header.srcPort) → host port \(header.dstPort) refused: "
                + "\(settings.maximumConnections) connections are open (the limit)")
            connectionsRefused += 1
            return replyReset(to: header)
        }
        let path = "\(udsPath)_\(header.dstPort)"
        let fd: FileDescriptor
        do throws(SysError) {
            fd = try Sockets.connectNonBlocking(unixPath: path)
        } catch {
            guestLog(.info, "guest port \(header.srcPort) → host port \(header.dstPort) refused: \(path): \(error.name)")
            connectionsRefused += 1
            return replyReset(to: header)
        }
        let connection = VsockConnection(guestRequest: header, stream: UnixHostStream(fd: fd),
                                         bufAlloc: settings.bufferSize, timeouts: settings.timeouts)
        do throws(SysError) {
            try loop.add(fd, [.readable, .writable, .peerClosed, .edgeTriggered]) { [unowned self] events in
                self.hostEvent(fd, events)
            }
        } catch {
            log.error("watching \(path): \(error)")
            fd.closeQuietly()
            return replyReset(to: header)
        }
        log.debug("guest port \(header.srcPort) connected to \(path)")
        register(connection, fd: fd)
    }

    private func replyReset(to header: VsockHeader) {
        // Only the guest's own packets get an answer, and never one that would come "from" the guest itself.
        guard header.op != .rst, header.srcCID == guestCID, header.dstCID != guestCID else { return }
        guard strayReplies.count - strayHead < settings.maximumStrayReplies else {
            strayRepliesDropped += 1
            return
        }
        // From the address the guest used (CID 2, or another it tried): the guest matches a reset to its
        // socket by that address, so its connect to a CID nobody serves fails at once instead of timing out.
        strayReplies.append(VsockHeader(srcCID: header.dstCID, dstCID: header.srcCID, srcPort: header.dstPort,
                                        dstPort: header.srcPort, type: header.type, op: .rst))
    }

    private var hasStrayReplies: Bool { strayHead < strayReplies.count }

    private func takeStrayReply() -> VsockHeader {
        let header = strayReplies[strayHead]
        strayHead += 1
        if strayHead == strayReplies.count {
            strayReplies.removeAll(keepingCapacity: true)
            strayHead = 0
        } else if strayHead > 64 && strayHead * 2 > strayReplies.count {
            strayReplies.removeFirst(strayHead)
            strayHead = 0
        }
        return header
    }

    // MARK: Packets for the guest

    /// Whether a packet for the guest is ready; drops stale turns so the answer is exact.
    public var hasPendingRx: Bool { hasStrayReplies || connectionHasPendingRx }

    /// Whether a connection (not a stray reply) has a packet for the guest.
    private var connectionHasPendingRx: Bool {
        if let current = burstKey, burstLeft > 0, connections[current]?.hasPendingRx == true { return true }
        while rxTurnsHead < rxTurns.count {
            let key = rxTurns[rxTurnsHead]
            if let connection = connections[key], connection.hasPendingRx { return true }
            rxTurnsHead += 1
            queued.remove(key)
        }
        compactTurns()
        return false
    }

    /// Fills one rx buffer with the next packet; returns the bytes written, nil when nothing was ready.
    public func emit(into chain: DescriptorChain) -> Int? {
        guard chain.writableLength >= VsockHeader.size else { return nil }
        // Stray replies get a burst, then a connection does, in turn; either side alone gets every buffer.
        if hasStrayReplies && (strayTurnLeft > 0 || !connectionHasPendingRx) {
            strayTurnLeft -= 1
            let header = takeStrayReply()
            _ = header.withEncoded { chain.write($0, at: 0) }
            return VsockHeader.size
        }
        let key: Key
        if let current = burstKey, burstLeft > 0, connections[current]?.hasPendingRx == true {
            key = current
            burstLeft -= 1
        } else {
            guard connectionHasPendingRx else { return nil }
            strayTurnLeft = Self.burstPackets
            key = rxTurns[rxTurnsHead]
            rxTurnsHead += 1
            queued.remove(key)
            compactTurns()
            burstKey = key
            burstLeft = Self.burstPackets - 1
        }
        guard let connection = connections[key] else { return nil }
        let used = connection.emit(into: chain, now: clock())
        review(connection)
        return used
    }

    private func compactTurns() {
        if rxTurnsHead > 64 && rxTurnsHead * 2 > rxTurns.count {
            rxTurns.removeFirst(rxTurnsHead)
            rxTurnsHead = 0
        }
    }

    /// After anything happened to a connection: queue its turn, retire it once the guest side has ended,
    /// close its socket once nothing more goes to the host.
    private func review(_ connection: VsockConnection) {
        let key = Key(localPort: connection.localPort, peerPort: connection.peerPort)
        if connection.state == .closed {
            if connections[key] === connection {
                connections[key] = nil
                log.debug("connection host port \(key.localPort) ↔ guest port \(key.peerPort) ended: \(connection.endReason ?? "closed")")
            }
            if connection.isFinished { closeHostSide(connection) }
            return
        }
        if connection.hasPendingRx && !queued.contains(key) {
            queued.insert(key)
            rxTurns.append(key)
        }
    }

    private func closeHostSide(_ connection: VsockConnection) {
        if let fd = connection.stream.descriptor {
            byDescriptor[fd.rawValue] = nil
            loop.remove(fd)
        }
        connection.closeHost()
    }

    // MARK: Time and teardown

    /// The earliest deadline of any connection, handshake or suppressed-log report (monotonic nanoseconds).
    public var nextDeadline: UInt64? {
        var earliest = [handshakes.values.map(\.deadline).min(), guestLogBudget.reportDeadline].compactMap { $0 }.min()
        for connection in byDescriptor.values {
            if let deadline = connection.deadline { earliest = min(earliest ?? deadline, deadline) }
        }
        return earliest
    }

    /// Applies deadlines that have passed.
    public func expireDeadlines() {
        let now = clock()
        reportSuppressed(guestLogBudget.takeReport(now: now))
        for (raw, handshake) in handshakes where handshake.deadline <= now {
            guestLog(.info, "host client dropped: no CONNECT line within \(settings.handshakeTimeoutNanoseconds / 1_000_000_000) s")
            dropHandshake(FileDescriptor(rawValue: raw))
        }
        for connection in Array(byDescriptor.values) {
            guard let deadline = connection.deadline, deadline <= now else { continue }
            connection.expire(now: now)
            guestLog(.info, "connection host port \(connection.localPort) ↔ guest port \(connection.peerPort): \(connection.endReason ?? "timed out")")
            review(connection)
        }
    }

    /// The device stopped or QEMU went away: every guest connection is gone, so every host socket is
    /// closed (its client reads end of file) and half-open handshakes are dropped.
    public func closeAll(reason: String) {
        let count = byDescriptor.count + handshakes.count
        for connection in Array(byDescriptor.values) { closeHostSide(connection) }
        for raw in Array(handshakes.keys) { dropHandshake(FileDescriptor(rawValue: raw)) }
        connections.removeAll()
        byDescriptor.removeAll()
        rxTurns.removeAll()
        rxTurnsHead = 0
        queued.removeAll()
        strayReplies.removeAll()
        strayHead = 0
        burstKey = nil
        if count > 0 { log.info("closed \(count) host connection(s): \(reason)") }
    }
}
