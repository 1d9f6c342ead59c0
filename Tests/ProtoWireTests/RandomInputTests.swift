import GuestProto
import GuestTestSupport
import ProtoWire
import Testing

/// Arbitrary bytes, damaged encodings and every prefix of a valid encoding: each decodes or throws a
/// WireError (a trap would end the test run), and whatever decodes re-encodes to bytes that decode to it.
@Suite struct RandomInputTests {
    /// The outcome of decoding `bytes` as `M`: decoded or refused, checked for consistency when decoded.
    static func outcome<M: WireMessage>(_ bytes: [UInt8], as type: M.Type) -> Result<M, WireError> {
        let result = Result { () throws(WireError) -> M in try M(serializedBytes: bytes) }
        if case .success(let message) = result {
            let again = Result { () throws(WireError) -> M in try M(serializedBytes: message.serializedBytes()) }
            #expect(again == .success(message), "\(M.protoMessageName): \(bytes) decoded, but its re-encoding did not decode to it")
        }
        return result
    }

    static let types: [any WireMessage.Type] = [
        Guestkit_V1_StartProcessRequest.self, Guestkit_V1_GetInfoResponse.self, Guestkit_V1_ContainerStatsResponse.self,
        Guestkit_V1_ListContainersResponse.self, Guestkit_V1_User.self, Guestkit_V1_AttachStdioRequest.self,
        Guestkit_V1_WriteNetworkFilesRequest.self, Ttrpc_Request.self, Ttrpc_Response.self,
    ]

    static func decodes<M: WireMessage>(_ bytes: [UInt8], as type: M.Type) -> Bool {
        if case .success = outcome(bytes, as: M.self) { return true }
        return false
    }

    @Test func randomBytesDecodeOrThrowAWireError() {
        var random = SeededGenerator(seed: 0x5EED_0001)
        var decoded = 0
        var refused = 0
        for _ in 0..<3000 {
            let count = Int.random(in: 0...48, using: &random)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            for type in Self.types {
                if Self.decodes(bytes, as: type) { decoded += 1 } else { refused += 1 }
            }
        }
        #expect(decoded > 0)
        #expect(refused > 0)
    }

    /// Random bytes made of plausible tags (small field numbers, every wire type) and lengths, so decoding
    /// gets past the first byte and into nested messages.
    static func plausible(using random: inout SeededGenerator, depth: Int = 0) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<Int.random(in: 0...6, using: &random) {
            let number = Int.random(in: 0...17, using: &random)
            let wireType = [0, 0, 1, 2, 2, 2, 3, 5].randomElement(using: &random)!
            out += Raw.tag(number, wireType: wireType)
            switch wireType {
            case 0: out += Raw.varint(UInt64.random(in: 0...UInt64.max, using: &random) >> UInt64.random(in: 0...63, using: &random))
            case 2:
                let body = depth < 3 && Bool.random(using: &random)
                    ? plausible(using: &random, depth: depth + 1)
                    : (0..<Int.random(in: 0...6, using: &random)).map { _ in UInt8.random(in: 0x20...0xFF, using: &random) }
                out += Raw.varint(UInt64(body.count) &+ UInt64([0, 0, 0, 1, 2].randomElement(using: &random)!)) + body
            default:
                out += (0..<Int.random(in: 0...8, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            }
        }
        return out
    }

    @Test func plausibleButDamagedEncodingsDecodeOrThrowAWireError() {
        var random = SeededGenerator(seed: 0x5EED_0002)
        var decoded = 0
        for _ in 0..<3000 {
            let bytes = Self.plausible(using: &random)
            for type in Self.types where Self.decodes(bytes, as: type) { decoded += 1 }
        }
        #expect(decoded > 0)
    }

    static func mutated(_ bytes: [UInt8], using random: inout SeededGenerator) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let index = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0 where !bytes.isEmpty: bytes[index] = UInt8.random(in: 0...255, using: &random)
            case 1 where !bytes.isEmpty: bytes[index] ^= 1 << UInt8.random(in: 0...7, using: &random)
            case 2 where !bytes.isEmpty: bytes.remove(at: index)
            default: bytes.insert(UInt8.random(in: 0...255, using: &random), at: index)
            }
        }
        return bytes
    }

    static func checkMutations<M: WireMessage>(of message: M, using random: inout SeededGenerator) -> Int {
        let valid = message.serializedBytes()
        var decoded = 0
        for _ in 0..<500 where decodes(mutated(valid, using: &random), as: M.self) { decoded += 1 }
        return decoded
    }

    @Test(arguments: OurEncodingReadByProtocTests.samples)
    func mutatedEncodingsDecodeOrThrowAWireError(_ message: any WireMessage) {
        var random = SeededGenerator(seed: 0x5EED_0003)
        _ = Self.checkMutations(of: message, using: &random)
    }

    static func prefixOutcomes<M: WireMessage>(of message: M) -> (decoded: Int, refused: Int, whole: Bool) {
        let valid = message.serializedBytes()
        var decoded = 0
        var refused = 0
        for count in 0..<valid.count {
            if decodes(Array(valid.prefix(count)), as: M.self) { decoded += 1 } else { refused += 1 }
        }
        let whole = (try? M(serializedBytes: valid)) == message
        return (decoded, refused, whole)
    }

    @Test(arguments: OurEncodingReadByProtocTests.samples)
    func everyTruncationOfAValidEncodingDecodesOrThrowsAWireError(_ message: any WireMessage) {
        let outcomes = Self.prefixOutcomes(of: message)
        #expect(outcomes.whole)
        #expect(outcomes.decoded >= 1, "the empty prefix decodes to the empty message")
    }

    @Test func aTruncationInsideTheLastFieldIsRefused() {
        let bytes = Samples.startProcess.serializedBytes()
        let tail = Raw.string(15, "c1")
        #expect(Array(bytes.suffix(tail.count)) == tail)
        for cut in 1..<tail.count {
            let prefix = Array(bytes.dropLast(cut))
            #expect(!Self.decodes(prefix, as: Guestkit_V1_StartProcessRequest.self), "cut \(cut) of the last field decoded")
        }
        #expect(Self.decodes(Array(bytes.dropLast(tail.count)), as: Guestkit_V1_StartProcessRequest.self))
    }
}
