import Foundation
import GuestClient
import GuestProto
import GuestSys
import GuestTestSupport
import Testing

/// The three stdio properties, each over 1,000 runs (four clients in parallel, 250 runs each):
/// the exit status comes after every byte, a background child holding the pipe does not delay it, and
/// output written before the host attaches is kept.
@Suite(.serialized) struct StdioRaceTests {
    static let runs = 1000
    static let workers = 4

    let agent: RunningAgent

    init() throws {
        agent = try RunningAgent()
    }

    /// Runs `body(client, run)` for every run number, spread over parallel workers; collects failures.
    func race(_ body: @escaping @Sendable (GuestClient, Int) throws -> String?) throws -> [String] {
        let failures = Locked<[String]>([])
        let address = agent.address
        DispatchQueue.concurrentPerform(iterations: Self.workers) { worker in
            do {
                let client = try GuestClient(address)
                for run in stride(from: worker, to: Self.runs, by: Self.workers) {
                    if let failure = try body(client, run) {
                        failures.update { $0.append("run \(run): \(failure)") }
                        if failures.get().count > 10 { return }
                    }
                }
            } catch {
                failures.update { $0.append("worker \(worker): \(error)") }
            }
        }
        return failures.get()
    }

    /// 1 MiB of random bytes, the same for every run. Data, not [UInt8]: appends and comparisons are
    /// memcpy/memcmp even in a debug build, which keeps 1,000 megabyte runs quick.
    func megabyteFile() throws -> (path: String, bytes: Data) {
        var generator = SystemRandomNumberGenerator()
        var bytes = Data(count: 1 << 20)
        bytes.withUnsafeMutableBytes { raw in
            for i in stride(from: 0, to: raw.count, by: 8) { raw.storeBytes(of: generator.next(), toByteOffset: i, as: UInt64.self) }
        }
        let path = agent.scratch.file("megabyte")
        try bytes.write(to: URL(fileURLWithPath: path))
        return (path, bytes)
    }

    /// Reads to end of file into Data.
    static func readData(_ fd: FileDescriptor) throws -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try fd.read(into: $0) }
            if n == 0 { return data }
            buffer.withUnsafeBytes { data.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    /// Waits (at most 30 s) until a child of `pid` sleeps in the kernel's pipe write (/proc/PID/wchan).
    static func waitUntilBlockedOnAPipe(childOf pid: Int32) -> Bool {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            for child in NamespacedInit.children(of: pid) {
                let wchan = (try? String(contentsOfFile: "/proc/\(child)/wchan", encoding: .utf8)) ?? ""
                if wchan.hasSuffix("pipe_write") { return true }
            }
            usleep(1000)
        }
        return false
    }

    @Test func exitStatusArrivesOnlyAfterEveryByte() throws {
        let (path, expected) = try megabyteFile()
        let failures = try race { client, run in
            // `head` writes the megabyte and exits at once; the exit code says which run this was.
            let started = try client.startProcess(startRequest(["sh", "-c", "head -c 1048576 \(path); exit \(run % 100)"]) {
                $0.stdout = true
            })
            let out = try client.attach(started.id, .stdout)
            defer { out.closeQuietly() }
            // Ask for the exit status before reading a byte, and note the moment it arrives.
            let exit = Locked<ProcessExit?>(nil)
            let arrived = DispatchSemaphore(value: 0)
            client.wait(started.id) { result in
                exit.set(try? result.get())
                arrived.signal()
            }
            var received = Data(capacity: 1 << 20)
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            func keep(_ n: Int) { buffer.withUnsafeBytes { received.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<n])) } }
            reading: while true {
                if exit.get() != nil {
                    // The status is here: every remaining byte and the EOF must already be in the socket.
                    // Read without waiting; EAGAIN here would mean the status overtook the data.
                    while true {
                        let result = buffer.withUnsafeMutableBytes { out.readNonBlockingPeek(into: $0) }
                        switch result {
                        case .bytes(let n): keep(n)
                        case .endOfFile: break reading
                        case .wouldBlock: return "exit status arrived with \(received.count) bytes delivered and no EOF yet"
                        case .failed(let error): return "read failed: \(error)"
                        }
                    }
                }
                guard try out.waitReadable(timeoutMilliseconds: 10) else { continue }
                let n = try buffer.withUnsafeMutableBytes { try out.read(into: $0) }
                if n == 0 { break }
                keep(n)
            }
            arrived.wait()
            guard let status = exit.get() else { return "WaitProcess failed" }
            if status != ProcessExit(code: Int32(run % 100), signal: 0) { return "status \(status)" }
            if received.count != expected.count { return "received \(received.count) of \(expected.count) bytes" }
            if received != expected { return "bytes differ" }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func backgroundChildHoldingThePipeDoesNotDelayTheExit() throws {
        let failures = try race { client, run in
            let started = try client.startProcess(startRequest(["sh", "-c", "sleep 100 & echo done"]) { $0.stdout = true })
            defer { try? Processes.signal(-started.pid, Signal.kill) }  // the sleeper, once checked
            let out = try client.attach(started.id, .stdout)
            defer { out.closeQuietly() }
            // 30 s is "promptly" on a loaded CI machine and still far from the sleeper's 100 s.
            let status = try client.wait(started.id, timeoutNanoseconds: 30_000_000_000)
            if status != ProcessExit(code: 0, signal: 0) { return "status \(status)" }
            let text = String(decoding: try readAll(out), as: UTF8.self)
            if text != "done\n" { return "output \(text.debugDescription)" }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)\nagent log:\n\(agent.logText.suffix(3000))")
    }

    @Test func outputWrittenBeforeTheHostAttachesIsKept() throws {
        let (path, megabyte) = try megabyteFile()
        let failures = try race { client, run in
            // Even runs: a line, then exit before anyone attaches. Odd runs: a megabyte, far more than the
            // pipe holds, so the process is blocked on it until the host attaches.
            let small = run % 2 == 0
            let script = small ? "echo early-\(run); exit 7" : "head -c 1048576 \(path); exit 8"
            let started = try client.startProcess(startRequest(["sh", "-c", script]) { $0.stdout = true })
            var state: Guestkit_V1_ProcessState = .unspecified
            if small {
                for _ in 0..<100_000 {
                    state = try client.listProcesses().first { $0.id == started.id }?.state ?? .unspecified
                    if state == .exited { break }
                }
                if state != .exited { return "the small writer never exited before attaching" }
            } else {
                // Large: `head` must end up blocked writing into the full pipe, and the process still running.
                if !Self.waitUntilBlockedOnAPipe(childOf: started.pid) { return "the megabyte writer never blocked on its pipe" }
                state = try client.listProcesses().first { $0.id == started.id }?.state ?? .unspecified
                if state != .running { return "the megabyte writer finished without a reader (state \(state))" }
            }
            let out = try client.attach(started.id, .stdout)
            defer { out.closeQuietly() }
            let received = try Self.readData(out)
            let status = try client.wait(started.id)
            if small {
                if received != Data("early-\(run)\n".utf8) { return "small output \(received.count) bytes" }
                if status != ProcessExit(code: 7, signal: 0) { return "status \(status)" }
            } else {
                if received != megabyte { return "large output \(received.count) bytes" }
                if status != ProcessExit(code: 8, signal: 0) { return "status \(status)" }
            }
            return nil
        }
        #expect(failures.isEmpty, "\(failures)")
    }
}

extension FileDescriptor {
    /// A non-blocking read on a blocking socket (MSG_DONTWAIT), for checking what has already arrived.
    func readNonBlockingPeek(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        let n = recv(rawValue, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
        if n > 0 { return .bytes(n) }
        if n == 0 { return .endOfFile }
        if errno == EAGAIN { return .wouldBlock }
        return .failed(SysError("recv", [description], code: errno))
    }
}
