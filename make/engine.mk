# The container engine (issue 14): GuestContainer, the agent's container RPCs, and their tests. Debian's
# runc is the oracle the differential suites compare against, containerd's ctr prints the default spec,
# libseccomp builds the filters, busybox-static and gcc -static make the bundles' rootfs and probe.
DEBIAN_PACKAGES += runc containerd libseccomp-dev busybox-static gcc
# The in-VM container suite composes its own image from the release guest-init and guest-agent.
TEST_ENV += GUESTKIT_RELEASE_DIR=$(RELEASE_DIR)
SERIAL_SUITES += ContainerVMTests
BENCHES += bench-containers

.PHONY: bench-containers
bench-containers: deps ## Container figures: create+start+wait of /bin/true beside runc run, agent idle memory with the engine
	$(SWIFT) build -c release --static-swift-stdlib --product guest-agent
	$(SWIFT) build -c release --static-swift-stdlib --product guestkit-bench
	"$(RELEASE_DIR)/guestkit-bench" containers --agent "$(RELEASE_DIR)/guest-agent" --scratch $(OUT)/container-bench
