import ContainerdProto
import GuestContainer
import GuestSys

/// The task's root filesystem as containerd's snapshotter hands it over (one `overlay` mount, or a `bind`
/// of a native snapshot), mounted on `<bundle>/rootfs` as runc's shim does, so the container's writes
/// land in the snapshot.
enum RootfsMount {
    /// Mounts every entry on `target` in order; on a failure the ones already made are undone.
    static func mount(_ mounts: [Containerd_Types_Mount], on target: String) throws(ShimError) {
        var done = 0
        for (index, entry) in mounts.enumerated() {
            let options = MountOptions(entry.options)
            var flags = options.flags
            let isBind = entry.type == "bind" || flags.contains(.bind)
            if isBind { flags.insert(.bind) }
            do throws(SysError) {
                try Mounts.mount(source: entry.source, target: target, type: isBind ? nil : entry.type,
                                 flags: flags.subtracting(isBind ? .readOnly : []),
                                 data: options.data.isEmpty ? nil : options.data)
                // A bind mount ignores MS_RDONLY until it is remounted with it.
                if isBind && flags.contains(.readOnly) {
                    try Mounts.mount(source: "", target: target, type: nil, flags: [.remount, .bind, .readOnly])
                }
            } catch {
                for _ in 0..<done { try? Mounts.unmount(target, detach: true) }
                throw .system("rootfs mount \(index) (\(entry.type) \(entry.source) on \(target), options \(entry.options.joined(separator: ","))): \(error)")
            }
            done += 1
        }
    }

    /// Unmounts everything stacked on `target` (containerd's snapshot stays); a target that is not a
    /// mount point is left alone.
    static func unmount(_ target: String) {
        for _ in 0..<16 {
            do throws(SysError) {
                try Mounts.unmount(target, detach: true)
            } catch {
                return
            }
        }
    }
}
