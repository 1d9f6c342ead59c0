import GuestSys

/// The container's /dev when the spec does not bind one: runc's default nodes plus `linux.devices`,
/// /dev/ptmx as a link into the container's devpts, and the fd/stdin/stdout/stderr links.
struct DeviceNodes {
    let rootfs: String
    let devices: [DeviceSpec]
    /// In a new user namespace mknod is refused: nodes are bind-mounted from the guest's /dev instead.
    let bindFromHost: Bool

    /// runc's AllowedDevices that have a path: null, random, full, tty, zero, urandom (0666, root).
    static let defaults: [DeviceSpec] = [
        DeviceSpec(typeMode: 0o020000, path: "/dev/null", major: 1, minor: 3),
        DeviceSpec(typeMode: 0o020000, path: "/dev/random", major: 1, minor: 8),
        DeviceSpec(typeMode: 0o020000, path: "/dev/full", major: 1, minor: 7),
        DeviceSpec(typeMode: 0o020000, path: "/dev/tty", major: 5, minor: 0),
        DeviceSpec(typeMode: 0o020000, path: "/dev/zero", major: 1, minor: 5),
        DeviceSpec(typeMode: 0o020000, path: "/dev/urandom", major: 1, minor: 9),
    ]

    /// The defaults a spec device of the same path does not replace, then the spec's devices.
    static func all(_ spec: [DeviceSpec]) -> [DeviceSpec] {
        defaults.filter { d in !spec.contains { $0.path == d.path } } + spec
    }

    func create() throws(ContainerError) {
        let previous = Processes.setUmask(0)
        defer { Processes.setUmask(previous) }
        for device in Self.all(devices) where RootfsPath.clean(device.path) != "/dev/ptmx" {
            try create(device)
        }
    }

    func create(_ device: DeviceSpec) throws(ContainerError) {
        let dest = RootfsPath.resolve(device.path, in: rootfs)
        guard dest != rootfs else { throw ContainerError.failed("device \(device.path) would replace the rootfs") }
        do throws(SysError) {
            try FileSystem.makeDirectories(RootfsMounts.parent(dest))
        } catch {
            throw ContainerError.step("create the directory of device \(device.path)", error)
        }
        if bindFromHost { return try bind(device, dest: dest) }
        do throws(SysError) {
            try FileSystem.makeNode(dest, mode: device.typeMode | device.fileMode, major: device.major, minor: device.minor)
            try FileSystem.changeOwner(dest, uid: device.uid, gid: device.gid)
        } catch where error.code == Errno.EEXIST {
            return
        } catch where error.code == Errno.EPERM {
            try bind(device, dest: dest)
        } catch {
            throw ContainerError.step("mknod \(device.path)", error)
        }
    }

    func bind(_ device: DeviceSpec, dest: String) throws(ContainerError) {
        do throws(SysError) {
            if !FileSystem.exists(dest) { try FileSystem.writeFile(dest, [UInt8]()) }
            try Mounts.mount(source: device.path, target: dest, type: nil, flags: .bind)
        } catch {
            throw ContainerError.step("bind \(device.path) on \(device.path)", error)
        }
    }

    /// /dev/ptmx → pts/ptmx, so a pty comes from the container's own devpts instance.
    func linkPtmx() throws(ContainerError) {
        let ptmx = rootfs + "/dev/ptmx"
        do throws(SysError) {
            if FileSystem.exists(ptmx) { try FileSystem.unlink(ptmx) }
            try FileSystem.symlink(target: "pts/ptmx", at: ptmx)
        } catch {
            throw ContainerError.step("link /dev/ptmx to pts/ptmx", error)
        }
    }

    /// /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr (and /dev/core where the kernel has /proc/kcore).
    func linkStandardStreams() throws(ContainerError) {
        var links = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"), ("/proc/self/fd/1", "/dev/stdout"),
                     ("/proc/self/fd/2", "/dev/stderr")]
        if FileSystem.exists("/proc/kcore") { links.append(("/proc/kcore", "/dev/core")) }
        for (target, link) in links {
            do throws(SysError) {
                try FileSystem.symlink(target: target, at: rootfs + link)
            } catch where error.code == Errno.EEXIST {
                continue
            } catch {
                throw ContainerError.step("link \(link) to \(target)", error)
            }
        }
    }

    /// After the root switch: standard streams that were the guest's /dev/null become the container's.
    static func reopenDevNull() throws(ContainerError) {
        let null: FileDescriptor
        do throws(SysError) { null = try FileDescriptor.open("/dev/null", .readWrite) } catch {
            throw ContainerError.step("open /dev/null in the container", error)
        }
        defer { null.closeQuietly() }
        guard let nullStatus = try? null.status() else { return }
        for fd in 0...2 {
            let stream = FileDescriptor(rawValue: Int32(fd))
            guard let st = try? stream.status(), st.isCharacterDevice, st.rdev == nullStatus.rdev else { continue }
            do throws(SysError) { try null.duplicate(as: stream) } catch {
                throw ContainerError.step("reopen fd \(fd) on the container's /dev/null", error)
            }
        }
    }
}
