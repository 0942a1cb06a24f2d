# leakwatch - see README.md. `make help` lists the targets.

CC           ?= cc
PYTHON       := /usr/bin/python3
PYTHON_CONFIG := /usr/bin/python3-config
UWSGI        := uwsgi
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
PY_CFLAGS     = $(shell $(PYTHON_CONFIG) --includes)
PY_LDFLAGS    = $(shell $(PYTHON_CONFIG) --ldflags --embed)

ifeq ($(SANITIZER),)
UNIT_DIR     := $(BUILD)/unit
SAN_FLAGS    :=
else ifneq ($(filter $(SANITIZER),address undefined),)
UNIT_DIR     := $(BUILD)/unit-$(SANITIZER)
SAN_FLAGS    := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
$(error SANITIZER must be address or undefined, not "$(SANITIZER)")
endif

PLUGIN_OBJS  := $(patsubst %.c,$(BUILD)/plugin/%.o,$(CORE_SRCS) $(PLUGIN_SRCS))
UNIT_OBJS    := $(patsubst src/%.c,$(UNIT_DIR)/%.o,$(CORE_SRCS))
UNIT_BINS    := $(patsubst tests/unit/%.c,$(UNIT_DIR)/%,$(UNIT_SRCS))

# Packages from Debian that build, test and demo need; `make deps` installs
# the missing ones and says nothing when all are there.
DEPS := uwsgi-core uwsgi-dev uwsgi-plugin-python3 python3-dev libjansson-dev \
        libcmocka-dev python3-flask wrk gcc make pkg-config valgrind clang-format prometheus \
        chromium

.SECONDARY: $(UNIT_OBJS) $(PLUGIN_OBJS)

.PHONY: all deps test unit integration demo bench eval valgrind format clean help

all: $(PLUGIN)

help:
	@echo "make            build $(PLUGIN)"
	@echo "make demo       run a leaking example app under uWSGI and show leakwatch's log"
	@echo "make test       unit + integration tests (installs what is missing)"
	@echo "make bench      throughput, CPU, instructions and memory with and without leakwatch; master cycle cost"
	@echo "make eval       detection quality on a labelled corpus of leaking and non-leaking apps"
	@echo "make unit       unit tests only; SANITIZER=address|undefined for sanitizer builds"
	@echo "make valgrind   unit tests under valgrind memcheck"
	@echo "make format     clang-format the C sources"

deps:
	@missing=""; for p in $(DEPS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "leakwatch: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null \
	    || { echo "leakwatch: apt-get install$$missing failed"; exit 1; }; \
	fi

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
	$(Q)$(CC) -shared -o $@ $^ $(PY_LDFLAGS) -ljansson -lm

$(UNIT_DIR)/%.o: src/%.c $(HEADERS) | deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(WARN) -g -O1 $(SAN_FLAGS) -c $< -o $@

$(UNIT_DIR)/test_%: tests/unit/test_%.c $(UNIT_OBJS) $(HEADERS) $(wildcard tests/unit/*.h)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(WARN) -g -O1 $(SAN_FLAGS) -Isrc $< $(UNIT_OBJS) -o $@ -lcmocka -ljansson -lm

unit: $(UNIT_BINS)
	@$(PYTHON) tests/run.py --unit $(UNIT_BINS)

integration: $(PLUGIN)
	@$(PYTHON) tests/run.py --integration

test: $(PLUGIN) $(UNIT_BINS)
	@$(PYTHON) tests/run.py --unit $(UNIT_BINS) --integration

valgrind: $(UNIT_BINS)
	@$(PYTHON) tests/run.py --valgrind --unit $(UNIT_BINS)

# The master's drain + judge per cycle, timed in one process (tests/bench/drain.c).
$(BUILD)/bench/drain: tests/bench/drain.c $(CORE_SRCS) $(HEADERS) plugin/engine.h | deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(WARN) -O2 -Isrc $< $(CORE_SRCS) -o $@ -ljansson -lm

bench: $(PLUGIN) $(BUILD)/bench/drain
	@$(PYTHON) tests/bench/bench.py
	@$(PYTHON) tests/bench/instructions.py
	@$(BUILD)/bench/drain

eval: $(PLUGIN)
	@$(PYTHON) tests/eval/eval.py

demo: $(PLUGIN)
	@$(PYTHON) examples/demo.py

format: | deps
	clang-format -i $(CORE_SRCS) $(PLUGIN_SRCS) $(HEADERS) $(UNIT_SRCS)

clean:
	rm -rf $(BUILD) $(PLUGIN) .uwsgi_plugins_builder
