// Firecracker's VM configuration file (`firecracker --no-api --config-file FILE`), whose keys are the
// API's FullVmConfiguration (src/firecracker/swagger/firecracker.yaml): boot-source, drives, pmem,
// machine-config, network-interfaces, vsock. Firecracker boots the uncompressed ELF vmlinux on x86_64,
// writes the serial console to its own standard output, and has hybrid vsock built in (uds_path; no
// bridge). It has no shared-directory device: a VM with 9p shares cannot run there.

/// Firecracker's `--config-file` document.
public struct FirecrackerConfig: Codable, Sendable, Equatable {
    public struct BootSource: Codable, Sendable, Equatable {
        public var kernelImagePath: String
        public var bootArgs: String
        public var initrdPath: String?
        enum CodingKeys: String, CodingKey {
            case kernelImagePath = "kernel_image_path", bootArgs = "boot_args", initrdPath = "initrd_path"
        }
    }
    public struct Drive: Codable, Sendable, Equatable {
        public var driveId: String
        public var pathOnHost: String
        public var isRootDevice: Bool
        public var isReadOnly: Bool
        enum CodingKeys: String, CodingKey {
            case driveId = "drive_id", pathOnHost = "path_on_host", isRootDevice = "is_root_device", isReadOnly = "is_read_only"
        }
    }
    public struct Pmem: Codable, Sendable, Equatable {
        public var id: String
        public var pathOnHost: String
        public var rootDevice: Bool
        public var readOnly: Bool
        enum CodingKeys: String, CodingKey {
            case id, pathOnHost = "path_on_host", rootDevice = "root_device", readOnly = "read_only"
        }
    }
    public struct MachineConfig: Codable, Sendable, Equatable {
        public var vcpuCount: Int
        public var memSizeMib: Int
        enum CodingKeys: String, CodingKey { case vcpuCount = "vcpu_count", memSizeMib = "mem_size_mib" }
    }
    public struct NetworkInterface: Codable, Sendable, Equatable {
        public var ifaceId: String
        public var hostDevName: String
        public var guestMac: String
        enum CodingKeys: String, CodingKey { case ifaceId = "iface_id", hostDevName = "host_dev_name", guestMac = "guest_mac" }
    }
    public struct Vsock: Codable, Sendable, Equatable {
        public var guestCid: UInt32
        public var udsPath: String
        enum CodingKeys: String, CodingKey { case guestCid = "guest_cid", udsPath = "uds_path" }
    }

    public var bootSource: BootSource
    public var drives: [Drive]
    public var pmem: [Pmem]?
    public var machineConfig: MachineConfig
    public var networkInterfaces: [NetworkInterface]?
    public var vsock: Vsock?

    enum CodingKeys: String, CodingKey {
        case bootSource = "boot-source", drives, pmem, machineConfig = "machine-config",
             networkInterfaces = "network-interfaces", vsock
    }

    /// The configuration for `vm`; throws for what Firecracker cannot attach.
    public init(_ vm: VirtualMachine) throws(LaunchError) {
        guard vm.shares.isEmpty else {
            throw .unsupported(vmm: "firecracker", "no virtio-9p or virtio-fs device for the shares "
                + vm.shares.map(\.tag).joined(separator: ", ") + "; give the files as a block device instead")
        }
        bootSource = BootSource(kernelImagePath: vm.kernel, bootArgs: vm.commandLine, initrdPath: vm.initrd)
        drives = []
        pmem = nil
        if let disk = vm.rootDisk {
            switch disk.attachment {
            case .pmem: pmem = [Pmem(id: "rootfs", pathOnHost: disk.path, rootDevice: true, readOnly: disk.readOnly)]
            case .block: drives = [Drive(driveId: "rootfs", pathOnHost: disk.path, isRootDevice: true, isReadOnly: disk.readOnly)]
            }
        }
        machineConfig = MachineConfig(vcpuCount: vm.vcpus, memSizeMib: vm.memoryMiB)
        networkInterfaces = vm.interfaces.isEmpty ? nil : vm.interfaces.enumerated().map { index, nic in
            NetworkInterface(ifaceId: "eth\(index)", hostDevName: nic.tap, guestMac: nic.mac)
        }
        vsock = vm.vsock.map { Vsock(guestCid: $0.guestCID, udsPath: $0.hybridSocket) }
    }
}
