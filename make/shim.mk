# containerd-shim-guestkit-v1 (docs/shim.md): containerd's API messages it speaks (Sources/ContainerdProto,
# generated code committed), the tests that drive it with Debian's containerd and ctr, and `make install`.
SHIM_PROTO_DIR := Sources/ContainerdProto/protos
SHIM_PROTOS := cgroups/v2/metrics.proto events/task.proto runtimeoptions/v1/api.proto \
	services/ttrpc/events/v1/events.proto task/v2/shim.proto types/mount.proto types/task/task.proto
PREFIX ?= /usr/local
GUESTKIT_SHARE := $(PREFIX)/share/guestkit
SHIM_CONFIG := /etc/guestkit/shim.toml
INSTALL_PRODUCTS := containerd-shim-guestkit-v1 guestctl compose-guest guest-vsock-bridge

# containerd and runc (the reference runtime in the same tests); script(1) gives ctr -t a terminal.
DEBIAN_PACKAGES += containerd runc bsdutils tar containernetworking-plugins
HOST_PRODUCTS += containerd-shim-guestkit-v1

.PHONY: shim-proto check-shim-protos install
# containerd's protos use well-known types, so they go through protoc-gen-swift (built from the
# swift-protobuf checkout; it takes minutes) and run on SwiftProtobuf in the shim.
PROTOC_GEN_SWIFT := $(OUT)/bin/protoc-gen-swift

$(PROTOC_GEN_SWIFT):
	$(SWIFT) package resolve
	$(SWIFT) build -c release --product protoc-gen-swift \
	  --package-path .build/checkouts/swift-protobuf --scratch-path $(OUT)/protoc-gen-swift-build
	install -D -m 755 $(OUT)/protoc-gen-swift-build/release/protoc-gen-swift $@
proto: shim-proto
check-protos: check-shim-protos

shim-proto: $(PROTOC_GEN_SWIFT) ## Regenerate Sources/ContainerdProto/*.pb.swift from containerd's API protos
	cd $(SHIM_PROTO_DIR) && protoc -I . -I /usr/include --plugin=protoc-gen-swift=$(PROTOC_GEN_SWIFT) \
	  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores --swift_out=.. $(SHIM_PROTOS)

check-shim-protos: $(PROTOC_GEN_SWIFT)
	@rm -rf $(OUT)/check-shim-protos && mkdir -p $(OUT)/check-shim-protos
	@cd $(SHIM_PROTO_DIR) && protoc -I . -I /usr/include --plugin=protoc-gen-swift=$(PROTOC_GEN_SWIFT) \
	  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores --swift_out=$(OUT)/check-shim-protos $(SHIM_PROTOS)
	@for f in $(OUT)/check-shim-protos/*.pb.swift; do \
	  diff -u Sources/ContainerdProto/$$(basename $$f) $$f || { echo "check-protos: $$(basename $$f) is stale; run make proto"; exit 1; }; \
	done; echo "check-protos: containerd messages are current"

# The default guest is composed again with the installed kernels, so its manifest names them.
install: guest-image ## Install the shim, guestctl, compose-guest, the bridge, the kernel, the default guest and /etc/guestkit/shim.toml (PREFIX=/usr/local)
	install -d $(PREFIX)/bin $(GUESTKIT_SHARE) $(dir $(SHIM_CONFIG))
	for p in $(INSTALL_PRODUCTS); do install -m 755 "$(RELEASE_DIR)/$$p" $(PREFIX)/bin/$$p; done
	install -m 644 $(OUT)/kernel/bzImage $(OUT)/kernel/vmlinux $(GUESTKIT_SHARE)/
	$(COMPOSE) image --init $(RELEASE_DIR)/guest-init-agent --agent $(RELEASE_DIR)/guest-init-agent --add $(GUEST_TOOLS)/bin:/bin \
	  --strip --format ext4 --dax --kernel $(GUESTKIT_SHARE)/bzImage --kernel $(GUESTKIT_SHARE)/vmlinux \
	  -o $(GUESTKIT_SHARE)/rootfs.img
	@if [ -e $(SHIM_CONFIG) ]; then echo "install: keeping the existing $(SHIM_CONFIG)"; else \
	  printf '%s\n' '# containerd-shim-guestkit-v1 (docs/shim.md): how each task'"'"'s VM is booted.' '[guest]' \
	    'manifest = "$(GUESTKIT_SHARE)/rootfs.img.manifest.json"' 'kernel = "$(GUESTKIT_SHARE)/bzImage"' \
	    'machine = "q35"' 'memory_mib = 256' 'vcpus = 1' 'accelerator = "auto"' 'boot_timeout_seconds = 60' \
	    '' '[shim]' 'log_level = "info"' 'bridge = "$(PREFIX)/bin/guest-vsock-bridge"' > $(SHIM_CONFIG); \
	  echo "install: wrote $(SHIM_CONFIG)"; fi
	@echo "install: done; run containers with: ctr run --rm --runtime io.containerd.guestkit.v1 IMAGE ID COMMAND"
SERIAL_SUITES += ContainerdShimTests ShimNetworkTests
BENCHES += bench-shim

.PHONY: bench-shim
bench-shim: deps guest-image ## ctr run --rm IMAGE ID true through our shim (TCG) beside runc, our time split by phase
	$(SWIFT) build -c release --static-swift-stdlib --product guestkit-bench
	$(SWIFT) build -c release --product containerd-shim-guestkit-v1
	$(RELEASE_DIR)/guestkit-bench shim --manifest $(GUEST_DIR)/rootfs.img.manifest.json \
	  --shim $(RELEASE_DIR)/containerd-shim-guestkit-v1 --bridge $(RELEASE_DIR)/guest-vsock-bridge
