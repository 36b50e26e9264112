/* The layout check's verdict in the pipeline (see pipeline_impl.h): each
 * compiled patch is held against the running program (lsp/layoutcheck.h);
 * the functions whose code reaches a difference, and those that call them,
 * are refused with a warning at their name, and the rest of the save is
 * compiled again without them. */
#include "pipeline_impl.h"

/* ---------------------------------------------------------------- layouts */

/* A program's executable was read for the layout check (or could not be). */
void pipeline__on_image_loaded(const char *build_id, int rc, const char *error, size_t units, uint64_t us,
                            void *user)
{
    struct pipeline *p = user;

    if (rc == 0) {
        log_info("layouts of build %.12s read: %zu compile units in %.1f ms", build_id, units, us / 1000.0);
        return;
    }
    log_warn("build %.12s: %s", build_id, error);
    if (p->layout_check) {
        char *message = pipeline__fmt("hotc: %s; reloads are refused until it is rebuilt with -g (or set hotc.layoutCheck "
                            "to \"off\" to reload without the check)",
                            error);
        pipeline__show(p, 2, message ? message : error);
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
            why = pipeline__fmt("%s; or set hotc.layoutCheck to \"off\" to reload without the check", error);
        } else if (calls && calls[i]) {
            why = pipeline__fmt("it calls %s(), which cannot be reloaded", calls[i]);
        } else if (issue && issue->message[0] == '`') {
            const char *decl = issue->file ? pipeline__base_name(issue->file) : NULL;
            why = decl && issue->line > 0
                      ? pipeline__fmt("%s (declared at %s:%d); the running program still has the old layout (data kept in a "
                            "state block, HOT_STATE, is migrated instead)",
                            issue->message, decl, issue->line)
                      : pipeline__fmt("%s; the running program still has the old layout (data kept in a state block, "
                            "HOT_STATE, is migrated instead)",
                            issue->message);
        } else {
            why = pipeline__fmt("%s", issue ? issue->message : "its layouts differ from the running program's");
        }
        message = pipeline__fmt("cannot reload %s(): %s; restart the program to apply", job->fns[i], why ? why : "");
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
        pipeline__show(p, 2, first ? first : "cannot reload: layouts changed");
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
                          first ? first : "", "file", job->path, "functions", pipeline__fn_names(job), "timings",
                          "analysisUs", (json_int_t)job->analysis_us, "patchUs", (json_int_t)job->patch_us,
                          "compileUs", (json_int_t)job->compile_us, "checkUs", (json_int_t)job->check_us,
                          "totalUs", (json_int_t)pipeline__elapsed_us(job->t0));
    free(job->reason);
    job->reason = first;
    pipeline__job_free(job);
}


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
        pipeline__job_free(next);
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
    pipeline__job_free(job);
    if (next->n_targets == 0) {
        pipeline__job_free(next);
        return true;
    }
    log_trace("job.retry");
    pipeline__job_start(p, next, doc);
    return true;
}

/* Whether `name` appears as a whole identifier in `text` (`len` bytes). */
bool pipeline__names(const char *text, size_t len, const char *name)
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
                    calls_k = pipeline__names(job->text + f->start_byte, f->end_byte - f->start_byte, job->fns[k]);
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

/* The function-local statics the program does not have (the layout
 * check's new_statics: symbol -> size) that start at zero: their entries
 * in the request ask the runtime to make them ("create"), zeroed, once;
 * later patches bind to the same storage. One with another initializer is
 * left to the runtime's refusal (its value is not known to it). */
static void give_new_statics(struct job *job, json_t *sizes)
{
    size_t i;
    json_t *o;

    json_array_foreach(job->statics, i, o) {
        const char *symbol = json_string_value(json_object_get(o, "symbol"));
        json_t *size = symbol ? json_object_get(sizes, symbol) : NULL;
        if (!size)
            continue;
        for (size_t k = 0; k < job->patch.static_count; k++)
            if (job->patch.statics[k].zero_init && strcmp(job->patch.statics[k].symbol, symbol) == 0) {
                json_object_set_new(o, "create", json_pack("{s:O}", "size", size));
                log_info("%s() static %s is new since the build: the program makes it, zeroed",
                         job->patch.statics[k].function ? job->patch.statics[k].function : "?",
                         job->patch.statics[k].name);
            }
    }
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
        pipeline__job_free(job);
        return;
    }
    if (r->rc != 0 && p->layout_check) {
        job_refuse_layout(job, r->error, NULL, NULL);
        return;
    }
    for (size_t i = 0; r->rc == 0 && i < r->report->count; i++)
        log_info("layout check of %s: %s%s%s", pipeline__base_name(job->path),
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
        log_warn("reloading %s without the layout check (hotc.layoutCheck is off): %s", pipeline__base_name(job->path),
                 r->error);
    else
        log_info("layout check of %s: %zu variables, functions and types agree with the running program (%.2f ms)",
                 pipeline__base_name(job->path), r->report->compared, job->check_us / 1000.0);
    pipeline__clear_layout(p, job->uri);
    if (r->rc == 0 && r->report->migrations)
        job->migrations = json_incref(r->report->migrations);
    if (r->rc == 0 && r->report->new_statics)
        give_new_statics(job, r->report->new_statics);
    pipeline__job_deliver(job);
}

void pipeline__set_expansion_notes(struct pipeline *p, const char *uri, const struct server_diagnostic *notes,
                                   size_t n)
{
    if (n == 0 && !json_object_get(p->expansion_uris, uri))
        return;
    /* `uri` may be the key itself (rebase_all): set before the delete frees it */
    server_set_diagnostics(p->server, uri, "expansion", notes, n);
    if (n > 0)
        json_object_set_new(p->expansion_uris, uri, json_true());
    else
        json_object_del(p->expansion_uris, uri);
}

void pipeline__clear_layout(struct pipeline *p, const char *uri)
{
    if (json_object_get(p->layout_uris, uri)) {
        /* `uri` may be the key itself (rebase_all): deleting frees it */
        server_set_diagnostics(p->server, uri, "layout", NULL, 0);
        json_object_del(p->layout_uris, uri);
    }
}

/* Holds the compiled patch against the running program's DWARF, off the
 * loop; on_job_checked() sends it or refuses it. Takes `job`. */
void pipeline__job_check(struct job *job)
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
        pipeline__job_free(job);
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
        struct program *pg = pipeline__program_get(p, job->targets[t].program);
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
