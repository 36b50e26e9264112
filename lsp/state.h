/* The reload state the editor features show: per HOT function (keyed by
 * file path + function name) the running version, reload count, last
 * timing, why it is stale, its history; and the global counters of the
 * `hotc/status` notification. Written by the pipeline (lsp/pipeline.c),
 * read by lenses, hover and diagnostics (lsp/server.c).
 * No I/O. */
#ifndef HOTC_STATE_H
#define HOTC_STATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* One reload attempt of one function. */
struct state_record {
    int64_t when_ms;          /* wall clock, ms since the epoch */
    int version;
    char *result;             /* "applied", "refused", "error", "compileError", "rollback" */
    char *message;            /* why, or "" */
    uint64_t total_us;
};

#define STATE_HISTORY_MAX 20

struct state_function {
    char *path;
    char *name;
    int running;              /* a program attached runs this function */
    int version;              /* the version running (0: as built) */
    int reloads;              /* successful reloads */
    int rolled_back_from;     /* the version a rollback left (0: none since the last apply) */
    uint64_t last_us;         /* total time of the last applied reload */
    char *stale;              /* why the running code is not the file's, or NULL */
    struct state_record history[STATE_HISTORY_MAX]; /* oldest first */
    size_t n_history;
};

struct state {
    /* Global counters, for hotc/status. The pipeline sets them directly. */
    int reloads;              /* applied reloads since start */
    int programs;             /* attached programs */
    int compiling;            /* compiles in progress */
    json_t *last;             /* the "last" member of hotc/status, or NULL; owned */
    json_t *run;              /* the "run" member of hotc/status (the program's state), or NULL; owned */

    /* Private: use the functions below. */
    struct state_function **fns;
    size_t n_fns;
};

void state_init(struct state *self);
void state_release(struct state *self);

/* The entry for (path, name), or NULL. Borrowed. */
struct state_function *state_get(struct state *self, const char *path, const char *name);

/* The entry for (path, name), created (not running) when missing. Borrowed;
 * NULL when out of memory. */
struct state_function *state_ensure(struct state *self, const char *path, const char *name);

/* The function runs `version` (at attach: the program's, 0 when it has not
 * been reloaded yet): marks it running and clears its stale reason. */
void state_set_running(struct state *self, const char *path, const char *name, int version);

/* Records one reload attempt. "applied" makes `version` the running one,
 * counts a reload, keeps `total_us` and clears the stale reason; "rollback"
 * makes `version` the running one, remembers the version it left in
 * `rolled_back_from` (until the next apply) and clears the stale reason (it
 * was about the code rolled away from); any other result only sets the
 * stale reason to `message`. The entry is created when missing. Adds to the
 * history (the oldest entries drop out). */
void state_record(struct state *self, const char *path, const char *name, int version, const char *result,
                  const char *message, uint64_t total_us);

/* Sets (NULL: clears) why a function is stale. */
void state_set_stale(struct state *self, const char *path, const char *name, const char *reason);

/* Every function of every file becomes "not running" (version 0; the last
 * program detached). History is kept. */
void state_reset_running(struct state *self);

/* Replaces the "last" result; `last` stolen (NULL clears). */
void state_set_last(struct state *self, json_t *last);

/* Replaces the "run" member: {state: "running" | "exited" | "crashed", pid,
 * status?, signal?, signalName?, where?}; `run` stolen (NULL clears). */
void state_set_run(struct state *self, json_t *run);

/* The params of hotc/status: {reloads, programs, compiling, last?, run?}. New reference. */
json_t *state_status(const struct state *self);

#endif
