/// A per-second allowance of log lines for events a peer can cause at will (bad packets, ignored frames):
/// the first `perSecond` of each second are logged, the rest counted, and the count reported once the second
/// is over: by the next line spent, or by `takeReport` at `reportDeadline` for an owner with a timer (a flood
/// that stops inside one second would otherwise never be reported). A peer that triggers thousands of lines
/// a second then costs a few lines and a count, not a log (and a loop) drowned in them.
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
        if windowStart.map({ now &- $0 >= 1_000_000_000 }) ?? true { report = endWindow(startingNext: now) }
        guard used < perSecond else {
            suppressed += 1
            return (false, report)
        }
        used += 1
        return (true, report)
    }

    /// When the count of suppressed lines is due (monotonic nanoseconds), if any were suppressed.
    public var reportDeadline: UInt64? {
        guard suppressed > 0, let windowStart else { return nil }
        return windowStart &+ 1_000_000_000
    }

    /// The count of lines suppressed in a window that has ended by `now`, once; 0 when there is nothing to
    /// report yet.
    public mutating func takeReport(now: UInt64 = Clock.monotonicNanoseconds) -> Int {
        guard let deadline = reportDeadline, now >= deadline else { return 0 }
        return endWindow(startingNext: nil)
    }

    /// Closes the current window (the next one starts at `start`, or at the next line spent); returns what
    /// it suppressed.
    private mutating func endWindow(startingNext start: UInt64?) -> Int {
        let report = suppressed
        windowStart = start
        used = 0
        suppressed = 0
        return report
    }
}
