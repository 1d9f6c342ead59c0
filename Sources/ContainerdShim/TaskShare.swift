import Foundation
import GuestSys

/// The host directory a task's VM mounts over virtio-9p: `rootfs/` is the task's rootfs and `mounts/<n>`
/// each host path the spec bind-mounts, all bind-mounted here on the host, so one 9p device carries
/// everything (QEMU's `multidevs=remap` keeps inode numbers apart across those mounts). The guest mounts
/// it at `guestRoot`; the paths the spec gets are under it. Host paths come from containerd's spec only,
/// never from the guest.
final class TaskShare: @unchecked Sendable {
    // Used by one Create/Delete at a time (the task's lifecycle lock), hence unchecked.
    static let tag = "guestkit"
    static let guestRoot = "/run/guestkit/share"

    let hostRoot: String
    private var binds: [String] = []

    init(hostRoot: String) throws(ShimError) {
        self.hostRoot = hostRoot
        do throws(SysError) {
            try FileSystem.makeDirectories(hostRoot + "/mounts", mode: 0o700)
            try FileSystem.makeDirectories(hostRoot + "/rootfs", mode: 0o755)
        } catch {
            throw .system(error)
        }
    }

    var guestRootfs: String { Self.guestRoot + "/rootfs" }

    /// Binds the bundle's (mounted) rootfs into the share.
    func shareRootfs(_ bundleRootfs: String) throws(ShimError) {
        try bind(bundleRootfs, at: hostRoot + "/rootfs", recursive: true)
    }

    /// Binds a host file or directory into the share; returns where the guest sees it.
    func share(hostPath: String, recursive: Bool) throws(ShimError) -> String {
        let name = "\(binds.count)"
        let target = hostRoot + "/mounts/" + name
        let status: FileStatus
        do throws(SysError) {
            status = try FileSystem.status(hostPath)
            if status.isDirectory {
                try FileSystem.makeDirectory(target, mode: 0o755)
            } else {
                try FileDescriptor.open(target, [.writeOnly, .create, .exclusive], mode: 0o600).close()
            }
        } catch {
            throw .invalidArgument("bind mount source \(hostPath): \(error)")
        }
        try bind(hostPath, at: target, recursive: recursive)
        return Self.guestRoot + "/mounts/" + name
    }

    private func bind(_ source: String, at target: String, recursive: Bool) throws(ShimError) {
        do throws(SysError) {
            try Mounts.mount(source: source, target: target, type: nil, flags: recursive ? [.bind, .recursive] : .bind)
        } catch {
            throw .system("sharing \(source) with the guest: \(error)")
        }
        binds.append(target)
    }

    /// Undoes every bind (newest first) and removes the directory. Never recursive: a bind that could not
    /// be undone keeps its mount point (and what it shows) rather than having it deleted through it.
    func remove() {
        for target in binds.reversed() {
            RootfsMount.unmount(target)
            if target != hostRoot + "/rootfs" {
                if (try? FileSystem.removeDirectory(target)) == nil { try? FileSystem.unlink(target) }
            }
        }
        binds = []
        for directory in [hostRoot + "/rootfs", hostRoot + "/mounts", hostRoot] { try? FileSystem.removeDirectory(directory) }
    }
}
