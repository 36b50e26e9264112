#!/usr/bin/env bash
# Runs the Neovim headless tests against the real server:
#   tests/editors/nvim/run.sh [BUILD_DIR] [test ...]   (tests: core pipeline)
# Each test is a Lua script run by `nvim --headless -u NONE` with the plugin
# (editors/nvim) first on 'runtimepath', in a private XDG_RUNTIME_DIR so that
# its server and programs meet no others.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build=$(cd "$repo" && cd "${1:-build}" && pwd)
shift || true
tests=${*:-core}

command -v nvim >/dev/null || { echo "nvim is not installed (tools/deps.sh base)" >&2; exit 1; }
[ -x "$build/hotc" ] || { echo "no server at $build/hotc: run make first" >&2; exit 1; }

failed=""
for t in $tests; do
  echo "== nvim: $t ($(nvim --version | head -1))"
  xdg=$(mktemp -d)
  chmod 700 "$xdg"
  HOTC_REPO=$repo HOTC=$build/hotc HOTC_BUILD_DIR=$build XDG_RUNTIME_DIR=$xdg \
    timeout 600 nvim --headless -u NONE -i NONE -n \
      --cmd "set rtp^=$repo/editors/nvim" --cmd "runtime plugin/hotc.lua" \
      -c "luafile $here/$t.lua" </dev/null
  rc=$?
  rm -rf "$xdg"
  [ $rc -eq 0 ] || failed="$failed $t"
done
if [ -n "$failed" ]; then
  echo "nvim tests FAILED:$failed"
  exit 1
fi
