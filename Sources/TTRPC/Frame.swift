// TTRPC owns the ttRPC wire: frame headers, a decoder for a byte stream of frames, gRPC status codes and a
// method table that turns a request into a reply. It makes no system calls: the agent and the client own
// their sockets and feed bytes in and take bytes out. Streaming calls (ttRPC 1.2) are not offered: every
// GuestKit RPC is unary and stdio travels on connections of its own (see agent.proto).
//
// Primer (containerd/ttrpc PROTOCOL.md). A connection carries messages, each a 10-byte header then the
// payload:
//
//     +----------------+----------------+--------+--------+
//     | length (u32 BE)| stream id (BE) | type   | flags  |   then `length` bytes of payload
//     +----------------+----------------+--------+--------+
//
// `length` counts the payload only and may not exceed 4 MiB. Type 1 is a request (payload: ttrpc.Request),
// 2 a response (payload: ttrpc.Response), 3 data (streams only). The client opens streams with odd ids,
// increasing; the response to a request carries the request's stream id. Request flags: 0x01 remote
// closed, 0x02 remote open (a streaming call); data flags: 0x01 remote closed, 0x04 no data. Errors are
// gRPC status codes inside the Response.

/// The message kinds of the header's type byte (PROTOCOL.md "Message Types").
public enum MessageType: UInt8, Sendable, Equatable {
    case request = 1
    case response = 2
    case data = 3
}

/// Header flag bits (PROTOCOL.md "Flags").
public struct FrameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Request and data: the sender will send nothing more on this stream.
    public static let remoteClosed = FrameFlags(rawValue: 0x01)
    /// Request: the sender keeps the stream open to send data (a client-streaming call).
    public static let remoteOpen = FrameFlags(rawValue: 0x02)
    /// Data: the message carries no payload.
    public static let noData = FrameFlags(rawValue: 0x04)
}

/// The fixed 10-byte header in front of every ttRPC message.
public struct FrameHeader: Sendable, Equatable {
    /// Header size in bytes.
    public static let size = 10
    /// The largest payload a peer may send (containerd/ttrpc channel.go messageLengthMax: 4 << 20).
    public static let maxPayload = 4 << 20

    public var length: UInt32
    public var streamID: UInt32
    /// The raw type byte; `MessageType(rawValue:)` names the known ones.
    public var type: UInt8
    public var flags: FrameFlags

    public init(length: UInt32, streamID: UInt32, type: UInt8, flags: FrameFlags = []) {
        self.length = length
        self.streamID = streamID
        self.type = type
        self.flags = flags
    }

    /// Reads a header from the first 10 bytes.
    public init<Bytes: Collection>(parsing bytes: Bytes) where Bytes.Element == UInt8 {
        precondition(bytes.count >= Self.size, "a ttRPC header is \(Self.size) bytes")
        var i = bytes.startIndex
        func next() -> UInt8 { defer { i = bytes.index(after: i) }; return bytes[i] }
        func u32() -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 { v = v << 8 | UInt32(next()) }
            return v
        }
        length = u32()
        streamID = u32()
        type = next()
        flags = FrameFlags(rawValue: next())
    }

    /// Appends the 10 header bytes to `out`.
    public func encode(into out: inout [UInt8]) {
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: length >> UInt32(shift))) }
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: streamID >> UInt32(shift))) }
        out.append(type)
        out.append(flags.rawValue)
    }
}

/// One whole ttRPC message: header fields and payload.
public struct Frame: Sendable, Equatable {
    public var streamID: UInt32
    public var type: MessageType
    public var flags: FrameFlags
    public var payload: [UInt8]

    public init(streamID: UInt32, type: MessageType, flags: FrameFlags = [], payload: [UInt8]) {
        self.streamID = streamID
        self.type = type
        self.flags = flags
        self.payload = payload
    }

    /// Header and payload, ready to write. The caller keeps payloads within `FrameHeader.maxPayload`.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(FrameHeader.size + payload.count)
        FrameHeader(length: UInt32(payload.count), streamID: streamID, type: type.rawValue, flags: flags)
            .encode(into: &out)
        out.append(contentsOf: payload)
        return out
    }
}
