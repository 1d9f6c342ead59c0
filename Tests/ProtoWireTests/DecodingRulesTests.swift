import GuestProto
import ProtoWire
import Testing

/// proto3's decoding rules for encodings protoc would not write itself, each checked against what protoc
/// makes of the same bytes.
@Suite struct DecodingRulesTests {
    /// `bytes` decoded by us, after checking that protoc reads them as the same message (we decode protoc's
    /// re-encoding of them to the same value).
    static func decodedAsProtocDoes<M: WireMessage>(_ type: M.Type, _ bytes: [UInt8],
                                                    sourceLocation: SourceLocation = #_sourceLocation) throws -> M {
        let ours = try M(serializedBytes: bytes)
        let protocs = try M(serializedBytes: try Protoc.canonical(M.self, bytes))
        #expect(ours == protocs, "protoc reads \(bytes) as \(protocs), we read \(ours)", sourceLocation: sourceLocation)
        return ours
    }

    @Test func theLastValueOfASingularScalarWins() throws {
        let user = try Self.decodedAsProtocDoes(Guestkit_V1_User.self,
                                                Raw.varint(2, 5) + Raw.string(1, "a") + Raw.varint(2, 6) + Raw.string(1, "b"))
        #expect(user.uid == 6)
        #expect(user.spec == "b")

        let request = try Self.decodedAsProtocDoes(Guestkit_V1_StartProcessRequest.self,
                                                   Raw.varint(7, 1) + Raw.string(1, "first") + Raw.varint(7, 0) + Raw.string(1, ""))
        #expect(!request.terminal)
        #expect(request.id == "")

        let attach = try Self.decodedAsProtocDoes(Guestkit_V1_AttachStdioRequest.self, Raw.varint(2, 1) + Raw.varint(2, 3))
        #expect(attach.stream == .stderr)

        let timeout = try Self.decodedAsProtocDoes(Ttrpc_Request.self, Raw.varint(4, 9) + Raw.varint(4, UInt64(bitPattern: -4)))
        #expect(timeout.timeoutNano == -4)

        let payload = try Self.decodedAsProtocDoes(Ttrpc_Request.self, Raw.delimited(3, [1, 2, 3]) + Raw.delimited(3, [4]))
        #expect(payload.payload == [4])
    }

    @Test func aMessageFieldSeenTwiceIsMerged() throws {
        let first = Raw.string(1, "alice") + Raw.varint(2, 5) + Raw.delimited(4, [1, 2])
        let second = Raw.varint(3, 7) + Raw.delimited(4, [3])
        let request = try Self.decodedAsProtocDoes(Guestkit_V1_StartProcessRequest.self,
                                                   Raw.delimited(5, first) + Raw.string(1, "p") + Raw.delimited(5, second))
        #expect(request.id == "p")
        #expect(request.user == .with { $0.spec = "alice"; $0.uid = 5; $0.gid = 7; $0.additionalGids = [1, 2, 3] })
    }

    @Test func aLaterOccurrenceOfAMessageFieldOverridesTheScalarsItCarries() throws {
        let request = try Self.decodedAsProtocDoes(Guestkit_V1_StartProcessRequest.self,
                                                   Raw.delimited(5, Raw.varint(2, 5) + Raw.varint(3, 6))
                                                   + Raw.delimited(5, Raw.varint(2, 0) + Raw.varint(3, 8)))
        #expect(request.user.uid == 0)
        #expect(request.user.gid == 8)
    }

    @Test func mergingReachesMessagesNestedInMessages() throws {
        let response = try Self.decodedAsProtocDoes(Ttrpc_Response.self,
                                                    Raw.delimited(1, Raw.varint(1, 5) + Raw.delimited(3, Raw.string(1, "a")))
                                                    + Raw.delimited(2, [9])
                                                    + Raw.delimited(1, Raw.string(2, "gone") + Raw.delimited(3, Raw.string(1, "b"))))
        #expect(response.status.code == 5)
        #expect(response.status.message == "gone")
        #expect(response.status.details.map(\.typeURL) == ["a", "b"])
        #expect(response.payload == [9])
    }

    @Test func anEmptyOccurrenceOfAMessageFieldMakesItPresent() throws {
        let request = try Self.decodedAsProtocDoes(Guestkit_V1_StartProcessRequest.self, Raw.delimited(8, []))
        #expect(request.hasTerminalSize)
        #expect(!request.hasUser)
    }

    @Test func repeatedMessageElementsAreNotMerged() throws {
        let request = try Self.decodedAsProtocDoes(Guestkit_V1_StartProcessRequest.self,
                                                   Raw.delimited(6, Raw.string(1, "RLIMIT_CORE"))
                                                   + Raw.delimited(6, Raw.varint(2, 1)))
        #expect(request.rlimits == [.with { $0.type = "RLIMIT_CORE" }, .with { $0.soft = 1 }])
    }

    @Test(arguments: [
        (Raw.varint(4, 1) + Raw.varint(4, 2) + Raw.varint(4, 3), [1, 2, 3] as [UInt32]),
        (Raw.delimited(4, Raw.varint(1) + Raw.varint(2) + Raw.varint(3)), [1, 2, 3]),
        (Raw.delimited(4, [1, 2]) + Raw.varint(4, 300) + Raw.delimited(4, []) + Raw.delimited(4, Raw.varint(0xFFFF_FFFF)), [1, 2, 300, 0xFFFF_FFFF]),
        (Raw.varint(4, 0) + Raw.string(1, "x") + Raw.varint(4, 0), [0, 0]),
    ])
    func repeatedUInt32IsAcceptedPackedUnpackedAndMixed(bytes: [UInt8], gids: [UInt32]) throws {
        let user = try Self.decodedAsProtocDoes(Guestkit_V1_User.self, bytes)
        #expect(user.additionalGids == gids)
    }

    @Test(arguments: [
        Raw.varint(100, UInt64.max),
        Raw.varint(16, 1),
        Raw.fixed64(101, 0x0102_0304_0506_0708),
        Raw.delimited(102, []),
        Raw.delimited(102, [0x00, 0x07, 0xFF, 0xFF]),
        Raw.string(536_870_911, "highest field number"),
        Raw.fixed32(103, 0xDEAD_BEEF),
    ])
    func unknownFieldsAreSkippedAndTheKnownOnesAroundThemStillDecode(unknown: [UInt8]) throws {
        let known = Guestkit_V1_StartProcessRequest.with {
            $0.id = "p"
            $0.user = .with { $0.uid = 3; $0.additionalGids = [4] }
            $0.stdout = true
        }
        let userBytes = unknown + Raw.varint(2, 3) + unknown + Raw.delimited(4, [4]) + unknown
        let bytes = unknown + Raw.string(1, "p") + unknown + Raw.delimited(5, userBytes) + unknown + Raw.varint(10, 1) + unknown
        #expect(try Guestkit_V1_StartProcessRequest(serializedBytes: bytes) == known)
        #expect(try Protoc.accepts(Guestkit_V1_StartProcessRequest.self, bytes))
    }

    @Test func aFieldNumberUnknownHereButKnownElsewhereIsSkipped() throws {
        let bytes = Raw.string(1, "p") + Raw.delimited(5, Raw.string(1, "not a user")) + Raw.varint(10, 1)
        let attach = try Guestkit_V1_AttachStdioRequest(serializedBytes: bytes)
        #expect(attach == .with { $0.id = "p" })
    }

    @Test func fieldsMayComeInAnyOrder() throws {
        let forward = Samples.startProcess.serializedBytes()
        let reversed = Raw.string(15, "c1") + Raw.varint(10, 1) + Raw.varint(9, 1)
            + Raw.delimited(8, Raw.varint(2, 80) + Raw.varint(1, 24)) + Raw.varint(7, 1)
            + Raw.delimited(6, Raw.varint(3, 1 << 63) + Raw.string(1, "RLIMIT_CORE"))
        var expected = Samples.startProcess
        expected.id = ""
        expected.args = []
        expected.env = []
        expected.cwd = ""
        expected.clearUser()
        expected.rlimits = [Samples.startProcess.rlimits[2]]
        #expect(try Self.decodedAsProtocDoes(Guestkit_V1_StartProcessRequest.self, reversed) == expected)
        #expect(try Guestkit_V1_StartProcessRequest(serializedBytes: forward) == Samples.startProcess)
    }

    @Test func mapEntriesFollowProtocsRules() throws {
        let entries = Raw.delimited(10, Raw.string(1, "anon") + Raw.varint(2, 1))
            + Raw.delimited(10, Raw.varint(2, 9) + Raw.string(1, "file"))
            + Raw.delimited(10, Raw.string(1, "keyonly"))
            + Raw.delimited(10, Raw.varint(2, 4))
            + Raw.delimited(10, [])
            + Raw.delimited(10, Raw.string(1, "anon") + Raw.varint(2, 2))
            + Raw.delimited(10, Raw.string(1, "twice") + Raw.string(1, "renamed") + Raw.varint(2, 5) + Raw.varint(2, 6))
        let stats = try Self.decodedAsProtocDoes(Guestkit_V1_ContainerStatsResponse.self, entries)
        #expect(stats.memoryStat == ["anon": 2, "file": 9, "keyonly": 0, "": 0, "renamed": 6])
    }

    @Test func unknownFieldsInsideAMapEntryAreSkipped() throws {
        let entry = Raw.fixed32(3, 7) + Raw.string(1, "anon") + Raw.delimited(4, [0xFF]) + Raw.varint(2, 2) + Raw.fixed64(5, 1)
        let stats = try Guestkit_V1_ContainerStatsResponse(serializedBytes: Raw.delimited(11, entry) + Raw.varint(12, 3))
        #expect(stats.memoryEvents == ["anon": 2])
        #expect(stats.pidsCurrent == 3)
    }

    @Test func wideVarintsAreCutToTheFieldsWidth() throws {
        let user = try Self.decodedAsProtocDoes(Guestkit_V1_User.self, Raw.varint(2, 0x1_0000_0005) + Raw.delimited(4, Raw.varint(UInt64.max)))
        #expect(user.uid == 5)
        #expect(user.additionalGids == [UInt32.max])
        let response = try Self.decodedAsProtocDoes(Guestkit_V1_StartProcessResponse.self, Raw.varint(2, 0xFFFF_FFFF))
        #expect(response.pid == -1)
        let attach = try Self.decodedAsProtocDoes(Guestkit_V1_AttachStdioRequest.self, Raw.varint(2, 0x1_0000_0002))
        #expect(attach.stream == .stdout)
    }

    @Test func anyNonZeroVarintIsTrue() throws {
        let request = try Self.decodedAsProtocDoes(Guestkit_V1_StartProcessRequest.self,
                                                   Raw.varint(7, 2) + Raw.varint(9, 1 << 40) + Raw.varint(10, UInt64.max))
        #expect(request.terminal && request.stdin && request.stdout)
    }

    @Test func overlongVarintsWithinTenBytesAreAccepted() throws {
        let padded: [UInt8] = [0x10, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]
        let user = try Self.decodedAsProtocDoes(Guestkit_V1_User.self, padded)
        #expect(user.uid == 1)
        let paddedLength: [UInt8] = [0x0A, 0x81, 0x80, 0x00, 0x7A]
        #expect(try Self.decodedAsProtocDoes(Guestkit_V1_User.self, paddedLength).spec == "z")
    }
}
