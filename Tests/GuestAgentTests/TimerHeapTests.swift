import GuestTestSupport
import Testing
@testable import GuestAgent

@Suite struct TimerHeapTests {
    /// Against a plain sorted list: random inserts, cancels and pops (seeded) come out in the same order.
    @Test func behavesLikeASortedListUnderRandomUse() {
        var generator = SeededGenerator(seed: 16)
        var heap = TimerHeap()
        var reference: [(deadline: UInt64, id: Int)] = []
        var nextID = 0
        var now: UInt64 = 0
        for _ in 0..<20_000 {
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<5:
                let deadline = now + UInt64.random(in: 0..<1000, using: &generator)
                heap.insert(id: nextID, deadline: deadline)
                reference.append((deadline, nextID))
                nextID += 1
            case 5..<7:
                guard let victim = reference.randomElement(using: &generator) else { continue }
                let removed = heap.remove(id: victim.id)
                let again = heap.remove(id: victim.id)
                #expect(removed && !again)
                reference.removeAll { $0.id == victim.id }
            default:
                now += UInt64.random(in: 0..<200, using: &generator)
                let due = heap.popDue(now: now)
                let expected = reference.filter { $0.deadline <= now }
                // Same set, in deadline order (ties in any order).
                #expect(Set(due) == Set(expected.map(\.id)))
                let dueDeadlines = due.compactMap { id in expected.first { $0.id == id }?.deadline }
                #expect(dueDeadlines == dueDeadlines.sorted())
                reference.removeAll { $0.deadline <= now }
            }
            #expect(heap.count == reference.count)
            #expect(heap.earliest == reference.map(\.deadline).min())
        }
    }
}
