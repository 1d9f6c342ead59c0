import Foundation
import GuestClient
import GuestProto
import GuestSys
import GuestTestSupport
import Testing

/// A Unix listener speaking the VMM side of Firecracker's hybrid vsock: it reads `CONNECT <port>\n` and
/// then does what `behaviour` says (answer OK and splice to a real agent, close, or answer nonsense).
final class FakeVMM: @unchecked Sendable {
    // `connectLines` is only touched under `lock`; the rest is immutable after init.
    enum Behaviour: Sendable {
        /// "OK <hostport>\n" then relay bytes both ways to this Unix socket (the guest's listener).
        case relay(to: String)
        /// Close right after reading CONNECT: no guest listener on that port.
        case close
        /// Answer with this line instead of OK.
        case answer(String)
    }

    let path: String
    private let listener: FileDescriptor
    private let behaviour: Behaviour
    private let lock = NSLock()
    private var connectLines: [String] = []

    var lines: [String] { lock.withLock { connectLines } }

    init(path: String, behaviour: Behaviour) throws {
        self.path = path
        self.behaviour = behaviour
        listener = try Sockets.listen(.unix(path), nonBlocking: false)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    private func acceptLoop() {
        while let connection = try? Sockets.accept(listener, nonBlocking: false) {
            Thread.detachNewThread { [self] in serve(connection) }
        }
    }

    private func serve(_ host: FileDescriptor) {
        var line: [UInt8] = []
        while line.last != UInt8(ascii: "\n"), let byte = try? host.read(upTo: 1), let b = byte.first { line.append(b) }
        lock.withLock { connectLines.append(String(decoding: line, as: UTF8.self)) }
        switch behaviour {
        case .close:
            host.closeQuietly()
        case .answer(let text):
            try? host.writeAll(text)
            host.closeQuietly()
        case .relay(let target):
            guard let guest = try? Sockets.connect(.unix(target)) else {
                host.closeQuietly()
                return
            }
            // The OK and the guest's first bytes may leave in one segment, as from a real VMM: the client
            // must not read past the newline.
            try? host.writeAll("OK 1073741824\n")
            Thread.detachNewThread {
                StreamCopy.copy(from: guest, to: host)
                try? Sockets.shutdown(host, .write)
            }
            StreamCopy.copy(from: host, to: guest)
            try? Sockets.shutdown(guest, .write)
        }
    }

    deinit { try? Sockets.shutdown(listener, .both) }
}

@Suite struct HybridHandshakeTests {
    @Test func connectsThroughTheVMMSocketAndSpeaksTtRPC() throws {
        let agent = try RunningAgent()
        let vmm = try FakeVMM(path: agent.scratch.file("vmm.sock"), behaviour: .relay(to: agent.socketPath))
        let client = try GuestClient("hybrid://\(vmm.path):1024")
        #expect(try client.info().agentVersion == "0.1.0")
        // Stdio streams are more connections through the same socket, each with its own CONNECT.
        var request = startRequestForEcho()
        request.stdout = true
        let started = try client.startProcess(request)
        let out = try client.attach(started.id, .stdout)
        defer { out.closeQuietly() }
        #expect(String(decoding: try out.readToEnd(), as: UTF8.self) == "through the vmm\n")
        #expect(try client.wait(started.id) == ProcessExit(code: 0, signal: 0))
        #expect(vmm.lines == ["CONNECT 1024\n", "CONNECT 1024\n"])
    }

    func startRequestForEcho() -> Guestkit_V1_StartProcessRequest {
        var request = Guestkit_V1_StartProcessRequest()
        request.args = ["echo", "through the vmm"]
        return request
    }

    @Test func vmmClosingTheSocketIsAClearError() throws {
        let scratch = try ScratchDirectory("hybrid")
        let vmm = try FakeVMM(path: scratch.file("vmm.sock"), behaviour: .close)
        let error = #expect(throws: GuestClientError.self) { try GuestClient("hybrid://\(vmm.path):2049") }
        #expect(error?.description == "the VMM at \(vmm.path) closed the connection after CONNECT 2049: nothing listens on guest vsock port 2049; is guest-agent running in the guest?")
        #expect(vmm.lines == ["CONNECT 2049\n"])
    }

    @Test func anAnswerOtherThanOKIsRefused() throws {
        let scratch = try ScratchDirectory("hybrid")
        let vmm = try FakeVMM(path: scratch.file("vmm.sock"), behaviour: .answer("ERR no such port\n"))
        let error = #expect(throws: GuestClientError.self) { try GuestClient("hybrid://\(vmm.path):1024") }
        #expect(error?.description.contains("answered CONNECT 1024 with \"ERR no such port\" instead of OK") == true)
    }

    @Test func noSocketIsAConnectError() throws {
        let error = #expect(throws: GuestClientError.self) { try GuestClient("hybrid:///nonexistent/vmm.sock:1024") }
        #expect(error?.description.hasPrefix("cannot connect to hybrid:///nonexistent/vmm.sock:1024") == true)
    }
}
