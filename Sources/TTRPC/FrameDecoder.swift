/// Why a byte stream stopped being a valid sequence of ttRPC frames. Either ends the connection: once a
/// header is wrong, nothing after it can be trusted to start at a frame boundary.
public enum FrameError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The header announced a payload longer than the 4 MiB limit.
    case payloadTooLarge(streamID: UInt32, length: UInt32, limit: Int)
    /// The type byte is none of request, response, data.
    case unknownType(streamID: UInt32, type: UInt8)

    public var streamID: UInt32 {
        switch self {
        case .payloadTooLarge(let id, _, _), .unknownType(let id, _): return id
        }
    }

    public var description: String {
        switch self {
        case .payloadTooLarge(let id, let length, let limit):
            return "frame on stream \(id) announces a \(length)-byte payload, over the \(limit)-byte limit"
        case .unknownType(let id, let type):
            return "frame on stream \(id) has unknown message type \(type)"
        }
    }
}

/// Cuts a byte stream into frames. Feed it whatever a read returned; take frames out until it has none.
/// A header is checked as soon as its 10 bytes are in, so an over-limit length is refused before any of
/// its payload is buffered.
public struct FrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    public let maxPayload: Int

    public init(maxPayload: Int = FrameHeader.maxPayload) {
        self.maxPayload = maxPayload
    }

    /// Bytes received but not yet returned as part of a frame.
    public var bufferedCount: Int { buffer.count - start }

    public mutating func append<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(..<start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        append(bytes.bindMemory(to: UInt8.self))
    }

    /// The next complete frame; nil when more bytes are needed. Throws when the stream is not ttRPC.
    public mutating func next() throws(FrameError) -> Frame? {
        guard bufferedCount >= FrameHeader.size else { return nil }
        let header = FrameHeader(parsing: buffer[start..<start + FrameHeader.size])
        guard Int(header.length) <= maxPayload else {
            throw .payloadTooLarge(streamID: header.streamID, length: header.length, limit: maxPayload)
        }
        guard let type = MessageType(rawValue: header.type) else {
            throw .unknownType(streamID: header.streamID, type: header.type)
        }
        let total = FrameHeader.size + Int(header.length)
        guard bufferedCount >= total else { return nil }
        let payload = Array(buffer[(start + FrameHeader.size)..<(start + total)])
        start += total
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 65536)
            start = 0
        }
        return Frame(streamID: header.streamID, type: type, flags: header.flags, payload: payload)
    }

    /// Hands over the bytes after the last returned frame and empties the decoder: when a connection stops
    /// speaking ttRPC (an attached stdio stream), these are the stream's first bytes.
    public mutating func takeRemainingBytes() -> [UInt8] {
        let rest = Array(buffer[start...])
        buffer = []
        start = 0
        return rest
    }
}
