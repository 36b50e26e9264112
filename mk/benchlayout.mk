# make bench-layout (also run by make bench): what the layout check costs
# (bench/layout.c): the patch compile with and without the flags the check
# needs, compat_check per reload, and reading the DWARF of a ~5 MB
# executable at first attach. LAYOUT_RUNS=N (default 11).
LAYOUT_BIN := $(BUILD)/bench/layout
LAYOUT_RUNS ?= 11

.PHONY: bench-layout

$(LAYOUT_BIN): bench/layout.c tests/support/run.c $(LSP_LIB) $(FLAGS_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ bench/layout.c tests/support/run.c $(LSP_LIB) $(PKG_LIBS)

bench-layout: all $(LAYOUT_BIN)
	@mkdir -p $(BUILD)/bench
	$(LAYOUT_BIN) $(abspath $(BUILD)/bench) $(LAYOUT_RUNS)

bench: bench-layout
