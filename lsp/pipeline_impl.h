/* The pipeline's own shared insides: its structs and the functions its
 * files share (lsp/pipeline.c, jobs.c, refusals.c, saves.c, programs.c).
 * Private to them: nothing else includes this. See lsp/pipeline.h for
 * what the pipeline does, and each file for its part. */
#ifndef HOTC_PIPELINE_IMPL_H
#define HOTC_PIPELINE_IMPL_H

#include "pipeline.h"


#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis.h"
#include "build.h"
#include "expand.h"
#include "launcher.h"
#include "layoutcheck.h"
#include "link.h"
#include "log.h"
#include "patch.h"
#include "preamble.h"
#include "protocol.h"
#include "symbolize.h"

#define DEFAULT_TIMEOUT_MS 30000
/* Each program's applied stack keeps the baseline text before each of its
 * newest APPLIED_BASES reloads (rollback restores it), and at most
 * APPLIED_MAX entries (their patch libraries stay on disk): the server's
 * memory and files do not grow with the number of reloads. */
#define APPLIED_BASES 8
#define APPLIED_MAX 64
/* after this long without an answer from a program in poll mode, the
 * editor is told that it waits for hot_poll() */
#define WAIT_TELL_MS 5000
/* how long a save waits for its file's baseline to be preprocessed before
 * it is decided from the text alone */
#define BASE_WAIT_NS (5ull * 1000 * 1000 * 1000)

struct job;
struct program;
struct restoring;

/* What a compile needs from the file system, found off the loop: the
 * compile_commands.json that applies to a file (loaded when it changed) and
 * whether tcc is installed. The inputs are copies, so the worker touches
 * nothing shared: compile_probe_run() fills the outputs on a worker thread,
 * compile_probe_apply() makes them the pipeline's on the loop. */
struct compile_probe {
    char *root, *configured, *path;  /* what to look for (copies; any may be NULL) */
    char cached[PATH_MAX];           /* the cache when queued: its file, "" when none is loaded */
    struct timespec cached_mtime;
    char found[PATH_MAX];            /* the file that applies, "" when none */
    struct timespec mtime;
    struct build_db *db;             /* `found` loaded, when it differs from the cache */
    int rc;                          /* build_db_load()'s error, 0 when loaded or not needed */
    char err[512];
    int tcc;                         /* -1: look for tcc on PATH; then 0 or 1 */
};

/* The saves handled together (one turn of the loop: a "save all", a header
 * and the files including it, "reload now" of every file): their jobs run
 * in parallel, and when the last one ends the editor hears of the batch at
 * once: each file's hotc/reloaded, then one hotc/status that counts the
 * batch as one reload. */
struct batch {
    struct pipeline *p;
    int jobs;                /* jobs started and not yet ended */
    int holds;               /* > 0 while jobs are being started */
    bool started;            /* a job was started (a compile status was sent) */
    uint64_t t0;
    json_t *lasts;           /* each job's "last" result, in the order they ended */
    json_t *reloaded;        /* each job's hotc/reloaded params */
    json_t *rebases;         /* [{uri, path, text, serial}]: baselines to move once notified */
    int not_applied;         /* saves of the batch with a "not applied" message (shown once, then counted) */
};

/* One program a job pushes to, with the functions it has. */
struct target {
    int program;
    long pid;
    json_t *functions;       /* [{name, file?, symbol}] */
    bool answered;
};

struct job {
    struct job *next;
    struct pipeline *p;
    struct batch *batch;     /* the batch it belongs to (counted in batch->jobs) */
    json_t *last;            /* its result for hotc/status "last", when it ended with one */
    json_t *reloaded;        /* its hotc/reloaded params, when it pushed */
    bool rebase;             /* every change reached every program: the text becomes the baseline */
    unsigned serial;
    char *uri, *path, *key, *build_id;
    json_t *text_json;       /* the saved text the patch is built from, as a string that */
    const char *text;        /* becomes the baseline as it is (one copy per save) */
    size_t len;
    bool full;               /* every change of the save is in: the text becomes the baseline */
    json_t *expansion;       /* the text as the compiler sees it (unit_of), or NULL */
    char **fns;
    uint64_t *hashes;
    size_t n_fns;
    struct patch patch;
    json_t *statics;         /* hot/reload statics[] */
    json_t *migrations;      /* hot/reload migrations[] (typed state blocks; lsp/migrate.h), or NULL */
    char *state_said;        /* what was migrated, in words, or NULL */
    char c_path[PATH_MAX], so_path[PATH_MAX];
    char *library_b64;       /* the library's bytes in base64, for programs attached over TCP */
    uv_work_t encode;        /* reads and encodes it off the loop */
    uv_work_t prepare;       /* writes the patch source and finds the compile commands off the loop */
    int write_errno;         /* why writing c_path failed, 0 when it did not */
    struct compile_probe probe;
    struct preamble_plan *pre;  /* the precompiled preamble's use by this save, or NULL */
    char pre_path[PATH_MAX];    /* the patch source without its preamble */
    uint64_t pre_hash;          /* hash of the file's preamble (tcc memo) */
    bool tried_tcc;             /* the compile tries tcc first */
    char *tcc_key;              /* then the key its failure is remembered under */
    char *fast_note;            /* why tcc was not used, or NULL */
    char *cc[2];                /* the compiler and its fallback, then */
    const char *compiled_with;  /* the one that decided (cc[0] or cc[1]) */
    bool so_written;            /* the compile succeeded: so_path exists */
    uint64_t check_us;       /* the layout check (lsp/compat.c), on a worker */
    char *note;              /* what an earlier attempt of this save refused (job_retry_without), or NULL */
    uint64_t patch_t0;       /* uv_hrtime() when the patch build began */
    char *progress;          /* $/progress token, or NULL */
    uint64_t t0;             /* uv_hrtime() of the save */
    uint64_t analysis_us, patch_us, compile_us, load_us, apply_us;
    struct target *targets;
    size_t n_targets, answered;
    json_t *programs;        /* hotc/reloaded programs[] */
    int version, applied, refused, errors;
    char *reason;            /* the first refusal or error */
    struct server_request *req;
    bool compiling;
    int holds;               /* > 0 while sends are being queued: do not finish yet */
};

/* One applied reload of one program, for rollback. */
struct applied {
    struct pipeline *p;
    struct applied *below;
    char *so_path;           /* its patch library, kept on disk while an entry names it */
    int version;
    char *uri, *path;
    char **fns;
    size_t n_fns;
    json_t *prev_base;       /* the baseline before it (a string of p->bases, shared: never modified), or NULL */
    bool base_dropped;       /* it had one, dropped by applied_trim() */
};

struct rollback {
    struct pipeline *p;
    struct server_request *req;
    size_t pending;
    json_t *programs;
};

enum send_kind { SEND_RELOAD, SEND_ROLLBACK, SEND_STATE };

/* The answer to a SEND_STATE request (hot/handover, hot/restore): `pg` NULL
 * when the program is gone, `result` NULL with `error` on failure. */
typedef void (*send_answered_fn)(struct pipeline *p, struct program *pg, json_t *result, const char *error,
                                 void *user);

struct send {
    struct send *next;
    enum send_kind kind;
    struct job *job;
    size_t target;
    struct rollback *rollback;
    int program;
    struct pipeline *p;          /* SEND_STATE: method, params (owned), who hears the answer */
    const char *method;
    json_t *params;
    send_answered_fn answered;
    void *user;
};

struct program {
    struct program *next;
    int id;
    long pid;
    char *executable, *build_id;
    json_t *functions;       /* the attach functions[], borrowed from link's params (incref'd) */
    json_t *state;           /* typed state blocks: name -> C type (hot/attach state[], hot/state) */
    bool remote;             /* attached over TCP: gets the library's bytes */
    int version, issued;
    bool busy;
    bool poll;               /* applies reloads only in hot_poll() */
    uint64_t sent_at;        /* uv_hrtime() when the reload it has not answered was sent, 0 when none */
    bool waiting_told;       /* the editor was told it waits */
    struct send *queue;
    struct applied *applied;
    json_t *ended;           /* how it ended (hot/detach {reason, status?}), or NULL */
    bool state_forgotten;    /* its saved state was forgotten: what it hands over is not kept */
};

struct pipeline {
    uv_loop_t *loop;
    struct server *server;
    struct link *link;
    struct build_runner runner;
    bool runner_ready, closing;
    uv_timer_t batch;
    uv_timer_t wait;         /* tells when a poll-mode program leaves a reload waiting (WAIT_TELL_MS) */
    bool batch_ready;        /* both timers are initialized */
    json_t *pending;         /* uri -> save time (ns, integer) */
    json_t *bases;           /* uri -> the baseline text */
    json_t *hashes;          /* "path\nname" -> body hash applied since the baseline */
    json_t *compiler_uris;   /* path -> [uri] with compiler diagnostics from its last compile */
    json_t *base_serials;    /* uri -> serial of the job whose text is the baseline */
    json_t *units;           /* path -> what the program runs of that file, as the compiler sees it (unit_of) */
    json_t *units_failed;    /* path -> true: its baseline could not be preprocessed */
    bool scanning_base;      /* a SCAN_BASE runs (one at a time, in the background) */
    json_t *compile_serials; /* job key -> serial of the newest job that started compiling */
    json_t *libraries;       /* patch library path -> applied entries naming it */
    json_t *layout_uris;     /* uri -> true: has layout-changed warnings from a check */
    json_t *expansion_uris;  /* uri -> true: has "changed through a macro or header, not HOT" notes */
    struct job *jobs;
    struct program *programs;
    struct preamble_cache *pre;  /* precompiled preambles (gcc, clang) */
    json_t *tcc_failed;      /* path -> {key, reason}: tcc cannot compile it with that preamble and flags */
    unsigned next_serial;
    char tmpdir[512];
    /* settings */
    char *compiler, *compile_commands, *fast;
    char **flags;
    int timeout_ms;
    bool tcp_enabled;
    char *tcp_host;
    int tcp_port;
    /* compile_commands.json cache */
    struct build_db *db;
    char db_path[PATH_MAX];
    struct timespec db_mtime;
    int tcc;                 /* -1 unknown, 0 no, 1 installed */
    /* layouts: the running executables' DWARF and the check of each patch */
    struct layoutcheck *layout;
    bool layout_check;       /* hotc.layoutCheck: refuse what cannot be checked */
    bool tcc_told;           /* the log said why tcc is not used */
    struct launcher *launcher; /* the program started by run */
    struct scan *scans;        /* every scan alive (freed at exit when one is still running) */
    char *last_build_id;     /* of the last program that attached */
    json_t *saved_states;    /* executable -> true: a state is saved for it (lsp/handover.c) */
    json_t *saving;          /* executable -> how many saves of its state are being written */
    struct restoring *deferred; /* restores waiting for those saves */
};

enum reload_mode {
    RELOAD_CHANGED, /* the HOT functions changed since the baseline */
    RELOAD_ALL      /* every compatible HOT function (reload now, header saves) */
};

/* What a reload is built from: an open document, or a file of
 * compile_commands.json that is not open (`doc` NULL, the text read from
 * disk). Everything borrowed. */
struct source {
    const char *uri, *path, *text;
    size_t len;
    const struct analysis *running;   /* what the program runs, as tree-sitter reads it */
    const struct analysis *analysis;  /* of `text` */
    struct document *doc;             /* the open document, or NULL */
    uint64_t since;                   /* uv_hrtime() when deciding began (the scan's start), 0: now */
};

enum scan_kind { SCAN_BASE, SCAN_SAVE };

struct scan {
    struct pipeline *p;
    enum scan_kind kind;
    struct batch *batch;     /* SCAN_SAVE: held until the reload is started */
    unsigned serial;
    uint64_t t0, started;    /* the save's time, the scan's start (uv_hrtime) */
    char *uri, *path, *marker, *cwd;
    json_t *text_json;       /* the text to preprocess; NULL: the file on disk */
    char *disk_text;         /* the file on disk, read by the worker */
    size_t disk_len;
    bool disk_changed;       /* the file on disk changed while it was preprocessed */
    bool copy;               /* in_c is a copy of the text (with #line 1 "path") */
    char in_c[PATH_MAX], out_i[PATH_MAX];
    struct compile_probe probe;
    int err;                 /* errno of the worker's file step, 0 when fine */
    struct analysis *analysis;  /* of the text (worker) */
    struct expand ex;
    bool expanded;
    bool cancelled;          /* a newer scan of the same file replaced it */
    uv_work_t work;
    struct scan *live_next;  /* in p->scans while it lives */
};

/* A crash report waiting for its address to be read from DWARF. */
struct crash_lookup {
    uv_work_t work;
    struct pipeline *p;
    int program;             /* the link's id: the program may be gone when the lookup ends */
    long pid;
    json_t *params;
    uint64_t address, base;
    char *module;
    struct symbolized where;
    int found;
    bool holds_library;      /* one reference on `module`, a patch library */
};

/* The sweep of the temp folders that servers killed before their exit
 * left behind (`hotc-patches-<pid>-XXXXXX`), on a worker at start-up. */
struct sweep {
    uv_work_t req;
    char parent[512], own[512];
    int removed;
};


/* Shared between the pipeline's files (each defined in one of them). */
/* Frees the scans still alive once the loop ended (lsp/saves.c). */
void pipeline__scans_free(struct pipeline *p);
bool pipeline__any_program_has(struct pipeline *p, const char *path, const char *name);
void pipeline__applied_trim(struct program *pg);
const char *pipeline__base_name(const char *path);
void pipeline__batch_job_ended(struct batch *b, struct job *job);
struct batch *pipeline__batch_new(struct pipeline *p, uint64_t t0);
void pipeline__batch_release(struct batch *b);
void pipeline__command_rollback(struct pipeline *p, struct server_request *req);
void pipeline__compile_probe_apply(struct pipeline *p, struct compile_probe *probe);
int pipeline__compile_probe_init(struct pipeline *p, struct compile_probe *probe, const char *path);
void pipeline__compile_probe_release(struct compile_probe *probe);
void pipeline__compile_probe_run(struct compile_probe *probe);
uint64_t pipeline__elapsed_us(uint64_t since);
char *pipeline__fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
json_t *pipeline__fn_names(struct job *job);
void pipeline__forget_hashes(struct pipeline *p, const char *path);
void pipeline__free_strv(char **v, size_t n);
char *pipeline__hash_key(const char *path, const char *name);
bool pipeline__is_header(const char *path);
void pipeline__job_check(struct job *job);
/* The layout refusals shown on `uri` no longer hold (a patch of it passed
 * the check, or it is back to what the program runs): cleared. */
/* Replaces `uri`'s notes on functions that are not HOT and changed only
 * through what they expand to (a macro, a header): information
 * diagnostics, source "expansion"; n = 0 clears them. */
void pipeline__set_expansion_notes(struct pipeline *p, const char *uri, const struct server_diagnostic *notes,
                                   size_t n);
void pipeline__clear_layout(struct pipeline *p, const char *uri);
void pipeline__job_deliver(struct job *job);
void pipeline__job_free(struct job *job);
void pipeline__job_start(struct pipeline *p, struct job *job, struct document *doc);
void pipeline__library_ref(struct pipeline *p, const char *so_path, int delta);
void pipeline__mark_doc_running(struct pipeline *p, struct document *doc, struct program *pg);
bool pipeline__names(const char *text, size_t len, const char *name);
void pipeline__on_attached(struct link *link, const struct link_program *lp, void *user);
void pipeline__on_batch(uv_timer_t *timer);
void pipeline__on_detached(struct link *link, const struct link_program *lp, const char *reason, void *user);
void pipeline__on_image_loaded(const char *build_id, int rc, const char *error, size_t units, uint64_t us,
                            void *user);
void pipeline__attach_result(struct link *link, const struct link_program *lp, json_t *result, void *user);
void pipeline__before_stop(long pid, const char *path, void (*resume)(void *arg), void *arg, void *user);
void pipeline__command_forget_state(struct pipeline *p, struct server_request *req, json_t *arguments);
void pipeline__handover_attached(struct pipeline *p, struct program *pg);
void pipeline__handover_saved(struct pipeline *p, struct program *pg, json_t *params);
void pipeline__handover_start(struct pipeline *p);
void pipeline__handover_free(struct pipeline *p);
/* hot/exited from `hotc exec` (lsp/exec.h): how a program the editor's
 * terminal ran ended. Kept for its detach while it is still attached;
 * else it goes into hotc/status "run", when that names its pid as
 * "exited" (a crash report says more). */
void pipeline__on_exited(struct link *link, json_t *params, void *user);
void pipeline__on_notified(struct link *link, const struct link_program *lp, const char *method, json_t *params,
                        void *user);
size_t pipeline__program_count(struct pipeline *p);
void pipeline__program_enqueue(struct pipeline *p, struct program *pg, struct send *s);
void pipeline__program_free(struct program *pg);
json_t *pipeline__program_function(struct program *pg, const char *path, const char *name);
struct program *pipeline__program_get(struct pipeline *p, int id);
int pipeline__reload_document(struct pipeline *p, struct batch *batch, struct document *doc, enum reload_mode mode,
                           uint64_t t0, struct server_request *req, json_t *skip_types);
void pipeline__remove_file(struct pipeline *p, const char *path);
void pipeline__rollback_answer(struct rollback *rb, struct program *pg, long pid, json_t *result, const char *error);
void pipeline__scan_next_base(struct pipeline *p);
void pipeline__send_fail(struct pipeline *p, struct send *s, long pid, const char *why);
void pipeline__set_base(struct pipeline *p, const char *uri, const char *path, const char *text, size_t len);
void pipeline__show(struct pipeline *p, int type, const char *message);
char *pipeline__slurp(const char *path, size_t *len);
void pipeline__unit_applied(struct pipeline *p, struct job *job);
void pipeline__unit_rebase(struct pipeline *p, const char *path, json_t *expansion);

#endif
