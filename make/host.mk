# Host-side process and launch tests: GuestLaunchTests start QEMU paused with a tap NIC in a scratch network
# namespace (ip netns, ip tuntap); the process-death and interrupt tests read /proc and use truncate.
DEBIAN_PACKAGES += iproute2 coreutils qemu-system-x86
# Suites that boot QEMU or build a kernel: each runs alone (make/run-suites.sh).
SERIAL_SUITES += QemuCommandTests
