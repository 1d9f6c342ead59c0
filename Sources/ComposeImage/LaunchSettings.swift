// Kernel command lines and VMM invocations for a composed image. Facts they rest on (shared/reference.md):
// - Our kernel: `console=ttyS0 root=/dev/pmem0 rootfstype=ext4 rootflags=dax ro` plus guest.* options.
// - QEMU microvm runs with acpi=off (see qemu(machine:)); q35 takes the rootfs as virtio-pmem (`memory-backend-file,share=on` + `virtio-pmem-pci`, with
//   `-m …,slots=,maxmem=` for the device-memory window); QEMU microvm's mmio virtio-pmem gets no window, so
//   there the rootfs is a `virtio-blk-device` and DAX is off.
// - vsock on QEMU: `vhost-user-vsock-pci` needs guest RAM shared with the backend (`memory-backend-memfd,share=on`
//   as the machine's memory backend) and a backend (guest-vsock-bridge, contract 4); `vhost-vsock-pci` needs the
//   host's vhost_vsock module.
// - Firecracker appends its own virtio_mmio.device= entries; without boot_args it would use
//   `reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux i8042.dumbkbd swiotlb=noforce pci=off`,
//   of which we keep all but the two that would hide the console and modules.
// - Firecracker and Cloud Hypervisor boot the ELF vmlinux (PVH); QEMU and kvmtool take the bzImage.
import Foundation

/// Launch defaults recorded in the manifest.
public struct LaunchOptions: Codable, Sendable, Equatable {
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

    public init() {}
}

/// Firecracker's VM configuration file (`firecracker --no-api --config-file`).
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
    public struct Vsock: Codable, Sendable, Equatable {
        public var guestCid: UInt32
        public var udsPath: String
        enum CodingKeys: String, CodingKey { case guestCid = "guest_cid", udsPath = "uds_path" }
    }

    public var bootSource: BootSource
    public var drives: [Drive]
    public var pmem: [Pmem]?
    public var machineConfig: MachineConfig
    public var vsock: Vsock?

    enum CodingKeys: String, CodingKey {
        case bootSource = "boot-source", drives, pmem, machineConfig = "machine-config", vsock
    }
}

/// Computes command lines and launch settings from an image's layout, its kernels and the launch options.
public struct LaunchPlanner: Sendable {
    public let image: ImageManifest.ImageInfo
    /// Absolute path of the image now.
    public let imagePath: String
    public let kernels: [ImageManifest.Artifact]
    public let options: LaunchOptions
    public let agentPath: String?
    /// An initramfs booted before a disk root (e.g. one carrying a stock kernel's virtio and pmem modules).
    public let initrd: String?
    /// Attach even a DAX-ready image as a virtio-blk disk (no DAX): the page-cache baseline DAX is measured
    /// against.
    public var rootOnBlockDevice = false

    public init(image: ImageManifest.ImageInfo, imagePath: String, kernels: [ImageManifest.Artifact],
                options: LaunchOptions, agentPath: String?, initrd: String? = nil) {
        self.image = image
        self.imagePath = imagePath
        self.kernels = kernels
        self.options = options
        self.agentPath = agentPath
        self.initrd = isInitramfsFormat(image) ? nil : initrd
    }

    public static let targets = ["qemu-q35", "qemu-microvm", "firecracker", "cloud-hypervisor", "kvmtool"]

    var isInitramfs: Bool { image.format == "initramfs" }
    /// q35 (and Cloud Hypervisor, Firecracker) attach a DAX-ready image as pmem; others as a block device.
    func usesPmem(_ target: String) -> Bool {
        !isInitramfs && image.dax && !rootOnBlockDevice && ["qemu-q35", "cloud-hypervisor", "firecracker"].contains(target)
    }

    /// The kernel command line for one launch target.
    public func cmdline(for target: String) -> String {
        var args = ["console=ttyS0"]
        if target == "firecracker" {
            args += ["reboot=k", "panic=1", "pci=off", "i8042.noaux", "i8042.nomux", "i8042.dumbkbd", "swiotlb=noforce"]
        }
        if isInitramfs {
            args.append("rdinit=/init")
        } else {
            let pmem = usesPmem(target)
            let root = pmem ? image.rootDevicePmem : image.rootDeviceBlock
            args += ["root=\(root ?? "/dev/vda")", "rootfstype=\(image.format)"]
            if pmem { args.append("rootflags=dax") }
            args.append("ro")
        }
        if let agentPath { args.append("guest.agent=\(agentPath)") }
        args.append("guest.agent_port=\(options.agentPort)")
        args += options.guestOptions.map { $0.hasPrefix("guest.") ? $0 : "guest.\($0)" }
        args += options.extraCmdline
        return args.joined(separator: " ")
    }

    /// A kernel of the preferred kinds, in order; falls back to any kernel, then to a placeholder path.
    func kernel(preferring kinds: [String]) -> String {
        for kind in kinds { if let match = kernels.first(where: { $0.kind == kind }) { return match.path } }
        return kernels.first?.path ?? "KERNEL"
    }

    var vsockPath: String { options.vsockPath.isEmpty ? imagePath + ".vsock" : options.vsockPath }

    /// QEMU arguments (argv, starting with the program) for `q35` or `microvm`.
    public func qemu(machine: String) -> [String] {
        let q35 = machine == "q35"
        let target = q35 ? "qemu-q35" : "qemu-microvm"
        let memory = "\(options.memoryMiB)M"
        var argv = ["qemu-system-x86_64"]
        // microvm boots an ELF vmlinux through its PVH entry (no decompression, as Firecracker does); q35 the
        // bzImage. microvm runs without ACPI: its ACPI tables route the timer through an IO-APIC that, under
        // TCG on a loaded host, never ticks once PIT calibration fails (both Debian's 6.1 and our 6.12 hang
        // after "Marking TSC unstable"); in virtual-wire mode they boot. Such a guest cannot power off, so
        // guest-init restarts it instead, which -no-reboot turns into QEMU exiting (Firecracker's contract).
        let kernelPath = q35 ? kernel(preferring: ["bzImage", "vmlinuz", "vmlinux"]) : kernel(preferring: ["vmlinux", "bzImage", "vmlinuz"])
        var machineArg = q35 ? "q35" : "microvm,acpi=off"
        let sharedMemory = options.vsock == "bridge"
        if sharedMemory { machineArg += ",memory-backend=mem" }
        argv += ["-M", machineArg, "-accel", options.accel, "-cpu", "max", "-smp", String(options.vcpus)]
        // q35 needs a device-memory window (slots/maxmem) for virtio-pmem.
        argv += ["-m", q35 ? "\(memory),slots=2,maxmem=\(options.memoryMiB + 1024)M" : memory]
        argv += ["-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot"]
        argv += ["-kernel", kernelPath]
        if let initrd { argv += ["-initrd", initrd] }
        if isInitramfs {
            argv += ["-initrd", imagePath]
        } else if usesPmem(target) {
            argv += ["-object", "memory-backend-file,id=rootfs,share=on,readonly=on,mem-path=\(imagePath),size=\(image.size)",
                     "-device", "virtio-pmem-pci,memdev=rootfs,id=pmem0"]
        } else {
            argv += ["-drive", "id=rootfs,file=\(imagePath),format=raw,if=none,readonly=on",
                     "-device", q35 ? "virtio-blk-pci,drive=rootfs" : "virtio-blk-device,drive=rootfs"]
        }
        argv += ["-append", cmdline(for: target)]
        switch options.vsock {
        case "bridge":
            argv += ["-object", "memory-backend-memfd,id=mem,size=\(memory),share=on",
                     "-chardev", "socket,id=vsock0,path=\(LaunchOptions.vhostPath(vsockPath))",
                     "-device", q35 ? "vhost-user-vsock-pci,chardev=vsock0" : "vhost-user-vsock-device,chardev=vsock0"]
        case "vhost":
            argv += ["-device", q35 ? "vhost-vsock-pci,guest-cid=\(options.guestCID)" : "vhost-vsock-device,guest-cid=\(options.guestCID)"]
        default: break
        }
        return argv
    }

    /// guest-vsock-bridge's argv for the QEMU bridge setup (contract 4).
    public func vsockBridge() -> [String] {
        ["guest-vsock-bridge", "--socket", LaunchOptions.vhostPath(vsockPath), "--uds", vsockPath,
         "--guest-cid", String(options.guestCID)]
    }

    /// Firecracker's config file.
    public func firecracker() -> FirecrackerConfig {
        let pmem = usesPmem("firecracker")
        return FirecrackerConfig(
            bootSource: .init(kernelImagePath: kernel(preferring: ["vmlinux"]), bootArgs: cmdline(for: "firecracker"),
                              initrdPath: isInitramfs ? imagePath : initrd),
            drives: isInitramfs || pmem ? [] : [.init(driveId: "rootfs", pathOnHost: imagePath, isRootDevice: true, isReadOnly: true)],
            pmem: pmem ? [.init(id: "rootfs", pathOnHost: imagePath, rootDevice: true, readOnly: true)] : nil,
            machineConfig: .init(vcpuCount: options.vcpus, memSizeMib: options.memoryMiB),
            vsock: options.vsock == "none" ? nil : .init(guestCid: options.guestCID, udsPath: vsockPath))
    }

    /// Cloud Hypervisor's argv.
    public func cloudHypervisor() -> [String] {
        var argv = ["cloud-hypervisor", "--kernel", kernel(preferring: ["vmlinux"]),
                    "--cmdline", cmdline(for: "cloud-hypervisor"),
                    "--cpus", "boot=\(options.vcpus)", "--memory", "size=\(options.memoryMiB)M",
                    "--serial", "tty", "--console", "off"]
        if let initrd { argv += ["--initramfs", initrd] }
        if isInitramfs {
            argv += ["--initramfs", imagePath]
        } else if usesPmem("cloud-hypervisor") {
            argv += ["--pmem", "file=\(imagePath),discard_writes=on"]
        } else {
            argv += ["--disk", "path=\(imagePath),readonly=on"]
        }
        if options.vsock != "none" { argv += ["--vsock", "cid=\(options.guestCID),socket=\(vsockPath)"] }
        return argv
    }

    /// kvmtool's argv (no virtio-pmem there: the rootfs is a virtio-blk disk).
    public func kvmtool() -> [String] {
        var argv = ["lkvm", "run", "--name", "guestkit", "-k", kernel(preferring: ["bzImage", "vmlinuz"]),
                    "-m", String(options.memoryMiB), "-c", String(options.vcpus), "--console", "serial",
                    "-p", cmdline(for: "kvmtool")]
        if let initrd { argv += ["-i", initrd] }
        if isInitramfs { argv += ["-i", imagePath] } else { argv += ["-d", "\(imagePath),ro"] }
        if options.vsock == "vhost" { argv += ["--vsock", String(options.guestCID)] }
        return argv
    }

    /// Every command line and launch setting, for the manifest.
    public func cmdlines() -> [String: String] {
        Dictionary(uniqueKeysWithValues: Self.targets.map { ($0, cmdline(for: $0)) })
    }

    public func launchSet() -> ImageManifest.LaunchSet {
        .init(qemuQ35: qemu(machine: "q35"), qemuMicrovm: qemu(machine: "microvm"), firecracker: firecracker(),
              cloudHypervisor: cloudHypervisor(), kvmtool: kvmtool(), vsockBridge: vsockBridge())
    }
}

private func isInitramfsFormat(_ image: ImageManifest.ImageInfo) -> Bool { image.format == "initramfs" }

extension LaunchOptions {
    /// The vhost-user socket QEMU connects to (contract 4: `<uds>.vhost`).
    static func vhostPath(_ uds: String) -> String { uds + ".vhost" }
}

/// Joins argv into one line a POSIX shell reads back as the same words.
public enum ShellQuoting {
    public static func line(_ argv: [String]) -> String { argv.map(quote).joined(separator: " ") }

    public static func quote(_ word: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
        if !word.isEmpty, word.allSatisfy({ safe.contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
