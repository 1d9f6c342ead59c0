import GuestClient
import SwiftProtobuf
import TTRPC

// containerd's messages are SwiftProtobuf's (their .proto files use well-known types the guest's own
// generator does not cover). These overloads carry them over the same ttRPC table and channel the agent's
// messages use.

extension MethodTable {
    /// Registers a unary method of containerd's API.
    mutating func register<Input: SwiftProtobuf.Message, Output: SwiftProtobuf.Message>(
        service: String, method: String, _ body: @escaping (Input, CallInfo, Context) throws -> Output?
    ) {
        register(service: service, method: method, inputName: Input.protoMessageName,
                 decode: { try Input(serializedBytes: $0) }, encode: { try $0.serializedBytes() }, body)
    }
}

extension RPCChannel {
    /// A blocking call to a containerd service (the events service the shim publishes to).
    func call<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ method: String, _ request: Request, service: String, timeoutNanoseconds: Int64 = 0
    ) throws -> Response {
        try call(method, payload: try request.serializedBytes(), service: service, timeoutNanoseconds: timeoutNanoseconds,
                 responseName: Response.protoMessageName) { try Response(serializedBytes: $0) }
    }
}
