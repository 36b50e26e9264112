/* Tree-sitter's memory for the server and edit fuzz targets (fuzz/tsalloc.c). */
#ifndef HOTC_FUZZ_TSALLOC_H
#define HOTC_FUZZ_TSALLOC_H

/* Routes tree-sitter's allocations to glibc's own allocator, counted. */
void fuzz_tsalloc_install(void);

/* Aborts unless every block tree-sitter allocated since the install has
 * been freed: call it when an input is done and all its parsers and trees
 * are deleted. */
void fuzz_tsalloc_check(void);

#endif
