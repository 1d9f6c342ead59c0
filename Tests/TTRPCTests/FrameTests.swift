import Testing
@testable import TTRPC

@Suite struct FrameHeaderTests {
    @Test(arguments: [
        // length, stream, type, flags, bytes on the wire (PROTOCOL.md: all big-endian)
        (UInt32(0), UInt32(1), UInt8(1), UInt8(0), [0, 0, 0, 0, 0, 0, 0, 1, 1, 0] as [UInt8]),
        (0x0102_0304, 0x0A0B_0C0D, 2, 0, [1, 2, 3, 4, 10, 11, 12, 13, 2, 0]),
        (4 << 20, 0xFFFF_FFFF, 3, 0x05, [0, 0x40, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 3, 5]),
    ])
    func encodesAndParses(length: UInt32, stream: UInt32, type: UInt8, flags: UInt8, wire: [UInt8]) {
        let header = FrameHeader(length: length, streamID: stream, type: type, flags: FrameFlags(rawValue: flags))
        var out: [UInt8] = []
        header.encode(into: &out)
        #expect(out == wire)
        #expect(FrameHeader(parsing: wire) == header)
    }

    @Test func frameEncodingPutsHeaderBeforePayload() {
        let bytes = Frame(streamID: 3, type: .data, flags: .remoteClosed, payload: [9, 8, 7]).encoded()
        #expect(bytes == [0, 0, 0, 3, 0, 0, 0, 3, 3, 1, 9, 8, 7])
    }
}

@Suite struct FrameDecoderTests {
    func frame(_ stream: UInt32, _ type: MessageType, _ payload: [UInt8]) -> [UInt8] {
        Frame(streamID: stream, type: type, payload: payload).encoded()
    }

    @Test(arguments: [0, 1, 5, 9])
    func truncatedHeaderWaitsForMore(count: Int) throws {
        var decoder = FrameDecoder()
        decoder.append(frame(1, .request, [1, 2]).prefix(count))
        #expect(try decoder.next() == nil)
        #expect(decoder.bufferedCount == count)
    }

    @Test func truncatedPayloadWaitsForMore() throws {
        var decoder = FrameDecoder()
        let bytes = frame(5, .request, Array(repeating: 7, count: 100))
        decoder.append(bytes.prefix(60))
        #expect(try decoder.next() == nil)
        decoder.append(bytes.dropFirst(60))
        let got = try #require(try decoder.next())
        #expect(got.streamID == 5 && got.payload.count == 100)
        #expect(try decoder.next() == nil)
    }

    @Test func byteByByteFeedYieldsEveryFrame() throws {
        let wire = frame(1, .request, [1]) + frame(3, .request, []) + frame(5, .data, (0..<200).map { UInt8($0) })
        var decoder = FrameDecoder()
        var frames: [Frame] = []
        for byte in wire {
            decoder.append([byte])
            while let f = try decoder.next() { frames.append(f) }
        }
        #expect(frames.map(\.streamID) == [1, 3, 5])
        #expect(frames[2].payload == (0..<200).map { UInt8($0) })
        #expect(frames[1].payload.isEmpty)
    }

    @Test(arguments: [UInt32(4 << 20) + 1, 0x7FFF_FFFF, 0xFFFF_FFFF])
    func overLimitLengthIsRefusedFromTheHeaderAlone(length: UInt32) {
        var decoder = FrameDecoder()
        var header: [UInt8] = []
        FrameHeader(length: length, streamID: 7, type: 1).encode(into: &header)
        decoder.append(header)  // no payload at all: the header is enough to refuse it
        #expect(throws: FrameError.payloadTooLarge(streamID: 7, length: length, limit: 4 << 20)) {
            try decoder.next()
        }
    }

    @Test func exactlyTheLimitIsAccepted() throws {
        var decoder = FrameDecoder()
        decoder.append(frame(1, .request, Array(repeating: 0, count: 4 << 20)))
        #expect(try decoder.next()?.payload.count == 4 << 20)
    }

    @Test(arguments: [UInt8(0), 4, 200])
    func unknownTypeIsAnError(type: UInt8) {
        var decoder = FrameDecoder()
        var bytes: [UInt8] = []
        FrameHeader(length: 0, streamID: 1, type: type).encode(into: &bytes)
        decoder.append(bytes)
        #expect(throws: FrameError.unknownType(streamID: 1, type: type)) { try decoder.next() }
    }

    @Test func remainingBytesAfterAFrameAreHandedOver() throws {
        var decoder = FrameDecoder()
        decoder.append(frame(1, .request, [1, 2, 3]) + [0xAA, 0xBB])
        _ = try decoder.next()
        #expect(decoder.takeRemainingBytes() == [0xAA, 0xBB])
        #expect(decoder.bufferedCount == 0)
    }
}
