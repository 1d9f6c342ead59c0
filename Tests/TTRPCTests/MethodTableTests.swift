import Foundation
import GuestProto
import ProtoWire
import Testing
@testable import TTRPC

/// A domain error the table's owner maps to a status code.
struct LookupFailure: Error { let name: String }

@Suite struct MethodTableTests {
    /// A table with one method (WaitProcess: answers with the context's length, defers for "later", fails
    /// for "missing").
    func table() -> MethodTable<String> {
        var table = MethodTable<String>(statusOf: { error in
            if let failure = error as? LookupFailure { return RPCError(.notFound, "no process \(failure.name)") }
            return RPCError(.internal, "\(error)")
        })
        table.register(service: "guestkit.v1.Agent", method: "WaitProcess") {
            (request: Guestkit_V1_WaitProcessRequest, _: CallInfo, context: String) -> Guestkit_V1_WaitProcessResponse? in
            if request.id == "later" { return nil }
            if request.id == "missing" { throw LookupFailure(name: request.id) }
            var response = Guestkit_V1_WaitProcessResponse()
            response.exitCode = Int32(context.count)
            return response
        }
        return table
    }

    func requestFrame(stream: UInt32, service: String = "guestkit.v1.Agent", method: String = "WaitProcess",
                      payload: [UInt8], flags: FrameFlags = []) throws -> Frame {
        var request = Ttrpc_Request()
        request.service = service
        request.method = method
        request.payload = payload
        return Frame(streamID: stream, type: .request, flags: flags, payload: request.serializedBytes())
    }

    func waitPayload(_ id: String) throws -> [UInt8] {
        var request = Guestkit_V1_WaitProcessRequest()
        request.id = id
        return request.serializedBytes()
    }

    /// Decodes a `.respond` action into its stream id and Response.
    func response(_ action: FrameAction) throws -> (UInt32, Ttrpc_Response) {
        guard case .respond(let bytes) = action else {
            Issue.record("expected a response, got \(action)")
            throw LookupFailure(name: "no response")
        }
        var decoder = FrameDecoder()
        decoder.append(bytes)
        let frame = try #require(try decoder.next())
        #expect(frame.type == .response)
        return (frame.streamID, try Ttrpc_Response(serializedBytes: frame.payload))
    }

    @Test func answersAKnownMethod() throws {
        var streams = OpenStreams()
        let action = table().handle(try requestFrame(stream: 1, payload: try waitPayload("p1")), streams: &streams,
                                    context: "abc")
        let (stream, reply) = try response(action)
        #expect(stream == 1)
        #expect(reply.status.code == 0)
        #expect(try Guestkit_V1_WaitProcessResponse(serializedBytes: reply.payload).exitCode == 3)
    }

    @Test(arguments: [
        ("guestkit.v1.Agent", "Nope", StatusCode.unimplemented, "unknown method Nope of service guestkit.v1.Agent"),
        ("grpc.AgentService", "WaitProcess", .unimplemented, "unknown service grpc.AgentService"),
        ("", "", .unimplemented, "unknown service \"\""),
    ])
    func unknownServicesAndMethodsAreUnimplemented(service: String, method: String, code: StatusCode,
                                                   message: String) throws {
        var streams = OpenStreams()
        let frame = try requestFrame(stream: 9, service: service, method: method, payload: [])
        let (stream, reply) = try response(table().handle(frame, streams: &streams, context: ""))
        #expect(stream == 9)
        #expect(reply.status.code == code.rawValue)
        #expect(reply.status.message == message)
    }

    @Test(arguments: [
        [0xFF, 0xFF, 0xFF] as [UInt8],   // truncated varint tag
        [0x0A, 0x10, 0x41],              // field 1 claims 16 bytes, has 1
        [0x07],                          // wire type 7 does not exist
    ])
    func garbageMethodPayloadIsInvalidArgument(garbage: [UInt8]) throws {
        var streams = OpenStreams()
        let (_, reply) = try response(table().handle(try requestFrame(stream: 3, payload: garbage),
                                                     streams: &streams, context: ""))
        #expect(reply.status.code == StatusCode.invalidArgument.rawValue)
        #expect(reply.status.message.contains("not a guestkit.v1.WaitProcessRequest"))
    }

    @Test func garbageEnvelopeIsInvalidArgument() throws {
        var streams = OpenStreams()
        let frame = Frame(streamID: 11, type: .request, payload: [0x12, 0x7F, 0x00])
        let (stream, reply) = try response(table().handle(frame, streams: &streams, context: ""))
        #expect(stream == 11)
        #expect(reply.status.code == StatusCode.invalidArgument.rawValue)
        #expect(reply.status.message.contains("not a ttrpc.Request"))
    }

    @Test func evenStreamIDsAreRefused() throws {
        var streams = OpenStreams()
        let (stream, reply) = try response(table().handle(try requestFrame(stream: 2, payload: try waitPayload("p")),
                                                          streams: &streams, context: ""))
        #expect(stream == 2)
        #expect(reply.status.code == StatusCode.invalidArgument.rawValue)
    }

    @Test func handlerErrorsGoThroughTheOwnersMapping() throws {
        var streams = OpenStreams()
        let (_, reply) = try response(table().handle(try requestFrame(stream: 1, payload: try waitPayload("missing")),
                                                     streams: &streams, context: ""))
        #expect(reply.status.code == StatusCode.notFound.rawValue)
        #expect(reply.status.message == "no process missing")
    }

    @Test func deferredCallsHoldTheirStreamUntilFinished() throws {
        var streams = OpenStreams()
        let t = table()
        let frame = try requestFrame(stream: 5, payload: try waitPayload("later"))
        #expect(t.handle(frame, streams: &streams, context: "") == .deferred(streamID: 5))
        #expect(streams.ids == [5])
        guard case .close(let reason) = t.handle(frame, streams: &streams, context: "") else {
            Issue.record("reusing an open stream must close the connection")
            return
        }
        #expect(reason.contains("stream 5"))
        streams.finish(5)
        #expect(t.handle(frame, streams: &streams, context: "") == .deferred(streamID: 5))
    }

    @Test func streamingRequestsAreUnimplemented() throws {
        var streams = OpenStreams()
        let frame = try requestFrame(stream: 7, payload: try waitPayload("p"), flags: .remoteOpen)
        let (_, reply) = try response(table().handle(frame, streams: &streams, context: ""))
        #expect(reply.status.code == StatusCode.unimplemented.rawValue)
    }

    @Test func responseFramesFromAClientCloseTheConnection() {
        var streams = OpenStreams()
        let action = table().handle(Frame(streamID: 1, type: .response, payload: []), streams: &streams, context: "")
        guard case .close = action else {
            Issue.record("expected close, got \(action)")
            return
        }
    }

    @Test func aResponseOverTheFrameLimitBecomesResourceExhausted() throws {
        let bytes = MethodTable<String>.encodeReply(streamID: 7, .success([UInt8](repeating: 1, count: FrameHeader.maxPayload)))
        #expect(bytes.count < 1024)
        var decoder = FrameDecoder()
        decoder.append(bytes)
        let frame = try #require(try decoder.next())
        #expect(frame.streamID == 7)
        let reply = try Ttrpc_Response(serializedBytes: frame.payload)
        #expect(StatusCode(wire: reply.status.code) == .resourceExhausted)
        #expect(reply.status.message.contains("over ttRPC's 4194304-byte frame limit"))
        // Just under the limit still goes out whole.
        let fits = MethodTable<String>.encodeReply(streamID: 9, .success([UInt8](repeating: 1, count: FrameHeader.maxPayload - 16)))
        #expect(fits.count - FrameHeader.size <= FrameHeader.maxPayload && fits.count > FrameHeader.maxPayload - 16)
    }

    @Test(arguments: StatusCode.allCases)
    func statusCodesRoundTripThroughTheWire(code: StatusCode) throws {
        let bytes = MethodTable<String>.encodeReply(streamID: 1, .failure(RPCError(code, "m")))
        var decoder = FrameDecoder()
        decoder.append(bytes)
        let reply = try Ttrpc_Response(serializedBytes: try #require(try decoder.next()).payload)
        #expect(StatusCode(wire: reply.status.code) == code)
    }
}
