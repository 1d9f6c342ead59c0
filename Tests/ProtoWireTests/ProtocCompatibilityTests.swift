import GuestProto
import ProtoWire
import Testing

/// Our encoding read by protoc, and protoc's encoding read by us.
@Suite struct OurEncodingReadByProtocTests {
    /// Every sample, and whether protoc writes exactly our bytes for it (map entries it writes with both
    /// key and value, even a default one, so a map's bytes may differ while meaning the same).
    static let samples: [any WireMessage] = [
        Samples.user, Samples.startProcess, Samples.startProcessResponse, Samples.waitProcessResponse,
        Samples.attachStderr, Samples.attachUnknownStream, Samples.attachNegativeStream, Samples.containers,
        Samples.stats, Samples.createContainer, Samples.getInfo, Samples.ttrpcRequest, Samples.ttrpcMinimumTimeout,
        Samples.ttrpcResponse, Samples.ttrpcEmptyStatus, Samples.networkFiles, Samples.interface,
    ]

    /// Ours, decoded by protoc to text, encoded by protoc again and decoded by us: the same message, and for
    /// messages without maps the same bytes. Returns protoc's text.
    @discardableResult
    static func throughProtoc<M: WireMessage>(_ message: M, sameBytes: Bool = true,
                                              sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let ours = message.serializedBytes()
        let text = try Protoc.decode(M.self, ours)
        let theirs = try Protoc.encode(M.self, text)
        let back = try M(serializedBytes: theirs)
        #expect(back == message, "\(M.protoMessageName) came back different; protoc read ours as:\n\(text)",
                sourceLocation: sourceLocation)
        if sameBytes {
            #expect(theirs == ours, "\(M.protoMessageName): protoc wrote \(theirs), we wrote \(ours)", sourceLocation: sourceLocation)
        }
        return text
    }

    @Test(arguments: samples)
    func everySampleComesBackFromProtocUnchanged(_ message: any WireMessage) throws {
        try Self.throughProtoc(message, sameBytes: !(message is Guestkit_V1_ContainerStatsResponse))
    }

    @Test func protocReadsEveryFieldOfAStartProcessRequestAsWritten() throws {
        let text = try Self.throughProtoc(Samples.startProcess)
        #expect(text == #"""
            id: "p1"
            args: "/bin/sh"
            args: "-c"
            args: "printf \'%s\\n\' \"h\303\251llo\" \360\237\230\200"
            env: "PATH=/usr/bin:/bin"
            env: "EMPTY="
            env: ""
            cwd: "/tmp"
            user {
              uid: 1000
              gid: 4294967295
              additional_gids: 0
              additional_gids: 1
              additional_gids: 127
              additional_gids: 128
              additional_gids: 65534
              additional_gids: 4294967295
            }
            rlimits {
              type: "RLIMIT_NOFILE"
              soft: 1024
              hard: 18446744073709551615
            }
            rlimits {
            }
            rlimits {
              type: "RLIMIT_CORE"
              hard: 9223372036854775808
            }
            terminal: true
            terminal_size {
              rows: 24
              columns: 80
            }
            stdin: true
            stdout: true
            container_id: "c1"

            """#)
    }

    @Test func protocReadsNegativeInt32AndInt64AsNegative() throws {
        #expect(try Self.throughProtoc(Samples.startProcessResponse) == "id: \"p7\"\npid: -1\n")
        let wait = try Self.throughProtoc(Samples.waitProcessResponse)
        #expect(wait == "exit_code: -2147483648\nsignal: 9\ncore_dumped: true\nexited_boottime_ns: 18446744073709551615\n")
        #expect(try Self.throughProtoc(Samples.ttrpcRequest).contains("\ntimeout_nano: -1000000000\n"))
        #expect(try Self.throughProtoc(Samples.ttrpcMinimumTimeout) == "timeout_nano: -9223372036854775808\n")
    }

    @Test func protocReadsEnumsByNameAndUnknownNumbersAsNumbers() throws {
        #expect(try Self.throughProtoc(Samples.attachStderr) == "id: \"p1\"\nstream: STDIO_STREAM_STDERR\ncontainer_id: \"c1\"\n")
        #expect(try Self.throughProtoc(Samples.attachUnknownStream) == "id: \"p1\"\nstream: 7\n")
        #expect(try Self.throughProtoc(Samples.attachNegativeStream) == "stream: -2\n")
        let containers = try Self.throughProtoc(Samples.containers)
        #expect(containers.contains("\n  status: CONTAINER_STATUS_PAUSED\n"))
        #expect(containers.contains("\n  status: 42\n"))
        #expect(containers.contains("  exec_ids: \"e1\"\n  exec_ids: \"e2\"\n"))
    }

    @Test func protocReadsMapEntriesAsKeyValuePairs() throws {
        let text = try Self.throughProtoc(Samples.stats, sameBytes: false)
        #expect(text.contains("memory_stat {\n  key: \"anon\"\n  value: 4096\n}\n"))
        #expect(text.contains("memory_stat {\n  key: \"file\"\n  value: 0\n}\n"))
        #expect(text.contains("memory_stat {\n  key: \"\"\n  value: 5\n}\n"))
        #expect(text.contains("memory_stat {\n  key: \"sl\\303\\244b\"\n  value: 18446744073709551615\n}\n"))
        #expect(text.contains("memory_events {\n  key: \"oom_kill\"\n  value: 2\n}\n"))
        #expect(text.components(separatedBy: "memory_stat {").count - 1 == 4)
    }

    @Test func protocReadsEveryByteValueOfABytesField() throws {
        let text = try Self.throughProtoc(Samples.createContainer)
        #expect(text.hasPrefix(#"id: "c1"\#nspec_json: "\000\001\002\003\004\005\006\007\010\t\n\013\014\r\016"#))
        #expect(text.contains(#"\374\375\376\377""#))
    }

    @Test func protocSeesAMessageFieldSetToItsDefaultsAsPresent() throws {
        let info = try Self.throughProtoc(Samples.getInfo)
        #expect(info.contains("\nmemory {\n}\n"))
        #expect(try Self.throughProtoc(Samples.ttrpcEmptyStatus) == "status {\n}\n")
    }
}

/// Text format written by hand, encoded by protoc, decoded by us.
@Suite struct ProtocEncodingReadByUsTests {
    @Test func aStartProcessRequestFromProtocHasEveryField() throws {
        let bytes = try Protoc.encode(Guestkit_V1_StartProcessRequest.self, #"""
            id: "h\303\251llo \360\237\230\200"
            args: "/bin/echo" args: "" args: "two words"
            env: "A=1"
            cwd: "/srv"
            user { spec: "nobody:nogroup" uid: 4294967295 additional_gids: [3, 0, 200000] }
            rlimits { type: "RLIMIT_NPROC" soft: 1 hard: 18446744073709551615 }
            rlimits { }
            terminal: true
            terminal_size { rows: 50 }
            stderr: true
            container_id: "box"
            """#)
        let request = try Guestkit_V1_StartProcessRequest(serializedBytes: bytes)
        #expect(request.id == "h\u{E9}llo \u{1F600}")
        #expect(request.args == ["/bin/echo", "", "two words"])
        #expect(request.env == ["A=1"])
        #expect(request.cwd == "/srv")
        #expect(request.hasUser)
        #expect(request.user.spec == "nobody:nogroup")
        #expect(request.user.uid == UInt32.max)
        #expect(request.user.gid == 0)
        #expect(request.user.additionalGids == [3, 0, 200_000])
        #expect(request.rlimits.count == 2)
        #expect(request.rlimits.first?.type == "RLIMIT_NPROC")
        #expect(request.rlimits.first?.soft == 1)
        #expect(request.rlimits.first?.hard == UInt64.max)
        #expect(request.rlimits.last == Guestkit_V1_Rlimit())
        #expect(request.terminal)
        #expect(request.hasTerminalSize)
        #expect(request.terminalSize.rows == 50 && request.terminalSize.columns == 0)
        #expect(!request.stdin && !request.stdout && request.stderr)
        #expect(request.containerID == "box")
    }

    @Test func negativeNumbersFromProtocDecodeAsNegative() throws {
        let response = try Guestkit_V1_StartProcessResponse(serializedBytes: try Protoc.encode(
            Guestkit_V1_StartProcessResponse.self, "pid: -2147483648"))
        #expect(response.pid == Int32.min)
        let wait = try Guestkit_V1_WaitProcessResponse(serializedBytes: try Protoc.encode(
            Guestkit_V1_WaitProcessResponse.self, "exit_code: -1 signal: 2147483647"))
        #expect(wait.exitCode == -1 && wait.signal == Int32.max)
        let request = try Ttrpc_Request(serializedBytes: try Protoc.encode(Ttrpc_Request.self, "timeout_nano: -1"))
        #expect(request.timeoutNano == -1)
        let minimum = try Ttrpc_Request(serializedBytes: try Protoc.encode(Ttrpc_Request.self, "timeout_nano: -9223372036854775808"))
        #expect(minimum.timeoutNano == Int64.min)
    }

    @Test func enumsFromProtocDecodeByNumberKeepingUnknownOnes() throws {
        let named = try Guestkit_V1_AttachStdioRequest(serializedBytes: try Protoc.encode(
            Guestkit_V1_AttachStdioRequest.self, "stream: STDIO_STREAM_STDOUT"))
        #expect(named.stream == .stdout)
        let unknown = try Guestkit_V1_AttachStdioRequest(serializedBytes: try Protoc.encode(
            Guestkit_V1_AttachStdioRequest.self, "stream: 99"))
        #expect(unknown.stream == .UNRECOGNIZED(99))
        #expect(unknown.stream.rawValue == 99)
        let negative = try Guestkit_V1_AttachStdioRequest(serializedBytes: try Protoc.encode(
            Guestkit_V1_AttachStdioRequest.self, "stream: -5"))
        #expect(negative.stream == .UNRECOGNIZED(-5))
        let state = try Guestkit_V1_ContainerStateResponse(serializedBytes: try Protoc.encode(
            Guestkit_V1_ContainerStateResponse.self, "container { id: \"c\" status: CONTAINER_STATUS_STOPPED exit_code: -9 }"))
        #expect(state.container.status == .stopped)
        #expect(state.container.exitCode == -9)
    }

    @Test func mapsFromProtocDecodeToDictionaries() throws {
        let bytes = try Protoc.encode(Guestkit_V1_ContainerStatsResponse.self, """
            memory_stat { key: "anon" value: 1 }
            memory_stat { key: "file" }
            memory_stat { value: 3 }
            memory_stat { key: "anon" value: 2 }
            memory_events { key: "oom" value: 18446744073709551615 }
            io { device: "8:0" write_bytes: 4 }
            pids_current: 7
            """)
        let stats = try Guestkit_V1_ContainerStatsResponse(serializedBytes: bytes)
        #expect(stats.memoryStat == ["anon": 2, "file": 0, "": 3])
        #expect(stats.memoryEvents == ["oom": UInt64.max])
        #expect(stats.io == [.with { $0.device = "8:0"; $0.writeBytes = 4 }])
        #expect(stats.pidsCurrent == 7)
    }

    @Test func bytesAndNestedRepeatedMessagesFromProtocDecode() throws {
        let bytes = try Protoc.encode(Ttrpc_Response.self, #"""
            status {
              code: 14
              message: "unavailable"
              details { type_url: "a" value: "\000\001\377" }
              details { }
              details { value: "x" }
            }
            payload: "\377\376"
            """#)
        let response = try Ttrpc_Response(serializedBytes: bytes)
        #expect(response.status.code == 14)
        #expect(response.status.message == "unavailable")
        #expect(response.status.details.map(\.typeURL) == ["a", "", ""])
        #expect(response.status.details.map(\.value) == [[0, 1, 255], [], [0x78]])
        #expect(response.payload == [255, 254])
    }

    @Test func aPresentEmptyMessageFromProtocIsPresent() throws {
        let bytes = try Protoc.encode(Guestkit_V1_GetInfoResponse.self, "memory {} features: \"x\"")
        let info = try Guestkit_V1_GetInfoResponse(serializedBytes: bytes)
        #expect(info.hasMemory)
        #expect(!info.hasRoot)
        #expect(info.memory == Guestkit_V1_MemoryInfo())
        #expect(info.features == ["x"])
    }
}
