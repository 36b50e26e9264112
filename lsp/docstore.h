/* Open documents: text, version, line index, tree-sitter tree (reparsed
 * incrementally on each edit; only the few documents edited last keep one,
 * the others are parsed again at their next edit, so `tree` may be NULL),
 * the analysis of the current text, and the
 * "running" analysis: what the running program was built from (or last
 * reloaded with); before any program attached, the text at didOpen.
 * Positions here are bytes; lsp/protocol.c converts editor positions.
 *
 * Keystrokes in a large document (docstore_update_later, with a loop set by
 * docstore_set_background) are parsed and analysed on a libuv worker, from
 * a copy of the text: the loop only applies the edit. Until that analysis
 * is back, the document is `dirty` (its tree, analysis and patch index are
 * with the worker or stale). Every lookup (docstore_get, docstore_at,
 * docstore_find_path) first settles the document it returns: it waits for
 * the worker (or runs the work itself when the worker has not started) and
 * installs the result, so that a reader never sees a stale analysis; only
 * docstore_peek does not. */
#ifndef HOTC_DOCSTORE_H
#define HOTC_DOCSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <tree_sitter/api.h>
#include <uv.h>

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
    struct analysis *analysis;   /* of `text`; never NULL after open (stale while `dirty`, empty while opening) */
    struct analysis *running;    /* the baseline for diffs; never NULL once settled */
    struct patch_index *patch_index; /* of `text` and `tree`, for patch_build (patch_input.index); may be NULL */
    struct analysis_cache *bodies;   /* what docstore_update's analysis reuses at the next one; may be NULL */
    uint64_t touched;            /* when it was last updated (the store's clock) */
    struct docstore_job *job;    /* its analysis running on a worker, or NULL (the docstore's own) */
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
 * document (borrowed), NULL when out of memory. A document of the
 * background size (with a loop set) is parsed on a worker: it is returned
 * with `job` set, an empty analysis and no baseline yet (`running` NULL),
 * and `ready` follows; a lookup settles it as after an edit. */
struct document *docstore_open(struct docstore *self, const char *uri, const char *path, const char *text,
                               size_t len, int version);

/* The open document for `uri`, or NULL. Borrowed. Settled (see above):
 * its analysis is its text's. */
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

/* Called on the loop when a document whose update was left to a worker is
 * up to date again (its analysis is the text's): from the worker's
 * completion, or from a lookup that settled it. */
typedef void (*docstore_ready_fn)(void *data, struct document *doc);

/* Lets docstore_update_later analyse documents of at least `min_bytes` on
 * `loop`'s workers, calling `ready` (with `data`) when each is done. */
void docstore_set_background(struct docstore *self, uv_loop_t *loop, size_t min_bytes, docstore_ready_fn ready,
                             void *data);

/* docstore_update for an edit as it is typed: for a document of at least
 * the background size (and a loop set), the parse, analysis and index run
 * on a worker and `ready` follows; edits made meanwhile are kept for the
 * next run, started when this one is back (one run per document at a time,
 * a burst of keystrokes costs one run after the one in flight). Returns 1
 * when the document was updated now (the caller publishes), 0 when `ready`
 * will say it is. */
int docstore_update_later(struct docstore *self, struct document *doc);

/* Whether some document's analysis runs on a worker. */
int docstore_busy(const struct docstore *self);

/* The open document for `uri` as it is (maybe `dirty`), without waiting for
 * its analysis: for the edit path. NULL when not open. Borrowed. */
struct document *docstore_peek(struct docstore *self, const char *uri);

/* Makes `text` (or the current text when NULL) the running baseline. */
void docstore_set_running(struct docstore *self, struct document *doc, const char *text, size_t len);

/* Closes `uri` (no-op if not open). */
void docstore_close(struct docstore *self, const char *uri);

/* Iteration: the i-th open document (settled), NULL past the end. */
struct document *docstore_at(struct docstore *self, size_t i);

/* The open document whose path is `path` as it is (see docstore_peek), or
 * NULL. Borrowed. */
struct document *docstore_peek_path(struct docstore *self, const char *path);

/* The i-th open document as it is (its text, uri and path are current; its
 * analysis may be with a worker), NULL past the end. */
struct document *docstore_peek_at(struct docstore *self, size_t i);

#endif
