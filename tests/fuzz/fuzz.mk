# libFuzzer targets (clang) for every parser of outside input; included by
# the Makefile. `make fuzz` runs each for FUZZ_SECONDS, one after the other,
# on a copy of its committed seeds (tests/fuzz/corpus/<name> is never
# written); crashes go to build/fuzz/crashes/, logs to build/fuzz/logs/.
# `make fuzz-smoke` only replays the seeds, without mutation.
FUZZ_DEPS    := clang libclang-rt-14-dev
FUZZ_SECONDS ?= 60
FUZZ_CC      := clang
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_NAMES   := size addr http path cgroup config
FUZZ_BINS    := $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_NAMES))
# A parser that takes 10 s on one input is a bug: a timeout is a crash.
FUZZ_RUN     := -timeout=10 -print_final_stats=1

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
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(WARN) -Isrc -I$(BUILD)/fuzz $< $(FUZZ_SRCS_$*) -o $@ -lm

# fuzz_config takes every option of config.c's rules table, so a new option
# is fuzzed without anyone remembering to list it.
$(BUILD)/fuzz/fuzz_config: $(BUILD)/fuzz/config_options.h
$(BUILD)/fuzz/config_options.h: src/config.c
	@mkdir -p $(dir $@)
	$(Q){ echo '#define CONFIG_OPTIONS \'; \
	  sed -n 's/^[[:space:]]*{\("leakwatch-[a-z0-9-]*"\),.*/    \1, \\/p' $<; \
	  echo; } > $@.tmp && mv $@.tmp $@

fuzz: $(FUZZ_BINS)
	@rm -rf $(BUILD)/fuzz/corpus $(BUILD)/fuzz/logs
	@mkdir -p $(BUILD)/fuzz/crashes $(BUILD)/fuzz/logs
	@failed=""; for n in $(FUZZ_NAMES); do \
	  mkdir -p $(BUILD)/fuzz/corpus/$$n; cp tests/fuzz/corpus/$$n/* $(BUILD)/fuzz/corpus/$$n/; \
	  echo "fuzz_$$n: $(FUZZ_SECONDS) s"; \
	  $(BUILD)/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) $(FUZZ_RUN) \
	    -artifact_prefix=$(BUILD)/fuzz/crashes/$$n- $(BUILD)/fuzz/corpus/$$n \
	    > $(BUILD)/fuzz/logs/$$n.log 2>&1 || failed="$$failed $$n"; \
	done; \
	for n in $(FUZZ_NAMES); do \
	  log=$(BUILD)/fuzz/logs/$$n.log; \
	  runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log); \
	  cov=$$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' $$log | tail -n 1); \
	  echo "fuzz_$$n: $${runs:-?} executions, corpus $$(ls $(BUILD)/fuzz/corpus/$$n | wc -l) inputs," \
	    "$${cov:-?} edges covered"; \
	done; \
	if [ -n "$$failed" ]; then \
	  for n in $$failed; do echo "fuzz_$$n failed:"; grep -m 3 -E 'ERROR|broken promise|runtime error|Test unit written' \
	    $(BUILD)/fuzz/logs/$$n.log; done; \
	  echo "fuzz: failed:$$failed (logs: $(BUILD)/fuzz/logs, inputs: $(BUILD)/fuzz/crashes)"; \
	  exit 1; fi

# The seeds one by one (no corpus directory given, so nothing is written
# back to it), each run once: seconds for every target.
fuzz-smoke: $(FUZZ_BINS)
	@mkdir -p $(BUILD)/fuzz/crashes $(BUILD)/fuzz/logs
	@for n in $(FUZZ_NAMES); do \
	  $(BUILD)/fuzz/fuzz_$$n -runs=0 $(FUZZ_RUN) -artifact_prefix=$(BUILD)/fuzz/crashes/$$n- \
	    tests/fuzz/corpus/$$n/* > $(BUILD)/fuzz/logs/smoke-$$n.log 2>&1 \
	    || { echo "fuzz_$$n: a seed fails (log: $(BUILD)/fuzz/logs/smoke-$$n.log)"; \
	         tail -n 30 $(BUILD)/fuzz/logs/smoke-$$n.log; exit 1; }; done; \
	echo "fuzz-smoke: every seed of the $(words $(FUZZ_NAMES)) targets passes"
