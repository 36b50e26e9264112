/* The analysis's own shared insides: what its files (lsp/analysis.c,
 * analysis_types.c, analysis_diff.c) share. The context of one run with the
 * tokens and type uses it collects, the records of the file's named types
 * for their layouts, small readers of tokens and nodes, a string builder,
 * and the internals that cross files, named analysis__*. Private to them:
 * nothing else includes this. See lsp/analysis.h for what the analysis does,
 * and each file for its part. */
#ifndef HOTC_ANALYSIS_IMPL_H
#define HOTC_ANALYSIS_IMPL_H

#include "analysis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- strings */

/* Its functions are static without `inline` (gcc would then inline
 * sbuf_addn where it cannot bound the length and warn, -Wstringop-overflow)
 * and marked unused: not every file calls every one. */
struct sbuf {
    char *s;
    size_t len, cap;
};

__attribute__((unused)) static void sbuf_addn(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->s = realloc(b->s, cap);
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

__attribute__((unused)) static void sbuf_add(struct sbuf *b, const char *s)
{
    sbuf_addn(b, s, strlen(s));
}

__attribute__((unused)) static void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sbuf_add(b, tmp);
}

/* Returns the buffer's string (an empty one when nothing was added). */
__attribute__((unused)) static char *sbuf_take(struct sbuf *b)
{
    char *s = b->s ? b->s : strdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

#define PUSH(arr, n, item)                                        \
    do {                                                          \
        (arr) = realloc((arr), ((n) + 1) * sizeof *(arr));        \
        (arr)[(n)++] = (item);                                    \
    } while (0)

/* ---------------------------------------------------------------- tokens */

/* What a token's ancestors say, recorded while the tokens are collected:
 * asking tree-sitter for a node's parent walks down from the root. */
enum {
    TOK_PARENT_PREPROC = 1,   /* its parent is a preproc_* node */
    TOK_PARENT_PARAMS = 2,    /* its parent is a parameter_list */
    TOK_IN_DIRECTIVE = 4,     /* an ancestor is a preprocessor line: a directive, or a
                               * conditional that starts on the token's row */
};

/* A type named somewhere in the file, recorded by the token walk in
 * document order so that functions need no walk of their own: a
 * type_identifier that is not a tag (kind 0), or the tag of a struct,
 * union or enum specifier (kinds 1-3), bytes [start, end). */
struct type_use {
    uint32_t start, end;
    unsigned kind;
};

/* The type uses under a function definition's declarator and body: ranges
 * of ctx.uses. */
struct def_uses {
    const void *id;             /* the function_definition node */
    uint32_t start;             /* its start byte, to find it */
    size_t decl_from, decl_to, body_from, body_to;
    int has_decl, has_body;
    int cached;                 /* the body's tokens were not collected: body_hash is from the cache */
    uint64_t body_hash, key;    /* cached: its token hash and text hash */
};

struct token {
    TSNode node;
    const char *type;           /* ts_node_type(node) */
    uint32_t start, end;
    unsigned flags;             /* TOK_* */
    uint32_t top;               /* marker tokens: index + 1 into ctx.tops */
};

struct ctx {
    const char *text;
    size_t len;
    uint32_t body_end;          /* walk: the end of the last function definition */
    const char *marker;
    size_t marker_len;
    struct token *toks;
    size_t n_toks, cap_toks;
    TSNode *path;               /* collect_tokens: the ancestors of the current node */
    size_t depth, cap_path;
    unsigned layout_depth;      /* layout_record's nesting */
    TSNode *tops;               /* marker tokens: their top-level declaration */
    size_t n_tops;
    struct type_use *uses;      /* every type use, in document order */
    size_t n_uses, cap_uses;
    struct def_uses *defuses;   /* every function definition, in document order */
    size_t n_defuses, cap_defuses;
    /* field ids, looked up once: the by-name lookup searches the language's
     * field names on every call */
    TSFieldId f_declarator, f_body, f_name, f_parameters, f_type, f_value;
    struct def *defs;           /* named types, for layouts */
    size_t n_defs;
    struct enum_const *consts;
    size_t n_consts;
    struct analysis *out;
    const struct analysis_cache *cache; /* analysis_run_cached: the previous run's bodies, or NULL */
    struct analysis_cache *next;        /* ... and this run's, being made */
    int oom;
    int in_defs;                /* collect_tokens: function definitions it is in (nested ones are
                                 * part of the outer body's tokens: never reused alone) */
};

/* ---------------------------------------------------------------- types
 *
 * Sizes and alignments: see lsp/analysis_types.c. */

struct layout {
    long size, align;           /* size < 0: unknown */
};

/* A named type defined in the file: a struct/union/enum with a body, or a
 * typedef's declarator. */
struct def {
    char *name;
    TSNode node;                /* the specifier, or the type_definition */
    TSNode declarator;          /* typedef: its declarator; else null */
    int state;                  /* 0 to compute, 1 being computed, 2 done */
    struct layout layout;
};

/* An enumeration constant, valued on demand. */
struct enum_const {
    char *name;
    TSNode node;
    long prev;                  /* the previous enumerator of its enum, or -1 */
    int state, known;
    long long value;
};

/* ---------------------------------------------------------------- readers
 *
 * Of the token list and of nodes; small and called per token, so inline. */

static inline int tok_is(const struct ctx *c, size_t i, const char *s)
{
    size_t n = c->toks[i].end - c->toks[i].start;
    return strlen(s) == n && memcmp(c->text + c->toks[i].start, s, n) == 0;
}

static inline int node_is(const struct ctx *c, TSNode n, const char *s)
{
    uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
    return strlen(s) == b - a && memcmp(c->text + a, s, b - a) == 0;
}

static inline char *node_text(const struct ctx *c, TSNode n)
{
    uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
    return strndup(c->text + a, b - a);
}

/* Index of the first token starting at or after `byte`. */
static inline size_t tok_at(const struct ctx *c, uint32_t byte)
{
    size_t lo = 0, hi = c->n_toks;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->toks[mid].start < byte)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static inline int is_preproc_type(const char *t)
{
    return strncmp(t, "preproc_", 8) == 0;
}

static inline int is_preproc(TSNode n)
{
    return !ts_node_is_null(n) && is_preproc_type(ts_node_type(n));
}

static inline TSNode null_node(void)
{
    TSNode n;

    memset(&n, 0, sizeof n);
    return n;
}

static inline struct text_range node_range(TSNode n)
{
    struct text_range r = { ts_node_start_point(n), ts_node_end_point(n) };
    return r;
}

/* ---------------------------------------------------------------- internals */

/* lsp/analysis.c */
size_t analysis__named_children(TSNode n, TSNode **out);
TSNode analysis__decl_name(TSNode n);
char *analysis__render_node(const struct ctx *c, TSNode n, TSNode skip);

/* lsp/analysis_types.c */
char *analysis__tag_name(const struct ctx *c, TSNode spec);
int analysis__is_builtin_type(const char *s, size_t n);
void analysis__index_defs(struct ctx *c, TSTreeCursor *cur);
void analysis__add_record(struct ctx *c, TSNode spec, char *name);
void analysis__add_typedef(struct ctx *c, TSNode def);

#endif
