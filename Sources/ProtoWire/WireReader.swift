/// Reads one message's fields from bytes, checking every length and wire type against what is left.
/// A nested message gets its own reader over its bytes, so nothing it says can read past its end.
public struct WireReader: Sendable {
    private let bytes: [UInt8]
    private var index: Int
    private let end: Int

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.index = 0
        self.end = bytes.count
    }

    private init(_ bytes: [UInt8], from start: Int, to end: Int) {
        self.bytes = bytes
        self.index = start
        self.end = end
    }

    public var isAtEnd: Bool { index >= end }

    public mutating func varint() throws(WireError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard index < end else { throw WireError(.truncatedVarint) }
            guard shift < 64 else { throw WireError(.varintTooLong) }
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    public mutating func tag() throws(WireError) -> WireField {
        let key = try varint()
        let number = key >> 3
        guard number != 0 else { throw WireError(.fieldNumberZero) }
        guard number <= 0x1FFF_FFFF else { throw WireError(.fieldNumberTooLarge(number)) }
        guard let type = WireType(rawValue: Int(key & 7)) else { throw WireError(.unsupportedWireType(Int(key & 7))) }
        return WireField(number: Int(number), type: type)
    }

    /// Passes over a field the message does not know.
    public mutating func skip(_ field: WireField) throws(WireError) {
        switch field.type {
        case .varint: _ = try varint()
        case .fixed64: try advance(8)
        case .fixed32: try advance(4)
        case .lengthDelimited: try advance(try length())
        }
    }

    // MARK: scalars

    public mutating func uint64(_ field: WireField) throws(WireError) -> UInt64 {
        try expect(field, .varint)
        return try varint()
    }

    /// Keeps the low 32 bits, as every protobuf runtime does.
    public mutating func uint32(_ field: WireField) throws(WireError) -> UInt32 {
        UInt32(truncatingIfNeeded: try uint64(field))
    }

    public mutating func int64(_ field: WireField) throws(WireError) -> Int64 {
        Int64(bitPattern: try uint64(field))
    }

    public mutating func int32(_ field: WireField) throws(WireError) -> Int32 {
        Int32(truncatingIfNeeded: try uint64(field))
    }

    public mutating func bool(_ field: WireField) throws(WireError) -> Bool {
        try uint64(field) != 0
    }

    public mutating func enumValue<E: WireEnum>(_ field: WireField) throws(WireError) -> E {
        E(rawValue: Int(try int32(field)))
    }

    public mutating func string(_ field: WireField) throws(WireError) -> String {
        let range = try delimited(field)
        guard let text = String(validating: bytes[range], as: UTF8.self) else { throw WireError(.invalidUTF8) }
        return text
    }

    public mutating func bytes(_ field: WireField) throws(WireError) -> [UInt8] {
        Array(bytes[try delimited(field)])
    }

    // MARK: messages

    /// A reader over the next length-delimited value (a nested message or a map entry).
    public mutating func nested(_ field: WireField) throws(WireError) -> WireReader {
        let range = try delimited(field)
        return WireReader(bytes, from: range.lowerBound, to: range.upperBound)
    }

    /// Decodes a message field into `value`, merging with what an earlier occurrence set.
    public mutating func merge<M: WireMessage>(_ field: WireField, into value: inout M?) throws(WireError) {
        var inner = try nested(field)
        var message = value ?? M()
        try message.merge(from: &inner)
        value = message
    }

    /// Decodes one element of a repeated message field.
    public mutating func message<M: WireMessage>(_ field: WireField) throws(WireError) -> M {
        var inner = try nested(field)
        var message = M()
        try message.merge(from: &inner)
        return message
    }

    /// One element, or a packed run of elements, of a repeated varint field.
    public mutating func packed<T>(_ field: WireField, into values: inout [T], _ convert: (UInt64) -> T) throws(WireError) {
        switch field.type {
        case .varint:
            values.append(convert(try varint()))
        case .lengthDelimited:
            var inner = try nested(field)
            while !inner.isAtEnd { values.append(convert(try inner.varint())) }
        default:
            throw WireError(.wrongWireType(expected: .lengthDelimited, found: field.type))
        }
    }

    // MARK: plumbing

    private mutating func expect(_ field: WireField, _ type: WireType) throws(WireError) {
        guard field.type == type else { throw WireError(.wrongWireType(expected: type, found: field.type)) }
    }

    private mutating func length() throws(WireError) -> Int {
        let length = try varint()
        guard length <= UInt64(end - index) else {
            throw WireError(.truncated(needed: length > UInt64(Int.max) ? Int.max : Int(length), left: end - index))
        }
        return Int(length)
    }

    private mutating func advance(_ count: Int) throws(WireError) {
        guard count <= end - index else { throw WireError(.truncated(needed: count, left: end - index)) }
        index += count
    }

    private mutating func delimited(_ field: WireField) throws(WireError) -> Range<Int> {
        try expect(field, .lengthDelimited)
        let count = try length()
        defer { index += count }
        return index..<(index + count)
    }
}
