/* State across restarts, the server's side (docs/protocol.md, "State
 * across restarts"; lsp/statestore.h keeps it on disk): a program's
 * hot/save (its clean exit) or its answer to hot/handover (restart, before
 * the program is stopped) is described with the layouts of its build's DWARF
 * and written on a worker; when a program whose executable has a saved
 * state attaches, hot/attach's answer says so (`savedState`), the plans
 * from the saved layouts to the new build's are made on a worker and sent
 * in hot/restore, and the editor hears what was restored, migrated,
 * reset or left at its default. hotc.server.forgetState removes it. */
#include <fcntl.h>
#include <string.h>

#include "pipeline_impl.h"

#include "statestore.h"

/* A restore: planned on a worker, then sent to the program. */
struct restoring {
    struct pipeline *p;
    struct restoring *next;  /* in p->deferred */
    int program;
    long pid;
    char *executable, *build_id;
    json_t *params, *said;
    char err[600];
};


/* ---------------------------------------------------------------- the list at start-up */

struct listing {
    uv_work_t work;
    struct pipeline *p;
    json_t *found;
    char err[600];
};

/* ---------------------------------------------------------------- markers */

/* Beside the server's Unix socket, `state-<key>` (statestore_key) exists
 * while the server keeps state for that executable or is saving some: a
 * starting program's hot_init waits for its attach answer only then
 * (runtime/session_endpoint.c). Created and removed off the loop. */
static void on_marker_done(uv_fs_t *req)
{
    uv_file fd = (uv_file)req->result;
    bool opened = req->fs_type == UV_FS_OPEN && req->result >= 0;

    uv_fs_req_cleanup(req);
    if (opened && uv_fs_close(req->loop, req, fd, on_marker_done) == 0)
        return;
    free(req);
}

static void marker_sync(struct pipeline *p, const char *exe)
{
    const char *ep = p->link ? link_endpoint(p->link) : NULL;
    const char *slash = ep && strncmp(ep, "unix:", 5) == 0 ? strrchr(ep, '/') : NULL;
    bool on = json_object_get(p->saved_states, exe) || json_object_get(p->saving, exe);
    char key[96], path[4400];
    uv_fs_t *req;

    if (!slash || p->closing || !(req = calloc(1, sizeof *req)))
        return;
    statestore_key(exe, key, sizeof key);
    snprintf(path, sizeof path, "%.*s/state-%s", (int)(slash - ep - 5), ep + 5, key);
    if ((on ? uv_fs_open(p->loop, req, path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600, on_marker_done)
            : uv_fs_unlink(p->loop, req, path, on_marker_done)) != 0)
        free(req);
}

static void list_work(uv_work_t *req)
{
    struct listing *l = req->data;
    char dir[4200];

    if (statestore_dir(dir, sizeof dir, l->err, sizeof l->err) == 0)
        l->found = statestore_list(dir);
}

static void on_listed(uv_work_t *req, int status)
{
    struct listing *l = req->data;
    const char *exe;
    json_t *v;

    (void)status;
    if (*l->err)
        log_warn("%s", l->err);
    json_object_foreach(l->found, exe, v) {
        json_object_set(l->p->saved_states, exe, v);
        marker_sync(l->p, exe);
    }
    if (json_object_size(l->found))
        log_info("saved program state for %zu executables", json_object_size(l->found));
    json_decref(l->found);
    free(l);
}

void pipeline__handover_start(struct pipeline *p)
{
    struct listing *l = calloc(1, sizeof *l);

    if (!l)
        return;
    l->p = p;
    l->work.data = l;
    if (uv_queue_work(p->loop, &l->work, list_work, on_listed) != 0)
        free(l);
}

void pipeline__attach_result(struct link *link, const struct link_program *lp, json_t *result, void *user)
{
    struct pipeline *p = user;

    (void)link;
    if (lp->executable &&
        (json_object_get(p->saved_states, lp->executable) || json_object_get(p->saving, lp->executable)))
        json_object_set_new(result, "savedState", json_true());
}

/* ---------------------------------------------------------------- saving */

struct saving {
    uv_work_t work;
    struct pipeline *p;
    json_t *state;           /* what the file gets */
    json_t *patches;         /* the program's patch libraries, newest first */
    bool empty;              /* nothing handed over: the saved state is removed, not written */
    char err[600];
    void (*resume)(void *arg); /* the restart waiting for it, or NULL */
    void *arg;
};

static void write_state(struct saving *s)
{
    char dir[4200];

    if (statestore_dir(dir, sizeof dir, s->err, sizeof s->err) != 0)
        return;
    if (s->empty)
        statestore_forget(dir, json_string_value(json_object_get(s->state, "executable")));
    else
        statestore_write(dir, s->state, s->err, sizeof s->err);
}

static void save_described(struct debuginfo *exe, const char *error, void *user)
{
    struct saving *s = user;

    (void)error;
    statestore_describe(exe, s->state, s->patches);
    write_state(s);
}

static void save_work(uv_work_t *req)
{
    struct saving *s = req->data;

    statestore_describe(NULL, s->state, s->patches);
    write_state(s);
}

static void start_restore(struct restoring *r);

/* Counts a save of `exe` being written (delta 1) or done (-1); when none
 * is left, the restores that waited for it start. */
static void saving_count(struct pipeline *p, const char *exe, int delta)
{
    json_int_t n = json_integer_value(json_object_get(p->saving, exe)) + delta;
    if (n > 0) {
        json_object_set_new(p->saving, exe, json_integer(n));
        marker_sync(p, exe);
        return;
    }
    json_object_del(p->saving, exe);
    marker_sync(p, exe);
    for (struct restoring **q = &p->deferred; *q;) {
        struct restoring *r = *q;
        if (strcmp(r->executable, exe) != 0) {
            q = &r->next;
            continue;
        }
        *q = r->next;
        start_restore(r);
    }
}

static void saved(void *user)
{
    struct saving *s = user;
    struct pipeline *p = s->p;
    const char *exe = json_string_value(json_object_get(s->state, "executable"));
    size_t i;
    json_t *path;

    if (*s->err) {
        log_warn("%s", s->err);
        if (!p->closing)
            pipeline__show(p, 2, s->err);
    } else if (s->empty) {
        json_object_del(p->saved_states, exe);
        log_info("%s handed over no state: nothing is kept for it", exe);
    } else {
        json_object_set_new(p->saved_states, exe, json_true());
        log_info("the state of %s was saved (%s): %zu blocks, %zu persistent variables", exe,
                 json_string_value(json_object_get(s->state, "reason")),
                 json_array_size(json_object_get(s->state, "blocks")),
                 json_array_size(json_object_get(s->state, "persist")));
    }
    if (s->resume)
        s->resume(s->arg);
    if (exe)
        saving_count(p, exe, -1);
    json_array_foreach(s->patches, i, path)
        pipeline__library_ref(p, json_string_value(path), -1);
    json_decref(s->state);
    json_decref(s->patches);
    free(s);
}

static void on_save_worked(uv_work_t *req, int status)
{
    (void)status;
    saved(req->data);
}

/* Keeps what `pg` handed over (`params`: hot/save's params or hot/handover's result,
 * borrowed), its layouts read from its build's DWARF. Calls `resume(arg)`
 * once done (may be NULL). */
static void keep(struct pipeline *p, struct program *pg, json_t *params, const char *reason,
                 void (*resume)(void *arg), void *arg)
{
    struct saving *s = calloc(1, sizeof *s);

    if (s)
        s->state = json_pack("{s:s, s:s, s:I, s:s, s:O, s:O}", "executable", pg->executable, "buildId", pg->build_id,
                             "savedAt", (json_int_t)time(NULL), "reason", reason, "blocks",
                             json_object_get(params, "blocks"), "persist", json_object_get(params, "persist"));
    if (!s || !s->state || !json_is_array(json_object_get(s->state, "blocks")) ||
        !json_is_array(json_object_get(s->state, "persist"))) {
        log_warn("program %ld: invalid state handed over; nothing was saved", pg->pid);
        if (s)
            json_decref(s->state);
        free(s);
        if (resume)
            resume(arg);
        return;
    }
    s->p = p;
    s->resume = resume;
    s->arg = arg;
    s->work.data = s;
    s->empty = json_array_size(json_object_get(s->state, "blocks")) == 0 &&
               json_array_size(json_object_get(s->state, "persist")) == 0;
    s->patches = json_array();
    saving_count(p, pg->executable, 1);
    /* each held until the save is written (a detach would remove it) */
    for (struct applied *a = pg->applied; a; a = a->below)
        if (a->so_path) {
            json_array_append_new(s->patches, json_string(a->so_path));
            pipeline__library_ref(p, a->so_path, 1);
        }
    if (layoutcheck_use(p->layout, pg->build_id, save_described, saved, s) == 0)
        return;
    if (uv_queue_work(p->loop, &s->work, save_work, on_save_worked) != 0) {
        snprintf(s->err, sizeof s->err, "cannot save the state of %s: cannot queue the work", pg->executable);
        saved(s);
    }
}

void pipeline__handover_saved(struct pipeline *p, struct program *pg, json_t *params)
{
    if (pg->state_forgotten) {
        log_info("program %ld: its state was forgotten; what it handed over at exit is not kept", pg->pid);
        return;
    }
    keep(p, pg, params, "exit", NULL, NULL);
}

/* A restart waits for every program it stops to hand its state over, for
 * HANDOVER_WAIT_MS at most: a program that does not answer (stopped in a
 * debugger, hung) is restarted without it. */
#define HANDOVER_WAIT_MS 5000

struct stopping {
    int waiting;
    bool resumed;            /* the restart went on (all answered, or the wait ended) */
    uv_timer_t timer;
    void (*resume)(void *arg);
    void *arg;
};

static void on_stopping_closed(uv_handle_t *h)
{
    free(h->data);
}

static void stopping_resume(struct stopping *st)
{
    if (st->resumed)
        return;
    st->resumed = true;
    st->resume(st->arg);
}

static void stopping_done(void *arg)
{
    struct stopping *st = arg;

    if (--st->waiting > 0)
        return;
    stopping_resume(st);
    uv_timer_stop(&st->timer);
    uv_close((uv_handle_t *)&st->timer, on_stopping_closed);
}

static void on_handover_late(uv_timer_t *timer)
{
    struct stopping *st = timer->data;

    log_warn("restart: a program did not hand its state over within %d ms; it is restarted without it",
             HANDOVER_WAIT_MS);
    stopping_resume(st);
}

static void on_save_answer(struct pipeline *p, struct program *pg, json_t *result, const char *error, void *user)
{
    struct stopping *st = user;

    if (!result || !pg) {
        log_warn("the program's state was not saved before the restart: %s", error ? error : "it is gone");
        stopping_done(user);
        return;
    }
    if (st->resumed) {
        /* the new program may already have its state: this one is dropped */
        log_warn("restart: program %ld handed its state over too late; it is not kept", pg->pid);
        stopping_done(user);
        return;
    }
    keep(p, pg, result, "restart", stopping_done, user);
}

static bool is_stopped(const struct program *pg, long pid, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (pid > 0)
        return pg->pid == pid;
    return strcmp(pg->executable, path) == 0 ||
           strcmp(pipeline__base_name(pg->executable), slash ? slash + 1 : path) == 0;
}

void pipeline__before_stop(long pid, const char *path, void (*resume)(void *arg), void *arg, void *user)
{
    struct pipeline *p = user;
    struct stopping *st = calloc(1, sizeof *st);

    if (!st || p->closing) {
        free(st);
        resume(arg);
        return;
    }
    st->resume = resume;
    st->arg = arg;
    st->waiting = 1; /* held while the requests are queued */
    uv_timer_init(p->loop, &st->timer);
    st->timer.data = st;
    uv_timer_start(&st->timer, on_handover_late, HANDOVER_WAIT_MS, 0);
    for (struct program *pg = p->programs; pg; pg = pg->next) {
        struct send *s;
        if (!is_stopped(pg, pid, path) || pg->state_forgotten || !(s = calloc(1, sizeof *s)))
            continue;
        s->kind = SEND_STATE;
        s->p = p;
        s->method = "hot/handover";
        s->params = json_object();
        s->answered = on_save_answer;
        s->user = st;
        st->waiting++;
        log_info("restart: program %ld hands its state over", pg->pid);
        pipeline__program_enqueue(p, pg, s);
    }
    stopping_done(st);
}

/* ---------------------------------------------------------------- restoring */

static void restoring_free(struct restoring *r)
{
    json_decref(r->params);
    json_decref(r->said);
    free(r->executable);
    free(r->build_id);
    free(r);
}

static void restore_work(struct debuginfo *exe, const char *error, void *user)
{
    struct restoring *r = user;
    char dir[4200];
    json_t *state;

    (void)error;
    if (statestore_dir(dir, sizeof dir, r->err, sizeof r->err) != 0)
        return;
    state = statestore_read(dir, r->executable, r->err, sizeof r->err);
    if (state)
        r->params = statestore_restore_params(exe, state, r->said);
    json_decref(state);
}

static void tell(struct pipeline *p, int type, const char *message)
{
    if (type <= 2)
        log_warn("%s", message);
    else
        log_info("%s", message);
    pipeline__show(p, type, message);
}

static void on_restore_answer(struct pipeline *p, struct program *pg, json_t *result, const char *error, void *user)
{
    struct restoring *r = user;
    const char *status = json_string_value(json_object_get(result, "status"));
    size_t i;
    json_t *e;

    (void)pg;
    if (p->closing || !result || !status) {
        if (!p->closing)
            log_warn("program %ld: its saved state was not restored: %s", r->pid, error ? error : "no answer");
        restoring_free(r);
        return;
    }
    if (strcmp(status, "late") == 0) {
        char *m = pipeline__fmt("program %ld started before its saved state arrived (hot_init waits at most "
                                "200 ms, or HOTC_STATE_WAIT_MS); it runs without it, and the state stays saved for "
                                "its next start",
                                r->pid);
        tell(p, 2, m ? m : "the saved state arrived late");
        free(m);
        restoring_free(r);
        return;
    }
    json_t *names = json_object_get(result, "restored");
    char list[1024] = "";
    json_array_foreach(names, i, e)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s`%s`", i ? ", " : "", json_string_value(e));
    if (!*list && !json_array_size(json_object_get(r->said, "warnings")) &&
        !json_array_size(json_object_get(result, "skipped"))) {
        log_info("program %ld: nothing of its last run to restore", r->pid);
        restoring_free(r);
        return;
    }
    char *m = pipeline__fmt("program %ld: state restored from its last run: %s", r->pid, *list ? list : "nothing");
    json_array_foreach(json_object_get(r->said, "info"), i, e) {
        char *more = pipeline__fmt("%s; %s", m ? m : "", json_string_value(e));
        free(m);
        m = more;
    }
    tell(p, 3, m ? m : "state restored");
    free(m);
    json_array_foreach(json_object_get(r->said, "warnings"), i, e) {
        m = pipeline__fmt("program %ld: %s", r->pid, json_string_value(e));
        tell(p, 2, m ? m : json_string_value(e));
        free(m);
    }
    json_array_foreach(json_object_get(result, "defaulted"), i, e) {
        m = pipeline__fmt("program %ld: field `%s` did not fit its new type after the restart, defaulted", r->pid,
                          json_string_value(e));
        tell(p, 2, m ? m : json_string_value(e));
        free(m);
    }
    json_array_foreach(json_object_get(result, "skipped"), i, e) {
        m = pipeline__fmt("program %ld: `%s` was not restored: %s", r->pid,
                          json_string_value(json_object_get(e, "name")),
                          json_string_value(json_object_get(e, "reason")));
        tell(p, 2, m ? m : "not restored");
        free(m);
    }
    restoring_free(r);
}

static void restore_ready(void *user)
{
    struct restoring *r = user;
    struct pipeline *p = r->p;
    struct program *pg = pipeline__program_get(p, r->program);
    struct send *s;

    if (*r->err)
        log_warn("%s", r->err);
    if (p->closing || !pg || !(s = calloc(1, sizeof *s))) {
        restoring_free(r);
        return;
    }
    s->kind = SEND_STATE;
    s->p = p;
    s->method = "hot/restore";
    /* always answered, also with nothing: the program waits for it */
    s->params = r->params ? json_incref(r->params) : json_pack("{s:[], s:[]}", "blocks", "persist");
    s->answered = on_restore_answer;
    s->user = r;
    pipeline__program_enqueue(p, pg, s);
}

static void restore_plain_work(uv_work_t *req)
{
    restore_work(NULL, NULL, req->data);
}

static void on_restore_plain(uv_work_t *req, int status)
{
    (void)status;
    restore_ready(req->data);
    free(req);
}

static void start_restore(struct restoring *r)
{
    struct pipeline *p = r->p;

    if (p->closing || !pipeline__program_get(p, r->program)) {
        restoring_free(r);
        return;
    }
    if (layoutcheck_use(p->layout, r->build_id, restore_work, restore_ready, r) == 0)
        return;
    /* without the build's DWARF: untyped blocks only; the program is
     * answered either way, it waits */
    uv_work_t *w = malloc(sizeof *w);
    if (w) {
        w->data = r;
        if (uv_queue_work(p->loop, w, restore_plain_work, on_restore_plain) == 0)
            return;
        free(w);
    }
    restoring_free(r);
}

/* A program attached: when a state is saved for its executable, it is
 * planned and sent (hot/restore), after the saves still being written. */
void pipeline__handover_attached(struct pipeline *p, struct program *pg)
{
    struct restoring *r;

    if ((!json_object_get(p->saved_states, pg->executable) && !json_object_get(p->saving, pg->executable)) ||
        !(r = calloc(1, sizeof *r)))
        return;
    r->p = p;
    r->program = pg->id;
    r->pid = pg->pid;
    r->executable = strdup(pg->executable);
    r->build_id = strdup(pg->build_id);
    r->said = json_object();
    if (!r->executable || !r->build_id || !r->said) {
        restoring_free(r);
        return;
    }
    if (json_object_get(p->saving, pg->executable)) {
        r->next = p->deferred;
        p->deferred = r;
        return;
    }
    start_restore(r);
}

void pipeline__handover_free(struct pipeline *p)
{
    while (p->deferred) {
        struct restoring *r = p->deferred;
        p->deferred = r->next;
        restoring_free(r);
    }
}

/* ---------------------------------------------------------------- forgetting */

struct forgetting {
    uv_work_t work;
    struct pipeline *p;
    struct server_request *req;
    json_t *paths, *forgotten;
    char *root;              /* also every saved state of a program under it, or NULL */
    char err[600];
};

static void forget_work(uv_work_t *req)
{
    struct forgetting *f = req->data;
    char dir[4200];
    size_t i;
    json_t *e;

    if (statestore_dir(dir, sizeof dir, f->err, sizeof f->err) != 0)
        return;
    if (f->root) {
        json_t *all = statestore_list(dir), *v;
        const char *exe;
        size_t n = strlen(f->root);
        json_object_foreach(all, exe, v)
            if (strncmp(exe, f->root, n) == 0 && exe[n] == '/')
                json_array_append_new(f->paths, json_string(exe));
        json_decref(all);
    }
    json_array_foreach(f->paths, i, e)
        if (statestore_forget(dir, json_string_value(e)))
            json_array_append(f->forgotten, e);
}

static void on_forgotten(uv_work_t *req, int status)
{
    struct forgetting *f = req->data;
    struct pipeline *p = f->p;
    size_t i;
    json_t *e;

    (void)status;
    json_array_foreach(f->forgotten, i, e) {
        json_object_del(p->saved_states, json_string_value(e));
        marker_sync(p, json_string_value(e));
    }
    if (*f->err) {
        server_reply_error(p->server, f->req, -32803, f->err);
    } else {
        log_info("forgot the saved state of %zu programs", json_array_size(f->forgotten));
        server_reply(p->server, f->req, json_pack("{s:O}", "forgotten", f->forgotten));
    }
    json_decref(f->paths);
    json_decref(f->forgotten);
    free(f->root);
    free(f);
}

void pipeline__command_forget_state(struct pipeline *p, struct server_request *req, json_t *arguments)
{
    const char *only = json_string_value(json_object_get(json_array_get(arguments, 0), "program"));
    const char *root = server_root(p->server);
    struct forgetting *f = calloc(1, sizeof *f);

    if (!f || !(f->paths = json_array()) || !(f->forgotten = json_array())) {
        if (f)
            json_decref(f->paths);
        free(f);
        server_reply_error(p->server, req, -32603, "out of memory");
        return;
    }
    /* one program; else the attached ones and every saved state of a
     * program inside the workspace */
    if (only)
        json_array_append_new(f->paths, json_string(only));
    for (struct program *pg = p->programs; pg; pg = pg->next)
        if (!only || strcmp(pg->executable, only) == 0) {
            pg->state_forgotten = true;
            if (!only)
                json_array_append_new(f->paths, json_string(pg->executable));
        }
    f->root = !only && root ? strdup(root) : NULL;
    f->p = p;
    f->req = req;
    f->work.data = f;
    if (uv_queue_work(p->loop, &f->work, forget_work, on_forgotten) != 0) {
        json_decref(f->paths);
        json_decref(f->forgotten);
        free(f->root);
        free(f);
        server_reply_error(p->server, req, -32603, "cannot queue the work");
    }
}
