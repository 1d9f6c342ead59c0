import Foundation
import GuestClient
import GuestProto
import GuestSys
import GuestTestSupport
import ProtoWire
import Testing
import TTRPC

/// The agent under hosts that push it: pipelined requests with huge answers, more connections than it
/// serves, more parked calls and processes than it holds, a StartProcess stuck on a hung filesystem.
/// Nothing here is timed; bounded waits only stop a hung run.
@Suite(.serialized, .timeLimit(.minutes(5))) struct AgentLimitsTests {
    /// Arguments adding up to about 1 MiB (each under the kernel's 128 KiB per argument).
    static func megabyteArguments(_ tag: Int) -> [String] {
        ["sh", "-c", "exec sleep 1000", "sh"] + (0..<8).map { i in String(repeating: Character(UnicodeScalar(UInt8(97 + (tag + i) % 26))), count: 130_000) }
    }

    @Test func tenThousandPipelinedListProcessesKeepTheAgentSmall() throws {
        let agent = try RunningAgent()
        let client = try GuestClient(agent.address)
        let big = try client.startProcess(startRequest(Self.megabyteArguments(0)))
        defer { try? client.signal(big.id, Signal.kill) }
        let before = agent.residentKiB

        // Closed once, when this scope ends: a second close could hit a descriptor another test has just opened.
        do {
            let raw = try RawConnection(agent)
            defer { raw.close() }
            var requests: [UInt8] = []
            for i in 0..<10_000 { requests += try raw.request(stream: UInt32(2 * i + 1), method: "ListProcesses", payload: []) }
            // The agent stops taking requests once 4 MiB of answers wait: this write blocks until it is let go.
            let pipelined = requests
            let writer = Thread { try? raw.send(pipelined) }
            writer.start()
            var peak = 0
            for _ in 0..<40 {
                peak = max(peak, agent.residentKiB)
                usleep(50_000)
            }
            // Every answer read so far is whole and complete; the agent's memory stays where it was.
            for i in 0..<50 {
                let reply = try #require(try raw.readResponse(), "no answer \(i)")
                #expect(reply.stream == UInt32(2 * i + 1))
                let list = try Guestkit_V1_ListProcessesResponse(serializedBytes: reply.response.payload)
                #expect(list.processes.first { $0.id == big.id }?.args.count == 12)
                peak = max(peak, agent.residentKiB)
            }
            #expect(agent.isAlive)
            #expect(peak - before < 64 * 1024, "RSS grew from \(before) KiB to \(peak) KiB")
        }
        #expect(try GuestClient(agent.address).info().agentVersion == "0.1.0")
    }

    @Test func anAnswerOverTheFrameLimitIsResourceExhausted() throws {
        let agent = try RunningAgent()
        let client = try GuestClient(agent.address)
        var ids: [String] = []
        for tag in 0..<5 { ids.append(try client.startProcess(startRequest(Self.megabyteArguments(tag))).id) }
        defer { for id in ids { try? client.signal(id, Signal.kill) } }
        let error = #expect(throws: GuestClientError.self) { _ = try client.listProcesses() }
        #expect(error?.statusCode == .resourceExhausted)
        #expect(error?.description.contains("over ttRPC's 4194304-byte frame limit") == true, "\(String(describing: error))")
        // The connection was not dropped: the next call on it works.
        #expect(try client.info().agentVersion == "0.1.0")
    }

    @Test func theExcessOfFiveThousandConnectionsIsRefusedAndANewClientServedAfter() throws {
        let limit = try Processes.limit(Int32(RLIMIT_NOFILE.rawValue))
        try #require(limit.hard >= 12_000, "the test needs 5,000 connections (RLIMIT_NOFILE hard limit \(limit.hard))")
        try Processes.setLimit(Int32(RLIMIT_NOFILE.rawValue), soft: max(limit.soft, 12_000), hard: limit.hard)
        let agent = try RunningAgent()
        var connections: [RawConnection] = []
        defer { connections.forEach { $0.close() } }
        // Each asks at once: a refused connection that says nothing is closed after a grace period.
        for _ in 0..<5_000 {
            let connection = try RawConnection(agent)
            connections.append(connection)
            try connection.send(try connection.request(stream: 1, method: "GetInfo", payload: []))
        }
        var served = 0
        var refused = 0
        for connection in connections {
            let reply = try #require(try connection.readResponse())
            if reply.response.status.code == 0 {
                served += 1
            } else {
                #expect(StatusCode(wire: reply.response.status.code) == .resourceExhausted)
                #expect(reply.response.status.message.contains("serves at most 1024 connections"))
                refused += 1
            }
        }
        #expect(served == 1024 && refused == 3976, "served \(served), refused \(refused)")
        #expect(agent.logText.contains("refused: 1024 connections open"))
        connections.forEach { $0.close() }
        connections = []
        // Once they are gone, a new client is served (the agent sees the closes as they come).
        var info: Guestkit_V1_GetInfoResponse?
        for _ in 0..<200 where info == nil {
            info = try? GuestClient(agent.address).info()
            if info == nil { usleep(50_000) }
        }
        #expect(info?.agentVersion == "0.1.0")
        #expect(agent.isAlive)
    }

    @Test func parkedWaitsPerConnectionAreCapped() throws {
        let agent = try RunningAgent()
        let client = try GuestClient(agent.address)
        let sleeper = try client.startProcess(startRequest(["sleep", "1000"]))
        let raw = try RawConnection(agent)
        defer { raw.close() }
        var wait = Guestkit_V1_WaitProcessRequest()
        wait.id = sleeper.id
        let payload: [UInt8] = wait.serializedBytes()
        var frames: [UInt8] = []
        for i in 0..<1025 { frames += try raw.request(stream: UInt32(2 * i + 1), method: "WaitProcess", payload: payload) }
        try raw.send(frames)
        let refused = try #require(try raw.readResponse())
        #expect(refused.stream == 2049 && StatusCode(wire: refused.response.status.code) == .resourceExhausted)
        #expect(refused.response.status.message.contains("1024 WaitProcess calls parked"))
        // The parked ones are answered when the process ends.
        try client.signal(sleeper.id, Signal.kill)
        var answered = 0
        while answered < 1024, let reply = try raw.readResponse() {
            #expect(reply.response.status.code == 0)
            answered += 1
        }
        #expect(answered == 1024)
    }

    @Test func exitedProcessesNobodyWaitsForAreCapped() throws {
        let agent = try RunningAgent()
        let client = try GuestClient(agent.address)
        for _ in 0..<1024 { _ = try client.startProcess(startRequest(["true"])) }
        // All of them end; none is waited for.
        var exited = 0
        for _ in 0..<600 {
            exited = try client.listProcesses().filter { $0.state == .exited }.count
            if exited == 1024 { break }
            usleep(50_000)
        }
        #expect(exited == 1024)
        let error = #expect(throws: GuestClientError.self) { _ = try client.startProcess(startRequest(["true"])) }
        #expect(error?.statusCode == .resourceExhausted)
        #expect(error?.description.contains("1024 processes have exited and nobody waited for them") == true)
        // Collecting one makes room for one.
        let first = try #require(try client.listProcesses().first)
        _ = try client.wait(first.id)
        _ = try client.startProcess(startRequest(["true"]))
    }

    @Test func aGroupSignalAfterTheLeaderWasReapedIsRefused() throws {
        let agent = try RunningAgent()
        let client = try GuestClient(agent.address)
        let started = try client.startProcess(startRequest(["true"]))
        var state: Guestkit_V1_ProcessState?
        for _ in 0..<600 where state != .exited {
            state = try client.listProcesses().first { $0.id == started.id }?.state
            if state != .exited { usleep(20_000) }
        }
        let error = #expect(throws: GuestClientError.self) { try client.signal(started.id, Signal.kill, processGroup: true) }
        #expect(error?.statusCode == .failedPrecondition)
        #expect(error?.description.contains("no longer the agent's to signal") == true)
    }

    @Test func theUnixSocketIsTheOwnersOnly() throws {
        let agent = try RunningAgent()
        let mode = try FileSystem.status(agent.socketPath, followSymlinks: false).mode & 0o777
        #expect(mode == 0o600, "socket mode \(String(mode, radix: 8))")
    }

    @Test func aStartProcessStuckOnAHungFilesystemLeavesTheAgentServing() throws {
        try #require(getuid() == 0 && FileManager.default.fileExists(atPath: "/dev/fuse"), "needs root and /dev/fuse")
        let agent = try RunningAgent()
        let hung = try HungFilesystem(at: agent.scratch.file("hung"))
        defer { hung.release() }
        let stuck = try GuestClient(agent.address)
        let outcome = Locked<Result<Guestkit_V1_StartProcessResponse, GuestClientError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            outcome.set(Result { () throws(GuestClientError) in
                try stuck.startProcess(startRequest(["true"], cwd: hung.mountPoint + "/deeper", id: "stuck"))
            })
            done.signal()
        }
        // While that child waits on the filesystem, everyone else is served: calls, and new processes.
        let other = try GuestClient(agent.address)
        var listed = false
        for _ in 0..<600 where !listed {
            listed = try other.listProcesses().contains { $0.id == "stuck" }
            if !listed { usleep(20_000) }
        }
        #expect(listed, "the stuck process is listed while it starts")
        // Its child really is inside the filesystem, waiting for an answer that never comes.
        let pid = try #require(try other.listProcesses().first { $0.id == "stuck" }?.pid)
        // (FUSE's request_wait_answer; "fuse" in the name on other kernels.)
        func inFUSE(_ wchan: String) -> Bool { wchan.contains("fuse") || wchan == "request_wait_answer" }
        var wchan = ""
        for _ in 0..<600 where !inFUSE(wchan) {
            wchan = (try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8)) ?? ""
            if !inFUSE(wchan) { usleep(20_000) }
        }
        #expect(inFUSE(wchan), "the starting child waits in \(wchan)")
        #expect(outcome.get() == nil)
        #expect(try other.info().agentVersion == "0.1.0")
        let result = try execute(other, startRequest(["echo", "served"]))
        #expect(result.stdoutText == "served\n")
        // The filesystem goes away: the stuck start fails, naming its working directory.
        hung.release()
        done.wait()
        guard case .failure(let error)? = outcome.get() else {
            Issue.record("StartProcess on a hung filesystem succeeded: \(String(describing: outcome.get()))")
            return
        }
        #expect(error.description.contains("working directory \(hung.mountPoint)/deeper"), "\(error)")
        #expect(try other.listProcesses().allSatisfy { $0.id != "stuck" })
    }
}
