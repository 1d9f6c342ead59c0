# Container networking: GuestNetwork (rtnetlink through libmnl, the agent's network RPCs) and
# HostNetwork (a container's network namespace carried into its VM: taps, tc redirects). The tests make
# scratch network namespaces (`gknet-…`, documentation addresses only): iproute2's ip and tc, util-linux's
# nsenter, busybox's ping and nc on both sides.
DEBIAN_PACKAGES += libmnl-dev iproute2 util-linux busybox-static
BENCHES += bench-network

.PHONY: bench-network
bench-network: deps guest-image ## TCP throughput and connect round trip, peer namespace → a container's namespace carried into a TCG guest vs the namespace itself (runc's container)
	$(SWIFT) build -c release --static-swift-stdlib --product guestkit-bench
	$(RELEASE_DIR)/guestkit-bench network --guest-dir $(GUEST_DIR) --bridge $(RELEASE_DIR)/guest-vsock-bridge
