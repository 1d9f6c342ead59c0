// Merging fragments into one request, with merge_config.sh's rule: a later fragment's value for a
// symbol replaces an earlier one. A replacement with a different value is a conflict: it is kept (the
// later value wins, which is how `--with` overrides a profile) and reported with both places.

/// Two fragments asking different values of one symbol.
public struct ConfigConflict: Hashable, Sendable, CustomStringConvertible {
    public let earlier: ConfigEntry
    public let later: ConfigEntry

    public var symbol: String { later.symbol }
    public var description: String {
        "CONFIG_\(symbol): \(earlier.value) at \(earlier.location) overridden by \(later.value) at \(later.location)"
    }
}

/// The merged request of a list of fragments: one value per symbol, plus the conflicts met on the way.
public struct ConfigRequest: Sendable {
    /// The winning entry of each symbol, in the order merge_config.sh leaves them (a replaced entry
    /// moves to where its replacement is).
    public let entries: [ConfigEntry]
    public let conflicts: [ConfigConflict]
    private let index: [String: Int]

    public init(merging fragments: [KernelFragment]) {
        var winners: [String: (position: Int, entry: ConfigEntry)] = [:]
        var conflicts: [ConfigConflict] = []
        var position = 0
        for fragment in fragments {
            for entry in fragment.entries {
                position += 1
                if let previous = winners[entry.symbol]?.entry, previous.value != entry.value {
                    conflicts.append(ConfigConflict(earlier: previous, later: entry))
                }
                winners[entry.symbol] = (position, entry)
            }
        }
        entries = winners.values.sorted { $0.position < $1.position }.map(\.entry)
        self.conflicts = conflicts
        var index: [String: Int] = [:]
        for (offset, entry) in entries.enumerated() { index[entry.symbol] = offset }
        self.index = index
    }

    /// The requested entry for a symbol (without `CONFIG_`).
    public subscript(symbol: String) -> ConfigEntry? {
        index[symbol].map { entries[$0] }
    }

    /// The request as fragment text, one line per symbol.
    public var text: String {
        entries.map(\.line).joined(separator: "\n") + "\n"
    }
}
