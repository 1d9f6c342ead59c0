# QEMU q35: virtio-pci behind ACPI, bzImage through SeaBIOS, virtio-pmem or an NVDIMM (NFIT) for
# the DAX rootfs, vhost-user-vsock-pci.
base
arch
virtio
virtio-pci
acpi
nvdimm
vmgenid
vsock
dax
filesystems
containers
network
