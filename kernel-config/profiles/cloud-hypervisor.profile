# Cloud Hypervisor: virtio-pci (modern, MSI-X) behind ACPI, vmlinux booted through PVH, virtio-pmem
# for the DAX rootfs, virtio-fs, hybrid vsock.
base
arch
virtio
virtio-pci
acpi
vsock
dax
filesystems
containers
network
