// GuestJSON reads and writes JSON (RFC 8259) for the guest: OCI runtime specs, container state for
// hooks, guest-init's boot.json. No Foundation: the guest binaries stay small, and the parser bounds
// depth and size and never traps on any input (it is fuzzed), because specs arrive from the host.
//
// Decoding into typed values goes through `JSONField`, which carries the path of the value it holds,
// so every error names the field: `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`.

/// A parsed JSON document or fragment.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number as written in the document (validated against RFC 8259's grammar), converted on demand
    /// so 64-bit integers survive exactly.
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// What kind of value this is, for error messages ("expected a string, got an object").
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A JSON number kept as its literal text.
public struct JSONNumber: Sendable, Equatable, CustomStringConvertible {
    /// The literal, e.g. "-1", "4096", "0.5", "1e3".
    public let text: String

    /// Accepts only text matching RFC 8259's number grammar.
    public init?(_ text: String) {
        guard JSONNumber.isValid(Array(text.utf8)) else { return nil }
        self.text = text
    }

    init(validated text: String) { self.text = text }

    public init(_ value: Int64) { text = String(value) }
    public init(_ value: UInt64) { text = String(value) }
    public init(_ value: Int) { text = String(value) }

    /// Whether the literal is written as an integer (no fraction, no exponent).
    public var isInteger: Bool { !text.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") } }

    /// The value as a signed 64-bit integer; nil for fractions, exponents and out-of-range values.
    public var int64: Int64? { isInteger ? Int64(text) : nil }
    /// The value as an unsigned 64-bit integer; nil for negative, fractional or out-of-range values.
    public var uint64: UInt64? { isInteger ? UInt64(text) : nil }
    public var double: Double? { Double(text) }

    public var description: String { text }

    /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    static func isValid(_ b: [UInt8]) -> Bool {
        var i = 0
        func digit(_ at: Int) -> Bool { at < b.count && b[at] >= 0x30 && b[at] <= 0x39 }
        if i < b.count && b[i] == UInt8(ascii: "-") { i += 1 }
        guard digit(i) else { return false }
        if b[i] == 0x30 { i += 1 } else { while digit(i) { i += 1 } }
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            guard digit(i) else { return false }
            while digit(i) { i += 1 }
        }
        if i < b.count && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
            i += 1
            if i < b.count && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
            guard digit(i) else { return false }
            while digit(i) { i += 1 }
        }
        return i == b.count
    }
}

/// A JSON object: its members in document order. A repeated name is kept; lookups find the last one,
/// as Go's encoding/json (which wrote most specs) does.
public struct JSONObject: Sendable, Equatable {
    public var members: [(name: String, value: JSONValue)]

    public init(_ members: [(name: String, value: JSONValue)] = []) { self.members = members }

    public subscript(name: String) -> JSONValue? {
        for member in members.reversed() where member.name == name { return member.value }
        return nil
    }

    /// Adds or replaces a member.
    public mutating func set(_ name: String, _ value: JSONValue) {
        if let index = members.lastIndex(where: { $0.name == name }) {
            members[index].value = value
        } else {
            members.append((name, value))
        }
    }

    public var names: [String] { members.map(\.name) }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.members.count == b.members.count && zip(a.members, b.members).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(JSONNumber(value)) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements.map { (name: $0.0, value: $0.1) }))
    }
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue {
    public static func integer(_ value: Int64) -> JSONValue { .number(JSONNumber(value)) }
    public static func unsigned(_ value: UInt64) -> JSONValue { .number(JSONNumber(value)) }
    public static func strings(_ values: [String]) -> JSONValue { .array(values.map { .string($0) }) }

    /// The member `name` of an object; nil for a missing member or a value that is not an object.
    public subscript(name: String) -> JSONValue? {
        guard case .object(let object) = self else { return nil }
        return object[name]
    }
}
