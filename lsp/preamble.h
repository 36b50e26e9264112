/* The precompiled preamble of gcc and clang patches, as clangd does it: the
 * leading block of a file's directives (its #include lines, #defines, the
 * comments between them) is compiled once per translation unit and flags
 * into a precompiled header in the server's private temp dir, and every
 * later patch of the file includes it instead of parsing the headers again.
 *
 * A precompiled preamble is rebuilt when the block's text or the flags
 * change, and is not used when a header it was built from changed on disk
 * since (checked with a stat of each header the compiler read, off the
 * loop). Builds run in the background through the pipeline's build runner:
 * a save never waits for one; a save that finds none ready compiles as
 * before. A failed build is logged and the file compiles without it.
 *
 * The patch that uses it is the patch source without the block, whose
 * first line says `#line N+1 "file"`; the header starts with `#line 1
 * "file"`, so every message lands on the user's own lines. */
#ifndef HOTC_PREAMBLE_H
#define HOTC_PREAMBLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct build_runner;

/* The length in bytes of the leading block of `text`: blank lines,
 * comments and preprocessor directives (with their continuation lines),
 * ending at the last directive outside any #if before the first C token.
 * `*lines` gets its number of lines, `*includes` whether it has an
 * #include (a block without one is not worth precompiling). Pure. */
size_t preamble_scan(const char *text, size_t len, unsigned *lines, bool *includes);

/* The precompiled preambles of one server, keyed by translation unit.
 * Heap-owned: preamble_cache_new, preamble_cache_free. */
struct preamble_cache;

/* A cache writing its files into `tmpdir` (copied) and compiling with
 * `runner` (borrowed; it must outlive the cache). NULL when out of memory. */
struct preamble_cache *preamble_cache_new(uv_loop_t *loop, struct build_runner *runner, const char *tmpdir);

/* The server is shutting down: steps in flight stop where they are (no new
 * compiler is started) and no file is removed any more. */
void preamble_cache_close(struct preamble_cache *self);

/* Frees the cache and every entry still alive, after the loop has ended
 * (the build runner's unreported jobs are freed without callbacks, and the
 * plans, freed with their jobs, before this). The files stay for the
 * caller's removal of the temp dir. */
void preamble_cache_free(struct preamble_cache *self);

/* How one save uses the cache. Heap-owned by the pipeline's job. */
struct preamble_plan;

/* A plan for the patch `patch_src` (`patch_len` bytes) of the saved `text`
 * of `path`: NULL when the file has no preamble worth precompiling (no
 * #include), when the patch does not carry the block as it is, or when out
 * of memory. `stripped_path` is where the patch source without the block
 * goes when a precompiled preamble is ready. Borrows nothing after return. */
struct preamble_plan *preamble_plan_new(struct preamble_cache *cache, const char *path, const char *text,
                                        size_t len, const char *patch_src, size_t patch_len,
                                        const char *stripped_path);

/* On a worker thread (the pipeline's prepare_work): when the plan found a
 * ready precompiled preamble, checks that no header it was built from
 * changed since and writes the stripped patch source. Touches only the
 * plan and the immutable part of its entry. */
void preamble_plan_work(struct preamble_plan *plan, const char *patch_src, size_t patch_len);

/* On the loop, before the compile: when the precompiled preamble is ready,
 * fresh and built with the same flags as `*argv` (gcc or clang, compiling
 * `patch_c` into `out_so`), rewrites `*argv` to compile the stripped source
 * with `-include` of it and returns 1; for clang, which stops on a stale
 * precompiled header, `*retry` then gets the original vector to run when
 * the compile fails because of it (NULL otherwise; the caller frees it).
 * Otherwise leaves `*argv` as it is, starts building one for the next
 * saves when there is none for this text and these flags (in `cwd`, with
 * `timeout_ms`), and returns 0. */
int preamble_plan_use(struct preamble_plan *plan, char ***argv, char ***retry, const char *patch_c,
                      const char *out_so, const char *cwd, int timeout_ms);

/* What the plan did, for the log and hotc/status: "precompiled",
 * "building", "stale", or "failed: <why>". Borrowed from the plan. */
const char *preamble_plan_state(const struct preamble_plan *plan);

/* The text hash of the plan's preamble block (for remembering per
 * preamble that tcc cannot compile a file). */
uint64_t preamble_plan_hash(const struct preamble_plan *plan);

void preamble_plan_free(struct preamble_plan *plan);

/* The hash of the flags of a patch vector: every word but the patch source
 * `patch_c`, the output `out_so` and depfile flags (which name per-save
 * files). */
uint64_t preamble_flags_hash(char *const *argv, const char *patch_c, const char *out_so);

/* 64-bit FNV-1a of `len` bytes, continuing from `h` (start with
 * PREAMBLE_HASH_INIT). */
#define PREAMBLE_HASH_INIT 14695981039346656037ull
uint64_t preamble_hash(uint64_t h, const void *data, size_t len);

#endif
