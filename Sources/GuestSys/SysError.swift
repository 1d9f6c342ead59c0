// GuestSys is the only module that calls Linux. Every wrapper turns -1/errno into a `SysError` naming
// the call and its arguments, so a failure deep in boot reads as "mount(proc, /proc, proc): EBUSY".
// It owns no policy: callers decide what an error means and what to do about it.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// A failed system call: which call, on what, and the errno it returned.
public struct SysError: Error, CustomStringConvertible, Equatable, Sendable {
    public let call: String
    public let args: [String]
    public let code: Int32

    public init(_ call: String, _ args: [String] = [], code: Int32) {
        self.call = call
        self.args = args
        self.code = code
    }

    /// The symbolic errno name, e.g. "ENOENT".
    public var name: String { Errno.name(code) }

    public var description: String {
        "\(call)(\(args.joined(separator: ", "))): \(name) (\(Errno.message(code)))"
    }
}

/// Errno names and messages, and the codes callers test for.
public enum Errno {
    public static let ENOENT: Int32 = 2
    public static let ESRCH: Int32 = 3
    public static let EINTR: Int32 = 4
    public static let EIO: Int32 = 5
    public static let EBADF: Int32 = 9
    public static let ECHILD: Int32 = 10
    public static let EAGAIN: Int32 = 11
    public static let ENOMEM: Int32 = 12
    public static let EACCES: Int32 = 13
    public static let EBUSY: Int32 = 16
    public static let EEXIST: Int32 = 17
    public static let ENOTDIR: Int32 = 20
    public static let EISDIR: Int32 = 21
    public static let EINVAL: Int32 = 22
    public static let EPIPE: Int32 = 32
    public static let ENOSYS: Int32 = 38
    public static let ENOTEMPTY: Int32 = 39
    public static let ENODEV: Int32 = 19
    public static let EPERM: Int32 = 1
    public static let ENOEXEC: Int32 = 8
    public static let ECONNRESET: Int32 = 104
    public static let ECONNREFUSED: Int32 = 111
    public static let ENOTCONN: Int32 = 107
    public static let ETIMEDOUT: Int32 = 110
    public static let EINPROGRESS: Int32 = 115
    public static let EOPNOTSUPP: Int32 = 95
    public static let EAFNOSUPPORT: Int32 = 97
    public static let EADDRINUSE: Int32 = 98
    public static let ENFILE: Int32 = Glibc.ENFILE
    public static let EMFILE: Int32 = Glibc.EMFILE
    public static let ENOBUFS: Int32 = Glibc.ENOBUFS

    /// Whether an accept (or socket, pipe, open) failed for lack of descriptors or kernel memory: a
    /// transient condition, after which a level-triggered listener stays readable.
    public static func isResourceShortage(_ code: Int32) -> Bool {
        code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM
    }

    private static let names: [Int32: String] = [
        1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG", 8: "ENOEXEC",
        9: "EBADF", 10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 15: "ENOTBLK",
        16: "EBUSY", 17: "EEXIST", 18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL",
        23: "ENFILE", 24: "EMFILE", 25: "ENOTTY", 26: "ETXTBSY", 27: "EFBIG", 28: "ENOSPC", 29: "ESPIPE",
        30: "EROFS", 31: "EMLINK", 32: "EPIPE", 34: "ERANGE", 36: "ENAMETOOLONG", 38: "ENOSYS", 39: "ENOTEMPTY",
        40: "ELOOP", 61: "ENODATA", 71: "EPROTO", 75: "EOVERFLOW", 88: "ENOTSOCK", 90: "EMSGSIZE",
        93: "EPROTONOSUPPORT", 95: "EOPNOTSUPP", 97: "EAFNOSUPPORT", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL",
        100: "ENETDOWN", 101: "ENETUNREACH", 104: "ECONNRESET", 105: "ENOBUFS", 106: "EISCONN", 107: "ENOTCONN",
        110: "ETIMEDOUT", 111: "ECONNREFUSED", 113: "EHOSTUNREACH", 114: "EALREADY", 115: "EINPROGRESS",
    ]

    /// "ENOENT" for 2; "errno 200" for codes without a name here.
    public static func name(_ code: Int32) -> String { names[code] ?? "errno \(code)" }

    /// The C library's message for a code.
    public static func message(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(decoding: UnsafeBufferPointer(start: UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self), count: strlen(text)), as: UTF8.self)
    }

    /// The calling thread's current errno.
    public static var current: Int32 { errno }
}

/// Runs a call returning -1/errno, retrying on EINTR, and throws a `SysError` naming it on failure.
@inline(__always)
@discardableResult
func sys<T: BinaryInteger>(
    _ call: String, _ args: @autoclosure () -> [String], retryOnInterrupt: Bool = true, _ body: () -> T
) throws(SysError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR && retryOnInterrupt { continue }
        throw SysError(call, args(), code: code)
    }
}

/// Runs a pthread-style call that returns an error number instead of setting errno.
@inline(__always)
func sysReturningCode(_ call: String, _ args: @autoclosure () -> [String], _ body: () -> Int32) throws(SysError) {
    let code = body()
    if code != 0 { throw SysError(call, args(), code: code) }
}

/// Decodes a NUL-terminated C string held in a buffer.
func decodeCString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
