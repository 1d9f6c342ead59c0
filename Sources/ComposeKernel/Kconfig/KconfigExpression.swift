// Kconfig expressions (Documentation/kbuild/kconfig-language.rst, "Menu dependencies"): tristate logic
// over symbols, where n < m < y, `&&` is the minimum, `||` the maximum, `!` is 2 - x, and comparisons
// (`=`, `!=`, `<`, `<=`, `>`, `>=`) give y or n by comparing values as numbers when both are numbers,
// else as strings. Preprocessor macros (`$(cc-option,…)`) are not evaluated here: they count as unknown.

/// A Kconfig tristate value.
public enum Tristate: Int, Comparable, Sendable, CustomStringConvertible {
    case no = 0, module = 1, yes = 2

    public static func < (lhs: Tristate, rhs: Tristate) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { ["n", "m", "y"][rawValue] }
    var negated: Tristate { Tristate(rawValue: 2 - rawValue)! }
}

/// Where expressions find the values of symbols (the final .config).
public protocol KconfigValues {
    /// The tristate value of a symbol in a boolean context (n for strings, numbers, unknown names).
    func tristate(of symbol: String) -> Tristate
    /// The value of a symbol for comparisons; for a name that is no symbol, the name itself.
    func text(of symbol: String) -> String
}

/// A parsed Kconfig expression.
public indirect enum KconfigExpression: Hashable, Sendable, CustomStringConvertible {
    /// A symbol or a constant word (`y`, `64`, `0x1000`).
    case symbol(String)
    /// A quoted string constant.
    case string(String)
    /// A `$(…)` preprocessor call, kept verbatim.
    case macro(String)
    case not(KconfigExpression)
    case and(KconfigExpression, KconfigExpression)
    case or(KconfigExpression, KconfigExpression)
    case compare(String, KconfigExpression, KconfigExpression)

    /// The value, or nil when a macro makes it unknowable here.
    public func evaluate(_ values: KconfigValues) -> Tristate? {
        switch self {
        case .symbol(let name):
            switch name {
            case "y": return .yes
            case "m": return .module
            case "n": return .no
            default: return values.tristate(of: name)
            }
        case .string: return .no
        case .macro: return nil
        case .not(let inner): return inner.evaluate(values)?.negated
        case .and(let left, let right):
            let (l, r) = (left.evaluate(values), right.evaluate(values))
            if l == .no || r == .no { return .no }
            guard let l, let r else { return nil }
            return min(l, r)
        case .or(let left, let right):
            let (l, r) = (left.evaluate(values), right.evaluate(values))
            if l == .yes || r == .yes { return .yes }
            guard let l, let r else { return nil }
            return max(l, r)
        case .compare(let op, let left, let right):
            guard let l = left.text(values), let r = right.text(values) else { return nil }
            let order: Int
            if let a = KconfigExpression.number(l), let b = KconfigExpression.number(r) {
                order = a < b ? -1 : (a > b ? 1 : 0)
            } else {
                order = l < r ? -1 : (l > r ? 1 : 0)
            }
            let holds: Bool
            switch op {
            case "=": holds = order == 0
            case "!=": holds = order != 0
            case "<": holds = order < 0
            case "<=": holds = order <= 0
            case ">": holds = order > 0
            default: holds = order >= 0
            }
            return holds ? .yes : .no
        }
    }

    private func text(_ values: KconfigValues) -> String? {
        switch self {
        case .symbol(let name): return ["y", "m", "n"].contains(name) ? name : values.text(of: name)
        case .string(let text): return text
        case .macro: return nil
        default: return evaluate(values)?.description
        }
    }

    static func number(_ text: String) -> Int64? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return Int64(text.dropFirst(2), radix: 16) }
        return Int64(text)
    }

    /// The top-level `&&` operands.
    public var conjuncts: [KconfigExpression] {
        if case .and(let left, let right) = self { return left.conjuncts + right.conjuncts }
        return [self]
    }

    /// The symbols the expression reads, in order of appearance.
    public var symbols: [String] {
        var names: [String] = []
        func walk(_ expression: KconfigExpression) {
            switch expression {
            case .symbol(let name):
                if !["y", "m", "n"].contains(name), KconfigExpression.number(name) == nil, !names.contains(name) {
                    names.append(name)
                }
            case .string, .macro: break
            case .not(let inner): walk(inner)
            case .and(let l, let r), .or(let l, let r), .compare(_, let l, let r):
                walk(l)
                walk(r)
            }
        }
        walk(self)
        return names
    }

    /// The expression in Kconfig syntax with the parentheses precedence needs.
    public var description: String { render(parentPrecedence: 0) }

    private var precedence: Int {
        switch self {
        case .or: 1
        case .and: 2
        case .not: 3
        case .compare: 4
        default: 5
        }
    }

    private func render(parentPrecedence: Int) -> String {
        let text: String
        switch self {
        case .symbol(let name): text = name
        case .string(let value): text = "\"\(value)\""
        case .macro(let body): text = body
        case .not(let inner): text = "!" + inner.render(parentPrecedence: 3)
        case .and(let l, let r): text = "\(l.render(parentPrecedence: 2)) && \(r.render(parentPrecedence: 2))"
        case .or(let l, let r): text = "\(l.render(parentPrecedence: 1)) || \(r.render(parentPrecedence: 1))"
        case .compare(let op, let l, let r): text = "\(l.render(parentPrecedence: 5)) \(op) \(r.render(parentPrecedence: 5))"
        }
        return precedence < parentPrecedence ? "(\(text))" : text
    }
}

/// A token of a Kconfig line.
enum KconfigToken: Equatable, Sendable {
    case word(String)
    case string(String)
    case macro(String)
    case op(String)
}

/// Splits the rest of a Kconfig line into tokens; nil on an unterminated string or macro.
func tokenizeKconfig(_ text: Substring) -> [KconfigToken]? {
    let bytes = Array(text.utf8)
    var tokens: [KconfigToken] = []
    var i = 0
    func isWordByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x5f || b == 0x2e
    }
    while i < bytes.count {
        let b = bytes[i]
        switch b {
        case 0x20, 0x09, 0x0d:
            i += 1
        case 0x23:  // '#' starts a comment
            return tokens
        case 0x22, 0x27:  // quoted string
            var value: [UInt8] = []
            var j = i + 1
            var closed = false
            while j < bytes.count {
                if bytes[j] == 0x5c, j + 1 < bytes.count {
                    value.append(bytes[j + 1])
                    j += 2
                    continue
                }
                if bytes[j] == b {
                    closed = true
                    break
                }
                value.append(bytes[j])
                j += 1
            }
            guard closed else { return nil }
            tokens.append(.string(String(decoding: value, as: UTF8.self)))
            i = j + 1
        case 0x24 where i + 1 < bytes.count && bytes[i + 1] == 0x28:  // $( … )
            var depth = 0
            var j = i + 1
            while j < bytes.count {
                if bytes[j] == 0x28 { depth += 1 }
                if bytes[j] == 0x29 {
                    depth -= 1
                    if depth == 0 { break }
                }
                j += 1
            }
            guard j < bytes.count else { return nil }
            tokens.append(.macro(String(decoding: bytes[i...j], as: UTF8.self)))
            i = j + 1
        case 0x28, 0x29:
            tokens.append(.op(b == 0x28 ? "(" : ")"))
            i += 1
        case 0x26, 0x7c:  // && ||
            guard i + 1 < bytes.count, bytes[i + 1] == b else { return nil }
            tokens.append(.op(b == 0x26 ? "&&" : "||"))
            i += 2
        case 0x21, 0x3c, 0x3e, 0x3d:  // ! < > =
            if i + 1 < bytes.count, bytes[i + 1] == 0x3d {
                tokens.append(.op(String(decoding: bytes[i...(i + 1)], as: UTF8.self)))
                i += 2
            } else {
                tokens.append(.op(String(decoding: [b], as: UTF8.self)))
                i += 1
            }
        default:
            var j = i
            if b == 0x2d { j += 1 }  // a leading minus: negative numbers in `range`
            while j < bytes.count, isWordByte(bytes[j]) { j += 1 }
            guard j > i, !(b == 0x2d && j == i + 1) else { return nil }
            tokens.append(.word(String(decoding: bytes[i..<j], as: UTF8.self)))
            i = j
        }
    }
    return tokens
}

/// Recursive-descent parser over tokens: or := and ('||' and)*, and := unary ('&&' unary)*,
/// unary := '!' unary | primary [cmp primary], primary := '(' or ')' | word | string | macro.
struct KconfigExpressionParser {
    private let tokens: [KconfigToken]
    private var position = 0

    /// Parses a whole token list as one expression; nil when it is not one.
    static func parse(_ tokens: some Collection<KconfigToken>) -> KconfigExpression? {
        var parser = KconfigExpressionParser(tokens: Array(tokens))
        guard let expression = parser.parseOr(), parser.position == parser.tokens.count else { return nil }
        return expression
    }

    private init(tokens: [KconfigToken]) { self.tokens = tokens }

    private var next: KconfigToken? { position < tokens.count ? tokens[position] : nil }

    private mutating func parseOr() -> KconfigExpression? {
        guard var left = parseAnd() else { return nil }
        while next == .op("||") {
            position += 1
            guard let right = parseAnd() else { return nil }
            left = .or(left, right)
        }
        return left
    }

    private mutating func parseAnd() -> KconfigExpression? {
        guard var left = parseUnary() else { return nil }
        while next == .op("&&") {
            position += 1
            guard let right = parseUnary() else { return nil }
            left = .and(left, right)
        }
        return left
    }

    private mutating func parseUnary() -> KconfigExpression? {
        if next == .op("!") {
            position += 1
            return parseUnary().map { .not($0) }
        }
        guard let left = parsePrimary() else { return nil }
        if case .op(let op)? = next, ["=", "!=", "<", "<=", ">", ">="].contains(op) {
            position += 1
            guard let right = parsePrimary() else { return nil }
            return .compare(op, left, right)
        }
        return left
    }

    private mutating func parsePrimary() -> KconfigExpression? {
        guard let token = next else { return nil }
        position += 1
        switch token {
        case .word(let name): return .symbol(name)
        case .string(let text): return .string(text)
        case .macro(let body): return .macro(body)
        case .op("("):
            guard let inner = parseOr(), next == .op(")") else { return nil }
            position += 1
            return inner
        case .op: return nil
        }
    }
}
