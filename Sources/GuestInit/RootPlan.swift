import GuestSys

/// Which of the two boots this is, decided from where init finds itself:
/// (a) the kernel mounted the root (`root=/dev/pmem0 rootflags=dax ro`) and started /sbin/init from it;
/// (b) the kernel unpacked an initramfs and started /init from it, and `guest.root` names the real root.
/// An initramfs without `guest.root` is the whole guest (an initramfs-only image).
public enum RootPlan: Equatable, Sendable {
    /// Nothing to mount; record how the kernel mounted `/`.
    case kernelMounted
    /// Find, mount and switch to the root named by `guest.root`.
    case switchFromInitramfs(RootSpec)
    /// Run from the initramfs itself.
    case stayInInitramfs
    /// A PID namespace on a host: switch_root would delete the host's `/`, so the root step is skipped.
    case skippedInNamespace

    /// RAMFS_MAGIC and TMPFS_MAGIC (include/uapi/linux/magic.h): what the kernel's rootfs is made of.
    public static let initramfsMagics: Set<Int64> = [0x8584_58F6, 0x0102_1994]

    public static func decide(rootFilesystemMagic: Int64, root: RootSpec?, confinement: Confinement) -> RootPlan {
        guard initramfsMagics.contains(rootFilesystemMagic) else { return .kernelMounted }
        guard confinement.isMachine else { return .skippedInNamespace }
        guard let root else { return .stayInInitramfs }
        return .switchFromInitramfs(root)
    }
}

/// What boot.json reports about the root.
public struct RootReport: Equatable, Sendable {
    public var source: String
    public var type: String
    public var dax: Bool
    public var overlay: OverlayMode
    public var switched: Bool

    public init(source: String, type: String, dax: Bool, overlay: OverlayMode = .none, switched: Bool = false) {
        self.source = source
        self.type = type
        self.dax = dax
        self.overlay = overlay
        self.switched = switched
    }

    /// Describes `/` as mounted now. The kernel names the root it mounted `/dev/root`; `root=` says which
    /// device that was.
    public static func current(table: [MountEntry], kernelRoot: String?) -> RootReport {
        guard let entry = table.last(where: { $0.target == "/" }) else {
            return RootReport(source: kernelRoot ?? "unknown", type: "unknown", dax: false)
        }
        let source = entry.source == "/dev/root" ? (kernelRoot ?? entry.source) : entry.source
        return RootReport(source: source, type: entry.type, dax: DaxPolicy.isDax(mountOptions: entry.options))
    }
}
