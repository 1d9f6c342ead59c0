// The process-wide side of HostProcess: one thread that forks every child and enforces lifetimes, and
// the record of which children's process groups are alive.
//
// Why one thread: PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process.
// Swift's concurrency and Dispatch pools retire idle threads, so a child forked from one of them could be
// killed while its parent lives on. This thread never ends, so the signal comes only when the process
// dies. The same thread sleeps until the next lifetime deadline and kills that group then, so a lifetime
// holds even when nobody waits for the child.
import Foundation
import GuestSys

final class ChildSupervisor: @unchecked Sendable {
    // Invariant: every stored var is read and written only with `condition` locked.
    static let shared = ChildSupervisor()

    private final class Job {
        let request: SpawnRequest
        let guarded: Bool
        let lifetime: Duration?
        var result: Result<pid_t, SpawnError>?
        init(_ request: SpawnRequest, guarded: Bool, lifetime: Duration?) {
            self.request = request
            self.guarded = guarded
            self.lifetime = lifetime
        }
    }

    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var deadlines: [pid_t: ContinuousClock.Instant] = [:]
    private var expired: Set<pid_t> = []
    private var live: Set<pid_t> = []
    private var deathGuard: ParentDeathGuard?

    private init() {
        let thread = Thread { [unowned self] in self.serve() }
        thread.name = "HostProcess.spawner"
        thread.start()
    }

    /// Forks and execs on the spawner thread; returns once the program runs. A guarded child's group
    /// is registered with the death guard before this returns.
    func spawn(_ request: SpawnRequest, guarded: Bool, lifetime: Duration?) throws(SpawnError) -> pid_t {
        let job = Job(request, guarded: guarded, lifetime: lifetime)
        condition.lock()
        jobs.append(job)
        condition.broadcast()
        while job.result == nil { condition.wait() }
        let result = job.result!
        condition.unlock()
        return try result.get()
    }

    /// Forgets a child whose leader has ended (called before it is reaped, while its pid is still ours);
    /// returns whether its lifetime had run out.
    func ended(_ pid: pid_t) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        deadlines[pid] = nil
        let timedOut = expired.remove(pid) != nil
        if live.remove(pid) != nil { deathGuard?.unregister(pid) }
        return timedOut
    }

    /// Whether the lifetime of child `pid` ran out (its group was killed for it).
    func hasExpired(_ pid: pid_t) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return expired.contains(pid)
    }

    /// The process groups of the children that have not ended yet.
    var liveGroups: [pid_t] {
        condition.lock()
        defer { condition.unlock() }
        return Array(live)
    }

    private func serve() {
        condition.lock()
        while true {
            if !jobs.isEmpty {
                let job = jobs.removeFirst()
                if job.guarded, deathGuard == nil { deathGuard = ParentDeathGuard.start() }
                condition.unlock()
                let result: Result<pid_t, SpawnError>
                do throws(SpawnError) { result = .success(try Spawner.spawn(job.request)) } catch { result = .failure(error) }
                condition.lock()
                if case let .success(pid) = result {
                    live.insert(pid)
                    if job.guarded { registerWithGuard(pid) }
                    if let lifetime = job.lifetime { deadlines[pid] = ContinuousClock.now + lifetime }
                }
                job.result = result
                condition.broadcast()
                continue
            }
            let now = ContinuousClock.now
            for (pid, deadline) in deadlines where deadline <= now {
                deadlines[pid] = nil
                expired.insert(pid)
                try? Processes.signal(-pid, Signal.kill)
            }
            if let next = deadlines.values.min() {
                let seconds = Self.seconds(next - now)
                _ = condition.wait(until: Date(timeIntervalSinceNow: max(seconds, 0.001)))
            } else {
                condition.wait()
            }
        }
    }

    /// Registers a group; a guard that has gone (someone killed it) is replaced and told every live group.
    private func registerWithGuard(_ pid: pid_t) {
        if deathGuard?.register(pid) == true { return }
        deathGuard = ParentDeathGuard.start()
        for group in live where group != pid { _ = deathGuard?.register(group) }
        _ = deathGuard?.register(pid)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
