// Cloud Hypervisor's command line (`cloud-hypervisor --help`): it boots the ELF vmlinux through PVH,
// has hybrid vsock built in (`--vsock cid=,socket=`), virtio-pmem (`--pmem file=`), taps (`--net
// tap=,mac=`), and shares directories only through virtio-fs with an external virtiofsd, not 9p.

/// Builds Cloud Hypervisor's argv for a VirtualMachine.
public enum CloudHypervisorCommand {
    /// The argv, program first; throws for what Cloud Hypervisor cannot attach.
    public static func arguments(for vm: VirtualMachine, binary: String = "cloud-hypervisor") throws(LaunchError) -> [String] {
        guard vm.shares.isEmpty else {
            throw .unsupported(vmm: "cloud-hypervisor", "no virtio-9p device for the shares "
                + vm.shares.map(\.tag).joined(separator: ", ") + " (it shares directories only through virtio-fs and virtiofsd)")
        }
        var argv = [binary, "--kernel", vm.kernel, "--cmdline", vm.commandLine,
                    "--cpus", "boot=\(vm.vcpus)", "--memory", "size=\(vm.memoryMiB)M"]
        switch vm.console {
        case .standardOutput: argv += ["--serial", "tty"]
        case .file(let path): argv += ["--serial", "file=\(path)"]
        }
        argv += ["--console", "off"]
        if let initrd = vm.initrd { argv += ["--initramfs", initrd] }
        if let disk = vm.rootDisk {
            switch disk.attachment {
            case .pmem: argv += ["--pmem", "file=\(disk.path)" + (disk.readOnly ? ",discard_writes=on" : "")]
            case .block: argv += ["--disk", "path=\(disk.path)" + (disk.readOnly ? ",readonly=on" : "")]
            }
        }
        for nic in vm.interfaces { argv += ["--net", "tap=\(nic.tap),mac=\(nic.mac)"] }
        if let vsock = vm.vsock { argv += ["--vsock", "cid=\(vsock.guestCID),socket=\(vsock.hybridSocket)"] }
        return argv
    }
}
