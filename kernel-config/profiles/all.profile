# One kernel that boots on every VMM: the union of the VMM profiles, in the order they list.
include firecracker
include cloud-hypervisor
include qemu-microvm
include qemu
include kvmtool
