// The bridge's single thread: one epoll set and a handler per descriptor. Everything (vhost-user
// messages, queue kicks, host sockets, timers) runs here, so no state is shared between threads.
import GuestSys

/// An epoll loop dispatching readiness to per-descriptor handlers.
public final class EventLoop {
    public typealias Handler = (PollEvents) -> Void

    private let poller: Poller
    private var handlers: [Int32: Handler] = [:]
    /// Descriptors removed while a batch is being dispatched: their remaining events in the batch are
    /// stale (the number may already name a new descriptor) and are skipped.
    private var removedDuringBatch: Set<Int32> = []
    /// Listeners not watched for a while after running out of descriptors: what to watch them for again
    /// and when (monotonic nanoseconds).
    private var paused: [Int32: (fd: FileDescriptor, events: PollEvents, until: UInt64)] = [:]
    /// How long a listener rests after EMFILE and the like: descriptors come back as connections close.
    public static let acceptPauseNanoseconds: UInt64 = 100_000_000

    public init() throws(SysError) {
        poller = try Poller()
    }

    deinit { poller.fd.closeQuietly() }

    public func add(_ fd: FileDescriptor, _ events: PollEvents, handler: @escaping Handler) throws(SysError) {
        try poller.add(fd, events)
        handlers[fd.rawValue] = handler
    }

    public func modify(_ fd: FileDescriptor, _ events: PollEvents) throws(SysError) {
        try poller.modify(fd, events)
    }

    public func replaceHandler(_ fd: FileDescriptor, handler: @escaping Handler) {
        handlers[fd.rawValue] = handler
    }

    /// After an accept failed: when it failed for lack of descriptors (EMFILE, ENFILE) or memory, stop
    /// watching the listener for `acceptPauseNanoseconds`. Level-triggered, it would stay readable and the
    /// loop would spin on failing accepts. Other errors change nothing.
    public func pauseAfterAcceptFailure(_ listener: FileDescriptor, _ error: SysError, events: PollEvents = .readable,
                                        now: UInt64 = Clock.monotonicNanoseconds) {
        guard Errno.isResourceShortage(error.code), handlers[listener.rawValue] != nil else { return }
        try? poller.modify(listener, [])
        paused[listener.rawValue] = (listener, events, now + Self.acceptPauseNanoseconds)
    }

    /// When the first paused listener is due to be watched again.
    public var nextResume: UInt64? { paused.values.map(\.until).min() }

    /// Watches the paused listeners whose rest is over again.
    public func resumeDue(now: UInt64 = Clock.monotonicNanoseconds) {
        for (raw, entry) in paused where entry.until <= now {
            paused[raw] = nil
            try? poller.modify(entry.fd, entry.events)
        }
    }

    /// Stops watching a descriptor; call before closing it.
    public func remove(_ fd: FileDescriptor) {
        paused[fd.rawValue] = nil
        guard handlers.removeValue(forKey: fd.rawValue) != nil else { return }
        try? poller.remove(fd)
        removedDuringBatch.insert(fd.rawValue)
    }

    public var watchedCount: Int { handlers.count }

    /// Waits up to `timeoutMilliseconds` (-1: forever) and dispatches one batch of events.
    public func runOnce(timeoutMilliseconds: Int32) throws(SysError) {
        let events = try poller.wait(max: 128, timeoutMilliseconds: timeoutMilliseconds)
        removedDuringBatch.removeAll(keepingCapacity: true)
        for event in events {
            if removedDuringBatch.contains(event.fd.rawValue) { continue }
            handlers[event.fd.rawValue]?(event.events)
        }
    }
}
