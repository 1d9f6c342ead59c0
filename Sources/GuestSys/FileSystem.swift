#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// What stat(2) says about a file, reduced to what GuestKit asks.
public struct FileStatus: Sendable, Equatable {
    public let mode: UInt32
    public let size: Int64
    public let device: UInt64
    public let rdev: UInt64
    public let inode: UInt64
    public let uid: UInt32
    public let gid: UInt32

    init(_ st: stat) {
        mode = st.st_mode
        size = Int64(st.st_size)
        device = UInt64(st.st_dev)
        rdev = UInt64(st.st_rdev)
        inode = UInt64(st.st_ino)
        uid = st.st_uid
        gid = st.st_gid
    }

    public var isDirectory: Bool { mode & S_IFMT == S_IFDIR }
    public var isRegular: Bool { mode & S_IFMT == S_IFREG }
    public var isSymlink: Bool { mode & S_IFMT == S_IFLNK }
    public var isBlockDevice: Bool { mode & S_IFMT == S_IFBLK }
    public var isCharacterDevice: Bool { mode & S_IFMT == S_IFCHR }
    public var permissions: UInt32 { mode & 0o7777 }
    /// Major and minor of the device this inode names (block and character devices).
    public var deviceNumbers: (major: UInt32, minor: UInt32) {
        (gk_major(rdev), gk_minor(rdev))
    }
}

/// Path-based file operations.
public enum FileSystem {
    /// stat(2), or lstat(2) with `followSymlinks: false`.
    public static func status(_ path: String, followSymlinks: Bool = true) throws(SysError) -> FileStatus {
        var st = stat()
        if followSymlinks {
            try sys("stat", [path]) { stat(path, &st) }
        } else {
            try sys("lstat", [path]) { lstat(path, &st) }
        }
        return FileStatus(st)
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        (try? status(path))?.isDirectory ?? false
    }

    public static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(SysError) {
        try sys("mkdir", [path, String(mode, radix: 8)]) { Glibc.mkdir(path, mode) }
    }

    /// mkdir -p: creates missing parents; an existing directory is fine.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SysError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if Glibc.mkdir(prefix, mode) == -1 {
                let code = errno
                if code == EEXIST, isDirectory(prefix) { continue }
                throw SysError("mkdir", [prefix, String(mode, radix: 8)], code: code)
            }
        }
    }

    public static func symlink(target: String, at path: String) throws(SysError) {
        try sys("symlink", [target, path]) { Glibc.symlink(target, path) }
    }

    public static func readLink(_ path: String) throws(SysError) -> String {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = try sys("readlink", [path]) { Glibc.readlink(path, &buffer, 4096) }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func unlink(_ path: String) throws(SysError) {
        try sys("unlink", [path]) { Glibc.unlink(path) }
    }

    public static func removeDirectory(_ path: String) throws(SysError) {
        try sys("rmdir", [path]) { Glibc.rmdir(path) }
    }

    public static func rename(_ from: String, to: String) throws(SysError) {
        try sys("rename", [from, to]) { Glibc.rename(from, to) }
    }

    public static func changeMode(_ path: String, _ mode: mode_t) throws(SysError) {
        try sys("chmod", [path, String(mode, radix: 8)]) { Glibc.chmod(path, mode) }
    }

    public static func changeOwner(_ path: String, uid: uid_t, gid: gid_t) throws(SysError) {
        try sys("lchown", [path, "\(uid)", "\(gid)"]) { Glibc.lchown(path, uid, gid) }
    }

    public static func changeDirectory(_ path: String) throws(SysError) {
        try sys("chdir", [path]) { Glibc.chdir(path) }
    }

    public static func changeRoot(_ path: String) throws(SysError) {
        try sys("chroot", [path]) { Glibc.chroot(path) }
    }

    public static func makeNode(_ path: String, mode: mode_t, major: UInt32, minor: UInt32) throws(SysError) {
        try sys("mknod", [path, String(mode, radix: 8), "\(major):\(minor)"]) {
            Glibc.mknod(path, mode, __dev_t(gk_makedev(major, minor)))
        }
    }

    /// Names in a directory, without "." and "..", in the order the filesystem gives them.
    public static func listDirectory(_ path: String) throws(SysError) -> [String] {
        guard let dir = opendir(path) else { throw SysError("opendir", [path], code: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { ptr in
                ptr.withMemoryRebound(to: UInt8.self, capacity: 256) { base in
                    String(decoding: UnsafeBufferPointer(start: base, count: strlen(UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self))), as: UTF8.self)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The whole file as bytes. For small files: /proc, /sys, configuration.
    public static func readFile(_ path: String, limit: Int = 16 << 20) throws(SysError) -> [UInt8] {
        let fd = try FileDescriptor.open(path, .readOnly)
        defer { fd.closeQuietly() }
        return try fd.readToEnd(limit: limit)
    }

    /// The whole file as UTF-8 text.
    public static func readText(_ path: String) throws(SysError) -> String {
        String(decoding: try readFile(path), as: UTF8.self)
    }

    /// Writes a file (created or truncated).
    public static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(SysError) {
        let fd = try FileDescriptor.open(path, [.writeOnly, .create, .truncate], mode: mode)
        defer { fd.closeQuietly() }
        try fd.writeAll(bytes)
    }

    public static func writeFile(_ path: String, _ text: String, mode: mode_t = 0o644) throws(SysError) {
        try writeFile(path, Array(text.utf8), mode: mode)
    }

    /// Writes to a temporary name beside `path`, then renames, so readers never see a partial file.
    public static func writeFileAtomically(_ path: String, _ text: String, mode: mode_t = 0o644) throws(SysError) {
        let temporary = path + ".tmp.\(getpid())"
        do throws(SysError) {
            try writeFile(temporary, text, mode: mode)
            try rename(temporary, to: path)
        } catch {
            _ = Glibc.unlink(temporary)
            throw error
        }
    }

    /// The filesystem magic number of the filesystem holding `path` (statfs f_type).
    public static func filesystemType(_ path: String) throws(SysError) -> Int64 {
        var type: Int64 = 0
        try sys("statfs", [path]) { gk_statfs_type(path, &type) }
        return type
    }

    /// sync(2): flushes every filesystem.
    public static func syncAll() { Glibc.sync() }
}
