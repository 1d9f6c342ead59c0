/// A per-second allowance of log lines for events a peer can cause at will (bad packets, ignored frames):
/// the first `perSecond` of each second are logged, the rest counted, and the count reported once when the
/// next second's first line is spent. A peer that triggers thousands of lines a second then costs a few
/// lines and a count, not a log (and a loop) drowned in them.
public struct LogBudget: Sendable {
    public let perSecond: Int
    private var windowStart: UInt64?
    private var used = 0
    private var suppressed = 0

    public init(perSecond: Int) { self.perSecond = perSecond }

    /// Spends one line at `now` (monotonic nanoseconds): whether it may be logged, and how many lines the
    /// window that just ended suppressed.
    public mutating func spend(now: UInt64 = Clock.monotonicNanoseconds) -> (allowed: Bool, suppressedBefore: Int) {
        var report = 0
        if windowStart.map({ now &- $0 >= 1_000_000_000 }) ?? true {
            report = suppressed
            windowStart = now
            used = 0
            suppressed = 0
        }
        guard used < perSecond else {
            suppressed += 1
            return (false, report)
        }
        used += 1
        return (true, report)
    }
}
