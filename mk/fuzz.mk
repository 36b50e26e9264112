# make fuzz: the libFuzzer targets in fuzz/ (docs/security.md), built with
# Debian's clang under ASan + UBSan into $(BUILD)/fuzz, each run for
# FUZZ_SECONDS (default 60) from its committed seeds (fuzz/corpus/<name>),
# one after the other. New inputs go to $(BUILD)/fuzz/corpus/<name>, crashes
# to $(BUILD)/fuzz/artifacts/. `make check` runs check-fuzz: 20 s each,
# under two minutes in all. FUZZ_RUNS=N runs N inputs instead of a time.
#
#   make fuzz FUZZ_SECONDS=600
#   make fuzz-run FUZZ_TARGET=server FUZZ_SECONDS=60
#   $(BUILD)/fuzz/fuzz_frame CRASH_FILE      replays one input

FUZZ_TARGETS := frame server edit runtime
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_CC := clang
FUZZ_SECONDS ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# ASan at run time. The quarantine (memory held back after free so that a
# use after free is caught) is 16 MiB instead of 256: several thousand
# inputs' worth of frees, while a full one kept every allocation on fresh,
# page-faulting memory and made the server and edit targets 1.5x slower.
FUZZ_ASAN_OPTIONS := detect_leaks=1:allocator_may_return_null=1:quarantine_size_mb=16
FUZZ_CFLAGS = -std=c11 $(WARN) -g -O1 -D_GNU_SOURCE $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_LSP_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(filter-out lsp/main.c,$(LSP_SRCS)))
FUZZ_RT_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(RT_SRCS))
FUZZ_GRAMMAR_OBJ := $(FUZZ_DIR)/obj/grammar/parser.o
FUZZ_BINS := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))
# per target: the longest input, and the inputs of one run
FUZZ_MAXLEN_frame := 4096
FUZZ_MAXLEN_server := 16384
FUZZ_MAXLEN_edit := 8192
FUZZ_MAXLEN_runtime := 32768

.PHONY: fuzz fuzz-build fuzz-run check-fuzz

$(FUZZ_DIR)/obj/lsp/%.o: lsp/%.c $(GRAMMAR_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Ilsp -I$(GRAMMAR_SRC) $(PKG_CFLAGS) -DHOTC_VERSION=\"$(VERSION)\" -c $< -o $@

$(FUZZ_DIR)/obj/runtime/%.o: runtime/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fPIC -fvisibility=hidden -Iruntime -DHOTC_VERSION=\"$(VERSION)\" -c $< -o $@

# The grammar's generated parser: optimised, no sanitizer, no coverage, like
# the tree-sitter library it plugs into (Debian's, uninstrumented): its
# tables are not code paths worth steering towards, and instrumented they
# made every parse, most of each server and edit input, 1.2x slower.
$(FUZZ_GRAMMAR_OBJ): $(GRAMMAR_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -O2 -g -w -fPIC -I$(GRAMMAR_SRC) -c $(GRAMMAR_SRC)/parser.c -o $@

FUZZ_LINK = $(FUZZ_CC) -g $(FUZZ_SAN) -fsanitize=fuzzer

$(FUZZ_DIR)/fuzz_frame: fuzz/fuzz_frame.c $(FUZZ_DIR)/obj/lsp/frame.o
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Ilsp -c $< -o $@.o
	$(FUZZ_LINK) -o $@ $@.o $(FUZZ_DIR)/obj/lsp/frame.o

# Tree-sitter's memory: glibc's allocator, counted (fuzz/tsalloc.c).
$(FUZZ_DIR)/tsalloc.o: fuzz/tsalloc.c fuzz/tsalloc.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/fuzz_server $(FUZZ_DIR)/fuzz_edit: $(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c fuzz/tsalloc.h $(FUZZ_DIR)/tsalloc.o \
    $(FUZZ_LSP_OBJS) $(FUZZ_GRAMMAR_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Ilsp -I$(GRAMMAR_SRC) $(PKG_CFLAGS) -c $< -o $@.o
	$(FUZZ_LINK) -o $@ $@.o $(FUZZ_DIR)/tsalloc.o $(FUZZ_LSP_OBJS) $(FUZZ_GRAMMAR_OBJ) $(PKG_LIBS) -lm

# session_requests.c is included by the target itself.
$(FUZZ_DIR)/fuzz_runtime: fuzz/fuzz_runtime.c runtime/session_requests.c runtime/session_impl.h \
    $(filter-out %/session_requests.o,$(FUZZ_RT_OBJS))
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fvisibility=hidden -Iruntime -DHOTC_VERSION=\"$(VERSION)\" -c $< -o $@.o
	$(FUZZ_LINK) -o $@ $@.o $(filter-out %/session_requests.o,$(FUZZ_RT_OBJS)) $(RT_LIBS)

fuzz-build: $(FUZZ_BINS)

# One target: FUZZ_TARGET=name, for FUZZ_SECONDS (or FUZZ_RUNS inputs).
fuzz-run: $(FUZZ_DIR)/fuzz_$(FUZZ_TARGET)
	@mkdir -p $(FUZZ_DIR)/corpus/$(FUZZ_TARGET) $(FUZZ_DIR)/artifacts
	@echo "== fuzz_$(FUZZ_TARGET): $(if $(FUZZ_RUNS),$(FUZZ_RUNS) inputs,$(FUZZ_SECONDS) s)"
	ASAN_OPTIONS=$(FUZZ_ASAN_OPTIONS) UBSAN_OPTIONS=print_stacktrace=1 \
	  $(FUZZ_DIR)/fuzz_$(FUZZ_TARGET) -max_len=$(FUZZ_MAXLEN_$(FUZZ_TARGET)) -timeout=20 -rss_limit_mb=2048 \
	  -print_final_stats=1 $(if $(FUZZ_RUNS),-runs=$(FUZZ_RUNS),-max_total_time=$(FUZZ_SECONDS)) \
	  -artifact_prefix=$(FUZZ_DIR)/artifacts/$(FUZZ_TARGET)- \
	  $(FUZZ_DIR)/corpus/$(FUZZ_TARGET) fuzz/corpus/$(FUZZ_TARGET)

fuzz: $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
	  $(MAKE) --no-print-directory fuzz-run FUZZ_TARGET=$$t || exit 1; \
	done

# Part of make check: a short run of every target (20 s each; with start-up
# and exit about 90 s in all on a loaded machine, plus the first build).
check-fuzz: $(DEPS_STAMP)
	@if ! command -v $(FUZZ_CC) >/dev/null || \
	    ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then \
	  echo "check-fuzz: clang or libclang-rt-14-dev missing; skipped (tools/deps.sh installs them)"; \
	else $(MAKE) --no-print-directory fuzz FUZZ_SECONDS=20 FUZZ_RUNS=; fi

CHECK_EXTRA += check-fuzz
