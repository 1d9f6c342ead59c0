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

    public init() throws(SysError) {
        poller = try Poller()
    }

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

    /// Stops watching a descriptor; call before closing it.
    public func remove(_ fd: FileDescriptor) {
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
