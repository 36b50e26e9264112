/* What a save changed, as the compiler sees it (see pipeline_impl.h): each
 * translation unit preprocessed with its own flags off the loop, its
 * functions' expansions compared with what the program runs, header saves
 * followed through the include graph, and the jobs started for the HOT
 * functions that changed. */
#include "pipeline_impl.h"

/* ---------------------------------------------------------------- what the compiler sees */

/* A translation unit preprocessed with its own flags (lsp/expand.h says
 * why): SCAN_BASE records what the program runs (an open file's baseline
 * text, or a file of compile_commands.json as it is on disk); SCAN_SAVE
 * decides what a save changed and starts its reload. The steps: the text
 * is written (or the file read) off the loop, the preprocessor runs like
 * the compiler (build_run), its output is read and cut into functions off
 * the loop, and the loop compares. */


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
    for (struct scan **q = &s->p->scans; *q; q = &(*q)->live_next)
        if (*q == s) {
            *q = s->live_next;
            break;
        }
    if (s->batch)
        pipeline__batch_release(s->batch);
    free(s->uri);
    free(s->path);
    free(s->marker);
    free(s->cwd);
    json_decref(s->text_json);
    free(s->disk_text);
    pipeline__compile_probe_release(&s->probe);
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
    } else if (!(s->disk_text = pipeline__slurp(s->path, &s->disk_len))) {
        s->err = errno ? errno : EIO;
        return;
    }
    pipeline__compile_probe_run(&s->probe);
}

/* On a worker: the preprocessed output into functions; the includes made
 * absolute (relative to the compile's directory) and canonical. Removes the
 * scan's temporary files. */
static void scan_read_work(uv_work_t *req)
{
    struct scan *s = req->data;
    size_t pp_len = 0, len;
    char *pp = pipeline__slurp(s->out_i, &pp_len);
    const char *text = scan_text(s, &len);

    if (pp && text && (s->analysis || (s->analysis = analysis_of_text(text, len, s->marker)) != NULL) &&
        expand_read(&s->ex, pp, pp_len, s->analysis, text, len, s->path, s->copy ? s->in_c : NULL) == 0) {
        s->expanded = true;
        for (size_t i = 0; i < s->ex.n_includes; i++) {
            char *joined = s->ex.includes[i][0] == '/' || !s->cwd ? NULL : pipeline__fmt("%s/%s", s->cwd, s->ex.includes[i]);
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
    else if (s->expanded) {
        /* the preprocessor read the file after s->disk_text was read:
         * the same text, or the expansion is of a text not known here */
        size_t now_len = 0;
        char *now = pipeline__slurp(s->path, &now_len);
        s->disk_changed = !now || now_len != s->disk_len || memcmp(now, s->disk_text, now_len) != 0;
        free(now);
    }
}

/* On a worker, when the preprocessor failed: removes the scan's files. */
static void scan_cleanup_work(uv_work_t *req)
{
    struct scan *s = req->data;

    unlink(s->out_i);
    if (s->copy)
        unlink(s->in_c);
}

/* Whether a baseline scan no longer describes what the program runs: the
 * file's baseline text is not the text the scan preprocessed (a save became
 * the baseline while it ran), or the file on disk changed while it was
 * preprocessed (the editor wrote a save there). Recording it would make
 * that save look like "nothing changed". */
static bool base_scan_outdated(struct pipeline *p, const struct scan *s)
{
    struct document *doc = docstore_peek_path(server_docs(p->server), s->path); /* its uri only */
    json_t *base = json_object_get(p->bases, doc ? doc->uri : s->uri);
    size_t len;
    const char *text = scan_text(s, &len);

    if (s->disk_changed)
        return true;
    if (!base || !text)
        return false;
    return json_string_length(base) != len || memcmp(json_string_value(base), text, len) != 0;
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
        if (base_scan_outdated(p, s)) {
            log_debug("the baseline of %s changed while it was preprocessed; preprocessing it again", s->path);
        } else if (unit && !json_object_get(p->units, s->path))
            json_object_set(p->units, s->path, unit);
        else if (!unit && !s->cancelled)
            json_object_set_new(p->units_failed, s->path, json_true());
        p->scanning_base = false;
        server_trim_soon(p->server); /* the expansion and its parse were freed */
        pipeline__scan_next_base(p);
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
    pipeline__compile_probe_apply(p, &s->probe);
    if (s->err) {
        log_debug("cannot preprocess %s: %s", s->path, strerror(s->err));
        on_scanned(&(struct build_result){ .status = BUILD_EIO }, s);
        return;
    }
    entry = p->db ? build_db_lookup(p->db, s->path) : NULL;
    opts.compiler = p->compiler;
    opts.flags = (const char *const *)p->flags;
    argv = build_preprocess_argv(entry, &opts, s->path, s->in_c, s->out_i, &s->cwd);
    key = pipeline__fmt("%s#%s", s->kind == SCAN_BASE ? "base" : "save", s->path);
    rc = argv && key ? build_run(&p->runner, key, argv, NULL, s->cwd, p->timeout_ms, on_scanned, s) : BUILD_ENOMEM;
    build_argv_free(argv);
    free(key);
    if (rc != 0)
        on_scanned(&(struct build_result){ .status = rc }, s);
}

/* Starts a scan of `path` (`uri` may be NULL: made from the path) with
 * `text` (stolen; NULL: the file on disk). `analysis` (may be NULL) is the
 * open document's of that same text: copied, it spares the worker a parse
 * (a second of a 30,000-line file whose top level tree-sitter misreads).
 * A SCAN_SAVE holds `batch` until its reload has started. */
static void scan_start(struct pipeline *p, enum scan_kind kind, struct batch *batch, const char *uri,
                       const char *path, json_t *text, const struct analysis *analysis, uint64_t t0)
{
    struct scan *s = calloc(1, sizeof *s);

    if (!s) {
        json_decref(text);
        return;
    }
    s->p = p;
    s->live_next = p->scans;
    p->scans = s;
    s->kind = kind;
    s->serial = ++p->next_serial;
    s->t0 = t0;
    s->started = uv_hrtime();
    s->uri = uri ? strdup(uri) : protocol_path_to_uri(path);
    s->path = strdup(path);
    s->marker = strdup(docstore_marker(server_docs(p->server)));
    s->text_json = text;
    s->copy = text != NULL;
    s->analysis = text && analysis ? analysis_copy(analysis) : NULL;
    if (batch) {
        s->batch = batch;
        batch->holds++;
    }
    snprintf(s->out_i, sizeof s->out_i, "%s/e%u.i", p->tmpdir, s->serial);
    snprintf(s->in_c, sizeof s->in_c, "%s", path);
    if (s->copy)
        snprintf(s->in_c, sizeof s->in_c, "%s/e%u-%s", p->tmpdir, s->serial, pipeline__base_name(path));
    if (kind == SCAN_BASE)
        p->scanning_base = true;
    s->work.data = s;
    if (!s->uri || !s->path || !s->marker || pipeline__compile_probe_init(p, &s->probe, path) != 0 ||
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
void pipeline__scan_next_base(struct pipeline *p)
{
    struct document *doc;
    const struct build_command *entry;

    if (p->scanning_base || p->closing || !p->server || !*p->tmpdir)
        return;
    /* the texts only: a document still analysed on a worker is not waited for */
    for (size_t i = 0; (doc = docstore_peek_at(server_docs(p->server), i)) != NULL; i++) {
        json_t *base = json_object_get(p->bases, doc->uri);
        if (!doc->path || pipeline__is_header(doc->path) || json_object_get(p->units, doc->path) ||
            json_object_get(p->units_failed, doc->path))
            continue;
        scan_start(p, SCAN_BASE, NULL, doc->uri, doc->path,
                   base ? json_incref(base) : json_stringn_nocheck(doc->text, doc->len), NULL, uv_hrtime());
        return;
    }
    for (size_t i = 0; (entry = build_db_at(p->db, i)) != NULL; i++) {
        if (json_object_get(p->units, entry->file) || json_object_get(p->units_failed, entry->file) ||
            pipeline__is_header(entry->file))
            continue;
        scan_start(p, SCAN_BASE, NULL, NULL, entry->file, NULL, NULL, uv_hrtime());
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
void pipeline__unit_applied(struct pipeline *p, struct job *job)
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
void pipeline__unit_rebase(struct pipeline *p, const char *path, json_t *expansion)
{
    if (!path || pipeline__is_header(path))
        return;
    json_object_del(p->units_failed, path);
    if (expansion) {
        json_object_set(p->units, path, expansion);
        return;
    }
    json_object_del(p->units, path);
    pipeline__scan_next_base(p);
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

/* Whether an attached program has one of the HOT functions of `src`
 * (static ones by file, others by name): the file is part of it. */
static bool runs_some_of(struct pipeline *p, const struct source *src)
{
    for (size_t i = 0; i < src->analysis->n_functions; i++) {
        const struct analysis_function *f = &src->analysis->functions[i];
        if (f->hot && pipeline__any_program_has(p, src->path, f->name))
            return true;
    }
    return false;
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
    return f && f->end_byte <= src->len && pipeline__names(src->text + f->start_byte, f->end_byte - f->start_byte, target);
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
    size_t n = 0, n_programs = pipeline__program_count(p), started = 0;
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
        char *key = pipeline__hash_key(src->path, f->name);
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
        if (!pipeline__any_program_has(p, src->path, f->name)) {
            /* HOT in the text, not in the running program (marked or
             * written since it was built): it has no entry to redirect, and
             * the text is not what the program runs (only said of a file
             * the program has HOT functions of: a file of another program
             * of the workspace is not this one's) */
            if (changed && runs_some_of(p, src)) {
                bool is_new = expansion ? !json_object_get(json_object_get(unit, "fns"), f->name)
                                        : ch && ch->kind == ANALYSIS_ADDED;
                const char *marker = docstore_marker(server_docs(p->server));
                full = false;
                json_array_append_new(notes, json_sprintf("%s() is not %s in the running program (%s since it was "
                                                          "built); restart to reload it live",
                                                          f->name, marker, is_new ? "written" : "marked"));
            }
            continue;
        }
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
     * helper of a function that is reloaded. One whose text is what the
     * program runs changed through a macro or a header: the editor's own
     * analysis sees nothing there, so it gets a note of its own. */
    const char *marker = docstore_marker(server_docs(p->server));
    struct server_diagnostic *quiet = calloc(src->analysis->n_functions + 1, sizeof *quiet);
    size_t n_quiet = 0;
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
        if (n_programs == 0)
            continue;
        json_array_append_new(notes, f->is_static ? json_sprintf("%s() is static and no %s function that calls it "
                                                                 "changed; mark a caller %s or restart to apply",
                                                                 f->name, marker, marker)
                                                  : json_sprintf("%s() is not %s; mark it %s to reload it live",
                                                                 f->name, marker, marker));
        const struct analysis_function *was = src->running ? analysis_find_function(src->running, f->name) : NULL;
        if (quiet && mode == RELOAD_CHANGED && was && was->body_hash == f->body_hash) {
            quiet[n_quiet].range = f->name_range;
            quiet[n_quiet].severity = 3;
            quiet[n_quiet].code = "not-hot";
            quiet[n_quiet].message =
                f->is_static ? pipeline__fmt("%s() is static and not %s, and what it compiles to changed (a macro or "
                                             "header it uses): no %s function that calls it changed, so the running "
                                             "program keeps its old code; mark a caller %s or restart to apply",
                                             f->name, marker, marker, marker)
                             : pipeline__fmt("%s() is not %s, and what it compiles to changed (a macro or header it "
                                             "uses): the running program keeps its old code; mark it %s to reload "
                                             "it live, or restart to apply",
                                             f->name, marker, marker);
            if (quiet[n_quiet].message)
                n_quiet++;
        }
    }
    if (expansion && mode == RELOAD_CHANGED)
        pipeline__set_expansion_notes(p, src->uri, quiet, n_quiet);
    for (size_t i = 0; i < n_quiet; i++)
        free((char *)quiet[i].message);
    free(quiet);
    json_decref(reached);
    analysis_diff_free(diff);
    log_trace("diff");
    if ((n_programs == 0 && mode == RELOAD_CHANGED) || (n == 0 && mode == RELOAD_CHANGED && full)) {
        /* nothing runs it (the next program is built from this text), or
         * nothing in it needs pushing */
        pipeline__set_base(p, src->uri, src->path, src->text, src->len);
        json_object_set_new(p->base_serials, src->uri, json_integer((json_int_t)++p->next_serial));
        pipeline__unit_rebase(p, src->path, expansion);
    }
    if (n == 0 && mode == RELOAD_CHANGED) {
        /* no HOT function of it differs from what the program runs (a
         * refused change was put back, as a header often is): neither its
         * compile errors nor its layout refusals hold any more */
        clear_compiler(p, src->path);
        pipeline__clear_layout(p, src->uri);
    }
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
        message = full ? pipeline__fmt("nothing to reload: no %s function of %s changed as the compiler sees it",
                             docstore_marker(server_docs(p->server)), pipeline__base_name(src->path))
                       : pipeline__fmt("not applied: %s", list ? list : "");
        json_array_append_new(batch->lasts, json_pack("{s:s, s:s, s:s, s:[]}", "result",
                                                      full ? "nothing" : "notApplied", "message",
                                                      message ? message : "", "file", src->path, "functions"));
        /* a header save reaches many files: one message for the batch, the
         * rest in the status, the diagnostics and the log */
        if (!full && batch->not_applied++ == 0)
            pipeline__show(p, 3, message ? message : "not applied");
        else if (!full)
            log_info("%s", message ? message : "not applied");
        free(message);
        free(list);
    }
    json_decref(notes);
    if (n == 0) {
        pipeline__free_strv(fns, n);
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
        job->key = pipeline__fmt("%s#%s", src->path, bid);
        job->text_json = json_stringn_nocheck(src->text, src->len);
        if (job->text_json) {
            job->text = json_string_value(job->text_json);
            job->len = src->len;
        }
        job->full = full;
        job->expansion = json_incref(expansion);
        job->t0 = t0;
        job->analysis_us = pipeline__elapsed_us(t);
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
            pipeline__job_free(job);
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
                json_t *f = pipeline__program_function(pg, src->path, fns[i]);
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
            pipeline__job_free(job);
            continue;
        }
        if (server_client(p->server)->work_done_progress)
            job->progress = pipeline__fmt("hotc-compile-%u", job->serial);
        if (req && started == 0) {
            job->req = req;
            req = NULL;
        }
        started++;
        log_trace("job.new");
        pipeline__job_start(p, job, src->doc);
    }
    pipeline__free_strv(fns, n);
    free(hashes);
    json_decref(build_ids);
    if (req)
        server_reply_error(p->server, req, -32803, "nothing to reload");
    return (int)started;
}

/* reload_source of an open document, decided by tree-sitter. */
int pipeline__reload_document(struct pipeline *p, struct batch *batch, struct document *doc, enum reload_mode mode,
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
                       doc ? json_stringn_nocheck(doc->text, doc->len) : NULL,
                       doc && !doc->dirty && !doc->job ? doc->analysis : NULL, t0);
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

    snprintf(needle, sizeof needle, "%s\"", pipeline__base_name(header->path));
    for (size_t i = 0; (doc = docstore_at(server_docs(p->server), i)) != NULL; i++) {
        if (doc == header || !doc->path || pipeline__is_header(doc->path) || !strstr(doc->text, needle))
            continue;
        if (pipeline__program_count(p) > 0 && !json_object_get(handled, doc->path)) {
            pipeline__reload_document(p, batch, doc, RELOAD_ALL, t0, NULL, NULL);
            json_object_set_new(handled, doc->path, json_true());
        }
    }
    if (json_object_size(handled) == 0 && pipeline__program_count(p) > 0)
        json_array_append_new(batch->lasts,
                              json_pack("{s:s, s:s++, s:s, s:[]}", "result", "nothing", "message",
                                        "nothing to reload: no file of compile_commands.json includes ",
                                        pipeline__base_name(header->path), "file", header->path, "functions"));
    json_decref(handled);
    if (!layout || pipeline__program_count(p) == 0)
        pipeline__set_base(p, header->uri, header->path, header->text, header->len);
    analysis_diff_free(diff);
}

/* The translation unit of compile_commands.json whose include graph has
 * `path`, a .c file that compile_commands.json does not compile itself (a
 * unity build: main.c has `#include "game.c"`), or NULL. Borrowed. */
static const char *includer_of_source(struct pipeline *p, const char *path)
{
    const char *unit_path, *found = NULL;
    json_t *unit, *inc;
    size_t i;

    if (!p->db || build_db_lookup(p->db, path))
        return NULL;
    /* the includes were made canonical on the scan's worker; the
     * document's path is compared as the editor gives it (no realpath on
     * the loop) */
    json_object_foreach(p->units, unit_path, unit) {
        if (strcmp(unit_path, path) == 0 || !build_db_lookup(p->db, unit_path))
            continue;
        json_array_foreach(json_object_get(unit, "includes"), i, inc)
            if (strcmp(json_string_value(inc), path) == 0)
                found = unit_path;
        if (found)
            break;
    }
    return found;
}

/* A .c file another one includes was saved: like a header, it reloads the
 * HOT functions of the files that include it whose code it changes. Its
 * own HOT functions are part of the includer's translation unit, which
 * the patch builder does not assemble from two files: they are not
 * reloaded, and the status says so (not a compile error of the file built
 * alone without the includer's context), and the baseline stays. */
static void included_source_saved(struct pipeline *p, struct batch *batch, struct document *doc,
                                  const char *includer, uint64_t t0)
{
    int others = 0;
    struct analysis_diff *diff = analysis_diff_hot(doc->running, doc->analysis, &others);
    json_t *handled = headers_includers(p, batch, doc, t0), *fns = json_array();
    char *names = NULL, *message;
    size_t size = 0, n = 0;
    FILE *out = open_memstream(&names, &size);

    for (size_t i = 0; diff && i < diff->n_changes; i++)
        if (diff->changes[i].hot && diff->changes[i].kind != ANALYSIS_REMOVED) {
            if (out)
                fprintf(out, "%s%s()", n++ ? ", " : "", diff->changes[i].name);
            json_array_append_new(fns, json_string(diff->changes[i].name));
        }
    if (out)
        fclose(out);
    if (n > 0 && pipeline__program_count(p) > 0) {
        message = pipeline__fmt("not applied: %s %s in %s, which %s includes (one translation unit); the "
                                "functions of a .c file that another one includes are not reloaded live: restart "
                                "to apply, or give %s its own entry in compile_commands.json",
                                names ? names : "", n > 1 ? "are" : "is", pipeline__base_name(doc->path),
                                pipeline__base_name(includer), pipeline__base_name(doc->path));
        json_array_append_new(batch->lasts, json_pack("{s:s, s:s, s:s, s:O}", "result", "notApplied", "message",
                                                      message ? message : "not applied", "file", doc->path,
                                                      "functions", fns));
        if (batch->not_applied++ == 0)
            pipeline__show(p, 3, message ? message : "not applied");
        free(message);
    } else if (n == 0 && !(diff && diff->n_types > 0)) {
        pipeline__set_base(p, doc->uri, doc->path, doc->text, doc->len);
    }
    free(names);
    json_decref(fns);
    json_decref(handled);
    analysis_diff_free(diff);
}

void pipeline__on_batch(uv_timer_t *timer)
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
        if (doc && doc->path && !pipeline__is_header(doc->path) && !json_object_get(p->units, doc->path) &&
            !json_object_get(p->units_failed, doc->path) &&
            uv_hrtime() - (uint64_t)json_integer_value(when) < BASE_WAIT_NS) {
            /* what the program runs of this file is being preprocessed: the
             * batch is decided when it is known */
            pipeline__scan_next_base(p);
            uv_timer_start(&p->batch, pipeline__on_batch, 20, 0);
            return;
        }
    }
    p->pending = json_object();
    json_object_foreach(pending, uri, when)
        if ((uint64_t)json_integer_value(when) < first)
            first = (uint64_t)json_integer_value(when);
    batch = pipeline__batch_new(p, first);
    json_object_foreach(pending, uri, when) {
        struct document *doc = docstore_get(server_docs(p->server), uri);
        uint64_t t0 = (uint64_t)json_integer_value(when);
        if (!doc || !doc->path)
            continue;
        const char *includer;
        if (pipeline__is_header(doc->path)) {
            header_saved(p, batch, doc, t0);
        } else if ((includer = includer_of_source(p, doc->path)) != NULL) {
            included_source_saved(p, batch, doc, includer, t0);
        } else if (json_object_get(p->units, doc->path)) {
            scan_start(p, SCAN_SAVE, batch, doc->uri, doc->path, json_stringn_nocheck(doc->text, doc->len),
                       !doc->dirty && !doc->job ? doc->analysis : NULL, t0);
        } else {
            pipeline__reload_document(p, batch, doc, RELOAD_CHANGED, t0, NULL, NULL);
        }
    }
    json_decref(pending);
    pipeline__batch_release(batch);
}

void pipeline__scans_free(struct pipeline *p)
{
    while (p->scans)
        scan_free(p->scans);
}
