// A resolved .config as Kbuild writes it: `CONFIG_X=value` lines and `# CONFIG_X is not set`.

/// The symbol values of a .config file.
public struct DotConfig: Sendable {
    /// Symbol (without `CONFIG_`) → value; "is not set" is `.no`.
    public let values: [String: ConfigValue]

    public init(text: String) {
        var values: [String: ConfigValue] = [:]
        for rawLine in text.split(separator: "\n") {
            let line = rawLine.trimmingWhitespace()
            if let symbol = KernelFragment.notSetSymbol(line) {
                values[symbol] = .no
            } else if line.hasPrefix("CONFIG_"), let equals = line.firstIndex(of: "=") {
                let symbol = String(line[line.index(line.startIndex, offsetBy: 7)..<equals])
                let raw = line[line.index(after: equals)...]
                values[symbol] = ConfigValue(parsing: raw) ?? .string(String(raw))
            }
        }
        self.values = values
    }

    /// A symbol's value; `.no` when the file does not mention it.
    public subscript(symbol: String) -> ConfigValue {
        values[symbol] ?? .no
    }

    /// How many options are built in (`=y`).
    public var builtInCount: Int { values.values.filter { $0 == .yes }.count }
    /// How many options are modules (`=m`).
    public var moduleCount: Int { values.values.filter { $0 == .module }.count }

    /// Whether the .config holds what an entry asks for (numbers compared as numbers).
    public func satisfies(_ entry: ConfigEntry) -> Bool {
        let actual = self[entry.symbol]
        if case .number(let wanted) = entry.value, case .number(let have) = actual,
           let a = KconfigExpression.number(wanted), let b = KconfigExpression.number(have) {
            return a == b
        }
        return actual == entry.value
    }
}

/// A .config read through a Kconfig tree: symbols take their declared types, and a name that is no
/// symbol is a constant, as in the kernel's expression evaluation.
struct ResolvedValues: KconfigValues {
    let config: DotConfig
    let tree: KconfigTree

    func tristate(of symbol: String) -> Tristate {
        switch config[symbol] {
        case .yes: .yes
        case .module: .module
        default: .no
        }
    }

    func text(of symbol: String) -> String {
        guard tree.definitions[symbol] != nil else { return symbol }
        switch config[symbol] {
        case .string(let text): return text
        case .number(let text): return text
        case .yes: return "y"
        case .module: return "m"
        case .no:
            switch tree.type(of: symbol) {
            case .string?, .int?, .hex?: return ""
            default: return "n"
            }
        }
    }
}
