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
#include "pipeline_impl.h"

/* ---------------------------------------------------------------- helpers */

char *pipeline__fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, f);
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

const char *pipeline__base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path ? path : "";
}

uint64_t pipeline__elapsed_us(uint64_t since)
{
    return (uv_hrtime() - since) / 1000;
}

void pipeline__free_strv(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void pipeline__show(struct pipeline *p, int type, const char *message)
{
    server_notify(p->server, "window/showMessage", protocol_show_message(type, message));
}

bool pipeline__is_header(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    return n > 2 && (strcmp(path + n - 2, ".h") == 0);
}

char *pipeline__hash_key(const char *path, const char *name)
{
    return pipeline__fmt("%s\n%s", path ? path : "", name);
}

void pipeline__forget_hashes(struct pipeline *p, const char *path)
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
        pipeline__forget_hashes(p, path);
}

/* Makes `text` the baseline of `uri` (and of its document, when open). */
void pipeline__set_base(struct pipeline *p, const char *uri, const char *path, const char *text, size_t len)
{
    set_base_json(p, uri, path, json_stringn_nocheck(text, len));
}

/* ---------------------------------------------------------------- batches */

struct batch *pipeline__batch_new(struct pipeline *p, uint64_t t0)
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
                     (json_int_t)pipeline__elapsed_us(b->t0));
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
        pipeline__unit_rebase(p, json_string_value(json_object_get(v, "path")), json_object_get(v, "expansion"));
    }
    /* one status with the batch's result; a batch whose every compile was
     * cancelled says only that compiling stopped, if it did */
    log_trace("rebased");
    if (last || (b->started && st->compiling == 0))
        server_state_changed(p->server);
    log_trace("status.sent");
    batch_free(b);
    /* the save's transient copies (texts, trees, the patch) are freed: give
     * their pages back, so that the server's RSS follows what it keeps (on
     * a worker: it took 20-300 ms on the loop with a 300 KB file) */
    server_trim_soon(p->server);
    log_trace_flush("save");
}

void pipeline__batch_release(struct batch *b)
{
    if (b && --b->holds == 0 && b->jobs == 0)
        batch_finish(b);
}

/* A job of `b` ends: keeps what it has to say (stolen from the job). */
void pipeline__batch_job_ended(struct batch *b, struct job *job)
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

/* ---------------------------------------------------------------- saves */



/* ---------------------------------------------------------------- hooks: documents */

static void hook_did_open(void *data, struct server *server, struct document *doc)
{
    struct pipeline *p = data;

    p->server = server;
    if (!json_object_get(p->bases, doc->uri))
        json_object_set_new(p->bases, doc->uri, json_stringn_nocheck(doc->text, doc->len));
    if (p->programs) /* its baseline is read: wait for it when a worker parses the file */
        doc = docstore_get(server_docs(server), doc->uri);
    for (struct program *pg = p->programs; pg; pg = pg->next)
        pipeline__mark_doc_running(p, doc, pg);
    pipeline__scan_next_base(p);
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
    uv_timer_start(&p->batch, pipeline__on_batch, 0, 0);
    log_trace("save.queued");
}

static void hook_did_close(void *data, struct server *server, const char *uri)
{
    struct pipeline *p = data;

    p->server = server;
    json_object_del(p->bases, uri);
    json_object_del(p->pending, uri);
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
        pipeline__command_rollback(p, req);
    } else if (strcmp(command, SERVER_COMMAND_FORGET_STATE) == 0) {
        pipeline__command_forget_state(p, req, arguments);
    } else if (strcmp(command, SERVER_COMMAND_RELOAD) == 0) {
        const char *uri = json_string_value(json_array_get(arguments, 0));
        struct document *doc;
        if (pipeline__program_count(p) == 0) {
            server_reply_error(server, req, -32803, "no program attached: start it with hot reload first");
            return;
        }
        if (uri) {
            doc = docstore_get(server_docs(server), uri);
            if (!doc)
                server_reply_error(server, req, -32602, "the file is not open");
            else
            {
                struct batch *batch = pipeline__batch_new(p, uv_hrtime());
                pipeline__reload_document(p, batch, doc, RELOAD_ALL, uv_hrtime(), req, NULL);
                pipeline__batch_release(batch);
            }
            return;
        }
        json_t *files = json_array();
        struct batch *batch = pipeline__batch_new(p, uv_hrtime());
        for (size_t i = 0; (doc = docstore_at(server_docs(server), i)) != NULL; i++)
            if (doc->path && !pipeline__is_header(doc->path) &&
                pipeline__reload_document(p, batch, doc, RELOAD_ALL, uv_hrtime(), NULL, NULL))
                json_array_append_new(files, json_string(doc->uri));
        server_reply(server, req, json_pack("{s:o}", "files", files));
        pipeline__batch_release(batch);
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
        pipeline__show(p, 1, err);
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
    snprintf(sw->own, sizeof sw->own, "%s", pipeline__base_name(p->tmpdir));
    sw->req.data = sw;
    if (uv_queue_work(p->loop, &sw->req, sweep_work, on_swept) != 0)
        free(sw);
}

static void hook_initialized(void *data, struct server *server)
{
    struct pipeline *p = data;
    struct link_callbacks cb = { pipeline__on_attached, pipeline__on_detached, pipeline__on_notified,
                                 pipeline__on_exited, pipeline__attach_result };
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
        pipeline__show(p, 1, err);
        p->link = NULL;
        return;
    }
    log_info("runtimes attach at %s", link_endpoint(p->link));
    pipeline__handover_start(p);
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
    p->expansion_uris = json_object();
    p->timeout_ms = DEFAULT_TIMEOUT_MS;
    p->fast = strdup("auto");
    p->tcc = -1;
    p->layout_check = true;
    p->layout = layoutcheck_new(loop, pipeline__on_image_loaded, p);
    p->launcher = launcher_new(loop);
    p->saved_states = json_object();
    p->saving = json_object();
    if (p->launcher)
        launcher_set_before_stop(p->launcher, pipeline__before_stop, p);
    if (!p->saved_states || !p->saving || !p->layout || !p->launcher || !p->pending || !p->bases || !p->hashes || !p->compiler_uris || !p->base_serials || !p->compile_serials || !p->fast ||
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
    /* a preprocessor or compiler still running when the loop ended: its
     * scan and its job are freed here, without their callbacks */
    pipeline__scans_free(self);
    build_runner_free_jobs(&self->runner);
    while (self->jobs)
        pipeline__job_free(self->jobs);
    while (self->programs) {
        struct program *pg = self->programs;
        self->programs = pg->next;
        while (pg->queue) {
            struct send *s = pg->queue;
            pg->queue = s->next;
            free(s);
        }
        pipeline__program_free(pg);
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
    json_decref(self->expansion_uris);
    json_decref(self->saved_states);
    json_decref(self->saving);
    pipeline__handover_free(self);
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
