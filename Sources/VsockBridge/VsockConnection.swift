// One vsock stream connection between the guest and a host Unix socket, and the state machine that
// keeps both ends honest.
//
// Vsock primer (virtio spec 1.2, 5.10.6; Linux net/vmw_vsock/virtio_transport_common.c):
// - A connection is named by (guest CID, guest port, host port). Either side opens it with REQUEST;
//   the other answers RESPONSE (accepted) or RST (refused). RST also aborts an open connection.
// - Data travels in RW packets. Each side announces, in every packet header, its receive buffer for the
//   connection (buf_alloc) and how many bytes it has consumed from it so far (fwd_cnt). A sender may
//   have at most `peer buf_alloc - (bytes sent - peer fwd_cnt)` bytes in flight: that is its credit.
//   A receiver whose consumption opened room the sender cannot know about sends CREDIT_UPDATE; a sender
//   may ask with CREDIT_REQUEST.
// - SHUTDOWN carries what the sender will no longer do: receive (1), send (2). A side that has been told
//   both, and has nothing left to deliver, ends the connection with RST (this is what Linux expects: a
//   closing guest socket sends SHUTDOWN(both) and waits for the RST).
//
// The host side maps onto that as a socket would: data read from the host goes out in RW packets while
// the guest has credit; end of file from the host becomes SHUTDOWN(send); SHUTDOWN(send) from the guest
// becomes shutdown(SHUT_WR) on the host socket once buffered data is written; a full SHUTDOWN from the
// guest is answered with RST while the bytes already accepted are still written out ("draining").
import GuestSys

/// One guest↔host stream connection.
public final class VsockConnection {
    /// Where the connection is in its life.
    public enum State: Equatable, Sendable {
        /// Host-initiated: REQUEST queued or sent, waiting for RESPONSE or RST.
        case connecting
        /// Data may flow (within what each side has shut down).
        case established
        /// The guest side is finished (RST sent or received); buffered bytes may still be written to the host.
        case closed
    }

    /// Control packets waiting for a free rx buffer, in the order they are sent.
    struct PendingRx: Equatable {
        var rst = false
        var request = false
        var response = false
        var shutdown: VsockShutdown = []
        var creditUpdate = false
    }

    public let guestCID: UInt64
    /// The port on the host side (CID 2).
    public let localPort: UInt32
    /// The port on the guest side.
    public let peerPort: UInt32
    public let hostInitiated: Bool
    public private(set) var state: State
    public let stream: HostStream
    /// Why the connection ended, for the log.
    public private(set) var endReason: String?

    // Guest → host.
    /// Our receive buffer for this connection: how much the guest may have in flight.
    public let bufAlloc: UInt32
    /// Bytes received from the guest (RW payloads).
    public private(set) var rxCount: UInt32 = 0
    /// Bytes of those written to the host socket: the fwd_cnt we announce.
    public private(set) var forwardedCount: UInt32 = 0
    /// The fwd_cnt the guest last heard from us.
    public private(set) var advertisedForwardedCount: UInt32 = 0
    let toHost = ByteQueue()
    /// The `OK <port>\n` line owed to a host client before any data.
    private var handshakeReply: [UInt8] = []

    // Host → guest.
    /// Bytes sent to the guest in RW packets.
    public private(set) var txCount: UInt32 = 0
    public private(set) var peerBufAlloc: UInt32 = 0
    public private(set) var peerForwardedCount: UInt32 = 0
    let toGuest = ByteQueue()
    /// The most bytes read from the host ahead of the guest (bounded by credit as well).
    let readAhead: Int

    // Edge-triggered readiness of the host socket: cleared only when an operation returns EAGAIN.
    private var hostReadable = true
    private var hostWritable = true
    /// The host sent end of file (or vanished).
    private var hostEOF = false
    /// The host hung up completely (EPOLLHUP): it will read nothing either.
    private var hostHungUp = false
    private var hostWriteShut = false
    /// What the guest told us it will no longer do.
    public private(set) var guestShutdown: VsockShutdown = []
    /// What we told the guest we will no longer do.
    public private(set) var sentShutdown: VsockShutdown = []
    var pending = PendingRx()
    /// When to give up: on the guest's RESPONSE while connecting, on its RST after our full SHUTDOWN,
    /// on the host while draining (monotonic nanoseconds).
    public private(set) var deadline: UInt64?
    private let timeouts: Timeouts

    /// How long each wait may last.
    public struct Timeouts: Sendable {
        public var connect: UInt64
        public var shutdown: UInt64
        public init(connectNanoseconds: UInt64 = 10_000_000_000, shutdownNanoseconds: UInt64 = 10_000_000_000) {
            connect = connectNanoseconds
            shutdown = shutdownNanoseconds
        }
    }

    /// A connection the host asked for with `CONNECT <port>`: REQUEST goes to the guest first.
    public init(hostInitiatedTo peerPort: UInt32, localPort: UInt32, guestCID: UInt64, stream: HostStream,
                bufAlloc: UInt32, readAhead: Int = 65536, timeouts: Timeouts = Timeouts(), now: UInt64) {
        self.guestCID = guestCID
        self.localPort = localPort
        self.peerPort = peerPort
        self.hostInitiated = true
        self.stream = stream
        self.bufAlloc = bufAlloc
        self.readAhead = readAhead
        self.timeouts = timeouts
        state = .connecting
        pending.request = true
        deadline = now + timeouts.connect
    }

    /// A connection the guest asked for whose host listener accepted: RESPONSE goes to the guest.
    public init(guestRequest header: VsockHeader, stream: HostStream, bufAlloc: UInt32, readAhead: Int = 65536,
                timeouts: Timeouts = Timeouts()) {
        guestCID = header.srcCID
        localPort = header.dstPort
        peerPort = header.srcPort
        hostInitiated = false
        self.stream = stream
        self.bufAlloc = bufAlloc
        self.readAhead = readAhead
        self.timeouts = timeouts
        peerBufAlloc = header.bufAlloc
        peerForwardedCount = header.fwdCnt
        state = .established
        pending.response = true
    }

    /// How many bytes the guest can take now: its buffer minus what is in flight.
    public var peerCredit: Int {
        max(0, Int(peerBufAlloc) - Int(txCount &- peerForwardedCount))
    }

    /// Whether the connection has a packet for the guest right now.
    public var hasPendingRx: Bool {
        if state == .closed { return false }
        if pending.rst || pending.request || pending.response { return true }
        if state == .connecting { return false }
        if canSendData { return true }
        if !pending.shutdown.isEmpty && toGuest.isEmpty { return true }
        return pending.creditUpdate
    }

    /// The guest side is finished and every byte owed to the host is written: the socket can go.
    public var isFinished: Bool {
        state == .closed && (toHost.isEmpty && handshakeReply.isEmpty || hostEOFOnWrite)
    }

    /// A write to the host failed: nothing more can be delivered there.
    private var hostEOFOnWrite = false

    private var canSendData: Bool {
        state == .established && !toGuest.isEmpty && peerCredit > 0 && !guestShutdown.contains(.receive)
    }

    // MARK: Packets from the guest

    /// Handles a packet the guest sent on this connection; `payload` is the RW data in guest memory.
    public func receive(_ header: VsockHeader, payload: [UnsafeRawBufferPointer]) {
        guard state != .closed else { return }
        // Every header refreshes the guest's credit, whatever its op.
        peerBufAlloc = header.bufAlloc
        peerForwardedCount = header.fwdCnt
        guard let op = header.op else { return abort("guest sent unknown op \(header.rawOp)") }
        switch op {
        case .response:
            guard state == .connecting else { return abort("guest sent RESPONSE on an open connection") }
            state = .established
            deadline = nil
            handshakeReply = Array("OK \(localPort)\n".utf8)
        case .rst:
            endReason = endReason ?? (state == .connecting
                ? "guest refused port \(peerPort) (is anything listening there?)" : "guest reset the connection")
            state = .closed
            deadline = nil
            pending = PendingRx()
            // An abort: what the guest sent before is dropped with it.
            toHost.removeAll()
            handshakeReply.removeAll()
        case .rw:
            guard state == .established else { return abort("guest sent data before the connection was open") }
            guard !guestShutdown.contains(.send) else { return abort("guest sent data after SHUTDOWN(send)") }
            let length = Int(header.length)
            let buffered = Int(rxCount &- forwardedCount)
            guard buffered + length <= Int(bufAlloc) else {
                return abort("guest overran its credit: \(buffered) buffered + \(length) > buf_alloc \(bufAlloc)")
            }
            rxCount &+= UInt32(length)
            if hostEOFOnWrite { return abort("host side is gone; guest data has nowhere to go") }
            for slice in payload { acceptFromGuest(slice) }
        case .shutdown:
            let flags = VsockShutdown(rawValue: header.flags & VsockShutdown.both.rawValue)
            guestShutdown.formUnion(flags)
            if guestShutdown == .both {
                // The guest is done with the connection: answer with RST, keep writing what it sent.
                pending = PendingRx(rst: true)
                endReason = "guest closed"
                toGuest.removeAll()
            }
        case .creditUpdate:
            break
        case .creditRequest:
            pending.creditUpdate = true
        case .request:
            abort("guest sent REQUEST on an open connection")
        }
        pump()
    }

    /// Takes guest data: straight to the host socket when nothing is queued before it, else queued.
    private func acceptFromGuest(_ slice: UnsafeRawBufferPointer) {
        var rest = slice
        if toHost.isEmpty && handshakeReply.isEmpty && hostWritable {
            while rest.count > 0 {
                switch stream.write(rest) {
                case .transferred(let n):
                    forwardedCount &+= UInt32(n)
                    rest = UnsafeRawBufferPointer(rebasing: rest[n...])
                case .wouldBlock:
                    hostWritable = false
                    toHost.append(rest)
                    return
                case .closed, .failed:
                    hostWriteFailed()
                    return
                }
            }
            return
        }
        toHost.append(rest)
    }

    // MARK: Host readiness

    /// The host socket reported readiness (edge-triggered).
    public func hostEvent(_ events: PollEvents) {
        if !events.intersection([.readable, .peerClosed, .hangup, .error]).isEmpty { hostReadable = true }
        if !events.intersection([.writable, .hangup, .error]).isEmpty { hostWritable = true }
        if events.contains(.hangup) { hostHungUp = true }
        pump()
    }

    /// Moves whatever can move now: buffered guest data to the host, host data into the guest queue.
    public func pump() {
        flushToHost()
        readFromHost()
        updateCreditAdvertisement()
    }

    private func flushToHost() {
        while hostWritable && !hostEOFOnWrite {
            if !handshakeReply.isEmpty {
                let result = handshakeReply.withUnsafeBytes { stream.write($0) }
                switch result {
                case .transferred(let n): handshakeReply.removeFirst(n)
                case .wouldBlock: hostWritable = false
                case .closed, .failed: hostWriteFailed()
                }
                continue
            }
            if toHost.isEmpty { break }
            switch stream.write(toHost.bytes) {
            case .transferred(let n):
                toHost.consume(n)
                forwardedCount &+= UInt32(n)
            case .wouldBlock: hostWritable = false
            case .closed, .failed: hostWriteFailed()
            }
        }
        if toHost.isEmpty && handshakeReply.isEmpty && guestShutdown.contains(.send) && !hostWriteShut && state != .connecting {
            hostWriteShut = true
            stream.shutdownWrite()
        }
    }

    private func hostWriteFailed() {
        hostEOFOnWrite = true
        toHost.removeAll()
        handshakeReply.removeAll()
        if state != .closed { abort("host socket closed while the guest was sending") }
    }

    private func readFromHost() {
        guard state == .established, !guestShutdown.contains(.receive), sentShutdown.isEmpty else { return }
        while hostReadable && !hostEOF {
            let room = min(peerCredit, readAhead) - toGuest.count
            if room <= 0 { return }
            var outcome = HostIO.wouldBlock
            _ = toGuest.appendInPlace(maximum: room) { buffer in
                outcome = stream.read(into: buffer)
                if case .transferred(let n) = outcome { return n }
                return 0
            }
            switch outcome {
            case .transferred: continue
            case .wouldBlock: hostReadable = false
            case .closed:
                hostEOF = true
                pending.shutdown.formUnion(hostHungUp ? .both : .send)
            case .failed(let code):
                hostEOF = true
                abort("reading the host socket failed: \(Errno.name(code))")
            }
        }
    }

    /// Tells the guest about freed room once it believes less than half its window is left.
    private func updateCreditAdvertisement() {
        guard state == .established, forwardedCount != advertisedForwardedCount else { return }
        let inFlightAsGuestSees = Int(rxCount &- advertisedForwardedCount)
        if inFlightAsGuestSees * 2 >= Int(bufAlloc) { pending.creditUpdate = true }
    }

    /// Ends the connection from our side: RST to the guest, nothing more to the host.
    public func abort(_ reason: String) {
        guard state != .closed else { return }
        endReason = endReason ?? reason
        pending = PendingRx(rst: true)
        toGuest.removeAll()
    }

    /// The deadline passed: a missing RESPONSE, a missing RST after our SHUTDOWN, or a host that will not
    /// take the last bytes.
    public func expire(now: UInt64) {
        guard let deadline, now >= deadline else { return }
        self.deadline = nil
        switch state {
        case .connecting: abort("guest did not answer REQUEST within \(timeouts.connect / 1_000_000_000) s")
        case .established: abort("guest did not reset after SHUTDOWN within \(timeouts.shutdown / 1_000_000_000) s")
        case .closed:
            endReason = (endReason ?? "") + "; host did not take \(toHost.count) buffered bytes in time"
            hostEOFOnWrite = true
            toHost.removeAll()
        }
    }

    // MARK: Packets to the guest

    /// Writes the next packet for the guest into an rx buffer; returns the bytes used, or nil when there
    /// is nothing to send. Call only when `hasPendingRx`.
    public func emit(into chain: DescriptorChain, now: UInt64) -> Int? {
        guard chain.writableLength >= VsockHeader.size, hasPendingRx else { return nil }
        var header = VsockHeader(srcCID: VsockHeader.hostCID, dstCID: guestCID, srcPort: localPort,
                                 dstPort: peerPort, op: .creditUpdate, bufAlloc: bufAlloc, fwdCnt: forwardedCount)
        if pending.rst {
            header.rawOp = VsockOp.rst.rawValue
            pending = PendingRx()
            state = .closed
            deadline = toHost.isEmpty ? nil : now + timeouts.shutdown
        } else if pending.request {
            header.rawOp = VsockOp.request.rawValue
            pending.request = false
        } else if pending.response {
            header.rawOp = VsockOp.response.rawValue
            pending.response = false
        } else if canSendData {
            let n = min(toGuest.count, peerCredit, chain.writableLength - VsockHeader.size)
            chain.write(UnsafeRawBufferPointer(rebasing: toGuest.bytes[..<n]), at: VsockHeader.size)
            toGuest.consume(n)
            txCount &+= UInt32(n)
            header.rawOp = VsockOp.rw.rawValue
            header.length = UInt32(n)
        } else if !pending.shutdown.isEmpty && toGuest.isEmpty {
            header.rawOp = VsockOp.shutdown.rawValue
            header.flags = pending.shutdown.rawValue
            sentShutdown.formUnion(pending.shutdown)
            pending.shutdown = []
            if sentShutdown == .both { deadline = now + timeouts.shutdown }
        } else if pending.creditUpdate {
            header.rawOp = VsockOp.creditUpdate.rawValue
        } else {
            return nil
        }
        // Every header carries our fwd_cnt, so any packet is also a credit update.
        pending.creditUpdate = false
        advertisedForwardedCount = forwardedCount
        _ = header.withEncoded { chain.write($0, at: 0) }
        if header.op == .rw { readFromHost() }
        return VsockHeader.size + Int(header.length)
    }

    /// Closes the host socket (the connection is finished or the device went away).
    public func closeHost() {
        stream.close()
    }
}

extension VsockHeader {
    /// Encodes into a stack buffer for the duration of `body`.
    func withEncoded<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(byteCount: Self.size, alignment: 8) { buffer in
            encode(into: buffer)
            return body(UnsafeRawBufferPointer(buffer))
        }
    }
}
