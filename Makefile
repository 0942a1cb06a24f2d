# leakwatch - see README.md. `make help` lists the targets.

CC           ?= cc
UWSGI        ?= uwsgi
# Scripts (tests, bench, eval, demo) run on Debian's python3, not the first on PATH.
HOST_PYTHON  := /usr/bin/python3
# The Python the plugin is built for: the one $(UWSGI) embeds (its python3
# plugin's, or a monolithic binary's own), found once, when first needed;
# `make PYTHON=python3.13` names another.
PYTHON       ?= $(eval PYTHON := $(shell $(HOST_PYTHON) uwsgiplugin.py --python-of $(UWSGI)))$(PYTHON)
BUILD        := build
SANITIZER    ?=
V            ?=
Q            := $(if $(V),,@)

PLUGIN       := leakwatch_plugin.so
CORE_SRCS    := $(wildcard src/*.c)
PLUGIN_SRCS  := $(wildcard plugin/*.c)
UNIT_SRCS    := $(wildcard tests/unit/test_*.c)
HEADERS      := $(wildcard src/*.h plugin/*.h)

WARN         := -std=c11 -Wall -Wextra -Wstrict-prototypes -Werror
# Recursive on purpose: expanded only once `deps` has installed the tools.
UWSGI_CFLAGS  = $(shell $(UWSGI) --cflags)
# A Python the plugin cannot be built for (free-threaded, not 3.11-3.15) stops
# the build with one line, as uWSGI's builder does (uwsgiplugin.py).
# Found once, when first needed (after `deps`).
PY_REFUSAL    = $(shell $(PYTHON) uwsgiplugin.py --refusal)
PY_CFLAGS     = $(eval PY_CFLAGS := $(if $(PY_REFUSAL),$(error $(PY_REFUSAL)))$(shell \
                  $(PYTHON) uwsgiplugin.py --cflags))$(PY_CFLAGS)

ifeq ($(SANITIZER),)
UNIT_DIR     := $(BUILD)/unit
SAN_FLAGS    :=
else ifneq ($(filter $(SANITIZER),address undefined thread),)
UNIT_DIR     := $(BUILD)/unit-$(SANITIZER)
SAN_FLAGS    := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
$(error SANITIZER must be address, undefined or thread, not "$(SANITIZER)")
endif

PLUGIN_OBJS  := $(patsubst %.c,$(BUILD)/plugin/%.o,$(CORE_SRCS) $(PLUGIN_SRCS))
UNIT_OBJS    := $(patsubst src/%.c,$(UNIT_DIR)/%.o,$(CORE_SRCS))
UNIT_BINS    := $(patsubst tests/unit/%.c,$(UNIT_DIR)/%,$(UNIT_SRCS))

# Packages from Debian, by what needs them. A target installs the missing
# ones of its own lists first, quietly when all are there: `make` and
# `make deps` the build's (DEPS) alone, `make test` the tests' as well,
# `make demo`, `make bench` and `make eval` theirs.
DEPS         := uwsgi-core uwsgi-dev uwsgi-plugin-python3 python3-dev libjansson-dev \
                gcc make pkg-config
UNIT_DEPS    := libcmocka-dev
# integration tests: promtool, Prometheus and Chromium (test_http), wrk (test_drills);
# SQLAlchemy (test_generated) and Django (test_django); no test imports Flask (the eval
# corpus, bench and demo apps do)
TEST_DEPS    := prometheus chromium wrk python3-sqlalchemy python3-django python3-flask
DEMO_DEPS    := python3-flask chromium
BENCH_DEPS   := python3-flask wrk valgrind
EVAL_DEPS    := python3-flask python3-sqlalchemy python3-django
DEB_DEPS     := build-essential debhelper dpkg-dev fakeroot lintian

.SECONDARY: $(UNIT_OBJS) $(PLUGIN_OBJS)

.PHONY: all deps unit-deps test-deps test unit integration demo bench eval valgrind format deb \
        clean help test-sanitize torture torture-deps matrix

all: $(PLUGIN)

help:
	@echo "make            build $(PLUGIN)"
	@echo "make demo       run a leaking example app under uWSGI and show leakwatch's log"
	@echo "make test       unit + integration tests (installs what they need)"
	@echo "make bench      throughput, CPU, instructions and memory with and without leakwatch; master cycle cost"
	@echo "make eval       detection quality: a labelled corpus of apps, a bounded fill, the detector's model"
	@echo "make unit       unit tests only; SANITIZER=address|undefined|thread for sanitizer builds"
	@echo "make valgrind   unit tests under valgrind memcheck"
	@echo "make test-sanitize  unit tests under ASan, UBSan, TSan; real uWSGI with the plugin under them"
	@echo "make fuzz       libFuzzer on every parser of outside input (FUZZ_SECONDS=60 each)"
	@echo "make torture    CPython's regression tests in a uWSGI worker: without leakwatch, exact, defaults"
	@echo "make matrix     build and test in Debian 13 and unstable trees: each Python, Debian's and a monolithic uWSGI"
	@echo "make format     clang-format the C sources"

# $(call install_missing,PACKAGES): apt-get installs those not installed yet.
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "leakwatch: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null \
	    || { echo "leakwatch: apt-get install$$missing failed"; exit 1; }; \
	fi
endef

deps:
	$(call install_missing,$(DEPS))

unit-deps: deps
	$(call install_missing,$(UNIT_DEPS))

test-deps: unit-deps torture-deps
	$(call install_missing,$(TEST_DEPS))

# CPython's own test suite, for the Python uWSGI's python3 plugin embeds
# (tests/torture/; tests/integration/test_torture.py runs part of it).
# Recursive on purpose: $(PYTHON) exists once `deps` has run.
PY_VERSION    = $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
torture-deps: deps
	$(call install_missing,libpython$(PY_VERSION)-testsuite)

$(BUILD)/uwsgi.h: | deps
	@mkdir -p $(BUILD)
	$(Q)$(UWSGI) --dot-h > $@.tmp && mv $@.tmp $@

$(BUILD)/plugin/%.o: %.c $(HEADERS) $(BUILD)/uwsgi.h | deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(UWSGI_CFLAGS) -isystem $(BUILD) $(PY_CFLAGS) $(WARN) -fPIC \
	  -fvisibility=hidden -c $< -o $@

$(PLUGIN): $(PLUGIN_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -o $@ $^ -ljansson -lm

$(UNIT_DIR)/%.o: src/%.c $(HEADERS) | deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(WARN) -g -O1 $(SAN_FLAGS) -c $< -o $@

$(UNIT_DIR)/test_%: tests/unit/test_%.c $(UNIT_OBJS) $(HEADERS) $(wildcard tests/unit/*.h) | unit-deps
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(WARN) -g -O1 $(SAN_FLAGS) -Isrc $< $(UNIT_OBJS) -o $@ -lcmocka -ljansson -lm

unit: $(UNIT_BINS)
	@$(HOST_PYTHON) tests/run.py --unit $(UNIT_BINS)

integration: $(PLUGIN) | test-deps
	@$(HOST_PYTHON) tests/run.py --integration

test: $(PLUGIN) $(UNIT_BINS) | test-deps
	@$(HOST_PYTHON) tests/run.py --unit $(UNIT_BINS) --integration

# Each module of TORTURE_MODULES (default: all of tests/torture/torture.py's
# list) in a fresh uWSGI per configuration; results and logs in build/torture/.
TORTURE_MODULES ?=
torture: $(PLUGIN) | torture-deps
	@$(HOST_PYTHON) tests/torture/torture.py $(if $(TORTURE_MODULES),--modules $(TORTURE_MODULES))

valgrind: $(UNIT_BINS)
	$(call install_missing,valgrind)
	@$(HOST_PYTHON) tests/run.py --valgrind --unit $(UNIT_BINS)

# The master's drain + judge per cycle, timed in one process (tests/bench/drain.c).
$(BUILD)/bench/drain: tests/bench/drain.c $(CORE_SRCS) $(HEADERS) plugin/engine.h | deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(WARN) -O2 -Isrc $< $(CORE_SRCS) -o $@ -ljansson -lm

# make bench's floor: allocator hooks that pass every call on (tests/bench/floor.c).
$(BUILD)/bench/floor_plugin.so: tests/bench/floor.c $(BUILD)/uwsgi.h | deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(UWSGI_CFLAGS) -isystem $(BUILD) $(PY_CFLAGS) $(WARN) -fPIC -shared $< -o $@

# make bench's callgrind switches for a forked worker (tests/bench/cgctl.c).
$(BUILD)/bench/cgctl.so: tests/bench/cgctl.c | deps
	$(call install_missing,valgrind)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(WARN) -fPIC -shared $< -o $@

bench: $(PLUGIN) $(BUILD)/bench/drain $(BUILD)/bench/floor_plugin.so $(BUILD)/bench/cgctl.so
	$(call install_missing,$(BENCH_DEPS))
	@$(HOST_PYTHON) tests/bench/bench.py
	@$(HOST_PYTHON) tests/bench/instructions.py
	@$(HOST_PYTHON) tests/bench/held.py
	@$(BUILD)/bench/drain

# make eval's third part: the real aggregator and detector fed modelled,
# sampled growth, hundreds of seeded runs a shape (tests/eval/model.c).
$(BUILD)/eval/model: tests/eval/model.c $(CORE_SRCS) $(HEADERS) | deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(WARN) -O2 -Isrc $< $(CORE_SRCS) -o $@ -ljansson -lm

eval: $(PLUGIN) $(BUILD)/eval/model
	$(call install_missing,$(EVAL_DEPS))
	@$(HOST_PYTHON) tests/eval/eval.py
	@$(HOST_PYTHON) tests/eval/fill.py
	@$(BUILD)/eval/model

# The Debian package uwsgi-plugin-leakwatch (.ci/debian), built from a copy
# of the sources in build/deb/ and checked by lintian; the .deb is left in
# build/deb/. apt-get install ./build/deb/uwsgi-plugin-leakwatch_*.deb
deb: | deps
	$(call install_missing,$(DEB_DEPS))
	@rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/leakwatch
	@cp -r plugin src uwsgiplugin.py Makefile examples README.md $(BUILD)/deb/leakwatch/
	@cp -r .ci/debian $(BUILD)/deb/leakwatch/debian
	@cd $(BUILD)/deb/leakwatch && dpkg-buildpackage -us -uc -b >../build.log 2>&1 \
	  || { tail -30 ../build.log; exit 1; }
	@lintian --fail-on error $(BUILD)/deb/*.changes | tee $(BUILD)/deb/lintian.log
	@ls $(BUILD)/deb/*.deb

demo: $(PLUGIN)
	$(call install_missing,$(DEMO_DEPS))
	@$(HOST_PYTHON) examples/demo.py

# The version matrix (tests/matrix/matrix.py, as root): Debian 13 and
# unstable trees made by debootstrap under build/matrix/, the plugin built
# and tested in each against that tree's Pythons and uWSGI builds.
# MATRIX_LEGS picks legs (matrix.py --list); MATRIX_PLAN=ci runs what fits CI.
MATRIX_LEGS ?=
MATRIX_PLAN ?= full
matrix:
	$(call install_missing,debootstrap)
	@tests/matrix/matrix.py --plan $(MATRIX_PLAN) $(MATRIX_LEGS)

format:
	$(call install_missing,clang-format)
	clang-format -i $(CORE_SRCS) $(PLUGIN_SRCS) $(HEADERS) $(UNIT_SRCS)

# --one-file-system: never into what a killed `make matrix` left mounted in its trees
clean:
	rm -rf --one-file-system $(BUILD) $(PLUGIN) .uwsgi_plugins_builder

# The plugin built with sanitizers, to run real uWSGI under them
# (make test-sanitize): build/plugin-asan/ (AddressSanitizer and UBSan) and
# build/plugin-tsan/ (ThreadSanitizer). uWSGI itself is not instrumented,
# so the runtime is preloaded (SAN_PRELOAD_*).
comma := ,
define sanitized_plugin
$(BUILD)/plugin-$(1)/%.o: %.c $(HEADERS) $(BUILD)/uwsgi.h | deps
	@mkdir -p $$(dir $$@)
	@$(if $(Q),echo "  CC      $$@")
	$(Q)$(CC) $$(UWSGI_CFLAGS) -isystem $(BUILD) $$(PY_CFLAGS) $(WARN) -fPIC \
	  -fvisibility=hidden -g -O1 -fno-omit-frame-pointer $(2) -c $$< -o $$@

$(BUILD)/plugin-$(1)/$(PLUGIN): $(patsubst %.c,$(BUILD)/plugin-$(1)/%.o,$(CORE_SRCS) $(PLUGIN_SRCS))
	@$(if $(Q),echo "  LD      $$@")
	$(Q)$(CC) -shared $(2) -o $$@ $$^ $-ljansson -lm
endef
$(eval $(call sanitized_plugin,asan,-fsanitize=address$(comma)undefined -fno-sanitize-recover=undefined))
$(eval $(call sanitized_plugin,tsan,-fsanitize=thread))
SAN_PRELOAD_ASAN = $(shell $(CC) -print-file-name=libasan.so) $(shell $(CC) -print-file-name=libubsan.so)
SAN_PRELOAD_TSAN = $(shell $(CC) -print-file-name=libtsan.so)
# The integration tests that run requests on several threads of a worker.
TSAN_TESTS := test_detection.DetectionTest.test_a_leak_under_threads_is_announced \
              test_engine.EngineTest.test_threads_lose_nothing \
              test_plugin.CountingTest.test_threads_count_every_request_on_every_core

# Sanitizers beyond unit tests: every unit test under ASan, UBSan and TSan;
# the integration suite (real uWSGI, the leak apps) with the plugin built
# with ASan+UBSan; the threaded tests again with the plugin under TSan.
# A sanitizer's report in any uWSGI log fails the test (tests/integration/harness.py).
test-sanitize: $(BUILD)/plugin-asan/$(PLUGIN) $(BUILD)/plugin-tsan/$(PLUGIN) | test-deps
	$(Q)$(MAKE) --no-print-directory unit SANITIZER=address
	$(Q)$(MAKE) --no-print-directory unit SANITIZER=undefined
	$(Q)$(MAKE) --no-print-directory unit SANITIZER=thread
	@echo "integration tests, plugin with AddressSanitizer and UBSan:"
	@LEAKWATCH_PLUGIN=$(abspath $(BUILD)/plugin-asan/$(PLUGIN)) \
	  LEAKWATCH_PRELOAD="$(SAN_PRELOAD_ASAN)" $(HOST_PYTHON) tests/run.py --integration
	@echo "threaded integration tests, plugin with ThreadSanitizer:"
	@LEAKWATCH_PLUGIN=$(abspath $(BUILD)/plugin-tsan/$(PLUGIN)) \
	  LEAKWATCH_PRELOAD="$(SAN_PRELOAD_TSAN)" $(HOST_PYTHON) tests/run.py --integration \
	  --only $(TSAN_TESTS)

# libFuzzer targets for every parser of outside input (tests/fuzz/).
-include tests/fuzz/fuzz.mk
