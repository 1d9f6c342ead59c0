# Firecracker: virtio-mmio devices (announced on the command line, or in ACPI since 1.8), virtio-pci
# with --enable-pci, vmlinux booted through PVH (or the ELF entry), an 8250 console, vsock through
# hybrid Unix sockets, VM generation ID for snapshot restore. No virtio-pmem: the rootfs is a
# virtio-blk drive there.
base
arch
virtio
virtio-mmio
virtio-pci
acpi
vmgenid
vsock
dax
filesystems
containers
network
