# Container networking (issue 18): GuestNetwork (rtnetlink through libmnl, the agent's network RPCs) and
# HostNetwork (a container's network namespace carried into its VM: taps, tc redirects). The tests make
# scratch network namespaces (`gknet-…`, documentation addresses only): iproute2's ip and tc, util-linux's
# nsenter, busybox's ping and nc on both sides.
DEBIAN_PACKAGES += libmnl-dev iproute2 util-linux busybox-static
