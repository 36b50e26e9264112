#!/bin/sh
# make check-patchcheck: the patch builder's invariant (a patch compiles
# whenever its file does) checked on this repository's own C: every
# function of every patch-builder fixture (tests/fixtures/patch) and of
# every example (examples/) is taken in turn as the one function to reload,
# and its patch is compiled with the file's flags (bench/patchcheck.c).
# Fails when a patch fails or warns beyond its file, when a file does not
# compile (then its functions would go unchecked), or when fewer functions
# than MIN_FUNCTIONS were taken.
#
#   tools/patchcheck-self.sh PATCHCHECK_BIN WORK_DIR MIN_FUNCTIONS
set -eu
bin=$1 work=$2 min=$3
top=$(pwd)
mkdir -p "$work"
db=$work/compile_commands.json
cc=${CC:-gcc}
[ "$cc" = cc ] && cc=gcc
sep=
{
    echo "["
    for f in "$top"/tests/fixtures/patch/*/input.c "$top"/examples/*/*.c; do
        d=$(dirname "$f")
        # the SDL example needs SDL's headers, which only the SDL demo installs
        case $f in */examples/sdl/*) pkg-config --exists sdl2 2>/dev/null || continue ;; esac
        extra=
        case $f in */examples/sdl/*) extra=$(pkg-config --cflags sdl2 | sed 's/\([^ ][^ ]*\)/"\1",/g') ;; esac
        printf '%s{"directory": "%s", "file": "%s", "arguments": ["%s", "-std=gnu11", "-g", "-O1", "-Wall", "-Wextra", "-D_GNU_SOURCE", %s "-I%s/runtime", "-I%s", "-c", "%s", "-o", "/dev/null"]}\n' \
            "$sep" "$d" "$f" "$cc" "$extra" "$top" "$d" "$f"
        sep=,
    done
    echo "]"
} > "$db"
files=$(grep -c '"file"' "$db")
"$bin" "$db" > "$work/out.txt" 2>&1 || { cat "$work/out.txt"; echo "check-patchcheck: a patch failed (above)"; exit 1; }
summary=$(tail -n 1 "$work/out.txt")
echo "$summary"
# patchcheck <db>: F files, C compile, N functions, X patches fail, W patches warn ...
set -- $(echo "$summary" | sed 's/^[^:]*: //; s/[^0-9 ]//g')
if [ "$1" != "$files" ] || [ "$2" != "$files" ]; then
    grep '^skip' "$work/out.txt" || true
    echo "check-patchcheck: $2 of $files files compile (each must)"; exit 1
fi
if [ "$4" != 0 ] || [ "$5" != 0 ]; then
    grep -E '^(FAIL|WARN)' "$work/out.txt"; echo "check-patchcheck: failing or warning patches"; exit 1
fi
if [ "$3" -lt "$min" ]; then
    echo "check-patchcheck: only $3 functions taken (expected at least $min)"; exit 1
fi
