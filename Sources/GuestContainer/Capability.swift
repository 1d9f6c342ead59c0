import GuestSys

/// Capability names and numbers (linux/capability.h), and applying a spec's five sets the way runc does.
public enum Capability {
    /// CAP_* by number: index = capability number.
    public static let names: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// "CAP_NET_ADMIN" → 12; nil for a name that is not a capability.
    public static func number(_ name: String) -> Int32? {
        names.firstIndex(of: name).map { Int32($0) }
    }

    public static func name(_ number: Int32) -> String {
        number >= 0 && Int(number) < names.count ? names[Int(number)] : "CAP_\(number)"
    }

    /// A mask of the given capabilities, leaving out those this kernel does not have (runc ignores them
    /// with a warning).
    static func mask(_ numbers: [Int32], last: Int32) -> UInt64 {
        numbers.reduce(0) { $1 >= 0 && $1 <= last && $1 < 64 ? $0 | (1 << UInt64($1)) : $0 }
    }

    /// Drops every capability not in the bounding set (PR_CAPBSET_DROP needs CAP_SETPCAP, so this runs
    /// before the user change).
    static func applyBounding(_ sets: CapabilitySets) throws(ContainerError) {
        let last = Credentials.lastCapability()
        let keep = mask(sets.bounding, last: last)
        for capability in 0...last where keep & (1 << UInt64(capability)) == 0 {
            do throws(SysError) {
                try Credentials.dropBounding(capability)
            } catch where error.code == Errno.EINVAL {
                continue  // not known to this kernel
            } catch {
                throw ContainerError.step("drop \(name(capability)) from the bounding set", error)
            }
        }
    }

    /// Sets effective, permitted and inheritable, then raises the ambient ones. An ambient capability
    /// the kernel refuses (not permitted and inheritable) is skipped, as runc's library does.
    static func applySets(_ sets: CapabilitySets) throws(ContainerError) {
        let last = Credentials.lastCapability()
        let state = CapabilityState(effective: mask(sets.effective, last: last), permitted: mask(sets.permitted, last: last),
                                    inheritable: mask(sets.inheritable, last: last))
        do throws(SysError) {
            try Credentials.setCapabilities(state)
        } catch {
            throw ContainerError.step("set capabilities", error)
        }
        for capability in sets.ambient where capability <= last {
            try? Credentials.raiseAmbient(capability)
        }
    }
}
