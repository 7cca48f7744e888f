# roomstate — build, run, test.  `make run` and `make test` work on a fresh Debian 12.
#
#   make deps     install the Debian packages the project needs (skips what is there)
#   make all      build every binary into build/
#   make run      deps + all + migrate ./data/roomstate.db + start the server
#   make test     deps + all + every test, then the whole suite again under ASan+UBSan
#   make bench    our side of the benchmark comparison (see BENCHMARKS.md)
#   make SAN=1 …  the same targets built with -fsanitize=address,undefined in build-san/

SAN ?= 0
ifeq ($(SAN),1)
BUILD ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD ?= build
SANFLAGS :=
endif

CC ?= cc
PYTHON := /usr/bin/python3
OPT ?= -O2 -g
WARN := -std=c11 -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wno-unused-parameter -Werror
PKGS := libmicrohttpd jansson libjwt sqlite3 libwebsockets libcurl openssl libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

CPPFLAGS += -D_GNU_SOURCE -I. -I$(BUILD)/gen
ALL_CFLAGS = $(WARN) $(OPT) $(SANFLAGS) $(PKG_CFLAGS) $(CHECK_CFLAGS) $(CFLAGS) -MMD -MP
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)

# Debian packages: build, runtime, and test tools.  `make deps` installs the missing ones.
# npm: Debian's package on a fresh Debian 12; skipped when an npm is already on PATH (NodeSource's
# nodejs ships its own npm and Conflicts: npm, so asking apt for it would fail).
DEB_PKGS := gcc libc6-dev make pkg-config libmicrohttpd-dev libjansson-dev libjwt-dev libsqlite3-dev \
            libwebsockets-dev libwebsockets-evlib-ev libcurl4-openssl-dev libssl-dev check libsubunit-dev \
            python3 python3-websockets python3-yaml python3-jsonschema curl sqlite3 wrk nodejs $(if $(shell command -v npm),,npm) \
            clang clang-format procps lua5.4 lua-cjson openssl postgresql libpq-dev haproxy util-linux \
            nginx-light

# ---- sources: every folder's main.c is its program, the rest is its library ----
COMMON_SRC := $(sort $(wildcard common/*.c))
STORE_SRC := $(sort $(wildcard store/*.c))
SERVER_LIB_SRC := $(filter-out server/main.c,$(sort $(wildcard server/*.c)))
RELAY_LIB_SRC := $(filter-out relay/main.c,$(sort $(wildcard relay/*.c)))
MIGRATE_LIB_SRC := $(filter-out migrate/main.c,$(sort $(wildcard migrate/*.c)))
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

GEN_SCHEMA := $(BUILD)/gen/schema_embed.c
GEN_SCHEMA_PG := $(BUILD)/gen/schema_pg_embed.c
GEN_OPCODES_H := $(BUILD)/gen/opcodes.h
PROTOCOL_OUT := protocol/opcodes.gd protocol/opcodes.lua

LIBCOMMON := $(BUILD)/libcommon.a
LIBSTORE := $(BUILD)/libstore.a
LIBSERVER := $(BUILD)/libserver.a
LIBRELAY := $(BUILD)/librelay.a
LIBMIGRATE := $(BUILD)/libmigrate.a

BINS := $(BUILD)/roomstate-server $(BUILD)/roomstate-migrate $(BUILD)/roomstate-token $(BUILD)/save-bench
ifneq ($(wildcard relay/main.c),)
BINS += $(BUILD)/roomstate-relay
endif
ifneq ($(wildcard bench/relay-load.c),)
BINS += $(BUILD)/relay-load
endif

.PHONY: all deps run test clang-build unit integration integration-postgres replay check-openapi test-suite clean lint protocol bench bench-compare \
        container-check test-repeat
.DEFAULT_GOAL := all

all: $(BINS) $(BUILD)/unit-tests

$(BUILD)/obj/%.o: %.c | $(GEN_SCHEMA) $(GEN_SCHEMA_PG) $(GEN_OPCODES_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

# Migrations are embedded in the binaries: a deployed image needs no loose SQL files.
$(GEN_SCHEMA): $(sort $(wildcard schema/sqlite/*.sql)) tools/embed-schema.sh
	@mkdir -p $(dir $@)
	sh tools/embed-schema.sh schema_migrations_embedded $(sort $(wildcard schema/sqlite/*.sql)) > $@.tmp && mv $@.tmp $@
$(GEN_SCHEMA_PG): $(sort $(wildcard schema/postgres/*.sql)) tools/embed-schema.sh
	@mkdir -p $(dir $@)
	sh tools/embed-schema.sh schema_migrations_pg_embedded $(sort $(wildcard schema/postgres/*.sql)) > $@.tmp && mv $@.tmp $@

# The canonical opcode table: C header in build/, GDScript and Lua committed under protocol/.
$(GEN_OPCODES_H): protocol/opcodes.def tools/gen-opcodes.sh
	@mkdir -p $(dir $@)
	sh tools/gen-opcodes.sh c protocol/opcodes.def > $@.tmp && mv $@.tmp $@
protocol/opcodes.gd: protocol/opcodes.def tools/gen-opcodes.sh
	sh tools/gen-opcodes.sh gd protocol/opcodes.def > $@.tmp && mv $@.tmp $@
protocol/opcodes.lua: protocol/opcodes.def tools/gen-opcodes.sh
	sh tools/gen-opcodes.sh lua protocol/opcodes.def > $@.tmp && mv $@.tmp $@
protocol: $(GEN_OPCODES_H) $(PROTOCOL_OUT)

$(LIBCOMMON): $(call obj,$(COMMON_SRC))
	@rm -f $@
	ar rcs $@ $^
$(LIBSTORE): $(call obj,$(STORE_SRC)) $(BUILD)/obj/gen/schema_embed.o $(BUILD)/obj/gen/schema_pg_embed.o
	@rm -f $@
	ar rcs $@ $^
$(LIBSERVER): $(call obj,$(SERVER_LIB_SRC))
	@rm -f $@
	ar rcs $@ $^
$(LIBRELAY): $(call obj,$(RELAY_LIB_SRC))
	@rm -f $@
	ar rcs $@ $^
$(LIBMIGRATE): $(call obj,$(MIGRATE_LIB_SRC))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/roomstate-server: $(call obj,server/main.c) $(LIBSERVER) $(LIBSTORE) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(BUILD)/roomstate-relay: $(call obj,relay/main.c) $(LIBRELAY) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(BUILD)/roomstate-migrate: $(call obj,migrate/main.c) $(LIBMIGRATE) $(LIBSTORE) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(BUILD)/roomstate-token: $(call obj,tools/token.c) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
BENCH_LIB_SRC := $(filter-out bench/relay-load.c bench/savebench.c,$(sort $(wildcard bench/*.c)))
$(BUILD)/relay-load: $(call obj,bench/relay-load.c $(BENCH_LIB_SRC)) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
# The micro-benchmark of the two save parse paths (BENCHMARKS.md, "Save parse paths").
$(BUILD)/save-bench: $(call obj,bench/savebench.c) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(BUILD)/unit-tests: $(call obj,$(UNIT_SRC) bench/jscan.c) $(LIBSERVER) $(LIBRELAY) $(LIBMIGRATE) $(LIBSTORE) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS)

# ---- installing, running ----
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all Debian packages present"; fi

run:
	$(MAKE) deps
	$(MAKE) all
	@mkdir -p data
	$(BUILD)/roomstate-migrate --db data/roomstate.db up
	exec $(BUILD)/roomstate-server --db data/roomstate.db

# ---- tests ----
# test-suite: the unit tests and the integration tests against the binaries in $(BUILD).
unit: $(BUILD)/unit-tests
	CK_FORK=yes $(BUILD)/unit-tests

integration: all
	ROOMSTATE_BIN=$(abspath $(BUILD)) $(PYTHON) tests/integration/run.py
	$(MAKE) integration-postgres

# The server's integration modules again, every server on PostgreSQL (a throw-away cluster).
SERVER_IT := test_server_http test_server_badreq test_server_concurrency test_server_fastpath \
             test_openapi_responses test_fleet_api test_relay_fleet
integration-postgres: all
	ROOMSTATE_TEST_BACKEND=postgres ROOMSTATE_BIN=$(abspath $(BUILD)) $(PYTHON) \
	  tests/integration/run.py $(SERVER_IT)

# The plan's restart-replay harness (issue 5): save, kill server and relay, restart, replay.
replay: all
	ROOMSTATE_BIN=$(abspath $(BUILD)) $(PYTHON) tests/integration/run.py test_restart_replay

# The integration suite N times (normal build); every failure with its run, test, seed, log.
N ?= 5
test-repeat: all
	sh tools/test-repeat.sh $(N) $(abspath $(BUILD))

check-openapi:
	sh tests/openapi/check.sh

test-suite: unit integration

# Every program and the unit tests built with clang as well (its warnings are errors too);
# a step of `make test`.
clang-build:
	$(MAKE) CC=clang BUILD=build-clang all

test:
	$(MAKE) deps
	$(MAKE) lint
	$(MAKE) clang-build
	$(MAKE) all protocol
	$(MAKE) test-suite check-openapi
	$(MAKE) SAN=1 all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) SAN=1 test-suite
	@echo "make test: all suites passed (normal and ASan+UBSan builds)"

bench: all
	sh bench/run.sh

# roomstate and the comparison anchors (ANCHORS=DIR, their directory; see bench/README.md) in one run, then the
# three ratios against their targets (BENCHMARKS.md)
bench-compare: all
	bash bench/compare.sh

# Builds the Dockerfile with podman, runs the image, waits (bounded) for /healthz.
container-check:
	sh tools/container-check.sh

lint:
	clang-format --dry-run -Werror common/*.[ch] store/*.[ch] server/*.[ch] relay/*.[ch] migrate/*.[ch] tools/*.c
	! grep -nE '\b(strcpy|strcat|sprintf|strtok|atoi|gets)\s*\(' common/*.c store/*.c server/*.c relay/*.c migrate/*.c tools/*.c

clean:
	rm -rf build build-san build-clang

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
