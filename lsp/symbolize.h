/* Addresses of a running program to source lines, from DWARF: the
 * function, file and line of an address in the executable or in a patch
 * library (patches are compiled with -g and #line, so their lines are the
 * user's). elfutils' libdwfl reads the file; nothing is cached (a crash is
 * rare). Blocking: call it on a libuv worker. */
#ifndef HOTC_SYMBOLIZE_H
#define HOTC_SYMBOLIZE_H

#include <limits.h>
#include <stdint.h>

struct symbolized {
    char function[256];   /* "" when unknown */
    char file[PATH_MAX];  /* absolute when DWARF says so; "" when unknown */
    int line;             /* 1-based; 0 when unknown */
    int column;           /* 1-based; 0 when unknown */
};

/* Where `address` lies in `module` (a path), loaded at `base` (dladdr's
 * dli_fbase). Fills `out` with what the file knows (a function without
 * DWARF lines, say). Returns 0 when it found a line, -1 otherwise. */
int symbolize(const char *module, uint64_t base, uint64_t address, struct symbolized *out);

#endif
