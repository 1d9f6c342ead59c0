# Debian's stock cloud kernel (linux-image-cloud-amd64), unpacked without installing it: the reference
# for benchmarks and the "stock kernel with modules" boots. Gives $(DEBIAN_KERNEL_DIR)/vmlinuz, /config,
# /lib/modules/<release>/ and /release (the uname -r string).
DEBIAN_KERNEL_DIR := $(OUT)/debian-kernel
DEBIAN_PACKAGES += apt-utils
TEST_ENV += GUESTKIT_DEBIAN_KERNEL=$(DEBIAN_KERNEL_DIR)

.PHONY: debian-kernel
debian-kernel: $(DEBIAN_KERNEL_DIR)/release ## Unpack Debian's cloud kernel and modules into out/debian-kernel

$(DEBIAN_KERNEL_DIR)/release:
	@rm -rf $(DEBIAN_KERNEL_DIR).tmp && mkdir -p $(DEBIAN_KERNEL_DIR).tmp
	@pkg=$$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $$2; exit}'); \
	if [ -z "$$pkg" ]; then apt-get update -qq; pkg=$$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $$2; exit}'); fi; \
	echo "debian-kernel: downloading $$pkg"; \
	cd $(DEBIAN_KERNEL_DIR).tmp && apt-get download -qq "$$pkg" && dpkg-deb -x ./*.deb root && \
	rel=$$(ls root/lib/modules) && \
	cp root/boot/vmlinuz-$$rel vmlinuz && cp root/boot/config-$$rel config && \
	mkdir -p lib/modules && mv root/lib/modules/$$rel lib/modules/ && \
	depmod -b $(DEBIAN_KERNEL_DIR).tmp $$rel && echo "$$rel" > release && rm -rf root ./*.deb
	@rm -rf $(DEBIAN_KERNEL_DIR) && mv $(DEBIAN_KERNEL_DIR).tmp $(DEBIAN_KERNEL_DIR)
	@echo "debian-kernel: $$(cat $(DEBIAN_KERNEL_DIR)/release) in $(DEBIAN_KERNEL_DIR)"
