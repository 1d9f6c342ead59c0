#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// A process's capability sets as 64-bit masks (bit N = capability N).
public struct CapabilityState: Sendable, Equatable {
    public var effective: UInt64
    public var permitted: UInt64
    public var inheritable: UInt64

    public init(effective: UInt64, permitted: UInt64, inheritable: UInt64) {
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable
    }
}

/// User and group ids, capabilities, and the prctl switches that go with them.
public enum Credentials {
    public static func setGroups(_ groups: [UInt32]) throws(SysError) {
        try sys("setgroups", [groups.map(String.init).joined(separator: ",")]) {
            groups.withUnsafeBufferPointer { gk_setgroups($0.count, $0.baseAddress) }
        }
    }

    /// setresgid(gid, gid, gid).
    public static func setGroupID(_ gid: UInt32) throws(SysError) {
        try sys("setresgid", ["\(gid)"]) { gk_setresgid(gid, gid, gid) }
    }

    /// setresuid(uid, uid, uid).
    public static func setUserID(_ uid: UInt32) throws(SysError) {
        try sys("setresuid", ["\(uid)"]) { gk_setresuid(uid, uid, uid) }
    }

    public static func capabilities() throws(SysError) -> CapabilityState {
        var e: [UInt32] = [0, 0], p: [UInt32] = [0, 0], i: [UInt32] = [0, 0]
        try sys("capget", []) { gk_capget(&e, &p, &i) }
        func join(_ v: [UInt32]) -> UInt64 { UInt64(v[0]) | UInt64(v[1]) << 32 }
        return CapabilityState(effective: join(e), permitted: join(p), inheritable: join(i))
    }

    public static func setCapabilities(_ state: CapabilityState) throws(SysError) {
        func split(_ v: UInt64) -> [UInt32] { [UInt32(truncatingIfNeeded: v), UInt32(truncatingIfNeeded: v >> 32)] }
        let e = split(state.effective), p = split(state.permitted), i = split(state.inheritable)
        try sys("capset", ["e=0x" + String(state.effective, radix: 16), "p=0x" + String(state.permitted, radix: 16),
                           "i=0x" + String(state.inheritable, radix: 16)]) { gk_capset(e, p, i) }
    }

    /// PR_CAPBSET_DROP (24).
    public static func dropBounding(_ capability: Int32) throws(SysError) {
        try sys("prctl", ["PR_CAPBSET_DROP", "\(capability)"]) { gk_prctl(24, UInt(capability), 0, 0, 0) }
    }

    /// PR_CAPBSET_READ (23): whether the capability is in the bounding set.
    public static func inBounding(_ capability: Int32) throws(SysError) -> Bool {
        try sys("prctl", ["PR_CAPBSET_READ", "\(capability)"]) { gk_prctl(23, UInt(capability), 0, 0, 0) } == 1
    }

    /// PR_CAP_AMBIENT (47) with PR_CAP_AMBIENT_RAISE (2).
    public static func raiseAmbient(_ capability: Int32) throws(SysError) {
        try sys("prctl", ["PR_CAP_AMBIENT_RAISE", "\(capability)"]) { gk_prctl(47, 2, UInt(capability), 0, 0) }
    }

    /// PR_SET_KEEPCAPS (8): keep permitted capabilities across a change away from uid 0.
    public static func setKeepCapabilities(_ on: Bool) throws(SysError) {
        try sys("prctl", ["PR_SET_KEEPCAPS", on ? "1" : "0"]) { gk_prctl(8, on ? 1 : 0, 0, 0, 0) }
    }

    /// PR_SET_NO_NEW_PRIVS (38).
    public static func setNoNewPrivileges() throws(SysError) {
        try sys("prctl", ["PR_SET_NO_NEW_PRIVS", "1"]) { gk_prctl(38, 1, 0, 0, 0) }
    }

    /// The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap).
    public static func lastCapability() -> Int32 {
        guard let text = try? FileSystem.readText("/proc/sys/kernel/cap_last_cap"),
              let n = Int32(text.filter { !$0.isWhitespace }) else { return 40 }
        return n
    }
}

/// Kernel keyrings (keyctl(2)): runc gives each container a fresh session keyring.
public enum Keyrings {
    /// KEYCTL_JOIN_SESSION_KEYRING: a new session keyring named `name`; returns its serial.
    public static func joinSession(_ name: String) throws(SysError) -> Int {
        try sys("keyctl", ["KEYCTL_JOIN_SESSION_KEYRING", name]) { gk_keyctl_join_session(name) }
    }

    /// KEYCTL_DESCRIBE's permission field (hex) of a key.
    public static func permissions(_ key: Int) throws(SysError) -> UInt32 {
        var buffer = [CChar](repeating: 0, count: 512)
        try sys("keyctl", ["KEYCTL_DESCRIBE", "\(key)"]) { gk_keyctl_describe(key, &buffer, 511) }
        let fields = decodeCString(buffer).split(separator: ";", omittingEmptySubsequences: false)
        guard fields.count >= 4, let perm = UInt32(fields[3], radix: 16) else {
            throw SysError("keyctl", ["KEYCTL_DESCRIBE", "\(key)", "unparsable"], code: Errno.EINVAL)
        }
        return perm
    }

    public static func setPermissions(_ key: Int, _ permissions: UInt32) throws(SysError) {
        try sys("keyctl", ["KEYCTL_SETPERM", "\(key)", "0x" + String(permissions, radix: 16)]) { gk_keyctl_setperm(key, permissions) }
    }
}
