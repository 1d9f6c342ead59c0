import GuestProto
import ProtoWire

/// What the server does with one incoming frame.
public enum FrameAction: Equatable {
    /// Send this response frame (already encoded, header included).
    case respond([UInt8])
    /// The handler took the call and will answer on this stream later (`MethodTable.encodeReply`).
    case deferred(streamID: UInt32)
    /// Nothing to send; the reason is worth a log line.
    case ignore(String)
    /// The peer broke the protocol: log the reason and close the connection.
    case close(String)
}

/// The request's envelope fields a handler may care about besides its message.
public struct CallInfo: Sendable {
    public let streamID: UInt32
    /// The caller's relative deadline in nanoseconds; 0 means none.
    public let timeoutNanoseconds: Int64
    public let metadata: [String: String]
}

/// The stream ids of one connection whose calls are still being answered. ttRPC forbids reusing an id
/// while its call is open; the server enforces that per connection.
public struct OpenStreams: Sendable {
    public private(set) var ids: Set<UInt32> = []
    public init() {}
    public var count: Int { ids.count }
    public mutating func finish(_ id: UInt32) { ids.remove(id) }
    mutating func open(_ id: UInt32) -> Bool { ids.insert(id).inserted }
}

/// Maps "service/method" to handlers and turns request frames into replies. Every handler error passes
/// through one function, `statusOf`, given by the owner: that is where domain errors become status codes.
/// `Context` is whatever the connection layer wants handlers to see (for the agent, the connection).
public struct MethodTable<Context> {
    public typealias RawHandler = (_ payload: [UInt8], _ info: CallInfo, _ context: Context) -> Result<[UInt8]?, RPCError>

    private var handlers: [String: RawHandler] = [:]
    private var services: Set<String> = []
    private let statusOf: (any Error) -> RPCError

    /// `statusOf` maps any error a handler throws to the status the caller sees.
    public init(statusOf: @escaping (any Error) -> RPCError) {
        self.statusOf = statusOf
    }

    /// Registers a unary method. The handler returns its response, or nil when it keeps the call and
    /// answers later through `encodeReply`.
    public mutating func register<Input: WireMessage, Output: WireMessage>(
        service: String, method: String, _ body: @escaping (Input, CallInfo, Context) throws -> Output?
    ) {
        register(service: service, method: method, inputName: Input.protoMessageName,
                 decode: { bytes throws(WireError) in try Input(serializedBytes: bytes) },
                 encode: { $0.serializedBytes() }, body)
    }

    /// Registers a unary method whose messages some other protobuf code encodes: `decode` and `encode`
    /// turn the payload into `Input` and `Output` into a payload. `inputName` names the request type in errors.
    public mutating func register<Input, Output>(
        service: String, method: String, inputName: String,
        decode: @escaping ([UInt8]) throws -> Input, encode: @escaping (Output) throws -> [UInt8],
        _ body: @escaping (Input, CallInfo, Context) throws -> Output?
    ) {
        let statusOf = self.statusOf
        services.insert(service)
        handlers[service + "/" + method] = { payload, info, context in
            let input: Input
            do {
                input = try decode(payload)
            } catch {
                return .failure(RPCError(.invalidArgument, "\(service)/\(method): payload is not a \(inputName): \(error)"))
            }
            do {
                guard let output = try body(input, info, context) else { return .success(nil) }
                return .success(try encode(output))
            } catch {
                return .failure(statusOf(error))
            }
        }
    }

    /// Handles one frame from a client. `streams` is the connection's set of open calls.
    public func handle(_ frame: Frame, streams: inout OpenStreams, context: Context) -> FrameAction {
        switch frame.type {
        case .response:
            return .close("client sent a response frame on stream \(frame.streamID)")
        case .data:
            return .ignore("data frame on stream \(frame.streamID): this server has no streaming calls")
        case .request:
            break
        }
        let id = frame.streamID
        if id % 2 == 0 {
            return .respond(Self.encodeReply(streamID: id, .failure(RPCError(
                .invalidArgument, "stream id \(id) is even; clients open streams with odd ids"))))
        }
        if streams.ids.contains(id) {
            return .close("stream \(id) reused while its call is still open")
        }
        let request: Ttrpc_Request
        do {
            request = try Ttrpc_Request(serializedBytes: frame.payload)
        } catch {
            return .respond(Self.encodeReply(streamID: id, .failure(RPCError(
                .invalidArgument, "request frame on stream \(id) is not a ttrpc.Request: \(error)"))))
        }
        if frame.flags.contains(.remoteOpen) {
            return .respond(Self.encodeReply(streamID: id, .failure(RPCError(
                .unimplemented, "\(request.service)/\(request.method): streaming calls are not supported"))))
        }
        guard let handler = handlers[request.service + "/" + request.method] else {
            let what = services.contains(request.service)
                ? "unknown method \(request.method) of service \(request.service)"
                : "unknown service \(request.service.isEmpty ? "\"\"" : request.service)"
            return .respond(Self.encodeReply(streamID: id, .failure(RPCError(.unimplemented, what))))
        }
        var metadata: [String: String] = [:]
        for pair in request.metadata { metadata[pair.key] = pair.value }
        let info = CallInfo(streamID: id, timeoutNanoseconds: request.timeoutNano, metadata: metadata)
        switch handler(request.payload, info, context) {
        case .success(let payload?):
            return .respond(Self.encodeReply(streamID: id, .success(payload)))
        case .success(nil):
            _ = streams.open(id)
            return .deferred(streamID: id)
        case .failure(let error):
            return .respond(Self.encodeReply(streamID: id, .failure(error)))
        }
    }

    /// A response frame: the encoded response message, or an error status. A response that would not fit
    /// in one frame (`FrameHeader.maxPayload`) becomes RESOURCE_EXHAUSTED instead: a peer rejects an
    /// over-limit frame and drops the whole connection, so the oversized answer must never be sent.
    public static func encodeReply(streamID: UInt32, _ result: Result<[UInt8], RPCError>) -> [UInt8] {
        var response = Ttrpc_Response()
        switch result {
        case .success(let payload):
            response.payload = payload
        case .failure(let error):
            response.status.code = error.code.rawValue
            response.status.message = error.message
        }
        var payload = response.serializedBytes()
        if payload.count > FrameHeader.maxPayload {
            var refused = Ttrpc_Response()
            refused.status.code = StatusCode.resourceExhausted.rawValue
            refused.status.message = "the response is \(payload.count) bytes, over ttRPC's \(FrameHeader.maxPayload)-byte frame limit"
            payload = refused.serializedBytes()
        }
        return Frame(streamID: streamID, type: .response, payload: payload).encoded()
    }

    /// A response frame carrying a message.
    public static func encodeReply<Output: WireMessage>(streamID: UInt32, message: Output) -> [UInt8] {
        encodeReply(streamID: streamID, .success(message.serializedBytes()))
    }
}
