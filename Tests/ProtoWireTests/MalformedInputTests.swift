import GuestProto
import ProtoWire
import Testing

/// Bytes that are not a valid encoding: each is refused with a WireError that says what was wrong and where
/// (the innermost message and its field).
@Suite struct MalformedInputTests {
    static let start = Guestkit_V1_StartProcessRequest.protoMessageName
    static let user = Guestkit_V1_User.protoMessageName

    static func error<M: WireMessage>(decoding bytes: [UInt8], as type: M.Type) -> WireError? {
        do {
            _ = try M(serializedBytes: bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func aTruncatedVarintNamesItsField() {
        #expect(Self.error(decoding: [0x38, 0x80], as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.truncatedVarint, message: Self.start, field: 7))
        #expect(Self.error(decoding: Raw.string(1, "p") + [0x10, 0xFF, 0xFF], as: Guestkit_V1_StartProcessResponse.self)
            == WireError(.truncatedVarint, message: "guestkit.v1.StartProcessResponse", field: 2))
        #expect(Self.error(decoding: [0x0A], as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.truncatedVarint, message: Self.start, field: 1))
    }

    @Test func aTruncatedTagNamesTheMessageButNoField() {
        #expect(Self.error(decoding: Raw.string(1, "p") + [0x80], as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.truncatedVarint, message: Self.start, field: nil))
    }

    @Test func aVarintLongerThanTenBytesIsRefused() {
        let eleven: [UInt8] = Array(repeating: 0xFF, count: 10) + [0x01]
        #expect(Self.error(decoding: [0x38] + eleven, as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.varintTooLong, message: Self.start, field: 7))
        #expect(Self.error(decoding: [0x0A] + eleven + [0x61], as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.varintTooLong, message: Self.start, field: 1))
        #expect(Self.error(decoding: eleven, as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.varintTooLong, message: Self.start, field: nil))
        #expect(Self.error(decoding: Raw.tag(100, wireType: 0) + eleven, as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.varintTooLong, message: Self.start, field: 100))
    }

    @Test func aLengthRunningPastTheEndIsRefused() {
        #expect(Self.error(decoding: [0x0A, 0x05, 0x61], as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.truncated(needed: 5, left: 1), message: Self.start, field: 1))
        #expect(Self.error(decoding: [0x1A, 0x02], as: Ttrpc_Request.self)
            == WireError(.truncated(needed: 2, left: 0), message: "ttrpc.Request", field: 3))
        #expect(Self.error(decoding: [0x2A, 0x03, 0x08], as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.truncated(needed: 3, left: 1), message: Self.start, field: 5))
    }

    @Test func aLengthOfTwoToTheSixtyFourIsRefusedWithoutOverflowing() {
        let huge: [UInt8] = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x61]
        #expect(Self.error(decoding: huge, as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.truncated(needed: Int.max, left: 1), message: Self.start, field: 1))
        let unknown = Raw.tag(100, wireType: 2) + Raw.varint(UInt64(Int.max))
        #expect(Self.error(decoding: unknown, as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.truncated(needed: Int.max, left: 0), message: Self.start, field: 100))
    }

    @Test func aLengthInsideANestedMessageIsBoundedByThatMessageAndNamesIt() {
        let inner = [0x0A, 0x05, 0x61] as [UInt8]
        let bytes = Raw.delimited(5, inner) + [0x62, 0x63, 0x64, 0x65]
        #expect(Self.error(decoding: bytes, as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.truncated(needed: 5, left: 1), message: Self.user, field: 1))
    }

    @Test func anErrorTwoMessagesDownNamesTheInnermostOne() {
        let any = Raw.string(1, "t") + [0x12, 0x04, 0x00]
        let bytes = Raw.delimited(1, Raw.varint(1, 3) + Raw.delimited(3, any)) + Raw.delimited(2, [1, 2, 3, 4, 5])
        #expect(Self.error(decoding: bytes, as: Ttrpc_Response.self)
            == WireError(.truncated(needed: 4, left: 1), message: "ttrpc.Any", field: 2))
        let listed = Raw.delimited(1, Raw.string(1, "c") + Raw.delimited(12, [0xFF]))
        #expect(Self.error(decoding: listed, as: Guestkit_V1_ListContainersResponse.self)
            == WireError(.invalidUTF8, message: "guestkit.v1.ContainerInfo", field: 12))
    }

    @Test func aPackedRunEndsAtItsOwnLength() {
        #expect(Self.error(decoding: [0x22, 0x01, 0x80, 0x01], as: Guestkit_V1_User.self)
            == WireError(.truncatedVarint, message: Self.user, field: 4))
        #expect(Self.error(decoding: Raw.delimited(5, [0x22, 0x02, 0x01, 0x80]), as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.truncatedVarint, message: Self.user, field: 4))
    }

    @Test func unknownFieldsThatRunPastTheEndAreRefused() {
        #expect(Self.error(decoding: Raw.tag(100, wireType: 1) + [1, 2, 3], as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.truncated(needed: 8, left: 3), message: Self.start, field: 100))
        #expect(Self.error(decoding: Raw.tag(100, wireType: 5) + [1], as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.truncated(needed: 4, left: 1), message: Self.start, field: 100))
        #expect(Self.error(decoding: Raw.tag(100, wireType: 2) + [0x03, 0x00], as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.truncated(needed: 3, left: 1), message: Self.start, field: 100))
    }

    @Test(arguments: [
        (Raw.fixed32(1, 0), WireType.lengthDelimited, WireType.fixed32, 1),
        (Raw.varint(2, 1), .lengthDelimited, .varint, 2),
        (Raw.delimited(7, []), .varint, .lengthDelimited, 7),
        (Raw.fixed64(10, 1), .varint, .fixed64, 10),
        (Raw.varint(5, 1), .lengthDelimited, .varint, 5),
        (Raw.fixed32(6, 1), .lengthDelimited, .fixed32, 6),
    ])
    func aKnownFieldWithTheWrongWireTypeIsRefused(bytes: [UInt8], expected: WireType, found: WireType, field: Int) {
        #expect(Self.error(decoding: bytes, as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.wrongWireType(expected: expected, found: found), message: Self.start, field: field))
    }

    @Test func wrongWireTypesAreCaughtInNestedMessagesEnumsAndPackedFields() {
        #expect(Self.error(decoding: Raw.delimited(5, Raw.fixed64(4, 1)), as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.wrongWireType(expected: .lengthDelimited, found: .fixed64), message: Self.user, field: 4))
        #expect(Self.error(decoding: Raw.fixed32(2, 1), as: Guestkit_V1_AttachStdioRequest.self)
            == WireError(.wrongWireType(expected: .varint, found: .fixed32), message: "guestkit.v1.AttachStdioRequest", field: 2))
        #expect(Self.error(decoding: Raw.delimited(10, Raw.fixed32(2, 1)), as: Guestkit_V1_ContainerStatsResponse.self)
            == WireError(.wrongWireType(expected: .varint, found: .fixed32), message: "guestkit.v1.ContainerStatsResponse", field: 10))
    }

    static let invalidUTF8: [[UInt8]] = [
        [0xFF],
        [0x61, 0x80],
        [0xC0, 0x80],
        [0xE0, 0x80, 0xAF],
        [0xED, 0xA0, 0x80],
        [0xE2, 0x82],
        [0xF4, 0x90, 0x80, 0x80],
        [0xF8, 0x88, 0x80, 0x80, 0x80],
    ]

    @Test(arguments: invalidUTF8)
    func aStringThatIsNotUTF8IsRefusedAsProtocRefusesIt(text: [UInt8]) throws {
        #expect(Self.error(decoding: Raw.delimited(1, text), as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.invalidUTF8, message: Self.start, field: 1))
        #expect(Self.error(decoding: Raw.delimited(2, text), as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.invalidUTF8, message: Self.start, field: 2))
        #expect(Self.error(decoding: Raw.delimited(5, Raw.delimited(1, text)), as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.invalidUTF8, message: Self.user, field: 1))
        #expect(Self.error(decoding: Raw.delimited(10, Raw.delimited(1, text)), as: Guestkit_V1_ContainerStatsResponse.self)
            == WireError(.invalidUTF8, message: "guestkit.v1.ContainerStatsResponse", field: 10))
        #expect(try !Protoc.accepts(Guestkit_V1_StartProcessRequest.self, Raw.delimited(1, text)))
    }

    @Test func theSameBytesInABytesFieldAreAccepted() throws {
        for text in Self.invalidUTF8 {
            #expect(try Ttrpc_Request(serializedBytes: Raw.delimited(3, text)).payload == text)
        }
        let valid = Array("\u{0}\u{7F}\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000}\u{10FFFF}".utf8)
        #expect(try Guestkit_V1_StartProcessRequest(serializedBytes: Raw.delimited(1, valid)).id.utf8.elementsEqual(valid))
        #expect(try Protoc.accepts(Guestkit_V1_StartProcessRequest.self, Raw.delimited(1, valid)))
    }

    @Test(arguments: [[0x00, 0x00], [0x02, 0x00], [0x05, 0, 0, 0, 0], [0x80, 0x00, 0x01]] as [[UInt8]])
    func fieldNumberZeroIsRefused(bytes: [UInt8]) throws {
        #expect(Self.error(decoding: Raw.string(1, "p") + bytes, as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.fieldNumberZero, message: Self.start, field: nil))
        #expect(Self.error(decoding: Raw.delimited(5, bytes), as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.fieldNumberZero, message: Self.user, field: nil))
        #expect(try !Protoc.accepts(Guestkit_V1_StartProcessRequest.self, bytes))
    }

    @Test(arguments: [3, 4, 6, 7])
    func wireTypesProtobuf3DoesNotUseAreRefused(wireType: Int) {
        for number in [1, 7, 100] {
            let bytes = Raw.string(1, "p") + Raw.tag(number, wireType: wireType) + [0, 0, 0, 0, 0, 0, 0, 0]
            #expect(Self.error(decoding: bytes, as: Guestkit_V1_StartProcessRequest.self)
                == WireError(.unsupportedWireType(wireType), message: Self.start, field: nil))
        }
        #expect(Self.error(decoding: Raw.delimited(8, Raw.tag(1, wireType: wireType)), as: Guestkit_V1_StartProcessRequest.self)
            == WireError(.unsupportedWireType(wireType), message: "guestkit.v1.TerminalSize", field: nil))
    }

    @Test func aFieldNumberAboveTheProtobufMaximumIsRefused() throws {
        let highest = Raw.varint(536_870_911, 1)
        #expect(try Guestkit_V1_StartProcessRequest(serializedBytes: highest) == Guestkit_V1_StartProcessRequest())
        let beyond = Raw.varint(536_870_912, 1)
        let error = try #require(Self.error(decoding: beyond, as: Guestkit_V1_StartProcessRequest.self))
        #expect(error == WireError(.fieldNumberTooLarge(536_870_912), message: Self.start, field: nil))
        #expect(try !Protoc.accepts(Guestkit_V1_StartProcessRequest.self, beyond))
    }

    @Test func theErrorsDescriptionNamesMessageFieldAndProblem() throws {
        let error = try #require(Self.error(decoding: Raw.delimited(5, [0x0A, 0x05, 0x61]), as: Guestkit_V1_StartProcessRequest.self))
        #expect(error.description.contains("guestkit.v1.User field 1"))
        #expect(error.description.contains("5 bytes are needed but only 1 are left"))
        let wrongType = try #require(Self.error(decoding: Raw.fixed32(7, 0), as: Guestkit_V1_StartProcessRequest.self))
        #expect(wrongType.description.contains("guestkit.v1.StartProcessRequest field 7"))
        #expect(wrongType.description.contains("varint (0)") && wrongType.description.contains("32-bit (5)"))
    }
}
