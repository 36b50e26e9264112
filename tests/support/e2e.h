/* Steps shared by the end-to-end tests that build a real program and drive
 * the real server (test_edits, test_layout, test_pipeline): shell commands,
 * files, text edits and the flags that link with libhotc. Each step that
 * can fail asserts (Criterion). */
#ifndef HOTC_TEST_E2E_H
#define HOTC_TEST_E2E_H

#include <stddef.h>

/* CLOCK_MONOTONIC in milliseconds. */
long long test_now_ms(void);

/* Runs `cmd` with /bin/sh -c (5 minutes at most); its output into `out`
 * when given. Returns its exit status, -1 if it could not run. */
int test_sh(const char *cmd, char *out, size_t size);

/* Writes `text` to `path` (replacing it); asserts it could. */
void test_spit(const char *path, const char *text);

/* `text` with each `from` replaced by its `to` (NULL-terminated pairs,
 * in order, first occurrence each); asserts each `from` is there. A new
 * string. */
char *test_edit(const char *text, const char *const *pairs);

/* 0-based line of the first occurrence of `needle` in `text`; asserts it
 * is there. */
int test_line_of(const char *text, const char *needle);

/* Compiler flags that link a program with libhotc: the build's own
 * (through its pkg-config file), or, when the tests run under sanitizers, a
 * plain libhotc built once into the build tree (the program runs without
 * them). A static buffer. */
const char *test_hotc_flags(void);

#endif
