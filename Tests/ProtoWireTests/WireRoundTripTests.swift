import GuestProto
import ProtoWire
import Testing

/// What our encoder writes, and that our decoder reads it back.
@Suite struct WireRoundTripTests {
    @Test(arguments: OurEncodingReadByProtocTests.samples)
    func everySampleDecodesToItself(_ message: any WireMessage) throws {
        #expect(try Self.reencoded(message) == message.serializedBytes())
        #expect(try Self.decodesToItself(message))
    }

    static func reencoded<M: WireMessage>(_ message: M) throws -> [UInt8] {
        try M(serializedBytes: message.serializedBytes()).serializedBytes()
    }

    static func decodesToItself<M: WireMessage>(_ message: M) throws -> Bool {
        try M(serializedBytes: message.serializedBytes()) == message
    }

    static let messageTypes: [any WireMessage.Type] = [
        Guestkit_V1_GetInfoRequest.self, Guestkit_V1_GetInfoResponse.self, Guestkit_V1_User.self,
        Guestkit_V1_StartProcessRequest.self, Guestkit_V1_StartProcessResponse.self, Guestkit_V1_AttachStdioRequest.self,
        Guestkit_V1_AttachStdioResponse.self, Guestkit_V1_WaitProcessResponse.self, Guestkit_V1_ListProcessesResponse.self,
        Guestkit_V1_CreateContainerRequest.self, Guestkit_V1_ContainerInfo.self, Guestkit_V1_ContainerStateResponse.self,
        Guestkit_V1_ContainerStatsResponse.self, Guestkit_V1_ConfigureInterfaceRequest.self,
        Guestkit_V1_WriteNetworkFilesRequest.self, Ttrpc_Request.self, Ttrpc_Response.self, Ttrpc_Status.self, Ttrpc_Any.self,
    ]

    static func emptyEncoding<M: WireMessage>(_ type: M.Type) -> [UInt8] { M().serializedBytes() }

    static func decodesEmpty<M: WireMessage>(_ type: M.Type) throws -> Bool { try M(serializedBytes: []) == M() }

    @Test func anEmptyMessageEncodesToNoBytesAndNoBytesDecodeToAnEmptyMessage() throws {
        for type in Self.messageTypes {
            #expect(Self.emptyEncoding(type) == [], "\(type)")
            #expect(try Self.decodesEmpty(type), "\(type)")
        }
    }

    @Test func fieldsSetToTheirDefaultsAreNotWritten() {
        let request = Guestkit_V1_StartProcessRequest.with {
            $0.id = ""
            $0.args = []
            $0.terminal = false
            $0.containerID = ""
        }
        #expect(request.serializedBytes() == [])
        let attach = Guestkit_V1_AttachStdioRequest.with { $0.stream = .unspecified }
        #expect(attach.serializedBytes() == [])
        #expect(Guestkit_V1_AttachStdioRequest.with { $0.stream = .UNRECOGNIZED(0) }.serializedBytes() == [])
        let stats = Guestkit_V1_ContainerStatsResponse.with { $0.memoryStat = [:]; $0.cpuUsageUsec = 0; $0.io = [] }
        #expect(stats.serializedBytes() == [])
        let call = Ttrpc_Request.with { $0.payload = []; $0.timeoutNano = 0; $0.metadata = [] }
        #expect(call.serializedBytes() == [])
        #expect(Guestkit_V1_User.with { $0.additionalGids = [] }.serializedBytes() == [])
    }

    @Test func aMessageFieldSetToItsDefaultsIsStillWritten() throws {
        var request = Guestkit_V1_StartProcessRequest()
        request.user = Guestkit_V1_User()
        #expect(request.hasUser)
        #expect(request.serializedBytes() == [0x2A, 0x00])
        #expect(try Guestkit_V1_StartProcessRequest(serializedBytes: [0x2A, 0x00]).hasUser)
        request.clearUser()
        #expect(!request.hasUser)
        #expect(request.serializedBytes() == [])
        #expect(request == Guestkit_V1_StartProcessRequest())
    }

    @Test func defaultElementsOfRepeatedFieldsAndMapsAreWritten() {
        #expect(Guestkit_V1_StartProcessRequest.with { $0.args = [""] }.serializedBytes() == [0x12, 0x00])
        #expect(Guestkit_V1_StartProcessRequest.with { $0.rlimits = [Guestkit_V1_Rlimit()] }.serializedBytes() == [0x32, 0x00])
        #expect(Guestkit_V1_User.with { $0.additionalGids = [0] }.serializedBytes() == [0x22, 0x01, 0x00])
        #expect(Guestkit_V1_ContainerStatsResponse.with { $0.memoryStat = ["": 0] }.serializedBytes() == [0x52, 0x00])
    }

    @Test func negativeInt32IsSignExtendedToTenBytes() throws {
        let bytes = Samples.startProcessResponse.serializedBytes()
        #expect(bytes == Raw.string(1, "p7") + [0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        let negativeEnum = Samples.attachNegativeStream.serializedBytes()
        #expect(negativeEnum == [0x10, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(try Guestkit_V1_AttachStdioRequest(serializedBytes: negativeEnum).stream == .UNRECOGNIZED(-2))
    }

    @Test func extremeIntegersSurviveTheRoundTrip() throws {
        let wait = Guestkit_V1_WaitProcessResponse.with {
            $0.exitCode = Int32.min
            $0.signal = Int32.max
            $0.exitedBoottimeNs = UInt64.max
        }
        #expect(try Guestkit_V1_WaitProcessResponse(serializedBytes: wait.serializedBytes()) == wait)
        for timeout in [Int64.min, -1, 1, Int64.max] {
            let request = Ttrpc_Request.with { $0.timeoutNano = timeout }
            #expect(try Ttrpc_Request(serializedBytes: request.serializedBytes()).timeoutNano == timeout)
        }
    }

    @Test func unknownEnumNumbersAreKeptAndNamedOnesAreNamed() throws {
        #expect(Guestkit_V1_StdioStream(rawValue: 2) == .stdout)
        #expect(Guestkit_V1_StdioStream(rawValue: 4) == .UNRECOGNIZED(4))
        #expect(Guestkit_V1_ContainerStatus(rawValue: 5) == .stopped)
        #expect(Samples.attachUnknownStream.serializedBytes() == Raw.string(1, "p1") + [0x10, 0x07])
        let decoded = try Guestkit_V1_AttachStdioRequest(serializedBytes: Samples.attachUnknownStream.serializedBytes())
        #expect(decoded.stream == .UNRECOGNIZED(7))
        #expect(decoded.stream.rawValue == 7)
    }

    @Test func mapEntriesAreWrittenInKeyOrderWhateverTheDictionarysOrder() {
        let stats = Guestkit_V1_ContainerStatsResponse.with { $0.memoryStat = ["b": 2, "c": 0, "a": 1] }
        #expect(stats.serializedBytes() == Raw.delimited(10, Raw.string(1, "a") + Raw.varint(2, 1))
            + Raw.delimited(10, Raw.string(1, "b") + Raw.varint(2, 2))
            + Raw.delimited(10, Raw.string(1, "c")))
    }

    @Test func fieldsAreWrittenInFieldNumberOrder() {
        let request = Guestkit_V1_SignalProcessRequest.with {
            $0.all = true
            $0.containerID = "c"
            $0.processGroup = true
            $0.signal = 9
            $0.id = "p"
        }
        #expect(request.serializedBytes() == Raw.string(1, "p") + Raw.varint(2, 9) + Raw.varint(3, 1) + Raw.string(15, "c")
            + [0x80, 0x01, 0x01])
    }

    @Test func aSliceThatDoesNotStartAtZeroDecodes() throws {
        let bytes = [0xEE, 0xEE, 0xEE] + Samples.startProcess.serializedBytes() + [0xEE]
        let slice = bytes[3..<(bytes.count - 1)]
        #expect(try Guestkit_V1_StartProcessRequest(serializedBytes: slice) == Samples.startProcess)
    }
}
