/* Layout checks off the loop: the running executables' DWARF, one image per
 * build-id, loaded on a libuv worker when the first program with that
 * build-id attaches and kept while one is attached; and the check of each
 * compiled patch against it (lsp/compat.c), also on a worker, its verdict
 * handed back on the loop.
 *
 * An image is read from /proc/<pid>/exe first (the very file the program
 * runs, even when the build has since replaced it on disk), else from the
 * path the program reported; either way its GNU build-id must be the
 * program's, so that a rebuilt executable is never taken for the running
 * one. */
#ifndef HOTC_LAYOUTCHECK_H
#define HOTC_LAYOUTCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "compat.h"

struct layoutcheck;

/* The result of one check, valid during the callback only. `rc` is 0 when
 * the comparison ran (then `report` holds its verdict, possibly empty), or
 * a negative DEBUGINFO_E* when nothing could be established, with `error`
 * saying why ("the running program has no debug information ..."). */
struct layoutcheck_result {
    int rc;
    const char *error;
    const struct compat_report *report;
    uint64_t duration_us;    /* the check itself, on the worker */
};

typedef void (*layoutcheck_cb)(const struct layoutcheck_result *result, void *user);

/* A program's image was read (or could not be): `error` is NULL on
 * success. Called on the loop. */
typedef void (*layoutcheck_loaded_cb)(const char *build_id, int rc, const char *error, size_t units,
                                      uint64_t duration_us, void *user);

/* A new cache on `loop`; `loaded` (may be NULL) hears of each image read.
 * NULL when out of memory. */
struct layoutcheck *layoutcheck_new(uv_loop_t *loop, layoutcheck_loaded_cb loaded, void *user);

/* Frees the cache. Checks still running on workers finish first (their
 * callbacks are not called). Call after the loop ran its last work. */
void layoutcheck_free(struct layoutcheck *self);

/* A program with `build_id` attached (pid, reported executable path): the
 * image is loaded off the loop unless it already is. Counted: every attach
 * needs a layoutcheck_detach. */
void layoutcheck_attach(struct layoutcheck *self, const char *build_id, long pid, const char *executable);

/* The program detached; the image is dropped when no program of that
 * build-id remains and no check uses it. */
void layoutcheck_detach(struct layoutcheck *self, const char *build_id);

/* Checks the patch library `patch` for `req` against the image of
 * `build_id`, waiting for its load when needed. `req` is copied. Calls `cb`
 * on the loop exactly once, unless the cache is freed first. Returns 0, or
 * a negative libuv error (then `cb` is not called). */
int layoutcheck_run(struct layoutcheck *self, const char *build_id, const char *patch,
                    const struct compat_request *req, layoutcheck_cb cb, void *user);

/* Runs `work` on a worker with the image of `build_id` (loaded first when
 * needed; `exe` is NULL when it could not be read, then `error` says why),
 * then `done` on the loop, unless the cache is freed first. `work` takes
 * the file's lock itself (debuginfo_lock). The image stays while the work
 * runs, even when its program detaches. Returns 0, or a negative libuv
 * error (then neither is called). */
typedef void (*layoutcheck_work_fn)(struct debuginfo *exe, const char *error, void *user);
typedef void (*layoutcheck_done_fn)(void *user);
int layoutcheck_use(struct layoutcheck *self, const char *build_id, layoutcheck_work_fn work,
                    layoutcheck_done_fn done, void *user);

#endif
