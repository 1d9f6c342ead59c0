// QEMU 7.2's command line for a VirtualMachine, on q35 or microvm (QEMU's docs/system, checked under TCG):
// - q35 takes a pmem root as `memory-backend-file,share=on` + `virtio-pmem-pci`, which needs a
//   device-memory window (`-m …,slots=,maxmem=`). microvm's mmio virtio-pmem gets no window, so a caller
//   gives microvm a block root (`virtio-blk-device`).
// - microvm runs with `acpi=off`: its ACPI tables route the timer through an IO-APIC that, under TCG on a
//   loaded host, never ticks once PIT calibration fails (Debian's 6.1 and our 6.12 hang after "Marking
//   TSC unstable"); in virtual-wire mode they boot. Such a guest cannot power off, so guest-init restarts
//   it instead, which -no-reboot turns into QEMU exiting (Firecracker's contract).
// - vsock through guest-vsock-bridge is `vhost-user-vsock-pci` / `-device`, which maps guest RAM: the
//   machine's memory is a shared memfd backend then. The kernel's vhost-vsock needs no shared memory.
// - 9p shares are `-fsdev local,…,security_model=passthrough,multidevs=remap` plus `virtio-9p-pci` (or
//   `virtio-9p-device` on microvm); NICs `-netdev tap,…,script=no,downscript=no` plus `virtio-net-pci`
//   (`virtio-net-device`). A NIC with a descriptor is `-netdev tap,id=…,fd=N`: QEMU inherits the tap as fd
//   N (`inheritedDescriptors`), so the tap may live in a namespace QEMU is not in.
// - Free page reporting is `virtio-balloon-pci,free-page-reporting=on` (`virtio-balloon-device` on microvm):
//   QEMU discards each reported range from the guest-RAM backend (a hole punched in the memfd), so the
//   host's resident memory follows what the guest holds; the balloon itself is never inflated.

import GuestSys

/// QEMU's machine type for a micro-VM.
public enum QemuMachineType: String, Sendable, CaseIterable {
    /// PCI, ACPI; the root on virtio-pmem with DAX (bzImage).
    case q35
    /// MMIO only, no ACPI; the root on virtio-blk (vmlinux through the PVH entry).
    case microvm

    /// The launch target name used in manifests ("qemu-q35", "qemu-microvm").
    public var target: LaunchTarget { self == .q35 ? .qemuQ35 : .qemuMicrovm }
}

/// Builds QEMU's argv for a VirtualMachine.
public enum QemuCommand {
    /// The argv, program first.
    public static func arguments(for vm: VirtualMachine, machine: QemuMachineType,
                                 binary: String = "qemu-system-x86_64") -> [String] {
        let q35 = machine == .q35
        let memory = "\(vm.memoryMiB)M"
        let sharedMemory = vm.vsock?.qemuTransport == .bridge
        var machineArg = q35 ? "q35" : "microvm,acpi=off"
        if sharedMemory { machineArg += ",memory-backend=mem" }
        var argv = [binary, "-M", machineArg, "-accel", vm.accelerator, "-cpu", "max", "-smp", String(vm.vcpus)]
        argv += ["-m", q35 ? "\(memory),slots=2,maxmem=\(vm.memoryMiB + 1024)M" : memory]
        argv += ["-nodefaults", "-no-user-config"]
        switch vm.console {
        case .standardOutput: argv += ["-nographic", "-serial", "stdio"]
        case .file(let path): argv += ["-display", "none", "-serial", "file:\(path)"]
        }
        argv += ["-no-reboot", "-kernel", vm.kernel]
        if let initrd = vm.initrd { argv += ["-initrd", initrd] }
        if let disk = vm.rootDisk {
            let readOnly = disk.readOnly ? ",readonly=on" : ""
            switch disk.attachment {
            case .pmem:
                argv += ["-object", "memory-backend-file,id=rootfs,share=on\(readOnly),mem-path=\(disk.path),size=\(disk.size)",
                         "-device", q35 ? "virtio-pmem-pci,memdev=rootfs,id=pmem0" : "virtio-pmem,memdev=rootfs,id=pmem0"]
            case .block:
                argv += ["-drive", "id=rootfs,file=\(disk.path),format=raw,if=none\(readOnly)",
                         "-device", q35 ? "virtio-blk-pci,drive=rootfs" : "virtio-blk-device,drive=rootfs"]
            }
        }
        argv += ["-append", vm.commandLine]
        if let vsock = vm.vsock {
            switch vsock.qemuTransport {
            case .bridge:
                argv += ["-object", "memory-backend-memfd,id=mem,size=\(memory),share=on",
                         "-chardev", "socket,id=vsock0,path=\(vsock.vhostUserSocket)",
                         "-device", q35 ? "vhost-user-vsock-pci,chardev=vsock0" : "vhost-user-vsock-device,chardev=vsock0"]
            case .kernel:
                argv += ["-device", q35 ? "vhost-vsock-pci,guest-cid=\(vsock.guestCID)" : "vhost-vsock-device,guest-cid=\(vsock.guestCID)"]
            }
        }
        if vm.freePageReporting {
            argv += ["-device", "\(q35 ? "virtio-balloon-pci" : "virtio-balloon-device"),free-page-reporting=on"]
        }
        for (index, share) in vm.shares.enumerated() {
            argv += ["-fsdev", "local,id=fs\(index),path=\(share.hostPath),security_model=passthrough,multidevs=remap"
                        + (share.readOnly ? ",readonly=on" : ""),
                     "-device", "\(q35 ? "virtio-9p-pci" : "virtio-9p-device"),fsdev=fs\(index),mount_tag=\(share.tag)"]
        }
        for (index, nic) in vm.interfaces.enumerated() {
            let backend = nic.descriptor == nil ? "ifname=\(nic.tap),script=no,downscript=no" : "fd=\(tapDescriptor(index))"
            argv += ["-netdev", "tap,id=net\(index),\(backend)",
                     "-device", "\(q35 ? "virtio-net-pci" : "virtio-net-device"),netdev=net\(index),mac=\(nic.mac)"]
        }
        return argv
    }

    /// The descriptor number QEMU gets NIC `index`'s tap as (past its standard streams and any low ones).
    public static func tapDescriptor(_ index: Int) -> Int32 { 10 + Int32(index) }

    /// The descriptors QEMU must inherit for `vm`: its number → the caller's descriptor.
    public static func inheritedDescriptors(for vm: VirtualMachine) -> [Int32: FileDescriptor] {
        var descriptors: [Int32: FileDescriptor] = [:]
        for (index, nic) in vm.interfaces.enumerated() {
            if let descriptor = nic.descriptor { descriptors[tapDescriptor(index)] = descriptor }
        }
        return descriptors
    }
}
