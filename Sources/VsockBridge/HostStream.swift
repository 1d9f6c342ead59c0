// The host end of a vsock connection: a non-blocking Unix stream socket. The connection state machine
// talks to it through `HostStream`, so tests can drive the state machine with a scripted stream.
import GuestSys

/// The outcome of one non-blocking read or write on the host side.
public enum HostIO: Equatable, Sendable {
    case transferred(Int)
    /// EAGAIN: try again after the next readiness event.
    case wouldBlock
    /// Reading: end of file (the host shut its sending side). Writing: the peer is gone (EPIPE).
    case closed
    /// Any other error, with its errno.
    case failed(Int32)
}

/// The host side of one connection, as the state machine needs it.
public protocol HostStream: AnyObject {
    /// The descriptor the event loop watches; nil for streams without one (tests).
    var descriptor: FileDescriptor? { get }
    func read(into buffer: UnsafeMutableRawBufferPointer) -> HostIO
    func write(_ buffer: UnsafeRawBufferPointer) -> HostIO
    /// shutdown(SHUT_WR): the host reads end of file after the data already written.
    func shutdownWrite()
    func close()
}

/// A non-blocking Unix stream socket.
public final class UnixHostStream: HostStream {
    public let fd: FileDescriptor
    private var isClosed = false

    public init(fd: FileDescriptor) { self.fd = fd }

    public var descriptor: FileDescriptor? { isClosed ? nil : fd }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> HostIO {
        do throws(SysError) {
            let n = try fd.read(into: buffer)
            return n == 0 ? .closed : .transferred(n)
        } catch {
            // A reset while reading is an abort, not an orderly end of file.
            return error.code == Errno.EAGAIN ? .wouldBlock : .failed(error.code)
        }
    }

    public func write(_ buffer: UnsafeRawBufferPointer) -> HostIO {
        do throws(SysError) {
            return .transferred(try Sockets.send(fd, buffer))
        } catch {
            return Self.classify(error)
        }
    }

    public func shutdownWrite() {
        try? Sockets.shutdown(fd, .write)
    }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        fd.closeQuietly()
    }

    private static func classify(_ error: SysError) -> HostIO {
        switch error.code {
        case Errno.EAGAIN: return .wouldBlock
        case Errno.EPIPE, Errno.ECONNRESET, Errno.ENOTCONN: return .closed
        default: return .failed(error.code)
        }
    }
}
