#if canImport(Glibc)
import Glibc
#endif
import GuestSys

/// The container's mounts, made inside its new mount namespace before the root switch, in runc's order
/// (libcontainer/rootfs_linux.go prepareRoot and mountToRootfs): `/` made rslave (or the spec's
/// rootfsPropagation), the rootfs' parent mount private, the rootfs bound on itself, then every spec mount
/// in order. Read-only tmpfs and /dev mounts are mounted writable here and made read-only by
/// `RootfsFinish` once /dev is populated.
struct RootfsMounts {
    let spec: RuntimeSpec
    /// Absolute host path of the root filesystem.
    let rootfs: String
    /// Absolute bundle path: relative bind sources are taken from it.
    let bundle: String
    let cgroup: ContainerCgroup
    let newCgroupNamespace: Bool

    /// MS_NOEXEC | MS_NOSUID | MS_NODEV (runc's defaultMountFlags for the v1 cgroup tmpfs).
    static let defaultFlags: MountFlags = [.noExec, .noSetuid, .noDevices]

    func prepareRoot() throws(ContainerError) {
        let propagation = spec.linux.rootfsPropagation ?? [.slavePropagation, .recursive]
        try mount("", "/", nil, propagation, nil, step: "make / \(propagation.contains(.sharedPropagation) ? "shared" : propagation.contains(.privatePropagation) ? "private" : "slave")")
        // The rootfs' parent must be private: pivot_root refuses a shared parent, and the bind below must
        // not propagate to the guest's namespace.
        var path = rootfs
        while true {
            do throws(SysError) {
                try Mounts.mount(source: "", target: path, type: nil, flags: .privatePropagation)
                break
            } catch where error.code == Errno.EINVAL && path != "/" {
                path = Self.parent(path)
            } catch {
                throw ContainerError.step("make \(path) private", error)
            }
        }
        try mount(rootfs, rootfs, nil, [.bind, .recursive], nil, step: "bind \(rootfs) on itself")
    }

    /// Whether the spec bind-mounts something over /dev (then the default devices are not made).
    var setsUpDev: Bool {
        !spec.mounts.contains { $0.isBind && RootfsPath.clean($0.destination) == "/dev" }
    }

    func mountAll() throws(ContainerError) {
        for m in spec.mounts { try mountOne(m) }
    }

    func mountOne(_ m: MountSpec) throws(ContainerError) {
        let type = m.isBind ? "bind" : m.type
        switch type {
        case "proc", "sysfs":
            // Never through a symlink: these must land on a plain directory at exactly that path.
            let dest = rootfs + RootfsPath.clean(m.destination)
            if let st = try? FileSystem.status(dest, followSymlinks: false), !st.isDirectory {
                throw ContainerError.failed("mount \(type) on \(m.destination): the destination is not a plain directory")
            }
            try makeDirectories(dest, for: m)
            try mountPropagate(m, type: type, dest: dest, data: m.parsed.data)
        default:
            let existingMode = type == "tmpfs" ? (try? FileSystem.status(RootfsPath.resolve(m.destination, in: rootfs))).map { mode_t($0.permissions) } : nil
            let (dest, data) = try createMountPoint(m, type: type)
            switch type {
            case "mqueue":
                try mountPropagate(m, type: type, dest: dest, data: data)
            case "tmpfs":
                if m.parsed.copyUp {
                    try tmpfsCopyUp(m, dest: dest, data: data)
                } else {
                    try mountPropagate(m, type: type, dest: dest, data: data)
                }
                // A tmpfs over an existing directory takes that directory's mode (runc 1.1's chmod).
                if let mode = existingMode {
                    do throws(SysError) { try FileSystem.changeMode(dest, mode) } catch {
                        throw ContainerError.step("chmod \(m.destination) to its former mode", error)
                    }
                }
            case "bind":
                try mountPropagate(m, type: nil, dest: dest, data: data, source: bindSource(m))
                if m.parsed.needsBindRemount { try remountBind(m, dest: dest) }
                try setRecursiveAttributes(m, dest: dest)
            case "cgroup":
                try mountCgroup(m, dest: dest)
            default:
                try mountPropagate(m, type: type, dest: dest, data: data)
            }
        }
    }

    func bindSource(_ m: MountSpec) -> String {
        m.source.hasPrefix("/") ? m.source : bundle + "/" + m.source
    }

    /// The destination resolved inside the rootfs and made to exist: a file for a bind of a file, a
    /// directory otherwise.
    func createMountPoint(_ m: MountSpec, type: String) throws(ContainerError) -> (String, String) {
        let dest = RootfsPath.resolve(m.destination, in: rootfs)
        try checkProcMount(m, dest: dest, type: type)
        let data = m.parsed.data
        switch type {
        case "bind":
            let source = bindSource(m)
            let st: FileStatus
            do throws(SysError) { st = try FileSystem.status(source) } catch {
                throw ContainerError.step("bind \(source) on \(m.destination): the source", error)
            }
            if !st.isDirectory {
                guard dest != rootfs else { throw ContainerError.failed("bind \(source) on \(m.destination): a file cannot replace the rootfs") }
                try makeDirectories(Self.parent(dest), for: m)
                do throws(SysError) {
                    if !FileSystem.exists(dest) { try FileSystem.writeFile(dest, [UInt8](), mode: 0o755) }
                } catch where error.code == Errno.EEXIST {
                } catch {
                    throw ContainerError.step("create the file \(m.destination) to bind \(source) on", error)
                }
                return (dest, data)
            }
        default:
            break
        }
        try makeDirectories(dest, for: m)
        return (dest, data)
    }

    func makeDirectories(_ path: String, for m: MountSpec) throws(ContainerError) {
        do throws(SysError) { try FileSystem.makeDirectories(path) } catch {
            throw ContainerError.step("create the mount point \(m.destination)", error)
        }
    }

    /// Mounts on or under /proc are refused except proc itself, a bind of a procfs root, and the few
    /// files lxcfs emulates (runc's checkProcMount).
    func checkProcMount(_ m: MountSpec, dest: String, type: String) throws(ContainerError) {
        let proc = rootfs + "/proc"
        if dest == proc {
            if type == "proc" { return }
            if type == "bind", let kind = try? FileSystem.filesystemType(bindSource(m)), kind == 0x9fa0 { return }
            throw ContainerError.failed("mount \(m.source) on \(m.destination): only proc may be mounted on /proc")
        }
        guard dest.hasPrefix(proc + "/") else { return }
        let allowed = ["/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps", "/proc/uptime",
                       "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev", "/proc/sys/kernel/ns_last_pid",
                       "/proc/sys/crypto/fips_enabled"]
        if allowed.contains(where: { rootfs + $0 == dest }) { return }
        throw ContainerError.failed("mount \(m.source) on \(m.destination): mounts inside /proc are not allowed")
    }

    /// mount(2), then each propagation change the options asked for.
    func mountPropagate(_ m: MountSpec, type: String?, dest: String, data: String, source: String? = nil) throws(ContainerError) {
        var flags = m.parsed.flags
        if type == "tmpfs" || RootfsPath.clean(m.destination) == "/dev" { flags.remove(.readOnly) }
        let what = type == nil ? "bind \(source ?? m.source)" : "mount \(type ?? "")"
        try mount(source ?? m.source, dest, type, flags, data.isEmpty ? nil : data, step: "\(what) on \(m.destination)")
        for propagation in m.parsed.propagation {
            try mount("", dest, nil, propagation, nil, step: "change propagation of \(m.destination)")
        }
    }

    /// A bind mount takes its per-mount flags only from a remount (MS_REMOUNT|MS_BIND); if the source is
    /// read-only, ro is kept (runc's remount).
    func remountBind(_ m: MountSpec, dest: String) throws(ContainerError) {
        let flags = m.parsed.flags.union(.remount)
        do throws(SysError) {
            try Mounts.mount(source: bindSource(m), target: dest, type: nil, flags: flags)
        } catch {
            let sourceFlags = (try? MountFlags.ofFilesystem(bindSource(m))) ?? []
            guard sourceFlags.contains(.readOnly) else { throw ContainerError.step("remount \(m.destination) with \(m.options.joined(separator: ","))", error) }
            try mount(bindSource(m), dest, nil, flags.union(.readOnly), nil, step: "remount \(m.destination) read-only")
        }
    }

    func setRecursiveAttributes(_ m: MountSpec, dest: String) throws(ContainerError) {
        guard m.parsed.recursiveSet != 0 || m.parsed.recursiveClear != 0 else { return }
        do throws(SysError) {
            try Mounts.setAttributesRecursively(dest, set: m.parsed.recursiveSet, clear: m.parsed.recursiveClear)
        } catch {
            throw ContainerError.step("set recursive mount attributes on \(m.destination)", error)
        }
    }

    /// `tmpcopyup`: a tmpfs is mounted on a scratch directory, the destination's content copied into
    /// it, and the tmpfs moved onto the destination.
    func tmpfsCopyUp(_ m: MountSpec, dest: String, data: String) throws(ContainerError) {
        let scratch = "/tmp/.guestkit-copyup-\(Processes.currentID)"
        do throws(SysError) {
            try FileSystem.makeDirectories(scratch)
        } catch {
            throw ContainerError.step("create \(scratch) for tmpcopyup of \(m.destination)", error)
        }
        defer { _ = try? FileSystem.removeDirectory(scratch) }
        var flags = m.parsed.flags
        flags.remove(.readOnly)
        try mount(m.source.isEmpty ? "tmpfs" : m.source, scratch, "tmpfs", flags, data.isEmpty ? nil : data, step: "mount tmpfs for tmpcopyup of \(m.destination)")
        do throws(ContainerError) {
            try TreeCopy.copy(from: dest, to: scratch)
            try mount(scratch, dest, nil, .move, nil, step: "move the tmpcopyup tmpfs onto \(m.destination)")
        } catch {
            try? Mounts.unmount(scratch, detach: true)
            throw error
        }
        for propagation in m.parsed.propagation {
            try mount("", dest, nil, propagation, nil, step: "change propagation of \(m.destination)")
        }
    }

    /// `type: cgroup`: cgroup2 where the machine has it (a bind of the hierarchy when the kernel refuses
    /// a new mount); on cgroup v1 a tmpfs with a bind of each hierarchy's own cgroup, as runc does.
    func mountCgroup(_ m: MountSpec, dest: String) throws(ContainerError) {
        switch cgroup.layout {
        case .unified(let root):
            do throws(SysError) {
                try Mounts.mount(source: m.source.isEmpty ? "cgroup" : m.source, target: dest, type: "cgroup2",
                                 flags: m.parsed.flags, data: m.parsed.data.isEmpty ? nil : m.parsed.data)
            } catch where error.code == Errno.EPERM || error.code == Errno.EBUSY {
                let source = newCgroupNamespace ? root + cgroup.path : root
                var bind = m
                bind.source = source
                bind.parsed.flags.insert(.bind)
                try mountPropagate(bind, type: nil, dest: dest, data: "", source: source)
                if bind.parsed.needsBindRemount { try remountBind(bind, dest: dest) }
            } catch {
                throw ContainerError.step("mount cgroup2 on \(m.destination)", error)
            }
            for propagation in m.parsed.propagation {
                try mount("", dest, nil, propagation, nil, step: "change propagation of \(m.destination)")
            }
        case .legacy, .none:
            var tmpfs = m
            tmpfs.parsed = MountOptions(flags: Self.defaultFlags, propagation: m.parsed.propagation, data: "mode=755")
            try mountPropagate(tmpfs, type: "tmpfs", dest: dest, data: "mode=755", source: "tmpfs")
            let own = (try? FileSystem.readText("/proc/self/cgroup")) ?? ""
            for entry in (try? MountInfoEntry.current()) ?? [] where entry.type == "cgroup" {
                let name = Self.base(entry.mountPoint)
                let controllers = entry.superOptions.filter { !["rw", "ro"].contains($0) && !$0.hasPrefix("release_agent") }
                let ownPath = Self.ownCgroup(own, controllers: controllers) ?? "/"
                guard ownPath.hasPrefix(entry.root) else { continue }
                let relative = String(ownPath.dropFirst(entry.root == "/" ? 0 : entry.root.count))
                var bind = m
                bind.destination = RootfsPath.clean(m.destination) + "/" + name
                bind.source = entry.mountPoint + (relative == "/" ? "" : relative)
                bind.parsed = MountOptions(flags: m.parsed.flags.union([.bind, .recursive]), propagation: m.parsed.propagation)
                let target = dest + "/" + name
                try makeDirectories(target, for: bind)
                try mountPropagate(bind, type: nil, dest: target, data: "", source: bind.source)
                if bind.parsed.needsBindRemount { try remountBind(bind, dest: target) }
                if name.contains(",") {
                    for part in name.split(separator: ",") {
                        try? FileSystem.symlink(target: name, at: dest + "/" + part)
                    }
                }
            }
        }
    }

    /// This process's cgroup in the v1 hierarchy holding `controllers` (from /proc/self/cgroup).
    static func ownCgroup(_ text: String, controllers: [String]) -> String? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let names = fields[1].split(separator: ",").map(String.init)
            if !names.isEmpty && Set(names) == Set(controllers) { return String(fields[2]) }
        }
        return nil
    }

    func mount(_ source: String, _ target: String, _ type: String?, _ flags: MountFlags, _ data: String?,
               step: String) throws(ContainerError) {
        do throws(SysError) {
            try Mounts.mount(source: source, target: target, type: type, flags: flags, data: data)
        } catch {
            throw ContainerError.step(step, error)
        }
    }

    static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    static func base(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
