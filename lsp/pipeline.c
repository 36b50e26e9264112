/* The save-to-reload pipeline (see pipeline.h).
 *
 * A save becomes a `job`: the saved text, the HOT functions to reload, the
 * patch built from them, the compile, and one `target` per attached program
 * that has those functions. A program answers one request at a time (in
 * poll mode a second hot/reload before the first answer is refused), so
 * each program has a queue of sends. A job ends when every target has
 * answered; then the state, the baseline and the editor are updated.
 *
 * The baseline (what the programs run) is the text of the last save whose
 * every change was applied. When a save is applied only in part (a
 * signature changed, a function is not HOT), the baseline stays, so the
 * editor keeps saying what is not running; the body hash of each function
 * applied since is remembered so that it is not pushed again. */
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

enum send_kind { SEND_RELOAD, SEND_ROLLBACK };

struct send {
    struct send *next;
    enum send_kind kind;
    struct job *job;
    size_t target;
    struct rollback *rollback;
    int program;
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
    char *last_build_id;     /* of the last program that attached */
};

static void program_pump(struct pipeline *p, struct program *pg);
static void batch_job_ended(struct batch *b, struct job *job);
static void scan_next_base(struct pipeline *p);
static void unit_rebase(struct pipeline *p, const char *path, json_t *expansion);
static void unit_applied(struct pipeline *p, struct job *job);
static void set_base(struct pipeline *p, const char *uri, const char *path, const char *text, size_t len);
static json_t *build_details(const struct job *job);
static void remove_file(struct pipeline *p, const char *path);

/* ---------------------------------------------------------------- helpers */

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, f);
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path ? path : "";
}

static uint64_t elapsed_us(uint64_t since)
{
    return (uv_hrtime() - since) / 1000;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void show(struct pipeline *p, int type, const char *message)
{
    server_notify(p->server, "window/showMessage", protocol_show_message(type, message));
}

static bool is_header(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    return n > 2 && (strcmp(path + n - 2, ".h") == 0);
}

static char *hash_key(const char *path, const char *name)
{
    return fmt("%s\n%s", path ? path : "", name);
}

static void forget_hashes(struct pipeline *p, const char *path)
{
    const char *key;
    json_t *v;
    void *tmp;
    size_t n = strlen(path);

    json_object_foreach_safe(p->hashes, tmp, key, v) {
        if (strncmp(key, path, n) == 0 && key[n] == '\n')
            json_object_del(p->hashes, key);
    }
}

/* Makes the string `text` (taken, shared: never modified) the baseline of
 * `uri` (and of its document, when open). */
static void set_base_json(struct pipeline *p, const char *uri, const char *path, json_t *text)
{
    struct document *doc = docstore_get(server_docs(p->server), uri);

    json_object_set_new(p->bases, uri, text);
    if (doc)
        server_mark_running(p->server, doc, json_string_value(text), json_string_length(text));
    if (path)
        forget_hashes(p, path);
}

/* Makes `text` the baseline of `uri` (and of its document, when open). */
static void set_base(struct pipeline *p, const char *uri, const char *path, const char *text, size_t len)
{
    set_base_json(p, uri, path, json_stringn_nocheck(text, len));
}

/* ---------------------------------------------------------------- programs */

static struct program *program_get(struct pipeline *p, int id)
{
    for (struct program *pg = p->programs; pg; pg = pg->next)
        if (pg->id == id)
            return pg;
    return NULL;
}

static size_t program_count(struct pipeline *p)
{
    size_t n = 0;
    for (struct program *pg = p->programs; pg; pg = pg->next)
        n++;
    return n;
}

/* The attach entry of function `name` of the file `path`, or NULL. Global
 * functions are matched by name, static ones also by the file's basename
 * (the host's STT_FILE). */
static json_t *program_function(struct program *pg, const char *path, const char *name)
{
    size_t i;
    json_t *f;

    json_array_foreach(pg->functions, i, f) {
        const char *n = json_string_value(json_object_get(f, "name"));
        const char *file = json_string_value(json_object_get(f, "file"));
        if (n && strcmp(n, name) == 0 && (!file || strcmp(base_name(file), base_name(path)) == 0))
            return f;
    }
    return NULL;
}

static bool any_program_has(struct pipeline *p, const char *path, const char *name)
{
    for (struct program *pg = p->programs; pg; pg = pg->next)
        if (program_function(pg, path, name))
            return true;
    return false;
}

/* Marks the HOT functions of `doc` that `pg` has as running. */
static void mark_doc_running(struct pipeline *p, struct document *doc, struct program *pg)
{
    struct state *st = server_state(p->server);

    if (!doc->path)
        return;
    for (size_t i = 0; i < doc->running->n_functions; i++) {
        const struct analysis_function *f = &doc->running->functions[i];
        struct state_function *sf;
        if (!f->hot || !program_function(pg, doc->path, f->name))
            continue;
        sf = state_get(st, doc->path, f->name);
        if (!sf || !sf->running)
            state_set_running(st, doc->path, f->name, pg->version);
    }
}

/* The patch library `so_path` is named by one more (`delta` 1) or one less
 * (-1) applied entry; at none, nothing can run its code any more (not on
 * any program's applied stack) and the file is removed. */
static void library_ref(struct pipeline *p, const char *so_path, int delta)
{
    json_t *n = json_object_get(p->libraries, so_path);
    json_int_t refs = (n ? json_integer_value(n) : 0) + delta;

    if (refs > 0) {
        json_object_set_new(p->libraries, so_path, json_integer(refs));
        return;
    }
    json_object_del(p->libraries, so_path);
    if (!p->closing)
        remove_file(p, so_path);
}

static void applied_free(struct applied *a)
{
    if (a->so_path)
        library_ref(a->p, a->so_path, -1);
    free(a->so_path);
    free(a->uri);
    free(a->path);
    free_strv(a->fns, a->n_fns);
    json_decref(a->prev_base);
    free(a);
}

/* Bounds `pg`'s applied stack (APPLIED_BASES, APPLIED_MAX). */
static void applied_trim(struct program *pg)
{
    size_t depth = 0;

    for (struct applied **a = &pg->applied; *a; depth++) {
        if (depth >= APPLIED_MAX) {
            struct applied *drop = *a;
            *a = drop->below;
            applied_free(drop);
            continue;
        }
        if (depth >= APPLIED_BASES && (*a)->prev_base) {
            json_decref((*a)->prev_base);
            (*a)->prev_base = NULL;
            (*a)->base_dropped = true;
        }
        a = &(*a)->below;
    }
}

static void program_free(struct program *pg)
{
    while (pg->applied) {
        struct applied *a = pg->applied;
        pg->applied = a->below;
        applied_free(a);
    }
    json_decref(pg->functions);
    json_decref(pg->ended);
    json_decref(pg->state);
    free(pg->executable);
    free(pg->build_id);
    free(pg);
}

/* ---------------------------------------------------------------- batches */

static struct batch *batch_new(struct pipeline *p, uint64_t t0)
{
    struct batch *b = calloc(1, sizeof *b);

    if (!b)
        return NULL;
    b->p = p;
    b->t0 = t0;
    b->holds = 1;
    b->lasts = json_array();
    b->reloaded = json_array();
    b->rebases = json_array();
    return b;
}

static void batch_free(struct batch *b)
{
    json_decref(b->lasts);
    json_decref(b->reloaded);
    json_decref(b->rebases);
    free(b);
}

/* The batch's one "last" result: a single job's as it is; several jobs'
 * merged (the worst result, every message, function and file). New
 * reference, or NULL when no job ended with a result. */
static json_t *batch_last(struct batch *b)
{
    static const char *const worst[] = { "compileError", "error", "refused", "waiting",
                                         "notApplied", "applied", "nothing" };
    size_t n = json_array_size(b->lasts), i;
    json_t *last, *l, *fns, *files;
    const char *result = NULL;
    char *message = NULL;
    size_t size = 0;
    FILE *msg;
    json_int_t version = 0, sum[5] = { 0 };
    static const char *const keys[] = { "analysisUs", "patchUs", "compileUs", "loadUs", "applyUs" };

    if (n == 0)
        return NULL;
    if (n == 1)
        return json_incref(json_array_get(b->lasts, 0));
    for (size_t w = 0; w < sizeof worst / sizeof *worst && !result; w++)
        json_array_foreach(b->lasts, i, l)
            if (!result && strcmp(json_string_value(json_object_get(l, "result")), worst[w]) == 0)
                result = worst[w];
    fns = json_array();
    files = json_array();
    msg = open_memstream(&message, &size);
    json_array_foreach(b->lasts, i, l) {
        json_int_t v = json_integer_value(json_object_get(l, "version"));
        json_t *t = json_object_get(l, "timings");
        if (msg)
            fprintf(msg, "%s%s", i ? "; " : "", json_string_value(json_object_get(l, "message")));
        if (json_is_array(json_object_get(l, "functions")))
            json_array_extend(fns, json_object_get(l, "functions"));
        if (json_object_get(l, "file"))
            json_array_append(files, json_object_get(l, "file"));
        version = v > version ? v : version;
        for (size_t k = 0; k < 5; k++) {
            json_int_t x = json_integer_value(json_object_get(t, keys[k]));
            /* compiles run in parallel; the rest runs one after the other */
            sum[k] = k == 2 ? (x > sum[k] ? x : sum[k]) : sum[k] + x;
        }
    }
    if (msg)
        fclose(msg);
    last = json_pack("{s:s, s:s, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "result", result ? result : "error",
                     "message", message ? message : "", "functions", fns, "files", files, "timings", keys[0],
                     sum[0], keys[1], sum[1], keys[2], sum[2], keys[3], sum[3], keys[4], sum[4], "totalUs",
                     (json_int_t)elapsed_us(b->t0));
    if (last && version > 0)
        json_object_set_new(last, "version", json_integer(version));
    if (last && json_array_size(files) > 0)
        json_object_set(last, "file", json_array_get(files, 0));
    free(message);
    return last;
}

/* Every job of the batch ended: count it, then hotc/reloaded per pushed
 * job, the baselines, and one hotc/status (server_state_changed). */
static void batch_finish(struct batch *b)
{
    struct pipeline *p = b->p;
    struct state *st;
    json_t *last, *v;
    size_t i;
    bool applied = false;

    if (p->closing || !p->server) {
        batch_free(b);
        return;
    }
    st = server_state(p->server);
    log_trace("batch.finish");
    last = batch_last(b);
    json_array_foreach(b->lasts, i, v)
        if (strcmp(json_string_value(json_object_get(v, "result")), "applied") == 0)
            applied = true;
    if (applied)
        st->reloads++;
    if (last)
        state_set_last(st, last);
    json_array_foreach(b->reloaded, i, v) {
        json_object_set_new(v, "reloads", json_integer(st->reloads));
        server_notify(p->server, "hotc/reloaded", json_incref(v));
        log_trace("reloaded.sent");
    }
    /* after hotc/reloaded: analysing the new baseline takes a while */
    json_array_foreach(b->rebases, i, v) {
        const char *uri = json_string_value(json_object_get(v, "uri"));
        json_int_t serial = json_integer_value(json_object_get(v, "serial"));
        json_t *text = json_object_get(v, "text");
        if (json_integer_value(json_object_get(p->base_serials, uri)) > serial)
            continue; /* a later save's text is already the baseline */
        json_object_set_new(p->base_serials, uri, json_integer(serial));
        set_base_json(p, uri, json_string_value(json_object_get(v, "path")), json_incref(text));
        unit_rebase(p, json_string_value(json_object_get(v, "path")), json_object_get(v, "expansion"));
    }
    /* one status with the batch's result; a batch whose every compile was
     * cancelled says only that compiling stopped, if it did */
    log_trace("rebased");
    if (last || (b->started && st->compiling == 0))
        server_state_changed(p->server);
    log_trace("status.sent");
    batch_free(b);
#ifdef __GLIBC__
    /* the save's transient copies (texts, trees, the patch) are freed: give
     * their pages back, so that the server's RSS follows what it keeps */
    malloc_trim(0);
    log_trace("trimmed");
#endif
    log_trace_flush("save");
}

static void batch_release(struct batch *b)
{
    if (b && --b->holds == 0 && b->jobs == 0)
        batch_finish(b);
}

/* A job of `b` ends: keeps what it has to say (stolen from the job). */
static void batch_job_ended(struct batch *b, struct job *job)
{
    job->batch = NULL;
    if (job->last)
        json_array_append_new(b->lasts, job->last);
    job->last = NULL;
    if (job->reloaded)
        json_array_append_new(b->reloaded, job->reloaded);
    job->reloaded = NULL;
    if (job->rebase && job->text)
        json_array_append_new(b->rebases,
                              json_pack("{s:s, s:s, s:O, s:I, s:O*}", "uri", job->uri, "path", job->path, "text",
                                        job->text_json, "serial", (json_int_t)job->serial, "expansion",
                                        job->expansion));
    if (--b->jobs == 0 && b->holds == 0)
        batch_finish(b);
}

/* ---------------------------------------------------------------- files, off the loop */

static void on_removed(uv_fs_t *req)
{
    uv_fs_req_cleanup(req);
    free(req);
}

/* Removes `path` through the libuv thread pool; a failure is only logged
 * (the temporary directory is removed at exit anyway). */
static void remove_file(struct pipeline *p, const char *path)
{
    uv_fs_t *req = malloc(sizeof *req);

    if (!req)
        return;
    if (uv_fs_unlink(p->loop, req, path, on_removed) != 0) {
        log_debug("cannot remove %s", path);
        free(req);
    }
}

/* Writes `len` bytes of `data` to a new file `path` (mode 0600). Blocking:
 * for a worker thread. 0, or -1 with errno set. */
static int write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t done = 0;

    if (fd < 0)
        return -1;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            errno = e;
            return -1;
        }
        done += (size_t)n;
    }
    return close(fd);
}

/* The whole file at `path` (NUL-terminated, its length in *len), or NULL
 * with errno set. Blocking: for a worker thread. */
static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    char *data = NULL;
    size_t got = 0;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &sb) == 0 && (data = malloc((size_t)sb.st_size + 1)) != NULL) {
        while (got < (size_t)sb.st_size) {
            ssize_t n = read(fd, data + got, (size_t)sb.st_size - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        data[got] = '\0';
    }
    close(fd);
    *len = got;
    return data;
}

/* Whether `name` is an executable in a directory of PATH. Blocking (a
 * stat per directory): for a worker thread. */
static bool on_path(const char *name)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];

    while (path && *path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, name);
        if (access(buf, X_OK) == 0)
            return true;
        path = colon ? colon + 1 : NULL;
    }
    return false;
}

/* Prepares a probe for `path` (may be NULL) against the pipeline's current
 * settings and cache. Copies everything it needs; -1 when out of memory. */
static int compile_probe_init(struct pipeline *p, struct compile_probe *probe, const char *path)
{
    const char *root = server_root(p->server);

    memset(probe, 0, sizeof *probe);
    probe->root = root ? strdup(root) : NULL;
    probe->configured = p->compile_commands ? strdup(p->compile_commands) : NULL;
    probe->path = path ? strdup(path) : NULL;
    if ((root && !probe->root) || (p->compile_commands && !probe->configured) || (path && !probe->path))
        return -1;
    if (p->db) {
        snprintf(probe->cached, sizeof probe->cached, "%s", p->db_path);
        probe->cached_mtime = p->db_mtime;
    }
    probe->tcc = p->tcc;
    return 0;
}

static void compile_probe_release(struct compile_probe *probe)
{
    free(probe->root);
    free(probe->configured);
    free(probe->path);
    build_db_free(probe->db);
    memset(probe, 0, sizeof *probe);
}

/* Blocking (stat, and a read of the file when it is not the cached one):
 * for a worker thread. Finds the compile_commands.json that applies to
 * probe->path: configured, at the root, in root/build, else in a parent of
 * the file (or its build/). */
static void compile_probe_run(struct compile_probe *probe)
{
    const char *db = build_db_find(probe->root, probe->configured, probe->found, sizeof probe->found);
    struct stat st;

    if (probe->tcc < 0)
        probe->tcc = on_path("tcc");
    if (!db && probe->path) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", probe->path);
        for (char *slash = strrchr(dir, '/'); slash && !db; slash = strrchr(dir, '/')) {
            *slash = '\0';
            db = build_db_find(*dir ? dir : "/", NULL, probe->found, sizeof probe->found);
        }
    }
    if (!db || stat(db, &st) != 0) {
        *probe->found = '\0';
        return;
    }
    probe->mtime = st.st_mtim;
    if (*probe->cached && strcmp(probe->found, probe->cached) == 0 &&
        st.st_mtim.tv_sec == probe->cached_mtime.tv_sec && st.st_mtim.tv_nsec == probe->cached_mtime.tv_nsec)
        return;
    probe->rc = build_db_load(&probe->db, probe->found, probe->err, sizeof probe->err);
}

/* On the loop: makes what `probe` found the pipeline's p->db (stealing the
 * loaded file). A probe that found the cached file unchanged leaves the
 * cache as it is. */
static void compile_probe_apply(struct pipeline *p, struct compile_probe *probe)
{
    if (p->tcc < 0)
        p->tcc = probe->tcc;
    if (!*probe->found) {
        build_db_free(p->db);
        p->db = NULL;
        *p->db_path = '\0';
        return;
    }
    if (!probe->db && probe->rc == 0)
        return; /* the cached file, unchanged when the probe ran */
    if (p->db && strcmp(probe->found, p->db_path) == 0 && probe->mtime.tv_sec == p->db_mtime.tv_sec &&
        probe->mtime.tv_nsec == p->db_mtime.tv_nsec)
        return; /* another probe loaded the same file first */
    build_db_free(p->db);
    p->db = NULL;
    if (probe->rc != 0) {
        log_warn("%s", probe->err);
        *p->db_path = '\0';
        return;
    }
    p->db = probe->db;
    probe->db = NULL;
    snprintf(p->db_path, sizeof p->db_path, "%s", probe->found);
    p->db_mtime = probe->mtime;
    log_info("compile commands from %s", probe->found);
}

/* ---------------------------------------------------------------- jobs */

static void job_free(struct job *job)
{
    struct pipeline *p = job->p;

    for (struct job **j = &p->jobs; *j; j = &(*j)->next)
        if (*j == job) {
            *j = job->next;
            break;
        }
    if (job->req)
        server_reply_error(p->server, job->req, -32803, job->reason ? job->reason : "the reload did not finish");
    if (job->batch)
        batch_job_ended(job->batch, job);
    json_decref(job->last);
    json_decref(job->reloaded);
    free(job->uri);
    free(job->path);
    free(job->key);
    free(job->build_id);
    json_decref(job->text_json);
    json_decref(job->expansion);
    free_strv(job->fns, job->n_fns);
    free(job->hashes);
    patch_release(&job->patch);
    json_decref(job->statics);
    json_decref(job->migrations);
    free(job->state_said);
    free(job->library_b64);
    free(job->progress);
    for (size_t i = 0; i < job->n_targets; i++)
        json_decref(job->targets[i].functions);
    free(job->targets);
    json_decref(job->programs);
    free(job->reason);
    free(job->note);
    compile_probe_release(&job->probe);
    preamble_plan_free(job->pre);
    free(job->fast_note);
    free(job->tcc_key);
    free(job->cc[0]);
    free(job->cc[1]);
    if (*job->c_path && !p->closing)
        remove_file(p, job->c_path);
    if (*job->pre_path && !p->closing)
        remove_file(p, job->pre_path);
    if (job->so_written && job->applied == 0 && !p->closing)
        remove_file(p, job->so_path); /* no program runs it */
    free(job);
}

static json_t *fn_names(struct job *job)
{
    json_t *a = json_array();
    for (size_t i = 0; i < job->n_fns; i++)
        json_array_append_new(a, json_string(job->fns[i]));
    return a;
}

static char *fn_list(char **fns, size_t n)
{
    size_t size = 0;
    char *s = NULL;
    FILE *out = open_memstream(&s, &size);

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%s()", i ? ", " : "", fns[i]);
    fclose(out);
    return s;
}

static void progress(struct pipeline *p, struct job *job, const char *kind, const char *text)
{
    if (!job->progress)
        return;
    server_notify(p->server, "$/progress", protocol_progress(job->progress, kind, text));
}

static void send_status(struct pipeline *p)
{
    server_notify(p->server, "hotc/status", state_status(server_state(p->server)));
}

/* Every target answered: the functions' state, the result for the batch
 * (hotc/reloaded, "last", whether the text becomes the baseline), the log,
 * the answer to "reload now". The batch tells the editor. */
static void job_finish(struct job *job)
{
    struct pipeline *p = job->p;
    struct state *st = server_state(p->server);
    uint64_t total = elapsed_us(job->t0);
    const char *result = job->applied ? "applied" : job->refused ? "refused" : "error";
    char *names = fn_list(job->fns, job->n_fns), *message;

    log_trace("job.finish");
    if (p->closing) {
        free(names);
        job_free(job);
        return;
    }
    if (job->applied)
        message = job->refused || job->errors
                      ? fmt("reloaded %s in %d of %zu programs; %s", names, job->applied, job->n_targets,
                            job->reason ? job->reason : "")
                      : fmt("reloaded %s in %.1f ms%s%s", names, total / 1000.0, job->state_said ? "; " : "",
                            job->state_said ? job->state_said : "");
    else
        message = fmt("cannot reload %s: %s", names, job->reason ? job->reason : "no answer");
    if (job->note && message) {
        /* the functions of the same save that the layout check kept back */
        char *both = fmt("%s; %s", message, job->note);
        if (both) {
            free(message);
            message = both;
        }
    }
    for (size_t i = 0; i < job->n_fns; i++)
        state_record(st, job->path, job->fns[i], job->applied ? job->version : 0, result,
                     job->applied ? "" : job->reason, total);
    if (job->applied) {
        /* remembered until the baseline moves, so that a save before that
         * does not push them again */
        for (size_t i = 0; i < job->n_fns; i++) {
            char *key = hash_key(job->path, job->fns[i]);
            json_object_set_new(p->hashes, key, json_integer((json_int_t)job->hashes[i]));
            free(key);
        }
        job->rebase = job->full && job->applied == (int)job->n_targets;
        unit_applied(p, job);
        server_set_diagnostics(p->server, job->uri, "crash", NULL, 0);
    }
    job->last = json_pack("{s:s, s:i, s:s, s:s, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "result", result,
                          "version", job->version, "message", message ? message : "", "file", job->path,
                          "functions", fn_names(job), "timings", "analysisUs", (json_int_t)job->analysis_us,
                          "patchUs", (json_int_t)job->patch_us, "compileUs", (json_int_t)job->compile_us,
                          "checkUs", (json_int_t)job->check_us, "loadUs",
                          (json_int_t)job->load_us, "applyUs", (json_int_t)job->apply_us, "totalUs",
                          (json_int_t)total);
    json_object_set_new(job->last, "build", build_details(job));
    job->reloaded = json_pack("{s:s, s:i, s:o, s:O}", "uri", job->uri, "version", job->version, "functions",
                              fn_names(job), "programs", job->programs);
    if (job->reloaded && job->state_said)
        json_object_set_new(job->reloaded, "state", json_string(job->state_said));
    log_info("%s (analysis %" PRIu64 " us, patch %" PRIu64 " us, compile %" PRIu64 " us, check %" PRIu64
             " us, load %" PRIu64 " us, apply %" PRIu64 " us, total %" PRIu64 " us)",
             message ? message : result, job->analysis_us, job->patch_us, job->compile_us, job->check_us,
             job->load_us, job->apply_us, total);
    if (!job->applied || job->refused || job->errors)
        show(p, 2, message ? message : result);
    else if (job->state_said)
        show(p, 3, message ? message : result);
    if (job->req) {
        server_reply(p->server, job->req,
                     json_pack("{s:s, s:i, s:o, s:s}", "result", result, "version", job->version, "functions",
                               fn_names(job), "message", message ? message : ""));
        job->req = NULL;
    }
    free(names);
    free(message);
    log_trace("job.finished");
    job_free(job);
}

/* What the runtime's `state` (the blocks it migrated) means, in words:
 * "state `game` migrated: field `lives` added (0), `speed` int → double"
 * from the plan's notes, and the fields whose value did not fit. New
 * string, or NULL when nothing was migrated. */
static char *state_words(const struct job *job, json_t *state)
{
    char *out = NULL;
    size_t size = 0, i, k;
    json_t *b, *plan, *v;
    FILE *f;

    if (json_array_size(state) == 0 || !(f = open_memstream(&out, &size)))
        return NULL;
    json_array_foreach(state, i, b) {
        const char *name = json_string_value(json_object_get(b, "name"));
        const char *type = json_string_value(json_object_get(b, "type"));
        const char *how = json_string_value(json_object_get(b, "how"));
        json_t *notes = NULL;
        json_array_foreach(job->migrations, k, plan)
            if (type && json_string_value(json_object_get(plan, "type")) &&
                strcmp(json_string_value(json_object_get(plan, "type")), type) == 0)
                notes = json_object_get(plan, "notes");
        fprintf(f, "%sstate `%s` ", i ? "; " : "", name ? name : "?");
        if (how && strcmp(how, "function") == 0) {
            fprintf(f, "migrated by its migrate function");
        } else if (how && strcmp(how, "plan") != 0) {
            fprintf(f, "not migrated: %s", how);
        } else {
            fprintf(f, "migrated");
            json_array_foreach(notes, k, v)
                fprintf(f, "%s %s", k ? "," : ":", json_string_value(v));
            json_array_foreach(json_object_get(b, "defaulted"), k, v)
                fprintf(f, "%s`%s` did not fit its new type, defaulted (0)", k ? ", " : "; ", json_string_value(v));
        }
    }
    fclose(f);
    return out;
}

/* Records one program's answer (result NULL: `error`). */
static void job_answer(struct job *job, size_t t, json_t *result, const char *error, uint64_t rtt_us)
{
    struct target *tg = &job->targets[t];
    struct program *pg = program_get(job->p, tg->program);
    const char *status = "error", *reason = error;
    json_t *entry, *timings = json_object_get(result, "timings"), *tj = json_object();
    json_int_t version = 0;

    if (tg->answered)
        return;
    tg->answered = true;
    log_trace("answer");
    if (result) {
        status = json_string_value(json_object_get(result, "status"));
        reason = json_string_value(json_object_get(result, "reason"));
        version = json_integer_value(json_object_get(result, "version"));
        if (!status || (strcmp(status, "applied") != 0 && strcmp(status, "refused") != 0)) {
            status = "error";
            reason = "the program answered with an unknown status";
        }
    }
    if (json_is_object(timings))
        json_object_update(tj, timings);
    json_object_set_new(tj, "rttUs", json_integer((json_int_t)rtt_us));
    entry = json_pack("{s:I, s:s, s:o}", "pid", (json_int_t)(tg->pid > 0 ? tg->pid : 1), "status", status,
                      "timings", tj);
    if (reason)
        json_object_set_new(entry, "reason", json_string(reason));
    if (json_is_array(json_object_get(result, "state"))) {
        json_object_set(entry, "state", json_object_get(result, "state"));
        if (!job->state_said)
            job->state_said = state_words(job, json_object_get(result, "state"));
    }
    json_array_append_new(job->programs, entry);
    if (pg && result) {
        pg->version = (int)version;
        if (pg->issued < (int)version)
            pg->issued = (int)version;
    }
    if (strcmp(status, "applied") == 0) {
        job->applied++;
        if (version > job->version)
            job->version = (int)version;
        job->load_us = (uint64_t)(json_integer_value(json_object_get(timings, "loadUs")) +
                                  json_integer_value(json_object_get(timings, "resolveUs")));
        job->apply_us = (uint64_t)json_integer_value(json_object_get(timings, "applyUs"));
        if (pg) {
            struct applied *a = calloc(1, sizeof *a);
            json_t *base = json_object_get(job->p->bases, job->uri);
            size_t k, n = json_array_size(tg->functions);
            json_t *f;
            if (a) {
                a->p = job->p;
                a->so_path = strdup(job->so_path);
                if (a->so_path)
                    library_ref(job->p, a->so_path, 1);
                a->version = (int)version;
                a->uri = strdup(job->uri);
                a->path = strdup(job->path);
                a->fns = calloc(n ? n : 1, sizeof *a->fns);
                json_array_foreach(tg->functions, k, f)
                    if (a->fns)
                        a->fns[a->n_fns++] = strdup(json_string_value(json_object_get(f, "name")));
                a->prev_base = json_incref(base);
                a->below = pg->applied;
                pg->applied = a;
                applied_trim(pg);
            }
        }
    } else {
        if (strcmp(status, "refused") == 0)
            job->refused++;
        else
            job->errors++;
        if (!job->reason)
            job->reason = fmt("program %ld: %s", tg->pid, reason ? reason : status);
    }
    if (++job->answered == job->n_targets && job->holds == 0)
        job_finish(job);
}

/* ---------------------------------------------------------------- sending */

static void rollback_answer(struct rollback *rb, struct program *pg, long pid, json_t *result, const char *error);

static void on_reload_result(struct link *link, const struct link_program *lp, json_t *result, const char *error,
                             uint64_t rtt_us, void *user)
{
    struct send *s = user;
    struct pipeline *p = s->job->p;
    struct program *pg = program_get(p, s->program);

    (void)link;
    (void)lp;
    if (pg) {
        pg->busy = false;
        pg->sent_at = 0;
    }
    job_answer(s->job, s->target, result, error, rtt_us);
    free(s);
    if (pg && !p->closing)
        program_pump(p, pg);
}

static void on_rollback_result(struct link *link, const struct link_program *lp, json_t *result,
                               const char *error, uint64_t rtt_us, void *user)
{
    struct send *s = user;
    struct pipeline *p = s->rollback->p;
    struct program *pg = program_get(p, s->program);

    (void)link;
    (void)rtt_us;
    if (pg)
        pg->busy = false;
    rollback_answer(s->rollback, pg, lp->pid, result, error);
    free(s);
    if (pg && !p->closing)
        program_pump(p, pg);
}

/* Fails a send that cannot go out. */
static void send_fail(struct pipeline *p, struct send *s, long pid, const char *why)
{
    if (s->kind == SEND_RELOAD)
        job_answer(s->job, s->target, NULL, why, 0);
    else
        rollback_answer(s->rollback, program_get(p, s->program), pid, NULL, why);
    free(s);
}

/* Every program in poll mode whose reload has waited WAIT_TELL_MS for
 * hot_poll() gets one "waiting" status, with the way out; the timer runs
 * again for the next one due. */
static void on_wait(uv_timer_t *timer)
{
    struct pipeline *p = timer->data;
    uint64_t now = uv_hrtime(), due = 0, tell_ns = (uint64_t)WAIT_TELL_MS * 1000000;

    for (struct program *pg = p->programs; pg && !p->closing; pg = pg->next) {
        char *message;
        if (!pg->poll || !pg->sent_at || pg->waiting_told)
            continue;
        if (now - pg->sent_at < tell_ns) {
            uint64_t left = tell_ns - (now - pg->sent_at);
            due = !due || left < due ? left : due;
            continue;
        }
        pg->waiting_told = true;
        message = fmt("waiting: program %ld has not called hot_poll() for %d s; call it from a loop that runs, or "
                      "use the automatic mode (HOTC_MODE=auto, or hot_init_mode(NULL, HOT_MODE_AUTO)) so that "
                      "reloads apply without it",
                      pg->pid, WAIT_TELL_MS / 1000);
        log_warn("%s", message ? message : "waiting for hot_poll()");
        state_set_last(server_state(p->server),
                       json_pack("{s:s, s:s}", "result", "waiting", "message", message ? message : ""));
        send_status(p);
        free(message);
    }
    if (due)
        uv_timer_start(&p->wait, on_wait, due / 1000000 + 1, 0);
}

/* Sends the program's next queued request when it is not waiting for one. */
static void program_pump(struct pipeline *p, struct program *pg)
{
    while (!pg->busy && pg->queue) {
        struct send *s = pg->queue;
        int rc;

        pg->queue = s->next;
        if (s->kind == SEND_RELOAD) {
            struct job *job = s->job;
            json_t *params = json_pack("{s:i, s:s, s:s, s:O, s:O}", "version", ++pg->issued,
                                       pg->remote ? "libraryBase64" : "library",
                                       pg->remote ? (job->library_b64 ? job->library_b64 : "") : job->so_path,
                                       "targetBuildId", job->build_id, "functions",
                                       job->targets[s->target].functions, "statics", job->statics);
            if (job->migrations)
                json_object_set(params, "migrations", job->migrations);
            rc = link_request(p->link, pg->id, "hot/reload", params, on_reload_result, s);
            if (rc == 0) {
                pg->sent_at = uv_hrtime();
                pg->waiting_told = false;
                if (pg->poll && p->batch_ready && !uv_is_active((uv_handle_t *)&p->wait))
                    uv_timer_start(&p->wait, on_wait, WAIT_TELL_MS, 0);
            }
        } else {
            rc = link_request(p->link, pg->id, "hot/rollback", json_object(), on_rollback_result, s);
        }
        if (rc != 0) {
            send_fail(p, s, pg->pid, link_strerror(rc));
            continue;
        }
        pg->busy = true;
    }
}

static void program_enqueue(struct pipeline *p, struct program *pg, struct send *s)
{
    struct send **q = &pg->queue;

    while (*q)
        q = &(*q)->next;
    s->next = NULL;
    s->program = pg->id;
    *q = s;
    program_pump(p, pg);
}

/* ---------------------------------------------------------------- compiler messages */

/* The uri of a file the compiler named (relative to `cwd`); `patch_c` (the
 * generated source itself) maps to the saved file. New string. */
static char *diag_uri(const char *file, const char *cwd, const struct job *job)
{
    char *path, *uri;

    if (!file || strcmp(file, job->c_path) == 0 || strcmp(base_name(file), base_name(job->c_path)) == 0)
        return strdup(job->uri);
    path = file[0] == '/' || !cwd ? strdup(file) : fmt("%s/%s", cwd, file);
    if (path && strcmp(path, job->path) == 0) {
        free(path);
        return strdup(job->uri);
    }
    uri = path ? protocol_path_to_uri(path) : NULL;
    free(path);
    return uri;
}

static struct text_range diag_range(int line, int column)
{
    struct text_range r;

    r.start.row = line > 0 ? (uint32_t)line : 0;
    r.start.column = column > 0 ? (uint32_t)column : 0;
    r.end = r.start;
    r.end.column++;
    return r;
}

/* Publishes the compile's messages as "compiler" diagnostics, grouped by
 * file, and clears those of the previous compile of the same file. */
static void publish_compiler(struct pipeline *p, struct job *job, const struct build_diags *diags,
                             const char *cwd)
{
    json_t *uris = json_object(), *old = json_object_get(p->compiler_uris, job->path);
    const char *uri;
    json_t *v;
    size_t i;

    json_object_set_new(uris, job->uri, json_true());
    for (i = 0; diags && i < diags->count; i++) {
        char *u = diag_uri(diags->items[i].file, cwd, job);
        if (u && !build_patch_noise(&diags->items[i]))
            json_object_set_new(uris, u, json_true());
        free(u);
    }
    json_object_foreach(uris, uri, v) {
        struct server_diagnostic *out = calloc(diags && diags->count ? diags->count : 1, sizeof *out);
        size_t n = 0;
        char **owned = NULL;
        size_t n_owned = 0;
        struct server_note *notes_all = NULL;
        size_t total_notes = 0, used_notes = 0;

        for (i = 0; diags && i < diags->count; i++)
            total_notes += diags->items[i].nrelated;
        notes_all = calloc(total_notes ? total_notes : 1, sizeof *notes_all);
        owned = calloc(total_notes ? total_notes : 1, sizeof *owned);
        for (i = 0; out && notes_all && owned && diags && i < diags->count; i++) {
            const struct build_diag *d = &diags->items[i];
            char *u = diag_uri(d->file, cwd, job);
            if (u && strcmp(u, uri) == 0 && !build_patch_noise(d)) {
                struct server_diagnostic *sd = &out[n++];
                sd->range = diag_range(d->line, d->column);
                sd->severity = d->severity == BUILD_ERROR ? 1 : d->severity == BUILD_WARNING ? 2 : 3;
                sd->message = d->message;
                sd->notes = notes_all + used_notes;
                for (size_t k = 0; k < d->nrelated; k++) {
                    struct server_note *note = &notes_all[used_notes++];
                    owned[n_owned] = diag_uri(d->related[k].file, cwd, job);
                    note->uri = owned[n_owned++];
                    note->range = diag_range(d->related[k].line, d->related[k].column);
                    note->message = d->related[k].message;
                    sd->n_notes++;
                }
            }
            free(u);
        }
        server_set_diagnostics(p->server, uri, "compiler", out, n);
        free_strv(owned, n_owned);
        free(notes_all);
        free(out);
    }
    json_array_foreach(old, i, v) {
        if (!json_object_get(uris, json_string_value(v)))
            server_set_diagnostics(p->server, json_string_value(v), "compiler", NULL, 0);
    }
    {
        json_t *list = json_array();
        json_object_foreach(uris, uri, v)
            json_array_append_new(list, json_string(uri));
        json_object_set_new(p->compiler_uris, job->path, list);
    }
    json_decref(uris);
}

/* ---------------------------------------------------------------- compiling */

static void job_dispatch(struct job *job);
static void job_check(struct job *job);
static void job_deliver(struct job *job);
static void on_image_loaded(const char *build_id, int rc, const char *error, size_t units, uint64_t us,
                            void *user);

/* `len` bytes as base64 (RFC 4648, padded). New string, or NULL. */
static char *base64(const unsigned char *data, size_t len)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)data[i] << 16 | (i + 1 < len ? (unsigned)data[i + 1] << 8 : 0) |
                     (i + 2 < len ? data[i + 2] : 0);
        *o++ = digits[v >> 18 & 63];
        *o++ = digits[v >> 12 & 63];
        *o++ = i + 1 < len ? digits[v >> 6 & 63] : '=';
        *o++ = i + 2 < len ? digits[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* On a libuv worker thread: job->so_path into job->library_b64 (NULL when
 * it cannot be read). Touches nothing else. */
static void encode_library(uv_work_t *req)
{
    struct job *job = req->data;
    int fd = open(job->so_path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    unsigned char *data = NULL;
    size_t got = 0;

    if (fd < 0)
        return;
    if (fstat(fd, &sb) == 0 && sb.st_size > 0 && (data = malloc((size_t)sb.st_size)) != NULL) {
        while (got < (size_t)sb.st_size) {
            ssize_t n = read(fd, data + got, (size_t)sb.st_size - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got == (size_t)sb.st_size)
            job->library_b64 = base64(data, got);
    }
    free(data);
    close(fd);
}

static void on_library_encoded(uv_work_t *req, int status)
{
    struct job *job = req->data;

    (void)status;
    if (job->p->closing) {
        job_free(job);
        return;
    }
    job_dispatch(job);
}

/* tcc failed on `job`'s file where the project's compiler did not: tcc is
 * not tried again on it until its preamble or its flags change. */
static void tcc_failed(struct pipeline *p, struct job *job, const char *why)
{
    /* "<patch path>:<line>: error: <message>": the message says it */
    const char *msg = why ? strstr(why, "error: ") : NULL;
    if (msg)
        why = msg + 7;
    log_info("tcc cannot compile %s (%s); its patches use %s until its preamble or flags change",
             base_name(job->path), why && *why ? why : "no message", job->cc[1] ? job->cc[1] : "the compiler");
    json_object_set_new(p->tcc_failed, job->path,
                        json_pack("{s:s, s:s}", "key", job->tcc_key, "reason", why && *why ? why : "tcc failed"));
    free(job->fast_note);
    job->fast_note = fmt("tcc failed: %s", why && *why ? why : "no message");
}

/* What compiled the patch, for hotc/status "last": the compiler, the
 * precompiled preamble's state, why tcc was not used. New reference. */
static json_t *build_details(const struct job *job)
{
    json_t *o = json_object();

    if (job->compiled_with)
        json_object_set_new(o, "compiler", json_string(job->compiled_with));
    if (job->pre)
        json_object_set_new(o, "preamble", json_string(preamble_plan_state(job->pre)));
    if (job->fast_note)
        json_object_set_new(o, "fastCompiler", json_string(job->fast_note));
    return o;
}

static void on_compiled(const struct build_result *r, void *user)
{
    struct job *job = user;
    struct pipeline *p = job->p;
    struct state *st = server_state(p->server);
    char *cwd = NULL;

    log_trace("compiled");
    job->compiling = false;
    st->compiling--;
    job->compile_us = r->duration_us;
    job->compiled_with = job->cc[r->used_fallback && job->cc[1] ? 1 : 0];
    job->so_written = r->status == 0;
    if (job->tried_tcc && r->used_fallback && r->status == 0 && job->tcc_key && !p->closing)
        tcc_failed(p, job, r->failed_first);
    progress(p, job, "end", r->status == 0 ? "compiled" : build_strerror(r->status));
    if (r->status == BUILD_ECANCELED || p->closing) {
        free(job->reason);
        job->reason = strdup(build_strerror(BUILD_ECANCELED));
        job_free(job);
        return;
    }
    {
        const char *c = strrchr(job->path, '/');
        const struct build_command *entry = p->db ? build_db_lookup(p->db, job->path) : NULL;
        cwd = entry ? strdup(entry->directory) : c ? fmt("%.*s", (int)(c - job->path), job->path) : NULL;
    }
    if (r->status == 0 || r->status == BUILD_ECOMPILE)
        publish_compiler(p, job, &r->diags, cwd);
    free(cwd);
    if (r->status != 0) {
        char *names = fn_list(job->fns, job->n_fns);
        char *message = r->status == BUILD_ECOMPILE
                            ? fmt("cannot reload %s: the patch does not compile; the program keeps running the "
                                  "old code",
                                  names)
                            : fmt("cannot reload %s: %s", names, build_strerror(r->status));
        if (r->status != BUILD_ECOMPILE)
            log_error("%s: %.*s", message ? message : "compile failed", (int)(r->output_len > 2000 ? 2000 : r->output_len),
                      r->output);
        for (size_t i = 0; i < job->n_fns; i++)
            state_record(st, job->path, job->fns[i], 0, r->status == BUILD_ECOMPILE ? "compileError" : "error",
                         r->status == BUILD_ECOMPILE ? "compile error" : build_strerror(r->status), 0);
        job->last = json_pack("{s:s, s:s, s:s, s:o, s:{s:I, s:I, s:I, s:I}}", "result",
                              r->status == BUILD_ECOMPILE ? "compileError" : "error", "message",
                              message ? message : "", "file", job->path, "functions", fn_names(job), "timings",
                              "analysisUs", (json_int_t)job->analysis_us, "patchUs", (json_int_t)job->patch_us,
                              "compileUs", (json_int_t)job->compile_us, "totalUs",
                              (json_int_t)elapsed_us(job->t0));
        json_object_set_new(job->last, "build", build_details(job));
        if (r->status != BUILD_ECOMPILE)
            show(p, 1, message ? message : "compile failed");
        log_info("%s", message ? message : "compile failed");
        free(job->reason);
        job->reason = message;
        free(names);
        job_free(job);
        return;
    }
    job_check(job);
}

/* The patch compiled and held against the running program: sends it
 * (reading the library's bytes first for programs attached over TCP). */
static void job_deliver(struct job *job)
{
    struct pipeline *p = job->p;

    for (size_t t = 0; t < job->n_targets; t++) {
        struct program *pg = program_get(p, job->targets[t].program);
        if (pg && pg->remote) {
            /* the library travels as bytes: read and encode it off the loop */
            job->encode.data = job;
            if (uv_queue_work(p->loop, &job->encode, encode_library, on_library_encoded) == 0)
                return;
            break;
        }
    }
    job_dispatch(job);
}

/* Queues the job's hot/reload to each target program. */
static void job_dispatch(struct job *job)
{
    struct pipeline *p = job->p;

    log_trace("dispatch");
    job->holds++;
    for (size_t t = 0; t < job->n_targets; t++) {
        struct program *pg = program_get(p, job->targets[t].program);
        struct send *s = calloc(1, sizeof *s);

        if (!s) {
            job_answer(job, t, NULL, "out of memory", 0);
            continue;
        }
        s->kind = SEND_RELOAD;
        s->job = job;
        s->target = t;
        s->program = job->targets[t].program;
        if (!pg)
            send_fail(p, s, job->targets[t].pid, "the program detached before the patch was ready");
        else if (pg->remote && !job->library_b64)
            send_fail(p, s, pg->pid, "cannot read the patch library to send it over TCP");
        else
            program_enqueue(p, pg, s);
    }
    if (--job->holds == 0 && job->answered == job->n_targets)
        job_finish(job);
}


/* ---------------------------------------------------------------- layouts */

/* A program's executable was read for the layout check (or could not be). */
static void on_image_loaded(const char *build_id, int rc, const char *error, size_t units, uint64_t us,
                            void *user)
{
    struct pipeline *p = user;

    if (rc == 0) {
        log_info("layouts of build %.12s read: %zu compile units in %.1f ms", build_id, units, us / 1000.0);
        return;
    }
    log_warn("build %.12s: %s", build_id, error);
    if (p->layout_check) {
        char *message = fmt("hotc: %s; reloads are refused until it is rebuilt with -g (or set hotc.layoutCheck "
                            "to \"off\" to reload without the check)",
                            error);
        show(p, 2, message ? message : error);
        free(message);
    }
}

/* The functions of `job` that `report` refuses, as a NULL-terminated list
 * borrowed from job->fns; every function when an issue concerns the whole
 * patch. */
static size_t refused_functions(const struct job *job, const struct compat_report *report, bool *refused)
{
    size_t n = 0;

    for (size_t i = 0; i < job->n_fns; i++) {
        refused[i] = false;
        for (size_t k = 0; k < report->count; k++)
            if (!report->issues[k].function || strcmp(report->issues[k].function, job->fns[i]) == 0)
                refused[i] = true;
        n += refused[i];
    }
    return n;
}

/* What `report` says about function `name`: the first issue that concerns
 * it, or the first that concerns the whole patch. Borrowed. */
static const struct compat_issue *issue_for(const struct compat_report *report, const char *name)
{
    for (size_t k = 0; k < report->count; k++)
        if (report->issues[k].function && strcmp(report->issues[k].function, name) == 0)
            return &report->issues[k];
    for (size_t k = 0; k < report->count; k++)
        if (!report->issues[k].function)
            return &report->issues[k];
    return report->count ? &report->issues[0] : NULL;
}

/* Records why the functions of `job` marked in `refused` (all when NULL)
 * cannot be reloaded: a warning at each one's name, its stale reason, the
 * log and a message. `error` (when the check itself could not run) or
 * `report` says why. Returns the first message (new string, or NULL). */
static char *record_layout_refusals(struct job *job, const char *error, const struct compat_report *report,
                                    const bool *refused, char *const *calls)
{
    struct pipeline *p = job->p;
    struct state *st = server_state(p->server);
    struct document *doc = docstore_get(server_docs(p->server), job->uri);
    struct server_diagnostic *warn = calloc(job->n_fns + 1, sizeof *warn);
    char *first = NULL;
    size_t n = 0;

    for (size_t i = 0; i < job->n_fns; i++) {
        const struct compat_issue *issue = report ? issue_for(report, job->fns[i]) : NULL;
        const struct analysis_function *f = doc ? analysis_find_function(doc->analysis, job->fns[i]) : NULL;
        char *why, *message;

        if (refused && !refused[i])
            continue;
        if (error) {
            why = fmt("%s; or set hotc.layoutCheck to \"off\" to reload without the check", error);
        } else if (calls && calls[i]) {
            why = fmt("it calls %s(), which cannot be reloaded", calls[i]);
        } else if (issue && issue->message[0] == '`') {
            const char *decl = issue->file ? base_name(issue->file) : NULL;
            why = decl && issue->line > 0
                      ? fmt("%s (declared at %s:%d); the running program still has the old layout (data kept in a "
                            "state block, HOT_STATE, is migrated instead)",
                            issue->message, decl, issue->line)
                      : fmt("%s; the running program still has the old layout (data kept in a state block, "
                            "HOT_STATE, is migrated instead)",
                            issue->message);
        } else {
            why = fmt("%s", issue ? issue->message : "its layouts differ from the running program's");
        }
        message = fmt("cannot reload %s(): %s; restart the program to apply", job->fns[i], why ? why : "");
        free(why);
        if (!message)
            continue;
        state_record(st, job->path, job->fns[i], 0, "refused", message, 0);
        if (!first)
            first = strdup(message);
        if (f && warn) {
            warn[n].range = f->name_range;
            warn[n].severity = 2;
            warn[n].code = "layout-changed";
            warn[n].message = message;
            n++;
        } else {
            free(message);
        }
    }
    server_set_diagnostics(p->server, job->uri, "layout", warn, n);
    json_object_set_new(p->layout_uris, job->uri, json_true());
    for (size_t i = 0; i < n; i++)
        free((char *)warn[i].message);
    free(warn);
    log_warn("%s", first ? first : "the layout check refused the patch");
    /* a check that could not run (no debug information) was said once, at
     * attach; the status and the diagnostics carry each refusal */
    if (!error)
        show(p, 2, first ? first : "cannot reload: layouts changed");
    return first;
}

/* The patch cannot run against the program's data: nothing is sent; the
 * editor hears why (record_layout_refusals; `calls` as there, may be
 * NULL). Frees `job`. */
static void job_refuse_layout(struct job *job, const char *error, const struct compat_report *report,
                              char *const *calls)
{
    char *first = record_layout_refusals(job, error, report, NULL, calls);

    job->last = json_pack("{s:s, s:s, s:s, s:o, s:{s:I, s:I, s:I, s:I, s:I}}", "result", "refused", "message",
                          first ? first : "", "file", job->path, "functions", fn_names(job), "timings",
                          "analysisUs", (json_int_t)job->analysis_us, "patchUs", (json_int_t)job->patch_us,
                          "compileUs", (json_int_t)job->compile_us, "checkUs", (json_int_t)job->check_us,
                          "totalUs", (json_int_t)elapsed_us(job->t0));
    free(job->reason);
    job->reason = first;
    job_free(job);
}

static void job_start(struct pipeline *p, struct job *job, struct document *doc);

/* Some functions of `job` cannot be reloaded (`refused`), the others can:
 * those are refused and the rest is built again without them, as a new job
 * of the same batch, so that the patch calls the running versions of the
 * refused ones. Frees `job`. Returns false (and frees nothing) when the
 * document is gone and this cannot be done. */
static bool job_retry_without(struct job *job, const struct compat_report *report, const bool *refused,
                              char *const *calls)
{
    struct pipeline *p = job->p;
    struct document *doc = docstore_get(server_docs(p->server), job->uri);
    struct job *next;
    char *first;

    if (!doc || !doc->text || doc->len != job->len || memcmp(doc->text, job->text, job->len) != 0)
        return false;
    next = calloc(1, sizeof *next);
    if (!next)
        return false;
    next->p = p;
    next->batch = job->batch;
    if (next->batch)
        next->batch->jobs++;
    next->serial = ++p->next_serial;
    next->uri = strdup(job->uri);
    next->path = strdup(job->path);
    next->build_id = strdup(job->build_id);
    next->key = strdup(job->key);
    next->text_json = json_incref(job->text_json);
    next->text = job->text;
    next->len = job->len;
    next->full = false;
    next->t0 = job->t0;
    next->analysis_us = job->analysis_us;
    next->programs = json_array();
    next->fns = calloc(job->n_fns, sizeof *next->fns);
    next->hashes = calloc(job->n_fns, sizeof *next->hashes);
    next->targets = calloc(job->n_targets + 1, sizeof *next->targets);
    patch_init(&next->patch);
    next->next = p->jobs;
    p->jobs = next;
    if (!next->uri || !next->path || !next->build_id || !next->key || !next->fns || !next->hashes ||
        !next->targets) {
        next->reason = strdup("out of memory");
        job_free(next);
        return false;
    }
    for (size_t i = 0; i < job->n_fns; i++)
        if (!refused[i]) {
            next->fns[next->n_fns] = strdup(job->fns[i]);
            next->hashes[next->n_fns++] = job->hashes[i];
        }
    for (size_t t = 0; t < job->n_targets; t++) {
        json_t *list = json_array(), *f;
        size_t k;
        json_array_foreach(job->targets[t].functions, k, f) {
            const char *name = json_string_value(json_object_get(f, "name"));
            for (size_t i = 0; name && i < next->n_fns; i++)
                if (strcmp(next->fns[i], name) == 0)
                    json_array_append_new(list, json_pack("{s:s, s:s}", "name", name, "symbol", name));
        }
        if (json_array_size(list) == 0) {
            json_decref(list);
            continue;
        }
        next->targets[next->n_targets].program = job->targets[t].program;
        next->targets[next->n_targets].pid = job->targets[t].pid;
        next->targets[next->n_targets++].functions = list;
    }
    next->req = job->req;
    job->req = NULL;
    first = record_layout_refusals(job, NULL, report, refused, calls);
    next->note = first;
    job_free(job);
    if (next->n_targets == 0) {
        job_free(next);
        return true;
    }
    log_trace("job.retry");
    job_start(p, next, doc);
    return true;
}

/* Whether `name` appears as a whole identifier in `text` (`len` bytes). */
static bool names(const char *text, size_t len, const char *name)
{
    size_t n = strlen(name);
    for (const char *at = text; n && (at = memmem(at, len - (size_t)(at - text), name, n)) != NULL; at += n) {
        bool before = at > text && (at[-1] == '_' || (at[-1] >= '0' && at[-1] <= '9') ||
                                    ((at[-1] | 32) >= 'a' && (at[-1] | 32) <= 'z'));
        char c = (size_t)(at - text) + n < len ? at[n] : ' ';
        bool after = c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
        if (!before && !after)
            return true;
    }
    return false;
}

/* Every function of `job` not refused that calls a refused one, directly
 * or through other functions of the file, is refused too: the patch would
 * compile the refused one's new code into it (a static one) or call the
 * program's old one with the new declaration. Calls are found in what the
 * compiler saw of the file when the program was built (the unit's refs)
 * and in the saved text of each function (a call added by this save);
 * calls[i] names the refused function that refuses function i. Returns how
 * many functions are refused in all. */
static size_t refuse_callers(struct job *job, bool *refused, char **calls)
{
    struct pipeline *p = job->p;
    struct document *doc = docstore_get(server_docs(p->server), job->uri);
    json_t *refs = json_object_get(json_object_get(p->units, job->path), "refs");
    bool grew = true, same_text = doc && doc->text && doc->len == job->len &&
                                   memcmp(doc->text, job->text, job->len) == 0;
    size_t n = 0;

    while (grew) {
        grew = false;
        for (size_t i = 0; i < job->n_fns; i++) {
            const struct analysis_function *f =
                same_text ? analysis_find_function(doc->analysis, job->fns[i]) : NULL;
            json_t *named = json_object_get(refs, job->fns[i]);
            if (refused[i])
                continue;
            for (size_t k = 0; k < job->n_fns && !refused[i]; k++) {
                json_t *v;
                size_t m;
                bool calls_k = false;
                if (!refused[k] || k == i)
                    continue;
                json_array_foreach(named, m, v)
                    calls_k = calls_k || strcmp(json_string_value(v), job->fns[k]) == 0;
                if (!calls_k && f && f->end_byte <= job->len)
                    calls_k = names(job->text + f->start_byte, f->end_byte - f->start_byte, job->fns[k]);
                if (calls_k) {
                    refused[i] = grew = true;
                    calls[i] = job->fns[k];
                }
            }
        }
    }
    for (size_t i = 0; i < job->n_fns; i++)
        n += refused[i];
    return n;
}

/* Back on the loop with the verdict of the layout check. */
static void on_job_checked(const struct layoutcheck_result *r, void *user)
{
    struct job *job = user;
    struct pipeline *p = job->p;

    log_trace("checked");
    job->check_us = r->duration_us;
    if (p->closing) {
        free(job->reason);
        job->reason = strdup(build_strerror(BUILD_ECANCELED));
        job_free(job);
        return;
    }
    if (r->rc != 0 && p->layout_check) {
        job_refuse_layout(job, r->error, NULL, NULL);
        return;
    }
    for (size_t i = 0; r->rc == 0 && i < r->report->count; i++)
        log_info("layout check of %s: %s%s%s", base_name(job->path),
                 r->report->issues[i].function ? r->report->issues[i].function : "",
                 r->report->issues[i].function ? "(): " : "the patch: ", r->report->issues[i].message);
    if (r->rc == 0 && r->report->count > 0) {
        bool *refused = calloc(job->n_fns + 1, sizeof *refused);
        char **calls = calloc(job->n_fns + 1, sizeof *calls);
        size_t n = refused && calls && refused_functions(job, r->report, refused) > 0
                       ? refuse_callers(job, refused, calls)
                       : job->n_fns;
        if (n > 0 && n < job->n_fns && job_retry_without(job, r->report, refused, calls)) {
            free(refused);
            free(calls);
            return;
        }
        /* every function: each says why (its own difference, or the
         * refused function it calls) */
        job_refuse_layout(job, NULL, r->report, calls);
        free(refused);
        free(calls);
        return;
    }
    if (r->rc != 0)
        log_warn("reloading %s without the layout check (hotc.layoutCheck is off): %s", base_name(job->path),
                 r->error);
    else
        log_info("layout check of %s: %zu variables, functions and types agree with the running program (%.2f ms)",
                 base_name(job->path), r->report->compared, job->check_us / 1000.0);
    if (json_object_get(p->layout_uris, job->uri)) {
        json_object_del(p->layout_uris, job->uri);
        server_set_diagnostics(p->server, job->uri, "layout", NULL, 0);
    }
    if (r->rc == 0 && r->report->migrations)
        job->migrations = json_incref(r->report->migrations);
    job_deliver(job);
}

/* Holds the compiled patch against the running program's DWARF, off the
 * loop; on_job_checked() sends it or refuses it. Takes `job`. */
static void job_check(struct job *job)
{
    struct pipeline *p = job->p;
    struct compat_function *fns = calloc(job->patch.function_count + 1, sizeof *fns);
    struct compat_static *statics = calloc(job->patch.static_count + 1, sizeof *statics);
    struct compat_request req = { .source = job->path };
    int rc;

    if (!fns || !statics) {
        free(fns);
        free(statics);
        job->reason = strdup("out of memory");
        job_free(job);
        return;
    }
    for (size_t i = 0; i < job->patch.function_count; i++) {
        fns[i].name = job->patch.functions[i].name;
        fns[i].symbol = job->patch.functions[i].symbol;
        fns[i].is_static = job->patch.functions[i].is_static;
    }
    for (size_t i = 0; i < job->patch.static_count; i++) {
        statics[i].symbol = job->patch.statics[i].symbol;
        statics[i].name = job->patch.statics[i].name;
        statics[i].function = job->patch.statics[i].function;
    }
    req.functions = fns;
    req.function_count = job->patch.function_count;
    req.statics = statics;
    req.static_count = job->patch.static_count;
    /* the types the target programs keep in typed state blocks */
    json_t *types = json_object();
    for (size_t t = 0; t < job->n_targets; t++) {
        struct program *pg = program_get(p, job->targets[t].program);
        const char *name;
        json_t *type;
        if (pg && pg->state)
            json_object_foreach(pg->state, name, type)
                json_object_set(types, json_string_value(type), json_true());
    }
    const char **state_types = calloc(json_object_size(types) + 1, sizeof *state_types);
    const char *type_name;
    json_t *unused;
    json_object_foreach(types, type_name, unused)
        if (state_types)
            state_types[req.state_type_count++] = type_name;
    req.state_types = state_types;
    rc = layoutcheck_run(p->layout, job->build_id, job->so_path, &req, on_job_checked, job);
    free(state_types);
    json_decref(types);
    free(fns);
    free(statics);
    if (rc != 0) {
        struct layoutcheck_result r = { .rc = DEBUGINFO_EIO, .error = "the running program's image is not known" };
        on_job_checked(&r, job);
    }
}


static void job_compile(struct pipeline *p, struct job *job);

/* On a libuv worker thread: writes the patch source to job->c_path, then
 * finds the compile commands. Touches nothing but the job's own fields. */
static void prepare_work(uv_work_t *req)
{
    struct job *job = req->data;

    log_trace("worker.write");
    if (write_file(job->c_path, job->patch.source, job->patch.length) != 0) {
        job->write_errno = errno ? errno : EIO;
        return;
    }
    log_trace("worker.written");
    preamble_plan_work(job->pre, job->patch.source, job->patch.length);
    compile_probe_run(&job->probe);
    log_trace("worker.probed");
}

/* Back on the loop: the source is written (or not); compiles it. */
static void on_prepared(uv_work_t *req, int status)
{
    struct job *job = req->data;
    struct pipeline *p = job->p;
    json_t *newest;

    (void)status;
    log_trace("prepared");
    if (p->closing) {
        free(job->reason);
        job->reason = strdup(build_strerror(BUILD_ECANCELED));
        job_free(job);
        return;
    }
    if (job->write_errno) {
        job->reason = fmt("cannot write %s: %s", job->c_path, strerror(job->write_errno));
        log_error("%s", job->reason);
        *job->c_path = '\0';
        job_free(job);
        return;
    }
    job->patch_us = elapsed_us(job->patch_t0);
    compile_probe_apply(p, &job->probe);
    compile_probe_release(&job->probe);
    /* Writes can end out of order: a newer save of the same file that
     * already started compiling cancels this one, as it would have had this
     * one started first. */
    newest = json_object_get(p->compile_serials, job->key);
    if (newest && json_integer_value(newest) > (json_int_t)job->serial) {
        free(job->reason);
        job->reason = strdup(build_strerror(BUILD_ECANCELED));
        job_free(job);
        return;
    }
    json_object_set_new(p->compile_serials, job->key, json_integer((json_int_t)job->serial));
    job_compile(p, job);
}

/* Builds the patch source and has it written off the loop; on_prepared()
 * then starts the compiler. Takes `job` (freed on failure). `doc` (may be
 * NULL): the open document, whose tree is used when its text is the job's. */
static void job_start(struct pipeline *p, struct job *job, struct document *doc)
{
    struct patch_input in = { 0 };
    int rc;

    in.text = job->text;
    in.length = job->len;
    in.path = job->path;
    in.functions = (const char *const *)job->fns;
    in.function_count = job->n_fns;
    in.build_id = job->build_id;
    in.tree = doc && doc->text && doc->len == job->len && memcmp(doc->text, job->text, job->len) == 0 ? doc->tree
                                                                                                   : NULL;
    job->patch_t0 = uv_hrtime();
    log_trace("patch.begin");
    rc = patch_build_indexed(&job->patch, &in, in.tree ? doc->patch_index : NULL);
    log_trace("patch.built");
    if (rc != 0) {
        char *message = fmt("cannot build the patch for %s: %s", base_name(job->path), job->patch.error);
        log_error("%s", message ? message : "patch failed");
        show(p, 1, message ? message : "patch failed");
        job->last = json_pack("{s:s, s:s, s:s}", "result", "error", "message", message ? message : "", "file",
                              job->path);
        job->reason = message;
        job_free(job);
        return;
    }
    job->statics = json_array();
    for (size_t i = 0; i < job->patch.static_count; i++) {
        const struct patch_static *s = &job->patch.statics[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "symbol", s->symbol, "name", s->name, "file",
                              job->patch.file, "kind", "object");
        if (s->function)
            json_object_set_new(o, "function", json_string(s->function));
        json_array_append_new(job->statics, o);
    }
    for (size_t t2 = 0; t2 < job->n_targets; t2++) {
        json_t *fns = job->targets[t2].functions;
        size_t k;
        json_t *f;
        json_array_foreach(fns, k, f) {
            const char *name = json_string_value(json_object_get(f, "name"));
            for (size_t i = 0; i < job->patch.function_count; i++)
                if (strcmp(job->patch.functions[i].name, name) == 0) {
                    json_object_set_new(f, "symbol", json_string(job->patch.functions[i].symbol));
                    if (job->patch.functions[i].is_static)
                        json_object_set_new(f, "file", json_string(job->patch.file));
                }
        }
    }
    snprintf(job->c_path, sizeof job->c_path, "%s/p%u-%s", p->tmpdir, job->serial, base_name(job->path));
    snprintf(job->so_path, sizeof job->so_path, "%s/p%u.so", p->tmpdir, job->serial);
    snprintf(job->pre_path, sizeof job->pre_path, "%s/p%u-pre-%s", p->tmpdir, job->serial, base_name(job->path));
    job->pre = preamble_plan_new(p->pre, job->path, job->text, job->len, job->patch.source, job->patch.length,
                                 job->pre_path);
    {
        unsigned lines;
        size_t n = preamble_scan(job->text, job->len, &lines, NULL);
        job->pre_hash = preamble_hash(PREAMBLE_HASH_INIT, job->text, n);
    }
    if (compile_probe_init(p, &job->probe, job->path) != 0) {
        job->reason = strdup("out of memory");
        *job->c_path = '\0';
        job_free(job);
        return;
    }
    job->prepare.data = job;
    rc = uv_queue_work(p->loop, &job->prepare, prepare_work, on_prepared);
    log_trace("prepare.queued");
    if (rc != 0) {
        job->reason = fmt("cannot write %s: %s", job->c_path, uv_strerror(rc));
        log_error("%s", job->reason);
        *job->c_path = '\0';
        job_free(job);
    }
}

/* The key under which tcc's failure on a file is remembered: its preamble
 * and the tcc flags. */
static char *tcc_key(const struct job *job, char *const *tcc_argv)
{
    return fmt("%016" PRIx64 "%016" PRIx64, job->pre_hash,
               preamble_flags_hash(tcc_argv, job->c_path, job->so_path));
}

/* Why tcc is not tried on `job` (it failed on the file with the same
 * preamble and flags), or NULL. Borrowed from p->tcc_failed. */
static const char *tcc_known_to_fail(struct pipeline *p, const struct job *job, char *const *tcc_argv)
{
    json_t *memo = json_object_get(p->tcc_failed, job->path);
    char *key = memo ? tcc_key(job, tcc_argv) : NULL;
    const char *why = NULL;

    if (key && strcmp(key, json_string_value(json_object_get(memo, "key"))) == 0)
        why = json_string_value(json_object_get(memo, "reason"));
    free(key);
    return why;
}

/* Starts the compiler on the written patch source. Takes `job` (freed on
 * failure). */
static void job_compile(struct pipeline *p, struct job *job)
{
    struct state *st = server_state(p->server);
    char **argv = NULL, **fallback = NULL, *cwd = NULL;
    const struct build_command *entry;
    struct build_options opts = { 0 };
    int rc;

    entry = p->db ? build_db_lookup(p->db, job->path) : NULL;
    opts.compiler = p->compiler;
    opts.flags = (const char *const *)p->flags;
    bool fast = p->fast && (strcmp(p->fast, "tcc") == 0 || (strcmp(p->fast, "auto") == 0 && p->tcc == 1));
    if (fast && p->layout_check) {
        /* Debian's tcc writes stabs, not DWARF: its patches cannot be held
         * against the running program's layouts */
        if (!p->tcc_told)
            log_info("tcc is not used for patches: the layout check needs the patch's DWARF, which tcc does not "
                     "write; set hotc.layoutCheck to \"off\" to use it unchecked");
        p->tcc_told = true;
        fast = false;
    }
    if (fast) {
        argv = build_patch_argv(entry, &opts, "tcc", job->path, job->c_path, job->so_path, NULL);
        fallback = build_patch_argv(entry, &opts, NULL, job->path, job->c_path, job->so_path, &cwd);
        const char *why = argv ? tcc_known_to_fail(p, job, argv) : NULL;
        if (why) {
            /* no second failed try: straight to the project's compiler */
            job->fast_note = fmt("tcc skipped: %s", why);
            build_argv_free(argv);
            argv = fallback;
            fallback = NULL;
        } else if (argv) {
            job->tried_tcc = true;
            job->tcc_key = tcc_key(job, argv);
        }
    } else {
        argv = build_patch_argv(entry, &opts, NULL, job->path, job->c_path, job->so_path, &cwd);
    }
    if (argv && !job->tried_tcc)
        preamble_plan_use(job->pre, &argv, &fallback, job->c_path, job->so_path, cwd, p->timeout_ms);
    if (!argv) {
        build_argv_free(fallback);
        free(cwd);
        job->reason = strdup("out of memory");
        job_free(job);
        return;
    }
    if (job->progress) {
        server_send_request(p->server, "window/workDoneProgress/create", protocol_progress_create(job->progress));
        char *title = fmt("hotc: compiling %s", base_name(job->path));
        progress(p, job, "begin", title);
        free(title);
    }
    /* compiling:true once, when the first compile starts */
    if (st->compiling++ == 0)
        send_status(p);
    job->compiling = true;
    if (job->batch)
        job->batch->started = true;
    log_trace("compile.run");
    job->cc[0] = strdup(base_name(argv[0]));
    job->cc[1] = fallback ? strdup(base_name(fallback[0])) : NULL;
    /* with a precompiled preamble, clang's fallback is for a stale one only */
    rc = build_run_when(&p->runner, job->key, argv, fallback, job->tried_tcc ? NULL : "precompiled header", cwd,
                        p->timeout_ms, on_compiled, job);
    log_trace("compile.started");
    build_argv_free(argv);
    build_argv_free(fallback);
    free(cwd);
    if (rc != 0) {
        st->compiling--;
        job->reason = strdup(build_strerror(rc));
        job->last = json_pack("{s:s, s:s, s:s}", "result", "error", "message", job->reason ? job->reason : "",
                              "file", job->path);
        job_free(job);
    }
}

/* ---------------------------------------------------------------- saves */

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

/* ---------------------------------------------------------------- what the compiler sees */

/* A translation unit preprocessed with its own flags (lsp/expand.h says
 * why): SCAN_BASE records what the program runs (an open file's baseline
 * text, or a file of compile_commands.json as it is on disk); SCAN_SAVE
 * decides what a save changed and starts its reload. The steps: the text
 * is written (or the file read) off the loop, the preprocessor runs like
 * the compiler (build_run), its output is read and cut into functions off
 * the loop, and the loop compares. */
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
    bool copy;               /* in_c is a copy of the text (with #line 1 "path") */
    char in_c[PATH_MAX], out_i[PATH_MAX];
    struct compile_probe probe;
    int err;                 /* errno of the worker's file step, 0 when fine */
    struct analysis *analysis;  /* of the text (worker) */
    struct expand ex;
    bool expanded;
    bool cancelled;          /* a newer scan of the same file replaced it */
    uv_work_t work;
};

static int reload_source(struct pipeline *p, struct batch *batch, const struct source *src, enum reload_mode mode,
                         uint64_t t0, struct server_request *req, json_t *skip_types, json_t *expansion);

static const char *scan_text(const struct scan *s, size_t *len)
{
    if (s->text_json) {
        *len = json_string_length(s->text_json);
        return json_string_value(s->text_json);
    }
    *len = s->disk_len;
    return s->disk_text;
}

static void scan_free(struct scan *s)
{
    if (s->batch)
        batch_release(s->batch);
    free(s->uri);
    free(s->path);
    free(s->marker);
    free(s->cwd);
    json_decref(s->text_json);
    free(s->disk_text);
    compile_probe_release(&s->probe);
    analysis_free(s->analysis);
    expand_release(&s->ex);
    free(s);
}

/* A unit's JSON (what p->units keeps per path): {fns: {name: hash},
 * closures: {name: closure}, refs: {name: [names]}, statics: {name: true},
 * includes: [paths]}.
 * New reference. */
static json_t *unit_of(const struct expand *ex)
{
    json_t *fns = json_object(), *closures = json_object(), *refs = json_object(), *includes = json_array();
    json_t *statics = json_object();

    for (size_t i = 0; i < ex->n_functions; i++) {
        const struct expand_function *f = &ex->functions[i];
        json_t *r = json_array();
        json_object_set_new(fns, f->name, json_integer((json_int_t)f->hash));
        json_object_set_new(closures, f->name, json_integer((json_int_t)f->closure));
        for (size_t k = 0; k < f->n_refs; k++)
            json_array_append_new(r, json_string(f->refs[k]));
        json_object_set_new(refs, f->name, r);
        if (f->is_static)
            json_object_set_new(statics, f->name, json_true());
    }
    for (size_t i = 0; i < ex->n_includes; i++)
        json_array_append_new(includes, json_string(ex->includes[i]));
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "fns", fns, "closures", closures, "refs", refs, "statics",
                     statics, "includes", includes);
}

/* On a worker: writes the text (behind `#line 1 "path"`, so that the
 * markers and __FILE__ name the user's file) or reads the file, and finds
 * the compile commands. */
static void scan_prepare_work(uv_work_t *req)
{
    struct scan *s = req->data;

    if (s->copy) {
        FILE *f = fopen(s->in_c, "we");
        size_t len;
        const char *text = scan_text(s, &len);
        bool ok = f && fputs("#line 1 \"", f) >= 0;
        for (const char *c = s->path; ok && *c; c++)
            ok = (*c != '"' && *c != '\\' ? 0 : fputc('\\', f)) != EOF && fputc(*c, f) != EOF;
        if (!ok || fputs("\"\n", f) < 0 || fwrite(text, 1, len, f) != len) {
            s->err = errno ? errno : EIO;
            if (f)
                fclose(f);
            return;
        }
        if (fclose(f) != 0) {
            s->err = errno ? errno : EIO;
            return;
        }
    } else if (!(s->disk_text = slurp(s->path, &s->disk_len))) {
        s->err = errno ? errno : EIO;
        return;
    }
    compile_probe_run(&s->probe);
}

/* On a worker: the preprocessed output into functions; the includes made
 * absolute (relative to the compile's directory) and canonical. Removes the
 * scan's temporary files. */
static void scan_read_work(uv_work_t *req)
{
    struct scan *s = req->data;
    size_t pp_len = 0, len;
    char *pp = slurp(s->out_i, &pp_len);
    const char *text = scan_text(s, &len);

    if (pp && text && (s->analysis = analysis_of_text(text, len, s->marker)) != NULL &&
        expand_read(&s->ex, pp, pp_len, s->analysis, s->path, s->copy ? s->in_c : NULL) == 0) {
        s->expanded = true;
        for (size_t i = 0; i < s->ex.n_includes; i++) {
            char *joined = s->ex.includes[i][0] == '/' || !s->cwd ? NULL : fmt("%s/%s", s->cwd, s->ex.includes[i]);
            char *canon = realpath(joined ? joined : s->ex.includes[i], NULL);
            if (canon) {
                free(s->ex.includes[i]);
                s->ex.includes[i] = canon;
            }
            free(joined);
        }
    }
    free(pp);
    unlink(s->out_i);
    if (s->copy)
        unlink(s->in_c);
}

/* On a worker, when the preprocessor failed: removes the scan's files. */
static void scan_cleanup_work(uv_work_t *req)
{
    struct scan *s = req->data;

    unlink(s->out_i);
    if (s->copy)
        unlink(s->in_c);
}

/* Back on the loop with the functions: records the baseline, or decides
 * what the save changed and starts its reload. Frees the scan. */
static void on_scan_read(uv_work_t *req, int status)
{
    struct scan *s = req->data;
    struct pipeline *p = s->p;
    json_t *unit = s->expanded ? unit_of(&s->ex) : NULL;

    (void)status;
    if (p->closing) {
        json_decref(unit);
        scan_free(s);
        return;
    }
    if (s->kind == SCAN_BASE) {
        if (unit && !json_object_get(p->units, s->path))
            json_object_set(p->units, s->path, unit);
        else if (!unit && !s->cancelled)
            json_object_set_new(p->units_failed, s->path, json_true());
        p->scanning_base = false;
        scan_next_base(p);
    } else if (!s->cancelled) {
        struct document *doc = docstore_get(server_docs(p->server), s->uri);
        size_t len;
        const char *text = scan_text(s, &len);
        struct source src = { 0 };
        struct analysis *fallback = NULL;

        src.uri = s->uri;
        src.path = s->path;
        src.text = text;
        src.len = len;
        src.doc = doc;
        src.since = s->started;
        src.analysis = s->analysis ? s->analysis : doc ? doc->analysis : NULL;
        if (!src.analysis && text)
            src.analysis = fallback = analysis_of_text(text, len, s->marker);
        src.running = doc ? doc->running : src.analysis;
        if (text && src.analysis)
            reload_source(p, s->batch, &src, RELOAD_CHANGED, s->t0, NULL, NULL,
                          json_object_get(p->units, s->path) ? unit : NULL);
        analysis_free(fallback);
    }
    json_decref(unit);
    scan_free(s);
}

static void on_scanned(const struct build_result *r, void *user)
{
    struct scan *s = user;

    if (r->status != 0 && r->status != BUILD_ECANCELED)
        log_debug("cannot preprocess %s: %s; deciding from the text alone", s->path, build_strerror(r->status));
    s->cancelled = r->status == BUILD_ECANCELED;
    s->work.data = s;
    if (uv_queue_work(s->p->loop, &s->work, r->status == 0 ? scan_read_work : scan_cleanup_work, on_scan_read) !=
        0) {
        if (s->kind == SCAN_BASE)
            s->p->scanning_base = false;
        scan_free(s);
    }
}

/* Back on the loop with the text written: starts the preprocessor. */
static void on_scan_prepared(uv_work_t *req, int status)
{
    struct scan *s = req->data;
    struct pipeline *p = s->p;
    const struct build_command *entry;
    struct build_options opts = { 0 };
    char **argv, *key;
    int rc;

    (void)status;
    if (p->closing) {
        scan_free(s);
        return;
    }
    compile_probe_apply(p, &s->probe);
    if (s->err) {
        log_debug("cannot preprocess %s: %s", s->path, strerror(s->err));
        on_scanned(&(struct build_result){ .status = BUILD_EIO }, s);
        return;
    }
    entry = p->db ? build_db_lookup(p->db, s->path) : NULL;
    opts.compiler = p->compiler;
    opts.flags = (const char *const *)p->flags;
    argv = build_preprocess_argv(entry, &opts, s->path, s->in_c, s->out_i, &s->cwd);
    key = fmt("%s#%s", s->kind == SCAN_BASE ? "base" : "save", s->path);
    rc = argv && key ? build_run(&p->runner, key, argv, NULL, s->cwd, p->timeout_ms, on_scanned, s) : BUILD_ENOMEM;
    build_argv_free(argv);
    free(key);
    if (rc != 0)
        on_scanned(&(struct build_result){ .status = rc }, s);
}

/* Starts a scan of `path` (`uri` may be NULL: made from the path) with
 * `text` (stolen; NULL: the file on disk). A SCAN_SAVE holds `batch` until
 * its reload has started. */
static void scan_start(struct pipeline *p, enum scan_kind kind, struct batch *batch, const char *uri,
                       const char *path, json_t *text, uint64_t t0)
{
    struct scan *s = calloc(1, sizeof *s);

    if (!s) {
        json_decref(text);
        return;
    }
    s->p = p;
    s->kind = kind;
    s->serial = ++p->next_serial;
    s->t0 = t0;
    s->started = uv_hrtime();
    s->uri = uri ? strdup(uri) : protocol_path_to_uri(path);
    s->path = strdup(path);
    s->marker = strdup(docstore_marker(server_docs(p->server)));
    s->text_json = text;
    s->copy = text != NULL;
    if (batch) {
        s->batch = batch;
        batch->holds++;
    }
    snprintf(s->out_i, sizeof s->out_i, "%s/e%u.i", p->tmpdir, s->serial);
    snprintf(s->in_c, sizeof s->in_c, "%s", path);
    if (s->copy)
        snprintf(s->in_c, sizeof s->in_c, "%s/e%u-%s", p->tmpdir, s->serial, base_name(path));
    if (kind == SCAN_BASE)
        p->scanning_base = true;
    s->work.data = s;
    if (!s->uri || !s->path || !s->marker || compile_probe_init(p, &s->probe, path) != 0 ||
        uv_queue_work(p->loop, &s->work, scan_prepare_work, on_scan_prepared) != 0) {
        if (kind == SCAN_BASE)
            p->scanning_base = false;
        scan_free(s);
    }
}

/* Records what the program runs, one file at a time in the background:
 * first the open C files (their baseline text), then every file of
 * compile_commands.json (as on disk), so that a header save finds every
 * translation unit that includes it. */
static void scan_next_base(struct pipeline *p)
{
    struct document *doc;
    const struct build_command *entry;

    if (p->scanning_base || p->closing || !p->server || !*p->tmpdir)
        return;
    for (size_t i = 0; (doc = docstore_at(server_docs(p->server), i)) != NULL; i++) {
        json_t *base = json_object_get(p->bases, doc->uri);
        if (!doc->path || is_header(doc->path) || json_object_get(p->units, doc->path) ||
            json_object_get(p->units_failed, doc->path))
            continue;
        scan_start(p, SCAN_BASE, NULL, doc->uri, doc->path,
                   base ? json_incref(base) : json_stringn_nocheck(doc->text, doc->len), uv_hrtime());
        return;
    }
    for (size_t i = 0; (entry = build_db_at(p->db, i)) != NULL; i++) {
        if (json_object_get(p->units, entry->file) || json_object_get(p->units_failed, entry->file) ||
            is_header(entry->file))
            continue;
        scan_start(p, SCAN_BASE, NULL, NULL, entry->file, NULL, uv_hrtime());
        return;
    }
}

/* Whether `name`'s entry in `key` ("fns" or "closures") differs between
 * the unit the program runs and `expansion`. */
static bool unit_differs(json_t *unit, json_t *expansion, const char *key, const char *name)
{
    json_t *old = json_object_get(json_object_get(unit, key), name);
    json_t *now = json_object_get(json_object_get(expansion, key), name);

    return !old || !now || json_integer_value(old) != json_integer_value(now);
}

/* Adds to `reached` (name -> true) every static function that `name`
 * reaches through the refs of `expansion`. */
static void reach_statics(json_t *expansion, const char *name, json_t *reached)
{
    size_t i;
    json_t *r;

    json_array_foreach(json_object_get(json_object_get(expansion, "refs"), name), i, r) {
        const char *callee = json_string_value(r);
        if (!json_object_get(json_object_get(expansion, "statics"), callee) || json_object_get(reached, callee))
            continue;
        json_object_set_new(reached, callee, json_true());
        reach_statics(expansion, callee, reached);
    }
}

/* A job was applied: its functions, and the static functions they reach,
 * now run as the compiler saw them in the job's text. */
static void unit_applied(struct pipeline *p, struct job *job)
{
    json_t *unit = json_object_get(p->units, job->path), *reached, *v;
    const char *name;

    if (!unit || !job->expansion)
        return;
    reached = json_object();
    for (size_t i = 0; i < job->n_fns; i++) {
        json_object_set_new(reached, job->fns[i], json_true());
        reach_statics(job->expansion, job->fns[i], reached);
    }
    json_object_foreach(reached, name, v) {
        json_t *fn = json_object_get(json_object_get(job->expansion, "fns"), name);
        if (fn)
            json_object_set(json_object_get(unit, "fns"), name, fn);
    }
    for (size_t i = 0; i < job->n_fns; i++) {
        json_t *closure = json_object_get(json_object_get(job->expansion, "closures"), job->fns[i]);
        if (closure)
            json_object_set(json_object_get(unit, "closures"), job->fns[i], closure);
    }
    json_decref(reached);
}

/* The unit of `path` becomes `expansion` (NULL: what the program runs is
 * not known as the compiler sees it: it is scanned again from the
 * baseline). */
static void unit_rebase(struct pipeline *p, const char *path, json_t *expansion)
{
    if (!path || is_header(path))
        return;
    json_object_del(p->units_failed, path);
    if (expansion) {
        json_object_set(p->units, path, expansion);
        return;
    }
    json_object_del(p->units, path);
    scan_next_base(p);
}

/* A save that pushes nothing still gets an answer: compiler diagnostics of
 * the file are stale (no HOT function differs from what runs), and so is
 * every "stale" lens of a function that is back to what the program runs. */
static void clear_compiler(struct pipeline *p, const char *path)
{
    size_t i;
    json_t *v;

    json_array_foreach(json_object_get(p->compiler_uris, path), i, v)
        server_set_diagnostics(p->server, json_string_value(v), "compiler", NULL, 0);
    json_object_del(p->compiler_uris, path);
}

/* Starts the reload of the HOT functions of `src`. With `expansion` (the
 * text's unit, see unit_of) and a unit for the file in p->units, what
 * changed is what the compiler sees: a HOT function whose expansion, or
 * that of a static function it reaches, differs from what the program
 * runs; otherwise the tree-sitter diff against the baseline decides.
 * `skip_types` (may be NULL): type names whose layout changed in a saved
 * header; functions using them are left out. Returns the number of jobs
 * started; answers `req` (when given) now if nothing is started, else when
 * the (first) job ends. A save that starts nothing tells `batch` why. */
/* Whether function `from` of the saved source reaches `target`: through
 * the functions its expansion names (transitively), or, without an
 * expansion, by naming it in its text. */
static bool source_reaches(const struct source *src, json_t *expansion, const char *from, const char *target)
{
    if (expansion) {
        json_t *refs = json_object_get(expansion, "refs"), *seen = json_object(), *todo = json_array(), *v;
        bool hit = false;
        json_array_append_new(todo, json_string(from));
        json_object_set_new(seen, from, json_true());
        while (!hit && json_array_size(todo) > 0) {
            const char *f = json_string_value(json_array_get(todo, json_array_size(todo) - 1));
            json_t *named = json_incref(json_object_get(refs, f));
            size_t i;
            json_array_remove(todo, json_array_size(todo) - 1);
            json_array_foreach(named, i, v) {
                const char *g = json_string_value(v);
                if (!g || json_object_get(seen, g))
                    continue;
                if (strcmp(g, target) == 0) {
                    hit = true;
                    break;
                }
                json_object_set_new(seen, g, json_true());
                json_array_append_new(todo, json_string(g));
            }
            json_decref(named);
        }
        json_decref(seen);
        json_decref(todo);
        return hit;
    }
    const struct analysis_function *f = analysis_find_function(src->analysis, from);
    return f && f->end_byte <= src->len && names(src->text + f->start_byte, f->end_byte - f->start_byte, target);
}

/* Removes from `fns` (and `hashes`, *n of them) each function that reaches
 * a HOT function whose signature changed in `diff`, with a note saying so. */
static void drop_callers_of_refused(const struct source *src, const struct analysis_diff *diff, json_t *expansion,
                                    char **fns, uint64_t *hashes, size_t *n, json_t *notes, bool *full)
{
    for (size_t i = 0; fns && i < *n;) {
        const char *callee = NULL;
        for (size_t k = 0; !callee && k < diff->n_changes; k++)
            if (diff->changes[k].hot && diff->changes[k].kind == ANALYSIS_SIGNATURE &&
                strcmp(diff->changes[k].name, fns[i]) != 0 &&
                source_reaches(src, expansion, fns[i], diff->changes[k].name))
                callee = diff->changes[k].name;
        if (!callee) {
            i++;
            continue;
        }
        json_array_append_new(notes, json_sprintf("%s(): it calls %s(), which cannot be reloaded", fns[i], callee));
        *full = false;
        free(fns[i]);
        memmove(&fns[i], &fns[i + 1], (*n - i - 1) * sizeof *fns);
        memmove(&hashes[i], &hashes[i + 1], (*n - i - 1) * sizeof *hashes);
        (*n)--;
    }
}

static int reload_source(struct pipeline *p, struct batch *batch, const struct source *src, enum reload_mode mode,
                         uint64_t t0, struct server_request *req, json_t *skip_types, json_t *expansion)
{
    uint64_t t = src->since ? src->since : uv_hrtime();
    int others_changed = 0;
    struct analysis_diff *diff = analysis_diff_hot(src->running, src->analysis, &others_changed);
    json_t *unit = expansion ? json_object_get(p->units, src->path) : NULL;
    struct state *st = server_state(p->server);
    char **fns = NULL;
    uint64_t *hashes = NULL;
    size_t n = 0, n_programs = program_count(p), started = 0;
    bool full = true;
    json_t *build_ids = json_object(), *notes = json_array(), *reached = json_object();
    const char *bid;
    json_t *unused;

    if (!diff || !src->path) {
        analysis_diff_free(diff);
        json_decref(build_ids);
        json_decref(notes);
        json_decref(reached);
        if (req)
            server_reply_error(p->server, req, -32803, "cannot analyse the file");
        return 0;
    }
    if (!unit)
        expansion = NULL;
    fns = calloc(src->analysis->n_functions + 1, sizeof *fns);
    hashes = calloc(src->analysis->n_functions + 1, sizeof *hashes);
    full = expansion || !others_changed;
    for (size_t i = 0; i < diff->n_changes; i++) {
        const struct analysis_change *ch = &diff->changes[i];
        if (ch->hot && ch->kind == ANALYSIS_SIGNATURE) {
            json_array_append_new(notes, json_sprintf("%s(): %s", ch->name, ch->message));
            full = false;
        }
        if (!expansion && (ch->kind == ANALYSIS_LAYOUT || (!ch->hot && ch->kind == ANALYSIS_BODY)))
            full = false;
    }
    for (size_t i = 0; fns && hashes && i < src->analysis->n_functions; i++) {
        const struct analysis_function *f = &src->analysis->functions[i];
        const struct analysis_change *ch = analysis_diff_find(diff, f->name);
        char *key = hash_key(src->path, f->name);
        json_t *h = json_object_get(p->hashes, key);
        bool skip = false, changed;

        free(key);
        /* a layout the text seems to change is no reason to skip: the
         * compiled patch is held against the running program (job_check) */
        if (!f->hot || (ch && ch->kind == ANALYSIS_SIGNATURE))
            continue;
        (void)skip_types;
        if (expansion)
            changed = unit_differs(unit, expansion, "closures", f->name);
        else
            changed = ch && (ch->kind == ANALYSIS_BODY || ch->kind == ANALYSIS_LAYOUT) &&
                      !(h && (uint64_t)json_integer_value(h) == f->body_hash);
        /* back to what the program runs: nothing about it is stale any more */
        if (!changed && mode == RELOAD_CHANGED) {
            struct state_function *sf = state_get(st, src->path, f->name);
            if (sf && sf->stale)
                state_set_stale(st, src->path, f->name, NULL);
        }
        if (skip || (mode == RELOAD_CHANGED && !changed))
            continue;
        if (!any_program_has(p, src->path, f->name))
            continue;
        fns[n] = strdup(f->name);
        hashes[n++] = expansion ? (uint64_t)json_integer_value(
                                      json_object_get(json_object_get(expansion, "closures"), f->name))
                                : f->body_hash;
        if (expansion)
            reach_statics(expansion, f->name, reached);
    }
    /* a function that calls one whose signature changed is not reloaded
     * either: its patch would compile that one's new code in (a static
     * one) or call the program's old one with the new declaration */
    drop_callers_of_refused(src, diff, expansion, fns, hashes, &n, notes, &full);
    /* a function that is not HOT reaches the program only as a static
     * helper of a function that is reloaded */
    for (size_t i = 0; expansion && i < src->analysis->n_functions; i++) {
        const struct analysis_function *f = &src->analysis->functions[i];
        bool dup = false;
        for (size_t k = 0; k < i; k++)
            dup = dup || strcmp(src->analysis->functions[k].name, f->name) == 0;
        if (dup || f->hot || !unit_differs(unit, expansion, "fns", f->name) ||
            !json_object_get(json_object_get(unit, "fns"), f->name))
            continue;
        if (f->is_static && json_object_get(reached, f->name))
            continue;
        full = false;
        if (n_programs > 0)
            json_array_append_new(notes, f->is_static
                                             ? json_sprintf("%s() is static and no HOT function that calls it "
                                                            "changed; mark a caller %s or restart to apply",
                                                            f->name, docstore_marker(server_docs(p->server)))
                                             : json_sprintf("%s() is not %s; mark it %s to reload it live",
                                                            f->name, docstore_marker(server_docs(p->server)),
                                                            docstore_marker(server_docs(p->server))));
    }
    json_decref(reached);
    analysis_diff_free(diff);
    log_trace("diff");
    if ((n_programs == 0 && mode == RELOAD_CHANGED) || (n == 0 && mode == RELOAD_CHANGED && full)) {
        /* nothing runs it (the next program is built from this text), or
         * nothing in it needs pushing */
        set_base(p, src->uri, src->path, src->text, src->len);
        json_object_set_new(p->base_serials, src->uri, json_integer((json_int_t)++p->next_serial));
        unit_rebase(p, src->path, expansion);
    }
    if (n == 0 && mode == RELOAD_CHANGED)
        clear_compiler(p, src->path);
    if (n == 0 && mode == RELOAD_CHANGED && n_programs > 0 && batch) {
        char *list = NULL, *message;
        size_t size = 0, i;
        json_t *v;
        FILE *out = open_memstream(&list, &size);
        json_array_foreach(notes, i, v)
            if (out)
                fprintf(out, "%s%s", i ? "; " : "", json_string_value(v));
        if (out)
            fclose(out);
        message = full ? fmt("nothing to reload: no %s function of %s changed as the compiler sees it",
                             docstore_marker(server_docs(p->server)), base_name(src->path))
                       : fmt("not applied: %s", list ? list : "");
        json_array_append_new(batch->lasts, json_pack("{s:s, s:s, s:s, s:[]}", "result",
                                                      full ? "nothing" : "notApplied", "message",
                                                      message ? message : "", "file", src->path, "functions"));
        if (!full)
            show(p, 3, message ? message : "not applied");
        free(message);
        free(list);
    }
    json_decref(notes);
    if (n == 0) {
        free_strv(fns, n);
        free(hashes);
        json_decref(build_ids);
        if (req) {
            if (n_programs == 0)
                server_reply_error(p->server, req, -32803, "no program attached");
            else
                server_reply(p->server, req,
                             json_pack("{s:s, s:[], s:s}", "result", "nothing", "functions", "message",
                                       "no HOT function to reload"));
        }
        return 0;
    }
    for (struct program *pg = p->programs; pg; pg = pg->next)
        json_object_set_new(build_ids, pg->build_id ? pg->build_id : "", json_true());
    json_object_foreach(build_ids, bid, unused) {
        struct job *job = calloc(1, sizeof *job);
        if (!job)
            break;
        job->p = p;
        job->batch = batch;
        if (batch)
            batch->jobs++;
        job->serial = ++p->next_serial;
        job->uri = strdup(src->uri);
        job->path = strdup(src->path);
        job->build_id = strdup(bid);
        job->key = fmt("%s#%s", src->path, bid);
        job->text_json = json_stringn_nocheck(src->text, src->len);
        if (job->text_json) {
            job->text = json_string_value(job->text_json);
            job->len = src->len;
        }
        job->full = full;
        job->expansion = json_incref(expansion);
        job->t0 = t0;
        job->analysis_us = elapsed_us(t);
        job->programs = json_array();
        job->fns = calloc(n, sizeof *job->fns);
        job->hashes = calloc(n, sizeof *job->hashes);
        job->targets = calloc(n_programs, sizeof *job->targets);
        patch_init(&job->patch);
        job->next = p->jobs;
        p->jobs = job;
        if (!job->uri || !job->path || !job->build_id || !job->key || !job->text || !job->fns || !job->hashes ||
            !job->targets) {
            job->reason = strdup("out of memory");
            job_free(job);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            job->fns[i] = strdup(fns[i]);
            job->hashes[i] = hashes[i];
        }
        job->n_fns = n;
        for (struct program *pg = p->programs; pg; pg = pg->next) {
            json_t *list;
            if (strcmp(pg->build_id ? pg->build_id : "", bid) != 0)
                continue;
            list = json_array();
            for (size_t i = 0; i < n; i++) {
                json_t *f = program_function(pg, src->path, fns[i]);
                if (f)
                    json_array_append_new(list, json_pack("{s:s, s:s}", "name", fns[i], "symbol", fns[i]));
            }
            if (json_array_size(list) == 0) {
                json_decref(list);
                continue;
            }
            job->targets[job->n_targets].program = pg->id;
            job->targets[job->n_targets].pid = pg->pid;
            job->targets[job->n_targets++].functions = list;
        }
        if (job->n_targets == 0) {
            job_free(job);
            continue;
        }
        if (server_client(p->server)->work_done_progress)
            job->progress = fmt("hotc-compile-%u", job->serial);
        if (req && started == 0) {
            job->req = req;
            req = NULL;
        }
        started++;
        log_trace("job.new");
        job_start(p, job, src->doc);
    }
    free_strv(fns, n);
    free(hashes);
    json_decref(build_ids);
    if (req)
        server_reply_error(p->server, req, -32803, "nothing to reload");
    return (int)started;
}

/* reload_source of an open document, decided by tree-sitter. */
static int reload_document(struct pipeline *p, struct batch *batch, struct document *doc, enum reload_mode mode,
                           uint64_t t0, struct server_request *req, json_t *skip_types)
{
    struct source src = { doc->uri, doc->path, doc->text, doc->len, doc->running, doc->analysis, doc, 0 };

    return reload_source(p, batch, &src, mode, t0, req, skip_types, NULL);
}

/* The translation units whose include graph (as the compiler reported it
 * when they were scanned) has `header`: each is preprocessed again (its
 * open text, or the file on disk) and reloads what changed. Returns the
 * paths started (a new object: path -> true). */
static json_t *headers_includers(struct pipeline *p, struct batch *batch, struct document *header, uint64_t t0)
{
    json_t *handled = json_object(), *unit, *inc;
    const char *path;
    size_t i;

    json_object_foreach(p->units, path, unit) {
        json_array_foreach(json_object_get(unit, "includes"), i, inc) {
            if (strcmp(json_string_value(inc), header->path) != 0)
                continue;
            struct document *doc = docstore_find_path(server_docs(p->server), path);
            scan_start(p, SCAN_SAVE, batch, doc ? doc->uri : NULL, path,
                       doc ? json_stringn_nocheck(doc->text, doc->len) : NULL, t0);
            json_object_set_new(handled, path, json_true());
            break;
        }
    }
    return handled;
}

/* A header was saved: reload the HOT functions of every translation unit
 * that includes it at any depth (headers_includers); open files whose
 * include graph is not known yet fall back to the text: a direct include
 * by basename. Whether each can run against the program's data is for the
 * layout check of each compiled patch to say (job_check), not for the
 * text: a changed struct refuses exactly the functions whose code reaches
 * it. */
static void header_saved(struct pipeline *p, struct batch *batch, struct document *header, uint64_t t0)
{
    struct analysis_diff *diff = analysis_diff(header->running, header->analysis);
    json_t *handled = headers_includers(p, batch, header, t0);
    struct document *doc;
    char needle[PATH_MAX];
    bool layout = diff && diff->n_types > 0;

    snprintf(needle, sizeof needle, "%s\"", base_name(header->path));
    for (size_t i = 0; (doc = docstore_at(server_docs(p->server), i)) != NULL; i++) {
        if (doc == header || !doc->path || is_header(doc->path) || !strstr(doc->text, needle))
            continue;
        if (program_count(p) > 0 && !json_object_get(handled, doc->path)) {
            reload_document(p, batch, doc, RELOAD_ALL, t0, NULL, NULL);
            json_object_set_new(handled, doc->path, json_true());
        }
    }
    if (json_object_size(handled) == 0 && program_count(p) > 0)
        json_array_append_new(batch->lasts,
                              json_pack("{s:s, s:s++, s:s, s:[]}", "result", "nothing", "message",
                                        "nothing to reload: no file of compile_commands.json includes ",
                                        base_name(header->path), "file", header->path, "functions"));
    json_decref(handled);
    if (!layout || program_count(p) == 0)
        set_base(p, header->uri, header->path, header->text, header->len);
    analysis_diff_free(diff);
}

static void on_batch(uv_timer_t *timer)
{
    struct pipeline *p = timer->data;
    json_t *pending = p->pending;
    const char *uri;
    json_t *when;
    uint64_t first = uv_hrtime();
    struct batch *batch;

    log_trace("batch.timer");
    json_object_foreach(pending, uri, when) {
        struct document *doc = docstore_get(server_docs(p->server), uri);
        if (doc && doc->path && !is_header(doc->path) && !json_object_get(p->units, doc->path) &&
            !json_object_get(p->units_failed, doc->path) &&
            uv_hrtime() - (uint64_t)json_integer_value(when) < BASE_WAIT_NS) {
            /* what the program runs of this file is being preprocessed: the
             * batch is decided when it is known */
            scan_next_base(p);
            uv_timer_start(&p->batch, on_batch, 20, 0);
            return;
        }
    }
    p->pending = json_object();
    json_object_foreach(pending, uri, when)
        if ((uint64_t)json_integer_value(when) < first)
            first = (uint64_t)json_integer_value(when);
    batch = batch_new(p, first);
    json_object_foreach(pending, uri, when) {
        struct document *doc = docstore_get(server_docs(p->server), uri);
        uint64_t t0 = (uint64_t)json_integer_value(when);
        if (!doc || !doc->path)
            continue;
        if (is_header(doc->path)) {
            header_saved(p, batch, doc, t0);
        } else if (json_object_get(p->units, doc->path)) {
            scan_start(p, SCAN_SAVE, batch, doc->uri, doc->path, json_stringn_nocheck(doc->text, doc->len), t0);
        } else {
            reload_document(p, batch, doc, RELOAD_CHANGED, t0, NULL, NULL);
        }
    }
    json_decref(pending);
    batch_release(batch);
}

/* ---------------------------------------------------------------- hooks: documents */

static void hook_did_open(void *data, struct server *server, struct document *doc)
{
    struct pipeline *p = data;

    p->server = server;
    if (!json_object_get(p->bases, doc->uri))
        json_object_set_new(p->bases, doc->uri, json_stringn_nocheck(doc->text, doc->len));
    for (struct program *pg = p->programs; pg; pg = pg->next)
        mark_doc_running(p, doc, pg);
    scan_next_base(p);
}

/* Saves are collected and handled on the next turn of the loop, so that a
 * "save all" (several didSave in one read) is one batch; a newer save of a
 * file replaces the older in the batch, and its compile cancels the older
 * one (build_run's key). */
static void hook_did_save(void *data, struct server *server, struct document *doc)
{
    struct pipeline *p = data;

    p->server = server;
    if (p->closing || !p->batch_ready)
        return;
    if (!json_object_get(p->pending, doc->uri))
        json_object_set_new(p->pending, doc->uri, json_integer((json_int_t)uv_hrtime()));
    uv_timer_start(&p->batch, on_batch, 0, 0);
    log_trace("save.queued");
}

static void hook_did_close(void *data, struct server *server, const char *uri)
{
    struct pipeline *p = data;

    p->server = server;
    json_object_del(p->bases, uri);
    json_object_del(p->pending, uri);
}

/* ---------------------------------------------------------------- hooks: link */

/* A program built from the files as they are now attached (a restart
 * rebuilt it): every open file's text becomes the baseline, so the
 * warnings that asked for a restart (signature, layout, stale lenses) go. */
static void rebase_all(struct pipeline *p)
{
    struct document *doc;

    for (size_t i = 0; (doc = docstore_at(server_docs(p->server), i)) != NULL; i++)
        if (doc->path)
            set_base(p, doc->uri, doc->path, doc->text, doc->len);
    log_info("a rebuilt program attached: the open files are what it runs");
}

/* Records typed state blocks ({name, type, size}[]) the program reported. */
static void add_state_blocks(struct program *pg, json_t *blocks)
{
    size_t i;
    json_t *b;

    json_array_foreach(blocks, i, b) {
        const char *name = json_string_value(json_object_get(b, "name"));
        const char *type = json_string_value(json_object_get(b, "type"));
        if (name && type && pg->state)
            json_object_set_new(pg->state, name, json_string(type));
    }
}

static void on_attached(struct link *link, const struct link_program *lp, void *user)
{
    struct pipeline *p = user;
    struct program *pg = calloc(1, sizeof *pg);
    struct document *doc;
    json_t *functions = json_object_get(lp->attach, "functions");

    (void)link;
    if (!pg)
        return;
    pg->id = lp->id;
    pg->pid = lp->pid;
    pg->executable = strdup(lp->executable ? lp->executable : "");
    pg->build_id = strdup(lp->build_id ? lp->build_id : "");
    pg->functions = json_is_array(functions) ? json_deep_copy(functions) : json_array();
    pg->state = json_object();
    add_state_blocks(pg, json_object_get(lp->attach, "state"));
    pg->version = (int)json_integer_value(json_object_get(lp->attach, "version"));
    pg->issued = pg->version;
    pg->remote = lp->remote;
    pg->poll = !json_is_string(json_object_get(lp->attach, "mode")) ||
               strcmp(json_string_value(json_object_get(lp->attach, "mode")), "auto") != 0;
    pg->next = p->programs;
    p->programs = pg;
    layoutcheck_attach(p->layout, pg->build_id, pg->remote ? 0 : pg->pid, pg->executable);
    server_state(p->server)->programs = (int)program_count(p);
    if (p->last_build_id && *pg->build_id && strcmp(p->last_build_id, pg->build_id) != 0)
        rebase_all(p); /* a rebuilt program (a restart): it runs the files as they are */
    if (*pg->build_id) {
        free(p->last_build_id);
        p->last_build_id = strdup(pg->build_id);
    }
    for (size_t i = 0; (doc = docstore_at(server_docs(p->server), i)) != NULL; i++)
        mark_doc_running(p, doc, pg);
    state_set_run(server_state(p->server), json_pack("{s:s, s:I, s:s}", "state", "running", "pid", (json_int_t)pg->pid,
                                                     "program", pg->executable));
    log_info("program %ld attached: %s (%zu HOT functions, version %d)", pg->pid, pg->executable,
             json_array_size(pg->functions), pg->version);
    scan_next_base(p);
    server_state_changed(p->server);
}

/* The "run" member of hotc/status once `pg` is gone: "exited" with the
 * status its runtime reported (hot/detach "exit"), unless it is the program
 * a crash report already marked "crashed". Other programs still attached
 * keep it "running". */
static void set_run_ended(struct state *st, struct program *pg)
{
    const char *was = json_string_value(json_object_get(st->run, "state"));
    json_t *status = json_object_get(pg->ended, "status");

    if (json_integer_value(json_object_get(st->run, "pid")) != pg->pid)
        return;
    if (was && strcmp(was, "crashed") == 0)
        return;
    state_set_run(st, json_is_integer(status)
                          ? json_pack("{s:s, s:I, s:O}", "state", "exited", "pid", (json_int_t)pg->pid, "status", status)
                          : json_pack("{s:s, s:I}", "state", "exited", "pid", (json_int_t)pg->pid));
}

static void on_detached(struct link *link, const struct link_program *lp, const char *reason, void *user)
{
    struct pipeline *p = user;
    struct program *pg = program_get(p, lp->id);
    struct state *st = server_state(p->server);
    bool mid = false;

    (void)link;
    if (!pg)
        return;
    for (struct program **q = &p->programs; *q; q = &(*q)->next)
        if (*q == pg) {
            *q = pg->next;
            break;
        }
    mid = pg->busy || pg->queue;
    layoutcheck_detach(p->layout, pg->build_id);
    while (pg->queue) {
        struct send *s = pg->queue;
        pg->queue = s->next;
        send_fail(p, s, pg->pid, "the program detached before the reload was sent");
    }
    if (p->closing) {
        program_free(pg);
        return;
    }
    st->programs = (int)program_count(p);
    if (st->programs == 0)
        state_reset_running(st);
    set_run_ended(st, pg);
    if (strcmp(reason, "shutdown") == 0) {
        log_info("program %ld detached (%s)", pg->pid, reason);
    } else {
        json_t *status = json_object_get(pg->ended, "status");
        char *how = strcmp(reason, "exit") == 0 && json_is_integer(status)
                        ? fmt("exited with status %d", (int)json_integer_value(status))
                        : strdup(strcmp(reason, "disconnected") == 0 ? "exited or disconnected" : reason);
        char *message = fmt("program %ld (%s) %s%s", pg->pid, base_name(pg->executable), how ? how : reason,
                            mid ? " during a reload" : "");
        free(how);
        log_warn("%s", message ? message : "program detached");
        show(p, mid ? 2 : 3, message ? message : "program detached");
        if (mid)
            state_set_last(st, json_pack("{s:s, s:s}", "result", "error", "message", message ? message : ""));
        free(message);
    }
    program_free(pg);
    server_state_changed(p->server);
}

/* Reports a crash: the log, a message, a diagnostic on the faulting line
 * (`where`, from DWARF) or else on the function's name, the status's "run"
 * when the program died; pops the version a guard rolled back. */
static void crash_report(struct pipeline *p, struct program *pg, long pid, json_t *params,
                         const struct symbolized *where)
{
    const char *fn = json_string_value(json_object_get(params, "function"));
    const char *sig = json_string_value(json_object_get(params, "signalName"));
    const char *addr = json_string_value(json_object_get(params, "address"));
    int version = (int)json_integer_value(json_object_get(params, "version"));
    bool rolled = json_is_true(json_object_get(params, "rolledBack"));
    bool guarded = json_is_true(json_object_get(params, "guarded"));
    /* reloaded code: the patch's __hotc_f_<name>, or the definition it is
     * an alias of, __hotc_d_<name> */
    const char *name = fn && (strncmp(fn, "__hotc_f_", 9) == 0 || strncmp(fn, "__hotc_d_", 9) == 0) ? fn + 9 : fn;
    char *at = where && where->line > 0 ? fmt("%s:%d", base_name(where->file), where->line) : NULL;
    char *message = fmt("%s%s crashed with %s at %s (running v%d)%s", name ? name : "the program",
                        name ? "()" : "", sig ? sig : "a signal", at ? at : addr ? addr : "?", version,
                        rolled ? "; rolled back to the previous version"
                               : guarded ? "" : "; the program died");
    struct document *doc;

    log_error("program %ld: %s", pid, message ? message : "crash");
    show(p, 1, message ? message : "crash");
    if (!rolled && !guarded) {
        state_set_run(server_state(p->server),
                      json_pack("{s:s, s:I, s:s?, s:s?, s:s?, s:i, s:s?}", "state", "crashed", "pid", (json_int_t)pid,
                                "signalName", sig, "function", name, "address", addr, "version", version, "message",
                                message));
        if (at) {
            json_object_set_new(server_state(p->server)->run, "file", json_string(where->file));
            json_object_set_new(server_state(p->server)->run, "line", json_integer(where->line));
        }
        server_state_changed(p->server);
    }
    for (size_t i = 0; name && (doc = docstore_at(server_docs(p->server), i)) != NULL; i++) {
        const struct analysis_function *f = analysis_find_function(doc->analysis, name);
        struct server_diagnostic d = { 0 };
        if (!f || (pg && !program_function(pg, doc->path, name)))
            continue;
        d.range = f->name_range;
        if (at && doc->path && strcmp(base_name(doc->path), base_name(where->file)) == 0) {
            /* the faulting line, from DWARF (the patch's #line lines are the file's) */
            d.range.start.row = d.range.end.row = (uint32_t)(where->line - 1);
            d.range.start.column = 0;
            d.range.end.column = 0;
        }
        d.severity = 1;
        d.code = "crash";
        d.message = message;
        server_set_diagnostics(p->server, doc->uri, "crash", &d, 1);
        if (rolled && pg && pg->applied && pg->applied->version == version) {
            struct applied *a = pg->applied;
            pg->applied = a->below;
            pg->version = a->below ? a->below->version : 0;
            state_record(server_state(p->server), doc->path, name, pg->version, "rollback", message, 0);
            applied_free(a);
        }
        break;
    }
    if (rolled)
        server_state_changed(p->server);
    free(message);
    free(at);
}

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
};

static void crash_lookup_work(uv_work_t *req)
{
    struct crash_lookup *cl = req->data;

    cl->found = symbolize(cl->module, cl->base, cl->address, &cl->where) == 0;
}

static void on_crash_looked_up(uv_work_t *req, int status)
{
    struct crash_lookup *cl = req->data;

    (void)status;
    if (!cl->p->closing)
        crash_report(cl->p, program_get(cl->p, cl->program), cl->pid, cl->params, cl->found ? &cl->where : NULL);
    json_decref(cl->params);
    free(cl->module);
    free(cl);
}

/* hot/crash: read the faulting address's line from the module's DWARF on a
 * worker (the executable or a patch library, named by the runtime), then
 * report; without a module, report at once. */
static void on_crash(struct pipeline *p, int program, long pid, json_t *params)
{
    const char *module = json_string_value(json_object_get(params, "module"));
    const char *addr = json_string_value(json_object_get(params, "address"));
    const char *base = json_string_value(json_object_get(params, "moduleBase"));
    struct crash_lookup *cl = module && addr && base ? calloc(1, sizeof *cl) : NULL;

    if (cl) {
        cl->p = p;
        cl->program = program;
        cl->pid = pid;
        cl->params = json_incref(params);
        cl->module = strdup(module);
        cl->address = strtoull(addr, NULL, 16);
        cl->base = strtoull(base, NULL, 16);
        cl->work.data = cl;
        if (cl->module && uv_queue_work(p->loop, &cl->work, crash_lookup_work, on_crash_looked_up) == 0)
            return;
        json_decref(cl->params);
        free(cl->module);
        free(cl);
    }
    crash_report(p, program_get(p, program), pid, params, NULL);
}

static void on_notified(struct link *link, const struct link_program *lp, const char *method, json_t *params,
                        void *user)
{
    struct pipeline *p = user;

    (void)link;
    if (strcmp(method, "hot/detach") == 0) {
        struct program *pg = program_get(p, lp->id);
        if (pg) {
            json_decref(pg->ended);
            pg->ended = json_incref(params);
        }
    } else if (strcmp(method, "hot/crash") == 0) {
        on_crash(p, lp->id, lp->pid, params);
    } else if (strcmp(method, "hot/state") == 0) {
        struct program *pg = program_get(p, lp->id);
        if (pg)
            add_state_blocks(pg, json_object_get(params, "blocks"));
        log_info("program %ld: %zu typed state blocks", lp->pid, pg && pg->state ? json_object_size(pg->state) : 0);
    } else if (strcmp(method, "hot/log") == 0) {
        const char *level = json_string_value(json_object_get(params, "level"));
        const char *message = json_string_value(json_object_get(params, "message"));
        enum log_level l = !level ? LOG_LEVEL_INFO
                           : strcmp(level, "error") == 0   ? LOG_LEVEL_ERROR
                           : strcmp(level, "warning") == 0 ? LOG_LEVEL_WARN
                           : strcmp(level, "debug") == 0   ? LOG_LEVEL_DEBUG
                                                           : LOG_LEVEL_INFO;
        log_msg(l, "program %ld: %s", lp->pid, message ? message : "");
    }
}

/* ---------------------------------------------------------------- rollback */

static void rollback_answer(struct rollback *rb, struct program *pg, long pid, json_t *result, const char *error)
{
    struct pipeline *p = rb->p;
    const char *status = result ? json_string_value(json_object_get(result, "status")) : NULL;
    const char *reason = result ? json_string_value(json_object_get(result, "reason")) : error;
    int version = (int)json_integer_value(json_object_get(result, "version"));
    json_t *entry = json_pack("{s:I, s:s, s:i}", "pid", (json_int_t)pid, "status", status ? status : "error",
                              "version", version);

    if (reason)
        json_object_set_new(entry, "reason", json_string(reason));
    json_array_append_new(rb->programs, entry);
    if (pg && status && strcmp(status, "rolledBack") == 0 && !p->closing) {
        pg->version = version;
        while (pg->applied && pg->applied->version > version) {
            struct applied *a = pg->applied;
            char *why = fmt("rolled back to v%d", version);
            pg->applied = a->below;
            for (size_t i = 0; i < a->n_fns; i++)
                state_record(server_state(p->server), a->path, a->fns[i], version, "rollback", why, 0);
            if (a->prev_base)
                set_base(p, a->uri, a->path, json_string_value(a->prev_base), json_string_length(a->prev_base));
            else
                forget_hashes(p, a->path);
            if (a->base_dropped)
                log_info("rolled back v%d of %s, older than the %d newest reloads: the editor's view of what runs "
                         "is not restored; save the file to reload it",
                         a->version, base_name(a->path), APPLIED_BASES);
            free(why);
            applied_free(a);
        }
    }
    if (--rb->pending > 0)
        return;
    if (!p->closing) {
        size_t i, rolled = 0;
        json_t *e;
        json_array_foreach(rb->programs, i, e)
            if (!strcmp(json_string_value(json_object_get(e, "status")), "rolledBack"))
                rolled++;
        char *message = rolled ? fmt("rolled back %zu of %zu programs", rolled, json_array_size(rb->programs))
                               : fmt("nothing rolled back: %s", reason ? reason : "refused");
        state_set_last(server_state(p->server),
                       json_pack("{s:s, s:i, s:s}", "result", rolled ? "rolledBack" : "refused", "version", version,
                                 "message", message ? message : ""));
        log_info("%s", message ? message : "rollback");
        free(message);
        server_state_changed(p->server);
    }
    server_reply(p->server, rb->req, json_pack("{s:O}", "programs", rb->programs));
    json_decref(rb->programs);
    free(rb);
}

static void command_rollback(struct pipeline *p, struct server_request *req)
{
    struct rollback *rb;
    size_t n = program_count(p);

    if (n == 0) {
        server_reply_error(p->server, req, -32803, "no program attached");
        return;
    }
    rb = calloc(1, sizeof *rb);
    if (!rb) {
        server_reply_error(p->server, req, -32603, "out of memory");
        return;
    }
    rb->p = p;
    rb->req = req;
    rb->pending = n;
    rb->programs = json_array();
    for (struct program *pg = p->programs, *next; pg; pg = next) {
        struct send *s = calloc(1, sizeof *s);
        next = pg->next;
        if (!s) {
            rollback_answer(rb, pg, pg->pid, NULL, "out of memory");
            continue;
        }
        s->kind = SEND_ROLLBACK;
        s->rollback = rb;
        program_enqueue(p, pg, s);
    }
}

/* ---------------------------------------------------------------- hooks: server */

static void apply_tcp(struct pipeline *p);

static void hook_command(void *data, struct server *server, struct server_request *req, const char *command,
                         json_t *arguments)
{
    struct pipeline *p = data;

    p->server = server;
    if (strcmp(command, SERVER_COMMAND_RUN) == 0) {
        launcher_run(p->launcher, server, p->link, req, arguments);
    } else if (strcmp(command, SERVER_COMMAND_RESTART) == 0) {
        launcher_restart(p->launcher, server, p->link, req, arguments);
    } else if (strcmp(command, SERVER_COMMAND_ROLLBACK) == 0) {
        command_rollback(p, req);
    } else if (strcmp(command, SERVER_COMMAND_RELOAD) == 0) {
        const char *uri = json_string_value(json_array_get(arguments, 0));
        struct document *doc;
        if (program_count(p) == 0) {
            server_reply_error(server, req, -32803, "no program attached: start it with hot reload first");
            return;
        }
        if (uri) {
            doc = docstore_get(server_docs(server), uri);
            if (!doc)
                server_reply_error(server, req, -32602, "the file is not open");
            else
            {
                struct batch *batch = batch_new(p, uv_hrtime());
                reload_document(p, batch, doc, RELOAD_ALL, uv_hrtime(), req, NULL);
                batch_release(batch);
            }
            return;
        }
        json_t *files = json_array();
        struct batch *batch = batch_new(p, uv_hrtime());
        for (size_t i = 0; (doc = docstore_at(server_docs(server), i)) != NULL; i++)
            if (doc->path && !is_header(doc->path) &&
                reload_document(p, batch, doc, RELOAD_ALL, uv_hrtime(), NULL, NULL))
                json_array_append_new(files, json_string(doc->uri));
        server_reply(server, req, json_pack("{s:o}", "files", files));
        batch_release(batch);
    } else {
        server_reply_error(server, req, -32602, "unknown command");
    }
}

/* Listens on TCP as the settings say (or stops), and tells the user where
 * and with which token remote programs attach. */
static void apply_tcp(struct pipeline *p)
{
    char err[512];

    if (!p->tcp_enabled) {
        if (link_tcp_endpoint(p->link))
            log_info("no longer listening for remote runtimes on %s", link_tcp_endpoint(p->link));
        link_stop_tcp(p->link);
        return;
    }
    if (link_listen_tcp(p->link, p->tcp_host, p->tcp_port, err, sizeof err) != 0) {
        log_error("%s; remote programs cannot attach", err);
        show(p, 1, err);
        return;
    }
    log_info("remote runtimes attach at %s with HOTC_TOKEN=%s (run them with HOTC_ENDPOINT=%s HOTC_TOKEN=%s)",
             link_tcp_endpoint(p->link), link_token(p->link), link_tcp_endpoint(p->link), link_token(p->link));
}

static void hook_configuration(void *data, struct server *server, json_t *settings)
{
    struct pipeline *p = data;
    const char *s;
    json_t *flags = json_object_get(settings, "flags"), *v;
    size_t i;

    p->server = server;
    free(p->compiler);
    free(p->compile_commands);
    free(p->fast);
    s = json_string_value(json_object_get(settings, "compiler"));
    p->compiler = s ? strdup(s) : NULL;
    s = json_string_value(json_object_get(settings, "compileCommands"));
    p->compile_commands = s ? strdup(s) : NULL;
    s = json_string_value(json_object_get(settings, "fastCompiler"));
    p->fast = strdup(s ? s : "auto");
    s = json_string_value(json_object_get(settings, "layoutCheck"));
    p->layout_check = !s || strcmp(s, "off") != 0;
    p->timeout_ms = json_is_integer(json_object_get(settings, "compileTimeoutMs"))
                        ? (int)json_integer_value(json_object_get(settings, "compileTimeoutMs"))
                        : DEFAULT_TIMEOUT_MS;
    build_argv_free(p->flags);
    p->flags = NULL;
    if (json_is_array(flags)) {
        p->flags = calloc(json_array_size(flags) + 1, sizeof *p->flags);
        size_t k = 0;
        json_array_foreach(flags, i, v)
            if (p->flags && json_is_string(v))
                p->flags[k++] = strdup(json_string_value(v));
    }
    launcher_configure(p->launcher, settings);
    {
        json_t *tcp = json_object_get(settings, "tcp");
        const char *host = json_string_value(json_object_get(tcp, "host"));
        json_t *port = json_object_get(tcp, "port");
        bool enabled = json_is_true(json_object_get(tcp, "enabled"));
        int port_n = json_is_integer(port) ? (int)json_integer_value(port) : 0;
        bool changed = enabled != p->tcp_enabled || port_n != p->tcp_port ||
                       strcmp(host ? host : "127.0.0.1", p->tcp_host ? p->tcp_host : "") != 0;
        p->tcp_enabled = enabled;
        p->tcp_port = port_n;
        free(p->tcp_host);
        p->tcp_host = strdup(host ? host : "127.0.0.1");
        if (changed && p->link)
            apply_tcp(p);
    }
}

/* The sweep of the temp folders that servers killed before their exit
 * left behind (`hotc-patches-<pid>-XXXXXX`), on a worker at start-up. */
struct sweep {
    uv_work_t req;
    char parent[512], own[512];
    int removed;
};

/* Whether process `pid` is a running hotc. Blocking: reads /proc. */
static bool hotc_runs(long pid)
{
    char path[64], comm[32] = "";
    FILE *f;

    if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
        return false;
    snprintf(path, sizeof path, "/proc/%ld/comm", pid);
    if (!(f = fopen(path, "r")))
        return true; /* alive, and no way to tell */
    if (!fgets(comm, sizeof comm, f))
        *comm = '\0';
    fclose(f);
    return strcmp(comm, "hotc\n") == 0;
}

/* Whether a hotc other than this one runs as this user. Blocking. */
static bool other_hotc_runs(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    bool found = false;

    if (!d)
        return true;
    while (!found && (e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        struct stat st;
        char path[300];
        snprintf(path, sizeof path, "/proc/%s", e->d_name);
        if (*end || pid <= 0 || pid == (long)getpid() || stat(path, &st) != 0 || st.st_uid != getuid())
            continue;
        found = hotc_runs(pid);
    }
    closedir(d);
    return found;
}

/* On a worker: removes the parent's `hotc-patches-*` folders owned by this
 * user whose server no longer runs: the pid in the name is not a running
 * hotc, or, for names without a pid (older servers), no other hotc runs. */
static void sweep_work(uv_work_t *req)
{
    struct sweep *sw = req->data;
    DIR *d = opendir(sw->parent);
    struct dirent *e;
    int others = -1;

    if (!d)
        return;
    while ((e = readdir(d))) {
        char dir[1024], *end;
        struct stat st;
        if (strncmp(e->d_name, "hotc-patches-", 13) != 0 || strcmp(e->d_name, sw->own) == 0)
            continue;
        snprintf(dir, sizeof dir, "%s/%s", sw->parent, e->d_name);
        if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
            continue;
        long pid = strtol(e->d_name + 13, &end, 10);
        if (end != e->d_name + 13 && *end == '-') {
            /* any live process keeps it (a reused pid only delays the removal;
             * a server run under valgrind has another name) */
            if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
                continue;
        } else {
            if (others < 0)
                others = other_hotc_runs();
            if (others)
                continue;
        }
        DIR *sub = opendir(dir);
        struct dirent *f;
        while (sub && (f = readdir(sub)))
            if (strcmp(f->d_name, ".") != 0 && strcmp(f->d_name, "..") != 0)
                unlinkat(dirfd(sub), f->d_name, 0);
        if (sub)
            closedir(sub);
        if (rmdir(dir) == 0)
            sw->removed++;
    }
    closedir(d);
}

static void on_swept(uv_work_t *req, int status)
{
    struct sweep *sw = req->data;

    (void)status;
    if (sw->removed)
        log_info("removed %d patch folder%s of servers no longer running from %s", sw->removed,
                 sw->removed == 1 ? "" : "s", sw->parent);
    free(sw);
}

/* Starts the sweep of `tmp`, where this server's folder is p->tmpdir. */
static void sweep_tmp(struct pipeline *p, const char *tmp)
{
    struct sweep *sw = calloc(1, sizeof *sw);

    if (!sw)
        return;
    snprintf(sw->parent, sizeof sw->parent, "%s", tmp);
    snprintf(sw->own, sizeof sw->own, "%s", base_name(p->tmpdir));
    sw->req.data = sw;
    if (uv_queue_work(p->loop, &sw->req, sweep_work, on_swept) != 0)
        free(sw);
}

static void hook_initialized(void *data, struct server *server)
{
    struct pipeline *p = data;
    struct link_callbacks cb = { on_attached, on_detached, on_notified };
    char err[512];
    const char *tmp = getenv("TMPDIR");

    p->server = server;
    /* the pid in the name lets a later server remove it if this one is killed */
    snprintf(p->tmpdir, sizeof p->tmpdir, "%s/hotc-patches-%ld-XXXXXX", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    if (!mkdtemp(p->tmpdir)) {
        log_error("cannot create a directory for patches in %s: %s", tmp && *tmp ? tmp : "/tmp", strerror(errno));
        *p->tmpdir = '\0';
        return;
    }
    sweep_tmp(p, tmp && *tmp ? tmp : "/tmp");
    build_runner_init(&p->runner, p->loop);
    p->runner_ready = true;
    p->pre = preamble_cache_new(p->loop, &p->runner, p->tmpdir);
    uv_timer_init(p->loop, &p->batch);
    p->batch.data = p;
    uv_timer_init(p->loop, &p->wait);
    p->wait.data = p;
    p->batch_ready = true;
    if (link_open(&p->link, p->loop, NULL, &cb, p, err, sizeof err) != 0) {
        log_error("%s; programs cannot attach", err);
        show(p, 1, err);
        p->link = NULL;
        return;
    }
    log_info("runtimes attach at %s", link_endpoint(p->link));
    apply_tcp(p);
}

static void hook_exit(void *data, struct server *server)
{
    struct pipeline *p = data;

    p->server = server;
    p->closing = true;
    if (p->batch_ready) {
        uv_timer_stop(&p->batch);
        uv_close((uv_handle_t *)&p->batch, NULL);
        uv_close((uv_handle_t *)&p->wait, NULL);
        p->batch_ready = false;
    }
    if (p->link)
        link_close(p->link);
    p->link = NULL;
    preamble_cache_close(p->pre);
    if (p->runner_ready)
        build_runner_close(&p->runner);
    launcher_close(p->launcher);
}

struct server_hooks pipeline_hooks(struct pipeline *self)
{
    struct server_hooks h = { 0 };

    h.data = self;
    h.initialized = hook_initialized;
    h.did_open = hook_did_open;
    h.did_save = hook_did_save;
    h.did_close = hook_did_close;
    h.configuration = hook_configuration;
    h.command = hook_command;
    h.exit = hook_exit;
    return h;
}

struct pipeline *pipeline_new(uv_loop_t *loop)
{
    struct pipeline *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    p->loop = loop;
    p->pending = json_object();
    p->bases = json_object();
    p->hashes = json_object();
    p->compiler_uris = json_object();
    p->base_serials = json_object();
    p->compile_serials = json_object();
    p->tcc_failed = json_object();
    p->libraries = json_object();
    p->units = json_object();
    p->units_failed = json_object();
    p->layout_uris = json_object();
    p->timeout_ms = DEFAULT_TIMEOUT_MS;
    p->fast = strdup("auto");
    p->tcc = -1;
    p->layout_check = true;
    p->layout = layoutcheck_new(loop, on_image_loaded, p);
    p->launcher = launcher_new(loop);
    if (!p->layout || !p->launcher || !p->pending || !p->bases || !p->hashes || !p->compiler_uris || !p->base_serials || !p->compile_serials || !p->fast ||
        !p->tcc_failed || !p->libraries || !p->units || !p->units_failed) {
        pipeline_free(p);
        return NULL;
    }
    return p;
}

static void remove_tmpdir(const char *dir)
{
    char cmd_path[PATH_MAX + 64];
    uv_fs_t req;
    uv_dirent_t ent;

    if (!*dir)
        return;
    if (uv_fs_scandir(NULL, &req, dir, 0, NULL) >= 0) {
        while (uv_fs_scandir_next(&req, &ent) != UV_EOF) {
            snprintf(cmd_path, sizeof cmd_path, "%s/%s", dir, ent.name);
            unlink(cmd_path);
        }
    }
    uv_fs_req_cleanup(&req);
    rmdir(dir);
}

void pipeline_free(struct pipeline *self)
{
    if (!self)
        return;
    self->closing = true;
    layoutcheck_free(self->layout);
    while (self->jobs)
        job_free(self->jobs);
    while (self->programs) {
        struct program *pg = self->programs;
        self->programs = pg->next;
        while (pg->queue) {
            struct send *s = pg->queue;
            pg->queue = s->next;
            free(s);
        }
        program_free(pg);
    }
    json_decref(self->pending);
    json_decref(self->bases);
    json_decref(self->hashes);
    json_decref(self->compiler_uris);
    json_decref(self->base_serials);
    json_decref(self->compile_serials);
    json_decref(self->libraries);
    json_decref(self->tcc_failed);
    preamble_cache_free(self->pre);
    json_decref(self->units);
    json_decref(self->units_failed);
    json_decref(self->layout_uris);
    free(self->compiler);
    free(self->compile_commands);
    free(self->fast);
    build_argv_free(self->flags);
    free(self->tcp_host);
    build_db_free(self->db);
    launcher_free(self->launcher);
    free(self->last_build_id);
    remove_tmpdir(self->tmpdir);
    free(self);
}
