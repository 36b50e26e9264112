# `make demo`, the examples, and their checks (included by the Makefile).
#
#   make demo              install what is missing, build, then live reloads
#                          driven as an editor would: examples/particles, then
#                          examples/game (a field added to its state struct
#                          live, state kept; a restart rebuilds it and hands
#                          the state back)
#   make demo DEMO=particles  one example only (DEMO is a list)
#   make demo DEMO=sdl     the same with the SDL2 example (Xvfb without $DISPLAY)
#   make demo DEMO=echo    the same with the automatic-mode example
#   make demo DEMO=game    the same with typed state: a struct changed live
#   make examples          build every example in its own directory
#   make check-demo        the demo's short mode (particles, echo, game): every step asserted
#   make check-demo-sdl    the SDL2 example under Xvfb (skipped without it);
#                          its screenshots in tests/out/sdl-shot-v*.png
#   make check-examples    build the examples with -Werror, run them briefly;
#                          examples/ledger also with CMake

DEMO ?= particles game
DEMO_BIN := $(BUILD)/demo/hotc-demo
DEMO_OBJ := $(BUILD)/obj/demo/demo.o
DEMO_WORK := $(BUILD)/demo/work
DEMO_ARGS = --hotc $(abspath $(HOTC)) --build $(abspath $(BUILD)) \
	--examples $(CURDIR)/examples --work $(abspath $(DEMO_WORK))
# The example Makefiles read EXTRA_CFLAGS from the environment.
EXAMPLE_ENV = EXTRA_CFLAGS="$(if $(filter 1,$(WERROR)),-Werror)"
EXAMPLES := particles echo sdl ledger game
HAVE_SDL = $(shell pkg-config --exists sdl2 && command -v xvfb-run >/dev/null && echo yes)

.PHONY: demo-run examples check-demo check-demo-sdl check-examples

$(DEMO_OBJ): demo/demo.c $(GRAMMAR_STAMP) $(FLAGS_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -c $< -o $@

# The demo plays the editor with the tests' LSP client (not Criterion).
DEMO_SUPPORT_OBJS := $(BUILD)/obj/tests/support/lspclient.o $(BUILD)/obj/tests/support/run.o

$(DEMO_BIN): $(DEMO_OBJ) $(DEMO_SUPPORT_OBJS) $(LSP_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $(DEMO_OBJ) $(DEMO_SUPPORT_OBJS) $(LSP_LIB) $(PKG_LIBS) -lm

# Like `check`: the packages first (as root, installed), then the build.
demo: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory demo-run

demo-run: all $(DEMO_BIN)
	@for d in $(DEMO); do \
	  if [ "$$d" = sdl ] && [ -z "$$DISPLAY" ]; then wrap="xvfb-run -a"; else wrap=""; fi; \
	  $(EXAMPLE_ENV) $$wrap $(DEMO_BIN) $(DEMO_ARGS) --example $$d || exit 1; \
	done

examples: all
	@for e in $(EXAMPLES); do \
	  $(EXAMPLE_ENV) $(MAKE) --no-print-directory -C examples/$$e HOTC_BUILD=$(abspath $(BUILD)) || exit 1; \
	done

# The particles example (poll mode) and the echo example (automatic mode,
# blocked in read) through the whole chain, every step asserted.
check-demo: all $(DEMO_BIN)
	@echo "== demo (short mode): particles"
	@$(EXAMPLE_ENV) $(DEMO_BIN) $(DEMO_ARGS) --check --example particles
	@echo "== demo (short mode): echo, automatic mode"
	@$(EXAMPLE_ENV) $(DEMO_BIN) $(DEMO_ARGS) --check --example echo
	@echo "== demo (short mode): game, a struct changed under typed state"
	@$(EXAMPLE_ENV) $(DEMO_BIN) $(DEMO_ARGS) --check --example game

# Its screenshots (one per version the program ran) are kept in tests/out/
# for a person to look at, as PNG (demo/bmp2png.mjs) or, without node, BMP.
SDL_SHOTS := $(DEMO_WORK)/sdl/shots
SHOTS_OUT := tests/out

check-demo-sdl: all $(DEMO_BIN)
ifeq ($(HAVE_SDL),yes)
	@echo "== demo with the SDL2 example under Xvfb"
	@rm -f $(SDL_SHOTS)/shot-v*.bmp $(SHOTS_OUT)/sdl-shot-v*.png $(SHOTS_OUT)/sdl-shot-v*.bmp
	@$(EXAMPLE_ENV) xvfb-run -a $(DEMO_BIN) $(DEMO_ARGS) --check --example sdl
	@mkdir -p $(SHOTS_OUT); for f in $(SDL_SHOTS)/shot-v*.bmp; do \
	  out=$(SHOTS_OUT)/sdl-$$(basename $$f .bmp); \
	  if command -v node >/dev/null; then node demo/bmp2png.mjs $$f $$out.png || exit 1; echo "    screenshot: $$out.png"; \
	  else cp $$f $$out.bmp; echo "    screenshot: $$out.bmp"; fi; \
	done
else
	@echo "check-demo-sdl: skipped (needs libsdl2-dev and xvfb)"
endif

# Each example built out of tree (in $(BUILD)/examples/NAME) with the
# project's warnings as errors, then run without a server: the programs must
# work normally when nothing is listening.
check-examples: all
	@set -e; for e in $(EXAMPLES); do \
	  if [ $$e = sdl ] && [ "$(HAVE_SDL)" != yes ]; then echo "check-examples: sdl skipped (needs libsdl2-dev and xvfb)"; continue; fi; \
	  d=$(abspath $(BUILD))/examples/$$e; mkdir -p $$d; cp examples/$$e/*.[ch] $$d/; \
	  EXTRA_CFLAGS=-Werror $(MAKE) -s --no-print-directory -C $$d -f $(CURDIR)/examples/$$e/Makefile \
	    HOTC_BUILD=$(abspath $(BUILD)); \
	done
	@out=$$(HOTC_ENDPOINT=unix:/nonexistent timeout 60 $(BUILD)/examples/particles/particles --plain --frames 30 --max-frames 60); \
	  echo "$$out" | grep -q '^frame=60 score=60 points=1 version=0 ' \
	  || { echo "check-examples: particles printed: $$out"; exit 1; }
	@out=$$(printf 'one\ntwo\n' | HOTC_ENDPOINT=unix:/nonexistent timeout 60 $(BUILD)/examples/echo/echo 2>&1); \
	  echo "$$out" | grep -q '^#2 v0 echo: two$$' \
	  || { echo "check-examples: echo printed: $$out"; exit 1; }
	@out=$$(HOTC_ENDPOINT=unix:/nonexistent timeout 60 $(BUILD)/examples/ledger/ledger --period 1 --ticks 30); \
	  echo "$$out" | grep -q '^tick=30 units=30 in=3 out=2 filled=60 audit=25 price=374 trend=8 last=receive tag=a version=0$$' \
	  || { echo "check-examples: ledger printed: $$out"; exit 1; }
	@d=$(abspath $(BUILD))/examples/ledger-cmake; rm -rf $$d; \
	  PKG_CONFIG_PATH=$(abspath $(BUILD))/pkgconfig cmake -S examples/ledger -B $$d -DCMAKE_C_FLAGS=-Werror >$$d.log 2>&1 \
	  && cmake --build $$d >>$$d.log 2>&1 && grep -q 'LEDGER_WIDE_MONEY=1' $$d/compile_commands.json \
	  && HOTC_ENDPOINT=unix:/nonexistent timeout 60 $$d/ledger --period 1 --ticks 3 | grep -q '^tick=3 ' \
	  || { echo "check-examples: ledger with cmake failed:"; cat $$d.log; exit 1; }
ifeq ($(HAVE_SDL),yes)
	@out=$$(HOTC_ENDPOINT=unix:/nonexistent timeout 60 xvfb-run -a $(BUILD)/examples/sdl/sdl --frames 30 --max-frames 30); \
	  echo "$$out" | grep -q '^frame=30 version=0 .*pixel=203040' \
	  || { echo "check-examples: sdl printed: $$out"; exit 1; }
endif
	@echo "examples built and ran"

CHECK_EXTRA += check-examples check-demo check-demo-sdl
