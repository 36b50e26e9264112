# make bench: reload timings (docs/performance.md); make bench-micro: the server's own work in-process (below). For generated sources of
# about 200, 2,000 and 20,000 lines (bench/gen.py) with one HOT function
# changed: the median time from didSave to the runtime's "applied", split
# into analysis, patch, compile, load and apply, with gcc and with tcc; the
# whole file compiled into a shared library; rebuild and restart.
# "real": the real-looking case (bench/gen_real.py). Each row has its patch
# compile over an empty file's with the same flags; then the server's RSS
# over BENCH_RELOADS reloads (default 1,000) and with 100 open files; the
# keystroke table between them.
# BENCH_RUNS=N sets the number of reloads per case (default 11).
BENCH_DIR := $(BUILD)/bench
BENCH_SIZES := 200 2000 20000
BENCH_BIN := $(BUILD)/bench/bench

$(BENCH_BIN): bench/bench.c tests/support/lspclient.c tests/support/run.c $(LSP_LIB) $(FLAGS_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ bench/bench.c tests/support/lspclient.c tests/support/run.c $(LSP_LIB) $(PKG_LIBS) -lm

bench: all $(BENCH_BIN)
	@mkdir -p $(BENCH_DIR)
	$(BENCH_BIN) $(abspath $(BUILD)) $(abspath $(BENCH_DIR)) $(BENCH_SIZES) real

# make bench-keys: only the keystroke table (the server's loop time per
# didChange at 200, 2,000 and 20,000 lines; BENCH_KEYS=N keystrokes);
# make bench-memory: only the memory tables (BENCH_RELOADS=N reloads).
.PHONY: bench-keys bench-memory

bench-keys: all $(BENCH_BIN)
	@mkdir -p $(BENCH_DIR)
	$(BENCH_BIN) $(abspath $(BUILD)) $(abspath $(BENCH_DIR)) keys

bench-memory: all $(BENCH_BIN)
	@mkdir -p $(BENCH_DIR)
	$(BENCH_BIN) $(abspath $(BUILD)) $(abspath $(BENCH_DIR)) memory

# make bench-micro: analysis_run, a keystroke (edit + reparse + analysis) and
# patch_build on generated files, in-process (bench/micro.c). MICRO_RUNS=N.
MICRO_BIN := $(BUILD)/bench/micro
MICRO_RUNS ?= 21

.PHONY: bench-micro

$(MICRO_BIN): bench/micro.c tests/support/run.c $(LSP_LIB) $(FLAGS_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ bench/micro.c tests/support/run.c $(LSP_LIB) $(PKG_LIBS)

bench-micro: all $(MICRO_BIN)
	@mkdir -p $(BENCH_DIR)/gen
	for n in $(BENCH_SIZES); do /usr/bin/python3 bench/gen.py $$n $(BENCH_DIR)/gen/gen$$n.c || exit 1; done
	$(MICRO_BIN) -n $(MICRO_RUNS) $(foreach n,$(BENCH_SIZES),$(BENCH_DIR)/gen/gen$(n).c)

# make patchcheck DB=path/to/compile_commands.json: every function of every
# file of a project taken as the one to reload; its patch built and compiled
# with the file's own flags; fails when a patch does not compile where its
# file does (bench/patchcheck.c). ONLY=substring limits the files, EVERY=N
# takes one function in N of each file (for very big files).
PATCHCHECK_BIN := $(BUILD)/bench/patchcheck

.PHONY: patchcheck

$(PATCHCHECK_BIN): bench/patchcheck.c tests/support/run.c $(LSP_LIB) $(FLAGS_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ bench/patchcheck.c tests/support/run.c $(LSP_LIB) $(PKG_LIBS)

patchcheck: all $(PATCHCHECK_BIN)
	@test -n "$(DB)" || { echo "usage: make patchcheck DB=path/to/compile_commands.json [ONLY=substring] [EVERY=n]"; exit 2; }
	$(PATCHCHECK_BIN) $(if $(ONLY),--only $(ONLY)) $(if $(EVERY),--every $(EVERY)) $(DB)

# Part of make check: the same check on this repository's own C (the patch
# builder's fixtures and the examples), tools/patchcheck-self.sh.
.PHONY: check-patchcheck
check-patchcheck: all $(PATCHCHECK_BIN)
	@echo "== patchcheck: every function of the patch fixtures and the examples"
	@sh tools/patchcheck-self.sh $(PATCHCHECK_BIN) $(BUILD)/patchcheck-self 90

CHECK_EXTRA += check-patchcheck
