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
                source: unescape(fields[0]), target: unescape(fields[1]), type: String(fields[2]),
                options: fields[3].split(separator: ",").map(String.init))
        }
    }

    /// The mounts this process sees, in mount order.
    public static func current() throws(SysError) -> [MountEntry] {
        parseTable(try FileSystem.readText("/proc/self/mounts"))
    }

    private static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
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
