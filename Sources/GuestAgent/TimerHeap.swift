/// The loop's deadlines: a binary min-heap ordered by deadline, with each timer's place in the heap kept by
/// id, so adding, cancelling and taking the due ones are O(log n). Thousands of parked calls with timeouts
/// (and refused connections waiting to be closed) then cost the loop no more than a few.
struct TimerHeap {
    private var entries: [(deadline: UInt64, id: Int)] = []
    private var positions: [Int: Int] = [:]

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }
    /// The soonest deadline.
    var earliest: UInt64? { entries.first?.deadline }

    mutating func insert(id: Int, deadline: UInt64) {
        entries.append((deadline, id))
        positions[id] = entries.count - 1
        siftUp(entries.count - 1)
    }

    /// Drops a timer; false when it is not (or no longer) here.
    @discardableResult
    mutating func remove(id: Int) -> Bool {
        guard let index = positions[id] else { return false }
        removeEntry(at: index)
        return true
    }

    /// Takes every timer whose deadline is at or before `now`, soonest first.
    mutating func popDue(now: UInt64) -> [Int] {
        var due: [Int] = []
        while let first = entries.first, first.deadline <= now {
            due.append(first.id)
            removeEntry(at: 0)
        }
        return due
    }

    private mutating func removeEntry(at index: Int) {
        let removed = entries[index]
        positions[removed.id] = nil
        let last = entries.count - 1
        if index != last {
            entries[index] = entries[last]
            positions[entries[index].id] = index
        }
        entries.removeLast()
        guard index < entries.count else { return }
        siftDown(index)
        siftUp(index)
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].deadline < entries[parent].deadline else { return }
            swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count && entries[left].deadline < entries[smallest].deadline { smallest = left }
            if right < entries.count && entries[right].deadline < entries[smallest].deadline { smallest = right }
            guard smallest != parent else { return }
            swapAt(parent, smallest)
            parent = smallest
        }
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        entries.swapAt(a, b)
        positions[entries[a].id] = a
        positions[entries[b].id] = b
    }
}
