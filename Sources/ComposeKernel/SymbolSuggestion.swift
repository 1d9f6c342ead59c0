// "Did you mean": the closest known name to a misspelt one, by edit distance (insertions, deletions,
// substitutions and swaps of neighbours each cost 1), so CONFIG_VIRTIO_BLOK suggests VIRTIO_BLK.

/// Suggests the nearest known name to an unknown one.
public enum SymbolSuggestion {
    /// The closest name, if one is near enough to be a plausible typo (distance at most a third of
    /// the name's length, and at least 2 allowed), else the shortest name that extends it.
    public static func closest(to name: String, among candidates: some Sequence<String>) -> String? {
        let target = Array(name.utf8)
        let limit = max(2, target.count / 3)
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let bytes = Array(candidate.utf8)
            if abs(bytes.count - target.count) > limit { continue }
            let bound = min(limit, best?.distance ?? limit)
            if let distance = distance(target, bytes, atMost: bound),
               best == nil || distance < best!.distance || (distance == best!.distance && candidate < best!.name) {
                best = (candidate, distance)
            }
        }
        if let best { return best.distance > 0 || best.name != name ? best.name : nil }
        // A dropped suffix (EROFS for EROFS_FS) is too far by distance but still the obvious guess.
        return candidates.filter { $0.hasPrefix(name + "_") || $0.hasPrefix(name + "-") }.min { $0.count < $1.count }
    }

    /// Optimal-string-alignment distance, or nil once it is certain to exceed `bound`.
    static func distance(_ a: [UInt8], _ b: [UInt8], atMost bound: Int) -> Int? {
        if a.isEmpty { return b.count <= bound ? b.count : nil }
        if b.isEmpty { return a.count <= bound ? a.count : nil }
        var previousPrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            var rowMinimum = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    value = min(value, previousPrevious[j - 2] + 1)
                }
                current[j] = value
                rowMinimum = min(rowMinimum, value)
            }
            if rowMinimum > bound { return nil }
            (previousPrevious, previous, current) = (previous, current, previousPrevious)
        }
        return previous[b.count] <= bound ? previous[b.count] : nil
    }
}
