# GuestKit build entry points. `make help` lists them.
# Each area (init, agent, kernel, image, bridge, e2e) keeps its rules in make/<area>.mk and adds to:
#   DEBIAN_PACKAGES  packages `make deps` installs
#   TEST_PREREQS     targets `make test` needs before `swift test` (kernels, images, release binaries)
#   TEST_ENV         VAR=value pairs exported to `swift test`
#   EXTRA_TESTS      targets run after `swift test` (tests not written in Swift)
#   SERIAL_SUITES    Swift test suites that boot QEMU (or build a kernel): each runs alone, after the rest
#   BENCHES          targets `make bench` runs, each printing its figures
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

SWIFT ?= swift
OUT ?= $(CURDIR)/out
RELEASE_DIR = $(shell $(SWIFT) build -c release --show-bin-path 2>/dev/null)
DEBUG_DIR = $(shell $(SWIFT) build --show-bin-path 2>/dev/null)
GUEST_PRODUCTS := guest-init guest-agent guest-init-agent
HOST_PRODUCTS := guestctl compose-guest guest-vsock-bridge

DEBIAN_PACKAGES := build-essential pkg-config libkmod-dev libblkid-dev kmod util-linux e2fsprogs cpio zstd
TEST_PREREQS :=
TEST_ENV :=
EXTRA_TESTS :=
SERIAL_SUITES :=
BENCHES :=

include $(sort $(wildcard make/*.mk))

.PHONY: help deps build release test bench
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

deps: ## Install the Debian packages the project needs (idempotent; apt-get update first)
	@missing=""; for p in $(sort $(DEBIAN_PACKAGES)); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all $(words $(sort $(DEBIAN_PACKAGES))) Debian packages present"; fi

build: deps ## Debug build of every target
	$(SWIFT) build

release: deps ## Release builds of the guest binaries and host tools, Swift stdlib linked statically
	@# One product per call: `swift build` honours only the last of several --product options. Every release
	@# build uses the same flags (host tools too), or each switch re-plans and relinks the whole build.
	@for p in $(GUEST_PRODUCTS) $(HOST_PRODUCTS); do echo "release: $$p"; $(SWIFT) build -c release --static-swift-stdlib --product $$p; done

test: deps $(TEST_PREREQS) ## Every test: Swift tests (unit, namespaces, then each QEMU suite alone), then the others; prints each suite's time
	$(SWIFT) build --build-tests
	env $(TEST_ENV) make/run-suites.sh $(SWIFT) "$(SERIAL_SUITES)"
	@for t in $(EXTRA_TESTS); do start=$$SECONDS; $(MAKE) --no-print-directory $$t; echo "test-time: $$t $$((SECONDS - start)) s"; done

bench: deps ## Benchmarks: print figures (no assertions)
	@for b in $(BENCHES); do $(MAKE) --no-print-directory $$b; done
