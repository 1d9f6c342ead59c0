/// Whether the root is mounted with DAX (`guest.dax=`): file pages are then the host's pages, mapped
/// into the guest, instead of copies in each guest's page cache.
public enum DaxPolicy: String, Sendable, CaseIterable {
    /// DAX where the device and filesystem support it; otherwise a warning and the page cache.
    case auto
    /// DAX or no boot.
    case always
    /// Never DAX.
    case never

    /// Filesystems that can mount with `-o dax` (4 KiB blocks on a DAX-capable device).
    static let daxFilesystems: Set<String> = ["ext2", "ext4", "xfs", "erofs"]

    /// What to do for a root of `filesystem` on a device that does (or does not) support DAX.
    public func decide(filesystem: String, deviceSupportsDax: Bool) -> DaxDecision {
        let fsCapable = Self.daxFilesystems.contains(filesystem)
        switch self {
        case .never:
            return .withoutDax(warning: nil)
        case .auto:
            if !deviceSupportsDax {
                return .withoutDax(warning: "the root device does not support DAX (no pmem?); using the page cache")
            }
            if !fsCapable {
                return .withoutDax(warning: "\(filesystem) cannot mount with DAX; using the page cache")
            }
            return .withDax(option: "dax")
        case .always:
            if !deviceSupportsDax {
                return .refuse("guest.dax=always, but the root device does not support DAX; attach the root as virtio-pmem or an NVDIMM, or boot with guest.dax=auto")
            }
            if !fsCapable {
                return .refuse("guest.dax=always, but \(filesystem) cannot mount with DAX; use ext4, xfs or erofs")
            }
            return .withDax(option: "dax")
        }
    }

    /// Checks a root the kernel mounted itself: only `always` has something to object to.
    public func check(kernelMountedRootIsDax isDax: Bool) -> DaxDecision {
        if isDax { return .withDax(option: "dax") }
        switch self {
        case .always:
            return .refuse("guest.dax=always, but the kernel mounted / without DAX; add rootflags=dax to the kernel command line")
        case .auto, .never:
            return .withoutDax(warning: nil)
        }
    }

    /// Whether a mount's options (as /proc/self/mounts shows them) say it is DAX-mounted.
    public static func isDax(mountOptions: [String]) -> Bool {
        mountOptions.contains { $0 == "dax" || $0 == "dax=always" }
    }
}

/// The outcome of applying a `DaxPolicy` to a root.
public enum DaxDecision: Equatable, Sendable {
    /// Mount with this option added.
    case withDax(option: String)
    /// Mount without DAX, logging the warning if there is one.
    case withoutDax(warning: String?)
    /// Do not mount: a fatal boot error with this message.
    case refuse(String)
}
