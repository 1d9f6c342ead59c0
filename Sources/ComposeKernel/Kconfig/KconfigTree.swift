// The symbols of a kernel tree's Kconfig, read far enough to explain why a value did not stick: each
// definition's type, prompts (with their `if`), defaults, `depends on`, the conditions inherited from
// enclosing `if` blocks, menus and choices, `select`/`imply`, and choice membership. Parsing follows
// `source` from the top-level Kconfig with `$(SRCARCH)` set, as the kernel's conf tool does; the
// preprocessor's macros are kept unevaluated (their values are already in the final .config).
import Foundation

/// The type a symbol is declared with.
public enum KconfigType: String, Sendable {
    case bool, tristate, string, int, hex
}

/// A condition a definition inherits from where it sits, with where that came from.
public struct KconfigCondition: Hashable, Sendable {
    public let expression: KconfigExpression
    /// `depends on`, or the enclosing block (`if VIRT_DRIVERS` at drivers/virt/Kconfig:14).
    public let origin: String
}

/// One `config`/`menuconfig` entry for a symbol (a symbol may be defined in several places).
public struct KconfigDefinition: Sendable {
    public struct Prompt: Sendable {
        public let text: String
        public let condition: KconfigExpression?
    }
    public struct Default: Sendable {
        public let value: KconfigExpression
        public let condition: KconfigExpression?
    }
    public struct Range: Sendable {
        public let low: KconfigExpression
        public let high: KconfigExpression
        public let condition: KconfigExpression?
    }

    public let symbol: String
    public let location: SourceLocation
    public var type: KconfigType?
    public var prompts: [Prompt] = []
    public var defaults: [Default] = []
    public var ranges: [Range] = []
    /// Its own `depends on` lines, then the conditions of its enclosing blocks.
    public var dependencies: [KconfigCondition] = []
    /// `visible if` of enclosing menus: hides the prompt without forcing the value off.
    public var visibility: [KconfigCondition] = []
    /// The choice it is a member of (an index into `KconfigTree.choices`).
    public var choice: Int?
}

/// A `select` or `imply` of one symbol by another.
public struct KconfigReverseDependency: Sendable {
    public let selector: String
    public let condition: KconfigExpression?
    public let location: SourceLocation
    public let isImply: Bool
}

/// A `choice … endchoice` block: exactly one member is y when the choice is visible.
public struct KconfigChoice: Sendable {
    public let location: SourceLocation
    public var prompt: String?
    public var members: [String] = []
    public var defaults: [KconfigDefinition.Default] = []
    public var dependencies: [KconfigCondition] = []
}

/// The parsed Kconfig of one architecture of a kernel tree.
public struct KconfigTree: Sendable {
    public private(set) var definitions: [String: [KconfigDefinition]] = [:]
    public private(set) var reverseDependencies: [String: [KconfigReverseDependency]] = [:]
    public private(set) var choices: [KconfigChoice] = []
    /// Lines the parser did not understand (kept so a tree with new syntax still validates).
    public private(set) var warnings: [String] = []
    /// How many Kconfig files were read.
    public private(set) var fileCount = 0

    /// Parses `<source>/Kconfig` for one architecture.
    public static func parse(source: URL, srcArch: String) throws(ComposeKernelError) -> KconfigTree {
        var parser = KconfigParser(root: source.standardizedFileURL, variables: ["SRCARCH": srcArch])
        try parser.parse(file: "Kconfig", required: true)
        return parser.tree
    }

    /// The declared type of a symbol (from any of its definitions).
    public func type(of symbol: String) -> KconfigType? {
        definitions[symbol]?.lazy.compactMap(\.type).first
    }

    mutating func add(_ definition: KconfigDefinition) {
        definitions[definition.symbol, default: []].append(definition)
    }

    mutating func addReverse(target: String, _ edge: KconfigReverseDependency) {
        reverseDependencies[target, default: []].append(edge)
    }

    mutating func addChoice(_ choice: KconfigChoice) -> Int {
        choices.append(choice)
        return choices.count - 1
    }

    mutating func updateChoice(_ index: Int, _ update: (inout KconfigChoice) -> Void) {
        update(&choices[index])
    }

    mutating func warn(_ message: String) { warnings.append(message) }
    mutating func countFile() { fileCount += 1 }
}

/// Where symbols of other architectures are defined: a plain scan of `arch/*/Kconfig*`, so a symbol the
/// parsed tree lacks can be reported as "only defined for arm64" rather than as unknown.
public struct KconfigSymbolIndex: Sendable {
    /// Symbol name → the places it is defined.
    public let locations: [String: [SourceLocation]]

    public static func scan(source: URL) -> KconfigSymbolIndex {
        var locations: [String: [SourceLocation]] = [:]
        let root = source.standardizedFileURL
        let arch = root.appendingPathComponent("arch")
        guard let walker = FileManager.default.enumerator(at: arch, includingPropertiesForKeys: nil) else {
            return KconfigSymbolIndex(locations: [:])
        }
        for case let url as URL in walker {
            guard url.lastPathComponent.hasPrefix("Kconfig"), let data = FileManager.default.contents(atPath: url.path) else {
                continue
            }
            let relative = String(url.standardizedFileURL.path.dropFirst(root.path.count + 1))
            var lineNumber = 0
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
                lineNumber += 1
                let trimmed = line.trimmingWhitespace()
                for keyword in ["config ", "menuconfig "] where trimmed.hasPrefix(keyword) {
                    let symbol = trimmed.dropFirst(keyword.count).trimmingWhitespace()
                    if KernelFragment.isSymbolName(symbol) {
                        locations[String(symbol), default: []].append(SourceLocation(path: relative, line: lineNumber))
                    }
                }
            }
        }
        return KconfigSymbolIndex(locations: locations)
    }
}

/// The line-oriented reader behind `KconfigTree.parse`.
struct KconfigParser {
    /// An enclosing block: `if`, `menu` or `choice`.
    final class Scope {
        enum Kind { case ifBlock, menu, choice(Int) }
        let kind: Kind
        let location: SourceLocation
        let label: String
        var conditions: [KconfigExpression] = []
        var visibleIf: [KconfigExpression] = []
        init(kind: Kind, location: SourceLocation, label: String) {
            self.kind = kind
            self.location = location
            self.label = label
        }
    }

    /// The entry that property lines currently attach to.
    enum Current {
        case none
        case definition(KconfigDefinition, isMenuconfig: Bool)
        case choice(Int)
        case menu(Scope)
        case comment
    }

    let root: URL
    let variables: [String: String]
    var tree = KconfigTree()
    private var scopes: [Scope] = []
    private var current: Current = .none

    init(root: URL, variables: [String: String]) {
        self.root = root
        self.variables = variables
    }

    mutating func parse(file relative: String, required: Bool) throws(ComposeKernelError) {
        let url = root.appendingPathComponent(relative)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            if required { throw ComposeKernelError("Kconfig: cannot read \(url.path) (sourced from the tree's Kconfig)") }
            return
        }
        tree.countFile()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        var index = 0
        while index < lines.count {
            let lineNumber = index + 1
            var line = Substring(lines[index])
            index += 1
            while line.hasSuffix("\\"), index < lines.count {  // continuation lines
                line = Substring(String(line.dropLast()) + " " + lines[index])
                index += 1
            }
            let text = line.trimmingWhitespace()
            if text.isEmpty || text.hasPrefix("#") { continue }
            let location = SourceLocation(path: relative, line: lineNumber)
            let keywordEnd = text.firstIndex(where: { $0 == " " || $0 == "\t" }) ?? text.endIndex
            let keyword = text[..<keywordEnd]
            let rest = text[keywordEnd...].trimmingWhitespace()
            if keyword == "help" || keyword == "---help---" {
                index = KconfigParser.skipHelp(lines, from: index)
                continue
            }
            try handle(keyword: keyword, rest: rest, location: location)
        }
        finishEntry()
    }

    /// Help text runs while lines are blank or indented at least as far as its first line.
    static func skipHelp(_ lines: [Substring], from start: Int) -> Int {
        var index = start
        var helpIndent: Int?
        while index < lines.count {
            let line = lines[index]
            if line.trimmingWhitespace().isEmpty {
                index += 1
                continue
            }
            let indent = indentation(line)
            if let helpIndent {
                if indent < helpIndent { break }
            } else {
                if indent == 0 { break }
                helpIndent = indent
            }
            index += 1
        }
        return index
    }

    static func indentation(_ line: Substring) -> Int {
        var columns = 0
        for character in line {
            if character == " " { columns += 1 } else if character == "\t" { columns = (columns / 8 + 1) * 8 } else { break }
        }
        return columns
    }

    private mutating func handle(keyword: Substring, rest: Substring, location: SourceLocation) throws(ComposeKernelError) {
        switch keyword {
        case "config", "menuconfig":
            finishEntry()
            var definition = KconfigDefinition(symbol: String(rest), location: location)
            definition.dependencies = inheritedConditions()
            definition.visibility = scopes.flatMap { scope in
                scope.visibleIf.map { KconfigCondition(expression: $0, origin: "visible if \($0) of menu \"\(scope.label)\" at \(scope.location)") }
            }
            if let choiceScope = scopes.last, case .choice(let index) = choiceScope.kind {
                definition.choice = index
                tree.updateChoice(index) { $0.members.append(definition.symbol) }
            }
            current = .definition(definition, isMenuconfig: keyword == "menuconfig")
        case "choice":
            finishEntry()
            var choice = KconfigChoice(location: location)
            choice.dependencies = inheritedConditions()
            let index = tree.addChoice(choice)
            scopes.append(Scope(kind: .choice(index), location: location, label: "choice"))
            current = .choice(index)
        case "endchoice":
            finishEntry()
            try pop(expecting: "choice", at: location)
        case "menu":
            finishEntry()
            let title = tokenizeKconfig(rest).flatMap { tokens -> String? in
                if case .string(let text)? = tokens.first { return text }
                return nil
            } ?? String(rest)
            let scope = Scope(kind: .menu, location: location, label: title)
            scopes.append(scope)
            current = .menu(scope)
        case "endmenu":
            finishEntry()
            try pop(expecting: "menu", at: location)
        case "if":
            finishEntry()
            let scope = Scope(kind: .ifBlock, location: location, label: String(rest))
            if let expression = expression(rest, at: location) { scope.conditions.append(expression) }
            scopes.append(scope)
        case "endif":
            finishEntry()
            try pop(expecting: "if", at: location)
        case "comment", "mainmenu":
            finishEntry()
            current = .comment
        case "source", "rsource", "osource", "orsource":
            finishEntry()
            guard case .string(let raw)? = tokenizeKconfig(rest)?.first else {
                tree.warn("\(location): cannot read the path of '\(keyword) \(rest)'")
                return
            }
            let path = expandVariables(raw)
            let relative = keyword.hasPrefix("r") || keyword == "orsource"
                ? (location.path as NSString).deletingLastPathComponent + "/" + path
                : path
            let saved = scopes.count
            try parse(file: (relative as NSString).standardizingPath, required: !keyword.hasPrefix("o"))
            if scopes.count != saved {
                throw ComposeKernelError("Kconfig: \(relative) leaves \(scopes.count - saved) block(s) open (sourced at \(location))")
            }
        default:
            property(keyword: keyword, rest: rest, location: location)
        }
    }

    private mutating func property(keyword: Substring, rest: Substring, location: SourceLocation) {
        // `NAME := value`, `NAME = value`, `NAME += value` define preprocessor variables; a bare
        // `$(warning …)` line calls one. Their results are already in the final .config.
        if keyword.hasPrefix("$(") || ["=", ":=", "+=", "?="].contains(where: { rest.hasPrefix($0) }) { return }
        guard let tokens = tokenizeKconfig(rest) else {
            tree.warn("\(location): cannot tokenize '\(keyword) \(rest)'")
            return
        }
        let (body, condition) = splitCondition(tokens, at: location)
        switch current {
        case .definition(var definition, let isMenuconfig):
            switch keyword {
            case "bool", "tristate", "string", "int", "hex":
                definition.type = KconfigType(rawValue: String(keyword))
                if case .string(let text)? = body.first { definition.prompts.append(.init(text: text, condition: condition)) }
            case "def_bool", "def_tristate":
                definition.type = keyword == "def_bool" ? .bool : .tristate
                if let value = KconfigExpressionParser.parse(body) { definition.defaults.append(.init(value: value, condition: condition)) }
            case "prompt":
                if case .string(let text)? = body.first { definition.prompts.append(.init(text: text, condition: condition)) }
            case "default":
                if let value = KconfigExpressionParser.parse(body) { definition.defaults.append(.init(value: value, condition: condition)) }
            case "depends":
                if let expression = dependsExpression(body, at: location) {
                    definition.dependencies.insert(KconfigCondition(expression: expression, origin: "depends on"),
                                                   at: definition.dependencies.firstIndex { $0.origin != "depends on" } ?? definition.dependencies.count)
                }
            case "select", "imply":
                if case .word(let target)? = body.first {
                    tree.addReverse(target: target, KconfigReverseDependency(
                        selector: definition.symbol, condition: condition, location: location, isImply: keyword == "imply"))
                }
            case "range":
                if body.count == 2, let low = KconfigExpressionParser.parse(body[0...0]),
                   let high = KconfigExpressionParser.parse(body[1...1]) {
                    definition.ranges.append(.init(low: low, high: high, condition: condition))
                }
            case "option", "modules", "transitional", "visible":
                break
            default:
                tree.warn("\(location): unknown property '\(keyword)'")
            }
            current = .definition(definition, isMenuconfig: isMenuconfig)
        case .choice(let index):
            switch keyword {
            case "bool", "tristate", "prompt":
                if case .string(let text)? = body.first { tree.updateChoice(index) { $0.prompt = text } }
            case "default":
                if let value = KconfigExpressionParser.parse(body) {
                    tree.updateChoice(index) { $0.defaults.append(.init(value: value, condition: condition)) }
                }
            case "depends":
                if let expression = dependsExpression(body, at: location) {
                    tree.updateChoice(index) { $0.dependencies.append(KconfigCondition(expression: expression, origin: "depends on")) }
                    if let scope = scopes.last { scope.conditions.append(expression) }
                }
            case "optional", "visible":
                break
            default:
                tree.warn("\(location): unknown choice property '\(keyword)'")
            }
        case .menu(let scope):
            switch keyword {
            case "depends":
                if let expression = dependsExpression(body, at: location) { scope.conditions.append(expression) }
            case "visible":
                if let condition { scope.visibleIf.append(condition) }
            default:
                tree.warn("\(location): unknown menu property '\(keyword)'")
            }
        case .comment:
            break
        case .none:
            tree.warn("\(location): '\(keyword)' outside any entry")
        }
    }

    /// Splits `… if EXPR` into the body and its condition.
    private mutating func splitCondition(_ tokens: [KconfigToken], at location: SourceLocation) -> ([KconfigToken], KconfigExpression?) {
        guard let position = tokens.firstIndex(of: .word("if")) else { return (tokens, nil) }
        let condition = KconfigExpressionParser.parse(tokens[(position + 1)...])
        if condition == nil { tree.warn("\(location): cannot parse the condition after 'if'") }
        return (Array(tokens[..<position]), condition)
    }

    private mutating func dependsExpression(_ body: [KconfigToken], at location: SourceLocation) -> KconfigExpression? {
        guard body.first == .word("on"), let expression = KconfigExpressionParser.parse(body.dropFirst()) else {
            tree.warn("\(location): cannot parse 'depends'")
            return nil
        }
        return expression
    }

    private mutating func expression(_ text: Substring, at location: SourceLocation) -> KconfigExpression? {
        guard let tokens = tokenizeKconfig(text), let expression = KconfigExpressionParser.parse(tokens) else {
            tree.warn("\(location): cannot parse expression '\(text)'")
            return nil
        }
        return expression
    }

    private func inheritedConditions() -> [KconfigCondition] {
        scopes.reversed().flatMap { scope -> [KconfigCondition] in
            scope.conditions.map { expression in
                switch scope.kind {
                case .ifBlock: KconfigCondition(expression: expression, origin: "if \(scope.label) at \(scope.location)")
                case .menu: KconfigCondition(expression: expression, origin: "menu \"\(scope.label)\" at \(scope.location)")
                case .choice: KconfigCondition(expression: expression, origin: "choice at \(scope.location)")
                }
            }
        }
    }

    private mutating func finishEntry() {
        if case .definition(let definition, _) = current { tree.add(definition) }
        current = .none
    }

    private mutating func pop(expecting kind: String, at location: SourceLocation) throws(ComposeKernelError) {
        guard let scope = scopes.popLast() else {
            throw ComposeKernelError("Kconfig: end\(kind) without \(kind) at \(location)")
        }
        let matches: Bool
        switch scope.kind {
        case .ifBlock: matches = kind == "if"
        case .menu: matches = kind == "menu"
        case .choice: matches = kind == "choice"
        }
        if !matches { throw ComposeKernelError("Kconfig: end\(kind) at \(location) closes the block opened at \(scope.location)") }
    }

    private func expandVariables(_ text: String) -> String {
        var result = text
        for (name, value) in variables { result = result.replacingOccurrences(of: "$(\(name))", with: value) }
        return result
    }
}
