import GuestProto
import ProtoWire
import TTRPC

/// Frames from a peer: the decoder must cut any byte stream into the frames an encoder would have made,
/// refuse bad headers before buffering their payload, and never trap, whatever the read boundaries.
enum TTRPCFrameHarness {
    static func run(_ input: FuzzInput) {
        var input = input
        let chunk = Int(input.byte() % 64) + 1
        let limit = input.bool() ? FrameHeader.maxPayload : Int(input.u16())
        let stream = input.rest()
        var decoder = FrameDecoder(maxPayload: limit)
        var offset = 0
        var consumed = 0
        feeding: while offset < stream.count {
            let end = min(offset + chunk, stream.count)
            decoder.append(stream[offset..<end])
            offset = end
            while true {
                let frame: Frame?
                do { frame = try decoder.next() } catch {
                    // A refused header is caught before its payload arrives.
                    fuzzCheck(decoder.bufferedCount <= offset - consumed, "decoder holds more than it was given")
                    break feeding
                }
                guard let frame else { break }
                // What was decoded is exactly the bytes it came from, re-encoded.
                let encoded = frame.encoded()
                fuzzCheck(Array(stream[consumed..<consumed + encoded.count]) == encoded, "frame does not re-encode to its bytes")
                fuzzCheck(frame.payload.count <= limit, "payload over the decoder's limit")
                consumed += encoded.count
                _ = try? Ttrpc_Request(serializedBytes: frame.payload)
                _ = try? Ttrpc_Response(serializedBytes: frame.payload)
            }
        }
        let rest = decoder.takeRemainingBytes()
        fuzzCheck(rest.count <= stream.count - consumed, "remaining bytes exceed what was not consumed")
    }

    static var seeds: [[UInt8]] {
        var request = Ttrpc_Request()
        request.service = "guestkit.v1.Agent"
        request.method = "GetInfo"
        request.timeoutNano = 1_000_000_000
        let payload = request.serializedBytes()
        let one = Frame(streamID: 1, type: .request, payload: payload).encoded()
        let response = Frame(streamID: 1, type: .response, payload: [0x12, 0x02, 0x08, 0x05]).encoded()
        let data = Frame(streamID: 3, type: .data, flags: .remoteClosed, payload: []).encoded()
        var over: [UInt8] = []
        FrameHeader(length: 0xFFFF_FFFF, streamID: 5, type: 1).encode(into: &over)
        return [
            [10, 1] + one,
            [0, 1] + one + response + data,
            [3, 0, 0x10, 0x00] + one + one,
            [64, 1] + over,
            [1, 1] + data + [0, 0, 0],
        ]
    }
}
