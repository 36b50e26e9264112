#!/usr/bin/env bash
# Installs what the VS Code end-to-end test needs, inside this directory only:
# code-server (the real VS Code, served to a browser) and playwright-core, at
# the versions locked in package-lock.json, plus Debian's chromium, ripgrep,
# libkrb5-dev and xvfb (tools/deps.sh editors).
#
# code-server's postinstall installs VS Code's own dependencies, and one of
# them (@vscode/ripgrep) downloads a ripgrep binary from the internet, which
# is not reachable here. Its downloader first looks for a cached tarball in
# $TMPDIR/vscode-ripgrep-cache-<package version>/, so we put one there, made
# from Debian's rg, in a private TMPDIR. Its native modules are built with
# node-gyp through npx, which needs npm's `yes` config to be true.
#
# Quiet and quick when everything is already installed (a stamp records the
# lock file it was installed from).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
stamp=$here/node_modules/.hotc-installed

"$root/tools/deps.sh" editors

if [ -f "$stamp" ] && cmp -s "$stamp" "$here/package-lock.json" \
   && [ -x "$here/node_modules/.bin/code-server" ] \
   && [ -d "$here/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin" ]; then
  exit 0
fi

start=$(date +%s)
cd "$here"
echo "hotc: installing code-server and playwright-core for the VS Code test (one time, several minutes)"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

case "$(uname -m)" in
  x86_64) target=x86_64-unknown-linux-musl ;;
  aarch64) target=aarch64-unknown-linux-musl ;;
  *) echo "hotc: no ripgrep target known for $(uname -m)" >&2; exit 1 ;;
esac
rg_release=${HOTC_RG_RELEASE:-v13.0.0-10}
rg=$(command -v rg) || { echo "hotc: ripgrep (rg) is not installed" >&2; exit 1; }

tmp=$here/node_modules/.hotc-tmp
rm -rf "$tmp"
mkdir -p "$tmp/rg"
cp "$rg" "$tmp/rg/rg"
# Every @vscode/ripgrep version VS Code's lock files name gets a cache entry.
versions=$(grep -h -A1 '"node_modules/@vscode/ripgrep"' \
    node_modules/code-server/lib/vscode/npm-shrinkwrap.json \
    node_modules/code-server/lib/vscode/extensions/npm-shrinkwrap.json 2>/dev/null \
  | sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' | sort -u)
[ -n "$versions" ] || { echo "hotc: cannot find @vscode/ripgrep's version in code-server" >&2; exit 1; }
for v in $versions; do
  mkdir -p "$tmp/vscode-ripgrep-cache-$v"
  tar -czf "$tmp/vscode-ripgrep-cache-$v/ripgrep-$rg_release-$target.tar.gz" -C "$tmp/rg" rg
done

# The install scripts, now that the cache is there: argon2 builds its native
# module, code-server's postinstall installs lib/vscode's and its extensions'
# dependencies and builds theirs.
TMPDIR=$tmp npm_config_yes=true npm rebuild --unsafe-perm --foreground-scripts \
  --no-audit --no-fund --loglevel=error
rm -rf "$tmp"

[ -d node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin ] \
  || { echo "hotc: code-server's install did not complete (no ripgrep)" >&2; exit 1; }
cp package-lock.json "$stamp"
echo "hotc: code-server installed in $(( $(date +%s) - start )) s"
