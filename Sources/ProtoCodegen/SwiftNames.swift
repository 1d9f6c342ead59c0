/// The Swift spellings protoc-gen-swift gives protobuf names, so code written against its output reads the same.
enum SwiftNames {
    /// Words protoc-gen-swift writes in capitals inside a camel-case name (`container_id` → `containerID`).
    private static let upperCaseWords: Set<String> = ["id", "url", "http", "https"]

    /// Words a declaration must put in backticks.
    private static let reserved: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
        "inout", "internal", "let", "open", "operator", "private", "precedencegroup", "protocol", "public",
        "rethrows", "static", "struct", "subscript", "typealias", "var", "break", "case", "catch", "continue",
        "default", "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return",
        "throw", "switch", "where", "while", "Any", "as", "await", "false", "is", "nil", "self", "Self",
        "super", "true", "try", "Type",
    ]

    /// `memory_stat` → `memoryStat`, `container_id` → `containerID`.
    static func lowerCamel(_ snake: String) -> String {
        let words = snake.split(separator: "_").map { $0.lowercased() }
        guard let first = words.first else { return snake }
        return first + words.dropFirst().map { word in
            upperCaseWords.contains(word) ? word.uppercased() : word.prefix(1).uppercased() + word.dropFirst()
        }.joined()
    }

    /// `guestkit.v1` → `Guestkit_V1_`; no package → "".
    static func packagePrefix(_ package: String) -> String {
        guard !package.isEmpty else { return "" }
        return package.split(separator: ".").map { component in
            component.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        }.joined(separator: "_") + "_"
    }

    /// A property or case name as a declaration spells it.
    static func declared(_ name: String) -> String {
        reserved.contains(name) ? "`\(name)`" : name
    }

    /// `STDIO_STREAM_STDOUT` in enum `StdioStream` → `stdout`: the enum's name as a prefix goes, as in protoc-gen-swift.
    static func enumCase(_ value: String, enumName: String) -> String {
        let prefix = upperSnake(enumName) + "_"
        var rest = value
        if value.hasPrefix(prefix), value.count > prefix.count { rest = String(value.dropFirst(prefix.count)) }
        var name = lowerCamel(rest)
        if let first = name.first, first.isNumber { name = "_" + name }
        return name
    }

    /// `StdioStream` → `STDIO_STREAM`.
    static func upperSnake(_ camel: String) -> String {
        var out = ""
        for (i, ch) in camel.enumerated() {
            if ch.isUppercase, i > 0 { out += "_" }
            out += ch.uppercased()
        }
        return out
    }
}
