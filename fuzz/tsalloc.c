/* Tree-sitter's memory for the server and edit fuzz targets. Parsing is
 * most of each input there, and most of parsing was ASan's allocator
 * (a chunk, a redzone and a stack trace for every subtree). The tree-sitter
 * library itself is Debian's, not instrumented, so ASan checked none of its
 * accesses anyway; what it did check was that we delete every tree and
 * parser, through LeakSanitizer. So tree-sitter gets glibc's allocator
 * (ts_set_allocator), each block counted, and each input must end with
 * none alive: a tree or parser we forget still fails the run, as an
 * abort instead of a leak report. Our own allocations stay under ASan.
 * glibc only (__libc_malloc and friends). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <tree_sitter/api.h>

#include "tsalloc.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *old, size_t size);
extern void __libc_free(void *p);

static atomic_long alive;

static void *ts_malloc(size_t size)
{
    void *p = __libc_malloc(size);
    if (p)
        alive++;
    return p;
}

static void *ts_calloc(size_t count, size_t size)
{
    void *p = __libc_calloc(count, size);
    if (p)
        alive++;
    return p;
}

/* realloc(NULL, n) is a new block; realloc(p, 0) is not used by tree-sitter. */
static void *ts_realloc(void *old, size_t size)
{
    void *p = __libc_realloc(old, size);
    if (p && !old)
        alive++;
    return p;
}

static void ts_free(void *p)
{
    if (p)
        alive--;
    __libc_free(p);
}

void fuzz_tsalloc_install(void)
{
    ts_set_allocator(ts_malloc, ts_calloc, ts_realloc, ts_free);
}

void fuzz_tsalloc_check(void)
{
    long n = alive;
    if (n != 0) {
        fprintf(stderr, "fuzz: %ld tree-sitter blocks still alive after the input: a tree or parser leaked\n", n);
        abort();
    }
}
