import Foundation
import GuestClient
import GuestProto
import GuestSys
import GuestTestSupport
import ProtoWire
import Testing
import TTRPC

/// A hand-driven connection to the agent, for feeding it broken frames.
struct RawConnection {
    let fd: FileDescriptor

    init(_ agent: RunningAgent) throws {
        fd = try Sockets.connect(.unix(agent.socketPath))
    }

    func send(_ bytes: [UInt8]) throws { try fd.writeAll(bytes) }

    func request(stream: UInt32, service: String = "guestkit.v1.Agent", method: String, payload: [UInt8]) throws -> [UInt8] {
        var request = Ttrpc_Request()
        request.service = service
        request.method = method
        request.payload = payload
        return Frame(streamID: stream, type: .request, payload: request.serializedBytes()).encoded()
    }

    /// The next response frame, or nil when the agent closed the connection.
    func readResponse(timeoutMilliseconds: Int32 = 30_000) throws -> (stream: UInt32, response: Ttrpc_Response)? {
        guard let header = try readExactly(FrameHeader.size, timeoutMilliseconds: timeoutMilliseconds) else { return nil }
        let parsed = FrameHeader(parsing: header)
        #expect(parsed.type == MessageType.response.rawValue)
        guard let payload = try readExactly(Int(parsed.length), timeoutMilliseconds: timeoutMilliseconds) else { return nil }
        return (parsed.streamID, try Ttrpc_Response(serializedBytes: payload))
    }

    /// True when the agent closed its end (EOF or reset) within the timeout.
    func isClosedByAgent(timeoutMilliseconds: Int32 = 30_000) throws -> Bool {
        guard try fd.waitReadable(timeoutMilliseconds: timeoutMilliseconds) else { return false }
        do throws(SysError) {
            return try fd.read(upTo: 1).isEmpty
        } catch {
            if error.code == Errno.ECONNRESET { return true }
            throw error
        }
    }

    private func readExactly(_ count: Int, timeoutMilliseconds: Int32) throws -> [UInt8]? {
        var bytes: [UInt8] = []
        while bytes.count < count {
            guard try fd.waitReadable(timeoutMilliseconds: timeoutMilliseconds) else {
                throw RunningAgentError("no answer within \(timeoutMilliseconds) ms")
            }
            let chunk = try fd.read(upTo: count - bytes.count)
            if chunk.isEmpty { return nil }
            bytes += chunk
        }
        return bytes
    }

    func close() { fd.closeQuietly() }
}

/// Broken and hostile input on one connection never disturbs the agent or its other clients.
@Suite(.serialized) struct ProtocolTests {
    let agent: RunningAgent
    /// A client connected before the trouble starts, checked after it.
    let bystander: GuestClient

    init() throws {
        agent = try RunningAgent()
        bystander = try GuestClient(agent.address)
        _ = try bystander.info()
    }

    func bystanderStillServed() throws {
        #expect(agent.isAlive)
        #expect(try bystander.info().agentVersion == "0.1.0")
        let fresh = try GuestClient(agent.address)
        #expect(try fresh.info().agentVersion == "0.1.0")
    }

    @Test(arguments: [1, 5, 9])
    func truncatedHeaderThenCloseIsHarmless(count: Int) throws {
        let raw = try RawConnection(agent)
        try raw.send(Array(try raw.request(stream: 1, method: "GetInfo", payload: []).prefix(count)))
        raw.close()
        try bystanderStillServed()
    }

    @Test func truncatedPayloadIsWaitedForThenCompleted() throws {
        let raw = try RawConnection(agent)
        defer { raw.close() }
        let frame = try raw.request(stream: 1, method: "GetInfo", payload: [])
        try raw.send(Array(frame.prefix(12)))
        try bystanderStillServed()  // the agent serves others while this frame is incomplete
        try raw.send(Array(frame.dropFirst(12)))
        let reply = try #require(try raw.readResponse())
        #expect(reply.stream == 1 && reply.response.status.code == 0)
    }

    @Test(arguments: [UInt32(4 << 20) + 1, 0xFFFF_FFFF])
    func overLimitFrameGetsResourceExhaustedAndClosesOnlyThatConnection(length: UInt32) throws {
        let raw = try RawConnection(agent)
        defer { raw.close() }
        var header: [UInt8] = []
        FrameHeader(length: length, streamID: 3, type: MessageType.request.rawValue).encode(into: &header)
        try raw.send(header + [UInt8](repeating: 0x41, count: 1000))
        let reply = try #require(try raw.readResponse())
        #expect(reply.stream == 3)
        #expect(reply.response.status.code == StatusCode.resourceExhausted.rawValue)
        #expect(reply.response.status.message.contains("\(length)-byte payload"))
        #expect(try raw.isClosedByAgent())
        #expect(agent.logText.contains("over the 4194304-byte limit"), "the reason is logged")
        try bystanderStillServed()
    }

    @Test func unknownMessageTypeClosesTheConnection() throws {
        let raw = try RawConnection(agent)
        defer { raw.close() }
        var header: [UInt8] = []
        FrameHeader(length: 0, streamID: 1, type: 9).encode(into: &header)
        try raw.send(header)
        #expect(try raw.isClosedByAgent())
        #expect(agent.logText.contains("unknown message type 9"))
        try bystanderStillServed()
    }

    @Test func unknownServicesAndMethodsAreUnimplementedAndTheConnectionStaysUsable() throws {
        let raw = try RawConnection(agent)
        defer { raw.close() }
        try raw.send(try raw.request(stream: 1, service: "grpc.AgentService", method: "ExecProcess", payload: []))
        let first = try #require(try raw.readResponse())
        #expect(first.response.status.code == StatusCode.unimplemented.rawValue)
        #expect(first.response.status.message == "unknown service grpc.AgentService")
        try raw.send(try raw.request(stream: 3, method: "Teleport", payload: []))
        let second = try #require(try raw.readResponse())
        #expect(second.response.status.code == StatusCode.unimplemented.rawValue)
        try raw.send(try raw.request(stream: 5, method: "GetInfo", payload: []))
        let third = try #require(try raw.readResponse())
        #expect(third.stream == 5 && third.response.status.code == 0)
    }

    @Test func garbagePayloadsAreInvalidArgument() throws {
        let raw = try RawConnection(agent)
        defer { raw.close() }
        // Not a ttrpc.Request at all.
        try raw.send(Frame(streamID: 1, type: .request, payload: [0xFF, 0xFF, 0xFF, 0xFF]).encoded())
        let envelope = try #require(try raw.readResponse())
        #expect(envelope.response.status.code == StatusCode.invalidArgument.rawValue)
        // A good envelope around a payload that is not a StartProcessRequest.
        try raw.send(try raw.request(stream: 3, method: "StartProcess", payload: [0x0A, 0x50, 0x01]))
        let inner = try #require(try raw.readResponse())
        #expect(inner.response.status.code == StatusCode.invalidArgument.rawValue)
        #expect(inner.response.status.message.contains("guestkit.v1.StartProcessRequest"))
        // Even stream ids are the server's.
        try raw.send(try raw.request(stream: 4, method: "GetInfo", payload: []))
        let even = try #require(try raw.readResponse())
        #expect(even.stream == 4 && even.response.status.code == StatusCode.invalidArgument.rawValue)
        try bystanderStillServed()
    }

    /// Seeded, so every run sends the same bytes. Every third connection sends a well-framed request of
    /// random payload: the agent must answer it, and then answer a valid GetInfo on the same connection.
    /// The others send raw garbage and hang up.
    /// Thirty ignored frames on one connection: ten are logged, and the other twenty are counted in one line
    /// once their second is over, though the connection then stays open and silent.
    @Test func aFloodOfIgnoredFramesIsCountedWhenItsSecondEnds() throws {
        let marker = "more lines suppressed in the last second"
        func counts() -> [String] { agent.logText.split(separator: "\n").map(String.init).filter { $0.contains(marker) } }
        let before = counts().count
        let raw = try RawConnection(agent)
        defer { raw.close() }
        var flood: [UInt8] = []
        for stream in 0..<30 {
            FrameHeader(length: 0, streamID: UInt32(2 * stream + 1), type: MessageType.data.rawValue).encode(into: &flood)
        }
        try raw.send(flood)
        let reportBy = ContinuousClock.now + .seconds(10)
        while counts().count == before && ContinuousClock.now < reportBy { Thread.sleep(forTimeInterval: 0.05) }
        let new = counts().dropFirst(before)
        #expect(new.count == 1 && new.first?.contains(": 20 \(marker)") == true, "\(Array(new))")
        try bystanderStillServed()
    }

    @Test func randomBytesOnManyConnectionsNeverCrashTheAgent() throws {
        var generator = SeededGenerator(seed: 0x6775_6573_746B_6974)
        var answeredAfterGarbage = 0
        for round in 0..<200 {
            let raw = try RawConnection(agent)
            defer { raw.close() }
            let bytes = (0..<Int.random(in: 1...600, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            guard round % 3 == 0 else {
                try raw.send(bytes)
                continue
            }
            // A real header (its length, request type, no flags) in front of garbage reaches the decoders.
            try raw.send(Frame(streamID: 1, type: .request, payload: bytes).encoded())
            let garbage = try #require(try raw.readResponse(), "round \(round): no answer to a garbage request")
            #expect(garbage.stream == 1 && garbage.response.status.code != 0, "round \(round): \(garbage.response.status)")
            try raw.send(try raw.request(stream: 3, method: "GetInfo", payload: []))
            let valid = try #require(try raw.readResponse(), "round \(round): no answer to GetInfo after the garbage")
            #expect(valid.stream == 3 && valid.response.status.code == 0, "round \(round): \(valid.response.status)")
            answeredAfterGarbage += 1
        }
        #expect(answeredAfterGarbage == 67)
        try bystanderStillServed()
    }

    @Test func keepsAcceptingAfterConnectionsAreDroppedMidCall() throws {
        // Clients that vanish with a WaitProcess parked, with responses unread, or mid-frame.
        let started = try bystander.startProcess(startRequest(["sleep", "30"]))
        for i in 0..<50 {
            let raw = try RawConnection(agent)
            var wait = Guestkit_V1_WaitProcessRequest()
            wait.id = started.id
            try raw.send(try raw.request(stream: 1, method: "WaitProcess", payload: wait.serializedBytes()))
            for s in 0..<20 { try raw.send(try raw.request(stream: UInt32(3 + 2 * s), method: "GetInfo", payload: [])) }
            if i % 2 == 0 { try raw.send([0, 0, 1]) }
            raw.close()
        }
        try bystanderStillServed()
        // The 50 parked waits went with their connections: once killed, the process stays listed as
        // exited for a waiter to come (a stale waiter would have been "answered" and the process forgotten).
        try bystander.signal(started.id, Signal.kill)
        var state: Guestkit_V1_ProcessState?
        for _ in 0..<10_000 {
            state = try bystander.listProcesses().first { $0.id == started.id }?.state
            if state != .running { break }
            usleep(1000)
        }
        #expect(state == .exited, "the process must stay listed after its exit; its parked waiters were not released")
        #expect(try bystander.wait(started.id).signal == Signal.kill)
    }

    @Test func servesManyClientsAtOnce() throws {
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 32) { i in
            do {
                let client = try GuestClient(agent.address)
                for j in 0..<5 {
                    let result = try execute(client, startRequest(["sh", "-c", "echo \(i)-\(j)"]))
                    if result.stdoutText != "\(i)-\(j)\n" { failures.update { $0.append("\(i)-\(j): \(result.stdoutText)") } }
                }
            } catch {
                failures.update { $0.append("\(i): \(error)") }
            }
        }
        #expect(failures.get().isEmpty, "agent log:\n\(agent.logText)")
    }

    @Test func holdsAThousandLiveProcesses() throws {
        let before = openDescriptors(of: agent.pid)
        var ids: [String] = []
        for _ in 0..<1000 {
            // stdin and stdout declared, never attached: two held pipe ends per process.
            ids.append(try bystander.startProcess(startRequest(["cat"]) { $0.stdin = true; $0.stdout = true }).id)
        }
        let running = try bystander.listProcesses().filter { $0.state == .running }.count
        #expect(running >= 1000)
        #expect(openDescriptors(of: agent.pid) >= before + 2000)
        for id in ids { try bystander.closeStdin(id) }
        for id in ids {
            let out = try bystander.attach(id, .stdout)
            #expect(try readAll(out).isEmpty)
            out.closeQuietly()
            #expect(try bystander.wait(id) == ProcessExit(code: 0, signal: 0))
        }
        #expect(openDescriptors(of: agent.pid) <= before + 2, "descriptors of finished processes are released")
    }
}
