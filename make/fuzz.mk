# Fuzzing (libFuzzer through Swift's -sanitize=fuzzer coverage and AddressSanitizer). One executable,
# guestkit-fuzz, holds every harness of Tests/Fuzz/Harnesses; GUESTKIT_FUZZ_HARNESS picks one. It is built
# apart from the normal build (.build-fuzz): every Swift module gets coverage and ASan, and the entry is
# libFuzzer's driver (libclang_rt.fuzzer_no_main: SwiftPM aliases `main` to the module's entry, so
# libFuzzer's own main cannot be used; -sanitize=fuzzer goes to the frontend only for the same reason).
#
# `make fuzz` runs each harness FUZZ_SECONDS (default 60) from Tests/Fuzz/corpus/<harness>/ (read only:
# new inputs go to out/fuzz/corpus/<harness>/); a crash stops it and its input is kept in
# out/fuzz/crashes/<harness>/. `make test` runs each for FUZZ_TEST_SECONDS so the harnesses keep building
# and the corpus keeps passing under ASan. To keep a crash as a regression input, fix it, then copy the
# file into Tests/Fuzz/corpus/<harness>/ (FuzzCorpusTests replays it in every test run).
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 5
FUZZ_HARNESSES := ttrpc-frames agent-dispatch vsock-packets descriptor-chains vhost-user kernel-cmdline elf tar cpio
FUZZ_SCRATCH := $(CURDIR)/.build-fuzz
FUZZ_OUT := $(OUT)/fuzz
FUZZ_CORPUS := Tests/Fuzz/corpus
FUZZ_RUNTIME = $(firstword $(wildcard $(dir $(realpath $(shell command -v swiftc)))../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a))
FUZZ_FLAGS := -Xswiftc -sanitize=address -Xswiftc -Xfrontend -Xswiftc -sanitize=fuzzer -Xswiftc -DGUESTKIT_LIBFUZZER
FUZZ_BIN = $(FUZZ_SCRATCH)/debug/guestkit-fuzz
# The Swift runtime keeps metadata caches for the process's life: LeakSanitizer would report them.
FUZZ_ENV := SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1
EXTRA_TESTS += fuzz-smoke

.PHONY: fuzz fuzz-build fuzz-smoke fuzz-seeds
fuzz-build: ## Build guestkit-fuzz with libFuzzer and ASan into .build-fuzz
	@test -n "$(FUZZ_RUNTIME)" || { echo "fuzz-build: no libclang_rt.fuzzer_no_main-x86_64.a beside swiftc (a Swift toolchain for Linux has it)"; exit 1; }
	$(SWIFT) build --scratch-path $(FUZZ_SCRATCH) --product guestkit-fuzz $(FUZZ_FLAGS) \
	  -Xlinker $(FUZZ_RUNTIME) -Xlinker -lstdc++

fuzz: fuzz-build ## Run every fuzz harness FUZZ_SECONDS (60) from the committed corpus; keeps crash inputs in out/fuzz/crashes
	@$(MAKE) --no-print-directory fuzz-run SECONDS=$(FUZZ_SECONDS)

fuzz-smoke: fuzz-build ## Run every fuzz harness FUZZ_TEST_SECONDS (5): part of make test
	@$(MAKE) --no-print-directory fuzz-run SECONDS=$(FUZZ_TEST_SECONDS)

.PHONY: fuzz-run
fuzz-run:
	@for h in $(FUZZ_HARNESSES); do \
	  mkdir -p $(FUZZ_OUT)/corpus/$$h $(FUZZ_OUT)/crashes/$$h; \
	  echo "fuzz: $$h for $(SECONDS) s"; \
	  if ! env $(FUZZ_ENV) GUESTKIT_FUZZ_HARNESS=$$h $(FUZZ_BIN) -max_total_time=$(SECONDS) -timeout=10 -rss_limit_mb=2048 \
	      -max_len=65536 -print_final_stats=1 -artifact_prefix=$(FUZZ_OUT)/crashes/$$h/ \
	      $(FUZZ_OUT)/corpus/$$h $(FUZZ_CORPUS)/$$h > $(FUZZ_OUT)/$$h.log 2>&1; then \
	    tail -n 60 $(FUZZ_OUT)/$$h.log; \
	    echo "fuzz: $$h failed; input kept in $(FUZZ_OUT)/crashes/$$h/ (reproduce: GUESTKIT_FUZZ_HARNESS=$$h $(FUZZ_BIN) FILE)"; \
	    exit 1; \
	  fi; \
	  grep -E '^stat::number_of_executed_units|^stat::new_units_added' $(FUZZ_OUT)/$$h.log | sed "s/^/fuzz: $$h /"; \
	done

fuzz-seeds: ## Rewrite the generated seeds in Tests/Fuzz/corpus (after changing a harness's seeds)
	$(SWIFT) build --product guestkit-fuzz
	$(DEBUG_DIR)/guestkit-fuzz seeds $(FUZZ_CORPUS)
