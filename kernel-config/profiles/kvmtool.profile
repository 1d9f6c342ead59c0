# kvmtool (lkvm): virtio-pci on x86 (legacy or modern), bzImage, MP tables instead of ACPI, the
# 8250 console.
base
arch
virtio
virtio-pci
vsock
dax
filesystems
containers
network
