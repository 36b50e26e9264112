/* The server's messages to the runtime (part of runtime/session.c's
 * thread; docs/protocol.md): the reader that cuts the byte stream into
 * messages, and each request handled. hot/reload's params read (functions,
 * statics, a library sent as bytes written to a private file, the typed
 * blocks' migration plans, validated), the reload prepared on the runtime's
 * thread and applied there (automatic mode) or left for hot_poll, which
 * applies it on the program's thread; hot/rollback; hot/handover and
 * hot/restore, with hot_init's wait for the state of the last run (the
 * gate). Answers go out through runtime/session.c's backlog. */
#include "session.h"
#include "session_impl.h"

#include "handover.h"
#include "hooks.h"
#include "hot.h"
#include "reload.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_MESSAGE (64u << 20)

/* hot_init's wait for the state of the last run (hot/restore): `gate`
 * opens when there is nothing to wait for (no server, or the server keeps
 * no state for this program: hot/attach's `savedState`) or the state was
 * restored; `gate_passed` once hot_init stopped waiting (a later
 * hot/restore is refused). Under gate_lock. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open, gate_passed;

void session__open_gate(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

#define STATE_WAIT_MS 200

void session_wait_state(void)
{
    const char *env = getenv("HOTC_STATE_WAIT_MS");
    long ms = env && *env ? strtol(env, NULL, 10) : STATE_WAIT_MS;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&gate_lock);
    while (!gate_open && ms > 0)
        if (pthread_cond_timedwait(&gate_cond, &gate_lock, &until) != 0)
            break;
    gate_passed = 1;
    pthread_mutex_unlock(&gate_lock);
}

/* ---------------------------------------------------------------- reload */

/* The request left for hot_poll: one slot, handed over with an atomic
 * exchange (the runtime's thread drops it when the connection ends). */
struct pending *session__pending;

/* `t` as the "timings" object of a reload result (new reference). */
static json_t *timings_json(const struct reload_timings *t)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "loadUs", (json_int_t)t->load_us, "resolveUs",
                     (json_int_t)t->resolve_us, "waitUs", (json_int_t)t->wait_us, "applyUs",
                     (json_int_t)t->apply_us, "totalUs", (json_int_t)t->total_us);
}

/* A reload result (new reference) refusing it for `reason` (copied). */
static json_t *refused(const char *reason)
{
    return json_pack("{s:s, s:i, s:s}", "status", "refused", "version", reload_version(), "reason",
                     reason);
}

/* The private directory (0700) the libraries received as bytes are written
 * to, made on first use: $TMPDIR (else /tmp)/hotc-patches-<pid>-XXXXXX.
 * Real files, so that a debugger reads them (gdb hangs on a library loaded
 * from /proc/self/fd/N); kept for the life of the process (a debugger
 * attached later reads them too), removed at exit(). "" when it cannot be
 * made. */
static char patch_dir[512];

static const char *library_dir(void)
{
    if (!*patch_dir) {
        const char *tmp = getenv("TMPDIR");
        snprintf(patch_dir, sizeof patch_dir, "%s/hotc-patches-%ld-XXXXXX", tmp && *tmp ? tmp : "/tmp",
                 (long)getpid());
        if (!mkdtemp(patch_dir))
            *patch_dir = '\0';
    }
    return patch_dir;
}

/* Removes library_dir() and the libraries in it (at exit). */
void session__remove_library_dir(void)
{
    DIR *d = *patch_dir ? opendir(patch_dir) : NULL;
    struct dirent *e;
    char path[1024];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", patch_dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(patch_dir);
    *patch_dir = '\0';
}

/* Writes base64 `text` into a new file of library_dir() (a path never used
 * before in this process: dlopen finds a library already loaded by its path
 * string) and returns its descriptor (the caller closes it once dlopen has
 * mapped the file) with the path in `path`. Returns -1 when the text is not
 * base64 or the file cannot be written (then no file stays). */
static int library_from_base64(const char *text, char *path, size_t pathsz)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(text);
    unsigned char *bytes = malloc(len / 4 * 3 + 3);
    if (!bytes)
        return -1;
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = text; *p && *p != '='; p++) {
        const char *c = strchr(alphabet, *p);
        if (!c || !*p) {
            if (*p == '\n' || *p == '\r')
                continue;
            free(bytes);
            return -1;
        }
        acc = (acc << 6) | (unsigned)(c - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes[n++] = (unsigned char)(acc >> bits);
        }
    }
    const char *dir = library_dir();
    if (!*dir || (size_t)snprintf(path, pathsz, "%s/patch-XXXXXX.so", dir) >= pathsz) {
        free(bytes);
        return -1;
    }
    int fd = mkostemps(path, 3, O_CLOEXEC);
    int ok = fd >= 0 && write(fd, bytes, n) == (ssize_t)n;
    free(bytes);
    if (!ok) {
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        return -1;
    }
    return fd;
}

/* The typed blocks' migrations of one reload (hot/reload `migrations`),
 * parsed: every string and array owned. */
struct migrations {
    struct migrate_plan *plans;
    size_t n;
    struct hooks_prepared *pre; /* the new blocks, allocated ahead (hooks_migrate_prepare) */
};

static void ops_free(struct migrate_op *ops, size_t n)
{
    for (size_t i = 0; ops && i < n; i++) {
        ops_free(ops[i].ops, ops[i].nops);
        free((char *)ops[i].field);
    }
    free(ops);
}

void session__migrations_free(struct migrations *m)
{
    if (!m)
        return;
    hooks_prepared_free(m->pre);
    for (size_t i = 0; i < m->n; i++) {
        free((char *)m->plans[i].type);
        free((char *)m->plans[i].from_layout);
        free((char *)m->plans[i].to_layout);
        ops_free(m->plans[i].ops, m->plans[i].nops);
    }
    free(m->plans);
    free(m);
}

static int num_kind(const char *s, enum migrate_num *out)
{
    static const char *const names[] = { "signed", "unsigned", "float", "bool" };
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum migrate_num)i;
            return 0;
        }
    return -1;
}

/* Parses an `ops` array into *out (*n entries). Returns 0, or -1 with the
 * reason in `err`. */
static int parse_ops(json_t *arr, struct migrate_op **out, size_t *n, int depth, char *err, size_t errsz)
{
    size_t count = json_array_size(arr);
    *out = NULL;
    *n = 0;
    if (!json_is_array(arr) || depth > 16) {
        snprintf(err, errsz, "invalid hot/reload migrations: ops must be an array (at most 16 deep)");
        return -1;
    }
    *out = calloc(count ? count : 1, sizeof **out);
    if (!*out) {
        snprintf(err, errsz, "cannot read hot/reload migrations: out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *o = json_array_get(arr, i), *sub = NULL;
        struct migrate_op *op = &(*out)[i];
        const char *kind = NULL, *field = NULL, *fk = "signed", *tk = "signed";
        json_int_t from = 0, to = 0, size = 0, fs = 0, ts = 0, cnt = 0, fst = 0, tst = 0;
        json_error_t e;
        if (json_unpack_ex(o, &e, 0, "{s:s, s:I, s:I, s?I, s?s, s?s, s?I, s?I, s?s, s?I, s?I, s?I, s?o}", "op",
                           &kind, "from", &from, "to", &to, "size", &size, "field", &field, "fromKind", &fk,
                           "fromSize", &fs, "toSize", &ts, "toKind", &tk, "count", &cnt, "fromStride", &fst,
                           "toStride", &tst, "ops", &sub) != 0 ||
            from < 0 || to < 0 || size < 0 || fs < 0 || ts < 0 || cnt < 0 || fst < 0 || tst < 0) {
            snprintf(err, errsz, "invalid hot/reload migrations op: %s", e.text);
            *n = i;
            return -1;
        }
        *n = i + 1;
        op->from = (size_t)from;
        op->to = (size_t)to;
        op->size = (size_t)size;
        op->field = field ? strdup(field) : NULL;
        if (strcmp(kind, "copy") == 0) {
            op->kind = MIGRATE_COPY;
        } else if (strcmp(kind, "convert") == 0) {
            op->kind = MIGRATE_CONVERT;
            op->from_size = (unsigned)fs;
            op->to_size = (unsigned)ts;
            if (num_kind(fk, &op->from_num) != 0 || num_kind(tk, &op->to_num) != 0) {
                snprintf(err, errsz, "invalid hot/reload migrations op: unknown number kind");
                return -1;
            }
        } else if (strcmp(kind, "repeat") == 0) {
            op->kind = MIGRATE_REPEAT;
            op->count = (size_t)cnt;
            op->from_stride = (size_t)fst;
            op->to_stride = (size_t)tst;
            if (parse_ops(sub, &op->ops, &op->nops, depth + 1, err, errsz) != 0)
                return -1;
        } else {
            snprintf(err, errsz, "invalid hot/reload migrations op: unknown op \"%s\"", kind);
            return -1;
        }
    }
    return 0;
}

/* Parses hot/reload `migrations` (may be NULL) into *out (NULL when there
 * are none). Each plan is validated: one that would read or write outside
 * its blocks is an error. Returns 0, or -1 with the reason in `err`. */
static int parse_migrations(json_t *arr, struct migrations **out, char *err, size_t errsz)
{
    *out = NULL;
    if (!arr || json_array_size(arr) == 0)
        return 0;
    if (!json_is_array(arr)) {
        snprintf(err, errsz, "invalid hot/reload params: migrations must be an array");
        return -1;
    }
    struct migrations *m = calloc(1, sizeof *m);
    size_t n = json_array_size(arr);
    if (!m || !(m->plans = calloc(n, sizeof *m->plans))) {
        free(m);
        snprintf(err, errsz, "cannot read hot/reload migrations: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct migrate_plan *plan = &m->plans[i];
        const char *type = NULL, *from = NULL, *to = NULL;
        json_int_t old_size = 0, new_size = 0;
        json_t *ops = NULL;
        json_error_t e;
        if (json_unpack_ex(json_array_get(arr, i), &e, 0, "{s:s, s:I, s:I, s:s, s:s, s:o}", "type", &type,
                           "oldSize", &old_size, "newSize", &new_size, "fromLayout", &from, "toLayout", &to, "ops",
                           &ops) != 0 ||
            old_size < 0 || new_size < 0) {
            snprintf(err, errsz, "invalid hot/reload migrations[%zu]: %s", i, e.text);
            m->n = i;
            session__migrations_free(m);
            return -1;
        }
        m->n = i + 1;
        plan->type = strdup(type);
        plan->from_layout = strdup(from);
        plan->to_layout = strdup(to);
        plan->old_size = (size_t)old_size;
        plan->new_size = (size_t)new_size;
        char why[200];
        if (!plan->type || !plan->from_layout || !plan->to_layout || parse_ops(ops, &plan->ops, &plan->nops, 0, err, errsz) != 0) {
            session__migrations_free(m);
            return -1;
        }
        if (migrate_validate(plan, why, sizeof why) != 0) {
            snprintf(err, errsz, "invalid hot/reload migrations[%zu] (`%s`): %s", i, type, why);
            session__migrations_free(m);
            return -1;
        }
    }
    *out = m;
    return 0;
}

int session_plan_parse(json_t *obj, struct migrate_plan *out, char *err, size_t errsz)
{
    struct migrations *m = NULL;
    json_t *arr = json_pack("[O]", obj);
    int rc = arr ? parse_migrations(arr, &m, err, errsz) : -1;
    json_decref(arr);
    if (rc != 0 || !m) {
        if (rc == 0)
            snprintf(err, errsz, "no migration plan");
        session__migrations_free(m);
        return -1;
    }
    *out = m->plans[0];
    free(m->plans);
    free(m);
    return 0;
}

void session_plan_release(struct migrate_plan *plan)
{
    free((char *)plan->type);
    free((char *)plan->from_layout);
    free((char *)plan->to_layout);
    ops_free(plan->ops, plan->nops);
}

/* The "state" entries of a reload result, one per block migrated. */
static void on_migrated(const char *name, const char *type, const char *how, const char *const *defaulted,
                        size_t ndefaulted, void *user)
{
    json_t *d = json_array();
    for (size_t i = 0; i < ndefaulted; i++)
        json_array_append_new(d, json_string(defaulted[i]));
    json_array_append_new(user, json_pack("{s:s, s:s, s:s, s:o}", "name", name, "type", type, "how", how,
                                          "defaulted", d));
}

/* Parses a hot/reload request's params into `req` (strings borrowed from
 * `params`; arrays allocated into funcs and statics, which the caller frees
 * whether or not this succeeds). A library sent as bytes is written to an
 * anonymous file whose descriptor goes to `*memfd` (else -1), for the
 * caller to close once the reload is prepared. Returns 0, or -1 with the
 * message of a JSON-RPC invalid-params error in `err` (then no file is
 * open). */
static int parse_reload(json_t *params, struct reload_request *req, struct reload_func **funcs,
                        struct reload_static **statics, char *libpath, size_t libpathsz,
                        int *memfd, char *err, size_t errsz)
{
    *memfd = -1;
    json_t *jf = NULL, *js = NULL;
    const char *library = NULL, *b64 = NULL, *bid = NULL;
    json_error_t e;
    memset(req, 0, sizeof *req);
    if (json_unpack_ex(params, &e, 0, "{s:i, s?s, s?s, s?s, s:o, s?o}", "version", &req->version,
                       "library", &library, "libraryBase64", &b64, "targetBuildId", &bid,
                       "functions", &jf, "statics", &js) != 0 ||
        !json_is_array(jf) || (js && !json_is_array(js))) {
        snprintf(err, errsz, "invalid hot/reload params: %s", e.text);
        return -1;
    }
    req->target_build_id = bid;
    size_t nf = json_array_size(jf), ns = js ? json_array_size(js) : 0;
    *funcs = calloc(nf ? nf : 1, sizeof **funcs);
    *statics = calloc(ns ? ns : 1, sizeof **statics);
    if (!*funcs || !*statics) {
        snprintf(err, errsz, "cannot read hot/reload params: out of memory");
        return -1;
    }
    for (size_t i = 0; i < nf; i++) {
        struct reload_func *f = &(*funcs)[i];
        if (json_unpack_ex(json_array_get(jf, i), &e, 0, "{s:s, s?s, s:s}", "name", &f->name, "file",
                           &f->file, "symbol", &f->symbol) != 0) {
            snprintf(err, errsz, "invalid hot/reload functions[%zu]: %s", i, e.text);
            return -1;
        }
    }
    for (size_t i = 0; i < ns; i++) {
        struct reload_static *s = &(*statics)[i];
        const char *kind = "object";
        json_int_t size = 0;
        if (json_unpack_ex(json_array_get(js, i), &e, 0, "{s:s, s:s, s:s, s?s, s?s, s?{s:I}}", "symbol",
                           &s->symbol, "name", &s->name, "file", &s->file, "function", &s->function,
                           "kind", &kind, "create", "size", &size) != 0) {
            snprintf(err, errsz, "invalid hot/reload statics[%zu]: %s", i, e.text);
            return -1;
        }
        if (size < 0 || size > (json_int_t)(1 << 30)) {
            snprintf(err, errsz, "invalid hot/reload statics[%zu]: create.size %lld", i, (long long)size);
            return -1;
        }
        s->is_function = strcmp(kind, "function") == 0;
        s->create_size = (size_t)size;
    }
    /* Last, so that no later failure leaves the anonymous file open. */
    if (!library && b64) {
        if ((*memfd = library_from_base64(b64, libpath, libpathsz)) < 0) {
            snprintf(err, errsz, "invalid hot/reload params: bad libraryBase64");
            return -1;
        }
        library = libpath;
    }
    req->library = library;
    req->funcs = *funcs;
    req->nfuncs = nf;
    req->statics = *statics;
    req->nstatics = ns;
    return 0;
}

/* Applies `plan` (stolen) now, between the program's reload hooks, and
 * returns the result object (new reference): "applied", or "refused" with
 * the reason (then the hooks saw HOT_BEFORE only). */
static json_t *apply_now(struct reload_plan *plan, struct migrations *mig, int *redirected)
{
    char reason[512];
    struct reload_timings t;
    int version = reload_plan_version(plan);
    hooks_run(HOT_BEFORE, version);
    int n = reload_apply(plan, session_thread_tid(), &t, reason, sizeof reason);
    if (n < 0) {
        session__migrations_free(mig);
        return refused(reason);
    }
    /* the typed blocks, before the program's code runs on (hooks.h) */
    json_t *state = json_array();
    int64_t m0 = reload_now_us();
    if (mig)
        hooks_migrate(mig->plans, mig->n, mig->pre, on_migrated, state);
    int64_t migrate_us = reload_now_us() - m0;
    session__migrations_free(mig);
    hooks_run(HOT_AFTER, version);
    if (redirected)
        *redirected = n;
    json_t *result = json_pack("{s:s, s:i, s:i, s:o}", "status", "applied", "version", version, "redirected",
                               n, "timings", timings_json(&t));
    if (json_array_size(state) > 0) {
        json_object_set_new(json_object_get(result, "timings"), "migrateUs", json_integer((json_int_t)migrate_us));
        json_object_set_new(result, "state", state);
    } else {
        json_decref(state);
    }
    return result;
}

/* Rolls back the newest version now and returns the result object (new
 * reference): "rolledBack", or "refused" with the reason. */
static json_t *rollback_now(void)
{
    char reason[512];
    int version = reload_rollback(session_thread_tid(), reason, sizeof reason);
    if (version < 0)
        return json_pack("{s:i, s:s, s:s}", "version", reload_version(), "status", "refused", "reason",
                         reason);
    return json_pack("{s:i, s:s}", "version", version, "status", "rolledBack");
}

/* Leaves the request `id` (borrowed) with `plan` (NULL: a rollback) for
 * hot_poll. Returns 0 with the plan taken, or -1 when a request is already
 * waiting or out of memory (then the caller still owns the plan). */
static int leave_for_poll(json_t *id, struct reload_plan *plan, struct migrations *mig)
{
    struct pending *p = malloc(sizeof *p);
    if (!p)
        return -1;
    /* A copy: the program's thread must not share reference counts with
     * the request, which this thread frees. */
    p->id = json_deep_copy(id);
    if (!p->id) {
        free(p);
        return -1;
    }
    p->plan = plan;
    p->mig = mig;
    p->generation = __atomic_load_n(&session__generation, __ATOMIC_RELAXED);
    struct pending *expected = NULL;
    if (__atomic_compare_exchange_n(&session__pending, &expected, p, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return 0;
    json_decref(p->id);
    free(p);
    return -1;
}

/* hot/reload: prepares the reload here, off the program's threads, then
 * applies it at once (automatic mode) or leaves it for hot_poll, which
 * answers. Any failure before that is answered here. */
static void on_reload(json_t *id, json_t *params)
{
    struct reload_request req;
    struct reload_func *funcs = NULL;
    struct reload_static *statics = NULL;
    struct migrations *mig = NULL;
    char err[512], libpath[1024];
    int memfd = -1;
    if (parse_reload(params, &req, &funcs, &statics, libpath, sizeof libpath, &memfd, err,
                     sizeof err) != 0 ||
        parse_migrations(json_object_get(params, "migrations"), &mig, err, sizeof err) != 0) {
        if (memfd >= 0)
            close(memfd);
        session__respond_error(id, -32602, err);
        goto done;
    }
    struct reload_plan *plan;
    if (mig && hooks_migration_conflict(mig->plans, mig->n, err, sizeof err) != 0) {
        if (memfd >= 0)
            close(memfd);
        session__migrations_free(mig);
        session__respond(id, refused(err));
        goto done;
    }
    if (mig)
        mig->pre = hooks_migrate_prepare(mig->plans, mig->n);
    int prepared = reload_prepare(&req, &plan, err, sizeof err);
    if (memfd >= 0) /* loaded (the mapping holds it) or refused: not needed any more */
        close(memfd);
    if (prepared != 0) {
        session__migrations_free(mig);
        session__respond(id, refused(err));
        goto done;
    }
    if (session__auto_mode) {
        session__respond(id, apply_now(plan, mig, NULL));
        goto done;
    }
    if (leave_for_poll(id, plan, mig) != 0) {
        session__migrations_free(mig);
        reload_plan_free(plan);
        session__respond(id, refused("cannot queue the reload: the previous one is still waiting for "
                                     "hot_poll(); call hot_poll() in the program's loop, or use "
                                     "HOT_MODE_AUTO"));
    }
done:
    free(funcs);
    free(statics);
}

/* hot/rollback: like on_reload, without the preparation. */
static void on_rollback(json_t *id)
{
    if (session__auto_mode) {
        session__respond(id, rollback_now());
        return;
    }
    if (leave_for_poll(id, NULL, NULL) != 0)
        session__respond(id, json_pack("{s:i, s:s, s:s}", "version", reload_version(), "status", "refused",
                                       "reason", "cannot queue the rollback: the previous request is still "
                                       "waiting for hot_poll(); call hot_poll() in the program's loop, "
                                       "or use HOT_MODE_AUTO"));
}

/* On the program's thread: applies, then hands the answer to the runtime's
 * thread; nothing here waits for the network. */
int session_poll(void)
{
    if (!__atomic_load_n(&session__pending, __ATOMIC_ACQUIRE))
        return 0;
    struct pending *p = __atomic_exchange_n(&session__pending, NULL, __ATOMIC_ACQ_REL);
    if (!p)
        return 0;
    int redirected = 0;
    json_t *result = p->plan ? apply_now(p->plan, p->mig, &redirected) : rollback_now();
    /* The answer takes the id: nothing of it stays on this thread. */
    session__post(json_pack("{s:s, s:o, s:o}", "jsonrpc", "2.0", "id", p->id, "result", result),
                  p->generation, 0);
    free(p);
    return redirected;
}

/* hot/restore: the state of the last run, applied while hot_init waits;
 * refused once it stopped waiting (the program runs on without it). */
static void on_restore(json_t *id, json_t *params)
{
    json_t *result;
    pthread_mutex_lock(&gate_lock);
    if (gate_passed)
        result = json_pack("{s:s, s:[], s:[], s:[]}", "status", "late", "restored", "skipped", "defaulted");
    else
        result = handover_restore(params);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    session__respond(id, result);
}

/* Answers one message from the server (borrowed): requests are handled,
 * responses (to hot/attach) ignored, anything else answered with a
 * JSON-RPC error. */
void session__dispatch(json_t *msg)
{
    const char *method = NULL;
    json_t *id = json_object_get(msg, "id");
    json_t *params = json_object_get(msg, "params");
    if (json_unpack(msg, "{s:s}", "method", &method) != 0) {
        if (!id) /* neither request nor response */
            session__respond_error(NULL, -32600, "invalid request");
        /* a response (to hot/attach): whether state of the last run follows */
        if (json_is_integer(id) && json_integer_value(id) == session__attach_id) {
            session__saved_state = json_is_true(json_object_get(json_object_get(msg, "result"), "savedState"));
            if (!session__saved_state)
                session__open_gate();
        }
        return;
    }
    if (!id)
        return; /* notifications from the server: none defined yet */
    if (strcmp(method, "hot/reload") == 0) {
        if (!json_is_object(params))
            session__respond_error(id, -32602, "hot/reload needs params");
        else
            on_reload(id, params);
    } else if (strcmp(method, "hot/rollback") == 0) {
        on_rollback(id);
    } else if (strcmp(method, "hot/handover") == 0) {
        session__respond(id, handover_snapshot(NULL));
    } else if (strcmp(method, "hot/restore") == 0) {
        on_restore(id, params);
    } else {
        session__respond_error(id, -32601, "method not found");
    }
}

/* ---------------------------------------------------------------- reading */

/* Takes one complete message off the buffer. Returns 1 with `*out` (new
 * reference, NULL when the body was not JSON), 0 when incomplete, -1 when
 * the framing is broken. */
int session__next_message(struct reader *r, json_t **out)
{
    *out = NULL;
    char *end = NULL;
    for (size_t i = 0; i + 3 < r->len; i++)
        if (memcmp(r->buf + i, "\r\n\r\n", 4) == 0) {
            end = r->buf + i;
            break;
        }
    if (!end)
        return r->len > 8192 ? -1 : 0;
    size_t length = 0;
    int have = 0;
    for (char *line = r->buf; line < end;) {
        char *eol = memchr(line, '\r', (size_t)(end - line) + 1);
        if (eol - line >= 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
            /* digits within this line only (strtoul would read on into the
             * body, and past the bytes received) */
            const char *p = line + 15;
            while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
            if (p == eol)
                return -1;
            for (length = 0; p < eol && *p >= '0' && *p <= '9' && length <= MAX_MESSAGE; p++)
                length = length * 10 + (size_t)(*p - '0');
            while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
            if (p != eol)
                return -1;
            have = 1;
        }
        line = eol + 2;
    }
    if (!have || length > MAX_MESSAGE)
        return -1;
    size_t head = (size_t)(end - r->buf) + 4;
    if (r->len < head + length)
        return 0;
    *out = json_loadb(r->buf + head, length, 0, NULL);
    memmove(r->buf, r->buf + head + length, r->len - head - length);
    r->len -= head + length;
    return 1;
}
