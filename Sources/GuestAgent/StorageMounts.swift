import GuestContainer
import GuestProto
import GuestSys

/// The mounts CreateContainer makes before the container (a 9p share of the host's rootfs, an overlay),
/// with options read like a spec mount's; undone newest first.
enum StorageMounts {
    /// Mounts each in order; on a failure the ones already made are unmounted and the error names the mount.
    static func mount(_ mounts: [Guestkit_V1_StorageMount]) throws(AgentError) -> [String] {
        var done: [String] = []
        for (i, m) in mounts.enumerated() {
            guard m.target.hasPrefix("/") else {
                unmount(done)
                throw .invalidRequest("storage[\(i)].target \"\(m.target)\" is not an absolute path")
            }
            let options = MountOptions(m.options)
            do throws(SysError) {
                try FileSystem.makeDirectories(m.target)
                try Mounts.mount(source: m.source, target: m.target, type: m.type.isEmpty ? nil : m.type, flags: options.flags,
                                 data: options.data.isEmpty ? nil : options.data)
                for propagation in options.propagation {
                    try Mounts.mount(source: "", target: m.target, type: nil, flags: propagation)
                }
            } catch {
                unmount(done)
                throw .container(.step("storage[\(i)]: mount \(m.type) \(m.source) on \(m.target)", error))
            }
            done.append(m.target)
        }
        return done
    }

    /// Lazily unmounts, newest first (a busy mount goes once its last user does).
    static func unmount(_ targets: [String]) {
        for target in targets.reversed() {
            do throws(SysError) { try Mounts.unmount(target, detach: true) } catch {
                AgentLog.error("unmount \(target): \(error)")
            }
        }
    }
}
