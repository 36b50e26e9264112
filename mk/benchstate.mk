# make bench-state (also run by make bench): the pause a program sees when
# a reload migrates 10 MB of typed state blocks at the safe point
# (bench/state.c, against the runtime's own hooks_migrate). STATE_RUNS=N
# (default 7).
STATE_BIN := $(BUILD)/bench/state
STATE_RUNS ?= 7

.PHONY: bench-state

$(STATE_BIN): bench/state.c $(LIBHOTC_A) $(FLAGS_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O2 -Iruntime -o $@ bench/state.c $(LIBHOTC_A) $(RT_LIBS)

bench-state: all $(STATE_BIN)
	$(STATE_BIN) $(STATE_RUNS)

bench: bench-state
