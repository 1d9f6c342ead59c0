import GuestSys

/// Leaving the initramfs for the real root, as busybox's and klibc's switch_root do: carry /dev, /proc,
/// /sys and /run over, free the initramfs (its files are RAM that nothing else would ever release), move
/// the new root onto `/`, and chroot into it. pivot_root does not work here: the initramfs is the
/// kernel's rootfs, which cannot be unmounted.
public enum SwitchRoot {
    /// Why switching failed before anything was deleted.
    public enum Failure: Error, CustomStringConvertible {
        case notInitramfs(magic: Int64)
        case system(SysError)

        public var description: String {
            switch self {
            case .notInitramfs(let magic):
                return "refusing switch_root: / is not an initramfs (filesystem magic 0x\(String(magic, radix: 16)))"
            case .system(let error): return "switch_root failed: \(error)"
            }
        }
    }

    /// Switches to the root mounted at `newRoot`. Only for PID 1 of a machine running from an initramfs:
    /// it deletes everything on `/` that lives on the initramfs itself.
    public static func perform(newRoot: String, console: Console) throws(Failure) {
        let magic: Int64
        do throws(SysError) { magic = try FileSystem.filesystemType("/") } catch { throw .system(error) }
        guard RootPlan.initramfsMagics.contains(magic) else { throw .notInitramfs(magic: magic) }

        let mounted = Set(((try? MountEntry.current()) ?? []).map(\.target))
        for target in MountPlan.carriedAcrossSwitchRoot where mounted.contains(target) {
            do throws(SysError) {
                if FileSystem.isDirectory(newRoot + target) {
                    try Mounts.mount(source: target, target: newRoot + target, type: nil, flags: .move)
                } else {
                    console.warning("the new root has no \(target) directory, so \(target) is left behind")
                    try Mounts.unmount(target, detach: true)
                }
            } catch {
                console.warning("cannot carry \(target) into the new root: \(error)")
            }
        }

        do throws(SysError) {
            let initramfs = try FileSystem.status("/").device
            try FileSystem.changeDirectory(newRoot)
            let freed = removeContents(of: "/", device: initramfs)
            console.debug("freed the initramfs (\(freed) entries)")
            try Mounts.mount(source: ".", target: "/", type: nil, flags: .move)
            try FileSystem.changeRoot(".")
            try FileSystem.changeDirectory("/")
        } catch {
            throw .system(error)
        }
    }

    /// Deletes everything below `directory` on the filesystem `device`, never crossing into another
    /// filesystem (the new root and anything else mounted). Returns how many entries went.
    static func removeContents(of directory: String, device: UInt64) -> Int {
        var removed = 0
        let prefix = directory == "/" ? "/" : directory + "/"
        for name in (try? FileSystem.listDirectory(directory)) ?? [] {
            let path = prefix + name
            guard let status = try? FileSystem.status(path, followSymlinks: false), status.device == device else {
                continue
            }
            if status.isDirectory {
                removed += removeContents(of: path, device: device)
                if (try? FileSystem.removeDirectory(path)) != nil { removed += 1 }
            } else if (try? FileSystem.unlink(path)) != nil {
                removed += 1
            }
        }
        return removed
    }
}
