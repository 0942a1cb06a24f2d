# libFuzzer targets (clang) for every parser of outside input; included by
# the Makefile. `make fuzz` runs each for FUZZ_SECONDS on a copy of its
# committed seeds (tests/fuzz/corpus/<name>), crashes go to
# build/fuzz/crashes/; `make fuzz-smoke` only replays the seeds.
FUZZ_DEPS    := clang libclang-rt-14-dev
FUZZ_SECONDS ?= 60
FUZZ_CC      := clang
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_NAMES   := size addr http path cgroup config
FUZZ_BINS    := $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_NAMES))

# The core modules each target needs (no jansson, no uWSGI, no Python).
FUZZ_SRCS_size   := src/size.c
FUZZ_SRCS_addr   := src/addr.c src/size.c
FUZZ_SRCS_http   := src/http.c
FUZZ_SRCS_path   := src/path.c
FUZZ_SRCS_cgroup := src/memlimit.c src/size.c
FUZZ_SRCS_config := src/config.c src/size.c src/addr.c

.PHONY: fuzz fuzz-smoke fuzz-deps

fuzz-deps:
	$(call install_missing,$(FUZZ_DEPS))

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(HEADERS) $(CORE_SRCS) | fuzz-deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(WARN) -Isrc $< $(FUZZ_SRCS_$*) -o $@ -lm

fuzz: $(FUZZ_BINS)
	@rm -rf $(BUILD)/fuzz/corpus $(BUILD)/fuzz/logs
	@mkdir -p $(BUILD)/fuzz/crashes $(BUILD)/fuzz/logs
	@failed=""; for n in $(FUZZ_NAMES); do \
	  mkdir -p $(BUILD)/fuzz/corpus/$$n; cp tests/fuzz/corpus/$$n/* $(BUILD)/fuzz/corpus/$$n/; \
	  echo "fuzz_$$n: $(FUZZ_SECONDS) s"; \
	  $(BUILD)/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(BUILD)/fuzz/crashes/$$n- $(BUILD)/fuzz/corpus/$$n \
	    > $(BUILD)/fuzz/logs/$$n.log 2>&1 || failed="$$failed $$n"; \
	done; \
	for n in $(FUZZ_NAMES); do \
	  runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(BUILD)/fuzz/logs/$$n.log); \
	  echo "fuzz_$$n: $${runs:-?} executions, corpus $$(ls $(BUILD)/fuzz/corpus/$$n | wc -l) inputs"; \
	done; \
	if [ -n "$$failed" ]; then \
	  echo "fuzz: crashes in$$failed (logs: $(BUILD)/fuzz/logs, inputs: $(BUILD)/fuzz/crashes)"; \
	  exit 1; fi

fuzz-smoke: $(FUZZ_BINS)
	@for n in $(FUZZ_NAMES); do \
	  $(BUILD)/fuzz/fuzz_$$n -runs=0 tests/fuzz/corpus/$$n > /dev/null 2>&1 \
	    || { echo "fuzz_$$n: a seed fails"; exit 1; }; done; \
	echo "fuzz-smoke: every seed of $(words $(FUZZ_NAMES)) targets passes"
