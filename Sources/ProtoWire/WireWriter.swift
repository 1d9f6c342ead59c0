/// Builds a message's encoding. The generated `encode(to:)` calls one method per field; each leaves out a
/// value equal to its proto3 default, so an empty message encodes to no bytes.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    public mutating func tag(_ number: Int, _ type: WireType) {
        varint(UInt64(number) << 3 | UInt64(type.rawValue))
    }

    /// A length-delimited field whose contents `body` writes (a nested message or a map entry).
    public mutating func lengthDelimited(_ number: Int, _ body: (inout WireWriter) -> Void) {
        var inner = WireWriter()
        body(&inner)
        tag(number, .lengthDelimited)
        varint(UInt64(inner.bytes.count))
        bytes.append(contentsOf: inner.bytes)
    }

    // MARK: singular fields (left out when default)

    public mutating func uint64(_ number: Int, _ value: UInt64) {
        guard value != 0 else { return }
        tag(number, .varint)
        varint(value)
    }

    public mutating func uint32(_ number: Int, _ value: UInt32) { uint64(number, UInt64(value)) }

    public mutating func int64(_ number: Int, _ value: Int64) { uint64(number, UInt64(bitPattern: value)) }

    /// Negative values take ten bytes: protobuf sign-extends int32 to 64 bits on the wire.
    public mutating func int32(_ number: Int, _ value: Int32) { int64(number, Int64(value)) }

    public mutating func bool(_ number: Int, _ value: Bool) { uint64(number, value ? 1 : 0) }

    public mutating func enumValue<E: WireEnum>(_ number: Int, _ value: E) {
        int32(number, Int32(truncatingIfNeeded: value.rawValue))
    }

    public mutating func string(_ number: Int, _ value: String) {
        guard !value.isEmpty else { return }
        stringElement(number, value)
    }

    public mutating func bytes(_ number: Int, _ value: [UInt8]) {
        guard !value.isEmpty else { return }
        bytesElement(number, value)
    }

    /// A message field, written when set (even when all its fields are defaults).
    public mutating func message<M: WireMessage>(_ number: Int, _ value: M?) {
        guard let value else { return }
        lengthDelimited(number) { value.encode(to: &$0) }
    }

    // MARK: repeated fields (every element written)

    public mutating func strings(_ number: Int, _ values: [String]) {
        for value in values { stringElement(number, value) }
    }

    public mutating func bytesList(_ number: Int, _ values: [[UInt8]]) {
        for value in values { bytesElement(number, value) }
    }

    public mutating func messages<M: WireMessage>(_ number: Int, _ values: [M]) {
        for value in values { lengthDelimited(number) { value.encode(to: &$0) } }
    }

    /// Repeated varint scalars go packed, as proto3 writes them by default.
    public mutating func packed<T>(_ number: Int, _ values: [T], _ wire: (T) -> UInt64) {
        guard !values.isEmpty else { return }
        lengthDelimited(number) { writer in
            for value in values { writer.varint(wire(value)) }
        }
    }

    private mutating func stringElement(_ number: Int, _ value: String) {
        tag(number, .lengthDelimited)
        varint(UInt64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    private mutating func bytesElement(_ number: Int, _ value: [UInt8]) {
        tag(number, .lengthDelimited)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }
}
