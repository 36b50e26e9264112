# aarch64: cross-builds the runtime's redirection and statics code with
# Debian's aarch64 cross compiler, with a test program and two patches, and
# runs it under qemu-user. Skipped with a message when either is missing.
#
#   make check-aarch64        (part of `make check`)

AARCH64_CC ?= aarch64-linux-gnu-gcc
AARCH64_QEMU ?= qemu-aarch64
AARCH64_SYSROOT ?= /usr/aarch64-linux-gnu
AARCH64_DIR = $(abspath $(BUILD))/aarch64
# The modules that touch code and data; session.c (jansson) is not needed.
AARCH64_RT := runtime/elfself.c runtime/redirect.c runtime/statics.c runtime/reload.c runtime/stopworld.c

.PHONY: check-aarch64
CHECK_EXTRA += check-aarch64

check-aarch64:
	@if ! command -v $(AARCH64_CC) >/dev/null 2>&1 || ! command -v $(AARCH64_QEMU) >/dev/null 2>&1; then \
	  echo "check-aarch64: skipped ($(AARCH64_CC) or $(AARCH64_QEMU) not installed)"; exit 0; fi; \
	set -e; mkdir -p $(AARCH64_DIR); \
	$(AARCH64_CC) -std=c11 $(WARN) -O2 -g -D_GNU_SOURCE -Iruntime -Itests/programs \
	  -rdynamic -o $(AARCH64_DIR)/rt_aarch64 tests/programs/rt_aarch64.c tests/programs/rt_basic_other.c \
	  $(AARCH64_RT) -ldl -lpthread; \
	bid=$$(readelf -n $(AARCH64_DIR)/rt_aarch64 | sed -n 's/.*Build ID: *//p'); \
	for tag in 200 300; do \
	  $(AARCH64_CC) -std=gnu11 -O2 -g -fPIC -shared -Iruntime -Itests/programs -DHOTC_BUILD_ID="\"$$bid\"" \
	    -DTAG=$$tag -o $(AARCH64_DIR)/patch$$tag.so tests/programs/rt_basic_patch.c; \
	done; \
	echo "== aarch64 (qemu-user): $(AARCH64_DIR)/rt_aarch64"; \
	$(AARCH64_QEMU) -L $(AARCH64_SYSROOT) $(AARCH64_DIR)/rt_aarch64 $(AARCH64_DIR)/patch200.so $(AARCH64_DIR)/patch300.so
