/* What hotc knows about a C file without compiling it: its functions (which
 * are HOT, their normalized signatures and body hashes), the types it
 * defines with their fields and LP64 layouts (sizes, alignments, offsets for
 * x86-64 and aarch64 Linux, or "unknown" rather than a guess), misplaced HOT
 * markers, and the differences between two versions. Pure: text and a tree-sitter tree in, values out; no
 * I/O. Works on broken code: whatever tree-sitter recovers is analysed,
 * including the ERROR nodes it makes of an unknown macro before a type.
 *
 * Positions are bytes: `line` is 0-based, `col` is the byte offset in the
 * line (tree-sitter's TSPoint). lsp/protocol.c converts them for the editor. */
#ifndef HOTC_ANALYSIS_H
#define HOTC_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>
#include <tree_sitter/api.h>

struct text_range {
    TSPoint start;
    TSPoint end;
};

struct analysis_function {
    char *name;
    int hot;                  /* the marker is among its specifiers */
    int is_static;
    int variadic;
    struct text_range range;  /* the whole definition, head included */
    struct text_range name_range;
    uint32_t start_byte, end_byte, name_byte;
    char *ret;                /* normalized return type, e.g. "struct game *" */
    char **params;            /* normalized parameter types, without names */
    size_t n_params;
    uint64_t body_hash;       /* of the body's tokens: whitespace and comments ignored */
    char **types;             /* names of the types it mentions ("struct p", "vec2") */
    size_t n_types;
};

struct analysis_field {
    char *name;
    char *type;               /* normalized type; for enumerators, the value or "" */
    char *base;               /* the named type it is declared with ("struct p", "vec2"), or NULL */
    int indirect;             /* base is only reached through a pointer or a function */
    long offset;              /* bytes from the start of the record; -1 when unknown */
    long size;                /* bytes; -1 when unknown or a bit-field */
    int bit;                  /* bit-fields: first bit in the byte at `offset` (0-7) */
    int width;                /* bit-fields: width in bits; -1 for other fields */
};

struct analysis_type {
    char *name;               /* "struct particle", "union u", "enum e", or a typedef name */
    char *kind;               /* "struct", "union", "enum", "typedef" */
    char *target;             /* typedef: the underlying type; else NULL */
    struct analysis_field *fields;  /* members of anonymous structs/unions are listed as the parent's */
    size_t n_fields;
    struct text_range range;
    long size, align;         /* LP64 (x86-64, aarch64 Linux) bytes; -1 when they cannot be known */
    char *base;               /* typedef: the named type of `target` ("struct p"), or NULL */
    int indirect;             /* typedef: base only through a pointer or a function */
};

/* A problem found by the analysis alone (e.g. HOT on a variable). */
struct analysis_problem {
    struct text_range range;
    char *message;
};

struct analysis {
    struct analysis_function *functions;
    size_t n_functions;
    struct analysis_type *types;
    size_t n_types;
    struct analysis_problem *problems;
    size_t n_problems;
};

/* Analyses `text` (`len` bytes) parsed as `tree`, with `marker` the macro
 * that marks HOT functions. Returns a new analysis (analysis_free), or NULL
 * when out of memory. */
struct analysis *analysis_run(const char *text, size_t len, const TSTree *tree, const char *marker);

/* What analysis_run_cached keeps from one run for the next: the text, token
 * hash and type uses of each function body. Opaque. */
struct analysis_cache;

struct analysis_cache *analysis_cache_new(void);

/* The cache's own grammar_reading_cache (made on first use; NULL when out
 * of memory or `self` is NULL): the document's readings, across versions. */
struct grammar_reading_cache *analysis_cache_readings(struct analysis_cache *self);
void analysis_cache_free(struct analysis_cache *self);

/* analysis_run (same result), reusing what `cache` holds from the previous
 * run: a function body whose text the previous run saw (parsed without
 * error, without the marker's text) is not walked. Then makes `cache` hold
 * this run's bodies. For a document analysed after each edit: the cost
 * follows what changed, besides the walk of the top level and the heads. */
struct analysis *analysis_run_cached(const char *text, size_t len, const TSTree *tree, const char *marker,
                                     struct analysis_cache *cache);

/* analysis_run_cached for a caller that has read `tree` already: `reading`
 * is grammar_reading(text, len, tree, false), NULL where the file needs
 * none (the docstore reads once per version for the analysis and the patch
 * index). */
struct analysis *analysis_run_read(const char *text, size_t len, const TSTree *tree, const TSTree *reading,
                                   const char *marker, struct analysis_cache *cache);

/* Parses `text` with a fresh parser and analyses it (for tests, baselines). */
struct analysis *analysis_of_text(const char *text, size_t len, const char *marker);

void analysis_free(struct analysis *self);

/* A deep copy of `self` (what analysis_run would return again for the same
 * text and tree, at a fraction of the cost). NULL when out of memory. */
struct analysis *analysis_copy(const struct analysis *self);

/* The function named `name`, or NULL. Borrowed. */
const struct analysis_function *analysis_find_function(const struct analysis *self, const char *name);
const struct analysis_type *analysis_find_type(const struct analysis *self, const char *name);

/* How a function changed between two versions. */
enum analysis_change_kind {
    ANALYSIS_BODY,            /* same signature, new body */
    ANALYSIS_SIGNATURE,       /* return or parameter types changed */
    ANALYSIS_LAYOUT,          /* a type it uses changed layout */
    ANALYSIS_ADDED,           /* not in the old version */
    ANALYSIS_REMOVED          /* not in the new version */
};

struct analysis_change {
    char *name;               /* the function's name */
    int hot;                  /* HOT in the new version (old one if removed) */
    enum analysis_change_kind kind;
    char *message;            /* in words: "parameter 2 changed from `float` to `double`" */
};

struct analysis_type_change {
    char *name;               /* the type's name */
    char *message;            /* "field `vx` added to `struct particle`, size 24 → 32" */
};

struct analysis_diff {
    struct analysis_change *changes;
    size_t n_changes;
    struct analysis_type_change *types;
    size_t n_types;
};

/* Compares two versions of a document. A function with a signature change
 * gets one ANALYSIS_SIGNATURE change (its message lists every difference,
 * separated by "; "); one whose signature is the same but that uses a type
 * whose layout changed gets ANALYSIS_LAYOUT; otherwise a changed body gives
 * ANALYSIS_BODY. A function "uses" the types it names and every type they
 * reach through their fields, by value or through pointers (`w->p->x`
 * depends on the layout of *p). A type changed when its members did, its
 * size did, or it holds a changed type by value (a pointer to a changed
 * type is not a change of the outer type); messages end with the size
 * change when both sizes are known ("..., size 24 → 32").
 * Returns a new diff (analysis_diff_free) or NULL. */
struct analysis_diff *analysis_diff(const struct analysis *old, const struct analysis *new_);

void analysis_diff_free(struct analysis_diff *self);

/* analysis_diff over the HOT functions of both versions only (every type
 * is still compared), for a reload; and, in *others_changed, whether a
 * function that is not HOT in either version and is defined in both changed
 * its body or its signature (functions added or removed do not count).
 * Visits the other functions once, in document order, when both versions
 * define them in the same order (the usual case: a save after an edit
 * inside a body); otherwise pairs them by name. Returns a new diff or NULL. */
struct analysis_diff *analysis_diff_hot(const struct analysis *old, const struct analysis *new_, int *others_changed);

/* The change of function `name` in `diff`, or NULL. Borrowed. */
const struct analysis_change *analysis_diff_find(const struct analysis_diff *diff, const char *name);

#endif
