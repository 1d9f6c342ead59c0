// kvmtool's `lkvm run` (Documentation/kvmtool.1, io-testing.txt and builtin-run.c's options): `-k`
// kernel (a bzImage), `-m` MiB, `-c` vCPUs, `--console serial`, `-p` command line, `-i` initrd, `-d`
// image[,ro] (virtio-blk; kvmtool has no virtio-pmem), `--vsock CID` (the host kernel's vhost-vsock:
// the host reaches the guest over AF_VSOCK, there is no hybrid socket), `--9p DIR,TAG`, and
// `-n mode=tap,tapif=TAP,guest_mac=MAC` per NIC.

/// Builds kvmtool's argv for a VirtualMachine.
public enum KvmtoolCommand {
    /// The argv, program first; throws for what kvmtool cannot attach.
    public static func arguments(for vm: VirtualMachine, name: String = "guestkit", binary: String = "lkvm") throws(LaunchError) -> [String] {
        var argv = [binary, "run", "--name", name, "-k", vm.kernel, "-m", String(vm.memoryMiB), "-c", String(vm.vcpus),
                    "--console", "serial", "-p", vm.commandLine]
        if let initrd = vm.initrd { argv += ["-i", initrd] }
        if let disk = vm.rootDisk {
            guard disk.attachment == .block else {
                throw .unsupported(vmm: "kvmtool", "no virtio-pmem device for \(disk.path); attach the root as a block device")
            }
            argv += ["-d", disk.path + (disk.readOnly ? ",ro" : "")]
        }
        if let vsock = vm.vsock { argv += ["--vsock", String(vsock.guestCID)] }
        for share in vm.shares {
            guard !share.readOnly else {
                throw .unsupported(vmm: "kvmtool", "its 9p device has no read-only mode (share \(share.tag))")
            }
            guard !share.hostPath.contains(","), !share.tag.contains(",") else {
                throw .unsupported(vmm: "kvmtool", "--9p DIR,TAG cannot carry a comma (\(share.hostPath), \(share.tag))")
            }
            argv += ["--9p", "\(share.hostPath),\(share.tag)"]
        }
        for nic in vm.interfaces { argv += ["-n", "mode=tap,tapif=\(nic.tap),guest_mac=\(nic.mac)"] }
        return argv
    }
}
