import GuestSys

/// Something the loop notifies when one of its descriptors is ready.
protocol PollTarget: AnyObject {
    func ready(_ fd: FileDescriptor, _ events: PollEvents)
}

/// The agent's single wait point: epoll over every socket, pipe, pty and the signalfd, plus deadlines.
/// Level-triggered; a descriptor with nothing wanted is taken out of epoll entirely, because epoll reports
/// hang-ups even for an empty interest set and a paused pipe would spin the loop.
final class EventLoop {
    private let poller: Poller
    private var targets: [Int32: PollTarget] = [:]
    private var interests: [Int32: PollEvents] = [:]
    /// Descriptors dropped while a batch of events is being handled: later events of that batch for the
    /// same number belong to the old descriptor (or to a new one that may reuse the number) and are skipped.
    private var droppedThisBatch: Set<Int32> = []
    private var timers = TimerHeap()
    private var timerActions: [Int: () -> Void] = [:]
    private var nextTimerID = 1

    init() throws(SysError) {
        poller = try Poller()
    }

    /// Starts delivering events of `fd` to `target`, wanting `events` (may be empty: registered, paused).
    func watch(_ fd: FileDescriptor, _ events: PollEvents, _ target: PollTarget) throws(SysError) {
        targets[fd.rawValue] = target
        try setInterest(fd, events)
    }

    /// Changes what `fd` waits for; empty stops waiting without forgetting the target.
    func setInterest(_ fd: FileDescriptor, _ events: PollEvents) throws(SysError) {
        let current = interests[fd.rawValue]
        if current == events { return }
        if events.isEmpty {
            guard current != nil else { return }
            try poller.remove(fd)
            interests[fd.rawValue] = nil
        } else if current == nil {
            try poller.add(fd, events)
            interests[fd.rawValue] = events
        } else {
            try poller.modify(fd, events)
            interests[fd.rawValue] = events
        }
    }

    /// Forgets `fd`. Call before closing it.
    func unwatch(_ fd: FileDescriptor) {
        if interests[fd.rawValue] != nil { try? poller.remove(fd) }
        interests[fd.rawValue] = nil
        targets[fd.rawValue] = nil
        droppedThisBatch.insert(fd.rawValue)
    }

    /// Runs `action` once, `nanoseconds` from now. Returns an id for `cancelTimer`.
    @discardableResult
    func addTimer(after nanoseconds: UInt64, _ action: @escaping () -> Void) -> Int {
        let id = nextTimerID
        nextTimerID += 1
        let (deadline, overflow) = Clock.monotonicNanoseconds.addingReportingOverflow(nanoseconds)
        timers.insert(id: id, deadline: overflow ? .max : deadline)
        timerActions[id] = action
        return id
    }

    func cancelTimer(_ id: Int) {
        timers.remove(id: id)
        timerActions[id] = nil
    }

    /// Timers set and not yet run or cancelled.
    var pendingTimers: Int { timers.count }

    /// Waits for the next events or deadline and handles them.
    func runOnce() throws(SysError) {
        var timeout: Int32 = -1
        if let soonest = timers.earliest {
            let now = Clock.monotonicNanoseconds
            timeout = soonest <= now ? 0 : Int32(clamping: (soonest - now + 999_999) / 1_000_000)
        }
        let events = try poller.wait(max: 256, timeoutMilliseconds: timeout)
        droppedThisBatch.removeAll(keepingCapacity: true)
        for event in events {
            if droppedThisBatch.contains(event.fd.rawValue) { continue }
            targets[event.fd.rawValue]?.ready(event.fd, event.events)
        }
        if !timers.isEmpty {
            // Taken first, run one by one: an action may add timers, or cancel one that is also due.
            for id in timers.popDue(now: Clock.monotonicNanoseconds) {
                timerActions.removeValue(forKey: id)?()
            }
        }
    }
}
