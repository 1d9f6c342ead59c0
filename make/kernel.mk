# compose-guest kernel: the trimmed virtio-only guest kernel. `make kernel` builds the `all` profile
# (boots on every VMM) from Debian's linux-source-6.12 into out/kernel/{bzImage,vmlinux,config}; the
# unpacked tree, kconfig tools, object directories and built kernels are cached in out/kernel-cache,
# so a second `make kernel` returns at once.
KERNEL_DIR := $(OUT)/kernel
KERNEL_CACHE := $(OUT)/kernel-cache
KERNEL_VMM ?= all
KERNEL_BENCH_FLAGS ?=

# The source tree, the kernel build's tools (patch for kernel-config/patches), and what the boot tests
# run (QEMU, a busybox initramfs, an ext4 image).
DEBIAN_PACKAGES += linux-source-6.12 xz-utils build-essential bc flex bison libelf-dev libssl-dev zstd patch \
	binutils qemu-system-x86 busybox-static e2fsprogs cpio
TEST_PREREQS += kernel
TEST_ENV += GUESTKIT_KERNEL_DIR=$(KERNEL_DIR) GUESTKIT_KERNEL_CACHE=$(KERNEL_CACHE)
BENCHES += kernel-bench

.PHONY: kernel kernel-bench
kernel: release ## Build the guest kernel (x86_64, all VMMs) into out/kernel: bzImage, vmlinux, config (cached)
	$(RELEASE_DIR)/compose-guest kernel --debian-source --cache-dir $(KERNEL_CACHE) --vmm $(KERNEL_VMM) -o $(KERNEL_DIR)

kernel-bench: deps debian-kernel ## Kernel figures per VMM profile (=y, bzImage, vmlinux, build time) beside Debian's cloud kernel
	$(SWIFT) build --product guestkit-bench
	$(DEBUG_DIR)/guestkit-bench kernel --cache-dir $(KERNEL_CACHE) --debian-kernel $(DEBIAN_KERNEL_DIR) $(KERNEL_BENCH_FLAGS)
# Suites that boot QEMU or build a kernel: each runs alone (make/run-suites.sh).
SERIAL_SUITES += KernelBootTests KernelInterruptTests
