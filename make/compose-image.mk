# compose-guest image: rootfs images (ext4, erofs, initramfs), DAX layout, manifests and launch settings.
# The tests read images back with the real tools, build small ELFs with gcc, boot Debian's cloud kernel in
# QEMU with the printed launch lines, and compose as `nobody` (setpriv) to prove no root is needed.
DEBIAN_PACKAGES += e2fsprogs erofs-utils cpio gzip zstd kmod tar binutils gcc util-linux busybox-static qemu-system-x86
TEST_PREREQS += debian-kernel
BENCHES += bench-image

.PHONY: bench-image
bench-image: release ## Image size and compose time per format for the default guest (guest-init-agent + closure + skeleton), where the bytes go; the same with two binaries
	$(SWIFT) build -c release --static-swift-stdlib --product guestkit-bench
	$(RELEASE_DIR)/guestkit-bench image --init $(RELEASE_DIR)/guest-init-agent --agent $(RELEASE_DIR)/guest-init-agent
	@echo "bench-image: before the multi-call binary (guest-init + guest-agent):"
	$(RELEASE_DIR)/guestkit-bench image --init $(RELEASE_DIR)/guest-init --agent $(RELEASE_DIR)/guest-agent --runs 1
# Suites that boot QEMU or build a kernel: each runs alone (make/run-suites.sh).
SERIAL_SUITES += LaunchTests
