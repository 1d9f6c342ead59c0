#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// An open Linux file descriptor. A plain value: whoever opened it closes it.
public struct FileDescriptor: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let standardInput = FileDescriptor(rawValue: 0)
    public static let standardOutput = FileDescriptor(rawValue: 1)
    public static let standardError = FileDescriptor(rawValue: 2)

    public var description: String { "fd \(rawValue)" }
}

/// Flags for `FileDescriptor.open`; the values are the O_* constants.
public struct OpenFlags: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let readOnly = OpenFlags([])
    public static let writeOnly = OpenFlags(rawValue: O_WRONLY)
    public static let readWrite = OpenFlags(rawValue: O_RDWR)
    public static let create = OpenFlags(rawValue: O_CREAT)
    public static let truncate = OpenFlags(rawValue: O_TRUNC)
    public static let append = OpenFlags(rawValue: O_APPEND)
    public static let exclusive = OpenFlags(rawValue: O_EXCL)
    public static let nonBlocking = OpenFlags(rawValue: O_NONBLOCK)
    public static let closeOnExec = OpenFlags(rawValue: O_CLOEXEC)
    public static let directory = OpenFlags(rawValue: O_DIRECTORY)
    public static let noFollow = OpenFlags(rawValue: O_NOFOLLOW)
    public static let noControllingTerminal = OpenFlags(rawValue: O_NOCTTY)
    public static let sync = OpenFlags(rawValue: O_SYNC)
    public static let path = OpenFlags(rawValue: GK_O_PATH)
}

extension FileDescriptor {
    /// open(2); close-on-exec is always added: descriptors reach children only through a spawn's fd map.
    public static func open(_ path: String, _ flags: OpenFlags, mode: mode_t = 0o644) throws(SysError) -> FileDescriptor {
        let all = flags.union(.closeOnExec)
        let fd = try sys("open", [path, String(all.rawValue, radix: 8)]) { Glibc.open(path, all.rawValue, mode) }
        return FileDescriptor(rawValue: fd)
    }

    /// openat(2) relative to this directory descriptor.
    public func openAt(_ path: String, _ flags: OpenFlags, mode: mode_t = 0o644) throws(SysError) -> FileDescriptor {
        let all = flags.union(.closeOnExec)
        let fd = try sys("openat", [description, path]) { Glibc.openat(rawValue, path, all.rawValue, mode) }
        return FileDescriptor(rawValue: fd)
    }

    public func close() throws(SysError) {
        // Never retry close on EINTR: Linux has released the descriptor already.
        try sys("close", [description], retryOnInterrupt: false) { Glibc.close(rawValue) }
    }

    /// Closes and ignores errors; for cleanup paths where nothing better can be done.
    public func closeQuietly() { _ = Glibc.close(rawValue) }

    /// read(2) into a buffer; 0 means end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SysError) -> Int {
        try sys("read", [description, "\(buffer.count)"]) { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Reads up to `count` bytes; an empty result means end of file.
    public func read(upTo count: Int) throws(SysError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = try sys("read", [description, "\(count)"]) {
            bytes.withUnsafeMutableBytes { Glibc.read(rawValue, $0.baseAddress, $0.count) }
        }
        bytes.removeSubrange(n...)
        return bytes
    }

    /// write(2) once; returns how many bytes the kernel took.
    public func write(_ buffer: UnsafeRawBufferPointer) throws(SysError) -> Int {
        try sys("write", [description, "\(buffer.count)"]) { Glibc.write(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Writes every byte, looping over short writes. For blocking descriptors.
    public func writeAll(_ buffer: UnsafeRawBufferPointer) throws(SysError) {
        var offset = 0
        while offset < buffer.count {
            offset += try write(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
        }
    }

    public func writeAll(_ bytes: [UInt8]) throws(SysError) {
        var offset = 0
        while offset < bytes.count {
            offset += try sys("write", [description, "\(bytes.count - offset)"]) {
                bytes.withUnsafeBytes { Glibc.write(rawValue, $0.baseAddress! + offset, $0.count - offset) }
            }
        }
    }

    public func writeAll(_ text: String) throws(SysError) {
        try writeAll(Array(text.utf8))
    }

    /// Reads until end of file. For small files (/proc, /sys, configuration).
    public func readToEnd(limit: Int = 16 << 20) throws(SysError) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while result.count < limit {
            let n = try sys("read", [description, "\(chunk.count)"]) {
                chunk.withUnsafeMutableBytes { Glibc.read(rawValue, $0.baseAddress, $0.count) }
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[..<n])
        }
        return result
    }

    /// pread(2) at an absolute offset.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SysError) -> Int {
        try sys("pread", [description, "\(buffer.count)", "\(offset)"]) {
            Glibc.pread(rawValue, buffer.baseAddress, buffer.count, off_t(offset))
        }
    }

    /// pwrite(2) at an absolute offset.
    public func write(_ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(SysError) -> Int {
        try sys("pwrite", [description, "\(buffer.count)", "\(offset)"]) {
            Glibc.pwrite(rawValue, buffer.baseAddress, buffer.count, off_t(offset))
        }
    }

    public func truncate(to size: Int64) throws(SysError) {
        try sys("ftruncate", [description, "\(size)"]) { Glibc.ftruncate(rawValue, off_t(size)) }
    }

    public func sync() throws(SysError) {
        try sys("fsync", [description]) { Glibc.fsync(rawValue) }
    }

    /// dup(2), close-on-exec.
    public func duplicate() throws(SysError) -> FileDescriptor {
        FileDescriptor(rawValue: try sys("fcntl", [description, "F_DUPFD_CLOEXEC"]) {
            gk_fcntl_int(rawValue, F_DUPFD_CLOEXEC, 0)
        })
    }

    /// dup2(2) onto a chosen number (the copy is inheritable).
    public func duplicate(as target: FileDescriptor) throws(SysError) {
        try sys("dup2", [description, target.description]) { Glibc.dup2(rawValue, target.rawValue) }
    }

    public func setNonBlocking(_ on: Bool = true) throws(SysError) {
        let flags = try sys("fcntl", [description, "F_GETFL"]) { gk_fcntl_int(rawValue, F_GETFL, 0) }
        let wanted = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
        if wanted != flags {
            try sys("fcntl", [description, "F_SETFL", "\(wanted)"]) { gk_fcntl_int(rawValue, F_SETFL, wanted) }
        }
    }

    public func setCloseOnExec(_ on: Bool = true) throws(SysError) {
        try sys("fcntl", [description, "F_SETFD", on ? "FD_CLOEXEC" : "0"]) {
            gk_fcntl_int(rawValue, F_SETFD, on ? FD_CLOEXEC : 0)
        }
    }

    /// The size of a pipe's buffer (F_SETPIPE_SZ); returns the size the kernel chose.
    @discardableResult
    public func setPipeSize(_ bytes: Int32) throws(SysError) -> Int32 {
        try sys("fcntl", [description, "F_SETPIPE_SZ", "\(bytes)"]) { gk_fcntl_int(rawValue, GK_F_SETPIPE_SZ, bytes) }
    }

    /// fchdir(2).
    public func changeDirectory() throws(SysError) {
        try sys("fchdir", [description]) { Glibc.fchdir(rawValue) }
    }

    /// fchown(2).
    public func changeOwner(uid: UInt32, gid: UInt32) throws(SysError) {
        try sys("fchown", [description, "\(uid)", "\(gid)"]) { Glibc.fchown(rawValue, uid, gid) }
    }

    /// Whether this descriptor is a terminal.
    public var isTerminal: Bool { isatty(rawValue) == 1 }

    /// fstat(2).
    public func status() throws(SysError) -> FileStatus {
        var st = stat()
        try sys("fstat", [description]) { fstat(rawValue, &st) }
        return FileStatus(st)
    }
}

/// A pipe's two ends, both close-on-exec.
public struct Pipe: Sendable {
    public let readEnd: FileDescriptor
    public let writeEnd: FileDescriptor

    public init(nonBlocking: Bool = false) throws(SysError) {
        var fds: [Int32] = [-1, -1]
        let flags = O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)
        try sys("pipe2", [nonBlocking ? "O_CLOEXEC|O_NONBLOCK" : "O_CLOEXEC"]) { gk_pipe2(&fds, flags) }
        readEnd = FileDescriptor(rawValue: fds[0])
        writeEnd = FileDescriptor(rawValue: fds[1])
    }
}
