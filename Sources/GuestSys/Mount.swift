#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// mount(2) flags; the values are the MS_* constants.
public struct MountFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }

    public static let readOnly = MountFlags(rawValue: 1)        // MS_RDONLY
    public static let noSetuid = MountFlags(rawValue: 2)        // MS_NOSUID
    public static let noDevices = MountFlags(rawValue: 4)       // MS_NODEV
    public static let noExec = MountFlags(rawValue: 8)          // MS_NOEXEC
    public static let remount = MountFlags(rawValue: 32)        // MS_REMOUNT
    public static let noAccessTime = MountFlags(rawValue: 1024) // MS_NOATIME
    public static let bind = MountFlags(rawValue: 4096)         // MS_BIND
    public static let move = MountFlags(rawValue: 8192)         // MS_MOVE
    public static let recursive = MountFlags(rawValue: 16384)   // MS_REC
    public static let relativeAccessTime = MountFlags(rawValue: 1 << 21) // MS_RELATIME
    public static let privatePropagation = MountFlags(rawValue: 1 << 18) // MS_PRIVATE
    public static let slavePropagation = MountFlags(rawValue: 1 << 19)   // MS_SLAVE
    public static let sharedPropagation = MountFlags(rawValue: 1 << 20)  // MS_SHARED
    public static let unbindable = MountFlags(rawValue: 1 << 17)         // MS_UNBINDABLE
    public static let synchronous = MountFlags(rawValue: 16)             // MS_SYNCHRONOUS
    public static let mandatoryLocks = MountFlags(rawValue: 64)          // MS_MANDLOCK
    public static let noSymlinkFollow = MountFlags(rawValue: 256)        // MS_NOSYMFOLLOW
    public static let noDirectoryAccessTime = MountFlags(rawValue: 2048) // MS_NODIRATIME
    public static let strictAccessTime = MountFlags(rawValue: 1 << 24)   // MS_STRICTATIME

    /// The MS_* flags a filesystem is mounted with, from statfs' ST_* f_flags (they share bit values for
    /// RDONLY, NOSUID, NODEV, NOEXEC, SYNCHRONOUS, MANDLOCK, NOATIME, NODIRATIME, RELATIME, NOSYMFOLLOW).
    public static func ofFilesystem(_ path: String) throws(SysError) -> MountFlags {
        var flags: UInt64 = 0
        try sys("statfs", [path]) { gk_statfs_flags(path, &flags) }
        let known: UInt64 = 1 | 2 | 4 | 8 | 16 | 64 | 256 | 1024 | 2048 | (1 << 21)
        return MountFlags(rawValue: UInt(flags & known))
    }
}

/// Mounting and unmounting.
public enum Mounts {
    /// mount(2). The error names source, target, type, flags and data.
    public static func mount(
        source: String, target: String, type: String?, flags: MountFlags = [], data: String? = nil
    ) throws(SysError) {
        let args = [source, target, type ?? "-", "0x" + String(flags.rawValue, radix: 16), data ?? ""]
        try sys("mount", args) {
            if let type {
                return Glibc.mount(source, target, type, flags.rawValue, data)
            }
            return Glibc.mount(source, target, nil, flags.rawValue, data)
        }
    }

    /// pivot_root(2).
    public static func pivotRoot(_ newRoot: String, putOld: String) throws(SysError) {
        try sys("pivot_root", [newRoot, putOld]) { gk_pivot_root(newRoot, putOld) }
    }

    /// mount_setattr(2) on `path` and everything under it (AT_RECURSIVE): MOUNT_ATTR_* set and cleared.
    public static func setAttributesRecursively(_ path: String, set: UInt64, clear: UInt64) throws(SysError) {
        try sys("mount_setattr", [path, "set=0x" + String(set, radix: 16), "clear=0x" + String(clear, radix: 16)]) {
            gk_mount_setattr(AT_FDCWD, path, 0x8000 /* AT_RECURSIVE */, set, clear)
        }
    }

    /// umount2(2); `detach` is MNT_DETACH (lazy).
    public static func unmount(_ target: String, detach: Bool = false) throws(SysError) {
        try sys("umount2", [target, detach ? "MNT_DETACH" : "0"]) { Glibc.umount2(target, detach ? 2 : 0) }
    }
}

/// One line of /proc/mounts (or /proc/self/mounts).
public struct MountEntry: Sendable, Equatable {
    public let source: String
    public let target: String
    public let type: String
    public let options: [String]

    public init(source: String, target: String, type: String, options: [String]) {
        self.source = source
        self.target = target
        self.type = type
        self.options = options
    }

    /// Parses the /proc/mounts format, where spaces in fields are octal escapes ("\040").
    public static func parseTable(_ text: String) -> [MountEntry] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 4 else { return nil }
            return MountEntry(
                source: MountInfoEntry.unescape(String(fields[0])), target: MountInfoEntry.unescape(String(fields[1])), type: String(fields[2]),
                options: fields[3].split(separator: ",").map(String.init))
        }
    }

    /// The mounts this process sees, in mount order.
    public static func current() throws(SysError) -> [MountEntry] {
        parseTable(try FileSystem.readText("/proc/self/mounts"))
    }
}

/// One line of /proc/<pid>/mountinfo (proc(5)).
public struct MountInfoEntry: Sendable, Equatable {
    public let id: Int
    public let parentID: Int
    public let device: String
    /// The directory of the filesystem mounted here ("/" for a whole filesystem, a subdirectory for a bind).
    public let root: String
    public let mountPoint: String
    /// Per-mount options (rw, nosuid, relatime, …).
    public let options: [String]
    /// shared:N, master:N, propagate_from:N, unbindable.
    public let optionalFields: [String]
    public let type: String
    public let source: String
    /// Per-superblock options.
    public let superOptions: [String]

    public init?(line: String) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard let dash = fields.firstIndex(of: "-"), dash >= 6, fields.count >= dash + 4,
              let id = Int(fields[0]), let parent = Int(fields[1]) else { return nil }
        self.id = id
        parentID = parent
        device = fields[2]
        root = MountInfoEntry.unescape(fields[3])
        mountPoint = MountInfoEntry.unescape(fields[4])
        options = fields[5].split(separator: ",").map(String.init)
        optionalFields = Array(fields[6..<dash])
        type = fields[dash + 1]
        source = MountInfoEntry.unescape(fields[dash + 2])
        superOptions = fields[dash + 3].split(separator: ",").map(String.init)
    }

    /// Every mount this process sees, in mount order.
    public static func current(process: String = "self") throws(SysError) -> [MountInfoEntry] {
        try FileSystem.readText("/proc/\(process)/mountinfo").split(separator: "\n").compactMap { MountInfoEntry(line: String($0)) }
    }

    /// Octal escapes ("\040" for a space) back to bytes.
    static func unescape(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var out: [UInt8] = []
        let bytes = Array(field.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
               let v = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
