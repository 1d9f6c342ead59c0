# QEMU microvm: virtio-mmio devices QEMU adds to the command line (auto-kernel-cmdline) or to its
# ACPI tables, vmlinux through PVH (qboot), the ISA serial port. Its virtio-pmem gets no
# device-memory window, so the rootfs is usually a virtio-blk-device.
base
arch
virtio
virtio-mmio
acpi
vmgenid
vsock
dax
filesystems
containers
network
