/// One `key=value` (or bare `key`) parameter of a kernel command line.
public struct KernelParameter: Equatable, Sendable {
    public let key: String
    /// nil for a bare flag such as `ro` or `quiet`.
    public let value: String?

    public init(_ key: String, _ value: String? = nil) {
        self.key = key
        self.value = value
    }
}

/// Splits a kernel command line the way the kernel's own `next_arg` (lib/cmdline.c) does, so guest-init
/// sees the same parameters the kernel saw: whitespace separates parameters; double quotes protect
/// whitespace and are removed when they wrap the whole parameter (`"key=a b"`) or its value (`key="a b"`);
/// a quote in the middle of a value is kept. Parsing stops at `--`, after which the words are init's
/// arguments rather than kernel parameters.
public enum KernelCommandLine {
    public static func parameters(_ text: String) -> [KernelParameter] {
        var result: [KernelParameter] = []
        let bytes = Array(text.utf8)
        var i = 0
        while true {
            while i < bytes.count, isSpace(bytes[i]) { i += 1 }
            guard i < bytes.count else { break }

            var start = i
            var quoted = false
            var inQuote = false
            if bytes[i] == quote {
                start += 1
                i += 1
                quoted = true
                inQuote = true
            }
            var equals: Int?
            while i < bytes.count {
                if isSpace(bytes[i]) && !inQuote { break }
                if equals == nil, bytes[i] == UInt8(ascii: "=") { equals = i }
                if bytes[i] == quote { inQuote.toggle() }
                i += 1
            }
            var end = i
            // The kernel drops a closing quote that ends the parameter when it opened it or the value.
            var valueStart = equals.map { $0 + 1 }
            if let v = valueStart, v < end, bytes[v] == quote {
                valueStart = v + 1
                if end > v + 1, bytes[end - 1] == quote { end -= 1 }
            } else if quoted, end > start, bytes[end - 1] == quote {
                end -= 1
            }

            let word = String(decoding: bytes[start..<(equals ?? end)], as: UTF8.self)
            if equals == nil && word == "--" && !quoted { break }
            let value = valueStart.map { String(decoding: bytes[min($0, end)..<end], as: UTF8.self) }
            result.append(KernelParameter(word, value))
        }
        return result
    }

    private static let quote = UInt8(ascii: "\"")

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C
    }
}
