/* Implements lsp/docstore.h: a small array of documents (an editor has a
 * handful open), one parser shared by all on the loop.
 *
 * A tree-sitter tree takes about 40 times the size of its text, so only the
 * DOCSTORE_TREES documents edited last keep theirs (with the patch index
 * and the analysis cache built on it): the others keep their text and
 * analysis, and are parsed again from scratch at their next edit.
 *
 * Background updates: a job takes the document's tree (already told about
 * the edits), analysis cache and old patch index, and a copy of the text;
 * the worker parses with a parser of its own (trees and parsers are not
 * shared between threads: the tree moved, it is not copied), analyses and
 * indexes. Edits typed meanwhile are applied to the text at once and kept
 * in the job as TSInputEdits; when the job is back they are applied to its
 * tree and another job starts from the newer text. The loop never reads
 * what a job holds until the worker signalled it done. */
#include "docstore.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grammar.h"
#include "log.h"

#define DOCSTORE_TREES 4

struct docstore {
    struct document **docs;
    size_t n;
    uint64_t clock;              /* counts docstore_update calls, for doc->touched */
    TSParser *parser;
    char *marker;
    uv_loop_t *loop;             /* for background updates; NULL: every update on the caller's thread */
    size_t background_bytes;     /* documents this big or bigger are updated in the background */
    docstore_ready_fn ready;
    void *ready_data;
};

/* One background update of one document. */
struct docstore_job {
    uv_work_t work;
    struct docstore *store;
    struct document *doc;        /* NULL once the document closed or the job was settled */
    /* the worker's, until `done` */
    char *text;                  /* the text analysed (a copy) */
    size_t len;
    char *marker;
    TSTree *tree;                /* in: the document's tree told about the edits (or NULL); out: the new parse */
    struct analysis_cache *bodies;
    struct patch_index *old_index; /* freed on the worker */
    struct analysis *analysis;   /* out */
    struct patch_index *index;   /* out */
    uv_mutex_t lock;
    uv_cond_t cond;
    int done;                    /* under `lock` */
    /* the loop's */
    TSInputEdit *later;          /* edits made to the document since the copy, in order */
    size_t n_later, cap_later;
    int lost;                    /* an edit could not be kept: the job's tree is of no use */
    int settled;                 /* finished by a lookup (or detached): the completion only frees */
};

struct docstore *docstore_new(const char *marker)
{
    struct docstore *self = calloc(1, sizeof *self);

    if (!self)
        return NULL;
    self->parser = ts_parser_new();
    self->marker = strdup(marker && *marker ? marker : "HOT");
    if (!self->parser || !self->marker || !ts_parser_set_language(self->parser, grammar_language()))
        goto fail;
    return self;
fail:
    if (self->parser)
        ts_parser_delete(self->parser);
    free(self->marker);
    free(self);
    return NULL;
}

static void job_free(struct docstore_job *job);
static void job_detach(struct document *doc);

static void doc_free(struct document *doc)
{
    job_detach(doc);
    free(doc->uri);
    free(doc->path);
    free(doc->text);
    free(doc->lines);
    if (doc->tree)
        ts_tree_delete(doc->tree);
    analysis_free(doc->analysis);
    analysis_free(doc->running);
    analysis_cache_free(doc->bodies);
    patch_index_free(doc->patch_index);
    free(doc);
}

void docstore_free(struct docstore *self)
{
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++)
        doc_free(self->docs[i]);
    free(self->docs);
    ts_parser_delete(self->parser);
    free(self->marker);
    free(self);
}

const char *docstore_marker(const struct docstore *self)
{
    return self->marker;
}

static void index_lines(struct document *doc)
{
    size_t n = 1;

    for (size_t i = 0; i < doc->len; i++)
        n += doc->text[i] == '\n';
    free(doc->lines);
    doc->lines = malloc(n * sizeof *doc->lines);
    doc->n_lines = 0;
    doc->lines[doc->n_lines++] = 0;
    for (size_t i = 0; i < doc->len; i++)
        if (doc->text[i] == '\n')
            doc->lines[doc->n_lines++] = (uint32_t)(i + 1);
}

/* The line index after [start, end) was replaced by `n` bytes of `text`:
 * the lines starting before the edit stay, those whose newline it removed
 * go, its own newlines add lines, the rest move by the change in length.
 * Falls back to index_lines when out of memory. */
static void reindex_lines(struct document *doc, uint32_t start, uint32_t end, const char *text, size_t n)
{
    size_t keep = 0, tail, added = 0, lo = 0, hi = doc->n_lines, total;
    int64_t delta = (int64_t)n - (int64_t)(end - start);
    uint32_t *lines;

    /* keep: lines starting at or before `start`; tail: the first starting after `end` */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (doc->lines[mid] <= start)
            lo = mid + 1;
        else
            hi = mid;
    }
    keep = lo;
    for (tail = keep; tail < doc->n_lines && doc->lines[tail] <= end; tail++)
        ;
    for (size_t i = 0; i < n; i++)
        added += text[i] == '\n';
    total = keep + added + (doc->n_lines - tail);
    lines = total > doc->n_lines ? realloc(doc->lines, total * sizeof *lines) : doc->lines;
    if (!lines) {
        index_lines(doc);
        return;
    }
    memmove(lines + keep + added, lines + tail, (doc->n_lines - tail) * sizeof *lines);
    for (size_t i = keep + added; i < total; i++)
        lines[i] = (uint32_t)((int64_t)lines[i] + delta);
    for (size_t i = 0, k = keep; i < n; i++)
        if (text[i] == '\n')
            lines[k++] = start + (uint32_t)i + 1;
    doc->lines = lines;
    doc->n_lines = total;
}

static TSPoint point_at(const struct document *doc, uint32_t byte)
{
    size_t lo = 0, hi = doc->n_lines;
    TSPoint p;

    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (doc->lines[mid] <= byte)
            lo = mid;
        else
            hi = mid;
    }
    p.row = (uint32_t)lo;
    p.column = byte - doc->lines[lo];
    return p;
}

/* Frees the tree (and what is built on it) of the documents beyond the
 * DOCSTORE_TREES updated last. */
static void drop_cold_trees(struct docstore *self)
{
    for (;;) {
        size_t with_tree = 0;
        struct document *coldest = NULL;
        for (size_t i = 0; i < self->n; i++) {
            struct document *d = self->docs[i];
            if (!d->tree)
                continue;
            with_tree++;
            if (!coldest || d->touched < coldest->touched)
                coldest = d;
        }
        if (with_tree <= DOCSTORE_TREES || !coldest)
            return;
        ts_tree_delete(coldest->tree);
        coldest->tree = NULL;
        patch_index_free(coldest->patch_index);
        coldest->patch_index = NULL;
        analysis_cache_free(coldest->bodies);
        coldest->bodies = NULL;
    }
}

static void settle(struct docstore *self, struct document *doc, int notify);

void docstore_update(struct docstore *self, struct document *doc)
{
    TSTree *tree;

    if (doc->job)
        settle(self, doc, 0);
    tree = ts_parser_parse_string(self->parser, doc->tree, doc->text, (uint32_t)doc->len);

    if (doc->tree)
        ts_tree_delete(doc->tree);
    doc->tree = tree;
    doc->dirty = 0;
    index_lines(doc);
    analysis_free(doc->analysis);
    /* after an edit most function bodies are the same text as before: their
     * analysis is reused (the cost follows the edit) */
    if (!doc->bodies)
        doc->bodies = analysis_cache_new();
    /* one reading for both (grammar_reading: a second parse where
     * tree-sitter lost the top level) */
    TSTree *reading =
        doc->tree ? grammar_reading_cached(doc->text, doc->len, doc->tree, false, analysis_cache_readings(doc->bodies))
                  : NULL;
    doc->analysis = analysis_run_read(doc->text, doc->len, doc->tree, reading, self->marker, doc->bodies);
    /* here, after an edit, so that a save finds it ready (NULL when out of
     * memory: patch_build then indexes for itself) */
    patch_index_free(doc->patch_index);
    doc->patch_index = doc->tree ? patch_index_new_read(doc->text, doc->len, doc->tree, reading) : NULL;
    if (reading)
        ts_tree_delete(reading);
    doc->touched = ++self->clock;
    drop_cold_trees(self);
}

/* ---------------------------------------------------------------- background updates */

void docstore_set_background(struct docstore *self, uv_loop_t *loop, size_t min_bytes, docstore_ready_fn ready,
                             void *data)
{
    self->loop = loop;
    self->background_bytes = min_bytes;
    self->ready = ready;
    self->ready_data = data;
}

static void job_free(struct docstore_job *job)
{
    if (job->tree)
        ts_tree_delete(job->tree);
    analysis_cache_free(job->bodies);
    analysis_free(job->analysis);
    patch_index_free(job->index);
    patch_index_free(job->old_index);
    free(job->text);
    free(job->marker);
    free(job->later);
    uv_mutex_destroy(&job->lock);
    uv_cond_destroy(&job->cond);
    free(job);
}

/* The worker's part: parse, analyse, index (what docstore_update does on
 * the loop), then say so. Touches only the job. */
static void job_work(uv_work_t *w)
{
    struct docstore_job *job = w->data;
    TSParser *parser = ts_parser_new();
    TSTree *tree = NULL;

    patch_index_free(job->old_index);
    job->old_index = NULL;
    if (parser && ts_parser_set_language(parser, grammar_language()))
        tree = ts_parser_parse_string(parser, job->tree, job->text, (uint32_t)job->len);
    if (parser)
        ts_parser_delete(parser);
    if (job->tree)
        ts_tree_delete(job->tree);
    job->tree = tree;
    if (!job->bodies)
        job->bodies = analysis_cache_new();
    TSTree *reading =
        job->tree ? grammar_reading_cached(job->text, job->len, job->tree, false, analysis_cache_readings(job->bodies))
                  : NULL;
    job->analysis = analysis_run_read(job->text, job->len, job->tree, reading, job->marker, job->bodies);
    job->index = job->tree ? patch_index_new_read(job->text, job->len, job->tree, reading) : NULL;
    if (reading)
        ts_tree_delete(reading);
    uv_mutex_lock(&job->lock);
    job->done = 1;
    uv_cond_signal(&job->cond);
    uv_mutex_unlock(&job->lock);
}

/* An analysis to free on a worker: freeing the thousands of strings of a
 * large file's analysis is a good part of a keystroke's budget. */
struct garbage {
    uv_work_t work;
    struct analysis *analysis;
};

static void garbage_work(uv_work_t *w)
{
    struct garbage *g = w->data;

    analysis_free(g->analysis);
}

static void garbage_done(uv_work_t *w, int status)
{
    (void)status;
    free(w->data);
}

static void free_later(struct docstore *self, struct analysis *a)
{
    struct garbage *g = a && self->loop ? malloc(sizeof *g) : NULL;

    if (g) {
        g->analysis = a;
        g->work.data = g;
        if (uv_queue_work(self->loop, &g->work, garbage_work, garbage_done) == 0)
            return;
        free(g);
    }
    analysis_free(a);
}

/* Takes what the job made back into `doc`. Its tree is told about the
 * edits made since the copy; when there were none (and the analysis was
 * made), the analysis and index become the document's and it is up to
 * date: returns 1. Returns 0 when the text moved on (still dirty). */
static int job_take(struct docstore *self, struct document *doc, struct docstore_job *job)
{
    int current = job->n_later == 0 && !job->lost && job->analysis;

    doc->job = NULL;
    job->doc = NULL;
    job->settled = 1;
    analysis_cache_free(doc->bodies);
    doc->bodies = job->bodies;
    job->bodies = NULL;
    if (doc->tree)
        ts_tree_delete(doc->tree);
    doc->tree = job->lost ? NULL : job->tree;
    if (job->lost && job->tree)
        ts_tree_delete(job->tree);
    job->tree = NULL;
    for (size_t i = 0; doc->tree && i < job->n_later; i++)
        ts_tree_edit(doc->tree, &job->later[i]);
    if (!doc->running && job->analysis) {
        /* opened in the background: the baseline is the opened text's */
        doc->running = current ? analysis_copy(job->analysis) : job->analysis;
        if (!current)
            job->analysis = NULL;
    }
    if (!doc->running)
        doc->running = analysis_of_text(job->text, job->len, self->marker);
    if (!current)
        return 0;
    free_later(self, doc->analysis);
    doc->analysis = job->analysis;
    job->analysis = NULL;
    patch_index_free(doc->patch_index);
    doc->patch_index = job->index;
    job->index = NULL;
    doc->dirty = 0;
    doc->touched = ++self->clock;
    drop_cold_trees(self);
    return 1;
}

static void on_job_done(uv_work_t *w, int status);

/* Starts a background update of `doc` (dirty, no job). 0, or -1 when it
 * could not (nothing changed then). */
static int job_start(struct docstore *self, struct document *doc)
{
    struct docstore_job *job = calloc(1, sizeof *job);

    if (!job)
        return -1;
    job->text = malloc(doc->len + 1);
    job->marker = strdup(self->marker);
    if (!job->text || !job->marker || uv_mutex_init(&job->lock) != 0) {
        free(job->text);
        free(job->marker);
        free(job);
        return -1;
    }
    if (uv_cond_init(&job->cond) != 0) {
        uv_mutex_destroy(&job->lock);
        free(job->text);
        free(job->marker);
        free(job);
        return -1;
    }
    memcpy(job->text, doc->text, doc->len + 1);
    job->len = doc->len;
    job->store = self;
    job->doc = doc;
    job->work.data = job;
    job->tree = doc->tree;
    job->bodies = doc->bodies;
    job->old_index = doc->patch_index;
    if (uv_queue_work(self->loop, &job->work, job_work, on_job_done) != 0) {
        job->tree = NULL;
        job->bodies = NULL;
        job->old_index = NULL;
        job_free(job);
        return -1;
    }
    doc->tree = NULL;
    doc->bodies = NULL;
    doc->patch_index = NULL;
    doc->job = job;
    return 0;
}

/* The calling thread's CPU time in ms. */
static double thread_cpu_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void on_job_done(uv_work_t *w, int status)
{
    struct docstore_job *job = w->data;
    struct document *doc = job->doc;
    struct docstore *self;
    uint64_t t0 = uv_hrtime();
    double cpu0 = thread_cpu_ms();

    (void)status;
    if (job->settled || !doc) {
        job_free(job);
        return;
    }
    self = job->store; /* alive: freeing the store detaches its documents' jobs */
    if (job_take(self, doc, job)) {
        job_free(job);
        if (self->ready)
            self->ready(self->ready_data, doc);
        /* `make bench`'s keystroke table reads this */
        if (log_trace_enabled())
            log_debug("loop: analysis of %s version %d ready from the worker: loop time %.3f ms (cpu %.3f ms)",
                      doc->uri, doc->version, (double)(uv_hrtime() - t0) / 1e6, thread_cpu_ms() - cpu0);
        return;
    }
    job_free(job);
    /* edited while it ran: once more from the newer text */
    if (job_start(self, doc) != 0) {
        docstore_update(self, doc);
        if (self->ready)
            self->ready(self->ready_data, doc);
    }
}

/* Finishes `doc`'s job now: runs its work here when no worker took it yet,
 * or waits for the worker. Then the document is up to date, `ready` called
 * when `notify`; without `notify`, a document edited meanwhile is left
 * dirty for the caller's docstore_update. */
static void settle(struct docstore *self, struct document *doc, int notify)
{
    struct docstore_job *job = doc->job;
    uint64_t t0 = uv_hrtime();
    double cpu0 = thread_cpu_ms();

    if (!job)
        return;
    if (uv_cancel((uv_req_t *)&job->work) == 0) {
        job_work(&job->work); /* its completion comes with UV_ECANCELED and frees it */
    } else {
        uv_mutex_lock(&job->lock);
        while (!job->done)
            uv_cond_wait(&job->cond, &job->lock);
        uv_mutex_unlock(&job->lock);
    }
    if (job_take(self, doc, job)) {
        if (notify && self->ready)
            self->ready(self->ready_data, doc);
    } else if (notify) {
        docstore_update(self, doc);
        if (self->ready)
            self->ready(self->ready_data, doc);
    }
    if (log_trace_enabled())
        log_debug("loop: analysis of %s version %d ready %s: loop time %.3f ms (cpu %.3f ms)", doc->uri,
                  doc->version, notify ? "for a reader, waited for" : "to update it again, waited for",
                  (double)(uv_hrtime() - t0) / 1e6, thread_cpu_ms() - cpu0);
}

/* A closed document's job runs to its end and frees itself. */
static void job_detach(struct document *doc)
{
    if (doc->job) {
        doc->job->doc = NULL;
        doc->job = NULL;
    }
}

int docstore_update_later(struct docstore *self, struct document *doc)
{
    if (doc->job)
        return 0; /* its edits are kept: the next run follows this one */
    if (!self->loop || doc->len < self->background_bytes || !doc->dirty || job_start(self, doc) != 0) {
        docstore_update(self, doc);
        return 1;
    }
    return 0;
}

int docstore_busy(const struct docstore *self)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->docs[i]->job)
            return 1;
    return 0;
}

struct document *docstore_peek(struct docstore *self, const char *uri)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->docs[i]->uri, uri) == 0)
            return self->docs[i];
    return NULL;
}

/* `doc` (may be NULL) settled, for the lookups. */
static struct document *settled(struct docstore *self, struct document *doc)
{
    if (doc && doc->job)
        settle(self, doc, 1);
    return doc;
}

struct document *docstore_get(struct docstore *self, const char *uri)
{
    return settled(self, docstore_peek(self, uri));
}

struct document *docstore_peek_path(struct docstore *self, const char *path)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->docs[i]->path && strcmp(self->docs[i]->path, path) == 0)
            return self->docs[i];
    return NULL;
}

struct document *docstore_find_path(struct docstore *self, const char *path)
{
    return settled(self, docstore_peek_path(self, path));
}

struct document *docstore_at(struct docstore *self, size_t i)
{
    return i < self->n ? settled(self, self->docs[i]) : NULL;
}

struct document *docstore_peek_at(struct docstore *self, size_t i)
{
    return i < self->n ? self->docs[i] : NULL;
}

struct document *docstore_open(struct docstore *self, const char *uri, const char *path, const char *text,
                               size_t len, int version)
{
    struct document *doc;

    docstore_close(self, uri);
    doc = calloc(1, sizeof *doc);
    if (!doc)
        return NULL;
    doc->uri = strdup(uri);
    doc->path = path ? strdup(path) : NULL;
    doc->text = malloc(len + 1);
    if (!doc->uri || !doc->text) {
        doc_free(doc);
        return NULL;
    }
    memcpy(doc->text, text, len);
    doc->text[len] = '\0';
    doc->len = len;
    doc->version = version;
    self->docs = realloc(self->docs, (self->n + 1) * sizeof *self->docs);
    self->docs[self->n++] = doc;
    /* a large file is parsed on a worker (a full parse of 20,000 lines
     * takes 100-200 ms): until then its analysis is empty and it has no
     * baseline, which the job's analysis becomes (every lookup settles it) */
    if (self->loop && len >= self->background_bytes && (doc->analysis = calloc(1, sizeof *doc->analysis))) {
        doc->dirty = 1;
        index_lines(doc);
        if (job_start(self, doc) == 0)
            return doc;
        analysis_free(doc->analysis);
        doc->analysis = NULL;
    }
    docstore_update(self, doc);
    doc->running = doc->analysis ? analysis_copy(doc->analysis) : NULL;
    if (!doc->running)
        doc->running = analysis_of_text(doc->text, doc->len, self->marker);
    return doc;
}

/* An edit made while `job` runs, for its tree when it is back. */
static void keep_edit(struct docstore_job *job, const TSInputEdit *edit)
{
    if (job->n_later == job->cap_later) {
        size_t cap = job->cap_later ? 2 * job->cap_later : 16;
        TSInputEdit *v = realloc(job->later, cap * sizeof *v);
        if (!v) {
            job->lost = 1;
            return;
        }
        job->later = v;
        job->cap_later = cap;
    }
    job->later[job->n_later++] = *edit;
}

void docstore_edit(struct docstore *self, struct document *doc, const struct text_edit *e)
{
    uint32_t start = e->start < doc->len ? e->start : (uint32_t)doc->len;
    uint32_t end = e->end < doc->len ? e->end : (uint32_t)doc->len;
    size_t new_len;
    char *text;
    TSInputEdit edit;

    (void)self;
    if (end < start)
        end = start;
    new_len = doc->len - (end - start) + e->new_len;
    text = malloc(new_len + 1);
    if (!text)
        return;
    memcpy(text, doc->text, start);
    memcpy(text + start, e->new_text, e->new_len);
    memcpy(text + start + e->new_len, doc->text + end, doc->len - end);
    text[new_len] = '\0';

    edit.start_byte = start;
    edit.old_end_byte = end;
    edit.new_end_byte = start + (uint32_t)e->new_len;
    edit.start_point = point_at(doc, start);
    edit.old_end_point = point_at(doc, end);
    free(doc->text);
    doc->text = text;
    doc->len = new_len;
    doc->dirty = 1;
    reindex_lines(doc, start, end, e->new_text, e->new_len);
    edit.new_end_point = point_at(doc, edit.new_end_byte);
    if (doc->job)
        keep_edit(doc->job, &edit);
    else if (doc->tree)
        ts_tree_edit(doc->tree, &edit);
}

/* A whole new text is usually the old one with one region changed (an
 * editor syncing full texts, a save with its text): as one edit of the
 * region between the common prefix and suffix, the tree is reparsed
 * incrementally, not from scratch. */
void docstore_replace(struct docstore *self, struct document *doc, const char *text, size_t len)
{
    size_t max = len < doc->len ? len : doc->len, pre = 0, suf = 0;
    char *copy;

    if ((doc->tree || doc->job) && doc->len <= UINT32_MAX && len <= UINT32_MAX) {
        struct text_edit e;

        while (pre < max && doc->text[pre] == text[pre])
            pre++;
        while (suf < max - pre && doc->text[doc->len - 1 - suf] == text[len - 1 - suf])
            suf++;
        e.start = (uint32_t)pre;
        e.end = (uint32_t)(doc->len - suf);
        e.new_text = text + pre;
        e.new_len = len - pre - suf;
        docstore_edit(self, doc, &e);
        return;
    }
    copy = malloc(len + 1);
    if (!copy)
        return;
    memcpy(copy, text, len);
    copy[len] = '\0';
    free(doc->text);
    doc->text = copy;
    doc->len = len;
    doc->dirty = 1;
    if (doc->tree)
        ts_tree_delete(doc->tree);
    doc->tree = NULL;
    if (doc->job)
        doc->job->lost = 1;
    index_lines(doc);
}

void docstore_set_running(struct docstore *self, struct document *doc, const char *text, size_t len)
{
    /* The saved text is usually the document's, already analysed (and
     * not edited since): a copy of that analysis is what analysing it again
     * would give, for a fraction of the time (a fresh parse and analysis of
     * a large file take tens of ms, the loop's time after every reload). */
    const char *t;
    size_t n;
    int current;
    struct analysis *a;

    settled(self, doc);
    t = text ? text : doc->text;
    n = text ? len : doc->len;
    current = n == doc->len && !memcmp(t, doc->text, n) && !doc->dirty && doc->analysis;
    a = current ? analysis_copy(doc->analysis) : NULL;

    if (!a && current && doc->tree)
        a = analysis_run(doc->text, doc->len, doc->tree, self->marker);
    else if (!a)
        a = analysis_of_text(t, n, self->marker);

    if (!a)
        return;
    analysis_free(doc->running);
    doc->running = a;
}

void docstore_set_marker(struct docstore *self, const char *marker)
{
    char *m = strdup(marker && *marker ? marker : "HOT");

    if (!m)
        return;
    free(self->marker);
    self->marker = m;
    for (size_t i = 0; i < self->n; i++) {
        struct document *doc = self->docs[i];
        docstore_update(self, doc);
        docstore_set_running(self, doc, NULL, 0);
    }
}

void docstore_close(struct docstore *self, const char *uri)
{
    for (size_t i = 0; i < self->n; i++) {
        if (strcmp(self->docs[i]->uri, uri) == 0) {
            doc_free(self->docs[i]);
            memmove(self->docs + i, self->docs + i + 1, (self->n - i - 1) * sizeof *self->docs);
            self->n--;
            return;
        }
    }
}
