# guest-agent, its ttRPC API (Sources/GuestProto) and the host side (GuestClient, guestctl).
# The generated Swift is committed, so builds need no protoc; `make proto` regenerates it after a .proto
# edit and `make check-protos` (and ProtoWireTests) fail when the committed code is stale.
AGENT_PROTO_DIR := Sources/GuestProto
AGENT_PROTOS := guestkit/v1/agent.proto ttrpc/ttrpc.proto
AGENT_PYDEPS := $(OUT)/pydeps
AGENT_PYWIRE := $(OUT)/agent-pywire
# protobuf 4.21.12 is the Python runtime that matches Debian 12's protoc 3.21.12.
AGENT_PY_PROTOBUF := protobuf==4.21.12
# libprotobuf-dev: the well-known types containerd's protos import (make/shim.mk).
DEBIAN_PACKAGES += protobuf-compiler libprotobuf-dev python3 python3-pip
EXTRA_TESTS += agent-wire-check
BENCHES += agent-bench

.PHONY: proto check-protos agent-proto-set agent-wire-check agent-bench agent-linkage

# The agent's messages come from guest-proto-gen (Sources/ProtoCodegen): plain structs over ProtoWire, so the
# guest links no protobuf runtime and no Foundation. protoc only parses the .proto files into a descriptor set.
AGENT_PROTO_SET := $(OUT)/agent-protos.pb

agent-proto-set:
	@mkdir -p $(OUT)
	cd $(AGENT_PROTO_DIR) && protoc -I . --include_imports --include_source_info \
	  --descriptor_set_out=$(abspath $(AGENT_PROTO_SET)) $(AGENT_PROTOS)

proto: agent-proto-set ## Regenerate Sources/GuestProto/*.pb.swift from the .proto files (protoc + guest-proto-gen)
	$(SWIFT) build --product guest-proto-gen
	$(DEBUG_DIR)/guest-proto-gen $(AGENT_PROTO_SET) $(AGENT_PROTO_DIR) $(AGENT_PROTOS)

check-protos: agent-proto-set ## Fail when the committed generated protobuf code differs from what `make proto` makes
	@rm -rf $(OUT)/check-protos && mkdir -p $(OUT)/check-protos
	@$(SWIFT) build --product guest-proto-gen
	@$(DEBUG_DIR)/guest-proto-gen $(AGENT_PROTO_SET) $(OUT)/check-protos $(AGENT_PROTOS)
	@for f in $(OUT)/check-protos/*.pb.swift; do \
	  diff -u $(AGENT_PROTO_DIR)/$$(basename $$f) $$f || { echo "check-protos: $$(basename $$f) is stale; run make proto"; exit 1; }; \
	done; echo "check-protos: generated code is current"

$(AGENT_PYDEPS)/.installed:
	python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target $(AGENT_PYDEPS) '$(AGENT_PY_PROTOBUF)'
	touch $@

agent-wire-check: $(AGENT_PYDEPS)/.installed ## Independent wire check: Python protobuf + hand-written ttRPC framing against the built guest-agent
	@rm -rf $(AGENT_PYWIRE) && mkdir -p $(AGENT_PYWIRE)
	cd $(AGENT_PROTO_DIR) && protoc -I . -I /usr/include --python_out=$(AGENT_PYWIRE) $(AGENT_PROTOS)
	$(SWIFT) build --product guest-agent
	PYTHONPATH=$(AGENT_PYDEPS):$(AGENT_PYWIRE) python3 Tests/GuestAgentTests/WireCheck/agent_wire_check.py \
	  --agent "$(DEBUG_DIR)/guest-agent"

# Both with --static-swift-stdlib: the same flags in the same build directory, so neither build undoes the other.
agent-bench: ## Agent benchmarks: exec round trip, stdout throughput, idle memory and descriptors
	$(SWIFT) build -c release --static-swift-stdlib --product guest-agent
	$(SWIFT) build -c release --static-swift-stdlib --product guestkit-bench
	"$(RELEASE_DIR)/guestkit-bench" agent --agent "$(RELEASE_DIR)/guest-agent" --scratch $(OUT)/agent-bench

agent-linkage: ## Show that the static release guest-agent links no Foundation/ICU shared library
	$(SWIFT) build -c release --static-swift-stdlib --product guest-agent
	@ldd "$(RELEASE_DIR)/guest-agent" | tee $(OUT)/agent-ldd.txt
	@if grep -Eq 'libFoundation|icu|libswift' $(OUT)/agent-ldd.txt; then echo "agent-linkage: Swift/Foundation/ICU shared library linked"; exit 1; fi
	@ls -l "$(RELEASE_DIR)/guest-agent" | awk '{print "agent-linkage: guest-agent is " $$5 " bytes, no Swift, Foundation or ICU shared library"}'
