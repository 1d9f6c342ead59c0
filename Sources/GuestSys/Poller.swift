#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// Readiness events (EPOLL* bits).
public struct PollEvents: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let readable = PollEvents(rawValue: EPOLLIN.rawValue)
    public static let priority = PollEvents(rawValue: EPOLLPRI.rawValue)
    public static let writable = PollEvents(rawValue: EPOLLOUT.rawValue)
    public static let error = PollEvents(rawValue: EPOLLERR.rawValue)
    public static let hangup = PollEvents(rawValue: EPOLLHUP.rawValue)
    public static let peerClosed = PollEvents(rawValue: EPOLLRDHUP.rawValue)
    public static let edgeTriggered = PollEvents(rawValue: EPOLLET.rawValue)
}

/// One ready descriptor from `Poller.wait`.
public struct PollEvent: Sendable {
    public let fd: FileDescriptor
    public let events: PollEvents
}

/// An epoll instance: the single wait point of init's and the agent's loops.
public struct Poller: Sendable {
    public let fd: FileDescriptor

    public init() throws(SysError) {
        fd = FileDescriptor(rawValue: try sys("epoll_create1", ["EPOLL_CLOEXEC"]) { epoll_create1(Int32(EPOLL_CLOEXEC)) })
    }

    public func add(_ target: FileDescriptor, _ events: PollEvents) throws(SysError) {
        try sys("epoll_ctl", ["EPOLL_CTL_ADD", target.description, "0x" + String(events.rawValue, radix: 16)]) {
            gk_epoll_ctl(fd.rawValue, EPOLL_CTL_ADD, target.rawValue, events.rawValue)
        }
    }

    public func modify(_ target: FileDescriptor, _ events: PollEvents) throws(SysError) {
        try sys("epoll_ctl", ["EPOLL_CTL_MOD", target.description, "0x" + String(events.rawValue, radix: 16)]) {
            gk_epoll_ctl(fd.rawValue, EPOLL_CTL_MOD, target.rawValue, events.rawValue)
        }
    }

    public func remove(_ target: FileDescriptor) throws(SysError) {
        try sys("epoll_ctl", ["EPOLL_CTL_DEL", target.description]) {
            gk_epoll_ctl(fd.rawValue, EPOLL_CTL_DEL, target.rawValue, 0)
        }
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever). An interrupted wait returns no events.
    public func wait(max: Int = 64, timeoutMilliseconds: Int32 = -1) throws(SysError) -> [PollEvent] {
        let capacity = Swift.min(max, 256)
        return try [gk_poll_event](unsafeUninitializedCapacity: capacity) { buffer, count throws(SysError) in
            let n = gk_epoll_wait(fd.rawValue, buffer.baseAddress, Int32(capacity), timeoutMilliseconds)
            if n == -1 {
                count = 0
                if errno == EINTR { return }
                throw SysError("epoll_wait", [fd.description], code: errno)
            }
            count = Int(n)
        }.map { PollEvent(fd: FileDescriptor(rawValue: $0.fd), events: PollEvents(rawValue: $0.events)) }
    }
}

/// An eventfd: a counter one side bumps to wake a poll loop (and virtio's kick/call notifications).
public struct EventCounter: Sendable {
    public let fd: FileDescriptor

    public init(nonBlocking: Bool = true) throws(SysError) {
        let flags = Int32(EFD_CLOEXEC) | (nonBlocking ? Int32(EFD_NONBLOCK) : 0)
        fd = FileDescriptor(rawValue: try sys("eventfd", ["0"]) { eventfd(0, flags) })
    }

    public init(adopting fd: FileDescriptor) { self.fd = fd }

    public func signal(_ value: UInt64 = 1) throws(SysError) {
        var v = value
        try sys("write", [fd.description, "eventfd"]) { Glibc.write(fd.rawValue, &v, 8) }
    }

    /// Reads and resets the counter; 0 when nothing was signalled (non-blocking).
    public func drain() throws(SysError) -> UInt64 {
        var v: UInt64 = 0
        let n = Glibc.read(fd.rawValue, &v, 8)
        if n == 8 { return v }
        if n == -1 && errno == EAGAIN { return 0 }
        throw SysError("read", [fd.description, "eventfd"], code: n == -1 ? errno : EIO)
    }
}
