import GuestSys

/// One filesystem to mount: a value, so the plan can be checked without mounting anything.
public struct MountPoint: Equatable, Sendable, CustomStringConvertible {
    public let source: String
    public let target: String
    public let type: String
    public let flags: MountFlags
    public let data: String?

    public init(source: String, target: String, type: String, flags: MountFlags = [], data: String? = nil) {
        self.source = source
        self.target = target
        self.type = type
        self.flags = flags
        self.data = data
    }

    public var description: String { "\(type) on \(target)" + (data.map { " (\($0))" } ?? "") }
}

/// The basic mounts every guest needs before anything else runs, in order, and the decision of which
/// of them are still missing ("unless already there": a kernel with DEVTMPFS_MOUNT mounts /dev itself,
/// and after switch_root the moved mounts are already in place).
public enum MountPlan {
    public static let basic: [MountPoint] = [
        MountPoint(source: "proc", target: "/proc", type: "proc", flags: [.noSetuid, .noDevices, .noExec]),
        MountPoint(source: "sysfs", target: "/sys", type: "sysfs", flags: [.noSetuid, .noDevices, .noExec]),
        MountPoint(source: "devtmpfs", target: "/dev", type: "devtmpfs", flags: [.noSetuid], data: "mode=0755"),
        // gid 5 is the tty group in Debian's base-passwd; ptmxmode lets the agent open /dev/pts/ptmx.
        MountPoint(source: "devpts", target: "/dev/pts", type: "devpts", flags: [.noSetuid, .noExec],
                   data: "gid=5,mode=0620,ptmxmode=0666"),
        MountPoint(source: "shm", target: "/dev/shm", type: "tmpfs", flags: [.noSetuid, .noDevices], data: "mode=1777"),
        MountPoint(source: "tmpfs", target: "/run", type: "tmpfs", flags: [.noSetuid, .noDevices], data: "mode=0755"),
        MountPoint(source: "cgroup2", target: "/sys/fs/cgroup", type: "cgroup2",
                   flags: [.noSetuid, .noDevices, .noExec], data: "nsdelegate"),
    ]

    /// Links a program expects in /dev that devtmpfs does not make: (link, target).
    public static let deviceLinks: [(link: String, target: String)] = [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ]

    /// The mount points that switch_root carries into the new root (their sub-mounts move with them).
    public static let carriedAcrossSwitchRoot = ["/dev", "/proc", "/sys", "/run"]

    /// The planned mounts whose target is not a mount point yet, in plan order.
    public static func missing(from table: [MountEntry], plan: [MountPoint] = basic) -> [MountPoint] {
        let mounted = Set(table.map(\.target))
        return plan.filter { !mounted.contains($0.target) }
    }

    /// Mounts what is missing, re-reading the mount table after /proc appears. Failures are logged and
    /// the rest goes on: a guest without cgroup2 can still run its agent.
    public static func apply(_ console: Console) {
        // Without proc the table cannot be read and looks empty: re-read it once proc is mounted.
        var table = (try? MountEntry.current()) ?? []
        for point in missing(from: table) where !table.contains(where: { $0.target == point.target }) {
            do throws(SysError) {
                if !FileSystem.isDirectory(point.target) { try FileSystem.makeDirectories(point.target) }
                try Mounts.mount(source: point.source, target: point.target, type: point.type, flags: point.flags,
                                 data: point.data)
                console.debug("mounted \(point)")
            } catch {
                console.error("cannot mount \(point): \(error)")
            }
            if point.target == "/proc" { table = (try? MountEntry.current()) ?? [] }
        }
        for link in deviceLinks where !FileSystem.exists(link.link) {
            do throws(SysError) {
                try FileSystem.symlink(target: link.target, at: link.link)
            } catch {
                console.warning("cannot link \(link.link) → \(link.target): \(error)")
            }
        }
    }
}
