import GuestProto
import ProtoWire
import TTRPC
@testable import GuestAgent

/// The agent's request path as far as it goes without a socket or a process: a connection's bytes are cut
/// into frames, each frame goes through a MethodTable registered with every guestkit.v1.Agent method and
/// its real request and response types; StartProcess requests are resolved into a LaunchPlan (PATH
/// search, user and group lookup, rlimits, terminal size) against an account database the input also
/// supplies. Handlers stop there: nothing is spawned or signalled. Every answer must be one response
/// frame, on the request's stream, within the frame limit.
enum AgentDispatchHarness {
    static let service = "guestkit.v1.Agent"

    static func run(_ input: FuzzInput) {
        var input = input
        let accounts = AccountDatabase(passwd: String(decoding: input.slice(long: true), as: UTF8.self),
                                       group: String(decoding: input.slice(long: true), as: UTF8.self))
        for spec in ["root", "0", "nobody:nogroup", "1000:1000", "daemon:0", ""] { _ = try? accounts.resolve(spec: spec) }
        _ = accounts.user(uid: 0)

        let table = makeTable(accounts: accounts)
        var streams = OpenStreams()
        var decoder = FrameDecoder()
        decoder.append(input.rest())
        while true {
            let frame: Frame?
            do { frame = try decoder.next() } catch { return }
            guard let frame else { return }
            switch table.handle(frame, streams: &streams, context: ()) {
            case .respond(let bytes):
                check(reply: bytes, stream: frame.streamID)
            case .deferred(let stream):
                fuzzCheck(streams.ids.contains(stream), "a deferred call's stream is not open")
                // The agent answers parked calls later; do it now, as an error.
                let reply = MethodTable<Void>.encodeReply(streamID: stream, .failure(AgentError.status(of: AgentError.noSuchProcess("p"))))
                check(reply: reply, stream: stream)
                streams.finish(stream)
            case .ignore, .close:
                break
            }
        }
    }

    private static func check(reply: [UInt8], stream: UInt32) {
        var decoder = FrameDecoder()
        decoder.append(reply)
        let frame: Frame?
        do { frame = try decoder.next() } catch { fatalError("the agent's own reply does not decode: \(error)") }
        guard let frame else { fatalError("the agent's reply is not one whole frame (\(reply.count) bytes)") }
        fuzzCheck(frame.type == .response && frame.streamID == stream, "reply on stream \(frame.streamID) to a request on \(stream)")
        fuzzCheck(decoder.bufferedCount == 0, "reply has bytes after its frame")
        fuzzCheck((try? Ttrpc_Response(serializedBytes: frame.payload)) != nil, "reply payload is not a ttrpc.Response")
    }

    /// The agent's methods with their real message types; handlers stop short of the system.
    private static func makeTable(accounts: AccountDatabase) -> MethodTable<Void> {
        var table = MethodTable<Void>(statusOf: AgentError.status(of:))
        table.register(service: service, method: "GetInfo") { (_: Guestkit_V1_GetInfoRequest, _, _) in
            Guestkit_V1_GetInfoResponse()
        }
        table.register(service: service, method: "StartProcess") { (request: Guestkit_V1_StartProcessRequest, _, _) in
            let plan = try LaunchPlan(request, accounts: { accounts },
                                      resolveProgram: { name, path in
                                          path.isEmpty || name.hasSuffix("missing") ? nil : (name.hasPrefix("/") ? name : "/usr/bin/" + name)
                                      },
                                      fileExists: { !$0.hasSuffix("missing") })
            fuzzCheck(!plan.program.isEmpty && plan.program.hasPrefix("/"), "a plan runs a relative program \(plan.program)")
            fuzzCheck(plan.environment.contains { $0.hasPrefix("PATH=") }, "a plan without PATH")
            var response = Guestkit_V1_StartProcessResponse()
            response.id = request.id.isEmpty ? "p1" : request.id
            return response
        }
        table.register(service: service, method: "AttachStdio") { (request: Guestkit_V1_AttachStdioRequest, _, _) in
            guard !request.id.isEmpty else { throw AgentError.noSuchProcess(request.id) }
            return Guestkit_V1_AttachStdioResponse()
        }
        table.register(service: service, method: "SignalProcess") { (request: Guestkit_V1_SignalProcessRequest, _, _) -> Guestkit_V1_SignalProcessResponse? in
            guard (0...64).contains(request.signal) else { throw AgentError.invalidRequest("signal \(request.signal)") }
            throw AgentError.failedPrecondition("process \(request.id) has already exited")
        }
        table.register(service: service, method: "WaitProcess") { (request: Guestkit_V1_WaitProcessRequest, info, _) -> Guestkit_V1_WaitProcessResponse? in
            // A waiter with a deadline parks; one without is answered at once.
            if info.timeoutNanoseconds > 0 { return nil }
            guard request.containerID.isEmpty else { throw AgentError.noSuchContainer(request.containerID) }
            return Guestkit_V1_WaitProcessResponse()
        }
        table.register(service: service, method: "ResizeTerminal") { (request: Guestkit_V1_ResizeTerminalRequest, _, _) in
            guard request.rows <= UInt16.max, request.columns <= UInt16.max else {
                throw AgentError.invalidRequest("terminal size \(request.rows)x\(request.columns)")
            }
            return Guestkit_V1_ResizeTerminalResponse()
        }
        table.register(service: service, method: "CloseStdin") { (_: Guestkit_V1_CloseStdinRequest, _, _) in
            Guestkit_V1_CloseStdinResponse()
        }
        table.register(service: service, method: "ListProcesses") { (request: Guestkit_V1_ListProcessesRequest, _, _) in
            guard request.containerID.isEmpty else { throw AgentError.noSuchContainer(request.containerID) }
            return Guestkit_V1_ListProcessesResponse()
        }
        table.register(service: service, method: "Shutdown") { (_: Guestkit_V1_ShutdownRequest, _, _) -> Guestkit_V1_ShutdownResponse? in
            throw AgentError.failedPrecondition("not started by guest-init")
        }
        return table
    }

    static var seeds: [[UInt8]] {
        let passwd = Array("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n".utf8)
        let group = Array("root:x:0:\nnogroup:x:65534:nobody\n".utf8)
        func prefix(_ text: [UInt8]) -> [UInt8] { [UInt8(text.count & 0xff), UInt8(text.count >> 8)] + text }
        func request(_ stream: UInt32, _ method: String, _ message: any WireMessage, timeout: Int64 = 0) -> [UInt8] {
            var envelope = Ttrpc_Request()
            envelope.service = service
            envelope.method = method
            envelope.payload = message.serializedBytes()
            envelope.timeoutNano = timeout
            return Frame(streamID: stream, type: .request, payload: envelope.serializedBytes()).encoded()
        }
        var start = Guestkit_V1_StartProcessRequest()
        start.args = ["sh", "-c", "echo hi"]
        start.env = ["A=1"]
        start.user.spec = "nobody:nogroup"
        var rlimit = Guestkit_V1_Rlimit()
        rlimit.type = "RLIMIT_NOFILE"
        rlimit.soft = 1024
        rlimit.hard = 4096
        start.rlimits = [rlimit]
        start.terminal = true
        start.terminalSize.rows = 24
        start.terminalSize.columns = 80
        var wait = Guestkit_V1_WaitProcessRequest()
        wait.id = "p1"
        var signal = Guestkit_V1_SignalProcessRequest()
        signal.id = "p1"
        signal.signal = 15
        signal.processGroup = true
        var attach = Guestkit_V1_AttachStdioRequest()
        attach.id = "p1"
        attach.stream = .stdout
        let accounts = prefix(passwd) + prefix(group)
        return [
            accounts + request(1, "GetInfo", Guestkit_V1_GetInfoRequest()) + request(3, "StartProcess", start),
            accounts + request(5, "WaitProcess", wait, timeout: 1000) + request(7, "WaitProcess", wait) + request(5, "WaitProcess", wait),
            accounts + request(9, "SignalProcess", signal) + request(11, "AttachStdio", attach) + request(13, "ListProcesses", Guestkit_V1_ListProcessesRequest()),
            [0, 0, 0, 0] + request(2, "Shutdown", Guestkit_V1_ShutdownRequest()) + request(15, "Nope", Guestkit_V1_GetInfoRequest()),
        ]
    }
}
