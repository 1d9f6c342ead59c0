import GuestSys

/// A mount's `options` read the way runc reads them: mount(2) flags set and cleared in order, propagation
/// changes applied after the mount, recursive attributes (mount_setattr), `tmpcopyup`, and everything
/// else joined with commas as the filesystem's data.
public struct MountOptions: Sendable, Equatable {
    public var flags: MountFlags = []
    /// MS_PRIVATE, MS_SLAVE|MS_REC, … in the order given.
    public var propagation: [MountFlags] = []
    /// mount_setattr(2) MOUNT_ATTR_* to set and clear recursively (`rro`, `rnosuid`, …).
    public var recursiveSet: UInt64 = 0
    public var recursiveClear: UInt64 = 0
    /// `tmpcopyup`: copy the directory's content into a tmpfs mounted over it.
    public var copyUp = false
    public var data: String = ""

    public init(flags: MountFlags = [], propagation: [MountFlags] = [], data: String = "") {
        self.flags = flags
        self.propagation = propagation
        self.data = data
    }

    /// (option, clears, MS_* value) from runc's table; "defaults" is known but changes nothing.
    static let flagTable: [String: (clear: Bool, flag: UInt)] = [
        "acl": (false, 1 << 16), "async": (true, 16), "atime": (true, 1024), "bind": (false, 4096),
        "defaults": (false, 0), "dev": (true, 4), "diratime": (true, 2048), "dirsync": (false, 128),
        "exec": (true, 8), "iversion": (false, 1 << 23), "lazytime": (false, 1 << 25), "loud": (true, 32768),
        "mand": (false, 64), "noacl": (true, 1 << 16), "noatime": (false, 1024), "nodev": (false, 4),
        "nodiratime": (false, 2048), "noexec": (false, 8), "noiversion": (true, 1 << 23),
        "nolazytime": (true, 1 << 25), "nomand": (true, 64), "norelatime": (true, 1 << 21),
        "nostrictatime": (true, 1 << 24), "nosuid": (false, 2), "nosymfollow": (false, 256),
        "rbind": (false, 4096 | 16384), "relatime": (false, 1 << 21), "remount": (false, 32), "ro": (false, 1),
        "rw": (true, 1), "silent": (false, 32768), "strictatime": (false, 1 << 24), "suid": (true, 2),
        "sync": (false, 16), "symfollow": (true, 256),
    ]

    static let propagationTable: [String: MountFlags] = [
        "rprivate": [.privatePropagation, .recursive], "private": .privatePropagation,
        "rslave": [.slavePropagation, .recursive], "slave": .slavePropagation,
        "rshared": [.sharedPropagation, .recursive], "shared": .sharedPropagation,
        "runbindable": [MountFlags(rawValue: 1 << 17), .recursive], "unbindable": MountFlags(rawValue: 1 << 17),
    ]

    /// MOUNT_ATTR_* (linux/mount.h); the atime ones must also clear MOUNT_ATTR__ATIME.
    static let recursiveTable: [String: (clear: Bool, attr: UInt64)] = [
        "rro": (false, 0x1), "rrw": (true, 0x1), "rnosuid": (false, 0x2), "rsuid": (true, 0x2),
        "rnodev": (false, 0x4), "rdev": (true, 0x4), "rnoexec": (false, 0x8), "rexec": (true, 0x8),
        "rnodiratime": (false, 0x80), "rdiratime": (true, 0x80), "rrelatime": (false, 0x0),
        "rnorelatime": (true, 0x0), "rnoatime": (false, 0x10), "ratime": (true, 0x10),
        "rstrictatime": (false, 0x20), "rnostrictatime": (true, 0x20), "rnosymfollow": (false, 0x200000),
        "rsymfollow": (true, 0x200000),
    ]
    static let atimeMask: UInt64 = 0x70

    public init(_ options: [String]) {
        var data: [String] = []
        for option in options {
            if let entry = Self.flagTable[option], entry.flag != 0 {
                if entry.clear {
                    flags.remove(MountFlags(rawValue: entry.flag))
                } else {
                    flags.insert(MountFlags(rawValue: entry.flag))
                }
            } else if let propagation = Self.propagationTable[option] {
                self.propagation.append(propagation)
            } else if let entry = Self.recursiveTable[option] {
                if entry.clear {
                    recursiveClear |= entry.attr
                } else {
                    recursiveSet |= entry.attr
                    if entry.attr & Self.atimeMask == entry.attr { recursiveClear |= Self.atimeMask }
                }
            } else if option == "tmpcopyup" {
                copyUp = true
            } else if option != "defaults" {
                data.append(option)
            }
        }
        self.data = data.joined(separator: ",")
    }

    /// MS_* flags a bind mount needs a remount for: anything beyond MS_BIND, MS_REC and MS_REMOUNT.
    public var needsBindRemount: Bool {
        !flags.subtracting([.bind, .recursive, .remount]).isEmpty
    }
}
