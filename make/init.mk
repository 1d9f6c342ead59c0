# guest-init: test prerequisites, the release link check and the benchmark.
# Tests need mke2fs/mkfs.erofs (libblkid on real images), unshare (namespaced PID 1), modprobe (the
# reference order for libkmod) and Debian's cloud-kernel module tree.
DEBIAN_PACKAGES += e2fsprogs erofs-utils util-linux kmod libkmod-dev libblkid-dev binutils
TEST_PREREQS += debian-kernel
EXTRA_TESTS += init-links
BENCHES += bench-init

.PHONY: init-release init-links bench-init
init-release: ## Release builds of guest-init and guest-init-agent (static Swift runtime), as `make release` builds them
	$(SWIFT) build -c release --static-swift-stdlib --product guest-init
	$(SWIFT) build -c release --static-swift-stdlib --product guest-init-agent

# guest-init-agent is what the default image runs as PID 1, so it is held to the same rule, but for the
# agent's libseccomp (containers' seccomp filters) and libmnl (rtnetlink).
init-links: init-release ## Check that release guest-init needs only glibc, libkmod and libblkid, guest-init-agent also libseccomp and libmnl (readelf -d)
	@for exe in guest-init guest-init-agent; do \
	  needed=$$(readelf -d "$(RELEASE_DIR)/$$exe" | awk '/\(NEEDED\)/{gsub(/[][]/, "", $$5); print $$5}' | sort | tr '\n' ' '); \
	  echo "init-links: $$exe DT_NEEDED: $$needed"; \
	  for lib in $$needed; do case "$$lib" in \
	    libc.so.*|libm.so.*|ld-linux-*|libkmod.so.*|libblkid.so.*) ;; \
	    libseccomp.so.*|libmnl.so.*) [ "$$exe" = guest-init-agent ] || { echo "init-links: $$exe must not need $$lib"; exit 1; } ;; \
	    *) echo "init-links: $$exe must not need $$lib (see guestLinking in Package.swift)"; exit 1 ;; \
	  esac; done; \
	done

bench-init: init-release ## Benchmark guest-init: start → stand-in agent started (median of 50), idle private dirty memory
	$(SWIFT) build --product guestkit-bench
	"$(DEBUG_DIR)/guestkit-bench" init --guest-init "$(RELEASE_DIR)/guest-init" --runs 50
# Suites that boot QEMU or build a kernel: each runs alone (make/run-suites.sh).
SERIAL_SUITES += InitramfsBootTests
