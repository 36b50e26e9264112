#!/usr/bin/env bash
# Checks that what hotc needs is installed and, as root, installs what is
# missing from Debian's packages. Not root and something missing: prints the
# exact command to run and fails. Quiet when everything is there.
#
#   tools/deps.sh base      build + tests (make, make check, make demo)
#   tools/deps.sh editors   the VS Code end-to-end test (make check-editors)
#
# HOTC_DEPS_EXTRA adds package names to the group (used by the tests).
set -u

group=${1:-base}

base_pkgs="gcc make pkg-config libuv1-dev libjansson-dev libtree-sitter-dev
  libcriterion-dev tcc neovim gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  qemu-user clang python3 python3-jsonschema binutils file
  libsdl2-dev xvfb xauth libdw-dev libelf-dev gdb cmake bear libclang-rt-14-dev"
editor_pkgs="chromium ripgrep libkrb5-dev xvfb"

case "$group" in
  base) pkgs="$base_pkgs ${HOTC_DEPS_EXTRA:-}" ;;
  editors) pkgs="$editor_pkgs ${HOTC_DEPS_EXTRA:-}" ;;
  *) echo "deps.sh: unknown group '$group' (base or editors)" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
  case "$status" in
    *"install ok installed"*) ;;
    *) missing="$missing $p" ;;
  esac
done
# Node.js and npm come from the machine when present (Node 20 is expected for
# the editor tooling); otherwise Debian's packages.
if ! command -v npm >/dev/null 2>&1; then
  missing="$missing nodejs npm"
fi

if [ -z "$missing" ]; then
  exit 0
fi

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
  echo "hotc: missing packages:$missing" >&2
  echo "hotc: install them as root with:" >&2
  echo "  sudo sh -c '$cmd'" >&2
  exit 1
fi

echo "hotc: installing missing packages:$missing"
# Only update the package lists when an install from the current lists fails.
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi
