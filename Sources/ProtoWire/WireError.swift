/// Bytes that are not a valid encoding of the message they were decoded as: which message, which field, what was wrong.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong with the bytes.
    public enum Problem: Sendable, Equatable {
        case truncatedVarint
        case varintTooLong
        case truncated(needed: Int, left: Int)
        case fieldNumberZero
        case fieldNumberTooLarge(UInt64)
        case unsupportedWireType(Int)
        case wrongWireType(expected: WireType, found: WireType)
        case invalidUTF8
    }

    /// The protobuf name of the innermost message being decoded ("guestkit.v1.StartProcessRequest"), once known.
    public var message: String?
    /// The field of `message` whose bytes were bad, when the problem is inside one.
    public var field: Int?
    public var problem: Problem

    public init(_ problem: Problem, message: String? = nil, field: Int? = nil) {
        self.problem = problem
        self.message = message
        self.field = field
    }

    public var description: String {
        var text = "cannot decode"
        if let message { text += " " + message }
        if let field { text += " field \(field)" }
        text += ": "
        switch problem {
        case .truncatedVarint: text += "a varint runs past the end of the bytes"
        case .varintTooLong: text += "a varint is longer than 10 bytes"
        case .truncated(let needed, let left): text += "\(needed) bytes are needed but only \(left) are left"
        case .fieldNumberZero: text += "a tag carries field number 0, which protobuf does not allow"
        case .fieldNumberTooLarge(let number): text += "a tag carries field number \(number), above protobuf's 536870911"
        case .unsupportedWireType(let type): text += "wire type \(type) is not one protobuf 3 uses (groups are not supported)"
        case .wrongWireType(let expected, let found): text += "expected wire type \(expected), found \(found)"
        case .invalidUTF8: text += "a string field is not valid UTF-8"
        }
        return text + "; the peer's message does not match this schema"
    }
}
