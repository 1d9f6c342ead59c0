/// Launch defaults recorded in the manifest (`settings`), from `--memory`, `--vsock`, … or the spec's `launch`.
public struct LaunchOptions: Codable, Sendable, Equatable {
    /// The vsock transports a manifest may name.
    public static let vsockModes = ["bridge", "vhost", "none"]

    public var memoryMiB: Int = 256
    public var vcpus: Int = 1
    public var guestCID: UInt32 = 3
    /// "bridge" (vhost-user-vsock + guest-vsock-bridge), "vhost" (vhost-vsock, host module), or "none".
    public var vsock: String = "bridge"
    /// The hybrid vsock Unix socket (Firecracker's uds_path; guest-vsock-bridge's --uds).
    public var vsockPath: String = ""
    /// "tcg" or "kvm" (QEMU's accelerator).
    public var accel: String = "tcg"
    public var agentPort: Int = 1024
    /// Extra `guest.key=value` options (without the "guest." prefix).
    public var guestOptions: [String] = []
    /// Extra kernel parameters appended verbatim.
    public var extraCmdline: [String] = []
    /// true: the kernel's whole log on the console. Absent or false: `quiet` (warnings and worse only),
    /// since every console byte is an emulated UART write that slows the boot.
    public var kernelLog: Bool?
    /// false: no virtio-balloon free page reporting device. Absent or true: one where the VMM has it.
    public var freePageReporting: Bool?

    public init() {}
}

/// A new manifest's `cmdline` and `launch` sections.
public struct LaunchSections: Sendable, Equatable {
    public var cmdline: [String: String]
    public var launch: JSONValue

    public init(cmdline: [String: String], launch: JSONValue) {
        self.cmdline = cmdline
        self.launch = launch
    }
}

/// Computes a manifest's launch sections from the image it describes; GuestLaunch provides the one
/// that knows the VMMs (ComposeImage does not).
public protocol LaunchSectionWriter: Sendable {
    func sections(for manifest: ImageManifest, imagePath: String) throws -> LaunchSections
}
