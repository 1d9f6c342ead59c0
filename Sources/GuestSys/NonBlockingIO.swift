#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// The outcome of one read or write on a non-blocking descriptor. "Would block" and "end of file" are
/// ordinary answers in a poll loop, not errors, so they come back as values without building a `SysError`.
public enum IOResult: Sendable, Equatable {
    /// This many bytes moved (more than zero).
    case bytes(Int)
    /// Read: the other end closed (or, for a pty controller, every terminal descriptor is closed: EIO).
    case endOfFile
    /// EAGAIN: try again when the poller says so.
    case wouldBlock
    case failed(SysError)
}

extension FileDescriptor {
    /// read(2) on a non-blocking descriptor, retrying EINTR. A pty controller whose terminal side is fully
    /// closed answers EIO once drained; that reads as `.endOfFile`.
    public func readNonBlocking(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        while true {
            let n = Glibc.read(rawValue, buffer.baseAddress, buffer.count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .endOfFile }
            switch errno {
            case EINTR: continue
            case EAGAIN: return .wouldBlock
            case EIO: return .endOfFile
            case let code: return .failed(SysError("read", [description], code: code))
            }
        }
    }

    /// write(2) on a non-blocking descriptor, retrying EINTR. A closed reader is `.failed` with EPIPE
    /// (callers ignore SIGPIPE).
    public func writeNonBlocking(_ buffer: UnsafeRawBufferPointer) -> IOResult {
        if buffer.isEmpty { return .bytes(0) }
        while true {
            let n = Glibc.write(rawValue, buffer.baseAddress, buffer.count)
            if n >= 0 { return .bytes(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN: return .wouldBlock
            case let code: return .failed(SysError("write", [description], code: code))
            }
        }
    }

    /// How many bytes a read would get now (FIONREAD).
    public func readableByteCount() throws(SysError) -> Int {
        var count: Int32 = 0
        try sys("ioctl", [description, "FIONREAD"]) { gk_readable_bytes(rawValue, &count) }
        return Int(count)
    }

    /// poll(2) for readability; false when the timeout passed first. -1 waits forever.
    public func waitReadable(timeoutMilliseconds: Int32) throws(SysError) -> Bool {
        var entry = pollfd(fd: rawValue, events: Int16(POLLIN), revents: 0)
        let n = try sys("poll", [description, "POLLIN", "\(timeoutMilliseconds) ms"]) { poll(&entry, 1, timeoutMilliseconds) }
        return n > 0
    }
}

extension Processes {
    /// The value of an environment variable of this process, nil when unset.
    public static func environmentValue(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// This process's open descriptors, counted in /proc/self/fd (the directory handle itself excluded).
    public static func openDescriptorCount() -> Int {
        guard let names = try? FileSystem.listDirectory("/proc/self/fd") else { return 0 }
        return max(names.count - 1, 0)
    }
}
