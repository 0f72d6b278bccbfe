# luassh — build, test and tooling.
#
#   make demo     install what is missing, build, run the demo
#   make test     install what is missing, build, run every test
#   make          build build/luassh
#   make asan     the whole test suite under AddressSanitizer + UBSan
#   make fuzz     build and run every libFuzzer target for a bounded time
#   make bench    benchmarks, printed as ratios against OpenSSL/OpenSSH
#   make soak     long campaigns: the full algorithm product of the transport
#   make clean

CC       ?= cc
BUILD    ?= build
OPT      ?= -O2
SAN      ?=
PKGS     := lua5.4 libuv libcrypto zlib libedit
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN     := -Wall -Wextra -Wshadow -Wpointer-arith
CFLAGS   ?= $(OPT) -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -DLSH_VERSION='"$(VERSION)"' \
              $(WARN) $(CFLAGS) $(SAN) -Isrc -I$(BUILD)/gen $(PKG_CFLAGS)
# -Wl,-E exports the Lua C API so Debian's Lua C modules load.
ALL_LDFLAGS := -Wl,-E $(LDFLAGS) $(SAN)
LIBS     := $(PKG_LIBS) -lm -lpthread -ldl -lutil -lcrypt

CORE_SRC := $(sort $(shell find src/common src/crypto src/ssh -name '*.c' 2>/dev/null))
BIND_SRC := $(sort $(wildcard src/uvio/*.c src/lua_bindings/*.c))
LUA_SRC  := $(sort $(shell find lua -name '*.lua' 2>/dev/null))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
BIND_OBJ := $(BIND_SRC:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ := $(BUILD)/obj/src/main.o
EMBED_OBJ := $(BUILD)/obj/gen/embedded_lua.o

CTEST_SRC := $(sort $(wildcard spec/c/test_*.c))
CTEST_BIN := $(CTEST_SRC:spec/c/%.c=$(BUILD)/test/%)

.PHONY: all deps build test asan fuzz bench demo clean ctest lint soak

all: build
build: $(BUILD)/luassh $(BUILD)/luassh.so

deps:
	@sh tools/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -MMD -MP -c $< -o $@

$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -Wall -Wextra $< -o $@

$(BUILD)/gen/embedded_lua.c: $(LUA_SRC) $(BUILD)/tools/embed
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed lua $(LUA_SRC) > $@.tmp && mv $@.tmp $@

$(EMBED_OBJ): $(BUILD)/gen/embedded_lua.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj/pic/gen/embedded_lua.o: $(BUILD)/gen/embedded_lua.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -c $< -o $@

$(BUILD)/libluassh_core.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/luassh: $(MAIN_OBJ) $(BIND_OBJ) $(EMBED_OBJ) $(BUILD)/libluassh_core.a
	$(CC) $(ALL_LDFLAGS) $^ $(LIBS) -o $@

# The same runtime as a Lua C module for stock lua5.4: require "luassh".
$(BUILD)/luassh.so: $(CORE_SRC:%.c=$(BUILD)/obj/pic/%.o) $(BIND_SRC:%.c=$(BUILD)/obj/pic/%.o) $(BUILD)/obj/pic/gen/embedded_lua.o
	$(CC) -shared $(SAN) $^ $(filter-out -llua5.4,$(LIBS)) -o $@

$(BUILD)/test/%: spec/c/%.c $(wildcard spec/c/*.h) $(BUILD)/libluassh_core.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-unused-parameter -Ispec/c $< $(BUILD)/libluassh_core.a $(ALL_LDFLAGS) $(LIBS) -lcmocka -o $@

ctest: $(CTEST_BIN)

test: deps
	@$(MAKE) --no-print-directory build ctest
	@sh tools/run-tests.sh $(BUILD)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    build ctest
	@LUASSH_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/tools/lsan.supp \
	    sh tools/run-tests.sh build-asan

fuzz: deps
	@sh tools/fuzz.sh

# Every kex x host key x cipher x MAC x compression (17,280 handshakes,
# each with three re-exchanges) between two cores.
soak: deps
	@$(MAKE) --no-print-directory build ctest
	LSH_FULL_MATRIX=1 $(BUILD)/test/test_transport

bench: deps
	@$(MAKE) --no-print-directory build
	@sh tools/bench.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory build
	@$(BUILD)/luassh scripts/demo.lua

lint:
	@$(MAKE) --no-print-directory clean-obj
	@$(MAKE) --no-print-directory CC=clang CFLAGS="-O2 -Werror" build ctest

clean-obj:
	rm -rf $(BUILD)/obj

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
