import GuestSys
@testable import VsockBridge

/// Packets a hostile guest puts on its tx queue, two ways: into the muxer (routing, refusals, stray
/// replies, caps; guest REQUESTs go to a directory that does not exist, so no socket is ever made), and
/// into one connection's state machine whose host side the input scripts (reads, writes, would-block,
/// errors, end of file, time). Whatever arrives, the bridge must produce well-formed packets for the guest
/// within the buffers it is given, and its own counters must stay consistent.
enum VsockPacketHarness {
    static let guestCID: UInt64 = 3
    static var loop: EventLoop? { FuzzHarness.eventLoop }

    static func run(_ input: FuzzInput) {
        var input = input
        if input.bool() { runMuxer(&input) } else { runConnection(&input) }
    }

    /// A packet from the input: a 44-byte header (its CID forced to the guest's unless the input says
    /// otherwise) and up to its `len` bytes of payload.
    static func packet(_ input: inout FuzzInput) -> (VsockHeader, [UInt8]) {
        let mode = input.byte()
        var bytes = input.take(VsockHeader.size)
        bytes += [UInt8](repeating: 0, count: VsockHeader.size - bytes.count)
        var header = VsockHeader(bytes)!
        if mode & 1 == 0 { header.srcCID = guestCID }
        if mode & 2 == 0 { header.dstCID = VsockHeader.hostCID }
        if mode & 4 == 0 { header.type = VsockHeader.streamType }
        if mode & 8 == 0 { header.rawOp = UInt16(mode >> 4) % 8 }
        let payload = header.op == .rw ? input.take(min(Int(header.length), 4096)) : []
        if mode & 0x80 == 0 { header.length = UInt32(payload.count) }
        return (header, payload)
    }

    /// An rx buffer of a size the input picks (possibly too small for a header).
    static func emit(_ input: inout FuzzInput, _ body: (DescriptorChain) -> Int?) {
        let capacity = Int(input.u16() % 8192)
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(capacity, 1), alignment: 8)
        defer { storage.deallocate() }
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        let writable = capacity == 0 ? [] : [UnsafeMutableRawBufferPointer(rebasing: storage[..<capacity])]
        let chain = DescriptorChain(head: 0, readable: [], writable: writable)
        guard let used = body(chain) else { return }
        fuzzCheck(used >= VsockHeader.size && used <= capacity, "emitted \(used) bytes into a \(capacity)-byte buffer")
        let header = VsockHeader(UnsafeRawBufferPointer(storage))!
        fuzzCheck(used == VsockHeader.size + Int(header.length), "header len \(header.length) disagrees with \(used) bytes used")
        fuzzCheck(header.srcCID != guestCID && header.dstCID == guestCID, "a packet for the guest not addressed to it: \(header)")
        fuzzCheck(header.op != nil, "a packet with an unknown op for the guest")
    }

    static func runMuxer(_ input: inout FuzzInput) {
        guard let loop else { return }
        final class FakeClock: @unchecked Sendable {
            // Touched only on the fuzzing thread.
            var now: UInt64 = 0
        }
        let clock = FakeClock()
        var settings = VsockMuxer.Settings()
        settings.maximumStrayReplies = Int(input.byte() % 16) + 1
        settings.maximumConnections = Int(input.byte() % 4) + 1
        let muxer = VsockMuxer(guestCID: guestCID, udsPath: "/nonexistent-guestkit-fuzz/v.sock", settings: settings, loop: loop,
                               log: BridgeLog(level: .debug, sink: { _ in }), clock: { clock.now })
        defer { muxer.closeAll(reason: "fuzz input done") }
        muxer.deviceRunning = true
        while !input.isEmpty {
            switch input.byte() % 5 {
            case 0, 1:
                let (header, payload) = packet(&input)
                payload.withUnsafeBytes { muxer.handleGuestPacket(header, payload: [$0]) }
            case 2:
                let (header, _) = packet(&input)
                muxer.rejectMalformed(header, reason: "fuzz")
            case 3:
                for _ in 0..<Int(input.byte() % 8) { emit(&input) { muxer.emit(into: $0) } }
            default:
                clock.now &+= UInt64(input.u32()) * 1_000_000
                muxer.expireDeadlines()
            }
            fuzzCheck(muxer.connectionCount <= settings.maximumConnections, "more connections than the cap")
        }
    }

    /// A host side the input drives.
    final class ScriptedHost: HostStream {
        var incoming: [UInt8] = []
        var endOfFile = false
        var failure: Int32?
        var writeRoom = Int.max
        var written = 0
        var descriptor: FileDescriptor? { nil }

        func read(into buffer: UnsafeMutableRawBufferPointer) -> HostIO {
            if let failure { return .failed(failure) }
            if incoming.isEmpty { return endOfFile ? .closed : .wouldBlock }
            let n = min(buffer.count, incoming.count)
            buffer.copyBytes(from: incoming[..<n])
            incoming.removeFirst(n)
            return .transferred(n)
        }

        func write(_ buffer: UnsafeRawBufferPointer) -> HostIO {
            if failure != nil { return .closed }
            let n = min(buffer.count, writeRoom)
            if n == 0 { return .wouldBlock }
            writeRoom -= n
            written += n
            return .transferred(n)
        }

        func shutdownWrite() {}
        func close() {}
    }

    static func runConnection(_ input: inout FuzzInput) {
        let host = ScriptedHost()
        let bufAlloc = UInt32(input.u16()) + 1
        let connection: VsockConnection
        var now: UInt64 = 0
        if input.bool() {
            connection = VsockConnection(hostInitiatedTo: 5000, localPort: 1 << 30, guestCID: guestCID, stream: host,
                                         bufAlloc: bufAlloc, readAhead: Int(input.u16()) + 1, now: now)
        } else {
            let request = VsockHeader(srcCID: guestCID, dstCID: 2, srcPort: 40_000, dstPort: 6000, op: .request,
                                      bufAlloc: input.u32(), fwdCnt: input.u32())
            connection = VsockConnection(guestRequest: request, stream: host, bufAlloc: bufAlloc, readAhead: Int(input.u16()) + 1)
        }
        while !input.isEmpty {
            switch input.byte() % 7 {
            case 0, 1:
                var (header, payload) = packet(&input)
                header.srcPort = connection.peerPort
                header.dstPort = connection.localPort
                payload.withUnsafeBytes { connection.receive(header, payload: [$0]) }
            case 2:
                host.incoming += input.slice(long: true)
                connection.hostEvent(.readable)
            case 3:
                host.writeRoom = Int(input.u16())
                connection.hostEvent(.writable)
            case 4:
                switch input.byte() % 4 {
                case 0: host.endOfFile = true
                case 1: host.failure = Errno.ECONNRESET
                case 2: connection.hostEvent(.hangup)
                default: connection.hostEvent([.peerClosed, .readable])
                }
            case 5:
                for _ in 0..<Int(input.byte() % 8) { emit(&input) { connection.emit(into: $0, now: now) } }
            default:
                now &+= UInt64(input.u32()) * 1_000_000
                connection.expire(now: now)
            }
            // What the bridge buffers from the guest never exceeds what it allowed the guest to send.
            fuzzCheck(connection.toHost.count <= Int(bufAlloc), "\(connection.toHost.count) bytes buffered for the host, buf_alloc \(bufAlloc)")
            fuzzCheck(connection.toGuest.count <= max(connection.readAhead, 0), "read ahead of the guest beyond readAhead")
        }
    }

    static var seeds: [[UInt8]] {
        func header(_ op: VsockOp, src: UInt32, dst: UInt32, length: UInt32 = 0, flags: UInt32 = 0) -> [UInt8] {
            VsockHeader(srcCID: guestCID, dstCID: 2, srcPort: src, dstPort: dst, length: length, op: op, flags: flags,
                        bufAlloc: 65536, fwdCnt: 0).bytes
        }
        let raw: UInt8 = 0x0F  // keep the header's own CIDs, type, op and length
        return [
            // Muxer: a REQUEST to a port nobody serves, a stray RW, an rx buffer, time passing.
            [1, 4, 2, 0, raw] + header(.request, src: 40_000, dst: 7000) + [1, raw] + header(.rw, src: 1, dst: 2, length: 3) + [9, 9, 9]
                + [3, 4, 0x00, 0x10, 0x00, 0x20, 4, 0xff, 0xff, 0, 0],
            // Connection, host-initiated: RESPONSE, host data, RW from the guest, SHUTDOWN both, RST.
            [0, 0x00, 0x10, 1, 0x00, 0x10, 0, raw] + header(.response, src: 5000, dst: 1 << 30)
                + [2, 5, 0, 104, 101, 108, 108, 111, 5, 2, 0x40, 0, 0x40, 0]
                + [0, raw] + header(.rw, src: 5000, dst: 1 << 30, length: 4) + [1, 2, 3, 4]
                + [0, raw] + header(.shutdown, src: 5000, dst: 1 << 30, flags: 3) + [5, 1, 0x40, 0, 6, 0x10, 0x27, 0, 0],
            // Connection, guest-initiated, with a credit request and a host that stops taking bytes.
            [0, 0x00, 0x01, 0, 0x00, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x02, 3, 0, 0, 0, raw]
                + header(.rw, src: 40_000, dst: 6000, length: 8) + [1, 2, 3, 4, 5, 6, 7, 8] + [0, raw] + header(.creditRequest, src: 40_000, dst: 6000),
        ]
    }
}
