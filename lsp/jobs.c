/* Jobs of the save-to-reload pipeline (see pipeline_impl.h): one save of
 * one file for one build, from the patch source written off the loop,
 * through the compile (tcc first where it can, the project's compiler with
 * the precompiled preamble), to the hot/reload sent to each program and
 * the answers that end it; the compiler's messages as diagnostics. */
#include "pipeline_impl.h"

static void program_pump(struct pipeline *p, struct program *pg);
static json_t *build_details(const struct job *job);

/* ---------------------------------------------------------------- files, off the loop */

static void on_removed(uv_fs_t *req)
{
    uv_fs_req_cleanup(req);
    free(req);
}

/* Removes `path` through the libuv thread pool; a failure is only logged
 * (the temporary directory is removed at exit anyway). */
void pipeline__remove_file(struct pipeline *p, const char *path)
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
char *pipeline__slurp(const char *path, size_t *len)
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
int pipeline__compile_probe_init(struct pipeline *p, struct compile_probe *probe, const char *path)
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

void pipeline__compile_probe_release(struct compile_probe *probe)
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
void pipeline__compile_probe_run(struct compile_probe *probe)
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
void pipeline__compile_probe_apply(struct pipeline *p, struct compile_probe *probe)
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

void pipeline__job_free(struct job *job)
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
        pipeline__batch_job_ended(job->batch, job);
    json_decref(job->last);
    json_decref(job->reloaded);
    free(job->uri);
    free(job->path);
    free(job->key);
    free(job->build_id);
    json_decref(job->text_json);
    json_decref(job->expansion);
    pipeline__free_strv(job->fns, job->n_fns);
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
    pipeline__compile_probe_release(&job->probe);
    preamble_plan_free(job->pre);
    free(job->fast_note);
    free(job->tcc_key);
    free(job->cc[0]);
    free(job->cc[1]);
    if (*job->c_path && !p->closing)
        pipeline__remove_file(p, job->c_path);
    if (*job->pre_path && !p->closing)
        pipeline__remove_file(p, job->pre_path);
    if (*job->so_path && job->applied == 0 && !p->closing && (job->so_written || job->compiled_with))
        pipeline__remove_file(p, job->so_path); /* no program runs it (a canceled compile may have written it) */
    free(job);
}

json_t *pipeline__fn_names(struct job *job)
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
    uint64_t total = pipeline__elapsed_us(job->t0);
    const char *result = job->applied ? "applied" : job->refused ? "refused" : "error";
    char *names = fn_list(job->fns, job->n_fns), *message;

    log_trace("job.finish");
    if (p->closing) {
        free(names);
        pipeline__job_free(job);
        return;
    }
    if (job->applied)
        message = job->refused || job->errors
                      ? pipeline__fmt("reloaded %s in %d of %zu programs; %s", names, job->applied, job->n_targets,
                            job->reason ? job->reason : "")
                      : pipeline__fmt("reloaded %s in %.1f ms%s%s", names, total / 1000.0, job->state_said ? "; " : "",
                            job->state_said ? job->state_said : "");
    else
        message = pipeline__fmt("cannot reload %s: %s", names, job->reason ? job->reason : "no answer");
    if (job->note && message) {
        /* the functions of the same save that the layout check kept back */
        char *both = pipeline__fmt("%s; %s", message, job->note);
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
            char *key = pipeline__hash_key(job->path, job->fns[i]);
            json_object_set_new(p->hashes, key, json_integer((json_int_t)job->hashes[i]));
            free(key);
        }
        job->rebase = job->full && job->applied == (int)job->n_targets;
        pipeline__unit_applied(p, job);
        server_set_diagnostics(p->server, job->uri, "crash", NULL, 0);
    }
    job->last = json_pack("{s:s, s:i, s:s, s:s, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "result", result,
                          "version", job->version, "message", message ? message : "", "file", job->path,
                          "functions", pipeline__fn_names(job), "timings", "analysisUs", (json_int_t)job->analysis_us,
                          "patchUs", (json_int_t)job->patch_us, "compileUs", (json_int_t)job->compile_us,
                          "checkUs", (json_int_t)job->check_us, "loadUs",
                          (json_int_t)job->load_us, "applyUs", (json_int_t)job->apply_us, "totalUs",
                          (json_int_t)total);
    json_object_set_new(job->last, "build", build_details(job));
    job->reloaded = json_pack("{s:s, s:i, s:o, s:O}", "uri", job->uri, "version", job->version, "functions",
                              pipeline__fn_names(job), "programs", job->programs);
    if (job->reloaded && job->state_said)
        json_object_set_new(job->reloaded, "state", json_string(job->state_said));
    log_info("%s (analysis %" PRIu64 " us, patch %" PRIu64 " us, compile %" PRIu64 " us, check %" PRIu64
             " us, load %" PRIu64 " us, apply %" PRIu64 " us, total %" PRIu64 " us)",
             message ? message : result, job->analysis_us, job->patch_us, job->compile_us, job->check_us,
             job->load_us, job->apply_us, total);
    if (!job->applied || job->refused || job->errors)
        pipeline__show(p, 2, message ? message : result);
    else if (job->state_said)
        pipeline__show(p, 3, message ? message : result);
    if (job->req) {
        server_reply(p->server, job->req,
                     json_pack("{s:s, s:i, s:o, s:s}", "result", result, "version", job->version, "functions",
                               pipeline__fn_names(job), "message", message ? message : ""));
        job->req = NULL;
    }
    free(names);
    free(message);
    log_trace("job.finished");
    pipeline__job_free(job);
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
    struct program *pg = pipeline__program_get(job->p, tg->program);
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
                    pipeline__library_ref(job->p, a->so_path, 1);
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
                pipeline__applied_trim(pg);
            }
        }
    } else {
        if (strcmp(status, "refused") == 0)
            job->refused++;
        else
            job->errors++;
        if (!job->reason)
            job->reason = pipeline__fmt("program %ld: %s", tg->pid, reason ? reason : status);
    }
    if (++job->answered == job->n_targets && job->holds == 0)
        job_finish(job);
}

/* ---------------------------------------------------------------- sending */


static void on_reload_result(struct link *link, const struct link_program *lp, json_t *result, const char *error,
                             uint64_t rtt_us, void *user)
{
    struct send *s = user;
    struct pipeline *p = s->job->p;
    struct program *pg = pipeline__program_get(p, s->program);

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
    struct program *pg = pipeline__program_get(p, s->program);

    (void)link;
    (void)rtt_us;
    if (pg)
        pg->busy = false;
    pipeline__rollback_answer(s->rollback, pg, lp->pid, result, error);
    free(s);
    if (pg && !p->closing)
        program_pump(p, pg);
}

static void on_state_result(struct link *link, const struct link_program *lp, json_t *result, const char *error,
                            uint64_t rtt_us, void *user)
{
    struct send *s = user;
    struct pipeline *p = s->p;
    struct program *pg = pipeline__program_get(p, s->program);

    (void)link;
    (void)lp;
    (void)rtt_us;
    if (pg)
        pg->busy = false;
    s->answered(p, pg, result, error, s->user);
    json_decref(s->params);
    free(s);
    if (pg && !p->closing)
        program_pump(p, pg);
}

/* Fails a send that cannot go out. */
void pipeline__send_fail(struct pipeline *p, struct send *s, long pid, const char *why)
{
    if (s->kind == SEND_RELOAD)
        job_answer(s->job, s->target, NULL, why, 0);
    else if (s->kind == SEND_STATE)
        s->answered(p, pipeline__program_get(p, s->program), NULL, why, s->user);
    else
        pipeline__rollback_answer(s->rollback, pipeline__program_get(p, s->program), pid, NULL, why);
    if (s->kind == SEND_STATE)
        json_decref(s->params);
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
        message = pipeline__fmt("waiting: program %ld has not called hot_poll() for %d s; call it from a loop that runs, or "
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
        } else if (s->kind == SEND_STATE) {
            rc = link_request(p->link, pg->id, s->method, json_incref(s->params), on_state_result, s);
        } else {
            rc = link_request(p->link, pg->id, "hot/rollback", json_object(), on_rollback_result, s);
        }
        if (rc != 0) {
            pipeline__send_fail(p, s, pg->pid, link_strerror(rc));
            continue;
        }
        pg->busy = true;
    }
}

void pipeline__program_enqueue(struct pipeline *p, struct program *pg, struct send *s)
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

    if (!file || strcmp(file, job->c_path) == 0 || strcmp(pipeline__base_name(file), pipeline__base_name(job->c_path)) == 0)
        return strdup(job->uri);
    path = file[0] == '/' || !cwd ? strdup(file) : pipeline__fmt("%s/%s", cwd, file);
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

/* Whether a message before diags->items[i] says the same at the same place
 * of `uri`: an error in a macro's body comes once per expansion, each
 * with its own "in expansion of" notes; the editor shows it once. */
static bool said_before(const struct build_diags *diags, size_t i, const char *uri, const char *cwd,
                        const struct job *job)
{
    const struct build_diag *d = &diags->items[i];

    for (size_t k = 0; k < i; k++) {
        const struct build_diag *o = &diags->items[k];
        if (o->line != d->line || o->column != d->column || o->severity != d->severity ||
            !o->message || !d->message || strcmp(o->message, d->message) != 0 || build_patch_noise(o))
            continue;
        char *u = diag_uri(o->file, cwd, job);
        bool same = u && strcmp(u, uri) == 0;
        free(u);
        if (same)
            return true;
    }
    return false;
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
            if (u && strcmp(u, uri) == 0 && !build_patch_noise(d) && !said_before(diags, i, u, cwd, job)) {
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
        pipeline__free_strv(owned, n_owned);
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
void pipeline__on_image_loaded(const char *build_id, int rc, const char *error, size_t units, uint64_t us,
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
        pipeline__job_free(job);
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
             pipeline__base_name(job->path), why && *why ? why : "no message", job->cc[1] ? job->cc[1] : "the compiler");
    json_object_set_new(p->tcc_failed, job->path,
                        json_pack("{s:s, s:s}", "key", job->tcc_key, "reason", why && *why ? why : "tcc failed"));
    free(job->fast_note);
    job->fast_note = pipeline__fmt("tcc failed: %s", why && *why ? why : "no message");
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
        pipeline__job_free(job);
        return;
    }
    {
        const char *c = strrchr(job->path, '/');
        const struct build_command *entry = p->db ? build_db_lookup(p->db, job->path) : NULL;
        cwd = entry ? strdup(entry->directory) : c ? pipeline__fmt("%.*s", (int)(c - job->path), job->path) : NULL;
    }
    if (r->status == 0 || r->status == BUILD_ECOMPILE)
        publish_compiler(p, job, &r->diags, cwd);
    free(cwd);
    if (r->status != 0) {
        char *names = fn_list(job->fns, job->n_fns);
        char *message = r->status == BUILD_ECOMPILE
                            ? pipeline__fmt("cannot reload %s: the patch does not compile; the program keeps running the "
                                  "old code",
                                  names)
                            : pipeline__fmt("cannot reload %s: %s", names, build_strerror(r->status));
        if (r->status != BUILD_ECOMPILE)
            log_error("%s: %.*s", message ? message : "compile failed", (int)(r->output_len > 2000 ? 2000 : r->output_len),
                      r->output);
        for (size_t i = 0; i < job->n_fns; i++)
            state_record(st, job->path, job->fns[i], 0, r->status == BUILD_ECOMPILE ? "compileError" : "error",
                         r->status == BUILD_ECOMPILE ? "compile error" : build_strerror(r->status), 0);
        job->last = json_pack("{s:s, s:s, s:s, s:o, s:{s:I, s:I, s:I, s:I}}", "result",
                              r->status == BUILD_ECOMPILE ? "compileError" : "error", "message",
                              message ? message : "", "file", job->path, "functions", pipeline__fn_names(job), "timings",
                              "analysisUs", (json_int_t)job->analysis_us, "patchUs", (json_int_t)job->patch_us,
                              "compileUs", (json_int_t)job->compile_us, "totalUs",
                              (json_int_t)pipeline__elapsed_us(job->t0));
        json_object_set_new(job->last, "build", build_details(job));
        if (r->status != BUILD_ECOMPILE)
            pipeline__show(p, 1, message ? message : "compile failed");
        log_info("%s", message ? message : "compile failed");
        free(job->reason);
        job->reason = message;
        free(names);
        pipeline__job_free(job);
        return;
    }
    pipeline__job_check(job);
}

/* The patch compiled and held against the running program: sends it
 * (reading the library's bytes first for programs attached over TCP). */
void pipeline__job_deliver(struct job *job)
{
    struct pipeline *p = job->p;

    for (size_t t = 0; t < job->n_targets; t++) {
        struct program *pg = pipeline__program_get(p, job->targets[t].program);
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
        struct program *pg = pipeline__program_get(p, job->targets[t].program);
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
            pipeline__send_fail(p, s, job->targets[t].pid, "the program detached before the patch was ready");
        else if (pg->remote && !job->library_b64)
            pipeline__send_fail(p, s, pg->pid, "cannot read the patch library to send it over TCP");
        else
            pipeline__program_enqueue(p, pg, s);
    }
    if (--job->holds == 0 && job->answered == job->n_targets)
        job_finish(job);
}


/* ---------------------------------------------------------------- compiling */

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
    pipeline__compile_probe_run(&job->probe);
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
        pipeline__job_free(job);
        return;
    }
    if (job->write_errno) {
        job->reason = pipeline__fmt("cannot write %s: %s", job->c_path, strerror(job->write_errno));
        log_error("%s", job->reason);
        *job->c_path = '\0';
        pipeline__job_free(job);
        return;
    }
    job->patch_us = pipeline__elapsed_us(job->patch_t0);
    pipeline__compile_probe_apply(p, &job->probe);
    pipeline__compile_probe_release(&job->probe);
    /* Writes can end out of order: a newer save of the same file that
     * already started compiling cancels this one, as it would have had this
     * one started first. */
    newest = json_object_get(p->compile_serials, job->key);
    if (newest && json_integer_value(newest) > (json_int_t)job->serial) {
        free(job->reason);
        job->reason = strdup(build_strerror(BUILD_ECANCELED));
        pipeline__job_free(job);
        return;
    }
    json_object_set_new(p->compile_serials, job->key, json_integer((json_int_t)job->serial));
    job_compile(p, job);
}

/* Builds the patch source and has it written off the loop; on_prepared()
 * then starts the compiler. Takes `job` (freed on failure). `doc` (may be
 * NULL): the open document, whose tree is used when its text is the job's. */
void pipeline__job_start(struct pipeline *p, struct job *job, struct document *doc)
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
        char *message = pipeline__fmt("cannot build the patch for %s: %s", pipeline__base_name(job->path), job->patch.error);
        log_error("%s", message ? message : "patch failed");
        pipeline__show(p, 1, message ? message : "patch failed");
        job->last = json_pack("{s:s, s:s, s:s}", "result", "error", "message", message ? message : "", "file",
                              job->path);
        job->reason = message;
        pipeline__job_free(job);
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
    snprintf(job->c_path, sizeof job->c_path, "%s/p%u-%s", p->tmpdir, job->serial, pipeline__base_name(job->path));
    snprintf(job->so_path, sizeof job->so_path, "%s/p%u.so", p->tmpdir, job->serial);
    snprintf(job->pre_path, sizeof job->pre_path, "%s/p%u-pre-%s", p->tmpdir, job->serial, pipeline__base_name(job->path));
    job->pre = preamble_plan_new(p->pre, job->path, job->text, job->len, job->patch.source, job->patch.length,
                                 job->pre_path);
    {
        unsigned lines;
        size_t n = preamble_scan(job->text, job->len, &lines, NULL);
        job->pre_hash = preamble_hash(PREAMBLE_HASH_INIT, job->text, n);
    }
    if (pipeline__compile_probe_init(p, &job->probe, job->path) != 0) {
        job->reason = strdup("out of memory");
        *job->c_path = '\0';
        pipeline__job_free(job);
        return;
    }
    job->prepare.data = job;
    rc = uv_queue_work(p->loop, &job->prepare, prepare_work, on_prepared);
    log_trace("prepare.queued");
    if (rc != 0) {
        job->reason = pipeline__fmt("cannot write %s: %s", job->c_path, uv_strerror(rc));
        log_error("%s", job->reason);
        *job->c_path = '\0';
        pipeline__job_free(job);
    }
}

/* The key under which tcc's failure on a file is remembered: its preamble
 * and the tcc flags. */
static char *tcc_key(const struct job *job, char *const *tcc_argv)
{
    return pipeline__fmt("%016" PRIx64 "%016" PRIx64, job->pre_hash,
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
            job->fast_note = pipeline__fmt("tcc skipped: %s", why);
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
        pipeline__job_free(job);
        return;
    }
    if (job->progress) {
        server_send_request(p->server, "window/workDoneProgress/create", protocol_progress_create(job->progress));
        char *title = pipeline__fmt("hotc: compiling %s", pipeline__base_name(job->path));
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
    job->cc[0] = strdup(pipeline__base_name(argv[0]));
    job->cc[1] = fallback ? strdup(pipeline__base_name(fallback[0])) : NULL;
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
        pipeline__job_free(job);
    }
}
