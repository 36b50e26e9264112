/* Implements lsp/docstore.h: a small array of documents (an editor has a
 * handful open), one parser shared by all.
 *
 * A tree-sitter tree takes about 40 times the size of its text, so only the
 * DOCSTORE_TREES documents edited last keep theirs (with the patch index
 * and the analysis cache built on it): the others keep their text and
 * analysis, and are parsed again from scratch at their next edit. */
#include "docstore.h"

#include <stdlib.h>
#include <string.h>

#include "grammar.h"

#define DOCSTORE_TREES 4

struct docstore {
    struct document **docs;
    size_t n;
    uint64_t clock;              /* counts docstore_update calls, for doc->touched */
    TSParser *parser;
    char *marker;
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

static void doc_free(struct document *doc)
{
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

void docstore_update(struct docstore *self, struct document *doc)
{
    TSTree *tree = ts_parser_parse_string(self->parser, doc->tree, doc->text, (uint32_t)doc->len);

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
    doc->analysis = analysis_run_cached(doc->text, doc->len, doc->tree, self->marker, doc->bodies);
    /* here, after an edit, so that a save finds it ready (NULL when out of
     * memory: patch_build then indexes for itself) */
    patch_index_free(doc->patch_index);
    doc->patch_index = doc->tree ? patch_index_new(doc->text, doc->len, doc->tree) : NULL;
    doc->touched = ++self->clock;
    drop_cold_trees(self);
}

struct document *docstore_get(struct docstore *self, const char *uri)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->docs[i]->uri, uri) == 0)
            return self->docs[i];
    return NULL;
}

struct document *docstore_find_path(struct docstore *self, const char *path)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->docs[i]->path && strcmp(self->docs[i]->path, path) == 0)
            return self->docs[i];
    return NULL;
}

struct document *docstore_at(struct docstore *self, size_t i)
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
    docstore_update(self, doc);
    doc->running = doc->analysis ? analysis_copy(doc->analysis) : NULL;
    if (!doc->running)
        doc->running = analysis_of_text(doc->text, doc->len, self->marker);
    return doc;
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
    index_lines(doc);
    edit.new_end_point = point_at(doc, edit.new_end_byte);
    if (doc->tree)
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

    if (doc->tree && doc->len <= UINT32_MAX && len <= UINT32_MAX) {
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
    index_lines(doc);
}

void docstore_set_running(struct docstore *self, struct document *doc, const char *text, size_t len)
{
    /* The saved text is usually the document's, already analysed (and
     * not edited since): a copy of that analysis is what analysing it again
     * would give, for a fraction of the time (a fresh parse and analysis of
     * a large file take tens of ms, the loop's time after every reload). */
    const char *t = text ? text : doc->text;
    size_t n = text ? len : doc->len;
    int current = n == doc->len && !memcmp(t, doc->text, n) && !doc->dirty && doc->analysis;
    struct analysis *a = current ? analysis_copy(doc->analysis) : NULL;

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
