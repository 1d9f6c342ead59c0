// Validation: every requested value must hold in the final .config. Kbuild drops a request silently
// when a dependency is unmet, the prompt is hidden, a choice went elsewhere or something selects the
// symbol back on; each drop here gets that reason, read from the tree's Kconfig and the final values,
// e.g. "CONFIG_EROFS_FS=y dropped: depends on MISC_FILESYSTEMS, which is n".

/// A requested value the final .config does not hold, and why.
public struct DroppedOption: Sendable, CustomStringConvertible {
    public let requested: ConfigEntry
    /// The value in the final .config (`n` when absent).
    public let actual: ConfigValue
    public let reason: String

    public var description: String {
        let now = requested.value.isEnabled && actual == .no ? "" : " (it is \(actual))"
        return "\(requested.location): \(requested) dropped\(now): \(reason)"
    }
}

/// Checks a request against a resolved .config and explains each value that did not hold.
public struct ConfigValidation: Sendable {
    public let tree: KconfigTree
    public let otherArchitectures: KconfigSymbolIndex
    /// How the tree is named in messages ("linux 6.12.117").
    public let treeName: String
    public let arch: KernelArch

    public init(tree: KconfigTree, otherArchitectures: KconfigSymbolIndex, treeName: String, arch: KernelArch) {
        self.tree = tree
        self.otherArchitectures = otherArchitectures
        self.treeName = treeName
        self.arch = arch
    }

    /// The requested values that did not make it into `config`, in request order.
    public func dropped(_ request: ConfigRequest, in config: DotConfig) -> [DroppedOption] {
        let explainer = DropExplainer(tree: tree, values: ResolvedValues(config: config, tree: tree), config: config,
                                      request: request, otherArchitectures: otherArchitectures, treeName: treeName, arch: arch)
        return request.entries.compactMap { entry in
            config.satisfies(entry) ? nil
                : DroppedOption(requested: entry, actual: config[entry.symbol], reason: explainer.explain(entry))
        }
    }
}

/// Works out one drop's reason from the definitions of its symbol.
struct DropExplainer {
    let tree: KconfigTree
    let values: ResolvedValues
    let config: DotConfig
    let request: ConfigRequest
    let otherArchitectures: KconfigSymbolIndex
    let treeName: String
    let arch: KernelArch

    func explain(_ entry: ConfigEntry) -> String {
        let symbol = entry.symbol
        guard let definitions = tree.definitions[symbol], !definitions.isEmpty else { return unknownSymbol(symbol) }
        let actual = config[symbol]
        switch (entry.value, actual) {
        case (.yes, .no), (.module, .no):
            return whyOff(symbol, definitions, wanted: entry.value == .yes ? .yes : .module)
        case (.yes, .module):
            return whyOff(symbol, definitions, wanted: .yes)
        case (.module, .yes):
            if config["MODULES"] != .yes { return "MODULES is n: without loadable modules a tristate option is y or n" }
            return selectors(of: symbol).isEmpty ? "it is y" : "selected by \(describe(selectors: selectors(of: symbol)))"
        case (.no, _):
            return whyOn(symbol, definitions)
        default:
            return whyValue(symbol, definitions, actual: actual)
        }
    }

    private func unknownSymbol(_ symbol: String) -> String {
        if let places = otherArchitectures.locations[symbol] {
            let shown = places.prefix(3).map(\.description).joined(separator: ", ")
            return "not defined for \(arch.rawValue) (only in \(shown))"
        }
        let known = Array(tree.definitions.keys) + Array(otherArchitectures.locations.keys)
        let hint = SymbolSuggestion.closest(to: symbol, among: known).map { "; did you mean CONFIG_\($0)?" } ?? ""
        return "no such symbol in \(treeName)\(hint)"
    }

    // MARK: requested on, ended off (or m instead of y)

    private func whyOff(_ symbol: String, _ definitions: [KconfigDefinition], wanted: Tristate) -> String {
        // 1. Unmet dependencies (all definitions must fail for the symbol to be off).
        let limits = definitions.map { dependencyValue($0) }
        if let best = limits.compactMap({ $0 }).max(), best < wanted {
            let reasons = definitions.compactMap { definition -> String? in
                let unmet = definition.dependencies.filter { ($0.expression.evaluate(values) ?? .yes) < wanted }
                guard !unmet.isEmpty else { return nil }
                let text = unmet.map { describe(dependency: $0, wanted: wanted) }.joined(separator: "; and ")
                return definitions.count > 1 ? "\(text) (\(definition.location))" : text
            }
            let prefix = best == .module && wanted == .yes ? "can only be m: " : ""
            return prefix + reasons.joined(separator: "; or ")
        }
        // 2. A choice that picked another member.
        if let choiceIndex = definitions.lazy.compactMap(\.choice).first {
            let choice = tree.choices[choiceIndex]
            let name = choice.prompt.map { "choice \"\($0)\"" } ?? "the choice"
            if let chosen = choice.members.first(where: { $0 != symbol && config[$0] == .yes }) {
                let alsoRequested = request[chosen].map { " (requested at \($0.location))" } ?? ""
                return "\(name) at \(choice.location) picked \(chosen)\(alsoRequested) instead"
            }
            let unmet = choice.dependencies.filter { $0.expression.evaluate(values) == .no }
            if !unmet.isEmpty {
                return "\(name) at \(choice.location) " + unmet.map { describe(dependency: $0, wanted: .yes) }.joined(separator: "; and ")
            }
        }
        // 3. No visible prompt: only select or a default can set it.
        if let hidden = hiddenPromptReason(definitions) {
            let selectedBy = selectors(of: symbol, includeInactive: true)
            let defaultText = defaultValue(definitions).map { ", and its default is \($0)" } ?? ", and it has no default"
            if selectedBy.isEmpty { return hidden + defaultText + "; nothing selects it" }
            return hidden + defaultText + "; selected only by " + describe(selectors: selectedBy)
        }
        return "its dependencies hold (\(definitions[0].location)) but olddefconfig left it \(config[symbol])"
    }

    // MARK: requested off, ended on

    private func whyOn(_ symbol: String, _ definitions: [KconfigDefinition]) -> String {
        let active = selectors(of: symbol)
        if !active.isEmpty { return "selected by \(describe(selectors: active))" }
        if let choiceIndex = definitions.lazy.compactMap(\.choice).first {
            let choice = tree.choices[choiceIndex]
            let others = choice.members.filter { $0 != symbol }.prefix(6).joined(separator: ", ")
            let name = choice.prompt.map { "choice \"\($0)\"" } ?? "the choice"
            return "\(name) at \(choice.location) must pick one member; request another (\(others))"
        }
        if let hidden = hiddenPromptReason(definitions) {
            let value = defaultValue(definitions) ?? "\(config[symbol])"
            return hidden + ", so it keeps its default, \(value)"
        }
        return "olddefconfig set it to \(config[symbol]) (\(definitions[0].location))"
    }

    // MARK: numbers and strings

    private func whyValue(_ symbol: String, _ definitions: [KconfigDefinition], actual: ConfigValue) -> String {
        if definitions.allSatisfy({ dependencyValue($0) == .no }) {
            return whyOff(symbol, definitions, wanted: .yes)
        }
        if let hidden = hiddenPromptReason(definitions) {
            return hidden + ", so it keeps its default, \(actual)"
        }
        for definition in definitions {
            for range in definition.ranges where (range.condition?.evaluate(values) ?? .yes) != .no {
                let low = values.text(of: range.low.description), high = values.text(of: range.high.description)
                let bounds = "\(range.low)..\(range.high)" + (low == range.low.description && high == range.high.description ? "" : " (\(low)..\(high))")
                return "out of its range \(bounds) (\(definition.location)), so olddefconfig set it to \(actual)"
            }
        }
        if let type = tree.type(of: symbol) {
            return "olddefconfig set it to \(actual) (\(type.rawValue) at \(definitions[0].location))"
        }
        return "olddefconfig set it to \(actual)"
    }

    // MARK: pieces

    /// The value a definition's dependencies allow (nil when a macro makes it unknowable).
    private func dependencyValue(_ definition: KconfigDefinition) -> Tristate? {
        var value = Tristate.yes
        for condition in definition.dependencies {
            guard let result = condition.expression.evaluate(values) else { return nil }
            value = min(value, result)
        }
        return value
    }

    /// Why no prompt of the symbol can be answered, or nil when one can.
    private func hiddenPromptReason(_ definitions: [KconfigDefinition]) -> String? {
        let prompts = definitions.flatMap { definition in definition.prompts.map { (definition, $0) } }
        if prompts.isEmpty { return "it has no prompt" }
        var reasons: [String] = []
        for (definition, prompt) in prompts {
            if let condition = prompt.condition, condition.evaluate(values) == .no {
                let (text, hints) = describe(expression: condition, wanted: .yes)
                reasons.append((["its prompt shows only if \(text)"] + hints).joined(separator: "; "))
                continue
            }
            if let hidden = definition.visibility.first(where: { $0.expression.evaluate(values) == .no }) {
                reasons.append("its prompt is hidden by \(hidden.origin), \(valuesText(hidden.expression))")
                continue
            }
            return nil
        }
        return reasons.joined(separator: "; ")
    }

    private func defaultValue(_ definitions: [KconfigDefinition]) -> String? {
        for definition in definitions {
            for item in definition.defaults where (item.condition?.evaluate(values) ?? .yes) != .no {
                if case .symbol(let name) = item.value, ["y", "m", "n"].contains(name) { return name }
                if let value = item.value.evaluate(values), tree.type(of: definition.symbol) != .int,
                   tree.type(of: definition.symbol) != .hex, tree.type(of: definition.symbol) != .string {
                    return "\(item.value) (\(value))"
                }
                return item.value.description
            }
        }
        return nil
    }

    /// Symbols that select (not imply) this one; only those that are on with a true condition unless
    /// `includeInactive`.
    private func selectors(of symbol: String, includeInactive: Bool = false) -> [KconfigReverseDependency] {
        (tree.reverseDependencies[symbol] ?? []).filter { edge in
            guard !edge.isImply else { return false }
            if includeInactive { return true }
            return values.tristate(of: edge.selector) != .no && (edge.condition?.evaluate(values) ?? .yes) != .no
        }
    }

    private func describe(selectors edges: [KconfigReverseDependency]) -> String {
        var parts = edges.prefix(4).map { edge -> String in
            let condition = edge.condition.map { " if \($0)" } ?? ""
            let names = [edge.selector] + (edge.condition?.symbols ?? [])
            let state = names.map { "\($0)=\(values.text(of: $0))" }.joined(separator: ", ")
            return "\(edge.selector)\(condition) (\(state); \(edge.location))"
        }
        if edges.count > 4 { parts.append("\(edges.count - 4) more") }
        return parts.joined(separator: ", ")
    }

    private func describe(dependency: KconfigCondition, wanted: Tristate) -> String {
        let (text, hints) = describe(expression: dependency.expression, wanted: wanted)
        let via = dependency.origin == "depends on" ? "" : " (through \(dependency.origin))"
        return (["depends on \(text)\(via)"] + hints).joined(separator: "; ")
    }

    /// "MISC_FILESYSTEMS, which is n", "!EXPERT, but EXPERT is y", "X86_64 || ARM64, which is n
    /// (X86_64=n, ARM64=n)", plus hints on blocking symbols that were not requested or dropped too.
    private func describe(expression: KconfigExpression, wanted: Tristate) -> (String, [String]) {
        switch expression {
        case .symbol(let name):
            return ("\(name), which is \(values.text(of: name))", hint(for: name).map { [$0] } ?? [])
        case .not(.symbol(let name)):
            return ("!\(name), but \(name) is \(values.text(of: name))", [])
        case .macro(let body):
            return ("\(body), a compiler or tool test that failed for this toolchain", [])
        default:
            let unmet = expression.conjuncts.filter { ($0.evaluate(values) ?? .yes) < wanted }
            if unmet.count > 1 || (unmet.count == 1 && unmet[0] != expression) {
                let parts = unmet.map { describe(expression: $0, wanted: wanted) }
                return (parts.map(\.0).joined(separator: ", and "), parts.flatMap(\.1))
            }
            let value = expression.evaluate(values).map(\.description) ?? "unknown"
            let hints = expression.symbols.filter { values.tristate(of: $0) == .no }.compactMap { hint(for: $0) }
            return ("\(expression), which is \(value) (\(valuesText(expression)))", hints)
        }
    }

    private func valuesText(_ expression: KconfigExpression) -> String {
        expression.symbols.map { "\($0)=\(values.text(of: $0))" }.joined(separator: ", ")
    }

    private func hint(for symbol: String) -> String? {
        if let requested = request[symbol] {
            return config.satisfies(requested) ? nil : "\(symbol) was requested at \(requested.location) but dropped too"
        }
        let promptable = tree.definitions[symbol]?.contains { !$0.prompts.isEmpty } ?? false
        if promptable { return "\(symbol) is not requested: add CONFIG_\(symbol)=y" }
        let selectedBy = selectors(of: symbol, includeInactive: true)
        guard !selectedBy.isEmpty else { return nil }
        return "\(symbol) has no prompt; it is selected by \(describe(selectors: selectedBy))"
    }
}
