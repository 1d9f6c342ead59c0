/// The part of TOML (v1.0) a shim configuration needs: `[table]` and `[dotted.table]` headers, `key =
/// value` lines with bare or quoted keys, basic and literal strings, decimal integers, booleans, and
/// one-line arrays of those; `#` comments. Anything else is an error naming the line, never a guess.
/// (LebJe/TOMLKit, the TOML package this machine offers, cannot be resolved here: its manifest needs
/// karwa/swift-checkit, which the package mirror lacks.)
struct TOMLDocument: Sendable, Equatable {
    enum Value: Sendable, Equatable {
        case string(String)
        case integer(Int64)
        case bool(Bool)
        case array([Value])
    }

    /// "table.key" → value; keys of the top level have no dot prefix.
    private(set) var values: [String: Value] = [:]

    static let maxBytes = 1 << 20

    init(parsing text: String) throws(ShimError) {
        guard text.utf8.count <= Self.maxBytes else {
            throw .invalidArgument("configuration is \(text.utf8.count) bytes, over the \(Self.maxBytes)-byte limit")
        }
        var table = ""
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            var scanner = TOMLScanner(line, number: number)
            scanner.skipSpace()
            if scanner.atEndOrComment { continue }
            if scanner.peek == UInt8(ascii: "[") {
                scanner.advance()
                guard scanner.peek != UInt8(ascii: "[") else {
                    throw .invalidArgument("line \(number): arrays of tables ([[…]]) are not supported")
                }
                table = try scanner.key().joined(separator: ".")
                scanner.skipSpace()
                try scanner.expect("]")
                scanner.skipSpace()
                guard scanner.atEndOrComment else { throw scanner.error("unexpected text after the table header") }
                continue
            }
            let key = try scanner.key()
            scanner.skipSpace()
            try scanner.expect("=")
            scanner.skipSpace()
            let value = try scanner.value(depth: 0)
            scanner.skipSpace()
            guard scanner.atEndOrComment else { throw scanner.error("unexpected text after the value") }
            let full = (table.isEmpty ? [] : [table]) + key
            let name = full.joined(separator: ".")
            guard values[name] == nil else { throw .invalidArgument("line \(number): key \(name) is defined twice") }
            values[name] = value
        }
    }

    subscript(key: String) -> Value? { values[key] }
}

/// One line of TOML, read byte by byte; every index is checked.
private struct TOMLScanner {
    let bytes: [UInt8]
    let number: Int
    var index = 0

    init(_ line: Substring, number: Int) {
        bytes = Array(line.utf8)
        self.number = number
    }

    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }
    var atEndOrComment: Bool { peek == nil || peek == UInt8(ascii: "#") }
    mutating func advance() { index += 1 }

    func error(_ message: String) -> ShimError { .invalidArgument("line \(number), column \(index + 1): \(message)") }

    mutating func skipSpace() {
        while let c = peek, c == 0x20 || c == 0x09 { advance() }
    }

    mutating func expect(_ character: Character) throws(ShimError) {
        guard let c = peek, c == character.asciiValue else { throw error("expected '\(character)'") }
        advance()
    }

    /// A bare, quoted or dotted key.
    mutating func key() throws(ShimError) -> [String] {
        var parts: [String] = []
        while true {
            skipSpace()
            if peek == UInt8(ascii: "\"") {
                parts.append(try basicString())
            } else if peek == UInt8(ascii: "'") {
                parts.append(try literalString())
            } else {
                let start = index
                while let c = peek, Self.isBareKey(c) { advance() }
                guard index > start else { throw error("expected a key") }
                parts.append(String(decoding: bytes[start..<index], as: UTF8.self))
            }
            skipSpace()
            guard peek == UInt8(ascii: ".") else { return parts }
            advance()
        }
    }

    static func isBareKey(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F
    }

    mutating func value(depth: Int) throws(ShimError) -> TOMLDocument.Value {
        guard let c = peek else { throw error("expected a value") }
        switch c {
        case UInt8(ascii: "\""): return .string(try basicString())
        case UInt8(ascii: "'"): return .string(try literalString())
        case UInt8(ascii: "["):
            guard depth < 8 else { throw error("arrays nested more than 8 deep") }
            advance()
            var items: [TOMLDocument.Value] = []
            while true {
                skipSpace()
                if peek == UInt8(ascii: "]") { advance(); return .array(items) }
                items.append(try value(depth: depth + 1))
                skipSpace()
                if peek == UInt8(ascii: ",") { advance(); continue }
                try expect("]")
                return .array(items)
            }
        default:
            let start = index
            while let c = peek, c != 0x20, c != 0x09, c != UInt8(ascii: ","), c != UInt8(ascii: "]"),
                  c != UInt8(ascii: "#") { advance() }
            let word = String(decoding: bytes[start..<index], as: UTF8.self)
            if word == "true" { return .bool(true) }
            if word == "false" { return .bool(false) }
            let digits = word.replacingUnderscores()
            if let integer = Int64(digits) { return .integer(integer) }
            throw error("\"\(word)\" is not a string, integer, boolean or array")
        }
    }

    mutating func literalString() throws(ShimError) -> String {
        advance()
        let start = index
        while let c = peek, c != UInt8(ascii: "'") { advance() }
        guard peek != nil else { throw error("unterminated string") }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        advance()
        return text
    }

    mutating func basicString() throws(ShimError) -> String {
        advance()
        var out: [UInt8] = []
        while let c = peek {
            advance()
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                continue
            }
            guard let escaped = peek else { break }
            advance()
            switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(escaped)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"), UInt8(ascii: "U"):
                let width = escaped == UInt8(ascii: "u") ? 4 : 8
                guard index + width <= bytes.count,
                      let scalarValue = UInt32(String(decoding: bytes[index..<index + width], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(scalarValue) else { throw error("bad \\u escape") }
                index += width
                out += Array(String(Character(scalar)).utf8)
            default:
                throw error("unknown escape \\\(Character(Unicode.Scalar(escaped)))")
            }
        }
        throw error("unterminated string")
    }
}

private extension String {
    /// TOML allows 1_000 for 1000 (an underscore between digits only).
    func replacingUnderscores() -> String {
        let bytes = Array(utf8)
        for (i, c) in bytes.enumerated() where c == UInt8(ascii: "_") {
            guard i > 0, i + 1 < bytes.count, bytes[i - 1] >= 0x30, bytes[i - 1] <= 0x39,
                  bytes[i + 1] >= 0x30, bytes[i + 1] <= 0x39 else { return self }
        }
        return String(decoding: bytes.filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
    }
}
