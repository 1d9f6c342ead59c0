/// How a field's value is laid out after its tag (the low three bits of the tag).
public enum WireType: Int, Sendable, Equatable, CustomStringConvertible {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5

    public var description: String {
        switch self {
        case .varint: "varint (0)"
        case .fixed64: "64-bit (1)"
        case .lengthDelimited: "length-delimited (2)"
        case .fixed32: "32-bit (5)"
        }
    }
}

/// One field's tag as read from the wire.
public struct WireField: Sendable, Equatable {
    public let number: Int
    public let type: WireType

    public init(number: Int, type: WireType) {
        self.number = number
        self.type = type
    }
}
