import GuestSys
import GuestTestSupport
import Testing
@testable import VsockBridge

/// Builds front-end (QEMU-side) messages.
enum FrontEnd {
    static func message(_ request: VhostUserRequest, flags: UInt32 = VhostUserHeader.version, payload: [UInt8] = []) -> [UInt8] {
        VhostUserHeader(request: request.rawValue, flags: flags, size: UInt32(payload.count)).bytes + payload
    }
    static func u64(_ value: UInt64) -> [UInt8] { var w = PayloadWriter(); w.u64(value); return w.bytes }
    static func state(_ index: UInt32, _ num: UInt32) -> [UInt8] { var w = PayloadWriter(); w.u32(index); w.u32(num); return w.bytes }
    static func address(_ index: UInt32, desc: UInt64, used: UInt64, avail: UInt64) -> [UInt8] {
        var w = PayloadWriter()
        w.u32(index); w.u32(0); w.u64(desc); w.u64(used); w.u64(avail); w.u64(0)
        return w.bytes
    }
    static func memoryTable(_ regions: [VhostUserMemoryRegion]) -> [UInt8] {
        var w = PayloadWriter()
        w.u32(UInt32(regions.count)); w.u32(0)
        for r in regions { w.u64(r.guestAddress); w.u64(r.size); w.u64(r.userAddress); w.u64(r.mmapOffset) }
        return w.bytes
    }
    static func config(offset: UInt32, size: UInt32) -> [UInt8] {
        var w = PayloadWriter()
        w.u32(offset); w.u32(size); w.u32(0)
        return w.bytes + [UInt8](repeating: 0, count: Int(size))
    }
}

/// Records what the back-end tells the device.
final class RecordingDevice: VhostUserDevice {
    var events: [String] = []
    var queues: [Int: Virtqueue] = [:]
    var deviceFeatures: UInt64 { 0 }
    var queueCount: Int { 2 }
    func configSpace() -> [UInt8] { FrontEnd.u64(42) }
    func queueStarted(_ index: Int, queue: Virtqueue, kick: EventCounter, call: EventCounter?) {
        events.append("start \(index) base \(queue.nextAvailable) call \(call != nil)")
        queues[index] = queue
    }
    func callChanged(_ index: Int, call: EventCounter?) { events.append("call \(index)") }
    func queueStopped(_ index: Int) { events.append("stop \(index)"); queues[index] = nil }
    func reset(reason: String) { events.append("reset") }
}

@Suite struct VhostUserMessageTests {
    @Test(arguments: [
        ([UInt8]([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]), nil as String?),
        ([5, 0, 0, 0, 9, 0, 0, 0, 72, 0, 0, 0], nil),
        ([1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0], "version 2"),
        ([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0], "payload"),
        ([1, 0, 0], "header of 3 bytes"),
    ])
    func parsesHeaders(bytes: [UInt8], problem: String?) {
        do {
            let header = try VhostUserHeader(bytes)
            #expect(problem == nil)
            #expect(header.bytes == bytes)
        } catch {
            #expect(problem.map { error.description.contains($0) } == true, "\(error)")
        }
    }

    func message(_ request: VhostUserRequest, _ payload: [UInt8], fds: Int = 0) -> VhostUserMessage {
        VhostUserMessage(header: VhostUserHeader(request: request.rawValue, flags: 1, size: UInt32(payload.count)),
                         payload: payload, descriptors: (0..<fds).map { _ in FileDescriptorBox(try! EventCounter().fd) })
    }

    @Test func decodesPayloads() throws {
        #expect(try message(.setFeatures, FrontEnd.u64(0x1_4000_0000)).u64() == 0x1_4000_0000)
        #expect(try message(.setVringNum, FrontEnd.state(1, 256)).vringState() == (1, 256))
        let address = try message(.setVringAddr, FrontEnd.address(1, desc: 0x1000, used: 0x3000, avail: 0x2000)).vringAddress()
        #expect(address == VhostUserVringAddress(index: 1, flags: 0, descriptors: 0x1000, used: 0x3000, available: 0x2000, log: 0))
        let regions = [VhostUserMemoryRegion(guestAddress: 0, size: 0xa0000, userAddress: 0x7f00_0000_0000, mmapOffset: 0),
                       VhostUserMemoryRegion(guestAddress: 0xc0000, size: 0x1ff40000, userAddress: 0x7f00_000c_0000, mmapOffset: 0xc0000)]
        #expect(try message(.setMemTable, FrontEnd.memoryTable(regions), fds: 2).memoryTable() == regions)
        #expect(try message(.getConfig, FrontEnd.config(offset: 0, size: 8)).configRequest() == (0, 8, 0))
    }

    @Test(arguments: [
        (VhostUserRequest.setFeatures, [UInt8](repeating: 0, count: 4), 0, "expected 8"),
        (.setVringNum, [UInt8](repeating: 0, count: 12), 0, "expected 8"),
        (.setVringAddr, [UInt8](repeating: 0, count: 32), 0, "expected 40"),
        (.setMemTable, FrontEnd.memoryTable([VhostUserMemoryRegion(guestAddress: 0, size: 1, userAddress: 0, mmapOffset: 0)]), 0, "1 regions but 0 file descriptors"),
        (.setMemTable, [9, 0, 0, 0, 0, 0, 0, 0], 9, "announces 9 regions"),
        (.setMemTable, [1, 0, 0, 0, 0, 0, 0, 0], 1, "announces 1 regions in 8 bytes"),
        (.getConfig, [0, 0, 0, 0], 0, "too short"),
    ])
    func rejectsMalformedPayloads(request: VhostUserRequest, payload: [UInt8], fds: Int, problem: String) {
        let m = message(request, payload, fds: fds)
        do {
            switch request {
            case .setFeatures: _ = try m.u64()
            case .setVringNum: _ = try m.vringState()
            case .setVringAddr: _ = try m.vringAddress()
            case .setMemTable: _ = try m.memoryTable()
            default: _ = try m.configRequest()
            }
            Issue.record("\(request.specName) with a bad payload was accepted")
        } catch {
            #expect(error.description.contains(problem), "\(error)")
        }
    }

    @Test func everyRequestHasItsSpecName() {
        #expect(VhostUserRequest.setMemTable.specName == "VHOST_USER_SET_MEM_TABLE")
        #expect(VhostUserRequest.getStatus.specName == "VHOST_USER_GET_STATUS")
        #expect(Set(VhostUserRequest.allCases.map(\.specName)).count == VhostUserRequest.allCases.count)
    }
}

extension VhostUserReceived {
    /// The message, when one was complete.
    var message: VhostUserMessage? {
        if case .message(let message) = self { return message }
        return nil
    }

    var isIncomplete: Bool {
        if case .incomplete = self { return true }
        return false
    }

    var isClosed: Bool {
        if case .closed = self { return true }
        return false
    }
}

@Suite struct VhostUserChannelTests {
    @Test func receivesMessagesWithTheirDescriptorsOverASocketPair() throws {
        let (qemu, bridge) = try Sockets.pair()
        defer { qemu.closeQuietly(); bridge.closeQuietly() }
        let channel = VhostUserChannel(fd: bridge)
        let pipe = try Pipe()
        let bytes = FrontEnd.message(.setVringKick, payload: FrontEnd.u64(1))
        #expect(try Sockets.send(qemu, bytes, descriptors: [pipe.writeEnd]) == bytes.count)
        try pipe.writeEnd.close()
        let message = try #require(try channel.receive().message)
        #expect(message.request == .setVringKick)
        #expect(try message.u64() == 1)
        #expect(message.descriptors.count == 1)
        // The descriptor that arrived is a working copy of the pipe's write end.
        let passed = try #require(message.descriptors[0].take())
        try passed.writeAll("through SCM_RIGHTS")
        try passed.close()
        #expect(String(decoding: try pipe.readEnd.readToEnd(), as: UTF8.self) == "through SCM_RIGHTS")

        // A message split across writes is reassembled, across calls: the channel never waits for the rest.
        let split = FrontEnd.message(.setVringNum, payload: FrontEnd.state(0, 128))
        try qemu.writeAll(Array(split[..<5]))
        #expect(try channel.receive().isIncomplete)
        try qemu.writeAll(Array(split[5..<14]))
        #expect(try channel.receive().isIncomplete)
        try qemu.writeAll(Array(split[14...]))
        let state = try #require(try channel.receive().message).vringState()
        #expect(state == (0, 128))
        #expect(try channel.receive().isIncomplete)

        // Replies go back.
        try channel.send(VhostUserReply.u64(VhostUserRequest.getFeatures.rawValue, 7))
        var reply = [UInt8](repeating: 0, count: 20)
        #expect(try reply.withUnsafeMutableBytes { try qemu.read(into: $0) } == 20)
        #expect(try VhostUserHeader(Array(reply[..<12])) == VhostUserHeader(request: 1, flags: 5, size: 8))

        // End of file between messages is a clean end; in the middle of one it is an error.
        try qemu.writeAll(Array(split[..<7]))
        try Sockets.shutdown(qemu, .write)
        #expect(throws: VhostUserError.self) { try channel.receive() }
    }

    @Test func endOfFileBetweenMessagesIsClosed() throws {
        let (qemu, bridge) = try Sockets.pair()
        defer { bridge.closeQuietly() }
        try qemu.close()
        #expect(try VhostUserChannel(fd: bridge).receive().isClosed)
    }

    @Test func aFrontEndThatNeverReadsItsRepliesIsCutOff() throws {
        let (qemu, bridge) = try Sockets.pair()
        defer { qemu.closeQuietly(); bridge.closeQuietly() }
        let channel = VhostUserChannel(fd: bridge)
        let reply = VhostUserReply.u64(VhostUserRequest.getFeatures.rawValue, 7)
        var sent = 0
        let error = #expect(throws: VhostUserError.self) {
            while sent < 100_000 {
                try channel.send(reply)
                sent += 1
            }
        }
        #expect(error?.description.contains("unread") == true, "\(String(describing: error))")
        #expect(channel.hasPendingOutput)
    }

    @Test func aMessageWithTooManyDescriptorsIsRefused() throws {
        let (qemu, bridge) = try Sockets.pair()
        defer { qemu.closeQuietly(); bridge.closeQuietly() }
        let channel = VhostUserChannel(fd: bridge)
        let pipes = try (0..<9).map { _ in try Pipe() }
        let bytes = FrontEnd.message(.setVringKick, payload: FrontEnd.u64(1))
        // Eight descriptors with the header, one more with the payload: nine for one message.
        _ = try Sockets.send(qemu, Array(bytes[..<12]), descriptors: pipes.prefix(8).map(\.writeEnd))
        _ = try Sockets.send(qemu, Array(bytes[12...]), descriptors: [pipes[8].writeEnd])
        #expect(throws: VhostUserError.self) { try channel.receive() }
    }
}

@Suite struct VhostUserBackendTests {
    /// Plays QEMU against a back-end: sends a request, lets the back-end handle it, reads any reply.
    final class Session {
        let qemu: FileDescriptor
        let backend: VhostUserBackend
        let device = RecordingDevice()

        init() throws {
            let (a, b) = try Sockets.pair()
            qemu = a
            backend = VhostUserBackend(channel: VhostUserChannel(fd: b), device: device, log: BridgeLog(level: .error, sink: { _ in }))
        }

        deinit { qemu.closeQuietly(); backend.close(reason: "test over") }

        @discardableResult
        func send(_ request: VhostUserRequest, _ payload: [UInt8] = [], needReply: Bool = false,
                  fds: [FileDescriptor] = [], expectReply: Bool = false) throws -> [UInt8]? {
            let flags = VhostUserHeader.version | (needReply ? VhostUserHeader.needReplyFlag : 0)
            let bytes = FrontEnd.message(request, flags: flags, payload: payload)
            _ = try Sockets.send(qemu, bytes, descriptors: fds)
            #expect(try backend.handleAvailable())
            guard expectReply else { return nil }
            let header = try VhostUserHeader(try qemu.read(upTo: 12))
            #expect(header.request == request.rawValue)
            #expect(header.flags == VhostUserHeader.version | VhostUserHeader.replyFlag)
            return header.size == 0 ? [] : try qemu.read(upTo: Int(header.size))
        }
    }

    @Test func negotiatesOnlyWhatItImplements() throws {
        let s = try Session()
        let features = try #require(try s.send(.getFeatures, expectReply: true))
        let offered = PayloadReader(features).u64(0)
        #expect(offered == VirtioFeature.version1 | VirtioFeature.protocolFeatures | VirtioFeature.eventIndex
                | VirtioFeature.indirectDescriptors)
        let protocolFeatures = PayloadReader(try #require(try s.send(.getProtocolFeatures, expectReply: true))).u64(0)
        #expect(protocolFeatures & VhostUserProtocolFeature.multiQueue == 0)
        #expect(protocolFeatures & VhostUserProtocolFeature.config != 0)
        #expect(protocolFeatures & VhostUserProtocolFeature.replyAck != 0)
        try s.send(.setProtocolFeatures, FrontEnd.u64(protocolFeatures | VhostUserProtocolFeature.multiQueue))
        #expect(s.backend.ackedProtocolFeatures == protocolFeatures)
        try s.send(.setOwner)
        // GET_CONFIG returns the guest CID at the requested offset.
        let config = try #require(try s.send(.getConfig, FrontEnd.config(offset: 0, size: 8), expectReply: true))
        #expect(config.count == 20)
        #expect(PayloadReader(config).u32(4) == 8)
        #expect(PayloadReader(config).u64(12) == 42)
        // Beyond the config space: an empty answer, which QEMU reports as an error.
        let beyond = try #require(try s.send(.getConfig, FrontEnd.config(offset: 4, size: 8), expectReply: true))
        #expect(PayloadReader(beyond).u32(4) == 0)
    }

    @Test func setsUpMapsAndStopsRings() throws {
        let scratch = try ScratchDirectory("vhost-user")
        let s = try Session()
        let features = VirtioFeature.version1 | VirtioFeature.protocolFeatures | VirtioFeature.eventIndex
        try s.send(.setProtocolFeatures, FrontEnd.u64(VhostUserProtocolFeature.replyAck | VhostUserProtocolFeature.config))
        try s.send(.setFeatures, FrontEnd.u64(features))

        // Guest RAM: a file QEMU would have as a memfd, seen at a QEMU address, mapped from an offset.
        let ramFile = try FileDescriptor.open(scratch.file("ram"), [.readWrite, .create])
        defer { ramFile.closeQuietly() }
        try ramFile.truncate(to: 0x20_0000)
        let qemuBase: UInt64 = 0x7f00_0000_0000
        let region = VhostUserMemoryRegion(guestAddress: 0x10_0000, size: 0x10_0000, userAddress: qemuBase, mmapOffset: 0x10_0000)
        let ack = try #require(try s.send(.setMemTable, FrontEnd.memoryTable([region]), needReply: true, fds: [ramFile],
                                          expectReply: true))
        #expect(PayloadReader(ack).u64(0) == 0)

        // Ring 0 at the start of the region: size 8, base 3.
        let kick = try EventCounter()
        let call = try EventCounter()
        try s.send(.setVringNum, FrontEnd.state(0, 8))
        try s.send(.setVringBase, FrontEnd.state(0, 3))
        try s.send(.setVringAddr, FrontEnd.address(0, desc: qemuBase, used: qemuBase + 0x1000, avail: qemuBase + 0x800))
        try s.send(.setVringCall, FrontEnd.u64(0), fds: [call.fd])
        try s.send(.setVringKick, FrontEnd.u64(0), fds: [kick.fd])
        #expect(s.device.events.isEmpty)               // protocol features acked: disabled until enabled
        try s.send(.setVringEnable, FrontEnd.state(0, 1))
        #expect(s.device.events == ["start 0 base 3 call true"])

        // The ring reads the mapped file: what the "guest" writes at its physical address shows up.
        let available: [UInt8] = [0, 0, 4, 0, 5, 0, 6, 0, 7, 0]  // flags, idx 4, ring[0..2]
        _ = try available.withUnsafeBytes { try ramFile.write($0, at: 0x10_0000 + 0x800) }
        let queue = try #require(s.device.queues[0])
        #expect(queue.hasAvailable)

        // GET_VRING_BASE stops the ring and reports where it stopped.
        let base = try #require(try s.send(.getVringBase, FrontEnd.state(0, 0), expectReply: true))
        #expect(PayloadReader(base).u32(0) == 0 && PayloadReader(base).u32(4) == 3)
        #expect(s.device.events.last == "stop 0")
        // A new kick restarts it (QEMU's order after a guest driver reset).
        try s.send(.setVringKick, FrontEnd.u64(0), fds: [kick.fd])
        #expect(s.device.events.last == "start 0 base 3 call true")

        try s.send(.resetOwner)
        #expect(s.device.events.suffix(2) == ["stop 0", "reset"])
        #expect(s.backend.runningQueues == 0)
    }

    @Test func ringsStartEnabledWithoutProtocolFeatures() throws {
        let scratch = try ScratchDirectory("vhost-user")
        let s = try Session()
        try s.send(.setFeatures, FrontEnd.u64(VirtioFeature.version1))
        let ramFile = try FileDescriptor.open(scratch.file("ram"), [.readWrite, .create])
        defer { ramFile.closeQuietly() }
        try ramFile.truncate(to: 0x10000)
        try s.send(.setMemTable, FrontEnd.memoryTable([VhostUserMemoryRegion(guestAddress: 0, size: 0x10000, userAddress: 0x1000_0000, mmapOffset: 0)]),
                   fds: [ramFile])
        try s.send(.setVringNum, FrontEnd.state(1, 16))
        try s.send(.setVringAddr, FrontEnd.address(1, desc: 0x1000_0000, used: 0x1000_2000, avail: 0x1000_1000))
        try s.send(.setVringKick, FrontEnd.u64(1), fds: [try EventCounter().fd])
        #expect(s.device.events == ["start 1 base 0 call false"])
    }

    /// A bad request is answered as failed (with REPLY_ACK) and the session goes on.
    @Test func badRequestsFailAloneWhenAReplyIsWanted() throws {
        let s = try Session()
        try s.send(.setProtocolFeatures, FrontEnd.u64(VhostUserProtocolFeature.replyAck))
        let cases: [(VhostUserRequest, [UInt8])] = [
            (.setVringNum, FrontEnd.state(0, 100)),        // not a power of two
            (.setVringNum, FrontEnd.state(5, 64)),         // no such ring
            (.setVringAddr, [1, 2, 3]),                    // short payload
            (.setVringKick, FrontEnd.u64(0)),              // no descriptor came with it
            (.setVringKick, FrontEnd.u64(0x100)),          // polling mode
            (.setConfig, FrontEnd.config(offset: 0, size: 8)),
            (.setLogBase, FrontEnd.u64(0)),                // not negotiated, not supported
        ]
        for (request, payload) in cases {
            let reply = try #require(try s.send(request, payload, needReply: true, expectReply: true))
            #expect(PayloadReader(reply).u64(0) == 1, "\(request.specName) should fail")
        }
        // Unknown request numbers are logged and answered as failed too.
        _ = try Sockets.send(s.qemu, VhostUserHeader(request: 99, flags: 9, size: 0).bytes, descriptors: [])
        #expect(try s.backend.handleAvailable())
        let header = try VhostUserHeader(try s.qemu.read(upTo: 12))
        #expect(header.request == 99)
        #expect(PayloadReader(try s.qemu.read(upTo: 8)).u64(0) == 1)
        // Still serving.
        #expect(try s.send(.getQueueNum, expectReply: true).map { PayloadReader($0).u64(0) } == 2)
    }
}
