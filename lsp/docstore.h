/* Open documents: text, version, line index, tree-sitter tree (reparsed
 * incrementally on each edit; only the few documents edited last keep one,
 * the others are parsed again at their next edit, so `tree` may be NULL),
 * the analysis of the current text, and the
 * "running" analysis: what the running program was built from (or last
 * reloaded with); before any program attached, the text at didOpen.
 * Positions here are bytes; lsp/protocol.c converts editor positions. */
#ifndef HOTC_DOCSTORE_H
#define HOTC_DOCSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <tree_sitter/api.h>

#include "analysis.h"
#include "patch.h"

struct document {
    char *uri;
    char *path;                  /* file path from the uri, or NULL */
    char *text;                  /* NUL-terminated, `len` bytes */
    size_t len;
    int version;
    uint32_t *lines;             /* byte offset of each line start */
    size_t n_lines;
    TSTree *tree;
    int dirty;                   /* edited since the last docstore_update: tree and analysis are stale */
    struct analysis *analysis;   /* of `text`; never NULL after open (stale while `dirty`) */
    struct analysis *running;    /* the baseline for diffs; never NULL after open */
    struct patch_index *patch_index; /* of `text` and `tree`, for patch_build (patch_input.index); may be NULL */
    struct analysis_cache *bodies;   /* what docstore_update's analysis reuses at the next one; may be NULL */
    uint64_t touched;            /* when it was last updated (the store's clock) */
};

/* One edit in bytes: replace [start, end) by `new_text`. */
struct text_edit {
    uint32_t start, end;
    const char *new_text;
    size_t new_len;
};

struct docstore;

/* A store analysing with `marker` (copied). NULL when out of memory. */
struct docstore *docstore_new(const char *marker);
void docstore_free(struct docstore *self);

/* Changes the marker and reanalyses every document (baselines too). */
void docstore_set_marker(struct docstore *self, const char *marker);
const char *docstore_marker(const struct docstore *self);

/* Opens (or reopens) `uri` with `text`. Parses and analyses it; the
 * baseline is this text. `path` is copied (may be NULL). Returns the
 * document (borrowed), NULL when out of memory. */
struct document *docstore_open(struct docstore *self, const char *uri, const char *path, const char *text,
                               size_t len, int version);

/* The open document for `uri`, or NULL. Borrowed. */
struct document *docstore_get(struct docstore *self, const char *uri);

/* The open document whose path is `path`, or NULL. Borrowed. */
struct document *docstore_find_path(struct docstore *self, const char *path);

/* Applies one edit (bytes, within the text; clamped otherwise) and tells the
 * tree about it. Call docstore_update after the edits of one change. */
void docstore_edit(struct docstore *self, struct document *doc, const struct text_edit *edit);

/* Replaces the whole text. Call docstore_update after. */
void docstore_replace(struct docstore *self, struct document *doc, const char *text, size_t len);

/* Reparses (incrementally), reanalyses and reindexes for patch_build. */
void docstore_update(struct docstore *self, struct document *doc);

/* Makes `text` (or the current text when NULL) the running baseline. */
void docstore_set_running(struct docstore *self, struct document *doc, const char *text, size_t len);

/* Closes `uri` (no-op if not open). */
void docstore_close(struct docstore *self, const char *uri);

/* Iteration: the i-th open document, NULL past the end. */
struct document *docstore_at(struct docstore *self, size_t i);

#endif
