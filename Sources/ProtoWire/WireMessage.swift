/// A protobuf message whose generated code encodes and decodes itself (`make proto`); no runtime library and no Foundation.
///
/// Decoding follows proto3: fields may come in any order, the last value of a singular field wins, a
/// message field seen twice is merged, repeated scalars are accepted packed and unpacked, and fields the
/// schema does not know are skipped (they are not kept for re-encoding).
public protocol WireMessage: Sendable, Hashable {
    /// The protobuf name, with its package: "guestkit.v1.StartProcessRequest".
    static var protoMessageName: String { get }
    init()
    /// Appends every field that differs from its default, in field-number order.
    func encode(to writer: inout WireWriter)
    /// Reads the value of one field this message knows, or skips it.
    mutating func decodeField(_ field: WireField, from reader: inout WireReader) throws(WireError)
}

/// A protobuf enum: open, as proto3 enums are (a number the schema does not name is kept).
public protocol WireEnum: Sendable, Hashable {
    init(rawValue: Int)
    var rawValue: Int { get }
}

extension WireMessage {
    /// Decodes a whole message from `bytes`.
    public init(serializedBytes bytes: [UInt8]) throws(WireError) {
        var reader = WireReader(bytes)
        self.init()
        try merge(from: &reader)
    }

    /// Decodes a whole message from `bytes`.
    public init(serializedBytes bytes: ArraySlice<UInt8>) throws(WireError) {
        try self.init(serializedBytes: Array(bytes))
    }

    /// Reads fields until the reader's end, naming this message in any error from its own fields.
    public mutating func merge(from reader: inout WireReader) throws(WireError) {
        while !reader.isAtEnd {
            let field: WireField
            do { field = try reader.tag() } catch { throw error.naming(Self.protoMessageName, field: nil) }
            do { try decodeField(field, from: &reader) } catch { throw error.naming(Self.protoMessageName, field: field.number) }
        }
    }

    /// The message's encoding.
    public func serializedBytes() -> [UInt8] {
        var writer = WireWriter()
        encode(to: &writer)
        return writer.bytes
    }

    /// A copy of `Self()` changed by `populate`.
    public static func with(_ populate: (inout Self) throws -> Void) rethrows -> Self {
        var message = Self()
        try populate(&message)
        return message
    }
}

extension WireError {
    /// The error with `message` and `field` filled in, unless an inner message already named itself.
    func naming(_ message: String, field: Int?) -> WireError {
        guard self.message == nil else { return self }
        return WireError(problem, message: message, field: field)
    }
}
