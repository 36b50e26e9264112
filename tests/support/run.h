/* Helpers shared by the tests: run a command and capture its output, paths
 * into the build tree. Each test file includes what it needs. */
#ifndef HOTC_TEST_RUN_H
#define HOTC_TEST_RUN_H

#include <stddef.h>

/* Absolute path of a file under the build directory (build/ or build/san/),
 * in a static buffer that the next call overwrites. */
const char *test_build_path(const char *rel);

/* Absolute path of a file under the source tree, in a static buffer. */
const char *test_source_path(const char *rel);

/* Runs argv (argv[0] looked up in PATH), stdin from /dev/null, and returns
 * its exit status (or -1 if it could not run or was killed). Its stdout and
 * stderr together are copied into `out` (at most `size` bytes, NUL-terminated)
 * when `out` is not NULL. Kills it after `timeout_ms`. */
int test_run(char *const argv[], char *out, size_t size, int timeout_ms);

/* Whether libhotc may export `name` besides hot_*: the signal functions it
 * puts in front of libc's for the crash signals (runtime/guard.c). */
int test_libhotc_interposer(const char *name);

/* Whether `tool` is found in PATH (`command -v`). */
int test_have(const char *tool);

/* The whole content of a file, NUL-terminated (malloc'd; the caller frees
 * it), its length in *len when `len` is not NULL; NULL if it cannot be
 * read. */
char *test_slurp(const char *path, size_t *len);

#endif
