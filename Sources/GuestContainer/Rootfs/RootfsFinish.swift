#if canImport(Glibc)
import Glibc
#endif
import GuestSys

/// What runs inside the switched root: read-only remounts (runc's finalizeRootfs), read-only and masked
/// paths, and the umask.
enum RootfsFinish {
    /// tmpfs and /dev mounts asked read-only were mounted writable to be filled; now they become ro. Then
    /// `root.readonly`, then the umask (the spec's, else 022).
    static func finalize(_ spec: RuntimeSpec) throws(ContainerError) {
        for m in spec.mounts where m.parsed.flags.contains(.readOnly) {
            let dest = RootfsPath.clean(m.destination)
            guard m.type == "tmpfs" && !m.isBind || dest == "/dev" else { continue }
            var attempt = 0
            while true {
                do throws(SysError) {
                    try Mounts.mount(source: "", target: dest, type: nil, flags: m.parsed.flags.union([.remount, .bind, .readOnly]))
                    break
                } catch where error.code == Errno.EBUSY && attempt < 5 {
                    attempt += 1
                    Clock.sleep(nanoseconds: 100_000_000)
                } catch {
                    throw ContainerError.step("remount \(dest) read-only", error)
                }
            }
        }
        if spec.root?.readonly == true {
            do throws(SysError) {
                try Mounts.mount(source: "", target: "/", type: nil, flags: [.bind, .remount, .readOnly])
            } catch {
                let flags = (try? MountFlags.ofFilesystem("/")) ?? []
                do throws(SysError) {
                    try Mounts.mount(source: "", target: "/", type: nil, flags: flags.union([.bind, .remount, .readOnly]))
                } catch {
                    throw ContainerError.step("remount / read-only (root.readonly)", error)
                }
            }
        }
        Processes.setUmask(mode_t(spec.process?.user.umask ?? 0o022))
    }

    /// A bind of the path on itself, remounted read-only with its nosuid/nodev/noexec kept; a missing
    /// path is skipped.
    static func makeReadOnly(_ path: String) throws(ContainerError) {
        do throws(SysError) {
            try Mounts.mount(source: path, target: path, type: nil, flags: [.bind, .recursive])
        } catch where error.code == Errno.ENOENT {
            return
        } catch {
            throw ContainerError.step("make \(path) read-only: bind", error)
        }
        do throws(SysError) {
            let kept = try MountFlags.ofFilesystem(path).intersection([.noSetuid, .noDevices, .noExec])
            try Mounts.mount(source: path, target: path, type: nil, flags: kept.union([.bind, .remount, .readOnly]))
        } catch {
            throw ContainerError.step("make \(path) read-only: remount", error)
        }
    }

    /// Files get /dev/null bound over them, directories a read-only tmpfs; a missing path is skipped.
    static func mask(_ path: String) throws(ContainerError) {
        do throws(SysError) {
            try Mounts.mount(source: "/dev/null", target: path, type: nil, flags: .bind)
        } catch where error.code == Errno.ENOENT {
            return
        } catch where error.code == Errno.ENOTDIR {
            do throws(SysError) {
                try Mounts.mount(source: "tmpfs", target: path, type: "tmpfs", flags: .readOnly)
            } catch {
                throw ContainerError.step("mask \(path) with a read-only tmpfs", error)
            }
        } catch {
            throw ContainerError.step("mask \(path) with /dev/null", error)
        }
    }
}
