// Kconfig fragments: the `CONFIG_X=y` / `# CONFIG_X is not set` lines of a .config, one concern per
// file. The syntax is what `scripts/kconfig/merge_config.sh` and the kernel's conf tool read; anything
// else is rejected here rather than silently ignored as those tools would.

/// A place in a fragment or Kconfig file, printed as `path:line`.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public let path: String
    public let line: Int
    public init(path: String, line: Int) {
        self.path = path
        self.line = line
    }
    public var description: String { "\(path):\(line)" }
}

/// The value a fragment requests for one symbol.
public enum ConfigValue: Hashable, Sendable, CustomStringConvertible {
    case yes
    case module
    case no
    /// A decimal or hexadecimal number, as written.
    case number(String)
    /// A string, without its quotes and escapes.
    case string(String)

    /// The value as it appears after `=` in a .config (`n` for "is not set").
    public var description: String {
        switch self {
        case .yes: "y"
        case .module: "m"
        case .no: "n"
        case .number(let text): text
        case .string(let text): ConfigValue.quote(text)
        }
    }

    /// Parses the text after `=` in a .config line; nil when it is none of y, m, n, a number or a
    /// quoted string.
    public init?(parsing text: Substring) {
        switch text {
        case "y": self = .yes
        case "m": self = .module
        case "n": self = .no
        default:
            if let unquoted = ConfigValue.unquote(text) {
                self = .string(unquoted)
            } else if ConfigValue.isNumber(text) {
                self = .number(String(text))
            } else {
                return nil
            }
        }
    }

    /// Whether the symbol ends up built in or modular (`y` or `m`).
    public var isEnabled: Bool { self == .yes || self == .module }

    static func isNumber(_ text: Substring) -> Bool {
        var digits = text
        if digits.first == "-" { digits = digits.dropFirst() }
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            digits = digits.dropFirst(2)
            return !digits.isEmpty && digits.allSatisfy(\.isHexDigit)
        }
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    static func unquote(_ text: Substring) -> String? {
        guard text.count >= 2, text.first == "\"", text.last == "\"" else { return nil }
        var result = ""
        var escaped = false
        for character in text.dropFirst().dropLast() {
            if escaped {
                result.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                return nil
            } else {
                result.append(character)
            }
        }
        return escaped ? nil : result
    }

    static func quote(_ text: String) -> String {
        var result = "\""
        for character in text {
            if character == "\"" || character == "\\" { result.append("\\") }
            result.append(character)
        }
        return result + "\""
    }
}

/// One requested value: `CONFIG_<symbol>=<value>` at a place in a fragment.
public struct ConfigEntry: Hashable, Sendable, CustomStringConvertible {
    /// The symbol without its `CONFIG_` prefix.
    public let symbol: String
    public let value: ConfigValue
    public let location: SourceLocation

    public init(symbol: String, value: ConfigValue, location: SourceLocation) {
        self.symbol = symbol
        self.value = value
        self.location = location
    }

    /// The entry as a .config line.
    public var line: String {
        value == .no ? "# CONFIG_\(symbol) is not set" : "CONFIG_\(symbol)=\(value)"
    }

    /// `CONFIG_X=y` (or `CONFIG_X=n` for "is not set"), for messages.
    public var description: String { "CONFIG_\(symbol)=\(value)" }
}

/// A parsed Kconfig fragment file.
public struct KernelFragment: Sendable {
    /// The fragment's name (`base`, `vsock`) or, for a file given by path, that path.
    public let name: String
    /// The path shown in messages.
    public let path: String
    /// The file on disk (handed to merge_config.sh), when the fragment came from one.
    public let file: String?
    public let entries: [ConfigEntry]
    /// Comment lines that spell a `CONFIG_` name: merge_config.sh greps whole lines for it, so such a
    /// comment can shadow or delete a real entry. Kept for a lint, not an error.
    public let commentsNamingSymbols: [SourceLocation]

    public init(name: String, path: String, file: String? = nil, entries: [ConfigEntry],
                commentsNamingSymbols: [SourceLocation] = []) {
        self.name = name
        self.path = path
        self.file = file
        self.entries = entries
        self.commentsNamingSymbols = commentsNamingSymbols
    }

    /// Parses fragment text; `path` is only used for locations and errors.
    public init(name: String, path: String, file: String? = nil, text: String) throws(ComposeKernelError) {
        var entries: [ConfigEntry] = []
        var namingComments: [SourceLocation] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let location = SourceLocation(path: path, line: lineNumber)
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                if let symbol = KernelFragment.notSetSymbol(line) {
                    entries.append(ConfigEntry(symbol: symbol, value: .no, location: location))
                } else if line.contains("CONFIG_") {
                    namingComments.append(location)
                }
                continue
            }
            guard line.hasPrefix("CONFIG_"), let equals = line.firstIndex(of: "=") else {
                throw ComposeKernelError(
                    "\(location): expected CONFIG_<NAME>=<value> or '# CONFIG_<NAME> is not set', got '\(line)'")
            }
            let symbol = line[line.index(line.startIndex, offsetBy: 7)..<equals]
            guard KernelFragment.isSymbolName(symbol) else {
                throw ComposeKernelError(
                    "\(location): '\(line[..<equals])' is not a Kconfig symbol (letters, digits and _ only, no spaces around =)")
            }
            guard let value = ConfigValue(parsing: line[line.index(after: equals)...]) else {
                throw ComposeKernelError(
                    "\(location): CONFIG_\(symbol) has value '\(line[line.index(after: equals)...])'; expected y, m, n, a number or a quoted string")
            }
            entries.append(ConfigEntry(symbol: String(symbol), value: value, location: location))
        }
        self.init(name: name, path: path, file: file, entries: entries, commentsNamingSymbols: namingComments)
    }

    /// The symbol of a `# CONFIG_X is not set` line.
    static func notSetSymbol(_ line: Substring) -> String? {
        let prefix = "# CONFIG_"
        let suffix = " is not set"
        guard line.hasPrefix(prefix), line.hasSuffix(suffix), line.count > prefix.count + suffix.count else { return nil }
        let symbol = line.dropFirst(prefix.count).dropLast(suffix.count)
        return isSymbolName(symbol) ? String(symbol) : nil
    }

    static func isSymbolName(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == 0x5f
        }
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" || first == "\r" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" { text = text.dropLast() }
        return text
    }
}
