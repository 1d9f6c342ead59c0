import GuestSys

/// One micro-VM as its caller describes it, before any VMM's syntax: what it boots, its devices, its size.
public struct VirtualMachine: Sendable, Equatable {
    /// The kernel image (bzImage/vmlinuz for QEMU q35 and kvmtool, the ELF vmlinux for Firecracker,
    /// Cloud Hypervisor and QEMU microvm).
    public var kernel: String
    /// An initramfs, booted before the root disk (or instead of one).
    public var initrd: String?
    public var commandLine: String
    public var rootDisk: Disk?
    public var memoryMiB: Int
    public var vcpus: Int
    public var vsock: Vsock?
    /// Host directories the guest mounts with 9p (`mount -t 9p -o trans=virtio TAG DIR`).
    public var shares: [SharedDirectory] = []
    public var interfaces: [NetworkInterface] = []
    /// QEMU's accelerator: "tcg" or "kvm".
    public var accelerator = "tcg"
    /// Where the serial console (ttyS0) goes.
    public var console: Console = .standardOutput
    /// A virtio-balloon device with free page reporting: the guest hands the pages it frees back to the
    /// host, so an idle guest's host memory shrinks to what it uses. QEMU only here (docs/launch.md gives
    /// the Firecracker and Cloud Hypervisor equivalents).
    public var freePageReporting = true

    public init(kernel: String, commandLine: String, memoryMiB: Int = 256, vcpus: Int = 1) {
        self.kernel = kernel
        self.commandLine = commandLine
        self.memoryMiB = memoryMiB
        self.vcpus = vcpus
    }
}

/// A disk image attached to the guest.
public struct Disk: Sendable, Equatable {
    /// How the guest sees it.
    public enum Attachment: String, Sendable {
        /// virtio-pmem: the file's pages are mapped into the guest (DAX), not copied into its page cache.
        case pmem
        /// virtio-blk.
        case block
    }

    public var path: String
    /// The file's size in bytes (QEMU's pmem memory backend needs it).
    public var size: UInt64
    public var attachment: Attachment
    public var readOnly = true

    public init(path: String, size: UInt64, attachment: Attachment, readOnly: Bool = true) {
        self.path = path
        self.size = size
        self.attachment = attachment
        self.readOnly = readOnly
    }
}

/// The guest's vsock device and where the host reaches it.
public struct Vsock: Sendable, Equatable {
    /// How QEMU provides vsock (Firecracker and Cloud Hypervisor have their own hybrid vsock; kvmtool
    /// only the kernel's).
    public enum QemuTransport: String, Sendable {
        /// vhost-user-vsock served by guest-vsock-bridge (no host module, guest RAM shared with it).
        case bridge
        /// vhost-vsock: the host's vhost_vsock module; the host reaches the guest over AF_VSOCK.
        case kernel
    }

    public var guestCID: UInt32
    /// The hybrid vsock Unix socket on the host: Firecracker's and Cloud Hypervisor's `uds_path`,
    /// guest-vsock-bridge's `--uds`.
    public var hybridSocket: String
    public var qemuTransport: QemuTransport

    public init(guestCID: UInt32, hybridSocket: String, qemuTransport: QemuTransport = .bridge) {
        self.guestCID = guestCID
        self.hybridSocket = hybridSocket
        self.qemuTransport = qemuTransport
    }

    /// The vhost-user socket QEMU connects to and guest-vsock-bridge listens on.
    public var vhostUserSocket: String { hybridSocket + ".vhost" }
}

/// A host directory shared with the guest over virtio-9p.
public struct SharedDirectory: Sendable, Equatable {
    public var hostPath: String
    /// The mount tag the guest names it by.
    public var tag: String
    public var readOnly: Bool

    public init(hostPath: String, tag: String, readOnly: Bool = false) {
        self.hostPath = hostPath
        self.tag = tag
        self.readOnly = readOnly
    }
}

/// A virtio-net interface backed by a host tap device.
public struct NetworkInterface: Sendable, Equatable {
    /// The tap device's name on the host (created and configured by the caller).
    public var tap: String
    /// The guest's MAC address, "aa:bb:cc:dd:ee:ff".
    public var mac: String
    /// A descriptor already attached to the tap (TUNSETIFF), which QEMU inherits and uses instead of
    /// opening the tap by name: the way to hand it a tap that lives in another network namespace. The caller
    /// keeps it open as long as the VM may start; nil: QEMU opens `tap` in its own namespace.
    public var descriptor: FileDescriptor?

    public init(tap: String, mac: String, descriptor: FileDescriptor? = nil) {
        self.tap = tap
        self.mac = mac
        self.descriptor = descriptor
    }
}

/// Where the guest's serial console goes.
public enum Console: Sendable, Equatable {
    /// The VMM's standard output.
    case standardOutput
    /// A file the VMM writes (QEMU, Cloud Hypervisor); Firecracker and kvmtool write the console to their
    /// standard output, which the launcher then points at the file.
    case file(String)
}
