/* Implements lsp/analysis.h. The file is seen both as a tree and as a flat
 * list of tokens (the tree's leaves): tree-sitter recovers from an unknown
 * macro before a type by wrapping tokens in ERROR nodes, so the head of a
 * function (everything between the previous `;`/`}`/directive and its name)
 * is read from the token list, which does not depend on that recovery. */
#include "analysis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"

/* ---------------------------------------------------------------- strings */

struct sbuf {
    char *s;
    size_t len, cap;
};

static void sbuf_addn(struct sbuf *b, const char *s, size_t n)
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

static void sbuf_add(struct sbuf *b, const char *s)
{
    sbuf_addn(b, s, strlen(s));
}

static void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sbuf_add(b, tmp);
}

/* Returns the buffer's string (an empty one when nothing was added). */
static char *sbuf_take(struct sbuf *b)
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

/* A function body seen by the previous run (analysis_run_cached): its text
 * (bytes [off, off + len) of cache.text), the hash of its tokens, and its
 * type uses (cache.uses[uses_from, uses_from + n_uses), relative to `off`). */
struct body_entry {
    uint64_t key;               /* hash of the body's text */
    uint32_t off, len;
    uint64_t body_hash;
    size_t uses_from, n_uses;
};

struct analysis_cache {
    char *marker;               /* the marker the entries were made with */
    char *text;                 /* the previous run's text */
    struct body_entry *entries;
    size_t n_entries, cap_entries;
    struct type_use *uses;
    size_t n_uses, cap_uses;
    size_t *slots;              /* open addressing: entry index + 1, 0 empty */
    size_t n_slots;             /* a power of two, or 0 */
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

static int tok_is(const struct ctx *c, size_t i, const char *s)
{
    size_t n = c->toks[i].end - c->toks[i].start;
    return strlen(s) == n && memcmp(c->text + c->toks[i].start, s, n) == 0;
}

static int tok_is_marker(const struct ctx *c, size_t i)
{
    size_t n = c->toks[i].end - c->toks[i].start;
    return c->marker_len == n && memcmp(c->text + c->toks[i].start, c->marker, n) == 0;
}

static int node_is(const struct ctx *c, TSNode n, const char *s)
{
    uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
    return strlen(s) == b - a && memcmp(c->text + a, s, b - a) == 0;
}

static char *node_text(const struct ctx *c, TSNode n)
{
    uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
    return strndup(c->text + a, b - a);
}

static int is_preproc_type(const char *t)
{
    return strncmp(t, "preproc_", 8) == 0;
}

static int is_conditional_type(const char *t)
{
    return !strcmp(t, "preproc_if") || !strcmp(t, "preproc_ifdef") || !strcmp(t, "preproc_else") ||
           !strcmp(t, "preproc_elif") || !strcmp(t, "preproc_elifdef");
}

/* Records what the ancestors of marker token `t` (c->path[0..depth)) say:
 * whether it sits in a preprocessor line, and its top-level declaration
 * (the child of the root it is in, or itself). */
static void note_marker(struct ctx *c, struct token *t)
{
    TSNode top = c->depth >= 2 ? c->path[1] : t->node;

    for (size_t k = c->depth; k-- > 0;) {
        const char *ty = ts_node_type(c->path[k]);

        if (is_preproc_type(ty) &&
            (!is_conditional_type(ty) || ts_node_start_point(c->path[k]).row == ts_node_start_point(t->node).row)) {
            t->flags |= TOK_IN_DIRECTIVE;
            break;
        }
    }
    c->tops = realloc(c->tops, (c->n_tops + 1) * sizeof *c->tops);
    c->tops[c->n_tops++] = top;
    t->top = (uint32_t)c->n_tops;
}

/* Appends the leaves under the cursor's node to c->toks (strings and
 * character literals as one token; comments and missing tokens left out).
 * `parent` is the node's parent type, NULL for the root. */
static void add_use(struct ctx *c, uint32_t start, uint32_t end, unsigned kind)
{
    if (c->n_uses == c->cap_uses) {
        c->cap_uses = c->cap_uses ? c->cap_uses * 2 : 256;
        c->uses = realloc(c->uses, c->cap_uses * sizeof *c->uses);
    }
    c->uses[c->n_uses++] = (struct type_use){ start, end, kind };
}

static void collect_tokens(struct ctx *c, TSTreeCursor *cur, const char *parent);

/* FNV-1a of bytes [start, end) of the text. */
static uint64_t text_key(const char *text, uint32_t start, uint32_t end)
{
    uint64_t h = 1469598103934665603ULL;

    for (uint32_t k = start; k < end; k++) {
        h ^= (unsigned char)text[k];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Whether the body under the cursor (of function definition `def`) can be
 * reused or remembered: parsed without error (so that the same text is the
 * same subtree) and without the marker's text (so that no marker token is
 * in it: stray markers need the body's tokens). */
static int body_cacheable(const struct ctx *c, TSNode body)
{
    uint32_t a = ts_node_start_byte(body), b = ts_node_end_byte(body);

    return strcmp(ts_node_type(body), "compound_statement") == 0 && !ts_node_has_error(body) && b > a &&
           !memmem(c->text + a, b - a, c->marker, c->marker_len);
}

/* A body the previous run saw with the same text (see body_cacheable):
 * collects only its braces (the tokens that end a declaration, for the next
 * function's head) and takes its type uses and token hash from the cache,
 * instead of walking it. Returns 0 (nothing done) when there is none. */
static int body_from_cache(struct ctx *c, TSTreeCursor *cur, size_t def)
{
    const struct analysis_cache *k = c->cache;
    TSNode body = ts_tree_cursor_current_node(cur);
    uint32_t a, b;
    uint64_t key;
    const struct body_entry *e = NULL;

    if (!k || !k->n_slots || c->in_defs != 1 || !body_cacheable(c, body))
        return 0;
    a = ts_node_start_byte(body);
    b = ts_node_end_byte(body);
    key = text_key(c->text, a, b);
    for (size_t i = key & (k->n_slots - 1); k->slots[i]; i = (i + 1) & (k->n_slots - 1)) {
        const struct body_entry *x = &k->entries[k->slots[i] - 1];
        if (x->key == key && x->len == b - a && !memcmp(k->text + x->off, c->text + a, x->len)) {
            e = x;
            break;
        }
    }
    if (!e)
        return 0;
    if (c->depth == c->cap_path) {
        c->cap_path = c->cap_path ? c->cap_path * 2 : 64;
        c->path = realloc(c->path, c->cap_path * sizeof *c->path);
    }
    c->path[c->depth++] = body;
    if (ts_tree_cursor_goto_first_child(cur)) {
        collect_tokens(c, cur, "compound_statement"); /* { */
        if (ts_tree_cursor_goto_next_sibling(cur)) {
            while (ts_tree_cursor_goto_next_sibling(cur))
                ;
            collect_tokens(c, cur, "compound_statement"); /* } */
        }
        ts_tree_cursor_goto_parent(cur);
    }
    c->depth--;
    for (size_t i = 0; i < e->n_uses; i++) {
        const struct type_use *u = &k->uses[e->uses_from + i];
        add_use(c, u->start + a, u->end + a, u->kind);
    }
    c->defuses[def].cached = 1;
    c->defuses[def].body_hash = e->body_hash;
    c->defuses[def].key = key;
    return 1;
}

/* Adds to the next cache the body of a function whose token hash is
 * `hash` and type uses are c->uses[from, to). */
static void remember_body(struct ctx *c, TSNode body, uint64_t key, uint64_t hash, size_t from, size_t to)
{
    struct analysis_cache *k = c->next;
    uint32_t a = ts_node_start_byte(body), b = ts_node_end_byte(body);
    struct body_entry *e;

    if (k->n_entries == k->cap_entries) {
        size_t cap = k->cap_entries ? k->cap_entries * 2 : 64;
        struct body_entry *v = realloc(k->entries, cap * sizeof *v);
        if (!v) {
            c->oom = 1;
            return;
        }
        k->entries = v;
        k->cap_entries = cap;
    }
    if (k->n_uses + (to - from) > k->cap_uses) {
        size_t cap = k->cap_uses ? k->cap_uses : 256;
        struct type_use *v;

        while (cap < k->n_uses + (to - from))
            cap *= 2;
        v = realloc(k->uses, cap * sizeof *v);
        if (!v) {
            c->oom = 1;
            return;
        }
        k->uses = v;
        k->cap_uses = cap;
    }
    e = &k->entries[k->n_entries++];
    e->key = key;
    e->off = a;
    e->len = b - a;
    e->body_hash = hash;
    e->uses_from = k->n_uses;
    e->n_uses = to - from;
    for (size_t i = from; i < to; i++) {
        struct type_use u = c->uses[i];
        u.start -= a;
        u.end -= a;
        k->uses[k->n_uses++] = u;
    }
}

static void collect_tokens(struct ctx *c, TSTreeCursor *cur, const char *parent)
{
    TSNode n = ts_tree_cursor_current_node(cur);
    const char *type = ts_node_type(n);
    size_t def = (size_t)-1;

    /* the types it names (a type_identifier right under a *_specifier is a
     * tag, not a use) */
    if (!strcmp(type, "type_identifier")) {
        if (!node_is(c, n, c->marker) && !(parent && strstr(parent, "_specifier")))
            add_use(c, ts_node_start_byte(n), ts_node_end_byte(n), 0);
    } else if (!strcmp(type, "struct_specifier") || !strcmp(type, "union_specifier") ||
               !strcmp(type, "enum_specifier")) {
        TSNode name = ts_node_child_by_field_id(n, c->f_name);
        if (!ts_node_is_null(name))
            add_use(c, ts_node_start_byte(name), ts_node_end_byte(name), type[0] == 's' ? 1 : type[0] == 'u' ? 2 : 3);
    } else if (!strcmp(type, "function_definition")) {
        if (c->n_defuses == c->cap_defuses) {
            c->cap_defuses = c->cap_defuses ? c->cap_defuses * 2 : 64;
            c->defuses = realloc(c->defuses, c->cap_defuses * sizeof *c->defuses);
        }
        def = c->n_defuses++;
        memset(&c->defuses[def], 0, sizeof c->defuses[def]);
        c->defuses[def].id = n.id;
        c->defuses[def].start = ts_node_start_byte(n);
    }

    if (ts_node_child_count(n) == 0 || strcmp(type, "string_literal") == 0 || strcmp(type, "char_literal") == 0) {
        struct token t;

        t.node = n;
        t.type = type;
        t.start = ts_node_start_byte(n);
        t.end = ts_node_end_byte(n);
        t.top = 0;
        if (ts_node_is_missing(n) || t.end == t.start || strcmp(type, "comment") == 0)
            return;
        t.flags = (parent && is_preproc_type(parent) ? TOK_PARENT_PREPROC : 0) |
                  (parent && !strcmp(parent, "parameter_list") ? TOK_PARENT_PARAMS : 0);
        if (t.end - t.start == c->marker_len && !memcmp(c->text + t.start, c->marker, c->marker_len))
            note_marker(c, &t);
        if (c->n_toks == c->cap_toks) {
            c->cap_toks = c->cap_toks ? c->cap_toks * 2 : 1024;
            c->toks = realloc(c->toks, c->cap_toks * sizeof *c->toks);
        }
        c->toks[c->n_toks++] = t;
        return;
    }
    if (c->depth == c->cap_path) {
        c->cap_path = c->cap_path ? c->cap_path * 2 : 64;
        c->path = realloc(c->path, c->cap_path * sizeof *c->path);
    }
    c->path[c->depth++] = n;
    c->in_defs += def != (size_t)-1;
    if (ts_tree_cursor_goto_first_child(cur)) {
        do {
            if (def != (size_t)-1) {
                TSFieldId field = ts_tree_cursor_current_field_id(cur);
                size_t from = c->n_uses;
                struct def_uses *d;

                if (!(field == c->f_body && !c->defuses[def].has_body && body_from_cache(c, cur, def)))
                    collect_tokens(c, cur, type);
                d = &c->defuses[def];
                if (field == c->f_declarator && !d->has_decl) {
                    d->has_decl = 1;
                    d->decl_from = from;
                    d->decl_to = c->n_uses;
                } else if (field == c->f_body && !d->has_body) {
                    d->has_body = 1;
                    d->body_from = from;
                    d->body_to = c->n_uses;
                }
            } else {
                collect_tokens(c, cur, type);
            }
        } while (ts_tree_cursor_goto_next_sibling(cur));
        ts_tree_cursor_goto_parent(cur);
    }
    c->in_defs -= def != (size_t)-1;
    c->depth--;
}

/* Index of the first token starting at or after `byte`. */
static size_t tok_at(const struct ctx *c, uint32_t byte)
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

static int need_space(char prev, char cur)
{
    if (prev == '(' || prev == '[' || prev == '*')
        return 0;
    if (cur == ',' || cur == ')' || cur == ']' || cur == '[')
        return 0;
    if (cur == '(')
        return prev != ')';
    return 1;
}

/* Token i opens `__attribute__((...))` or the like: returns the index of
 * its last `)` (or i when it is not one). */
static size_t skip_attribute(const struct ctx *c, size_t i, size_t to)
{
    int depth = 0;

    if (!tok_is(c, i, "__attribute__") && !tok_is(c, i, "__declspec") && !tok_is(c, i, "__attribute"))
        return i;
    for (i++; i < to; i++) {
        if (tok_is(c, i, "("))
            depth++;
        else if (tok_is(c, i, ")") && --depth == 0)
            break;
    }
    return i;
}

static int is_upper_name(const struct ctx *c, size_t i)
{
    const char *s = c->text + c->toks[i].start;
    size_t n = c->toks[i].end - c->toks[i].start;
    int letters = 0;

    for (size_t k = 0; k < n; k++) {
        if (s[k] >= 'A' && s[k] <= 'Z')
            letters++;
        else if (!(s[k] == '_' || (k > 0 && s[k] >= '0' && s[k] <= '9')))
            return 0;
    }
    return letters > 0;
}

/* Whether token i, in the head of a function that ends before token `to`,
 * is an unknown macro rather than part of the return type: an upper-case
 * identifier (`EXPORT`, `INLINE`) followed by something that can be the
 * type (a type keyword, a struct tag, another identifier). A lone
 * upper-case name (`VEC2 f(void)`) stays: it is the type. */
static int is_head_macro(const struct ctx *c, size_t i, size_t to)
{
    static const char *const type_words[] = { "void", "char", "short", "int", "long", "float", "double", "signed",
                                              "unsigned", "_Bool", "struct", "union", "enum", "__int128", NULL };
    const char *t = c->toks[i].type;

    if ((strcmp(t, "identifier") && strcmp(t, "type_identifier")) || !is_upper_name(c, i) ||
        tok_is_marker(c, i))
        return 0;
    if (i > 0 && (tok_is(c, i - 1, "struct") || tok_is(c, i - 1, "union") || tok_is(c, i - 1, "enum")))
        return 0;
    for (size_t j = i + 1; j < to; j++) {
        const char *tj = c->toks[j].type;

        j = skip_attribute(c, j, to);
        if (j >= to || tok_is(c, j, ")"))
            continue;
        if (tok_is(c, j, "*") || tok_is(c, j, "("))
            return 0;
        if (tok_is_marker(c, j))
            continue;
        if (!strcmp(tj, "primitive_type") || !strcmp(tj, "identifier") || !strcmp(tj, "type_identifier"))
            return 1;
        for (int k = 0; type_words[k]; k++)
            if (tok_is(c, j, type_words[k]))
                return 1;
    }
    return 0;
}

/* Renders tokens [from, to) except index `skip`, and the attribute groups,
 * storage classes and unknown macros when `strip`, as one normalized string. */
static char *render(const struct ctx *c, size_t from, size_t to, size_t skip, int strip)
{
    struct sbuf b = { 0 };
    char prev = ' ';

    for (size_t i = from; i < to; i++) {
        const char *s = c->text + c->toks[i].start;
        size_t n = c->toks[i].end - c->toks[i].start;

        if (i == skip)
            continue;
        if (strip) {
            static const char *const drop[] = { "static", "extern", "inline", "__inline", "__inline__",
                                                "register", "_Thread_local", NULL };
            int dropped = tok_is_marker(c, i);

            for (int k = 0; drop[k] && !dropped; k++)
                dropped = tok_is(c, i, drop[k]);
            if (dropped || is_head_macro(c, i, to))
                continue;
            if (skip_attribute(c, i, to) != i) {
                i = skip_attribute(c, i, to);
                continue;
            }
        }
        if (b.len > 0 && need_space(prev, s[0]))
            sbuf_add(&b, " ");
        sbuf_addn(&b, s, n);
        prev = s[n - 1];
    }
    return sbuf_take(&b);
}

static TSNode null_node(void)
{
    TSNode n;

    memset(&n, 0, sizeof n);
    return n;
}

/* The named children of `n` into `*out` (new array, free it; NULL when
 * there are none). ts_node_named_child(i) walks from the first child on
 * every call. */
static size_t named_children(TSNode n, TSNode **out)
{
    size_t count = 0, cap = 0;
    TSTreeCursor cur;

    *out = NULL;
    if (ts_node_is_null(n))
        return 0;
    cur = ts_tree_cursor_new(n);
    if (ts_tree_cursor_goto_first_child(&cur)) {
        do {
            TSNode k = ts_tree_cursor_current_node(&cur);

            if (!ts_node_is_named(k))
                continue;
            if (count == cap) {
                cap = cap ? cap * 2 : 16;
                *out = realloc(*out, cap * sizeof **out);
            }
            (*out)[count++] = k;
        } while (ts_tree_cursor_goto_next_sibling(&cur));
    }
    ts_tree_cursor_delete(&cur);
    return count;
}

/* The identifier a declarator declares (following `declarator` fields and
 * parentheses), or a null node for an abstract declarator. */
static TSNode decl_name(TSNode n)
{
    for (;;) {
        const char *t;
        TSNode d;

        if (ts_node_is_null(n))
            return n;
        t = ts_node_type(n);
        if (!strcmp(t, "identifier") || !strcmp(t, "field_identifier") || !strcmp(t, "type_identifier"))
            return n;
        d = ts_node_child_by_field_name(n, "declarator", 10);
        if (ts_node_is_null(d) && !strcmp(t, "parenthesized_declarator"))
            d = ts_node_named_child(n, 0);
        if (ts_node_is_null(d))
            return null_node();
        n = d;
    }
}

/* The innermost function_declarator on the path to the name. */
static TSNode function_declarator(TSNode n)
{
    TSNode found = null_node();

    while (!ts_node_is_null(n)) {
        const char *t = ts_node_type(n);
        TSNode d;

        if (!strcmp(t, "function_declarator"))
            found = n;
        if (!strcmp(t, "identifier"))
            break;
        d = ts_node_child_by_field_name(n, "declarator", 10);
        if (ts_node_is_null(d) && !strcmp(t, "parenthesized_declarator"))
            d = ts_node_named_child(n, 0);
        n = d;
    }
    return found;
}

static char *render_node(const struct ctx *c, TSNode n, TSNode skip)
{
    size_t from = tok_at(c, ts_node_start_byte(n));
    size_t to = tok_at(c, ts_node_end_byte(n));
    size_t sk = ts_node_is_null(skip) ? (size_t)-1 : tok_at(c, ts_node_start_byte(skip));

    return render(c, from, to, sk, 0);
}

static uint64_t hash_tokens(const struct ctx *c, size_t from, size_t to)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = from; i < to; i++) {
        for (uint32_t k = c->toks[i].start; k < c->toks[i].end; k++) {
            h ^= (unsigned char)c->text[k];
            h *= 1099511628211ULL;
        }
        h ^= 0xff;
        h *= 1099511628211ULL;
    }
    return h;
}

static struct text_range node_range(TSNode n)
{
    struct text_range r = { ts_node_start_point(n), ts_node_end_point(n) };
    return r;
}

static int is_preproc(TSNode n)
{
    return !ts_node_is_null(n) && is_preproc_type(ts_node_type(n));
}

/* Token i ends the previous declaration, so a function head starts after it. */
static int is_boundary(const struct ctx *c, size_t i)
{
    return tok_is(c, i, ";") || tok_is(c, i, "}") || tok_is(c, i, "{") || tok_is(c, i, "=") ||
           (c->toks[i].flags & TOK_PARENT_PREPROC) || is_preproc_type(c->toks[i].type);
}

/* ---------------------------------------------------------------- functions */

static int is_builtin_type(const char *s, size_t n);

static void add_type_name(struct analysis_function *f, char *name)
{
    for (size_t i = 0; i < f->n_types; i++)
        if (!strcmp(f->types[i], name)) {
            free(name);
            return;
        }
    PUSH(f->types, f->n_types, name);
}

/* Adds to `f` the type uses [from, to) recorded by collect_tokens. */
static void add_uses(const struct ctx *c, struct analysis_function *f, size_t from, size_t to)
{
    static const char *const tags[] = { NULL, "struct ", "union ", "enum " };

    for (size_t i = from; i < to; i++) {
        const struct type_use *u = &c->uses[i];

        if (u->kind == 0) {
            add_type_name(f, strndup(c->text + u->start, u->end - u->start));
        } else {
            struct sbuf b = { 0 };
            sbuf_add(&b, tags[u->kind]);
            sbuf_addn(&b, c->text + u->start, u->end - u->start);
            add_type_name(f, sbuf_take(&b));
        }
    }
}

/* The type uses of function definition `def` (NULL if it was not walked). */
static const struct def_uses *find_def_uses(const struct ctx *c, TSNode def)
{
    uint32_t start = ts_node_start_byte(def);
    size_t lo = 0, hi = c->n_defuses;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->defuses[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < c->n_defuses && c->defuses[lo].start == start; lo++)
        if (c->defuses[lo].id == def.id)
            return &c->defuses[lo];
    return NULL;
}

/* Whether token i is a C keyword or a type tree-sitter knows as primitive. */
static int is_keyword(const struct ctx *c, size_t i)
{
    static const char *const words[] = { "void", "char", "short", "int", "long", "float", "double", "signed",
                                         "unsigned", "_Bool", "bool", "const", "volatile", "restrict", "static",
                                         "extern", "inline", "register", "_Thread_local", "_Atomic", "_Noreturn",
                                         "__inline", "__inline__", "__restrict", "__restrict__", NULL };
    uint32_t n = c->toks[i].end - c->toks[i].start;

    for (int k = 0; words[k]; k++)
        if (tok_is(c, i, words[k]))
            return 1;
    return is_builtin_type(c->text + c->toks[i].start, n);
}

/* The types named in a function's head, tokens [from, to), read from the
 * tokens since tree-sitter may have split the head around an unknown macro. */
static void collect_head_types(const struct ctx *c, struct analysis_function *f, size_t from, size_t to)
{
    int have_type = 0; /* after a type, an identifier is a name: `int counter` */

    for (size_t i = from; i < to; i++) {
        const char *t = c->toks[i].type;

        if (skip_attribute(c, i, to) != i) {
            i = skip_attribute(c, i, to);
            continue;
        }
        if (is_keyword(c, i) && !tok_is(c, i, "const") && !tok_is(c, i, "volatile") && !tok_is(c, i, "static") &&
            !tok_is(c, i, "extern") && !tok_is(c, i, "inline"))
            have_type = 1;
        if (have_type && (!strcmp(t, "identifier") || !strcmp(t, "type_identifier")))
            continue;
        if ((tok_is(c, i, "struct") || tok_is(c, i, "union") || tok_is(c, i, "enum")) && i + 1 < to) {
            have_type = 1;
            struct sbuf b = { 0 };

            sbuf_addn(&b, c->text + c->toks[i].start, c->toks[i].end - c->toks[i].start);
            sbuf_add(&b, " ");
            sbuf_addn(&b, c->text + c->toks[i + 1].start, c->toks[i + 1].end - c->toks[i + 1].start);
            add_type_name(f, sbuf_take(&b));
            i++;
        } else if ((!strcmp(t, "identifier") || !strcmp(t, "type_identifier")) && !tok_is_marker(c, i) &&
                   !is_keyword(c, i) && !is_head_macro(c, i, to)) {
            add_type_name(f, strndup(c->text + c->toks[i].start, c->toks[i].end - c->toks[i].start));
            have_type = 1;
        }
    }
}

static void add_function(struct ctx *c, TSNode def)
{
    TSNode decl = ts_node_child_by_field_id(def, c->f_declarator);
    TSNode body = ts_node_child_by_field_id(def, c->f_body);
    TSNode fdecl = function_declarator(decl);
    TSNode name = decl_name(decl);
    TSNode params;
    struct analysis_function f;
    size_t name_i, head;

    if (ts_node_is_null(fdecl) || ts_node_is_null(name) || ts_node_is_null(body))
        return;
    /* no type: the head is a macro's call (`DEF_PRIMITIVE(add) { ... }`),
     * the name tree-sitter gives is the macro's, not the function's */
    if (ts_node_is_null(ts_node_child_by_field_id(def, c->f_type)))
        return;
    if (!ts_node_is_null(grammar_misread_name(fdecl)))
        name = grammar_misread_name(fdecl);
    memset(&f, 0, sizeof f);
    name_i = tok_at(c, ts_node_start_byte(name));
    /* `if (x) {` read as a definition where tree-sitter lost the function
     * around it (a head made by a macro) */
    static const char *const statements[] = { "if", "while", "for", "switch", "return", "sizeof", "do", "else",
                                              "case", "goto", NULL };
    for (int k = 0; statements[k]; k++)
        if (tok_is(c, name_i, statements[k]))
            return;
    head = name_i;
    while (head > 0 && !is_boundary(c, head - 1))
        head--;
    for (size_t i = head; i < name_i; i++) {
        if (tok_is_marker(c, i))
            f.hot = 1;
        if (tok_is(c, i, "static"))
            f.is_static = 1;
    }
    f.name = node_text(c, name);
    f.start_byte = head < name_i ? c->toks[head].start : ts_node_start_byte(def);
    /* past what tree-sitter read when an #if inside an initializer cut the
     * body short (see walk) */
    f.end_byte = grammar_function_end(def, c->text, c->len);
    f.range.start = head < name_i ? ts_node_start_point(c->toks[head].node) : ts_node_start_point(def);
    f.range.end = ts_node_end_point(def);
    for (uint32_t i = ts_node_end_byte(def); i < f.end_byte; i++) {
        if (c->text[i] == '\n') {
            f.range.end.row++;
            f.range.end.column = 0;
        } else {
            f.range.end.column++;
        }
    }
    if (f.end_byte > c->body_end)
        c->body_end = f.end_byte;
    f.name_range = node_range(name);
    f.name_byte = ts_node_start_byte(name);
    f.ret = render(c, head, name_i, (size_t)-1, 1);

    params = ts_node_child_by_field_name(fdecl, "parameters", 10);
    for (uint32_t i = 0; i < ts_node_named_child_count(params); i++) {
        TSNode p = ts_node_named_child(params, i);
        const char *t = ts_node_type(p);

        if (!strcmp(t, "variadic_parameter")) {
            f.variadic = 1;
        } else if (!strcmp(t, "parameter_declaration")) {
            TSNode pd = ts_node_child_by_field_name(p, "declarator", 10);
            PUSH(f.params, f.n_params, render_node(c, p, decl_name(pd)));
        }
    }
    if (f.n_params == 1 && !strcmp(f.params[0], "void") && !f.variadic) {
        free(f.params[0]);
        free(f.params);
        f.params = NULL;
        f.n_params = 0;
    }
    {
        const struct def_uses *u = find_def_uses(c, def);

        if (u && u->cached)
            f.body_hash = u->body_hash;
        else
            f.body_hash = hash_tokens(c, tok_at(c, ts_node_start_byte(body)),
                                      tok_at(c, f.end_byte > ts_node_end_byte(def) ? f.end_byte : ts_node_end_byte(body)));
        collect_head_types(c, &f, head, name_i);
        if (u) {
            add_uses(c, &f, u->decl_from, u->decl_to);
            add_uses(c, &f, u->body_from, u->body_to);
        }
        if (c->next && !c->oom && u && u->has_body && (u->cached || body_cacheable(c, body)))
            remember_body(c, body,
                          u->cached ? u->key : text_key(c->text, ts_node_start_byte(body), ts_node_end_byte(body)),
                          f.body_hash, u->body_from, u->body_to);
    }
    PUSH(c->out->functions, c->out->n_functions, f);
}

/* ---------------------------------------------------------------- types */

static char *tag_name(const struct ctx *c, TSNode spec)
{
    const char *t = ts_node_type(spec);
    TSNode name = ts_node_child_by_field_name(spec, "name", 4);
    struct sbuf b = { 0 };

    if (ts_node_is_null(name))
        return NULL;
    sbuf_addn(&b, t, strchr(t, '_') - t);
    sbuf_add(&b, " ");
    sbuf_addn(&b, c->text + ts_node_start_byte(name), ts_node_end_byte(name) - ts_node_start_byte(name));
    return sbuf_take(&b);
}

/* A declaration's type as text: a tagged struct with a body is just its
 * tag ("struct p"); qualifiers and the declarator (without its name) are
 * added around it, and `bitfield` (a bitfield_clause or a null node) after. */
static char *declared_type(const struct ctx *c, TSNode holder, TSNode declarator, TSNode bitfield)
{
    struct sbuf b = { 0 };
    TSNode type = ts_node_child_by_field_name(holder, "type", 4);
    TSNode name = decl_name(declarator);
    char *s;

    for (uint32_t i = 0; i < ts_node_child_count(holder); i++) {
        TSNode ch = ts_node_child(holder, i);
        if (!strcmp(ts_node_type(ch), "type_qualifier")) {
            sbuf_addn(&b, c->text + ts_node_start_byte(ch), ts_node_end_byte(ch) - ts_node_start_byte(ch));
            sbuf_add(&b, " ");
        }
    }
    if (!ts_node_is_null(type)) {
        char *tag = ts_node_is_null(ts_node_child_by_field_name(type, "body", 4)) ? NULL : tag_name(c, type);
        s = tag ? tag : render_node(c, type, null_node());
        sbuf_add(&b, s);
        free(s);
    }
    if (!ts_node_is_null(declarator)) {
        s = render_node(c, declarator, name);
        if (*s) {
            if (s[0] != '[')
                sbuf_add(&b, " ");
            sbuf_add(&b, s);
        }
        free(s);
    }
    if (!ts_node_is_null(bitfield)) {
        s = render_node(c, bitfield, null_node());
        sbuf_add(&b, " ");
        sbuf_add(&b, s);
        free(s);
    }
    return sbuf_take(&b);
}

/* The children of `n` in its `declarator` field (there may be several). */
static size_t declarators(TSNode n, TSNode *out, size_t max)
{
    TSTreeCursor cur = ts_tree_cursor_new(n);
    size_t count = 0;

    if (ts_tree_cursor_goto_first_child(&cur)) {
        do {
            const char *field = ts_tree_cursor_current_field_name(&cur);
            if (field && !strcmp(field, "declarator") && count < max)
                out[count++] = ts_tree_cursor_current_node(&cur);
        } while (ts_tree_cursor_goto_next_sibling(&cur));
    }
    ts_tree_cursor_delete(&cur);
    return count;
}

/* The named type a declaration is written with ("struct p", "vec2"), or NULL
 * for a built-in type or an anonymous struct. New string. */
static char *base_name(const struct ctx *c, TSNode type)
{
    const char *t;

    if (ts_node_is_null(type))
        return NULL;
    t = ts_node_type(type);
    if (!strcmp(t, "type_identifier"))
        return node_text(c, type);
    if (!strcmp(t, "struct_specifier") || !strcmp(t, "union_specifier") || !strcmp(t, "enum_specifier"))
        return tag_name(c, type);
    return NULL;
}

/* ---------------------------------------------------------------- layout
 *
 * Sizes and alignments for the LP64 ABI of x86-64 and aarch64 Linux, which
 * agree on every type below (long double included: 16 bytes, aligned to 16).
 * They differ on one thing: aarch64 lets unnamed bit-fields raise a record's
 * alignment, x86-64 does not; where that decides the result, the size is
 * unknown. A size is never guessed: a type from a header that is not in the
 * file or an array bound that is a macro makes it unknown (-1). */

struct layout {
    long size, align;           /* size < 0: unknown */
};

static const struct layout unknown_layout = { -1, -1 };

static const struct {
    const char *name;
    short size, align;
} builtin_types[] = {
    { "char", 1, 1 },          { "bool", 1, 1 },          { "_Bool", 1, 1 },
    { "int", 4, 4 },           { "float", 4, 4 },         { "double", 8, 8 },
    { "size_t", 8, 8 },        { "ssize_t", 8, 8 },       { "ptrdiff_t", 8, 8 },
    { "intptr_t", 8, 8 },      { "uintptr_t", 8, 8 },     { "intmax_t", 8, 8 },
    { "uintmax_t", 8, 8 },     { "int8_t", 1, 1 },        { "uint8_t", 1, 1 },
    { "int16_t", 2, 2 },       { "uint16_t", 2, 2 },      { "int32_t", 4, 4 },
    { "uint32_t", 4, 4 },      { "int64_t", 8, 8 },       { "uint64_t", 8, 8 },
    { "int_least8_t", 1, 1 },  { "uint_least8_t", 1, 1 }, { "int_least16_t", 2, 2 },
    { "uint_least16_t", 2, 2 }, { "int_least32_t", 4, 4 }, { "uint_least32_t", 4, 4 },
    { "int_least64_t", 8, 8 }, { "uint_least64_t", 8, 8 }, { "int_fast8_t", 1, 1 },
    { "uint_fast8_t", 1, 1 },  { "int_fast16_t", 8, 8 },  { "uint_fast16_t", 8, 8 },
    { "int_fast32_t", 8, 8 },  { "uint_fast32_t", 8, 8 }, { "int_fast64_t", 8, 8 },
    { "uint_fast64_t", 8, 8 }, { "char8_t", 1, 1 },       { "char16_t", 2, 2 },
    { "char32_t", 4, 4 },      { "wchar_t", 4, 4 },       { "wint_t", 4, 4 },
    { "off_t", 8, 8 },         { "off64_t", 8, 8 },       { "time_t", 8, 8 },
    { "clock_t", 8, 8 },       { "pid_t", 4, 4 },         { "uid_t", 4, 4 },
    { "gid_t", 4, 4 },         { "mode_t", 4, 4 },        { "nullptr_t", 8, 8 },
    { "max_align_t", 32, 16 }, { "__int128", 16, 16 },    { "__int128_t", 16, 16 },
    { "__uint128_t", 16, 16 }, { "sig_atomic_t", 4, 4 },
};

static struct layout builtin_layout(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof builtin_types / sizeof *builtin_types; i++)
        if (strlen(builtin_types[i].name) == n && !memcmp(builtin_types[i].name, s, n)) {
            struct layout l = { builtin_types[i].size, builtin_types[i].align };
            return l;
        }
    return unknown_layout;
}

static int is_builtin_type(const char *s, size_t n)
{
    return builtin_layout(s, n).size >= 0;
}

static long align_up(long v, long a)
{
    return a > 1 ? (v + a - 1) / a * a : v;
}

static long max_long(long a, long b)
{
    return a > b ? a : b;
}

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

static struct layout layout_spec(struct ctx *c, TSNode type);
static struct layout layout_decl(struct ctx *c, TSNode type, TSNode declarator, int *indirect);

static struct def *find_def(struct ctx *c, const char *name, size_t n)
{
    for (size_t i = 0; i < c->n_defs; i++)
        if (strlen(c->defs[i].name) == n && !memcmp(c->defs[i].name, name, n))
            return &c->defs[i];
    return NULL;
}

static void add_def(struct ctx *c, char *name, TSNode node, TSNode declarator)
{
    struct def d;

    if (!name || find_def(c, name, strlen(name))) {
        free(name);
        return;
    }
    memset(&d, 0, sizeof d);
    d.name = name;
    d.node = node;
    d.declarator = declarator;
    PUSH(c->defs, c->n_defs, d);
}

/* Records every named type and enumeration constant outside function
 * bodies, under the cursor's node. */
static void index_defs(struct ctx *c, TSTreeCursor *cur)
{
    TSNode n = ts_tree_cursor_current_node(cur);
    const char *t = ts_node_type(n);

    if (!strcmp(t, "function_definition"))
        return;
    if (!strcmp(t, "struct_specifier") || !strcmp(t, "union_specifier") || !strcmp(t, "enum_specifier")) {
        TSNode body = ts_node_child_by_field_id(n, c->f_body);

        if (!ts_node_is_null(body))
            add_def(c, tag_name(c, n), n, null_node());
        if (!ts_node_is_null(body) && !strcmp(t, "enum_specifier")) {
            long prev = -1;
            TSNode *kids;
            size_t n_kids = named_children(body, &kids);

            for (size_t i = 0; i < n_kids; i++) {
                TSNode e = kids[i];
                TSNode nm = ts_node_child_by_field_id(e, c->f_name);
                struct enum_const k;

                if (strcmp(ts_node_type(e), "enumerator") || ts_node_is_null(nm))
                    continue;
                memset(&k, 0, sizeof k);
                k.name = node_text(c, nm);
                k.node = e;
                k.prev = prev;
                prev = (long)c->n_consts;
                PUSH(c->consts, c->n_consts, k);
            }
            free(kids);
        }
    }
    if (!strcmp(t, "type_definition")) {
        TSNode decls[64];
        size_t n_decls = declarators(n, decls, 64);

        for (size_t k = 0; k < n_decls; k++) {
            TSNode nm = decl_name(decls[k]);
            if (!ts_node_is_null(nm) && !ts_node_is_missing(nm))
                add_def(c, node_text(c, nm), n, decls[k]);
        }
    }
    if (ts_tree_cursor_goto_first_child(cur)) {
        do
            index_defs(c, cur);
        while (ts_tree_cursor_goto_next_sibling(cur));
        ts_tree_cursor_goto_parent(cur);
    }
}

static int eval(struct ctx *c, TSNode e, long long *out, int depth);

/* The value of enumeration constant `i`. Returns 0, or -1 when unknown. */
static int const_value(struct ctx *c, size_t i, long long *out)
{
    long j = (long)i;
    long long steps = 0, base = 0;
    int known = 1;

    /* Walk back to a known or explicit value: no recursion per enumerator. */
    for (;;) {
        struct enum_const *k = &c->consts[j];
        TSNode v = ts_node_child_by_field_name(k->node, "value", 5);

        if (k->state == 2) {
            known = k->known;
            base = k->value;
            break;
        }
        if (!ts_node_is_null(v)) {
            if (k->state == 1) {
                known = 0;
                break;
            }
            k->state = 1;
            known = eval(c, v, &base, 0) == 0;
            k = &c->consts[j];
            k->state = 2;
            k->known = known;
            k->value = base;
            break;
        }
        if (k->prev < 0)
            break;
        j = k->prev;
        steps++;
    }
    for (long m = (long)i, s = steps; m != j && m >= 0; m = c->consts[m].prev, s--) {
        c->consts[m].state = 2;
        c->consts[m].known = known;
        c->consts[m].value = base + s;
    }
    if (j >= 0 && c->consts[j].state != 2) {
        c->consts[j].state = 2;
        c->consts[j].known = known;
        c->consts[j].value = base;
    }
    *out = base + steps;
    return known ? 0 : -1;
}

static int parse_number(const struct ctx *c, TSNode n, long long *out)
{
    char buf[64];
    size_t len = 0;
    uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
    char *end;
    unsigned long long v;

    for (uint32_t i = a; i < b && len + 1 < sizeof buf; i++)
        if (c->text[i] != '\'')
            buf[len++] = c->text[i];
    buf[len] = '\0';
    while (len > 0 && strchr("uUlL", buf[len - 1]))
        buf[--len] = '\0';
    if (len == 0 || strchr(buf, '.') || (!strchr(buf, 'x') && !strchr(buf, 'X') && strpbrk(buf, "eEpP")))
        return -1;
    if (len > 2 && buf[0] == '0' && (buf[1] == 'b' || buf[1] == 'B'))
        v = strtoull(buf + 2, &end, 2);
    else
        v = strtoull(buf, &end, 0);
    if (*end)
        return -1;
    *out = (long long)v;
    return 0;
}

static int parse_char(const struct ctx *c, TSNode n, long long *out)
{
    uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
    const char *s = c->text + a;
    static const char esc[] = "n\nt\tr\r0\0\\\\''\"\"a\ab\bf\fv\v";

    if (b - a == 3 && s[0] == '\'' && s[2] == '\'') {
        *out = (unsigned char)s[1];
        return 0;
    }
    if (b - a == 4 && s[0] == '\'' && s[1] == '\\' && s[3] == '\'')
        for (size_t i = 0; i + 1 < sizeof esc; i += 2)
            if (esc[i] == s[2]) {
                *out = (unsigned char)esc[i + 1];
                return 0;
            }
    return -1;
}

/* Evaluates a constant expression: integers, characters, enumeration
 * constants, arithmetic, sizeof/_Alignof of a type. Returns 0, or -1 when
 * it needs something the file does not say (a macro, a variable). */
static int eval(struct ctx *c, TSNode e, long long *out, int depth)
{
    const char *t;
    long long x, y;

    if (ts_node_is_null(e) || depth > 100)
        return -1;
    t = ts_node_type(e);
    if (!strcmp(t, "number_literal"))
        return parse_number(c, e, out);
    if (!strcmp(t, "char_literal"))
        return parse_char(c, e, out);
    if (!strcmp(t, "parenthesized_expression"))
        return eval(c, ts_node_named_child(e, 0), out, depth + 1);
    if (!strcmp(t, "identifier")) {
        uint32_t a = ts_node_start_byte(e), n = ts_node_end_byte(e) - a;
        for (size_t i = 0; i < c->n_consts; i++)
            if (strlen(c->consts[i].name) == n && !memcmp(c->consts[i].name, c->text + a, n))
                return const_value(c, i, out);
        return -1;
    }
    if (!strcmp(t, "cast_expression"))
        return eval(c, ts_node_child_by_field_name(e, "value", 5), out, depth + 1);
    if (!strcmp(t, "sizeof_expression") || !strcmp(t, "alignof_expression")) {
        TSNode d = ts_node_child_by_field_name(e, "type", 4);
        struct layout l;

        if (ts_node_is_null(d))
            return -1;
        l = layout_decl(c, ts_node_child_by_field_name(d, "type", 4), ts_node_child_by_field_name(d, "declarator", 10),
                        NULL);
        if (l.size < 0)
            return -1;
        *out = t[0] == 's' ? l.size : l.align;
        return 0;
    }
    if (!strcmp(t, "conditional_expression")) {
        if (eval(c, ts_node_child_by_field_name(e, "condition", 9), &x, depth + 1))
            return -1;
        return eval(c, ts_node_child_by_field_name(e, x ? "consequence" : "alternative", 11), out,
                    depth + 1);
    }
    if (!strcmp(t, "unary_expression")) {
        TSNode op = ts_node_child_by_field_name(e, "operator", 8);

        if (eval(c, ts_node_child_by_field_name(e, "argument", 8), &x, depth + 1))
            return -1;
        if (node_is(c, op, "-"))
            *out = (long long)(0ULL - (unsigned long long)x);
        else if (node_is(c, op, "+"))
            *out = x;
        else if (node_is(c, op, "~"))
            *out = ~x;
        else if (node_is(c, op, "!"))
            *out = !x;
        else
            return -1;
        return 0;
    }
    if (!strcmp(t, "binary_expression")) {
        TSNode op = ts_node_child_by_field_name(e, "operator", 8);
        unsigned long long ux, uy;

        if (eval(c, ts_node_child_by_field_name(e, "left", 4), &x, depth + 1) ||
            eval(c, ts_node_child_by_field_name(e, "right", 5), &y, depth + 1))
            return -1;
        ux = (unsigned long long)x;
        uy = (unsigned long long)y;
        if (node_is(c, op, "+"))
            *out = (long long)(ux + uy);
        else if (node_is(c, op, "-"))
            *out = (long long)(ux - uy);
        else if (node_is(c, op, "*"))
            *out = (long long)(ux * uy);
        else if ((node_is(c, op, "/") || node_is(c, op, "%")) && y != 0 && !(x == INT64_MIN && y == -1))
            *out = node_is(c, op, "/") ? x / y : x % y;
        else if (node_is(c, op, "<<") && y >= 0 && y < 64)
            *out = (long long)(ux << y);
        else if (node_is(c, op, ">>") && y >= 0 && y < 64)
            *out = x >> y;
        else if (node_is(c, op, "&"))
            *out = x & y;
        else if (node_is(c, op, "|"))
            *out = x | y;
        else if (node_is(c, op, "^"))
            *out = x ^ y;
        else if (node_is(c, op, "&&"))
            *out = x && y;
        else if (node_is(c, op, "||"))
            *out = x || y;
        else if (node_is(c, op, "<"))
            *out = x < y;
        else if (node_is(c, op, ">"))
            *out = x > y;
        else if (node_is(c, op, "<="))
            *out = x <= y;
        else if (node_is(c, op, ">="))
            *out = x >= y;
        else if (node_is(c, op, "=="))
            *out = x == y;
        else if (node_is(c, op, "!="))
            *out = x != y;
        else
            return -1;
        return 0;
    }
    return -1;
}

/* Reads `packed`, `aligned(N)` and `_Alignas(N)` among the children of `n`. */
static void read_attrs(struct ctx *c, TSNode n, int *packed, long *aligned)
{
    for (uint32_t i = 0; i < ts_node_child_count(n); i++) {
        TSNode ch = ts_node_child(n, i);
        const char *t = ts_node_type(ch);
        long long v;

        if (!strcmp(t, "attribute_specifier")) {
            TSNode args = ts_node_named_child(ch, 0);

            for (uint32_t k = 0; !ts_node_is_null(args) && k < ts_node_named_child_count(args); k++) {
                TSNode a = ts_node_named_child(args, k);
                TSNode fn = ts_node_child_by_field_name(a, "function", 8);

                if (node_is(c, a, "packed") || node_is(c, a, "__packed__"))
                    *packed = 1;
                else if (node_is(c, a, "aligned") || node_is(c, a, "__aligned__"))
                    *aligned = max_long(*aligned, 16);
                else if (!ts_node_is_null(fn) && (node_is(c, fn, "aligned") || node_is(c, fn, "__aligned__")) &&
                         eval(c, ts_node_named_child(ts_node_child_by_field_name(a, "arguments", 9), 0), &v, 0) ==
                             0 &&
                         v > 0)
                    *aligned = max_long(*aligned, (long)v);
            }
        } else if (!strcmp(t, "type_qualifier") && ts_node_named_child_count(ch) > 0 &&
                   !strcmp(ts_node_type(ts_node_named_child(ch, 0)), "alignas_qualifier")) {
            TSNode arg = ts_node_named_child(ts_node_named_child(ch, 0), 0);

            if (!strcmp(ts_node_type(arg), "type_descriptor")) {
                struct layout l = layout_decl(c, ts_node_child_by_field_name(arg, "type", 4),
                                              ts_node_child_by_field_name(arg, "declarator", 10), NULL);
                if (l.size >= 0)
                    *aligned = max_long(*aligned, l.align);
            } else if (eval(c, arg, &v, 0) == 0 && v > 0) {
                *aligned = max_long(*aligned, (long)v);
            }
        }
    }
}

/* `unsigned long`, `long double`, `short int`... from its words. */
static struct layout sized_layout(const struct ctx *c, TSNode n)
{
    int longs = 0, shorts = 0, chars = 0, doubles = 0, wide = 0;
    struct layout l = { 4, 4 };

    for (size_t i = tok_at(c, ts_node_start_byte(n)); i < c->n_toks && c->toks[i].start < ts_node_end_byte(n); i++) {
        if (tok_is(c, i, "long"))
            longs++;
        else if (tok_is(c, i, "short"))
            shorts++;
        else if (tok_is(c, i, "char"))
            chars++;
        else if (tok_is(c, i, "double"))
            doubles++;
        else if (tok_is(c, i, "__int128"))
            wide++;
        else if (!tok_is(c, i, "int") && !tok_is(c, i, "signed") && !tok_is(c, i, "unsigned") &&
                 !tok_is(c, i, "__signed__") && !tok_is(c, i, "__unsigned__") && !tok_is(c, i, "const") &&
                 !tok_is(c, i, "volatile"))
            return unknown_layout;
    }
    if (wide)
        l.size = l.align = 16;
    else if (doubles)
        l.size = l.align = longs ? 16 : 8;
    else if (chars)
        l.size = l.align = 1;
    else if (shorts)
        l.size = l.align = 2;
    else if (longs)
        l.size = l.align = 8;
    return l;
}

static struct layout layout_enum(struct ctx *c, TSNode spec)
{
    TSNode under = ts_node_child_by_field_name(spec, "underlying_type", 15);
    TSNode body = ts_node_child_by_field_name(spec, "body", 4);
    long long lo = 0, hi = 0;
    int packed = 0;
    long aligned = 0;
    size_t hint = 0;
    struct layout l = { 4, 4 };

    if (!ts_node_is_null(under))
        return layout_spec(c, under);
    read_attrs(c, spec, &packed, &aligned);
    for (uint32_t i = 0; i < ts_node_named_child_count(body); i++) {
        TSNode e = ts_node_named_child(body, i);
        long long v;
        size_t k;

        if (strcmp(ts_node_type(e), "enumerator"))
            continue;
        /* An enum's constants are indexed together, in order. */
        k = hint < c->n_consts && ts_node_eq(c->consts[hint].node, e) ? hint : 0;
        while (k < c->n_consts && !ts_node_eq(c->consts[k].node, e))
            k++;
        hint = k + 1;
        if (k == c->n_consts || const_value(c, k, &v))
            return unknown_layout;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if (packed) {
        l.size = lo >= -128 && hi <= (lo < 0 ? 127 : 255) ? 1 : lo >= -32768 && hi <= (lo < 0 ? 32767 : 65535) ? 2 : 4;
        if (l.size == 4 && !(lo >= INT32_MIN && hi <= (lo < 0 ? (long long)INT32_MAX : (long long)UINT32_MAX)))
            l.size = 8;
        l.align = l.size;
    } else if (!(lo >= INT32_MIN && hi <= INT32_MAX) && !(lo >= 0 && hi <= (long long)UINT32_MAX)) {
        l.size = l.align = 8;
    }
    if (aligned > l.align)
        l.align = aligned;
    l.size = align_up(l.size, l.align);
    return l;
}

static struct layout layout_record(struct ctx *c, TSNode spec, struct analysis_type *ty, long base);

/* The layout of the named type `name` (a tag like "struct p", or a typedef). */
static struct layout def_layout(struct ctx *c, const char *name, size_t n)
{
    struct def *d = find_def(c, name, n);
    size_t i;
    struct layout l;

    if (!d)
        return memchr(name, ' ', n) ? unknown_layout : builtin_layout(name, n);
    if (d->state == 2)
        return d->layout;
    if (d->state == 1)
        return unknown_layout; /* a type that contains itself */
    i = (size_t)(d - c->defs);
    d->state = 1;
    if (!ts_node_is_null(d->declarator)) {
        int packed = 0;
        long aligned = 0;
        TSNode def = d->node, decl = d->declarator;

        l = layout_decl(c, ts_node_child_by_field_name(def, "type", 4), decl, NULL);
        read_attrs(c, def, &packed, &aligned);
        if (aligned > 0 && l.size >= 0)
            l.align = aligned; /* on a typedef, aligned() may also lower it; the size stays */
    } else if (!strcmp(ts_node_type(d->node), "enum_specifier")) {
        l = layout_enum(c, d->node);
    } else {
        l = layout_record(c, d->node, NULL, 0);
    }
    c->defs[i].state = 2;
    c->defs[i].layout = l;
    return l;
}

static struct layout layout_spec(struct ctx *c, TSNode type)
{
    const char *t;

    if (ts_node_is_null(type))
        return unknown_layout;
    t = ts_node_type(type);
    if (!strcmp(t, "primitive_type"))
        return builtin_layout(c->text + ts_node_start_byte(type), ts_node_end_byte(type) - ts_node_start_byte(type));
    if (!strcmp(t, "sized_type_specifier"))
        return sized_layout(c, type);
    if (!strcmp(t, "struct_specifier") || !strcmp(t, "union_specifier") || !strcmp(t, "enum_specifier")) {
        TSNode body = ts_node_child_by_field_name(type, "body", 4);
        char *tag;
        struct layout l;

        if (!ts_node_is_null(body))
            return t[0] == 'e' ? layout_enum(c, type) : layout_record(c, type, NULL, 0);
        tag = tag_name(c, type);
        l = tag ? def_layout(c, tag, strlen(tag)) : unknown_layout;
        free(tag);
        return l;
    }
    if (!strcmp(t, "type_identifier"))
        return def_layout(c, c->text + ts_node_start_byte(type), ts_node_end_byte(type) - ts_node_start_byte(type));
    return unknown_layout;
}

/* The layout of `type` as modified by `declarator` (pointers, arrays,
 * functions; may be null). `*indirect` (may be NULL) is set when the base
 * type is only reached through a pointer or a function. */
static struct layout layout_decl(struct ctx *c, TSNode type, TSNode declarator, int *indirect)
{
    TSNode ops[32];
    size_t n = 0, start = 0;
    long last = -1;
    struct layout l;

    for (TSNode d = declarator; !ts_node_is_null(d) && n < 32;) {
        const char *t = ts_node_type(d);

        if (strstr(t, "pointer_declarator") || strstr(t, "function_declarator") || strstr(t, "array_declarator")) {
            if (!strstr(t, "array_declarator"))
                last = (long)n;
            ops[n++] = d;
            d = ts_node_child_by_field_name(d, "declarator", 10);
        } else if (strstr(t, "parenthesized_declarator") || !strcmp(t, "attributed_declarator")) {
            d = ts_node_named_child(d, 0);
        } else {
            break;
        }
    }
    if (indirect)
        *indirect = last >= 0;
    if (last >= 0) {
        start = (size_t)last + 1;
        l.size = l.align = strstr(ts_node_type(ops[last]), "pointer") ? 8 : -1;
    } else {
        l = layout_spec(c, type);
    }
    /* Declarators read outside in: `*a[4]` is an array of pointers. */
    for (size_t i = start; i < n && l.size >= 0; i++) {
        TSNode size = ts_node_child_by_field_name(ops[i], "size", 4);
        long long count;

        if (ts_node_is_null(size))
            l.size = 0; /* a flexible array member */
        else if (eval(c, size, &count, 0) == 0 && count >= 0 && count < (1LL << 40))
            l.size *= (long)count;
        else
            l = unknown_layout;
    }
    return l;
}

static void push_field(struct analysis_type *ty, char *name, char *type, char *base, int indirect, long bits,
                       int width, long size)
{
    struct analysis_field f;

    f.size = width >= 0 ? -1 : size;
    f.name = name;
    f.type = type;
    f.base = base;
    f.indirect = indirect;
    f.offset = bits < 0 ? -1 : bits / 8;
    f.bit = bits < 0 || width < 0 ? 0 : (int)(bits % 8);
    f.width = width;
    PUSH(ty->fields, ty->n_fields, f);
}

/* One declarator of a field declaration, with its bit-field width if any. */
struct member {
    TSNode declarator, bitfield;
};

static size_t members(TSNode fd, struct member *out, size_t max)
{
    TSTreeCursor cur = ts_tree_cursor_new(fd);
    size_t n = 0;

    if (ts_tree_cursor_goto_first_child(&cur)) {
        do {
            const char *field = ts_tree_cursor_current_field_name(&cur);
            TSNode ch = ts_tree_cursor_current_node(&cur);

            if (field && !strcmp(field, "declarator") && n < max) {
                out[n].declarator = ch;
                out[n++].bitfield = null_node();
            } else if (!strcmp(ts_node_type(ch), "bitfield_clause")) {
                if (n > 0 && ts_node_is_null(out[n - 1].bitfield))
                    out[n - 1].bitfield = ch;
                else if (n < max) {
                    out[n].declarator = null_node();
                    out[n++].bitfield = ch;
                }
            }
        } while (ts_tree_cursor_goto_next_sibling(&cur));
    }
    ts_tree_cursor_delete(&cur);
    return n;
}

/* Lays out the struct or union `spec` (which has a body) by the rules of the
 * SysV ABIs: each member at the next multiple of its alignment (1 when
 * packed, more with aligned(N)); a bit-field in the unit of its type unless
 * it would cross its alignment boundary; a zero-width one aligns the next.
 * When `ty` is given, the members are appended to it as fields, their
 * offsets counted from `base` bits (-1: unknown); the members of anonymous
 * structs and unions are appended as the parent's. */
static struct layout layout_record(struct ctx *c, TSNode spec, struct analysis_type *ty, long base)
{
    TSNode body = ts_node_child_by_field_name(spec, "body", 4);
    int is_union = !strcmp(ts_node_type(spec), "union_specifier");
    int packed = 0, known = 1;
    long aligned = 0, pos = 0, size = 0, align = 1, unnamed_align = 1;
    struct layout l;

    read_attrs(c, spec, &packed, &aligned);
    for (uint32_t i = 0; i < ts_node_named_child_count(body); i++) {
        TSNode fd = ts_node_named_child(body, i);
        TSNode type = ts_node_child_by_field_name(fd, "type", 4);
        struct member m[64];
        size_t n_m;
        int fpacked = 0;
        long faligned = 0;

        if (is_preproc(fd)) {
            known = 0; /* which fields are in depends on the preprocessor */
            continue;
        }
        if (strcmp(ts_node_type(fd), "field_declaration"))
            continue;
        read_attrs(c, fd, &fpacked, &faligned);
        n_m = members(fd, m, 64);
        if (n_m == 0) {
            const char *t = ts_node_type(type);
            int anonymous = (!strcmp(t, "struct_specifier") || !strcmp(t, "union_specifier")) &&
                            !ts_node_is_null(ts_node_child_by_field_name(type, "body", 4)) &&
                            ts_node_is_null(ts_node_child_by_field_name(type, "name", 4));
            long a, off = -1;

            if (!anonymous) {
                /* A macro, or a tagged declaration that declares no member. */
                if (ts_node_is_null(ts_node_child_by_field_name(type, "body", 4)) || ts_node_has_error(fd)) {
                    known = 0;
                    if (ty)
                        push_field(ty, strdup("(anonymous)"), render_node(c, fd, null_node()), NULL, 0, -1, -1, -1);
                }
                continue;
            }
            l = layout_spec(c, type);
            if (l.size < 0)
                known = 0;
            if (known) {
                a = packed || fpacked ? 1 : l.align;
                a = max_long(a, faligned);
                off = is_union ? 0 : align_up(pos, a * 8);
                pos = off + l.size * 8;
                size = max_long(size, pos);
                align = max_long(align, a);
            }
            if (ty)
                layout_record(c, type, ty, known && base >= 0 ? base + off : -1);
            continue;
        }
        for (size_t k = 0; k < n_m; k++) {
            TSNode nm = decl_name(m[k].declarator);
            int named = !ts_node_is_null(nm) && !ts_node_is_missing(nm);
            int indirect = 0;
            long long width = -1;
            long off = -1, a;

            l = layout_decl(c, type, m[k].declarator, &indirect);
            if (!ts_node_is_null(m[k].bitfield) &&
                (eval(c, ts_node_named_child(m[k].bitfield, 0), &width, 0) || width < 0 || width > 128))
                known = 0;
            if (l.size < 0)
                known = 0;
            if (known) {
                a = packed || fpacked ? 1 : l.align;
                a = max_long(a, faligned);
                if (width == 0) {
                    pos = is_union ? pos : align_up(pos, l.align * 8);
                    unnamed_align = max_long(unnamed_align, l.align);
                } else if (width > 0) {
                    long unit = l.align * 8;

                    off = is_union ? 0 : pos;
                    if (!packed && !fpacked && off / unit != (off + width - 1) / unit)
                        off = align_up(off, unit);
                    if (named)
                        align = max_long(align, a);
                    else
                        unnamed_align = max_long(unnamed_align, a);
                    if (!is_union)
                        pos = off + width;
                    size = max_long(size, off + width);
                } else {
                    off = is_union ? 0 : align_up(pos, a * 8);
                    if (!is_union)
                        pos = off + l.size * 8;
                    size = max_long(size, off + l.size * 8);
                    align = max_long(align, a);
                }
                size = max_long(size, pos);
            }
            if (ty && named)
                push_field(ty, node_text(c, nm), declared_type(c, fd, m[k].declarator, m[k].bitfield),
                           base_name(c, type), indirect, known && base >= 0 && off >= 0 ? base + off : -1,
                           (int)width, l.size);
        }
    }
    if (!known)
        return unknown_layout;
    align = max_long(align, aligned);
    if (unnamed_align > align)
        return unknown_layout; /* aarch64 counts unnamed bit-fields, x86-64 does not */
    l.align = align;
    l.size = align_up((size + 7) / 8, align);
    return l;
}

static void add_enumerators(const struct ctx *c, struct analysis_type *t, TSNode body)
{
    for (uint32_t i = 0; i < ts_node_named_child_count(body); i++) {
        TSNode fd = ts_node_named_child(body, i);

        if (!strcmp(ts_node_type(fd), "enumerator")) {
            TSNode v = ts_node_child_by_field_name(fd, "value", 5);
            char *value = ts_node_is_null(v) ? strdup("") : render_node(c, v, null_node());

            push_field(t, node_text(c, ts_node_child_by_field_name(fd, "name", 4)), value, NULL, 0, -1, -1, -1);
        }
    }
}

static void add_record(struct ctx *c, TSNode spec, char *name)
{
    const char *t = ts_node_type(spec);
    struct analysis_type ty;
    struct layout l;

    memset(&ty, 0, sizeof ty);
    ty.name = name;
    ty.kind = strndup(t, strchr(t, '_') - t);
    ty.range = node_range(spec);
    if (!strcmp(t, "enum_specifier")) {
        add_enumerators(c, &ty, ts_node_child_by_field_name(spec, "body", 4));
        l = layout_enum(c, spec);
    } else {
        l = layout_record(c, spec, &ty, 0);
    }
    ty.size = l.size;
    ty.align = l.size < 0 ? -1 : l.align;
    PUSH(c->out->types, c->out->n_types, ty);
}

static void add_typedef(struct ctx *c, TSNode def)
{
    TSNode type = ts_node_child_by_field_name(def, "type", 4);
    int anonymous_body = !ts_node_is_null(type) && !ts_node_is_null(ts_node_child_by_field_name(type, "body", 4)) &&
                         ts_node_is_null(ts_node_child_by_field_name(type, "name", 4));

    TSNode decls[64];
    size_t n_decls = declarators(def, decls, 64);

    for (size_t k = 0; k < n_decls; k++) {
        TSNode d = decls[k];
        TSNode nm;
        struct def *known;
        struct layout l;

        nm = decl_name(d);
        if (ts_node_is_null(nm))
            continue;
        known = find_def(c, c->text + ts_node_start_byte(nm), ts_node_end_byte(nm) - ts_node_start_byte(nm));
        /* The first definition of a name is the one layouts use. */
        l = known && ts_node_eq(known->declarator, d)
                ? def_layout(c, known->name, strlen(known->name))
                : layout_decl(c, type, d, NULL);
        if (anonymous_body && !strcmp(ts_node_type(d), "type_identifier")) {
            add_record(c, type, node_text(c, nm));
        } else {
            struct analysis_type ty;

            memset(&ty, 0, sizeof ty);
            ty.name = node_text(c, nm);
            ty.kind = strdup("typedef");
            ty.target = declared_type(c, def, d, null_node());
            ty.range = node_range(def);
            ty.base = base_name(c, type);
            layout_decl(c, type, d, &ty.indirect);
            PUSH(c->out->types, c->out->n_types, ty);
        }
        c->out->types[c->out->n_types - 1].size = l.size;
        c->out->types[c->out->n_types - 1].align = l.size < 0 ? -1 : l.align;
    }
}

/* ---------------------------------------------------------------- walk */

static void walk(struct ctx *c, TSTreeCursor *cur)
{
    TSNode n = ts_tree_cursor_current_node(cur);
    const char *t = ts_node_type(n);

    if (ts_node_start_byte(n) < c->body_end)
        return; /* the rest of a function body tree-sitter cut short */

    if (!strcmp(t, "function_definition")) {
        add_function(c, n);
        /* Types in the head, e.g. a struct defined in the return type. */
        return;
    }
    if (!strcmp(t, "struct_specifier") || !strcmp(t, "union_specifier") || !strcmp(t, "enum_specifier")) {
        char *name = tag_name(c, n);

        if (!ts_node_is_null(ts_node_child_by_field_id(n, c->f_body)) && name)
            add_record(c, n, name);
        else
            free(name);
    }
    if (!strcmp(t, "type_definition"))
        add_typedef(c, n);
    if (ts_tree_cursor_goto_first_child(cur)) {
        do
            walk(c, cur);
        while (ts_tree_cursor_goto_next_sibling(cur));
        ts_tree_cursor_goto_parent(cur);
    }
}

/* A marker that is not in the head of a function definition: fine in a
 * function prototype or a preprocessor line, an error anywhere else. */
static int marker_allowed(struct ctx *c, size_t i)
{
    for (size_t k = 0; k < c->out->n_functions; k++) {
        const struct analysis_function *f = &c->out->functions[k];
        if (c->toks[i].start >= f->start_byte && c->toks[i].start < f->name_byte)
            return 1;
    }
    if (c->toks[i].flags & TOK_IN_DIRECTIVE)
        return 1;
    /* A prototype: a parameter list before the end of the declaration. */
    for (size_t j = i + 1; j < c->n_toks && !tok_is(c, j, "{") && !tok_is(c, j, "}"); j++) {
        if (tok_is(c, j, ";"))
            break;
        if (tok_is(c, j, "(") && (c->toks[j].flags & TOK_PARENT_PARAMS)) {
            while (j < c->n_toks && !tok_is(c, j, ";") && !tok_is(c, j, "{"))
                j++;
            return j < c->n_toks && tok_is(c, j, ";");
        }
    }
    return 0;
}

/* Whether `n` has a syntax error other than the ERROR node tree-sitter
 * makes of one identifier (a macro it does not know, like the marker). */
static int has_other_error(TSNode n)
{
    if (ts_node_is_missing(n))
        return 1;
    if (!ts_node_has_error(n))
        return 0;
    if (!strcmp(ts_node_type(n), "ERROR"))
        return !(ts_node_child_count(n) == 1 && !strcmp(ts_node_type(ts_node_child(n, 0)), "identifier"));
    for (uint32_t i = 0; i < ts_node_child_count(n); i++)
        if (has_other_error(ts_node_child(n, i)))
            return 1;
    return 0;
}

static void check_stray_markers(struct ctx *c)
{
    for (size_t i = 0; i < c->n_toks; i++) {
        struct analysis_problem p;
        struct sbuf b = { 0 };

        if (!c->toks[i].top || marker_allowed(c, i))
            continue;
        /* Code being typed is often broken: say nothing until it parses. */
        if (has_other_error(c->tops[c->toks[i].top - 1]))
            continue;
        p.range = node_range(c->toks[i].node);
        sbuf_printf(&b, "%s can only mark a function definition; it has no effect here", c->marker);
        p.message = sbuf_take(&b);
        PUSH(c->out->problems, c->out->n_problems, p);
    }
}

struct analysis_cache *analysis_cache_new(void)
{
    return calloc(1, sizeof(struct analysis_cache));
}

static void cache_clear(struct analysis_cache *k)
{
    free(k->marker);
    free(k->text);
    free(k->entries);
    free(k->uses);
    free(k->slots);
    memset(k, 0, sizeof *k);
}

void analysis_cache_free(struct analysis_cache *self)
{
    if (!self)
        return;
    cache_clear(self);
    free(self);
}

/* Makes `next` (this run's bodies, of `text`) the cache's content. */
static void cache_install(struct analysis_cache *self, struct analysis_cache *next, const char *text, size_t len,
                          const char *marker)
{
    size_t n_slots = 16;

    while (n_slots < 2 * next->n_entries)
        n_slots *= 2;
    next->slots = calloc(n_slots, sizeof *next->slots);
    next->text = malloc(len + 1);
    next->marker = strdup(marker);
    cache_clear(self);
    if (!next->slots || !next->text || !next->marker) {
        cache_clear(next);
        return;
    }
    memcpy(next->text, text, len);
    next->text[len] = '\0';
    next->n_slots = n_slots;
    for (size_t i = 0; i < next->n_entries; i++) {
        size_t j = next->entries[i].key & (n_slots - 1);
        while (next->slots[j])
            j = (j + 1) & (n_slots - 1);
        next->slots[j] = i + 1;
    }
    *self = *next;
}

/* `given`: the caller read `tree` already, `given_reading` is its reading
 * (or NULL); otherwise it is read here. */
static struct analysis *run(const char *text, size_t len, const TSTree *tree, const char *marker,
                            struct analysis_cache *cache, bool given, const TSTree *given_reading)
{
    struct ctx c;
    const TSLanguage *lang;
    TSTreeCursor cur;
    struct analysis_cache next;

    memset(&c, 0, sizeof c);
    memset(&next, 0, sizeof next);
    c.text = text;
    c.len = len;
    c.marker = marker && *marker ? marker : "HOT";
    c.marker_len = strlen(c.marker);
    if (cache) {
        c.cache = cache->marker && !strcmp(cache->marker, c.marker) ? cache : NULL;
        c.next = &next;
    }
    c.out = calloc(1, sizeof *c.out);
    if (!c.out)
        return NULL;
    /* where tree-sitter lost the top level (conditionals whose branches
     * each open a brace), the reading the patch builder uses too */
    TSTree *reading = given ? NULL : grammar_reading(text, len, tree, false);
    if (reading)
        tree = reading;
    else if (given_reading)
        tree = given_reading;
    lang = ts_tree_language(tree);
    c.f_declarator = ts_language_field_id_for_name(lang, "declarator", 10);
    c.f_body = ts_language_field_id_for_name(lang, "body", 4);
    c.f_name = ts_language_field_id_for_name(lang, "name", 4);
    c.f_parameters = ts_language_field_id_for_name(lang, "parameters", 10);
    c.f_type = ts_language_field_id_for_name(lang, "type", 4);
    c.f_value = ts_language_field_id_for_name(lang, "value", 5);
    cur = ts_tree_cursor_new(ts_tree_root_node(tree));
    collect_tokens(&c, &cur, NULL);
    ts_tree_cursor_reset(&cur, ts_tree_root_node(tree));
    index_defs(&c, &cur);
    ts_tree_cursor_reset(&cur, ts_tree_root_node(tree));
    walk(&c, &cur);
    ts_tree_cursor_delete(&cur);
    check_stray_markers(&c);
    free(c.toks);
    free(c.path);
    free(c.tops);
    free(c.uses);
    free(c.defuses);
    for (size_t i = 0; i < c.n_defs; i++)
        free(c.defs[i].name);
    free(c.defs);
    for (size_t i = 0; i < c.n_consts; i++)
        free(c.consts[i].name);
    free(c.consts);
    if (cache && !c.oom)
        cache_install(cache, &next, text, len, c.marker);
    else if (cache)
        cache_clear(&next), cache_clear(cache);
    if (reading)
        ts_tree_delete(reading);
    return c.out;
}

struct analysis *analysis_run(const char *text, size_t len, const TSTree *tree, const char *marker)
{
    return run(text, len, tree, marker, NULL, false, NULL);
}

struct analysis *analysis_run_cached(const char *text, size_t len, const TSTree *tree, const char *marker,
                                     struct analysis_cache *cache)
{
    return run(text, len, tree, marker, cache, false, NULL);
}

struct analysis *analysis_run_read(const char *text, size_t len, const TSTree *tree, const TSTree *reading,
                                   const char *marker, struct analysis_cache *cache)
{
    return run(text, len, tree, marker, cache, true, reading);
}

struct analysis *analysis_of_text(const char *text, size_t len, const char *marker)
{
    TSParser *parser = ts_parser_new();
    TSTree *tree;
    struct analysis *a = NULL;

    ts_parser_set_language(parser, grammar_language());
    tree = ts_parser_parse_string(parser, NULL, text, (uint32_t)len);
    if (tree)
        a = analysis_run(text, len, tree, marker);
    ts_tree_delete(tree);
    ts_parser_delete(parser);
    return a;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void analysis_free(struct analysis *self)
{
    if (!self)
        return;
    for (size_t i = 0; i < self->n_functions; i++) {
        struct analysis_function *f = &self->functions[i];
        free(f->name);
        free(f->ret);
        free_strings(f->params, f->n_params);
        free_strings(f->types, f->n_types);
    }
    free(self->functions);
    for (size_t i = 0; i < self->n_types; i++) {
        struct analysis_type *t = &self->types[i];
        free(t->name);
        free(t->kind);
        free(t->target);
        free(t->base);
        for (size_t k = 0; k < t->n_fields; k++) {
            free(t->fields[k].name);
            free(t->fields[k].type);
            free(t->fields[k].base);
        }
        free(t->fields);
    }
    free(self->types);
    for (size_t i = 0; i < self->n_problems; i++)
        free(self->problems[i].message);
    free(self->problems);
    free(self);
}

/* analysis_copy's helpers: `*ok` becomes 0 when an allocation fails (the
 * copy is then still safe to analysis_free). */
static char *copy_string(const char *s, int *ok)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *ok = 0;
    return d;
}

static char **copy_strings(char *const *v, size_t n, size_t *n_out, int *ok)
{
    char **d;

    *n_out = 0;
    if (!v)
        return NULL;
    d = calloc(n ? n : 1, sizeof *d);
    if (!d) {
        *ok = 0;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        d[i] = copy_string(v[i], ok);
    *n_out = n;
    return d;
}

/* calloc'ed array of `n` elements of `size` (NULL when `src` is). */
static void *copy_array(const void *src, size_t n, size_t size, int *ok)
{
    void *d;

    if (!src)
        return NULL;
    d = calloc(n ? n : 1, size);
    if (!d)
        *ok = 0;
    return d;
}

struct analysis *analysis_copy(const struct analysis *a)
{
    struct analysis *d = calloc(1, sizeof *d);
    int ok = 1;

    if (!d)
        return NULL;
    d->functions = copy_array(a->functions, a->n_functions, sizeof *d->functions, &ok);
    if (d->functions) {
        d->n_functions = a->n_functions;
        for (size_t i = 0; i < a->n_functions; i++) {
            const struct analysis_function *f = &a->functions[i];
            struct analysis_function *g = &d->functions[i];

            *g = *f;
            g->name = copy_string(f->name, &ok);
            g->ret = copy_string(f->ret, &ok);
            g->params = copy_strings(f->params, f->n_params, &g->n_params, &ok);
            g->types = copy_strings(f->types, f->n_types, &g->n_types, &ok);
        }
    }
    d->types = copy_array(a->types, a->n_types, sizeof *d->types, &ok);
    if (d->types) {
        d->n_types = a->n_types;
        for (size_t i = 0; i < a->n_types; i++) {
            const struct analysis_type *t = &a->types[i];
            struct analysis_type *u = &d->types[i];

            *u = *t;
            u->name = copy_string(t->name, &ok);
            u->kind = copy_string(t->kind, &ok);
            u->target = copy_string(t->target, &ok);
            u->base = copy_string(t->base, &ok);
            u->n_fields = 0;
            u->fields = copy_array(t->fields, t->n_fields, sizeof *u->fields, &ok);
            if (!u->fields)
                continue;
            u->n_fields = t->n_fields;
            for (size_t k = 0; k < t->n_fields; k++) {
                u->fields[k] = t->fields[k];
                u->fields[k].name = copy_string(t->fields[k].name, &ok);
                u->fields[k].type = copy_string(t->fields[k].type, &ok);
                u->fields[k].base = copy_string(t->fields[k].base, &ok);
            }
        }
    }
    d->problems = copy_array(a->problems, a->n_problems, sizeof *d->problems, &ok);
    if (d->problems) {
        d->n_problems = a->n_problems;
        for (size_t i = 0; i < a->n_problems; i++) {
            d->problems[i] = a->problems[i];
            d->problems[i].message = copy_string(a->problems[i].message, &ok);
        }
    }
    if (!ok) {
        analysis_free(d);
        return NULL;
    }
    return d;
}

const struct analysis_function *analysis_find_function(const struct analysis *self, const char *name)
{
    for (size_t i = 0; self && i < self->n_functions; i++)
        if (!strcmp(self->functions[i].name, name))
            return &self->functions[i];
    return NULL;
}

const struct analysis_type *analysis_find_type(const struct analysis *self, const char *name)
{
    for (size_t i = 0; self && i < self->n_types; i++)
        if (!strcmp(self->types[i].name, name))
            return &self->types[i];
    return NULL;
}

/* ---------------------------------------------------------------- diff */

static const struct analysis_field *find_field(const struct analysis_type *t, const char *name)
{
    for (size_t i = 0; i < t->n_fields; i++)
        if (!strcmp(t->fields[i].name, name))
            return &t->fields[i];
    return NULL;
}

/* ", size 24 → 32" when both sizes are known and differ, else "". */
static void add_size_change(struct sbuf *s, const struct analysis_type *a, const struct analysis_type *b)
{
    if (a->size >= 0 && b->size >= 0 && a->size != b->size)
        sbuf_printf(s, ", size %ld → %ld", a->size, b->size);
}

/* Describes how type `a` became `b`, or returns NULL when the layout is the same. */
static char *type_change(const struct analysis_type *a, const struct analysis_type *b)
{
    struct sbuf s = { 0 };
    const char *member = !strcmp(a->kind, "enum") ? "enumerator" : "field";
    int same_order = a->n_fields == b->n_fields;

    if (strcmp(a->kind, b->kind)) {
        sbuf_printf(&s, "`%s` changed from a %s to a %s", a->name, a->kind, b->kind);
        add_size_change(&s, a, b);
        return sbuf_take(&s);
    }
    if (a->target && b->target && strcmp(a->target, b->target))
        sbuf_printf(&s, "typedef `%s` changed from `%s` to `%s`", a->name, a->target, b->target);
    for (size_t i = 0; i < b->n_fields; i++) {
        const struct analysis_field *old = find_field(a, b->fields[i].name);
        if (!old)
            sbuf_printf(&s, "%s%s `%s` added to `%s`", s.len ? "; " : "", member, b->fields[i].name, a->name);
        else if (strcmp(old->type, b->fields[i].type)) {
            if (!strcmp(member, "enumerator"))
                sbuf_printf(&s, "%senumerator `%s` of `%s` changed value from `%s` to `%s`", s.len ? "; " : "",
                            old->name, a->name, *old->type ? old->type : "(implicit)",
                            *b->fields[i].type ? b->fields[i].type : "(implicit)");
            else
                sbuf_printf(&s, "%sfield `%s` of `%s` changed from `%s` to `%s`", s.len ? "; " : "", old->name,
                            a->name, old->type, b->fields[i].type);
        }
    }
    for (size_t i = 0; i < a->n_fields; i++)
        if (!find_field(b, a->fields[i].name))
            sbuf_printf(&s, "%s%s `%s` removed from `%s`", s.len ? "; " : "", member, a->fields[i].name, a->name);
    for (size_t i = 0; same_order && i < a->n_fields; i++)
        same_order = !strcmp(a->fields[i].name, b->fields[i].name);
    if (!s.len && !same_order)
        sbuf_printf(&s, "%ss of `%s` reordered", member, a->name);
    if (s.len)
        add_size_change(&s, a, b);
    return s.len ? sbuf_take(&s) : NULL;
}

/* Describes how the layout of `a` changed in `b` when the words are the
 * same but the numbers are not: an array bound, an enumeration constant
 * (`char name[N]`), an attribute. NULL when they are the same too. */
static char *numbers_change(const struct analysis_type *a, const struct analysis_type *b)
{
    struct sbuf s = { 0 };

    for (size_t i = 0; !s.len && i < b->n_fields; i++) {
        const struct analysis_field *old = find_field(a, b->fields[i].name);
        const struct analysis_field *f = &b->fields[i];

        if (old && old->size >= 0 && f->size >= 0 && old->size != f->size)
            sbuf_printf(&s, "field `%s` of `%s` (`%s`) changed from %ld to %ld bytes", f->name, a->name, f->type,
                        old->size, f->size);
    }
    for (size_t i = 0; !s.len && i < b->n_fields; i++) {
        const struct analysis_field *old = find_field(a, b->fields[i].name);
        const struct analysis_field *f = &b->fields[i];

        if (old && old->offset >= 0 && f->offset >= 0 && (old->offset != f->offset || old->bit != f->bit))
            sbuf_printf(&s, "field `%s` of `%s` moved from offset %ld to %ld", f->name, a->name, old->offset,
                        f->offset);
    }
    if (!s.len && a->size >= 0 && b->size >= 0 && a->size != b->size)
        sbuf_printf(&s, "layout of `%s` changed", a->name);
    if (!s.len && a->size >= 0 && b->size >= 0 && a->align != b->align)
        sbuf_printf(&s, "alignment of `%s` changed from %ld to %ld", a->name, a->align, b->align);
    if (s.len)
        add_size_change(&s, a, b);
    return s.len ? sbuf_take(&s) : NULL;
}

static char *signature_change(const struct analysis_function *a, const struct analysis_function *b)
{
    struct sbuf s = { 0 };
    size_t n = a->n_params > b->n_params ? a->n_params : b->n_params;

    if (strcmp(a->ret, b->ret))
        sbuf_printf(&s, "return type changed from `%s` to `%s`", a->ret, b->ret);
    for (size_t i = 0; i < n; i++) {
        if (i >= a->n_params)
            sbuf_printf(&s, "%sparameter %zu `%s` added", s.len ? "; " : "", i + 1, b->params[i]);
        else if (i >= b->n_params)
            sbuf_printf(&s, "%sparameter %zu `%s` removed", s.len ? "; " : "", i + 1, a->params[i]);
        else if (strcmp(a->params[i], b->params[i]))
            sbuf_printf(&s, "%sparameter %zu changed from `%s` to `%s`", s.len ? "; " : "", i + 1, a->params[i],
                        b->params[i]);
    }
    if (a->variadic != b->variadic)
        sbuf_printf(&s, "%s%s", s.len ? "; " : "", b->variadic ? "became variadic" : "is no longer variadic");
    return s.len ? sbuf_take(&s) : NULL;
}

static void add_change(struct analysis_diff *d, const char *name, int hot, enum analysis_change_kind kind, char *msg)
{
    struct analysis_change ch = { strdup(name), hot, kind, msg ? msg : strdup("") };
    PUSH(d->changes, d->n_changes, ch);
}

static const struct analysis_type_change *changed_type(const struct analysis_diff *d, const char *name)
{
    for (size_t i = 0; i < d->n_types; i++)
        if (!strcmp(d->types[i].name, name))
            return &d->types[i];
    return NULL;
}

/* Marks as changed the types of `new_` that hold a changed type by value
 * (a field of that type or an array of it, or a typedef of it); a pointer
 * to a changed type changes nothing. Returns how many it marked. */
static int propagate_once(struct analysis_diff *d, const struct analysis *old, const struct analysis *new_)
{
    int added = 0;

    for (size_t i = 0; i < new_->n_types; i++) {
        const struct analysis_type *t = &new_->types[i];
        const struct analysis_type *was = analysis_find_type(old, t->name);
        const struct analysis_type_change *via = NULL;
        struct sbuf s = { 0 };

        if (changed_type(d, t->name) || !was)
            continue;
        if (t->target) {
            via = t->base && !t->indirect ? changed_type(d, t->base) : NULL;
            if (via)
                sbuf_add(&s, via->message);
        } else {
            for (size_t k = 0; k < t->n_fields && !via; k++) {
                const struct analysis_field *f = &t->fields[k];

                via = f->base && !f->indirect ? changed_type(d, f->base) : NULL;
                if (via) {
                    sbuf_printf(&s, "`%s` changed: its field `%s` of type `%s` changed layout", t->name, f->name,
                                f->type);
                    add_size_change(&s, was, t);
                }
            }
        }
        if (via) {
            struct analysis_type_change tc = { strdup(t->name), sbuf_take(&s) };
            PUSH(d->types, d->n_types, tc);
            added++;
        }
    }
    return added;
}

/* Marks as changed the types whose words are the same but whose numbers
 * are not. Returns how many it marked. */
static int numbers_once(struct analysis_diff *d, const struct analysis *old, const struct analysis *new_)
{
    int added = 0;

    for (size_t i = 0; i < new_->n_types; i++) {
        const struct analysis_type *t = &new_->types[i];
        const struct analysis_type *was = analysis_find_type(old, t->name);
        char *msg = was && !changed_type(d, t->name) ? numbers_change(was, t) : NULL;

        if (msg) {
            struct analysis_type_change tc = { strdup(t->name), msg };
            PUSH(d->types, d->n_types, tc);
            added++;
        }
    }
    return added;
}

/* Spreads the changes found in the words of the types: to the types that
 * hold them by value first (their message names the field), and only when
 * that finds nothing more, to types whose sizes or offsets moved anyway. */
static void propagate_changes(struct analysis_diff *d, const struct analysis *old, const struct analysis *new_)
{
    while (propagate_once(d, old, new_) || numbers_once(d, old, new_))
        ;
}

/* Names to indexes, sorted for bsearch. */
struct name_index {
    struct named {
        const char *name;     /* borrowed */
        size_t i;
    } *v;
    size_t n;
};

static int named_cmp(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int d = strcmp(x->name, y->name);

    return d ? d : (x->i > y->i) - (x->i < y->i);
}

static void name_index_add(struct name_index *x, const char *name, size_t i)
{
    struct named e = { name, i };
    PUSH(x->v, x->n, e);
}

static void name_index_sort(struct name_index *x)
{
    if (x->n)
        qsort(x->v, x->n, sizeof *x->v, named_cmp);
}

/* The smallest index stored under `name` (the first of several
 * definitions, as analysis_find_* finds it), or (size_t)-1. */
static size_t name_index_get(const struct name_index *x, const char *name)
{
    size_t lo = 0, hi = x->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(x->v[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < x->n && !strcmp(x->v[lo].name, name) ? x->v[lo].i : (size_t)-1;
}

/* Alternatives of one function (`#if A ... #else ...`, each branch
 * defining it) pair up in order: the rank of definition `i` among those
 * named `name` in `x`, and the index of the definition of that rank (the
 * last one when there are fewer), or (size_t)-1. */
static size_t name_index_rank(const struct name_index *x, const char *name, size_t i)
{
    size_t lo = 0, hi = x->n, rank = 0;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(x->v[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t p = lo; p < x->n && !strcmp(x->v[p].name, name) && x->v[p].i != i; p++)
        rank++;
    return rank;
}

static size_t name_index_get_nth(const struct name_index *x, const char *name, size_t nth)
{
    size_t lo = 0, hi = x->n, found = (size_t)-1;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(x->v[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t p = lo; p < x->n && !strcmp(x->v[p].name, name); p++) {
        found = x->v[p].i;
        if (p - lo == nth)
            break;
    }
    return found;
}

/* Indexes the functions (or the types) of `a` by name. */
static void name_index_functions(struct name_index *x, const struct analysis *a)
{
    memset(x, 0, sizeof *x);
    for (size_t i = 0; i < a->n_functions; i++)
        name_index_add(x, a->functions[i].name, i);
    name_index_sort(x);
}

static void name_index_types(struct name_index *x, const struct analysis *a)
{
    memset(x, 0, sizeof *x);
    for (size_t i = 0; i < a->n_types; i++)
        name_index_add(x, a->types[i].name, i);
    name_index_sort(x);
}

/* For every type of `new_`, the message of a changed type it reaches
 * through its fields or its typedef target, by value or through pointers
 * (`w->p->x` depends on `struct particle`), or NULL. One breadth-first walk
 * from the changed types along "is used by" edges, for the whole diff. */
struct reach {
    const struct analysis_diff *d;
    struct name_index types, changed;
    const char **why;         /* per type of new_: borrowed message or NULL */
};

static const char *reach_changed(const struct reach *r, const char *name)
{
    size_t i = name_index_get(&r->changed, name);
    return i == (size_t)-1 ? NULL : r->d->types[i].message;
}

static void reach_init(struct reach *r, const struct analysis_diff *d, const struct analysis *new_)
{
    size_t n = new_->n_types, *queue, head = 0, tail = 0, *start, *edges = NULL, n_edges = 0;

    memset(r, 0, sizeof *r);
    r->d = d;
    for (size_t i = 0; i < n; i++)
        name_index_add(&r->types, new_->types[i].name, i);
    name_index_sort(&r->types);
    for (size_t i = 0; i < d->n_types; i++)
        name_index_add(&r->changed, d->types[i].name, i);
    name_index_sort(&r->changed);
    r->why = calloc(n + 1, sizeof *r->why);
    queue = calloc(n + 1, sizeof *queue);
    start = calloc(n + 2, sizeof *start);
    /* Edges b -> t where t names b: counted, then laid out by b. */
    for (int pass = 0; pass < 2; pass++) {
        size_t *fill = pass ? calloc(n + 1, sizeof *fill) : NULL;

        for (size_t t = 0; t < n; t++) {
            const struct analysis_type *ty = &new_->types[t];

            for (size_t k = 0; k <= ty->n_fields; k++) {
                const char *base = k < ty->n_fields ? ty->fields[k].base : ty->base;
                size_t b = base ? name_index_get(&r->types, base) : (size_t)-1;

                if (b == (size_t)-1)
                    continue;
                if (pass == 0)
                    start[b + 1]++;
                else
                    edges[start[b] + fill[b]++] = t;
            }
        }
        if (pass == 0) {
            for (size_t b = 0; b < n; b++)
                start[b + 1] += start[b];
            n_edges = start[n];
            edges = calloc(n_edges + 1, sizeof *edges);
        }
        free(fill);
    }
    for (size_t t = 0; t < n; t++) {
        const struct analysis_type *ty = &new_->types[t];

        r->why[t] = reach_changed(r, ty->name);
        /* A changed type that is not defined any more still counts. */
        for (size_t k = 0; !r->why[t] && k <= ty->n_fields; k++) {
            const char *base = k < ty->n_fields ? ty->fields[k].base : ty->base;
            r->why[t] = base ? reach_changed(r, base) : NULL;
        }
        if (r->why[t])
            queue[tail++] = t;
    }
    while (head < tail) {
        size_t b = queue[head++];

        for (size_t e = start[b]; e < start[b + 1]; e++)
            if (!r->why[edges[e]]) {
                r->why[edges[e]] = r->why[b];
                queue[tail++] = edges[e];
            }
    }
    free(queue);
    free(start);
    free(edges);
}

static void reach_release(struct reach *r)
{
    free(r->types.v);
    free(r->changed.v);
    free(r->why);
}

/* Why function `f` cannot run with the new types: the first changed type
 * it names, else the first type it names that reaches one. New string or
 * NULL. */
static char *uses_changed_type(const struct reach *r, const struct analysis_function *f)
{
    struct sbuf s = { 0 };

    for (size_t k = 0; k < f->n_types; k++) {
        const char *why = reach_changed(r, f->types[k]);
        if (why) {
            sbuf_add(&s, why);
            return sbuf_take(&s);
        }
    }
    for (size_t k = 0; k < f->n_types; k++) {
        size_t t = name_index_get(&r->types, f->types[k]);
        if (t != (size_t)-1 && r->why[t]) {
            sbuf_printf(&s, "%s (reached through `%s`)", r->why[t], f->types[k]);
            return sbuf_take(&s);
        }
    }
    return NULL;
}

/* Whether two arrays of records (functions or types, `size` bytes each,
 * a `char *name` first) have the same names in the same order. */
static int same_names(const void *a, size_t na, const void *b, size_t nb, size_t size)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++) {
        const char *x = *(char *const *)((const char *)a + i * size), *y = *(char *const *)((const char *)b + i * size);
        if (x != y && strcmp(x, y) != 0)
            return 0;
    }
    return 1;
}

struct analysis_diff *analysis_diff(const struct analysis *old, const struct analysis *new_)
{
    struct analysis_diff *d = calloc(1, sizeof *d);
    struct reach reach;
    struct name_index old_fns, new_fns, old_types, new_types;
    size_t k;
    int same_fns, same_types;

    if (!d)
        return NULL;
    /* By name, sorted: a file has thousands of functions. When both
     * versions have the same names in the same order (an edit inside
     * bodies, as typed), the n-th definition of a name is at the same place
     * in both, which is what the pairing by rank finds: no index needed. */
    same_fns = same_names(old->functions, old->n_functions, new_->functions, new_->n_functions,
                          sizeof *old->functions);
    same_types = same_names(old->types, old->n_types, new_->types, new_->n_types, sizeof *old->types);
    if (!same_fns) {
        name_index_functions(&old_fns, old);
        name_index_functions(&new_fns, new_);
    }
    if (!same_types) {
        name_index_types(&old_types, old);
        name_index_types(&new_types, new_);
    }
    for (size_t i = 0; i < old->n_types; i++) {
        size_t nth = same_types ? 0 : name_index_rank(&old_types, old->types[i].name, i);
        const struct analysis_type *b =
            (k = same_types ? i : name_index_get_nth(&new_types, old->types[i].name, nth)) != (size_t)-1
                ? &new_->types[k]
                : NULL;
        char *msg;

        if (!b) {
            struct sbuf s = { 0 };
            sbuf_printf(&s, "type `%s` removed", old->types[i].name);
            msg = sbuf_take(&s);
        } else {
            msg = type_change(&old->types[i], b);
        }
        if (msg) {
            struct analysis_type_change tc = { strdup(old->types[i].name), msg };
            PUSH(d->types, d->n_types, tc);
        }
    }
    propagate_changes(d, old, new_);
    reach_init(&reach, d, new_);
    for (size_t i = 0; i < new_->n_functions; i++) {
        const struct analysis_function *b = &new_->functions[i];
        size_t nth = same_fns ? 0 : name_index_rank(&new_fns, b->name, i);
        const struct analysis_function *a =
            (k = same_fns ? i : name_index_get_nth(&old_fns, b->name, nth)) != (size_t)-1 ? &old->functions[k]
                                                                                           : NULL;
        char *msg;

        if (!a) {
            add_change(d, b->name, b->hot, ANALYSIS_ADDED, NULL);
            continue;
        }
        msg = signature_change(a, b);
        if (msg) {
            add_change(d, b->name, b->hot, ANALYSIS_SIGNATURE, msg);
            continue;
        }
        msg = uses_changed_type(&reach, b);
        if (msg)
            add_change(d, b->name, b->hot, ANALYSIS_LAYOUT, msg);
        else if (a->body_hash != b->body_hash)
            add_change(d, b->name, b->hot, ANALYSIS_BODY, NULL);
    }
    reach_release(&reach);
    for (size_t i = 0; !same_fns && i < old->n_functions; i++)
        if (name_index_get(&new_fns, old->functions[i].name) == (size_t)-1)
            add_change(d, old->functions[i].name, old->functions[i].hot, ANALYSIS_REMOVED, NULL);
    if (!same_fns) {
        free(old_fns.v);
        free(new_fns.v);
    }
    if (!same_types) {
        free(old_types.v);
        free(new_types.v);
    }
    return d;
}

static int same_signature(const struct analysis_function *a, const struct analysis_function *b)
{
    if (strcmp(a->ret ? a->ret : "", b->ret ? b->ret : "") != 0 || a->n_params != b->n_params ||
        a->variadic != b->variadic)
        return 0;
    for (size_t i = 0; i < a->n_params; i++)
        if (strcmp(a->params[i] ? a->params[i] : "", b->params[i] ? b->params[i] : "") != 0)
            return 0;
    return 1;
}

static int plain_changed(const struct analysis_function *a, const struct analysis_function *b)
{
    return a->body_hash != b->body_hash || !same_signature(a, b);
}

/* The next function of `a` from `i` on that is not HOT, or a->n_functions. */
static size_t next_plain(const struct analysis *a, size_t i)
{
    while (i < a->n_functions && a->functions[i].hot)
        i++;
    return i;
}

/* Whether a non-HOT function of `old` and one of `new_` with the same name
 * differ. In document order while both list the same names in the same
 * order; else a merge of the two sorted by name. */
static int others_differ(const struct analysis *old, const struct analysis *new_)
{
    struct name_index x, y;
    size_t i = next_plain(old, 0), k = next_plain(new_, 0);
    int changed = 0;

    while (i < old->n_functions && k < new_->n_functions &&
           !strcmp(old->functions[i].name, new_->functions[k].name)) {
        if (plain_changed(&old->functions[i], &new_->functions[k]))
            return 1;
        i = next_plain(old, i + 1);
        k = next_plain(new_, k + 1);
    }
    if (i == old->n_functions && k == new_->n_functions)
        return 0;
    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    for (size_t j = 0; j < old->n_functions; j++)
        if (!old->functions[j].hot)
            name_index_add(&x, old->functions[j].name, j);
    for (size_t j = 0; j < new_->n_functions; j++)
        if (!new_->functions[j].hot)
            name_index_add(&y, new_->functions[j].name, j);
    name_index_sort(&x);
    name_index_sort(&y);
    for (i = 0, k = 0; i < x.n && k < y.n && !changed;) {
        int c = strcmp(x.v[i].name, y.v[k].name);

        if (c == 0)
            changed = plain_changed(&old->functions[x.v[i].i], &new_->functions[y.v[k].i]);
        i += c <= 0;
        k += c >= 0;
    }
    free(x.v);
    free(y.v);
    return changed;
}

struct analysis_diff *analysis_diff_hot(const struct analysis *old, const struct analysis *new_, int *others_changed)
{
    struct analysis o = *old, n = *new_;
    struct analysis_function *of, *nf;
    struct analysis_diff *diff = NULL;
    size_t n_old = 0, n_new = 0;

    /* only the HOT ones are copied: a few of thousands */
    for (size_t j = 0; j < old->n_functions; j++)
        n_old += old->functions[j].hot != 0;
    for (size_t j = 0; j < new_->n_functions; j++)
        n_new += new_->functions[j].hot != 0;
    of = malloc((n_old + 1) * sizeof *of);
    nf = malloc((n_new + 1) * sizeof *nf);
    *others_changed = 0;
    if (of && nf) {
        o.functions = of;
        o.n_functions = 0;
        n.functions = nf;
        n.n_functions = 0;
        for (size_t j = 0; j < old->n_functions; j++)
            if (old->functions[j].hot)
                of[o.n_functions++] = old->functions[j];
        for (size_t j = 0; j < new_->n_functions; j++)
            if (new_->functions[j].hot)
                nf[n.n_functions++] = new_->functions[j];
        diff = analysis_diff(&o, &n);
        if (diff)
            *others_changed = others_differ(old, new_);
    }
    free(of);
    free(nf);
    return diff;
}

void analysis_diff_free(struct analysis_diff *self)
{
    if (!self)
        return;
    for (size_t i = 0; i < self->n_changes; i++) {
        free(self->changes[i].name);
        free(self->changes[i].message);
    }
    free(self->changes);
    for (size_t i = 0; i < self->n_types; i++) {
        free(self->types[i].name);
        free(self->types[i].message);
    }
    free(self->types);
    free(self);
}

const struct analysis_change *analysis_diff_find(const struct analysis_diff *diff, const char *name)
{
    for (size_t i = 0; diff && i < diff->n_changes; i++)
        if (!strcmp(diff->changes[i].name, name))
            return &diff->changes[i];
    return NULL;
}
