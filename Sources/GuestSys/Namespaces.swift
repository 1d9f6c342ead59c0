// Namespaces: telling a real machine's PID 1 from the PID 1 of a namespace, so machine-wide steps (module
// insertion, /dev/mem, remounting a shared superblock read-only) never reach a host; and joining or creating
// namespaces for containers.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// The namespaces a process belongs to, identified by the inode behind /proc/<pid>/ns/<kind>.
public enum Namespaces {
    /// PROC_PID_INIT_INO (include/linux/proc_ns.h): the inode of the initial PID namespace.
    public static let initialPIDInode: UInt64 = 0xEFFF_FFFC
    /// PROC_UTS_INIT_INO (include/linux/proc_ns.h): the inode of the initial UTS namespace.
    public static let initialUTSInode: UInt64 = 0xEFFF_FFFE

    /// The namespace inode of `kind` ("pid", "uts", "mnt", "net"…) for a process ("self" by default).
    public static func inode(_ kind: String, process: String = "self") throws(SysError) -> UInt64 {
        try FileSystem.status("/proc/\(process)/ns/\(kind)").inode
    }

    /// setns(2): joins the namespace `fd` refers to; `type` is its CLONE_NEW* flag (0: any).
    public static func join(_ fd: FileDescriptor, type: Int32) throws(SysError) {
        try sys("setns", [fd.description, "0x" + String(type, radix: 16)]) { gk_setns(fd.rawValue, type) }
    }

    /// unshare(2) with CLONE_NEW* flags.
    public static func unshare(_ flags: Int32) throws(SysError) {
        try sys("unshare", ["0x" + String(flags, radix: 16)]) { gk_unshare(flags) }
    }
}
