import Foundation
import GuestClient
import GuestProto
import GuestSys
import GuestTestSupport
import Testing

/// A peer that accepts connections and then does nothing: never reads, never answers (a wedged guest
/// behind its VMM socket). Optionally it first answers the hybrid handshake, as a VMM whose guest hangs.
final class SilentListener: @unchecked Sendable {
    // `held` is only touched under `lock`; the rest is immutable after init.
    let path: String
    private let listener: FileDescriptor
    private let lock = NSLock()
    private var held: [FileDescriptor] = []

    init(path: String, answerHandshake: Bool = false) throws {
        self.path = path
        listener = try Sockets.listen(.unix(path), nonBlocking: false)
        Thread.detachNewThread { [self] in
            while let connection = try? Sockets.accept(listener, nonBlocking: false) {
                if answerHandshake {
                    var line: [UInt8] = []
                    while line.last != UInt8(ascii: "\n"), let byte = try? connection.read(upTo: 1), let b = byte.first {
                        line.append(b)
                    }
                    try? connection.writeAll("OK 1073741824\n")
                }
                lock.withLock { held.append(connection) }
            }
        }
    }

    deinit {
        try? Sockets.shutdown(listener, .both)
        for fd in lock.withLock({ held }) { fd.closeQuietly() }
    }
}

/// Every call has a deadline: against a peer that accepts and never answers, calls fail with
/// `deadlineExceeded` instead of hanging (the time limits only stop a hung run; nothing is timed).
@Suite(.timeLimit(.minutes(2))) struct DeadlineTests {
    let scratch: ScratchDirectory

    init() throws {
        scratch = try ScratchDirectory("harden-deadline")
    }

    private func expectDeadline(_ body: () throws -> Void, mentioning method: String) {
        let error = #expect(throws: GuestClientError.self) { try body() }
        guard case .deadlineExceeded(let message)? = error else {
            Issue.record("expected deadlineExceeded, got \(String(describing: error))")
            return
        }
        #expect(message.contains(method), "\(message)")
    }

    @Test func aCallToAListenerThatNeverAnswersFailsAfterItsDeadline() throws {
        let silent = try SilentListener(path: scratch.file("agent.sock"))
        let client = try GuestClient("unix://\(silent.path)", callTimeout: .milliseconds(300))
        expectDeadline({ _ = try client.info() }, mentioning: "GetInfo")
        // The channel is still usable for the next call, which fails the same way.
        expectDeadline({ _ = try client.listProcesses() }, mentioning: "ListProcesses")
    }

    @Test func aHybridVMMWhoseGuestNeverAnswersFailsAfterTheDeadline() throws {
        let vmm = try SilentListener(path: scratch.file("vmm.sock"), answerHandshake: true)
        let client = try GuestClient("hybrid://\(vmm.path):1024", callTimeout: .milliseconds(300))
        expectDeadline({ _ = try client.info() }, mentioning: "GetInfo")
        expectDeadline({ _ = try client.attach("p1", .stdout) }, mentioning: "AttachStdio")
    }

    @Test func aWaitWithATimeoutIsBoundedToo() throws {
        let silent = try SilentListener(path: scratch.file("agent.sock"))
        let client = try GuestClient("unix://\(silent.path)", callTimeout: .milliseconds(200))
        expectDeadline({ _ = try client.wait("p1", timeoutNanoseconds: 100_000_000) }, mentioning: "WaitProcess")
    }

    @Test func aWriteToAPeerThatNeverReadsGivesUp() throws {
        let silent = try SilentListener(path: scratch.file("agent.sock"))
        let client = try GuestClient("unix://\(silent.path)", callTimeout: .milliseconds(300))
        // 3 MiB of arguments: under the frame limit, far over what the socket buffers hold.
        var request = Guestkit_V1_StartProcessRequest()
        request.args = ["true", String(repeating: "x", count: 3 << 20)]
        expectDeadline({ _ = try client.startProcess(request) }, mentioning: "StartProcess")
        // The half-written frame ended the channel: later calls fail at once, they do not hang.
        #expect(throws: GuestClientError.self) { _ = try client.info() }
    }
}
