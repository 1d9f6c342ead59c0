import GuestSys

/// Log lines about events a peer can cause at will, within a LogBudget: the count of the lines it
/// suppressed is written when their second ends (a timer on the agent's loop), so a flood that stops inside
/// one second, from a peer that then falls silent, still gets its count; `flush` writes it at once.
final class BudgetedLog {
    private var budget: LogBudget
    private let loop: EventLoop
    /// Put before every line (the connection it is about).
    private let prefix: String
    /// What the suppressed lines are called in the count's line ("lines", "connection lines").
    private let noun: String
    private var reportTimer: Int?

    init(perSecond: Int, loop: EventLoop, prefix: String = "", noun: String = "lines") {
        budget = LogBudget(perSecond: perSecond)
        self.loop = loop
        self.prefix = prefix
        self.noun = noun
    }

    /// Logs `message` if the budget allows it, else counts it.
    func log(_ message: String) {
        let (allowed, suppressed) = budget.spend()
        report(suppressed)
        if allowed { AgentLog.info(prefix + message) }
        scheduleReport()
    }

    /// Writes the count now, due or not, and stops the timer (its owner is going away).
    func flush() {
        if let reportTimer { loop.cancelTimer(reportTimer) }
        reportTimer = nil
        report(budget.takeReport(now: .max))
    }

    private func scheduleReport() {
        guard reportTimer == nil, let deadline = budget.reportDeadline else { return }
        let now = Clock.monotonicNanoseconds
        reportTimer = loop.addTimer(after: deadline > now ? deadline - now : 0) { [weak self] in
            guard let self else { return }
            self.reportTimer = nil
            self.report(self.budget.takeReport())
            self.scheduleReport()
        }
    }

    private func report(_ count: Int) {
        if count > 0 { AgentLog.info("\(prefix)\(count) more \(noun) suppressed in the last second") }
    }
}
