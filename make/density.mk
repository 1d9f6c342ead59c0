# Density: what N guests of the default image cost the host (DAX root vs virtio-blk), free page reporting,
# and the exec round trip inside a guest. fincore (util-linux) reads the image's page cache; dd drops it.
DEBIAN_PACKAGES += util-linux coreutils qemu-system-x86
BENCHES += bench-density
DENSITY_FLAGS ?=

.PHONY: bench-density
bench-density: deps guest-image ## Host memory per guest for 8 idle TCG guests, DAX on virtio-pmem vs virtio-blk; free page reporting; exec round trip in the VM
	$(SWIFT) build -c release --static-swift-stdlib --product guestkit-bench
	$(RELEASE_DIR)/guestkit-bench density --guest-dir $(GUEST_DIR) $(DENSITY_FLAGS)
