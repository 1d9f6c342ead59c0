import GuestSys
import Testing
@testable import VsockBridge

/// A host socket driven by the test: what the host "sends", how much it accepts, when it fails.
final class ScriptedStream: HostStream {
    var incoming: [UInt8] = []
    var endOfFile = false
    var readError: Int32?
    /// Bytes accepted before writes would block; nil for unlimited.
    var writeRoom: Int?
    var writesFail = false
    private(set) var written: [UInt8] = []
    private(set) var shutWrite = false
    private(set) var closed = false

    var descriptor: FileDescriptor? { nil }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> HostIO {
        if let readError { return .failed(readError) }
        if incoming.isEmpty { return endOfFile ? .closed : .wouldBlock }
        let n = min(buffer.count, incoming.count)
        for i in 0..<n { buffer[i] = incoming[i] }
        incoming.removeFirst(n)
        return .transferred(n)
    }

    func write(_ buffer: UnsafeRawBufferPointer) -> HostIO {
        if writesFail { return .closed }
        let n = min(buffer.count, writeRoom ?? Int.max)
        if n == 0 { return .wouldBlock }
        written += buffer[..<n]
        if writeRoom != nil { writeRoom! -= n }
        return .transferred(n)
    }

    func shutdownWrite() { shutWrite = true }
    func close() { closed = true }
}

/// An rx buffer as the guest posts it: one writable area for header and payload.
final class RxBuffer {
    let storage: UnsafeMutableRawBufferPointer
    init(capacity: Int = VsockHeader.size + 4096) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 8)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
    }
    deinit { storage.deallocate() }
    var chain: DescriptorChain { DescriptorChain(head: 0, readable: [], writable: [storage]) }
}

/// Emits the connection's next packet; nil when it has none.
func nextPacket(_ connection: VsockConnection, capacity: Int = VsockHeader.size + 4096, now: UInt64 = 0)
    -> (header: VsockHeader, payload: [UInt8])?
{
    let buffer = RxBuffer(capacity: capacity)
    guard let used = connection.emit(into: buffer.chain, now: now) else { return nil }
    let header = VsockHeader(UnsafeRawBufferPointer(buffer.storage))!
    #expect(used == VsockHeader.size + Int(header.length))
    return (header, Array(buffer.storage[VsockHeader.size..<used]))
}

@Suite struct VsockConnectionTests {
    static let cid: UInt64 = 7

    /// A packet from the guest on the connection host port 1024 ↔ guest port 5000.
    func fromGuest(_ op: VsockOp, length: UInt32 = 0, flags: UInt32 = 0, bufAlloc: UInt32 = 65536, fwdCnt: UInt32 = 0,
                   localPort: UInt32 = 1024) -> VsockHeader {
        VsockHeader(srcCID: Self.cid, dstCID: 2, srcPort: 5000, dstPort: localPort, length: length, op: op, flags: flags,
                    bufAlloc: bufAlloc, fwdCnt: fwdCnt)
    }

    func send(_ connection: VsockConnection, _ header: VsockHeader, _ payload: [UInt8] = []) {
        var h = header
        h.length = UInt32(payload.count)
        payload.withUnsafeBytes { connection.receive(h, payload: [$0]) }
    }

    func hostInitiated(stream: ScriptedStream, bufAlloc: UInt32 = 4096) -> VsockConnection {
        VsockConnection(hostInitiatedTo: 5000, localPort: 1024, guestCID: Self.cid, stream: stream, bufAlloc: bufAlloc,
                        timeouts: .init(connectNanoseconds: 1_000, shutdownNanoseconds: 1_000), now: 0)
    }

    func established(stream: ScriptedStream, bufAlloc: UInt32 = 4096, peerBufAlloc: UInt32 = 65536) -> VsockConnection {
        let connection = VsockConnection(guestRequest: fromGuest(.request, bufAlloc: peerBufAlloc), stream: stream,
                                         bufAlloc: bufAlloc, timeouts: .init(connectNanoseconds: 1_000, shutdownNanoseconds: 1_000))
        let response = nextPacket(connection)
        #expect(response?.header.op == .response)
        return connection
    }

    @Test func hostConnectSendsRequestThenAnswersOKBeforeAnyData() throws {
        let stream = ScriptedStream()
        stream.incoming = Array("early bytes".utf8)   // a client that writes before reading OK
        let connection = hostInitiated(stream: stream)
        let request = try #require(nextPacket(connection))
        #expect(request.header == VsockHeader(srcCID: 2, dstCID: Self.cid, srcPort: 1024, dstPort: 5000, op: .request,
                                              bufAlloc: 4096, fwdCnt: 0))
        #expect(nextPacket(connection) == nil)        // nothing flows until the guest answers
        #expect(stream.written.isEmpty)

        send(connection, fromGuest(.response))
        #expect(connection.state == .established)
        #expect(String(decoding: stream.written, as: UTF8.self) == "OK 1024\n")
        let data = try #require(nextPacket(connection))
        #expect(data.header.op == .rw)
        #expect(data.payload == Array("early bytes".utf8))

        // Guest data follows the OK line.
        send(connection, fromGuest(.rw), Array("pong".utf8))
        #expect(String(decoding: stream.written, as: UTF8.self) == "OK 1024\npong")
    }

    @Test func guestRefusalClosesTheHostSocketWithoutOK() throws {
        let stream = ScriptedStream()
        let connection = hostInitiated(stream: stream)
        _ = nextPacket(connection)
        send(connection, fromGuest(.rst))
        #expect(connection.state == .closed)
        #expect(connection.isFinished)
        #expect(stream.written.isEmpty)
        #expect(connection.endReason?.contains("refused") == true)
    }

    @Test func aGuestThatNeverAnswersIsResetAfterTheConnectTimeout() throws {
        let stream = ScriptedStream()
        let connection = hostInitiated(stream: stream)
        _ = nextPacket(connection, now: 0)
        connection.expire(now: 500)
        #expect(connection.state == .connecting)
        connection.expire(now: 2_000)
        let rst = try #require(nextPacket(connection))
        #expect(rst.header.op == .rst)
        #expect(connection.isFinished)
        #expect(stream.written.isEmpty)
    }

    @Test func hostDataNeverExceedsTheGuestsCredit() throws {
        let stream = ScriptedStream()
        let connection = established(stream: stream, peerBufAlloc: 1000)
        stream.incoming = [UInt8](repeating: 0xab, count: 5000)
        connection.hostEvent(.readable)
        var sent = 0
        while let packet = nextPacket(connection) {
            #expect(packet.header.op == .rw)
            sent += packet.payload.count
        }
        #expect(sent == 1000)
        #expect(connection.peerCredit == 0)
        // The guest consumed 600 bytes: that much more may go.
        send(connection, fromGuest(.creditUpdate, bufAlloc: 1000, fwdCnt: 600))
        while let packet = nextPacket(connection) { sent += packet.payload.count }
        #expect(sent == 1600)
        // Packets never exceed the rx buffer either.
        send(connection, fromGuest(.creditUpdate, bufAlloc: 100_000, fwdCnt: 1600))
        let packet = try #require(nextPacket(connection, capacity: VsockHeader.size + 512))
        #expect(packet.payload.count == 512)
        #expect(packet.payload.allSatisfy { $0 == 0xab })
    }

    @Test func guestDataBeyondOurBufferResetsTheConnection() throws {
        let stream = ScriptedStream()
        stream.writeRoom = 0                            // a host that reads nothing
        let connection = established(stream: stream, bufAlloc: 4096)
        send(connection, fromGuest(.rw), [UInt8](repeating: 1, count: 4096))
        #expect(connection.state == .established)       // exactly the buffer: fine
        send(connection, fromGuest(.rw), [1])
        let rst = try #require(nextPacket(connection))
        #expect(rst.header.op == .rst)
        #expect(connection.endReason?.contains("overran") == true)
    }

    @Test func freedBufferIsAnnouncedOnceTheGuestSeesLessThanHalf() throws {
        let stream = ScriptedStream()
        stream.writeRoom = 0
        let connection = established(stream: stream, bufAlloc: 4096)
        send(connection, fromGuest(.rw), [UInt8](repeating: 2, count: 1000))
        #expect(nextPacket(connection) == nil)           // nothing forwarded, nothing to announce
        stream.writeRoom = 1000
        connection.hostEvent(.writable)
        #expect(connection.forwardedCount == 1000)
        #expect(nextPacket(connection) == nil)           // the guest still sees 3096 of 4096 free
        stream.writeRoom = 0
        send(connection, fromGuest(.rw), [UInt8](repeating: 3, count: 2000))
        stream.writeRoom = 2000
        connection.hostEvent(.writable)
        let update = try #require(nextPacket(connection))
        #expect(update.header.op == .creditUpdate)
        #expect(update.header.fwdCnt == 3000)
        #expect(update.header.bufAlloc == 4096)
        #expect(stream.written.count == 3000)
    }

    @Test func creditRequestIsAnswered() throws {
        let stream = ScriptedStream()
        let connection = established(stream: stream)
        send(connection, fromGuest(.creditRequest))
        let update = try #require(nextPacket(connection))
        #expect(update.header.op == .creditUpdate)
        #expect(nextPacket(connection) == nil)
    }

    @Test func hostEndOfFileBecomesShutdownSendAfterTheData() throws {
        let stream = ScriptedStream()
        let connection = established(stream: stream)
        stream.incoming = [UInt8](repeating: 5, count: 6000)
        stream.endOfFile = true
        connection.hostEvent([.readable, .peerClosed])
        var ops: [VsockOp] = []
        var bytes = 0
        while let packet = nextPacket(connection) {
            ops.append(packet.header.op!)
            bytes += packet.payload.count
            if packet.header.op == .shutdown { #expect(packet.header.flags == VsockShutdown.send.rawValue) }
        }
        #expect(bytes == 6000)
        #expect(ops.last == .shutdown)
        #expect(ops.dropLast().allSatisfy { $0 == .rw })
        // The guest may still send; its full close is answered with RST.
        send(connection, fromGuest(.rw), Array("bye".utf8))
        #expect(stream.written == Array("bye".utf8))
        send(connection, fromGuest(.shutdown, flags: VsockShutdown.both.rawValue))
        #expect(nextPacket(connection)?.header.op == .rst)
        #expect(connection.isFinished)
    }

    @Test func hostHangupBecomesFullShutdownAndAGuestThatNeverResetsIsReset() throws {
        let stream = ScriptedStream()
        let connection = established(stream: stream)
        stream.endOfFile = true
        connection.hostEvent([.readable, .peerClosed, .hangup])
        let shutdown = try #require(nextPacket(connection, now: 0))
        #expect(shutdown.header.op == .shutdown)
        #expect(shutdown.header.flags == VsockShutdown.both.rawValue)
        connection.expire(now: 5_000)
        #expect(nextPacket(connection)?.header.op == .rst)
        #expect(connection.state == .closed)
    }

    @Test func guestShutdownSendReachesTheHostOnlyAfterBufferedData() throws {
        let stream = ScriptedStream()
        stream.writeRoom = 2
        let connection = established(stream: stream)
        send(connection, fromGuest(.rw), Array("hello".utf8))
        send(connection, fromGuest(.shutdown, flags: VsockShutdown.send.rawValue))
        #expect(!stream.shutWrite)                        // "llo" still queued
        stream.writeRoom = nil
        connection.hostEvent(.writable)
        #expect(stream.written == Array("hello".utf8))
        #expect(stream.shutWrite)
        #expect(connection.state == .established)         // half-closed: the host may still answer
        stream.incoming = Array("answer".utf8)
        connection.hostEvent(.readable)
        #expect(nextPacket(connection)?.payload == Array("answer".utf8))
    }

    @Test func guestCloseIsAnsweredWithResetWhileBufferedBytesDrainToTheHost() throws {
        let stream = ScriptedStream()
        stream.writeRoom = 0
        let connection = established(stream: stream)
        send(connection, fromGuest(.rw), Array("last words".utf8))
        send(connection, fromGuest(.shutdown, flags: VsockShutdown.both.rawValue))
        let rst = try #require(nextPacket(connection, now: 0))
        #expect(rst.header.op == .rst)
        #expect(connection.state == .closed)
        #expect(!connection.isFinished)                   // 10 bytes still owed to the host
        stream.writeRoom = nil
        connection.hostEvent(.writable)
        #expect(stream.written == Array("last words".utf8))
        #expect(stream.shutWrite)
        #expect(connection.isFinished)
    }

    @Test func aHostThatNeverReadsTheLastBytesIsGivenUpOn() throws {
        let stream = ScriptedStream()
        stream.writeRoom = 0
        let connection = established(stream: stream)
        send(connection, fromGuest(.rw), Array("stuck".utf8))
        send(connection, fromGuest(.shutdown, flags: VsockShutdown.both.rawValue))
        _ = nextPacket(connection, now: 0)
        #expect(!connection.isFinished)
        connection.expire(now: 5_000)
        #expect(connection.isFinished)
    }

    @Test func guestResetDropsEverythingAtOnce() throws {
        let stream = ScriptedStream()
        stream.writeRoom = 0
        let connection = established(stream: stream)
        send(connection, fromGuest(.rw), Array("abandoned".utf8))
        send(connection, fromGuest(.rst))
        #expect(connection.state == .closed)
        #expect(connection.isFinished)
        #expect(nextPacket(connection) == nil)            // never answer RST with RST
    }

    @Test func aHostWriteFailureResetsTheGuest() throws {
        let stream = ScriptedStream()
        stream.writesFail = true
        let connection = established(stream: stream)
        send(connection, fromGuest(.rw), Array("to nowhere".utf8))
        #expect(nextPacket(connection)?.header.op == .rst)
        #expect(connection.isFinished)
    }

    @Test func aHostReadErrorResetsTheGuest() throws {
        let stream = ScriptedStream()
        stream.readError = Errno.ECONNRESET
        let connection = established(stream: stream)
        connection.hostEvent(.readable)
        #expect(nextPacket(connection)?.header.op == .rst)
    }

    /// Protocol violations by the guest end only this connection, with RST.
    @Test(arguments: [VsockOp.request, .response])
    func unexpectedOpsOnAnOpenConnectionReset(op: VsockOp) throws {
        let stream = ScriptedStream()
        let connection = established(stream: stream)
        send(connection, fromGuest(op))
        #expect(nextPacket(connection)?.header.op == .rst)
    }

    @Test func dataBeforeTheResponseOrAfterShutdownSendResets() throws {
        let early = ScriptedStream()
        let connecting = hostInitiated(stream: early)
        _ = nextPacket(connecting)
        send(connecting, fromGuest(.rw), [1])
        #expect(nextPacket(connecting)?.header.op == .rst)

        let late = ScriptedStream()
        let connection = established(stream: late)
        send(connection, fromGuest(.shutdown, flags: VsockShutdown.send.rawValue))
        send(connection, fromGuest(.rw), [1])
        #expect(nextPacket(connection)?.header.op == .rst)
    }

    @Test func guestShutdownReceiveStopsHostReads() throws {
        let stream = ScriptedStream()
        let connection = established(stream: stream)
        send(connection, fromGuest(.shutdown, flags: VsockShutdown.receive.rawValue))
        stream.incoming = Array("unwanted".utf8)
        connection.hostEvent(.readable)
        #expect(nextPacket(connection) == nil)
        #expect(stream.incoming.count == 8)
    }
}
