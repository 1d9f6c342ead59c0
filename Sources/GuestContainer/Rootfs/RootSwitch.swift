import GuestSys

/// Making the rootfs the container's `/`: pivot_root(".", ".") with the old root detached (runc's
/// pivotRoot), or, where `/` is the initramfs (pivot_root refuses rootfs), moving the rootfs over `/`
/// and chrooting after hiding the guest's full proc and sysfs mounts (runc's msMoveRoot).
enum RootSwitch {
    /// Whether the guest's `/` is the initial ramfs/tmpfs ("rootfs" in mountinfo).
    static func rootIsInitramfs() -> Bool {
        let mounts = (try? MountInfoEntry.current()) ?? []
        return mounts.first { $0.mountPoint == "/" }?.type == "rootfs"
    }

    static func pivot(into rootfs: String) throws(ContainerError) {
        do throws(SysError) {
            let oldRoot = try FileDescriptor.open("/", [.directory, .readOnly])
            defer { oldRoot.closeQuietly() }
            let newRoot = try FileDescriptor.open(rootfs, [.directory, .readOnly])
            defer { newRoot.closeQuietly() }
            try newRoot.changeDirectory()
            try Mounts.pivotRoot(".", putOld: ".")
            try oldRoot.changeDirectory()
            // rslave first, so unmounting the old root never propagates to the guest.
            try Mounts.mount(source: "", target: ".", type: nil, flags: [.slavePropagation, .recursive])
            try Mounts.unmount(".", detach: true)
            try FileSystem.changeDirectory("/")
        } catch {
            throw ContainerError.step("pivot_root to \(rootfs)", error)
        }
    }

    static func moveAndChroot(into rootfs: String) throws(ContainerError) {
        do throws(SysError) {
            for entry in try MountInfoEntry.current() where entry.root == "/" && (entry.type == "proc" || entry.type == "sysfs")
                && !entry.mountPoint.hasPrefix(rootfs) {
                do throws(SysError) {
                    try Mounts.mount(source: "", target: entry.mountPoint, type: nil, flags: [.slavePropagation, .recursive])
                } catch where error.code == Errno.ENOENT {
                    continue
                }
                do throws(SysError) {
                    try Mounts.unmount(entry.mountPoint, detach: true)
                } catch where error.code == Errno.EINVAL || error.code == Errno.EPERM {
                    try Mounts.mount(source: "tmpfs", target: entry.mountPoint, type: "tmpfs")
                }
            }
            try FileSystem.changeDirectory(rootfs)
            try Mounts.mount(source: rootfs, target: "/", type: nil, flags: .move)
            try FileSystem.changeRoot(".")
            try FileSystem.changeDirectory("/")
        } catch {
            throw ContainerError.step("move \(rootfs) onto / and chroot", error)
        }
    }
}
