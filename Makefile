# hotc: hot code reloading for C, driven from the editor.
#
#   make                 build hotc (the server), libhotc (static + shared), hotc.pc
#   make check           install what is missing, build, run every test
#   make check SANITIZE=1  the same under ASan + UBSan (build/san/)
#   make demo            a live reload of an example program, no editor needed
#   make bench           reload timings (docs/performance.md)
#   make install PREFIX=/usr/local
#
# Under CI (CI=1, set by .ci/run) warnings are errors and `make check` also
# runs the sanitizer pass.

.DEFAULT_GOAL := all
SHELL := /bin/bash

PREFIX ?= /usr/local
VERSION := 0.1.0
CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SANFLAGS :=
endif

WERROR ?= $(if $(CI),1,0)
WARN := -Wall -Wextra -Wshadow -Wpedantic $(if $(filter 1,$(WERROR)),-Werror)
OPT ?= -O2 -g
CFLAGS_BASE := -std=c11 $(WARN) $(OPT) $(SANFLAGS) -D_GNU_SOURCE -MMD -MP

DEPS_STAMP := build/.deps-base
GRAMMAR_DIR := lsp/grammar
GRAMMAR_SRC := $(GRAMMAR_DIR)/node_modules/tree-sitter-c/src
GRAMMAR_STAMP := $(GRAMMAR_DIR)/node_modules/.hotc-installed

PKGS := libuv jansson tree-sitter libdw
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# ---------------------------------------------------------------- sources

LSP_SRCS := $(sort $(wildcard lsp/*.c))
LSP_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(LSP_SRCS))
LSP_LIB_OBJS := $(filter-out $(BUILD)/obj/lsp/main.o,$(LSP_OBJS))
RT_SRCS := $(sort $(wildcard runtime/*.c))
RT_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(RT_SRCS))
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
TEST_HELPER_SRCS := $(sort $(wildcard tests/support/*.c))
TEST_HELPER_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(TEST_HELPER_SRCS))

HOTC := $(BUILD)/hotc
LIBHOTC_A := $(BUILD)/libhotc.a
LIBHOTC_SO := $(BUILD)/libhotc.so
LSP_LIB := $(BUILD)/libhotc-server.a
GRAMMAR_OBJ := $(BUILD)/obj/grammar/parser.o
PC_UNINSTALLED := $(BUILD)/pkgconfig/hotc.pc

LSP_CFLAGS = $(CFLAGS_BASE) -Ilsp -I$(GRAMMAR_SRC) $(PKG_CFLAGS) -DHOTC_VERSION=\"$(VERSION)\"
RT_CFLAGS = $(CFLAGS_BASE) -fPIC -fvisibility=hidden -Iruntime $(shell pkg-config --cflags jansson 2>/dev/null) \
	-DHOTC_VERSION=\"$(VERSION)\"
RT_LIBS := $(shell pkg-config --libs jansson 2>/dev/null) -ldl -lpthread
TEST_CFLAGS = $(CFLAGS_BASE) -Ilsp -Iruntime -Itests/support -I$(GRAMMAR_SRC) $(PKG_CFLAGS) \
	-DHOTC_SOURCE_DIR=\"$(CURDIR)\" -DHOTC_BUILD_DIR=\"$(abspath $(BUILD))\" -DHOTC_VERSION=\"$(VERSION)\"
TEST_LIBS = $(PKG_LIBS) -lcriterion $(RT_LIBS) -lm

# ---------------------------------------------------------------- targets

.PHONY: all deps grammar check check-unit check-run demo bench install uninstall clean distclean \
	check-editors format lint
all: $(HOTC) $(LIBHOTC_A) $(LIBHOTC_SO) $(PC_UNINSTALLED)

# Debian packages: checked once, then only again when the list changes.
# Objects depend on the flags they were built with, so that switching CI,
# WERROR or OPT rebuilds them.
FLAGS_STAMP := $(BUILD)/.flags
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(CFLAGS_BASE)' | cmp -s - $@ || echo '$(CFLAGS_BASE)' > $@
.PHONY: FORCE
FORCE:

$(DEPS_STAMP): tools/deps.sh
	@tools/deps.sh base
	@mkdir -p $(dir $@) && touch $@
deps: $(DEPS_STAMP)

# The tree-sitter C grammar: installed from npm at the version locked in
# lsp/grammar/package-lock.json, compiled from its parser.c, never committed.
$(GRAMMAR_STAMP): $(GRAMMAR_DIR)/package.json $(GRAMMAR_DIR)/package-lock.json | $(DEPS_STAMP)
	cd $(GRAMMAR_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@
grammar: $(GRAMMAR_STAMP)

$(GRAMMAR_OBJ): $(GRAMMAR_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -g -w $(SANFLAGS) -fPIC -I$(GRAMMAR_SRC) -c $(GRAMMAR_SRC)/parser.c -o $@

$(BUILD)/obj/lsp/%.o: lsp/%.c $(GRAMMAR_STAMP) $(FLAGS_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(LSP_CFLAGS) -c $< -o $@

$(BUILD)/obj/runtime/%.o: runtime/%.c $(FLAGS_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(RT_CFLAGS) -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/%.c $(GRAMMAR_STAMP) $(FLAGS_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -c $< -o $@

$(LSP_LIB): $(LSP_LIB_OBJS) $(GRAMMAR_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(HOTC): $(BUILD)/obj/lsp/main.o $(LSP_LIB)
	$(CC) $(SANFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(LIBHOTC_A): $(RT_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(LIBHOTC_SO): $(RT_OBJS)
	$(CC) $(SANFLAGS) -shared -Wl,-soname,libhotc.so.0 -o $@ $^ $(RT_LIBS)
	ln -sf libhotc.so $(BUILD)/libhotc.so.0

# pkg-config file for programs built against this build tree (tests, examples,
# the demo); `make install` writes the installed one from the same template.
pc_subst = sed -e 's|@prefix@|$(1)|' -e 's|@includedir@|$(2)|' -e 's|@libdir@|$(3)|' \
	-e 's|@version@|$(VERSION)|' runtime/hotc.pc.in

$(PC_UNINSTALLED): runtime/hotc.pc.in Makefile
	@mkdir -p $(dir $@)
	@$(call pc_subst,$(CURDIR),$(CURDIR)/runtime,$(abspath $(BUILD))) > $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_HELPER_OBJS) $(LSP_LIB) $(LIBHOTC_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -rdynamic -o $@ $< $(TEST_HELPER_OBJS) $(LSP_LIB) $(LIBHOTC_A) $(TEST_LIBS)

# ---------------------------------------------------------------- checks
#
# Fragments in mk/*.mk add their own check targets to CHECK_EXTRA (editors,
# examples and demo, aarch64); each is skipped with a message when its tools
# are missing, unless it installs them itself.
CHECK_EXTRA :=
-include mk/*.mk

# Every Criterion binary, one after the other; the names of the failing ones
# are listed at the end. TEST=name runs just that one.
check-unit: all $(TEST_BINS)
	@failed=""; \
	for t in $(if $(TEST),$(BUILD)/tests/$(TEST),$(TEST_BINS)); do \
	  echo "== $$t"; \
	  HOTC_BUILD_DIR=$(abspath $(BUILD)) LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	    $$t --jobs 2 || failed="$$failed $$(basename $$t)"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi; \
	echo "all unit and end-to-end tests passed ($(BUILD))"

check-run: check-unit $(CHECK_EXTRA)

# Under CI the VS Code end-to-end test's one-time install runs first, so that
# check-run includes it (locally it runs when installed: make check-editors).
check: $(DEPS_STAMP)
ifneq ($(CI),)
	@$(MAKE) --no-print-directory editors-install
endif
	@$(MAKE) --no-print-directory check-run
ifneq ($(CI),)
ifneq ($(SANITIZE),1)
	@$(MAKE) --no-print-directory SANITIZE=1 check-unit
endif
endif

# ---------------------------------------------------------------- install

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(HOTC) $(DESTDIR)$(PREFIX)/bin/hotc
	install -m 0644 $(LIBHOTC_A) $(DESTDIR)$(PREFIX)/lib/libhotc.a
	install -m 0755 $(LIBHOTC_SO) $(DESTDIR)$(PREFIX)/lib/libhotc.so.0
	ln -sf libhotc.so.0 $(DESTDIR)$(PREFIX)/lib/libhotc.so
	install -m 0644 runtime/hot.h $(DESTDIR)$(PREFIX)/include/hot.h
	$(call pc_subst,$(PREFIX),$(PREFIX)/include,$(PREFIX)/lib) > $(DESTDIR)$(PREFIX)/lib/pkgconfig/hotc.pc
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/pkgconfig/hotc.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/hotc $(DESTDIR)$(PREFIX)/lib/libhotc.a \
	  $(DESTDIR)$(PREFIX)/lib/libhotc.so $(DESTDIR)$(PREFIX)/lib/libhotc.so.0 \
	  $(DESTDIR)$(PREFIX)/include/hot.h $(DESTDIR)$(PREFIX)/lib/pkgconfig/hotc.pc

clean:
	rm -rf build

distclean: clean
	rm -rf $(GRAMMAR_DIR)/node_modules

format:
	clang-format -i lsp/*.c lsp/*.h runtime/*.c runtime/*.h tests/*.c

.SECONDARY:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
