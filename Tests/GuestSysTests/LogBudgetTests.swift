import GuestSys
import Testing

@Suite struct LogBudgetTests {
    static let second: UInt64 = 1_000_000_000

    @Test func linesBeyondTheAllowanceAreCountedAndReportedByTheNextSecondsFirstLine() {
        var budget = LogBudget(perSecond: 2)
        let spent = (0..<5).map { budget.spend(now: 10 + UInt64($0)) }
        #expect(spent.map(\.allowed) == [true, true, false, false, false])
        #expect(spent.map(\.suppressedBefore) == [0, 0, 0, 0, 0])
        let next = budget.spend(now: 10 + Self.second)
        #expect(next.allowed && next.suppressedBefore == 3)
        #expect(budget.spend(now: 11 + Self.second).suppressedBefore == 0)
    }

    @Test func aFloodThatStopsInsideOneSecondIsReportedAtTheDeadline() {
        var budget = LogBudget(perSecond: 1)
        #expect(budget.reportDeadline == nil)
        _ = budget.spend(now: 100)
        #expect(budget.reportDeadline == nil, "nothing suppressed, nothing to report")
        _ = budget.spend(now: 200)
        _ = budget.spend(now: 300)
        #expect(budget.reportDeadline == 100 + Self.second)
        #expect(budget.takeReport(now: 99 + Self.second) == 0, "the window is not over")
        #expect(budget.takeReport(now: 100 + Self.second) == 2)
        #expect(budget.takeReport(now: 5 * Self.second) == 0, "reported once")
        #expect(budget.reportDeadline == nil)
        // The next line opens a fresh window with its full allowance.
        let after = budget.spend(now: 5 * Self.second)
        #expect(after.allowed && after.suppressedBefore == 0)
    }
}
