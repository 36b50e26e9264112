/* The programs attached to the pipeline (see pipeline_impl.h): their
 * functions and applied stacks, attach and detach, crash reports placed on
 * the faulting line, hot/state blocks, and rollback. */
#include "pipeline_impl.h"

/* ---------------------------------------------------------------- programs */

struct program *pipeline__program_get(struct pipeline *p, int id)
{
    for (struct program *pg = p->programs; pg; pg = pg->next)
        if (pg->id == id)
            return pg;
    return NULL;
}

size_t pipeline__program_count(struct pipeline *p)
{
    size_t n = 0;
    for (struct program *pg = p->programs; pg; pg = pg->next)
        n++;
    return n;
}

/* The attach entry of function `name` of the file `path`, or NULL. Global
 * functions are matched by name, static ones also by the file's basename
 * (the host's STT_FILE). */
json_t *pipeline__program_function(struct program *pg, const char *path, const char *name)
{
    size_t i;
    json_t *f;

    json_array_foreach(pg->functions, i, f) {
        const char *n = json_string_value(json_object_get(f, "name"));
        const char *file = json_string_value(json_object_get(f, "file"));
        if (n && strcmp(n, name) == 0 && (!file || strcmp(pipeline__base_name(file), pipeline__base_name(path)) == 0))
            return f;
    }
    return NULL;
}

bool pipeline__any_program_has(struct pipeline *p, const char *path, const char *name)
{
    for (struct program *pg = p->programs; pg; pg = pg->next)
        if (pipeline__program_function(pg, path, name))
            return true;
    return false;
}

/* Marks the HOT functions of `doc` that `pg` has as running. */
void pipeline__mark_doc_running(struct pipeline *p, struct document *doc, struct program *pg)
{
    struct state *st = server_state(p->server);

    if (!doc->path)
        return;
    for (size_t i = 0; i < doc->running->n_functions; i++) {
        const struct analysis_function *f = &doc->running->functions[i];
        struct state_function *sf;
        if (!f->hot || !pipeline__program_function(pg, doc->path, f->name))
            continue;
        sf = state_get(st, doc->path, f->name);
        if (!sf || !sf->running)
            state_set_running(st, doc->path, f->name, pg->version);
    }
}

/* The patch library `so_path` is named by one more (`delta` 1) or one less
 * (-1) applied entry; at none, nothing can run its code any more (not on
 * any program's applied stack) and the file is removed. */
void pipeline__library_ref(struct pipeline *p, const char *so_path, int delta)
{
    json_t *n = json_object_get(p->libraries, so_path);
    json_int_t refs = (n ? json_integer_value(n) : 0) + delta;

    if (refs > 0) {
        json_object_set_new(p->libraries, so_path, json_integer(refs));
        return;
    }
    json_object_del(p->libraries, so_path);
    if (!p->closing)
        pipeline__remove_file(p, so_path);
}

static void applied_free(struct applied *a)
{
    if (a->so_path)
        pipeline__library_ref(a->p, a->so_path, -1);
    free(a->so_path);
    free(a->uri);
    free(a->path);
    pipeline__free_strv(a->fns, a->n_fns);
    json_decref(a->prev_base);
    free(a);
}

/* Bounds `pg`'s applied stack (APPLIED_BASES, APPLIED_MAX). */
void pipeline__applied_trim(struct program *pg)
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

void pipeline__program_free(struct program *pg)
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

/* ---------------------------------------------------------------- hooks: link */

/* A program built from the files as they are now attached (a restart
 * rebuilt it): every open file's text becomes the baseline, so the
 * warnings that asked for a restart (signature, layout, stale lenses) go,
 * and what it runs as the compiler sees it is read again (the units of
 * the previous build would count its changes as still to push). */
static void rebase_all(struct pipeline *p)
{
    struct document *doc;
    const char *uri;
    json_t *unused;
    void *tmp;

    for (size_t i = 0; (doc = docstore_at(server_docs(p->server), i)) != NULL; i++)
        if (doc->path)
            pipeline__set_base(p, doc->uri, doc->path, doc->text, doc->len);
    json_object_foreach_safe(p->layout_uris, tmp, uri, unused)
        pipeline__clear_layout(p, uri);
    json_object_foreach_safe(p->expansion_uris, tmp, uri, unused)
        pipeline__set_expansion_notes(p, uri, NULL, 0);
    json_object_clear(p->units);
    json_object_clear(p->units_failed);
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

void pipeline__on_attached(struct link *link, const struct link_program *lp, void *user)
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
    server_state(p->server)->programs = (int)pipeline__program_count(p);
    if (p->last_build_id && *pg->build_id && strcmp(p->last_build_id, pg->build_id) != 0)
        rebase_all(p); /* a rebuilt program (a restart): it runs the files as they are */
    if (*pg->build_id) {
        free(p->last_build_id);
        p->last_build_id = strdup(pg->build_id);
    }
    for (size_t i = 0; (doc = docstore_at(server_docs(p->server), i)) != NULL; i++)
        pipeline__mark_doc_running(p, doc, pg);
    state_set_run(server_state(p->server), json_pack("{s:s, s:I, s:s}", "state", "running", "pid", (json_int_t)pg->pid,
                                                     "program", pg->executable));
    log_info("program %ld attached: %s (%zu HOT functions, version %d)", pg->pid, pg->executable,
             json_array_size(pg->functions), pg->version);
    pipeline__scan_next_base(p);
    pipeline__handover_attached(p, pg);
    server_state_changed(p->server);
}

/* The "run" member of hotc/status once `pg` is gone: "exited" with the
 * status its runtime reported (hot/detach "exit"), unless it is the program
 * a crash report already marked "crashed". Other programs still attached
 * keep it "running". */
static void set_run_ended(struct state *st, struct program *pg)
{
    const char *was = json_string_value(json_object_get(st->run, "state"));
    json_t *status = json_object_get(pg->ended, "status"), *sig = json_object_get(pg->ended, "signal");

    if (json_integer_value(json_object_get(st->run, "pid")) != pg->pid)
        return;
    if (was && strcmp(was, "crashed") == 0)
        return;
    state_set_run(st, json_is_integer(sig) ? json_pack("{s:s, s:I, s:O, s:O*}", "state", "exited", "pid", (json_int_t)pg->pid,
                                                       "signal", sig, "signalName", json_object_get(pg->ended, "signalName"))
                      : json_is_integer(status)
                          ? json_pack("{s:s, s:I, s:O}", "state", "exited", "pid", (json_int_t)pg->pid, "status", status)
                          : json_pack("{s:s, s:I}", "state", "exited", "pid", (json_int_t)pg->pid));
}

void pipeline__on_exited(struct link *link, json_t *params, void *user)
{
    struct pipeline *p = user;
    struct state *st = server_state(p->server);
    long pid = (long)json_integer_value(json_object_get(params, "pid"));
    json_t *sig = json_object_get(params, "signal");
    const char *name = json_string_value(json_object_get(params, "signalName"));

    (void)link;
    if (pid <= 0 || p->closing)
        return;
    if (json_is_integer(sig))
        log_info("program %ld was killed by %s", pid, name ? name : "a signal");
    else
        log_info("program %ld exited with status %d", pid, (int)json_integer_value(json_object_get(params, "status")));
    for (struct program *pg = p->programs; pg; pg = pg->next)
        if (pg->pid == pid) { /* its connection's end is still to come */
            json_decref(pg->ended);
            pg->ended = json_incref(params);
            return;
        }
    const char *was = json_string_value(json_object_get(st->run, "state"));
    if (json_integer_value(json_object_get(st->run, "pid")) != pid || !was || strcmp(was, "exited") != 0)
        return;
    struct program gone = {.pid = pid, .ended = params};
    set_run_ended(st, &gone);
    server_state_changed(p->server);
}

void pipeline__on_detached(struct link *link, const struct link_program *lp, const char *reason, void *user)
{
    struct pipeline *p = user;
    struct program *pg = pipeline__program_get(p, lp->id);
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
        pipeline__send_fail(p, s, pg->pid, "the program detached before the reload was sent");
    }
    if (p->closing) {
        pipeline__program_free(pg);
        return;
    }
    st->programs = (int)pipeline__program_count(p);
    if (st->programs == 0)
        state_reset_running(st);
    set_run_ended(st, pg);
    if (strcmp(reason, "shutdown") == 0) {
        log_info("program %ld detached (%s)", pg->pid, reason);
    } else {
        json_t *status = json_object_get(pg->ended, "status");
        const char *killer = json_string_value(json_object_get(pg->ended, "signalName"));
        char *how = killer ? pipeline__fmt("was killed by %s", killer)
                    : json_is_integer(status) && (strcmp(reason, "exit") == 0 || json_object_get(pg->ended, "pid"))
                        ? pipeline__fmt("exited with status %d", (int)json_integer_value(status))
                        : strdup(strcmp(reason, "disconnected") == 0 ? "exited or disconnected" : reason);
        char *message = pipeline__fmt("program %ld (%s) %s%s", pg->pid, pipeline__base_name(pg->executable), how ? how : reason,
                            mid ? " during a reload" : "");
        free(how);
        log_warn("%s", message ? message : "program detached");
        pipeline__show(p, mid ? 2 : 3, message ? message : "program detached");
        if (mid)
            state_set_last(st, json_pack("{s:s, s:s}", "result", "error", "message", message ? message : ""));
        free(message);
    }
    pipeline__program_free(pg);
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
    char *at = where && where->line > 0 ? pipeline__fmt("%s:%d", pipeline__base_name(where->file), where->line) : NULL;
    char *message = pipeline__fmt("%s%s crashed with %s at %s (running v%d)%s", name ? name : "the program",
                        name ? "()" : "", sig ? sig : "a signal", at ? at : addr ? addr : "?", version,
                        rolled ? "; rolled back to the previous version"
                               : guarded ? "" : "; the program died");
    struct document *doc;

    log_error("program %ld: %s", pid, message ? message : "crash");
    pipeline__show(p, 1, message ? message : "crash");
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
        if (!f || (pg && !pipeline__program_function(pg, doc->path, name)))
            continue;
        d.range = f->name_range;
        if (at && doc->path && strcmp(pipeline__base_name(doc->path), pipeline__base_name(where->file)) == 0) {
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
        crash_report(cl->p, pipeline__program_get(cl->p, cl->program), cl->pid, cl->params, cl->found ? &cl->where : NULL);
    if (cl->holds_library)
        pipeline__library_ref(cl->p, cl->module, -1);
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
        /* a patch library stays on disk until its lines are read, even when
         * the crash ended the program (its applied entries go with it) */
        cl->holds_library = cl->module && json_object_get(p->libraries, cl->module) != NULL;
        if (cl->holds_library)
            pipeline__library_ref(p, cl->module, 1);
        if (cl->module && uv_queue_work(p->loop, &cl->work, crash_lookup_work, on_crash_looked_up) == 0)
            return;
        if (cl->holds_library)
            pipeline__library_ref(p, cl->module, -1);
        json_decref(cl->params);
        free(cl->module);
        free(cl);
    }
    crash_report(p, pipeline__program_get(p, program), pid, params, NULL);
}

void pipeline__on_notified(struct link *link, const struct link_program *lp, const char *method, json_t *params,
                        void *user)
{
    struct pipeline *p = user;

    (void)link;
    if (strcmp(method, "hot/detach") == 0) {
        struct program *pg = pipeline__program_get(p, lp->id);
        if (pg) {
            json_decref(pg->ended);
            pg->ended = json_incref(params);
        }
    } else if (strcmp(method, "hot/crash") == 0) {
        on_crash(p, lp->id, lp->pid, params);
    } else if (strcmp(method, "hot/save") == 0) {
        struct program *pg = pipeline__program_get(p, lp->id);
        if (pg)
            pipeline__handover_saved(p, pg, params);
    } else if (strcmp(method, "hot/state") == 0) {
        struct program *pg = pipeline__program_get(p, lp->id);
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

void pipeline__rollback_answer(struct rollback *rb, struct program *pg, long pid, json_t *result, const char *error)
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
            char *why = pipeline__fmt("rolled back to v%d", version);
            pg->applied = a->below;
            for (size_t i = 0; i < a->n_fns; i++)
                state_record(server_state(p->server), a->path, a->fns[i], version, "rollback", why, 0);
            if (a->prev_base)
                pipeline__set_base(p, a->uri, a->path, json_string_value(a->prev_base), json_string_length(a->prev_base));
            else
                pipeline__forget_hashes(p, a->path);
            if (a->base_dropped)
                log_info("rolled back v%d of %s, older than the %d newest reloads: the editor's view of what runs "
                         "is not restored; save the file to reload it",
                         a->version, pipeline__base_name(a->path), APPLIED_BASES);
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
        char *message = rolled ? pipeline__fmt("rolled back %zu of %zu programs", rolled, json_array_size(rb->programs))
                               : pipeline__fmt("nothing rolled back: %s", reason ? reason : "refused");
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

void pipeline__command_rollback(struct pipeline *p, struct server_request *req)
{
    struct rollback *rb;
    size_t n = pipeline__program_count(p);

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
            pipeline__rollback_answer(rb, pg, pg->pid, NULL, "out of memory");
            continue;
        }
        s->kind = SEND_ROLLBACK;
        s->rollback = rb;
        pipeline__program_enqueue(p, pg, s);
    }
}
