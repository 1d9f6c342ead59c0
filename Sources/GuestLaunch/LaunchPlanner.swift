// From a composed image (its manifest's layout, kernels and launch defaults) to a VirtualMachine per
// launch target, and from there to each VMM's argv or config. Facts it rests on (shared/reference.md):
// - Our kernel: `console=ttyS0 root=/dev/pmem0 rootfstype=ext4 rootflags=dax ro` plus guest.* options.
// - q35, Firecracker and Cloud Hypervisor attach a DAX-ready image as virtio-pmem; QEMU microvm (whose
//   mmio virtio-pmem gets no memory window) and kvmtool (no pmem) as virtio-blk, without DAX.
// - Firecracker appends its own virtio_mmio.device= entries; without boot_args it would use
//   `reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux i8042.dumbkbd swiotlb=noforce pci=off`,
//   of which we keep all but the two that would hide the console and modules.
// - Which kernel each VMM boots: QEMU q35 a bzImage/vmlinuz (or the ELF vmlinux), microvm the ELF
//   vmlinux (or a bzImage), kvmtool a bzImage/vmlinuz, Firecracker and Cloud Hypervisor only the ELF
//   vmlinux. Without one of those kinds a VMM's settings carry a placeholder and a note says so.
import ComposeImage
import Foundation

/// The VMM setups a manifest describes.
public enum LaunchTarget: String, Sendable, CaseIterable {
    case qemuQ35 = "qemu-q35"
    case qemuMicrovm = "qemu-microvm"
    case firecracker
    case cloudHypervisor = "cloud-hypervisor"
    case kvmtool

    /// The VMM's name in messages.
    var vmmName: String {
        switch self {
        case .qemuQ35: "QEMU q35"
        case .qemuMicrovm: "QEMU microvm"
        case .firecracker: "Firecracker"
        case .cloudHypervisor: "Cloud Hypervisor"
        case .kvmtool: "kvmtool"
        }
    }

    /// The kernel kinds the VMM boots, preferred first.
    var kernelKinds: [String] {
        switch self {
        case .qemuQ35: ["bzImage", "vmlinuz", "vmlinux"]
        case .qemuMicrovm: ["vmlinux", "bzImage", "vmlinuz"]
        case .kvmtool: ["bzImage", "vmlinuz"]
        case .firecracker, .cloudHypervisor: ["vmlinux"]
        }
    }

    /// What a settings line holds where no suitable kernel was recorded.
    var kernelPlaceholder: String { kernelKinds == ["vmlinux"] ? "VMLINUX" : "KERNEL" }
}

/// A VM for one target, and what the caller should know about how it was chosen.
public struct PlannedVM: Sendable {
    public var vm: VirtualMachine
    /// E.g. that the kernel path is a placeholder because the manifest records no ELF vmlinux.
    public var notes: [String]
}

/// Computes command lines and VMs from an image's layout, its kernels and the launch options.
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
    /// The kernel was given by the caller (`--kernel`), not found in the manifest: every VMM gets it as is.
    public var kernelChosenByCaller = false

    public init(image: ImageManifest.ImageInfo, imagePath: String, kernels: [ImageManifest.Artifact],
                options: LaunchOptions, agentPath: String?, initrd: String? = nil) {
        self.image = image
        self.imagePath = imagePath
        self.kernels = kernels
        self.options = options
        self.agentPath = agentPath
        self.initrd = image.format == "initramfs" ? nil : initrd
    }

    var isInitramfs: Bool { image.format == "initramfs" }

    /// Whether the target attaches the image as pmem (a DAX-ready disk image on q35, Firecracker, Cloud Hypervisor).
    func usesPmem(_ target: LaunchTarget) -> Bool {
        !isInitramfs && image.dax && !rootOnBlockDevice && [.qemuQ35, .cloudHypervisor, .firecracker].contains(target)
    }

    /// The buddy order of the free blocks a guest reports: 2^6 pages, 256 KiB (docs/density.md compares 5 to 10).
    public static let pageReportingOrder = 6

    /// The clock of QEMU's local APIC timer in kHz: 1 GHz under TCG and KVM alike. Our kernel takes it instead
    /// of calibrating the timer against the PIT for 100 ms of every boot (kernel-config/patches/0003); a kernel
    /// without the patch passes the unknown parameter on to init's environment, which ignores it.
    public static let qemuLapicTimerKHz = 1_000_000

    /// The kernel command line for one launch target.
    public func cmdline(for target: LaunchTarget) -> String {
        var args = ["console=ttyS0"]
        // Before everything else, so a `loglevel=` the caller appends still wins.
        if options.kernelLog != true { args.append("quiet") }
        if target == .firecracker {
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
        if target == .qemuQ35 || target == .qemuMicrovm { args.append("lapic_timer_khz=\(Self.qemuLapicTimerKHz)") }
        // With one CPU the kernel rewrites every lock prefix of its text into a no-op at boot, one text_poke
        // (two page table switches) each: 80 ms of a boot under TCG, for atomics a few cycles cheaper after.
        if options.vcpus == 1 { args.append("noreplace-smp") }
        if options.freePageReporting != false {
            // The guest reports free blocks of this order once its zone holds 32 of them above the low
            // watermark; the kernel's default here, MAX_PAGE_ORDER (4 MiB blocks), would want 128 MiB free
            // first, which a small guest never has, so nothing would ever be reported.
            args.append("page_reporting.page_reporting_order=\(Self.pageReportingOrder)")
        }
        if let agentPath { args.append("guest.agent=\(agentPath)") }
        args.append("guest.agent_port=\(options.agentPort)")
        args += options.guestOptions.map { $0.hasPrefix("guest.") ? $0 : "guest.\($0)" }
        args += options.extraCmdline
        return args.joined(separator: " ")
    }

    /// The kernel for a target: the first recorded kernel of a kind it boots, in its order of preference.
    func kernel(for target: LaunchTarget) -> (path: String, note: String?) {
        if kernelChosenByCaller, let given = kernels.first {
            guard target.kernelKinds.contains(given.kind) else {
                return (given.path, "\(target.vmmName) boots \(target.kernelKinds.joined(separator: " or ")), and \(given.path) looks like a \(given.kind); using it as given")
            }
            return (given.path, nil)
        }
        for kind in target.kernelKinds {
            if let match = kernels.first(where: { $0.kind == kind }) { return (match.path, nil) }
        }
        let recorded = kernels.isEmpty ? "no kernel" : "only " + kernels.map { "\($0.kind) \($0.path)" }.joined(separator: ", ")
        return (target.kernelPlaceholder,
                "\(target.vmmName) boots \(target.kernelKinds.joined(separator: " or ")); the manifest records \(recorded), so its kernel path is the placeholder \(target.kernelPlaceholder): pass --kernel PATH, or compose with --kernel-dir")
    }

    /// The hybrid vsock socket (the manifest's, or beside the image).
    var vsockPath: String { options.vsockPath.isEmpty ? imagePath + ".vsock" : options.vsockPath }

    /// The VM a target boots from this image.
    public func virtualMachine(for target: LaunchTarget) -> PlannedVM {
        let (kernelPath, note) = kernel(for: target)
        var vm = VirtualMachine(kernel: kernelPath, commandLine: cmdline(for: target),
                                memoryMiB: options.memoryMiB, vcpus: options.vcpus)
        vm.accelerator = options.accel
        vm.freePageReporting = options.freePageReporting ?? true
        vm.initrd = initrd
        if isInitramfs {
            vm.initrd = imagePath
        } else {
            vm.rootDisk = Disk(path: imagePath, size: image.size, attachment: usesPmem(target) ? .pmem : .block)
        }
        switch options.vsock {
        case "bridge": vm.vsock = Vsock(guestCID: options.guestCID, hybridSocket: vsockPath, qemuTransport: .bridge)
        case "vhost": vm.vsock = Vsock(guestCID: options.guestCID, hybridSocket: vsockPath, qemuTransport: .kernel)
        default: vm.vsock = nil
        }
        return PlannedVM(vm: vm, notes: note.map { [$0] } ?? [])
    }

    /// QEMU arguments (argv, starting with the program) for `q35` or `microvm`.
    public func qemu(machine: QemuMachineType) -> [String] {
        QemuCommand.arguments(for: virtualMachine(for: machine.target).vm, machine: machine)
    }

    /// guest-vsock-bridge's argv for the QEMU bridge setup.
    public func vsockBridge() -> [String] {
        VsockBridgeCommand.arguments(for: Vsock(guestCID: options.guestCID, hybridSocket: vsockPath))
    }

    /// Firecracker's config file.
    public func firecracker() throws(LaunchError) -> FirecrackerConfig {
        try FirecrackerConfig(virtualMachine(for: .firecracker).vm)
    }

    /// Cloud Hypervisor's argv.
    public func cloudHypervisor() throws(LaunchError) -> [String] {
        try CloudHypervisorCommand.arguments(for: virtualMachine(for: .cloudHypervisor).vm)
    }

    /// kvmtool's argv (no virtio-pmem there: the rootfs is a virtio-blk disk; vsock through the host's vhost-vsock).
    public func kvmtool() throws(LaunchError) -> [String] {
        try KvmtoolCommand.arguments(for: virtualMachine(for: .kvmtool).vm)
    }

    /// The notes of every target (placeholders and other choices a reader should know about).
    public func notes() -> [String] {
        LaunchTarget.allCases.flatMap { virtualMachine(for: $0).notes }
    }
}

/// guest-vsock-bridge's command line.
public enum VsockBridgeCommand {
    /// The argv, program first: listen for QEMU on the vhost-user socket, serve hybrid vsock on the other.
    public static func arguments(for vsock: Vsock, binary: String = "guest-vsock-bridge") -> [String] {
        [binary, "--socket", vsock.vhostUserSocket, "--uds", vsock.hybridSocket, "--guest-cid", String(vsock.guestCID)]
    }
}
