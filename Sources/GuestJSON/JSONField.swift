/// Where a value sits in a document: `linux.seccomp.syscalls[3].action`.
public struct JSONPath: Sendable, Equatable, CustomStringConvertible {
    public enum Component: Sendable, Equatable {
        case member(String)
        case index(Int)
    }

    public var components: [Component]

    public init(_ components: [Component] = []) { self.components = components }

    public func appending(_ name: String) -> JSONPath { JSONPath(components + [.member(name)]) }
    public func appending(_ index: Int) -> JSONPath { JSONPath(components + [.index(index)]) }

    public var description: String {
        var text = ""
        for component in components {
            switch component {
            case .member(let name):
                let plain = !name.isEmpty && name.utf8.allSatisfy { b in
                    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
                }
                if plain {
                    text += text.isEmpty ? name : "." + name
                } else {
                    text += "[" + JSONValue.string(name).serialized + "]"
                }
            case .index(let i): text += "[\(i)]"
            }
        }
        return text.isEmpty ? "(document)" : text
    }
}

/// A value that does not fit what the reader expects, named by its path.
public struct JSONDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: JSONPath
    public let message: String

    public init(_ path: JSONPath, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// A value together with its path: the typed accessors throw errors that name the field.
public struct JSONField: Sendable {
    public let value: JSONValue
    public let path: JSONPath

    public init(_ value: JSONValue, path: JSONPath = JSONPath()) {
        self.value = value
        self.path = path
    }

    /// An error about this field.
    public func error(_ message: String) -> JSONDecodeError { JSONDecodeError(path, message) }

    func mismatch(_ expected: String) -> JSONDecodeError { error("expected \(expected), got \(value.kindName)") }

    public var isNull: Bool { value == .null }

    public func string() throws(JSONDecodeError) -> String {
        guard case .string(let s) = value else { throw mismatch("a string") }
        return s
    }

    public func bool() throws(JSONDecodeError) -> Bool {
        guard case .bool(let b) = value else { throw mismatch("a boolean") }
        return b
    }

    public func number() throws(JSONDecodeError) -> JSONNumber {
        guard case .number(let n) = value else { throw mismatch("a number") }
        return n
    }

    public func int64() throws(JSONDecodeError) -> Int64 {
        let n = try number()
        guard let v = n.int64 else { throw error("\(n) is not an integer from \(Int64.min) to \(Int64.max)") }
        return v
    }

    public func uint64() throws(JSONDecodeError) -> UInt64 {
        let n = try number()
        guard let v = n.uint64 else { throw error("\(n) is not an integer from 0 to \(UInt64.max)") }
        return v
    }

    /// An integer that must fit `T` (e.g. UInt32 for a uid, UInt16 for a weight).
    public func integer<T: FixedWidthInteger>(_ type: T.Type) throws(JSONDecodeError) -> T {
        let n = try number()
        if let v = n.int64, let fitted = T(exactly: v) { return fitted }
        if let v = n.uint64, let fitted = T(exactly: v) { return fitted }
        throw error("\(n) is not an integer from \(T.min) to \(T.max)")
    }

    public func double() throws(JSONDecodeError) -> Double {
        let n = try number()
        guard let v = n.double else { throw error("\(n) is not a number") }
        return v
    }

    /// The elements, each with its index in the path.
    public func array() throws(JSONDecodeError) -> [JSONField] {
        guard case .array(let elements) = value else { throw mismatch("an array") }
        return elements.enumerated().map { JSONField($1, path: path.appending($0)) }
    }

    public func object() throws(JSONDecodeError) -> JSONObjectReader {
        guard case .object(let object) = value else { throw mismatch("an object") }
        return JSONObjectReader(object: object, path: path)
    }

    public func stringArray() throws(JSONDecodeError) -> [String] {
        var result: [String] = []
        for element in try array() { result.append(try element.string()) }
        return result
    }

    /// An object whose member values are all strings (annotations, sysctls, `unified`).
    public func stringMap() throws(JSONDecodeError) -> [(key: String, value: String)] {
        let reader = try object()
        var result: [(key: String, value: String)] = []
        for member in reader.object.members {
            result.append((member.name, try JSONField(member.value, path: path.appending(member.name)).string()))
        }
        return result
    }
}

/// The members of an object, read by name. A member that is absent or `null` reads as nil (Go's
/// encoding/json treats both alike for pointer fields, and specs are written by Go tools).
public struct JSONObjectReader: Sendable {
    public let object: JSONObject
    public let path: JSONPath

    public subscript(name: String) -> JSONField? {
        guard let value = object[name], value != .null else { return nil }
        return JSONField(value, path: path.appending(name))
    }

    /// A member that must be present.
    public func required(_ name: String) throws(JSONDecodeError) -> JSONField {
        guard let field = self[name] else { throw JSONDecodeError(path.appending(name), "is required") }
        return field
    }

    public func error(_ message: String) -> JSONDecodeError { JSONDecodeError(path, message) }

    public var names: [String] { object.names }
}
