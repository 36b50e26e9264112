# The editor clients (editors/vscode, editors/nvim) and their tests against
# the real server (tests/editors/):
#
#   make vsix                   the VS Code extension, $(BUILD)/hotc-$(VERSION).vsix
#   make check-editors-protocol an independent LSP client (node --test) against $(HOTC)
#   make check-editors-nvim     Neovim headless with the plugin, against $(HOTC)
#   make check-editors-vscode   the real VS Code (code-server) in chromium, when installed
#   make check-editors          installs code-server & co (one time), then all of the above
#
# EDITOR_TESTS picks the test sets: "core" needs only the server; "pipeline"
# also needs the save-to-reload pipeline and a real program linked with
# libhotc. `make check` runs the sets in EDITOR_CHECK_TESTS.

EDITORS_VSCODE := editors/vscode
VSIX := $(BUILD)/hotc-$(VERSION).vsix
VSCODE_NPM_STAMP := $(EDITORS_VSCODE)/node_modules/.hotc-installed
PROTOCOL_DIR := tests/editors/protocol
PROTOCOL_NPM_STAMP := $(PROTOCOL_DIR)/node_modules/.hotc-installed
VSCODE_E2E_DIR := tests/editors/vscode
VSCODE_E2E_STAMP := $(VSCODE_E2E_DIR)/node_modules/.hotc-installed

# the sets `make check` runs; grows as the server does
EDITOR_CHECK_TESTS ?= core pipeline
EDITOR_TESTS ?= core pipeline

.PHONY: vsix check-editors check-editors-protocol check-editors-nvim check-editors-vscode \
	check-editors-vscode-if-installed check-editors-core editors-install

$(VSCODE_NPM_STAMP): $(EDITORS_VSCODE)/package.json $(EDITORS_VSCODE)/package-lock.json | $(DEPS_STAMP)
	cd $(EDITORS_VSCODE) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(PROTOCOL_NPM_STAMP): $(PROTOCOL_DIR)/package.json $(PROTOCOL_DIR)/package-lock.json | $(DEPS_STAMP)
	cd $(PROTOCOL_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(VSIX): $(VSCODE_NPM_STAMP) $(wildcard $(EDITORS_VSCODE)/src/*.ts) $(EDITORS_VSCODE)/package.json \
		$(EDITORS_VSCODE)/esbuild.mjs $(EDITORS_VSCODE)/tsconfig.json $(EDITORS_VSCODE)/README.md \
		$(EDITORS_VSCODE)/.vscodeignore
	cd $(EDITORS_VSCODE) && npx --no-install tsc --noEmit -p . && node esbuild.mjs
	@mkdir -p $(dir $@)
	cd $(EDITORS_VSCODE) && npx --no-install vsce package --no-dependencies --skip-license \
	  --allow-missing-repository -o $(abspath $@) >/dev/null
	@echo "wrote $@"

vsix: $(VSIX)

# TESTS overrides the sets for one run: make check-editors-protocol TESTS=pipeline
check-editors-protocol: $(HOTC) $(LIBHOTC_SO) $(PC_UNINSTALLED) $(PROTOCOL_NPM_STAMP)
	HOTC=$(abspath $(HOTC)) HOTC_BUILD_DIR=$(abspath $(BUILD)) \
	  node --test $(foreach t,$(or $(TESTS),$(EDITOR_TESTS)),$(PROTOCOL_DIR)/$(t).test.mjs)

check-editors-nvim: $(HOTC) $(LIBHOTC_SO) $(PC_UNINSTALLED) | $(DEPS_STAMP)
	tests/editors/nvim/run.sh $(BUILD) $(or $(TESTS),$(EDITOR_TESTS))

editors-install:
	$(VSCODE_E2E_DIR)/install.sh

check-editors-vscode: $(VSIX) $(HOTC)
	@test -f $(VSCODE_E2E_STAMP) || { echo "code-server is not installed: make check-editors installs it"; exit 1; }
	HOTC=$(abspath $(HOTC)) VSIX=$(abspath $(VSIX)) \
	  node $(VSCODE_E2E_DIR)/test.mjs $(or $(TESTS),$(EDITOR_TESTS))

# In `make check`: the VS Code test only when its one-time install was done.
check-editors-vscode-if-installed:
	@if [ -f $(VSCODE_E2E_STAMP) ] && [ -x /usr/bin/chromium ]; then \
	  $(MAKE) --no-print-directory check-editors-vscode TESTS="$(EDITOR_CHECK_TESTS)"; \
	else \
	  echo "skipped: the VS Code test (code-server is not installed; make check-editors installs it)"; \
	fi

check-editors: editors-install
	@$(MAKE) --no-print-directory check-editors-protocol check-editors-nvim check-editors-vscode

# what `make check` runs (see EDITOR_CHECK_TESTS)
check-editors-core:
	@$(MAKE) --no-print-directory check-editors-protocol check-editors-nvim TESTS="$(EDITOR_CHECK_TESTS)"
	@$(MAKE) --no-print-directory check-editors-vscode-if-installed

# Wired into `make check`: only what passes against the server as it is.
CHECK_EXTRA += vsix check-editors-core
