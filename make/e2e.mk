# End to end: the guest a user boots, the tests that boot it, and the boot benchmark.
# `make image` composes out/guest/rootfs.img (ext4, DAX-ready; guest-init, guest-agent and busybox's tools)
# with our kernel, boots it under QEMU with guest-vsock-bridge, runs `uname -a` in it and powers it off.
# out/guest/debian-initramfs.cpio.gz is the stock-kernel path: guest-init plus Debian's cloud-kernel modules
# for virtio-pci, virtio-pmem and vsock, booted before the same rootfs.
GUEST_DIR := $(OUT)/guest
GUEST_IMAGE := $(GUEST_DIR)/rootfs.img
GUEST_TOOLS := $(GUEST_DIR)/tools
GUEST_DEBIAN_INITRAMFS := $(GUEST_DIR)/debian-initramfs.cpio.gz
# What the stock kernel needs before it can reach a pmem root and the host: the PCI transport, pmem with DAX,
# the vsock transport (dependencies follow from modules.dep).
GUEST_DEBIAN_MODULES := virtio_pci,virtio_pmem,nd_pmem,vmw_vsock_virtio_transport
COMPOSE := $(RELEASE_DIR)/compose-guest

DEBIAN_PACKAGES += qemu-system-x86 busybox-static e2fsprogs cpio gzip
TEST_PREREQS += guest-image
TEST_ENV += GUESTKIT_GUEST_DIR=$(GUEST_DIR)
BENCHES += bench-boot

.PHONY: image run guest-image bench-boot
image: deps guest-image ## Build (release), build the kernel, compose out/guest/rootfs.img, boot it in QEMU, exec `uname -a`, power off
	$(COMPOSE) boot --manifest $(GUEST_IMAGE).manifest.json -- uname -a
	@echo "image: artifacts in $(GUEST_DIR) (rootfs.img, its manifest, debian-initramfs.cpio.gz) and $(OUT)/kernel; boot again with 'make run'"

run: ## Boot out/guest/rootfs.img again and leave it running for guestctl (Ctrl-C powers it off)
	$(COMPOSE) boot --manifest $(GUEST_IMAGE).manifest.json --keep-running

guest-image: release kernel debian-kernel ## Compose out/guest/rootfs.img (+ manifest) and the stock-kernel initramfs from the release binaries
	@rm -rf $(GUEST_TOOLS) && mkdir -p $(GUEST_TOOLS)/bin
	@cp /bin/busybox $(GUEST_TOOLS)/bin/busybox
	@for applet in $$(/bin/busybox --list); do [ -e $(GUEST_TOOLS)/bin/$$applet ] || ln -s busybox $(GUEST_TOOLS)/bin/$$applet; done
	$(COMPOSE) image --init $(RELEASE_DIR)/guest-init-agent --agent $(RELEASE_DIR)/guest-init-agent --add $(GUEST_TOOLS)/bin:/bin \
	  --strip --format ext4 --dax --kernel-dir $(OUT)/kernel -o $(GUEST_IMAGE)
	$(COMPOSE) image --init $(RELEASE_DIR)/guest-init --strip --format initramfs \
	  --modules-from $(DEBIAN_KERNEL_DIR) --modules $(GUEST_DEBIAN_MODULES) -o $(GUEST_DEBIAN_INITRAMFS)
	@echo "guest-image: $(GUEST_IMAGE) and $(GUEST_DEBIAN_INITRAMFS)"

bench-boot: deps guest-image ## Boot figures: QEMU start → first exec and kernel → agent ready (ours vs Debian's kernel), DAX vs page-cache memory, init + agent memory
	$(SWIFT) build -c release --static-swift-stdlib --product guestkit-bench
	$(RELEASE_DIR)/guestkit-bench boot --guest-dir $(GUEST_DIR) --debian-kernel $(DEBIAN_KERNEL_DIR)/vmlinuz
# Suites that boot QEMU or build a kernel: each runs alone (make/run-suites.sh).
SERIAL_SUITES += OwnKernelTests StockKernelTests ProcessDeathTests
