# Shared by the examples' Makefiles: builds $(PROG) from $(SRCS) against
# libhotc the way a user's project would: flags from `pkg-config hotc`,
# -g -O1 (symbols kept: never strip a program you want to reload), and a
# compile_commands.json so that the hotc server compiles patches with the
# same flags. Each example sets PROG, SRCS and optionally EXTRA_PKGS and
# EXTRA_LIBS, then includes this file.
#
#   make                          against the build tree ../../build (after
#                                 `make` at the top), else an installed hotc.pc
#   make HOTC_BUILD=/abs/build    against another build tree

EXAMPLES_DIR := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
# Objects are rebuilt when the example's Makefile or this file changes.
MAKEFILE_DEPS := $(abspath $(MAKEFILE_LIST))
HOTC_BUILD ?= $(abspath $(EXAMPLES_DIR)../build)
PKG_CONFIG := PKG_CONFIG_PATH=$(HOTC_BUILD)/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH)) pkg-config

ifeq ($(origin CC),default)
CC := gcc
endif
CFLAGS ?= -std=c11 -g -O1 -Wall -Wextra -Wshadow -Wpedantic -D_GNU_SOURCE
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags hotc $(EXTRA_PKGS))
PKG_LIBS := $(shell $(PKG_CONFIG) --libs hotc $(EXTRA_PKGS))
COMPILE := $(CC) $(CFLAGS) $(EXTRA_CFLAGS) $(PKG_CFLAGS)
OBJS := $(SRCS:.c=.o)

.PHONY: all clean
all: $(PROG) compile_commands.json

$(PROG): $(OBJS)
	$(CC) -o $@ $(OBJS) $(PKG_LIBS) $(EXTRA_LIBS)

%.o: %.c $(MAKEFILE_DEPS)
	$(COMPILE) -c $< -o $@

# One entry per source file, "arguments" form, the exact command used above.
comma := ,
empty :=
space := $(empty) $(empty)
json_args = $(subst $(space),$(comma) ,$(patsubst %,"%",$(strip $(1))))
json_entry = {"directory": "$(CURDIR)", "file": "$(1)", "arguments": [$(call json_args,$(COMPILE) -c $(1) -o $(1:.c=.o))]}

compile_commands.json: $(MAKEFILE_DEPS)
	@printf '%s\n' '[' '$(call json_entry,$(firstword $(SRCS)))$(foreach f,$(wordlist 2,999,$(SRCS)),$(comma) $(call json_entry,$(f)))' ']' > $@

clean:
	rm -f $(PROG) $(OBJS) compile_commands.json
