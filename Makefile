# sqlite-legrad build.  make | make test | make test-asan | make bench | make demo | make fuzz
# Everything is built under $(BUILD); the loadable extension is ./legrad0.so.
CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
SAN     ?=
PKGS    := openblas libcjson libutf8proc zlib sqlite3
# Evaluated when a recipe runs (=, not :=), so after `deps` has installed pkg-config and the packages.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS  ?= $(OPT) -g
# The engine's layers (docs/architecture.md): one folder each, all on the include path, so sources
# name headers by file name alone ("clip.h") and scripts/check_layers.sh checks the direction.
ENGINE_LAYERS := core io text model nn eval maps explain
ENGINE_INC := $(addprefix -Iengine/,$(ENGINE_LAYERS))
CFLAGS  += -std=c11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -fPIC \
           -D_GNU_SOURCE $(ENGINE_INC) $(PKG_CFLAGS) $(SAN)
LDLIBS  := -lopenblas -lcjson -lutf8proc -lstb -ljpeg -lwebpdemux -lwebp -lz -lm -lpthread
SQLITE_LIBS := -lsqlite3

ENGINE_SRC := $(sort $(wildcard engine/*/*.c))
ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o)
ENGINE_LIB := $(BUILD)/libclipengine.a
EXT_SRC    := $(sort $(wildcard ext/*.c))
EXT_OBJ    := $(EXT_SRC:%.c=$(BUILD)/%.o)
EXT_SO     := $(if $(filter build,$(BUILD)),legrad0.so,$(BUILD)/legrad0.so)
TEST_SRC   := $(sort $(wildcard tests/c/test_*.c))
TEST_BIN   := $(TEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
BENCH_SRC  := $(sort $(wildcard bench/*.c))
BENCH_BIN  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
HEADERS    := $(wildcard engine/*/*.h engine/*/*.inc ext/*.h tests/c/*.h fuzz/*.h)
FUZZ_SRC   := $(sort $(wildcard fuzz/*.c))
FUZZ_BIN   := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)
REPLAY_BIN := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/replay/%)

.PHONY: all deps test-deps fuzz-deps test test-c test-asan bench demo fuzz clean
all: deps $(ENGINE_LIB) $(if $(EXT_SRC),$(EXT_SO))

deps:
	@scripts/deps.sh build
test-deps:
	@scripts/deps.sh test

$(BUILD)/%.o: %.c $(HEADERS) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(ENGINE_LIB): $(ENGINE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(EXT_SO): $(EXT_OBJ) $(ENGINE_LIB)
	$(CC) $(CFLAGS) -shared -o $@ $(EXT_OBJ) $(ENGINE_LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/c/%.c $(ENGINE_LIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/c -o $@ $< $(ENGINE_LIB) $(LDLIBS)

# Corpus replays: each fuzz target linked with a plain main() (tests/c/fuzz_replay_main.c) and run
# over its committed corpus by tests/run.sh, so every input the fuzzers kept is a regression test.
$(BUILD)/replay/fuzz_sql_%: fuzz/fuzz_sql_%.c tests/c/fuzz_replay_main.c $(ENGINE_LIB) $(EXT_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DSQLITE_CORE -Iext -o $@ $< tests/c/fuzz_replay_main.c $(EXT_SRC) $(ENGINE_LIB) $(LDLIBS) $(SQLITE_LIBS) -ldl

$(BUILD)/replay/%: fuzz/%.c tests/c/fuzz_replay_main.c $(ENGINE_LIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< tests/c/fuzz_replay_main.c $(ENGINE_LIB) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(ENGINE_LIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(ENGINE_LIB) $(LDLIBS)

# Unit tests (C), SQL tests, Python tests, then the same under ASan+UBSan.
test: test-deps all $(TEST_BIN) $(REPLAY_BIN)
	@BUILD=$(BUILD) EXT_SO=$(EXT_SO) tests/run.sh
	@$(MAKE) --no-print-directory test-asan

test-c: all $(TEST_BIN) $(REPLAY_BIN)
	@BUILD=$(BUILD) EXT_SO=$(EXT_SO) tests/run.sh c

# Sanitizer run: every suite again, built with -fsanitize=address,undefined (OpenBLAS stays as shipped).
test-asan: test-deps
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  all $(TEST_SRC:tests/c/%.c=build/asan/tests/%) $(FUZZ_SRC:fuzz/%.c=build/asan/replay/%)
	@BUILD=build/asan EXT_SO=build/asan/legrad0.so SANITIZE=1 tests/run.sh

bench: all $(BENCH_BIN)
	@BUILD=$(BUILD) scripts/bench.sh

# A database from samples/ with plain SQL (sql/*.sql), LeGrad maps scored against the masks.
demo: all
	@scripts/demo.sh

# libFuzzer targets (clang): each fuzz/*.c is linked with the engine sources, built with ASan+UBSan
# (undefined behaviour halts, so it is reported as a finding).  The image decoders are instrumented
# too: stb_image and stb_image_write are compiled in (fuzz/thirdparty/stb.c), and libjpeg-turbo and
# libwebp (with libwebpdemux) are static libraries built from their Debian source packages by scripts/fuzz-deps.sh into
# $(THIRDPARTY); they replace -lstb -ljpeg -lwebp on the fuzz link line only.  See fuzz/README.md.
# Run one with e.g.  nice build/fuzz/fuzz_mapblob -max_total_time=60 fuzz/corpus/mapblob
THIRDPARTY   := build/thirdparty
FUZZ_CC      := clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 \
                -D_GNU_SOURCE -I$(THIRDPARTY)/include $(ENGINE_INC)
FUZZ_DECODE  := fuzz/thirdparty/stb.c $(THIRDPARTY)/lib/libjpeg.a $(THIRDPARTY)/lib/libwebpdemux.a \
                $(THIRDPARTY)/lib/libwebp.a
FUZZ_LDLIBS   = $(filter-out -lstb -ljpeg -lwebpdemux -lwebp,$(LDLIBS))
fuzz: fuzz-deps $(FUZZ_BIN)
fuzz-deps: $(THIRDPARTY)/stamp
$(THIRDPARTY)/stamp: scripts/fuzz-deps.sh
	@scripts/deps.sh fuzz
	@scripts/fuzz-deps.sh $(THIRDPARTY)

# SQL-level targets (fuzz/fuzz_sql_*.c) also compile the extension statically and link libsqlite3.
$(BUILD)/fuzz/fuzz_sql_%: fuzz/fuzz_sql_%.c $(ENGINE_SRC) $(EXT_SRC) $(HEADERS) $(THIRDPARTY)/stamp fuzz/thirdparty/stb.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -DSQLITE_CORE -Iext $(PKG_CFLAGS) -o $@ $< $(ENGINE_SRC) $(EXT_SRC) $(FUZZ_DECODE) \
	  $(FUZZ_LDLIBS) $(SQLITE_LIBS)

$(BUILD)/fuzz/%: fuzz/%.c $(ENGINE_SRC) $(HEADERS) $(THIRDPARTY)/stamp fuzz/thirdparty/stb.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(PKG_CFLAGS) -o $@ $< $(ENGINE_SRC) $(FUZZ_DECODE) $(FUZZ_LDLIBS)

clean:
	rm -rf build legrad0.so
