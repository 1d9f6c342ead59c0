# guest-vsock-bridge: the test guest (Debian's cloud kernel + a busybox initramfs running vsock-peer)
# and the bridge benchmark.
BRIDGE_OUT := $(OUT)/bridge
# make/debian-kernel.mk is included after this file, so its variable is not set yet here.
BRIDGE_KERNEL_DIR := $(OUT)/debian-kernel
BRIDGE_FIXTURE := Tests/VsockBridgeTests/Fixtures/vsock-peer.c
# Modules the test guest loads, dependencies first (modprobe --show-depends order).
BRIDGE_GUEST_MODULES := virtio_pci virtio_mmio vmw_vsock_virtio_transport virtio_console

DEBIAN_PACKAGES += qemu-system-x86 busybox-static gcc libc6-dev gzip
TEST_PREREQS += bridge-guest
TEST_ENV += GUESTKIT_BRIDGE_GUEST=$(BRIDGE_OUT)
BENCHES += bench-bridge

.PHONY: bridge-guest bench-bridge
bridge-guest: $(BRIDGE_OUT)/initramfs.cpio.gz ## Build the bridge's test guest: out/bridge/{vsock-peer,initramfs.cpio.gz}

$(BRIDGE_OUT)/vsock-peer: $(BRIDGE_FIXTURE)
	@mkdir -p $(BRIDGE_OUT)
	gcc -static -O2 -Wall -Werror -o $@.tmp $< && mv $@.tmp $@

$(BRIDGE_OUT)/initramfs.cpio.gz: $(BRIDGE_OUT)/vsock-peer $(BRIDGE_KERNEL_DIR)/release make/bridge.mk
	@rm -rf $(BRIDGE_OUT)/root && mkdir -p $(BRIDGE_OUT)/root/bin $(BRIDGE_OUT)/root/modules
	@rel=$$(cat $(BRIDGE_KERNEL_DIR)/release); \
	cp /bin/busybox $(BRIDGE_OUT)/root/bin/busybox; \
	cp $(BRIDGE_OUT)/vsock-peer $(BRIDGE_OUT)/root/bin/vsock-peer; \
	modprobe -d $(BRIDGE_KERNEL_DIR) -S $$rel --show-depends -a $(BRIDGE_GUEST_MODULES) \
	  | awk '$$1 == "insmod" && !seen[$$2]++ {print $$2}' > $(BRIDGE_OUT)/modules.list; \
	test -s $(BRIDGE_OUT)/modules.list || { echo "bridge-guest: no modules found for $(BRIDGE_GUEST_MODULES)"; exit 1; }; \
	i=0; : > $(BRIDGE_OUT)/root/modules/order; \
	while read -r ko; do i=$$((i+1)); name=$$(printf '%02d-%s' $$i $$(basename $$ko)); \
	  cp "$$ko" $(BRIDGE_OUT)/root/modules/$$name; echo "$$name" >> $(BRIDGE_OUT)/root/modules/order; \
	done < $(BRIDGE_OUT)/modules.list
	@printf '%s\n' '#!/bin/busybox sh' \
	  '/bin/busybox mkdir -p /proc /sys /dev' \
	  '/bin/busybox mount -t proc proc /proc' \
	  '/bin/busybox mount -t sysfs sysfs /sys' \
	  '/bin/busybox mount -t devtmpfs devtmpfs /dev' \
	  'for m in $$(/bin/busybox cat /modules/order); do /bin/busybox insmod /modules/$$m || echo "init: insmod $$m failed"; done' \
	  'echo "init: modules loaded"' \
	  'exec /bin/vsock-peer' > $(BRIDGE_OUT)/root/init
	@chmod 755 $(BRIDGE_OUT)/root/init
	@cd $(BRIDGE_OUT)/root && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1 > $@.tmp
	@mv $@.tmp $@ && rm -rf $(BRIDGE_OUT)/root
	@echo "bridge-guest: $@ ($$(wc -l < $(BRIDGE_OUT)/modules.list) modules)"

bench-bridge: deps bridge-guest ## Bridge throughput and connect latency under TCG, beside virtio-serial
	$(SWIFT) build -c release --static-swift-stdlib --product guest-vsock-bridge
	$(SWIFT) build -c release --static-swift-stdlib --product guestkit-bench
	$(RELEASE_DIR)/guestkit-bench bridge --kernel $(BRIDGE_KERNEL_DIR)/vmlinuz \
	  --initramfs $(BRIDGE_OUT)/initramfs.cpio.gz --bridge $(RELEASE_DIR)/guest-vsock-bridge
# Suites that boot QEMU or build a kernel: each runs alone (make/run-suites.sh).
SERIAL_SUITES += BridgeEndToEndTests
