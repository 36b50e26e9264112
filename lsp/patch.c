/* The patch builder: turns a saved C file into the minimal translation unit
 * that becomes the patch library (docs/protocol.md, "Patch library
 * conventions").
 *
 * It works on the tree-sitter tree in three steps:
 *   1. collect: the file-scope functions, statics and macros, by name;
 *   2. close: starting from the bodies of the functions to reload, mark every
 *      static helper they use (through macros too) as kept, transitively, and
 *      every file-scope static they reference;
 *   3. edit: a list of byte-range replacements on the original text (bodies
 *      to prototypes, statics to weak references, asm labels), applied in one
 *      pass, with `#line` directives wherever an edit changes the number of
 *      lines, so that every compiler message points at the user's own line.
 *
 * No I/O: text in, text out. */
#include "patch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grammar.h"

const char *patch_strerror(int err)
{
    switch (err) {
#define PATCH__CASE(name, value, text)                                         \
    case value:                                                                \
        return text;
        PATCH_ERRNO_MAP(PATCH__CASE)
#undef PATCH__CASE
    }
    return "unknown error";
}

/* ------------------------------------------------------------ growable text */

struct sbuf {
    char *data;
    size_t len, cap;
    bool oom;
};

static void sbuf_grow(struct sbuf *b, size_t extra)
{
    if (b->oom || b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return;
    }
    b->data = p;
    b->cap = cap;
}

static void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
    if (n == 0)
        return;
    sbuf_grow(b, n);
    if (b->oom)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sbuf_str(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

static void sbuf_char(struct sbuf *b, char c)
{
    sbuf_add(b, &c, 1);
}

/* ------------------------------------------------------------ names */

enum {
    SYM_FUNC = 1,      /* a function defined in the file */
    SYM_SVAR = 2,      /* a file-scope static variable */
    SYM_MACRO = 4,     /* a macro defined in the file */
    SYM_STATIC_FN = 8, /* declared or defined `static` */
    SYM_INLINE = 16,   /* defined `inline` */
};

/* Every occurrence of a name that step 2 may need to scan: a function's
 * definitions (several under #if/#else), a const static's init_declarators. */
struct occ {
    TSNode node;
    uint32_t next; /* index + 1 of the next occurrence of the same name, 0 ends */
};

struct sym {
    uint32_t name;    /* byte offset of the name in the text */
    uint32_t len;
    unsigned flags;
    bool reloaded, kept, referenced, scanned;
    bool const_init;  /* static var: const-qualified with an initializer */
    bool sized_by_init; /* static array whose initializer sets a size the text does not show */
    bool is_tls;
    int slot;         /* static var: N of __hotc_s_N */
    uint32_t first;   /* index + 1 into occs, 0 none */
    uint32_t last;
    uint32_t mfirst, mlast; /* macro: its bodies (one per #define) in occs */
};

struct edit {
    uint32_t start, end;
    TSPoint end_point;   /* where the original text resumes */
    size_t text, text_len; /* in ctx->arena, or in the index's arena when `shared` */
    uint32_t seq;
    bool force_resync;
    bool shared;
};

/* One top-level item of the file, in document order (containers such as
 * #if are flattened; the top-level ones leave an open and a close mark). */
enum { ITEM_FUNC, ITEM_DECL, ITEM_OPEN, ITEM_CLOSE, ITEM_STRAY, ITEM_INCLUDE };

struct item {
    TSNode node;          /* the function_definition or declaration */
    uint32_t dep, ndep;   /* the symbols it declares: into index->deps */
    uint32_t edit, nedit; /* its edits when none of them is used: into index->edits */
    uint32_t at;          /* ITEM_CLOSE: where a resynchronizing #line goes */
    TSPoint at_point;
    uint8_t kind;
};

/* What patch_build needs of a file that does not depend on the functions
 * to reload: its file-scope names (step 1) and the edits of every top-level
 * declaration and definition for the case where the patch uses none of the
 * names it declares. A patch then visits only the items whose names it uses
 * and copies the edits of all others. Holds a copy of the tree its nodes
 * come from; names are byte offsets into the text it was built from. */
struct patch_index {
    TSTree *tree;
    size_t length;
    struct sym *syms;
    size_t nsyms, symcap;
    uint32_t *table; /* open addressing: index + 1 into syms */
    size_t tablecap;
    struct occ *occs;
    size_t nocc, occcap;
    int next_slot;   /* after the file-scope statics */
    struct item *items;
    size_t nitems, itemcap;
    uint32_t *deps;
    size_t ndeps, depcap;
    struct edit *edits;
    size_t nedits;
    struct sbuf arena;
    bool masked; /* read from grammar_mask_directives' copy */
    TSTree *source; /* when masked: a copy of the tree it was read from (index_fits) */
};

struct ctx {
    const char *src;
    size_t len;
    const struct patch_input *in;
    struct patch *out;
    const struct patch_index *ix; /* while patching: the index (edits marked `shared` point into its arena) */

    /* while indexing: owned, moved into the index at the end; while
     * patching: `syms` is a copy (the per-patch marks change), `table` and
     * `occs` are the index's */
    struct sym *syms;
    size_t nsyms, symcap;
    uint32_t *table; /* open addressing: index + 1 into syms */
    size_t tablecap;
    struct occ *occs;
    size_t nocc, occcap;

    TSNode *work;
    size_t nwork, workcap;
    uint32_t (*raw)[2]; /* ranges whose every name counts as used */
    size_t nraw, rawcap;

    struct edit *edits;
    size_t nedits, editcap;
    struct sbuf arena;

    int next_slot;
    bool oom;
    bool fn_macro_seen; /* while indexing: a function-like #define came before */
    char refused[256]; /* why the patch cannot be built (set once), else "" */
    TSTreeCursor cursor;
    /* field ids, looked up once: ts_node_child_by_field_name looks the
     * name up among the language's fields on every call */
    TSFieldId f_declarator, f_body, f_value, f_name, f_size, f_path, f_type;
};

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

static uint32_t hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static struct sym *sym_find(struct ctx *c, const char *name, size_t n)
{
    if (!c->tablecap)
        return NULL;
    for (size_t i = hash(name, n) & (c->tablecap - 1);; i = (i + 1) & (c->tablecap - 1)) {
        uint32_t k = c->table[i];
        if (!k)
            return NULL;
        struct sym *s = &c->syms[k - 1];
        if (s->len == n && memcmp(c->src + s->name, name, n) == 0)
            return s;
    }
}

static void table_insert(const char *src, uint32_t *table, size_t cap, const struct sym *syms, uint32_t idx)
{
    const struct sym *s = &syms[idx];
    size_t i = hash(src + s->name, s->len) & (cap - 1);
    while (table[i])
        i = (i + 1) & (cap - 1);
    table[i] = idx + 1;
}

/* Returns the symbol for `name`, creating it; NULL when out of memory. */
static struct sym *sym_get(struct ctx *c, const char *name, size_t n)
{
    struct sym *s = sym_find(c, name, n);
    if (s)
        return s;
    if (!grow((void **)&c->syms, &c->symcap, c->nsyms + 1, sizeof *c->syms))
        return NULL;
    if ((c->nsyms + 1) * 2 > c->tablecap) {
        size_t cap = c->tablecap ? c->tablecap * 2 : 256;
        uint32_t *t = calloc(cap, sizeof *t);
        if (!t)
            return NULL;
        for (size_t i = 0; i < c->nsyms; i++)
            table_insert(c->src, t, cap, c->syms, (uint32_t)i);
        free(c->table);
        c->table = t;
        c->tablecap = cap;
    }
    s = &c->syms[c->nsyms];
    memset(s, 0, sizeof *s);
    s->name = (uint32_t)(name - c->src);
    s->len = (uint32_t)n;
    s->slot = -1;
    table_insert(c->src, c->table, c->tablecap, c->syms, (uint32_t)c->nsyms);
    c->nsyms++;
    return s;
}

/* Appends `node` to the chain [*first, *last] of occurrences. */
static bool occ_add(struct ctx *c, uint32_t *first, uint32_t *last, TSNode node)
{
    if (!grow((void **)&c->occs, &c->occcap, c->nocc + 1, sizeof *c->occs))
        return false;
    c->occs[c->nocc] = (struct occ){ node, 0 };
    if (*last)
        c->occs[*last - 1].next = (uint32_t)c->nocc + 1;
    else
        *first = (uint32_t)c->nocc + 1;
    *last = (uint32_t)++c->nocc;
    return true;
}

static bool sym_add_occ(struct ctx *c, struct sym *s, TSNode node)
{
    return occ_add(c, &s->first, &s->last, node);
}

/* ------------------------------------------------------------ tree helpers */

static const char *node_text(struct ctx *c, TSNode n, size_t *len)
{
    uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
    *len = b - a;
    return c->src + a;
}

static bool node_is(struct ctx *c, TSNode n, const char *word)
{
    size_t len;
    const char *t = node_text(c, n, &len);
    return len == strlen(word) && memcmp(t, word, len) == 0;
}

static bool type_is(TSNode n, const char *type)
{
    return strcmp(ts_node_type(n), type) == 0;
}

/* Whether a declaration or definition has the storage class `word` among its
 * direct children (or in an ERROR child, where an unknown macro such as HOT
 * can push it). */
enum { ST_STATIC = 1, ST_INLINE = 2, ST_TLS = 4, ST_EXTERN = 8 };

static unsigned storage_word(struct ctx *c, TSNode k)
{
    if (!type_is(k, "storage_class_specifier"))
        return 0;
    if (node_is(c, k, "static"))
        return ST_STATIC;
    if (node_is(c, k, "inline") || node_is(c, k, "__inline") || node_is(c, k, "__inline__"))
        return ST_INLINE;
    if (node_is(c, k, "_Thread_local") || node_is(c, k, "__thread") || node_is(c, k, "thread_local"))
        return ST_TLS;
    if (node_is(c, k, "extern"))
        return ST_EXTERN;
    return 0;
}

/* The storage words (ST_*) among `decl`'s direct children, or in an ERROR
 * child, where an unknown macro such as HOT can push them. One cursor walk:
 * ts_node_child(i) starts from the first child on every call. */
static unsigned storage_and(struct ctx *c, TSNode decl, TSNode *declarator)
{
    unsigned mask = 0;
    TSTreeCursor cur = ts_tree_cursor_new(decl);

    if (ts_tree_cursor_goto_first_child(&cur)) {
        do {
            TSNode k = ts_tree_cursor_current_node(&cur);
            if (declarator && ts_node_is_null(*declarator) &&
                ts_tree_cursor_current_field_id(&cur) == c->f_declarator)
                *declarator = k;
            if (type_is(k, "ERROR")) {
                if (ts_tree_cursor_goto_first_child(&cur)) {
                    do
                        mask |= storage_word(c, ts_tree_cursor_current_node(&cur));
                    while (ts_tree_cursor_goto_next_sibling(&cur));
                    ts_tree_cursor_goto_parent(&cur);
                }
            } else {
                mask |= storage_word(c, k);
            }
        } while (ts_tree_cursor_goto_next_sibling(&cur));
    }
    ts_tree_cursor_delete(&cur);
    return mask;
}

/* The storage words (ST_*) among `decl`'s direct children, or in an ERROR
 * child, where an unknown macro such as HOT can push them. One cursor walk:
 * ts_node_child(i) starts from the first child on every call. */
static unsigned storage(struct ctx *c, TSNode decl)
{
    return storage_and(c, decl, NULL);
}

static bool has_storage(struct ctx *c, TSNode decl, unsigned words)
{
    return (storage(c, decl) & words) != 0;
}

static bool is_inline_word(struct ctx *c, TSNode n)
{
    return node_is(c, n, "inline") || node_is(c, n, "__inline") || node_is(c, n, "__inline__");
}

/* Whether `n` names a macro of the file whose every body is just `word`
 * (`#define CONST const`: tree-sitter reads the name as a type). */
static bool macro_is(struct ctx *c, TSNode n, const char *word)
{
    size_t len;
    const char *name = node_text(c, n, &len);
    struct sym *s = sym_find(c, name, len);
    if (!s || !(s->flags & SYM_MACRO) || !s->mfirst)
        return false;
    for (uint32_t o = s->mfirst; o; o = c->occs[o - 1].next) {
        const char *body = node_text(c, c->occs[o - 1].node, &len);
        while (len && (body[len - 1] == ' ' || body[len - 1] == '\t'))
            len--;
        if (len != strlen(word) || memcmp(body, word, len) != 0)
            return false;
    }
    return true;
}

static bool has_qualifier(struct ctx *c, TSNode n, const char *word)
{
    uint32_t k = ts_node_child_count(n);
    for (uint32_t i = 0; i < k; i++) {
        TSNode q = ts_node_child(n, i);
        if (type_is(q, "type_qualifier") && node_is(c, q, word))
            return true;
        if (type_is(q, "type_identifier") && macro_is(c, q, word))
            return true;
    }
    return false;
}

/* The `declarator` children of a declaration, at most `max` (a declaration
 * with more is cut short). ts_node_field_name_for_child is off by one in the
 * libtree-sitter we build against, so this walks with a cursor. */
static size_t declarators(TSNode decl, TSNode *out, size_t max)
{
    size_t n = 0;
    TSTreeCursor cur = ts_tree_cursor_new(decl);
    if (ts_tree_cursor_goto_first_child(&cur)) {
        do {
            const char *field = ts_tree_cursor_current_field_name(&cur);
            if (field && strcmp(field, "declarator") == 0 && n < max)
                out[n++] = ts_tree_cursor_current_node(&cur);
        } while (ts_tree_cursor_goto_next_sibling(&cur));
    }
    ts_tree_cursor_delete(&cur);
    return n;
}

/* What a declarator declares: the identifier, whether it is a function,
 * whether the object itself is const (given whether the specifiers say
 * const), and the array declarator right around the identifier, if it has
 * no size ("tab[] = {...}"). */
struct declared {
    TSNode ident;
    TSNode unsized; /* null node when none */
    bool is_function;
    bool is_const;
};

/* Whether `n`'s text is a keyword of a basic type. */
static bool is_type_keyword(struct ctx *c, TSNode n)
{
    static const char *const words[] = { "void",   "char",     "short",  "int",   "long",
                                         "float",  "double",   "signed", "unsigned", "_Bool" };
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (node_is(c, n, words[i]))
            return true;
    return false;
}

static struct declared declarator_info(struct ctx *c, TSNode d, bool spec_const)
{
    struct declared r = { .is_const = spec_const };
    TSNode null = { 0 };
    r.ident = null;
    r.unsized = null;
    for (int depth = 0; depth < 64 && !ts_node_is_null(d); depth++) {
        const char *t = ts_node_type(d);
        if (strcmp(t, "identifier") == 0) {
            /* A name tree-sitter made up to recover (`static v[2];` reads
             * as type `v` and a missing name) declares nothing, nor does a
             * type keyword it took for one in a const declaration (`static
             * CONST double` before an #if whose branches hold the
             * declarators: left as it is, the patch has its own copy, as of
             * any const static; a variable there cannot be bound, and the
             * patch must not compile rather than hold a copy). */
            if (!ts_node_is_missing(d) && ts_node_end_byte(d) > ts_node_start_byte(d) &&
                !(spec_const && is_type_keyword(c, d)))
                r.ident = d;
            return r;
        }
        TSNode next;
        if (strcmp(t, "parenthesized_declarator") == 0) {
            next = ts_node_named_child(d, 0);
        } else if (strcmp(t, "attributed_declarator") == 0) {
            next = ts_node_named_child(d, 0);
        } else {
            next = ts_node_child_by_field_id(d, c->f_declarator);
            if (strcmp(t, "pointer_declarator") == 0) {
                r.is_function = false;
                r.is_const = has_qualifier(c, d, "const");
            } else if (strcmp(t, "function_declarator") == 0) {
                r.is_function = true;
                r.is_const = false;
                if (!ts_node_is_null(grammar_misread_name(d))) {
                    r.ident = grammar_misread_name(d);
                    return r;
                }
            } else if (strcmp(t, "array_declarator") == 0) {
                if (!ts_node_is_null(next) && type_is(next, "identifier") &&
                    ts_node_is_null(ts_node_child_by_field_id(d, c->f_size)))
                    r.unsized = d;
            } else if (strcmp(t, "init_declarator") != 0) {
                return r;
            }
        }
        d = next;
    }
    return r;
}

/* The number of elements an unsized array gets from its initializer, or -1
 * when that is not simple to tell (designators, wide strings). */
static long initializer_count(struct ctx *c, TSNode value)
{
    const char *t = ts_node_type(value);
    if (strcmp(t, "initializer_list") == 0) {
        long n = 0;
        uint32_t k = ts_node_named_child_count(value);
        for (uint32_t i = 0; i < k; i++) {
            TSNode e = ts_node_named_child(value, i);
            if (type_is(e, "comment"))
                continue;
            if (type_is(e, "initializer_pair"))
                return -1;
            /* a macro may make several elements (a call in a static
             * initializer is a macro's), #if lines choose some */
            if (type_is(e, "call_expression") || strncmp(ts_node_type(e), "preproc_", 8) == 0)
                return -1;
            if (type_is(e, "identifier")) {
                size_t len;
                const char *name = node_text(c, e, &len);
                struct sym *s = sym_find(c, name, len);
                if (s && (s->flags & SYM_MACRO))
                    return -1;
            }
            n++;
        }
        return n;
    }
    if (strcmp(t, "string_literal") == 0 || strcmp(t, "concatenated_string") == 0) {
        TSNode parts[64];
        uint32_t np = 0;
        if (strcmp(t, "string_literal") == 0) {
            parts[np++] = value;
        } else {
            uint32_t k = ts_node_named_child_count(value);
            for (uint32_t i = 0; i < k && np < 64; i++)
                parts[np++] = ts_node_named_child(value, i);
        }
        long n = 1;
        for (uint32_t i = 0; i < np; i++) {
            if (!type_is(parts[i], "string_literal") || c->src[ts_node_start_byte(parts[i])] != '"')
                return -1;
            uint32_t k = ts_node_named_child_count(parts[i]);
            for (uint32_t j = 0; j < k; j++) {
                TSNode e = ts_node_named_child(parts[i], j);
                if (type_is(e, "escape_sequence"))
                    n++;
                else if (type_is(e, "string_content"))
                    n += (long)(ts_node_end_byte(e) - ts_node_start_byte(e));
            }
        }
        return n;
    }
    return -1;
}

/* The name a function definition defines (an identifier node), or a null
 * node. */
static TSNode function_name(struct ctx *c, TSNode def)
{
    TSNode d = ts_node_child_by_field_id(def, c->f_declarator);
    struct declared info = declarator_info(c, d, false);
    if (!info.is_function) {
        TSNode null = { 0 };
        return null;
    }
    return info.ident;
}

/* ------------------------------------------------------------ edits */

/* Queues the replacement of [start, end) by `text`; `end_point` is the
 * position of `end` (where a resynchronizing #line points). */
static void edit_add(struct ctx *c, uint32_t start, uint32_t end, TSPoint end_point, const char *text,
                     size_t n)
{
    if (!grow((void **)&c->edits, &c->editcap, c->nedits + 1, sizeof *c->edits)) {
        c->oom = true;
        return;
    }
    struct edit *e = &c->edits[c->nedits];
    e->start = start;
    e->end = end;
    e->end_point = end_point;
    e->text = c->arena.len;
    e->text_len = n;
    e->seq = (uint32_t)c->nedits;
    e->force_resync = false;
    e->shared = false;
    sbuf_add(&c->arena, text, n);
    c->nedits++;
}

static void edit_replace(struct ctx *c, TSNode n, const char *text, size_t len)
{
    edit_add(c, ts_node_start_byte(n), ts_node_end_byte(n), ts_node_end_point(n), text, len);
}

static void edit_insert(struct ctx *c, TSNode before, const char *text, size_t len)
{
    edit_add(c, ts_node_start_byte(before), ts_node_start_byte(before), ts_node_start_point(before),
             text, len);
}

static void edit_insert_after(struct ctx *c, TSNode after, const char *text, size_t len)
{
    edit_add(c, ts_node_end_byte(after), ts_node_end_byte(after), ts_node_end_point(after), text,
             len);
}

/* The position of byte `at`, which lies at or after the end of `n`. */
static TSPoint point_after(const struct ctx *c, TSNode n, uint32_t at)
{
    TSPoint p = ts_node_end_point(n);
    for (uint32_t i = ts_node_end_byte(n); i < at && i < c->len; i++) {
        if (c->src[i] == '\n') {
            p.row++;
            p.column = 0;
        } else {
            p.column++;
        }
    }
    return p;
}

/* Blanks a token (static, inline) keeping every column in place. */
static void edit_blank(struct ctx *c, TSNode n)
{
    char spaces[32];
    uint32_t len = ts_node_end_byte(n) - ts_node_start_byte(n);
    if (len > sizeof spaces)
        len = sizeof spaces;
    memset(spaces, ' ', len);
    edit_replace(c, n, spaces, len);
}

/* ------------------------------------------------------------ step 1: collect */

static void collect_declaration(struct ctx *c, TSNode decl)
{
    unsigned words = storage(c, decl);
    bool is_static = words & ST_STATIC;
    bool is_tls = words & ST_TLS;
    bool spec_const = has_qualifier(c, decl, "const");
    TSNode decls[64];
    size_t ndecl = declarators(decl, decls, 64);
    for (size_t i = 0; i < ndecl; i++) {
        TSNode d = decls[i];
        struct declared info = declarator_info(c, d, spec_const);
        if (ts_node_is_null(info.ident))
            continue;
        size_t len;
        const char *name = node_text(c, info.ident, &len);
        struct sym *s = sym_get(c, name, len);
        if (!s) {
            c->oom = true;
            return;
        }
        if (!info.is_function && !(is_static && info.is_const) && !ts_node_is_null(info.unsized) &&
            type_is(d, "init_declarator") && !ts_node_is_null(ts_node_child_by_field_id(d, c->f_value)) &&
            initializer_count(c, ts_node_child_by_field_id(d, c->f_value)) < 0) {
            s->sized_by_init = true; /* its initializer is copied (size_from_copy) */
            if (!sym_add_occ(c, s, d))
                c->oom = true;
        }
        if (info.is_function) {
            if (is_static)
                s->flags |= SYM_STATIC_FN;
        } else if (is_static) {
            s->flags |= SYM_SVAR;
            if (s->slot < 0)
                s->slot = c->next_slot++;
            s->is_tls = is_tls;
            if (info.is_const && type_is(d, "init_declarator")) {
                s->const_init = true;
                if (!sym_add_occ(c, s, d))
                    c->oom = true;
            }
        }
    }
}

/* Whether [a, b) (a definition's head before its name) holds a word that
 * spells inline and is not the keyword: a project's macro for it
 * (`force_inline`, `ALWAYS_INLINE`), often with always_inline, whose
 * callers need the body (a prototype alone does not compile). */
static bool inline_macro(const struct ctx *c, uint32_t a, uint32_t b)
{
    for (uint32_t i = a; i < b && i < c->len;) {
        uint32_t j = i;
        while (j < b && (c->src[j] == '_' || (c->src[j] >= 'a' && c->src[j] <= 'z') ||
                         (c->src[j] >= 'A' && c->src[j] <= 'Z') || (c->src[j] >= '0' && c->src[j] <= '9')))
            j++;
        if (j == i) {
            i++;
            continue;
        }
        for (uint32_t k = i; k + 6 <= j; k++)
            if (strncasecmp(c->src + k, "inline", 6) == 0)
                return true;
        i = j;
    }
    return false;
}

static void collect_function(struct ctx *c, TSNode def)
{
    TSNode d = { 0 };
    /* the storage words and the declarator in one walk of the children */
    unsigned words = storage_and(c, def, &d);
    struct declared info = declarator_info(c, d, false);
    TSNode id = info.ident;
    if (!info.is_function || ts_node_is_null(id))
        return;
    size_t len;
    const char *name = node_text(c, id, &len);
    struct sym *s = sym_get(c, name, len);
    if (!s || !sym_add_occ(c, s, def)) {
        c->oom = true;
        return;
    }
    s->flags |= SYM_FUNC;
    if (words & ST_STATIC)
        s->flags |= SYM_STATIC_FN;
    if ((words & ST_INLINE) || inline_macro(c, ts_node_start_byte(def), ts_node_start_byte(id)))
        s->flags |= SYM_INLINE;
}

static void collect_macro(struct ctx *c, TSNode def)
{
    TSNode name = ts_node_child_by_field_id(def, c->f_name);
    TSNode value = ts_node_child_by_field_id(def, c->f_value);
    if (ts_node_is_null(name) || ts_node_is_null(value))
        return;
    size_t len;
    const char *text = node_text(c, name, &len);
    struct sym *s = sym_get(c, text, len);
    if (!s) {
        c->oom = true;
        return;
    }
    s->flags |= SYM_MACRO;
    if (!occ_add(c, &s->mfirst, &s->mlast, value))
        c->oom = true;
}

/* Whether the head of definition `def` is a macro's call
 * (`DEF_PRIMITIVE(fiber_call) { ... }`, defining `prim_fiber_call`), which
 * tree-sitter reads as a definition of no function (a type and a
 * parenthesized name) or, with no type before it, of a function named
 * as the macro. What it defines is not known: it is copied as it is (see
 * is_stray). */
static bool macro_head(struct ctx *c, TSNode def)
{
    if (ts_node_is_null(ts_node_child_by_field_id(def, c->f_type)))
        return true;
    /* `MACRO(name) {`: a type (the macro) and a parenthesized name */
    return !declarator_info(c, ts_node_child_by_field_id(def, c->f_declarator), false).is_function;
}

/* The children of `parent`, walked with a cursor: ts_node_child(i) walks
 * from the first child each time, quadratic over a file's top level. */
static size_t children(TSNode parent, TSNode **out, size_t *cap)
{
    size_t n = 0;
    TSTreeCursor cur = ts_tree_cursor_new(parent);
    if (ts_tree_cursor_goto_first_child(&cur)) {
        do {
            if (!grow((void **)out, cap, n + 1, sizeof **out))
                break;
            (*out)[n++] = ts_tree_cursor_current_node(&cur);
        } while (ts_tree_cursor_goto_next_sibling(&cur));
    }
    ts_tree_cursor_delete(&cur);
    return n;
}

/* Whether `decl` is the start of the head of the function definition
 * `next` that tree-sitter split off: `HOT struct value make(...)` reads as
 * a declaration `HOT struct` (a missing `;`) and a definition of `value
 * make(...)`. Left as it is, it stays the definition's. */
static bool is_function_head(const struct ctx *c, TSNode decl, TSNode next)
{
    if (!type_is(decl, "declaration") || !ts_node_has_error(decl) || !type_is(next, "function_definition"))
        return false;
    /* a whole declaration before it (`MACRO const char *names[] = {...};`
     * with an unknown macro) ends with its `;`; a head has none */
    uint32_t last = ts_node_end_byte(decl);
    if (last > 0 && last <= c->len && c->src[last - 1] == ';')
        return false;
    for (uint32_t i = ts_node_end_byte(decl); i < ts_node_start_byte(next) && i < c->len; i++)
        if (c->src[i] != ' ' && c->src[i] != '\t' && c->src[i] != '\n' && c->src[i] != '\r')
            return false;
    return true;
}

static void collect(struct ctx *c, TSNode parent)
{
    TSNode *kids = NULL;
    size_t cap = 0, n = children(parent, &kids, &cap);
    uint32_t body_end = 0;
    for (size_t i = 0; i < n && !c->oom; i++) {
        TSNode k = kids[i];
        const char *t = ts_node_type(k);
        if (ts_node_start_byte(k) < body_end)
            continue; /* the rest of a body tree-sitter cut short */
        if (strcmp(t, "function_definition") == 0) {
            if (!macro_head(c, k))
                collect_function(c, k);
            body_end = grammar_function_end(k, c->src, c->len);
        }
        else if (strcmp(t, "declaration") == 0 && !(i + 1 < n && is_function_head(c, k, kids[i + 1])))
            collect_declaration(c, k);
        else if (strcmp(t, "preproc_def") == 0 || strcmp(t, "preproc_function_def") == 0)
            collect_macro(c, k);
        else if (grammar_is_container(k))
            collect(c, k);
    }
    free(kids);
}

/* ------------------------------------------------------------ step 2: close */

static void push_work(struct ctx *c, TSNode n)
{
    if (!grow((void **)&c->work, &c->workcap, c->nwork + 1, sizeof *c->work)) {
        c->oom = true;
        return;
    }
    c->work[c->nwork++] = n;
}

/* Kept code in [start, end): when the reading left branches of it out,
 * the names they hold count as used too (the compiler may take one). */
static void use_left_out(struct ctx *c, uint32_t start, uint32_t end)
{
    if (!c->ix || !c->ix->masked)
        return;
    size_t at = start, a, b;
    if (grammar_next_structural(c->src, c->len, end, &at, &a, &b) == DIR_OTHER)
        return;
    if (!grow((void **)&c->raw, &c->rawcap, c->nraw + 1, sizeof *c->raw)) {
        c->oom = true;
        return;
    }
    c->raw[c->nraw][0] = start;
    c->raw[c->nraw++][1] = end;
}

static void keep_function(struct ctx *c, struct sym *s)
{
    s->kept = true;
    for (uint32_t o = s->first; o; o = c->occs[o - 1].next) {
        TSNode def = c->occs[o - 1].node;
        TSNode body = ts_node_child_by_field_id(def, c->f_body);
        uint32_t end = grammar_function_end(def, c->src, c->len);
        if (!ts_node_is_null(body))
            push_work(c, body);
        use_left_out(c, ts_node_start_byte(def), end);
        /* the rest of a body tree-sitter cut short, read as stray nodes */
        for (TSNode k = ts_node_next_sibling(def); !ts_node_is_null(k) && ts_node_start_byte(k) < end;
             k = ts_node_next_sibling(k))
            push_work(c, k);
    }
}

static void use_name(struct ctx *c, const char *name, size_t len, int depth);

/* The names in [p, end) count as used. */
static void use_names_in(struct ctx *c, const char *p, const char *end, int depth)
{
    while (p < end) {
        if (*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
            const char *q = p;
            while (q < end && (*q == '_' || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                               (*q >= '0' && *q <= '9')))
                q++;
            use_name(c, p, (size_t)(q - p), depth);
            p = q;
        } else if (*p >= '0' && *p <= '9') {
            while (p < end && (*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                               (*p >= '0' && *p <= '9') || *p == '.'))
                p++;
        } else {
            p++;
        }
    }
}

/* A macro used by kept code: the names in its bodies (every #define of
 * it: an X-macro is defined again for each use) count as used too. */
static void use_macro(struct ctx *c, struct sym *s, int depth)
{
    for (uint32_t o = s->mfirst; o; o = c->occs[o - 1].next) {
        TSNode value = c->occs[o - 1].node;
        use_names_in(c, c->src + ts_node_start_byte(value), c->src + ts_node_end_byte(value), depth + 1);
    }
}

static void use_name(struct ctx *c, const char *name, size_t len, int depth)
{
    struct sym *s = sym_find(c, name, len);
    if (!s || depth > 32)
        return;
    s->referenced = true;
    if ((s->flags & SYM_MACRO) && !s->scanned) {
        s->scanned = true;
        use_macro(c, s, depth);
    }
    if ((s->flags & SYM_FUNC) && (s->flags & (SYM_STATIC_FN | SYM_INLINE)) && !s->kept)
        keep_function(c, s);
    if (s->sized_by_init && !s->scanned) {
        s->scanned = true;
        for (uint32_t o = s->first; o; o = c->occs[o - 1].next)
            push_work(c, c->occs[o - 1].node);
    }
    if (s->flags & SYM_SVAR) {
        s->referenced = true;
        if (s->const_init && !s->scanned) {
            s->scanned = true;
            for (uint32_t o = s->first; o; o = c->occs[o - 1].next) {
                TSNode d = c->occs[o - 1].node;
                push_work(c, d);
                use_left_out(c, ts_node_start_byte(d), ts_node_end_byte(d));
            }
        }
    }
}

/* A quoted #include after a function-like macro: the header may expand
 * the file's macros (`#define LIBM_DD(name) static jv f_##name(...)
 * { ... helper(...) ... }` then `#include "libm.h"`, which holds
 * `LIBM_DD(sin)`), so every macro defined before it counts as used (the
 * builder reads no file: which of them the header expands is not known). */
static void use_include(struct ctx *c, TSNode inc)
{
    uint32_t at = ts_node_start_byte(inc);
    for (size_t i = 0; i < c->nsyms; i++) {
        struct sym *s = &c->syms[i];
        if ((s->flags & SYM_MACRO) && s->mfirst && ts_node_start_byte(c->occs[s->mfirst - 1].node) < at &&
            !s->scanned) {
            s->scanned = true;
            s->referenced = true;
            use_macro(c, s, 0);
        }
    }
}

/* Whether a local declaration is a static that becomes a weak reference (so
 * its initializer is dropped and need not be scanned). */
static bool is_bound_local_static(struct ctx *c, TSNode decl)
{
    if (!has_storage(c, decl, ST_STATIC))
        return false;
    /* a table of label addresses (`static void *jump[] = { &&op_add,
     * ... }`, computed goto) holds the old code's labels: the new code
     * needs its own */
    const char *p = c->src + ts_node_start_byte(decl), *end = c->src + ts_node_end_byte(decl);
    for (; p + 2 < end; p++)
        if (p[0] == '&' && p[1] == '&' && (p[2] == '_' || (p[2] >= 'a' && p[2] <= 'z') || (p[2] >= 'A' && p[2] <= 'Z')))
            return false;
    bool spec_const = has_qualifier(c, decl, "const");
    TSNode decls[64];
    size_t ndecl = declarators(decl, decls, 64);
    for (size_t i = 0; i < ndecl; i++) {
        TSNode d = decls[i];
        struct declared info = declarator_info(c, d, spec_const);
        if (!info.is_function && !(info.is_const && type_is(d, "init_declarator")))
            return true;
    }
    return false;
}

/* Moves `cur` to the next node of a preorder walk of `root`'s subtree,
 * going into the current node's children when `descend`. Returns false when
 * the walk is over. */
static bool cursor_next(TSTreeCursor *cur, TSNode root, bool descend)
{
    if (descend && ts_tree_cursor_goto_first_child(cur))
        return true;
    for (;;) {
        if (ts_tree_cursor_goto_next_sibling(cur))
            return true;
        if (!ts_tree_cursor_goto_parent(cur) || ts_node_eq(ts_tree_cursor_current_node(cur), root))
            return false;
    }
}

/* Scans `root` for identifiers, marking what they name as used. */
static void scan(struct ctx *c, TSNode root)
{
    TSTreeCursor *cur = &c->cursor;
    ts_tree_cursor_reset(cur, root);
    for (;;) {
        TSNode n = ts_tree_cursor_current_node(cur);
        const char *t = ts_node_type(n);
        bool descend = true;
        if (strcmp(t, "identifier") == 0) {
            size_t len;
            const char *name = node_text(c, n, &len);
            use_name(c, name, len, 0);
            descend = false;
        } else if (strcmp(t, "declaration") == 0 && is_bound_local_static(c, n)) {
            descend = false;
        } else if (strcmp(t, "preproc_arg") == 0) {
            /* the body of a macro defined inside kept code */
            use_names_in(c, c->src + ts_node_start_byte(n), c->src + ts_node_end_byte(n), 0);
            descend = false;
        }
        if (!cursor_next(cur, root, descend))
            return;
    }
}

/* ------------------------------------------------------------ step 3: edit */

/* Appends the source of [a, b) to `out` with the ranges of `skip` nodes
 * left out, comments dropped and newlines turned into spaces, so that it fits
 * on one line. */
static void add_one_line(struct ctx *c, struct sbuf *out, uint32_t a, uint32_t b, TSNode def,
                         bool drop_storage)
{
    /* The skipped ranges: static/inline specifiers and comments among the
     * definition's tokens before `b`. */
    uint32_t skips[64][2];
    size_t nskip = 0;
    TSTreeCursor cur = ts_tree_cursor_new(def);
    for (bool more = ts_tree_cursor_goto_first_child(&cur); more;) {
        TSNode n = ts_tree_cursor_current_node(&cur);
        if (ts_node_start_byte(n) >= b)
            break;
        const char *t = ts_node_type(n);
        bool skip = strcmp(t, "comment") == 0 ||
                    (drop_storage && strcmp(t, "storage_class_specifier") == 0 &&
                     (node_is(c, n, "static") || is_inline_word(c, n)));
        if (skip && nskip < 64) {
            skips[nskip][0] = ts_node_start_byte(n);
            skips[nskip][1] = ts_node_end_byte(n);
            nskip++;
        }
        more = cursor_next(&cur, def, !skip);
    }
    ts_tree_cursor_delete(&cur);

    size_t k = 0;
    for (uint32_t i = a; i < b;) {
        while (k < nskip && skips[k][1] <= i)
            k++;
        if (k < nskip && skips[k][0] <= i) {
            sbuf_char(out, ' ');
            i = skips[k][1];
            continue;
        }
        char ch = c->src[i++];
        if (ch == '\\' && i < b && c->src[i] == '\n') {
            i++;
            continue;
        }
        sbuf_char(out, ch == '\n' || ch == '\r' ? ' ' : ch);
    }
}

/* Appends a declarator's source with the identifier replaced by `rename`
 * (when not NULL) and the missing size of an array filled in with `size`
 * (when not NULL). */
static void add_declarator(struct ctx *c, struct sbuf *b, TSNode d, struct declared *info,
                           const char *size, const char *rename)
{
    uint32_t a = ts_node_start_byte(d), e = ts_node_end_byte(d);
    uint32_t id_a = ts_node_start_byte(info->ident), id_b = ts_node_end_byte(info->ident);
    uint32_t size_at = UINT32_MAX;
    if (!ts_node_is_null(info->unsized) && size) {
        /* just before the closing bracket */
        uint32_t n = ts_node_child_count(info->unsized);
        for (uint32_t i = 0; i < n; i++) {
            TSNode k = ts_node_child(info->unsized, i);
            if (node_is(c, k, "]"))
                size_at = ts_node_start_byte(k);
        }
    }
    for (uint32_t i = a; i < e;) {
        if (i == size_at)
            sbuf_str(b, size);
        if (rename && i == id_a && id_b > id_a) {
            sbuf_str(b, rename);
            i = id_b;
            continue;
        }
        sbuf_char(b, c->src[i++]);
    }
    if (size_at == e)
        sbuf_str(b, size);
}

/* An array sized by an initializer whose element count the text does not
 * show (macros make the elements, or #if lines choose them), when the patch
 * uses it: a copy of its definition named __hotc_n_<name> is inserted
 * before `decl`, so that the declaration that replaces the definition can
 * take its size from the compiler (`sizeof` on an array of unknown bound
 * does not compile): that size is written to `size`. The names in the
 * initializer were marked used (sized_by_init). Returns whether it
 * inserted the copy. */
static bool size_from_copy(struct ctx *c, TSNode decl, TSNode first, TSNode d, struct declared *info,
                           TSNode value, char *size, size_t size_len)
{
    size_t len;
    const char *name = node_text(c, info->ident, &len);
    struct sym *s = sym_find(c, name, len);
    char copy[128];
    if (!s || !s->referenced || !s->sized_by_init || len > 100)
        return false;
    snprintf(copy, sizeof copy, "__hotc_n_%.*s", (int)len, name);
    snprintf(size, size_len, "sizeof %s / sizeof %s[0]", copy, copy);
    struct sbuf b = { 0 };
    sbuf_add(&b, c->src + ts_node_start_byte(decl), ts_node_start_byte(first) - ts_node_start_byte(decl));
    add_declarator(c, &b, d, info, NULL, copy);
    sbuf_str(&b, " __attribute((unused)) = ");
    sbuf_add(&b, c->src + ts_node_start_byte(value), ts_node_end_byte(value) - ts_node_start_byte(value));
    sbuf_str(&b, ";\n");
    if (b.oom)
        c->oom = true;
    else
        edit_insert(c, decl, b.data, b.len);
    free(b.data);
    return !b.oom;
}

/* Records why a static declaration cannot be bound: tree-sitter found no
 * name in it (`static v[2];`, implicit int, reads as type `v` and no name),
 * so the patch would get a fresh copy instead of the program's variable.
 * The first such declaration wins. */
static void refuse_nameless(struct ctx *c, TSNode decl)
{
    if (*c->refused)
        return;
    struct sbuf text = { 0 };
    add_one_line(c, &text, ts_node_start_byte(decl), ts_node_end_byte(decl), decl, false);
    snprintf(c->refused, sizeof c->refused,
             "cannot build a patch: the static declaration `%.80s` at line %u declares no name "
             "the compiler and hotc agree on (a type is missing?); write its type, e.g. `static int v[2];`",
             text.data ? text.data : "", ts_node_start_point(decl).row + 1);
    free(text.data);
}

/* Rewrites one static declaration (file scope or local) as weak extern
 * references. At file scope the C names stay and asm labels give the
 * symbols; locally the name itself becomes the symbol (and the caller renames
 * its uses), because block-scope externs of one name with different labels
 * conflict. `slots` receives the slot of each variable declarator. */
static void rewrite_static(struct ctx *c, TSNode decl, bool local, int *slots, size_t *nslots)
{
    bool spec_const = has_qualifier(c, decl, "const");
    uint32_t n = ts_node_child_count(decl);
    *nslots = 0;
    for (uint32_t i = 0; i < n; i++) {
        TSNode k = ts_node_child(decl, i);
        if (type_is(k, "storage_class_specifier") && node_is(c, k, "static"))
            edit_replace(c, k, "extern", 6);
    }
    TSNode decls[64];
    size_t ndecl = declarators(decl, decls, 64);
    for (size_t i = 0; i < ndecl; i++) {
        TSNode k = decls[i];
        struct declared info = declarator_info(c, k, spec_const);
        if (ts_node_is_null(info.ident) && !info.is_function)
            refuse_nameless(c, decl);
        if (ts_node_is_null(info.ident) || info.is_function)
            continue;
        int slot;
        if (local) {
            slot = c->next_slot++;
        } else {
            size_t len;
            const char *name = node_text(c, info.ident, &len);
            struct sym *s = sym_find(c, name, len);
            slot = s ? s->slot : c->next_slot++;
        }
        if (*nslots < 64)
            slots[(*nslots)++] = slot;
        struct sbuf b = { 0 };
        TSNode d = k, value = { 0 };
        long count = -1;
        if (type_is(k, "init_declarator")) {
            d = ts_node_child_by_field_id(k, c->f_declarator);
            value = ts_node_child_by_field_id(k, c->f_value);
            if (!ts_node_is_null(value))
                count = initializer_count(c, value);
        }
        char sym[32], size[300];
        snprintf(sym, sizeof sym, "__hotc_s_%d", slot);
        snprintf(size, sizeof size, "%ld", count);
        bool sized = count >= 0 || (!local && !ts_node_is_null(info.unsized) && !ts_node_is_null(value) &&
                                    size_from_copy(c, decl, decls[0], d, &info, value, size, sizeof size));
        add_declarator(c, &b, d, &info, sized ? size : NULL, local ? sym : NULL);
        if (!local) {
            sbuf_str(&b, " __asm__(\"");
            sbuf_str(&b, sym);
            sbuf_str(&b, "\")");
        }
        sbuf_str(&b, " __attribute((weak))");
        if (b.oom)
            c->oom = true;
        else
            edit_replace(c, k, b.data, b.len);
        free(b.data);
    }
}

/* Turns a file-scope definition of a global variable into a declaration:
 * `int score = 5;` → `extern int score;`, so that the patch uses the host's. */
static void rewrite_global(struct ctx *c, TSNode decl, struct sym *reloaded_decl)
{
    /* A "declaration" the parser made up while recovering from macros it
     * cannot see through (`HOT API int f(...) {`, API being `extern`) has
     * no `;` of its own: it is the head of what follows, not a variable,
     * and must not get an `extern` of its own. */
    uint32_t nchild = ts_node_child_count(decl);
    TSNode last = nchild ? ts_node_child(decl, nchild - 1) : decl;
    if (!nchild || ts_node_is_missing(last) || strcmp(ts_node_type(last), ";") != 0)
        return;
    bool spec_const = has_qualifier(c, decl, "const");
    bool has_extern = has_storage(c, decl, ST_EXTERN);
    bool has_var = false;
    TSNode decls[64];
    size_t ndecl = declarators(decl, decls, 64);
    for (size_t i = 0; i < ndecl; i++) {
        TSNode k = decls[i];
        struct declared info = declarator_info(c, k, spec_const);
        if (ts_node_is_null(info.ident))
            continue;
        if (info.is_function) {
            size_t len;
            const char *name = node_text(c, info.ident, &len);
            struct sym *s = sym_find(c, name, len);
            if (s && s == reloaded_decl) {
                struct sbuf b = { 0 };
                sbuf_str(&b, " __asm__(__hotc_def(");
                sbuf_add(&b, name, len);
                sbuf_str(&b, "))");
                /* right after the parameters: an asm label goes before the
                 * attributes (`f(int) ATTR_UNUSED;`, where tree-sitter reads
                 * the macro as part of the function's declarator) */
                TSNode at = k;
                while (type_is(at, "pointer_declarator") && !ts_node_is_null(ts_node_child_by_field_id(at, c->f_declarator)))
                    at = ts_node_child_by_field_id(at, c->f_declarator);
                TSNode params = type_is(at, "function_declarator") ? ts_node_child_by_field_name(at, "parameters", 10)
                                                                   : at;
                if (!b.oom)
                    edit_insert_after(c, ts_node_is_null(params) ? k : params, b.data, b.len);
                free(b.data);
            }
            continue;
        }
        has_var = true;
        if (!type_is(k, "init_declarator"))
            continue;
        TSNode d = ts_node_child_by_field_id(k, c->f_declarator);
        TSNode value = ts_node_child_by_field_id(k, c->f_value);
        long count = ts_node_is_null(value) ? -1 : initializer_count(c, value);
        char size[300];
        snprintf(size, sizeof size, "%ld", count);
        bool sized = count >= 0 || (!ts_node_is_null(info.unsized) && !ts_node_is_null(value) &&
                                    size_from_copy(c, decl, decls[0], d, &info, value, size, sizeof size));
        struct sbuf b = { 0 };
        add_declarator(c, &b, d, &info, sized ? size : NULL, NULL);
        if (!b.oom)
            edit_replace(c, k, b.data, b.len);
        free(b.data);
    }
    if (has_var && !has_extern)
        edit_insert(c, decl, "extern ", 7);
}

/* Renames, in the rest of the block after `decl`, every identifier `name` to
 * `symbol`. Uniform renaming is safe: from the declaration on, the name means
 * the static or something declared later inside the block (renamed
 * consistently). Returns how many uses were renamed. */
static size_t rename_after(struct ctx *c, TSNode decl, const char *name, size_t len,
                           const char *symbol)
{
    TSNode block = ts_node_parent(decl);
    while (!ts_node_is_null(block) && !type_is(block, "compound_statement"))
        block = ts_node_parent(block);
    if (ts_node_is_null(block))
        return 0;
    uint32_t from = ts_node_end_byte(decl);
    size_t uses = 0;
    TSTreeCursor cur = ts_tree_cursor_new(block);
    for (;;) {
        TSNode n = ts_tree_cursor_current_node(&cur);
        bool descend = ts_node_end_byte(n) > from;
        if (descend && ts_node_start_byte(n) >= from && type_is(n, "identifier")) {
            size_t l;
            const char *t = node_text(c, n, &l);
            if (l == len && memcmp(t, name, len) == 0) {
                edit_replace(c, n, symbol, strlen(symbol));
                uses++;
            }
            descend = false;
        }
        if (!cursor_next(&cur, block, descend))
            break;
    }
    ts_tree_cursor_delete(&cur);
    return uses;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void add_static_entry(struct ctx *c, int slot, const char *name, size_t len,
                             const char *function, size_t flen)
{
    struct patch *out = c->out;
    /* a patch binds a handful of statics: one realloc each is fine */
    struct patch_static *grown = realloc(out->statics, (out->static_count + 1) * sizeof *grown);
    if (!grown) {
        c->oom = true;
        return;
    }
    out->statics = grown;
    struct patch_static *s = &out->statics[out->static_count];
    char sym[32];
    snprintf(sym, sizeof sym, "__hotc_s_%d", slot);
    s->symbol = strdup(sym);
    s->name = dup_n(name, len);
    s->function = function ? dup_n(function, flen) : NULL;
    out->static_count++;
    if (!s->symbol || !s->name || (function && !s->function))
        c->oom = true;
}

/* The function-local statics of a kept function: weak references bound to
 * the host's `name.N` (gcc) / `function.name` (clang), each renamed to its
 * symbol in the rest of its block. */
static void rewrite_local_statics(struct ctx *c, TSNode body, const char *fname, size_t flen)
{
    TSTreeCursor cur = ts_tree_cursor_new(body);
    for (;;) {
        TSNode n = ts_tree_cursor_current_node(&cur);
        bool descend = true;
        if (type_is(n, "declaration") && is_bound_local_static(c, n)) {
            int slots[64];
            size_t nslots;
            rewrite_static(c, n, true, slots, &nslots);
            /* the names, in declarator order, matching the slots */
            bool spec_const = has_qualifier(c, n, "const");
            TSNode decls[64];
            size_t ndecl = declarators(n, decls, 64);
            size_t si = 0;
            for (size_t i = 0; i < ndecl && si < nslots; i++) {
                struct declared info = declarator_info(c, decls[i], spec_const);
                if (ts_node_is_null(info.ident) || info.is_function)
                    continue;
                size_t len;
                const char *name = node_text(c, info.ident, &len);
                char sym[32];
                snprintf(sym, sizeof sym, "__hotc_s_%d", slots[si]);
                if (rename_after(c, n, name, len, sym) > 0)
                    add_static_entry(c, slots[si], name, len, fname, flen);
                si++;
            }
            descend = false;
        }
        if (!cursor_next(&cur, body, descend))
            break;
    }
    ts_tree_cursor_delete(&cur);
}

/* The position of byte `at`. */
static TSPoint point_at(const struct ctx *c, uint32_t at)
{
    TSPoint p = { 0, 0 };
    for (uint32_t i = 0; i < at && i < c->len; i++) {
        if (c->src[i] == '\n') {
            p.row++;
            p.column = 0;
        } else {
            p.column++;
        }
    }
    return p;
}

/* Where the prototype of a reloaded function whose definition spans
 * [head, end) goes: before `head`, unless the head is in a branch of a
 * conditional group opened before it and closed inside the body (`#ifdef
 * _WIN32` ... `int run(...) {` `#else` `int run(...) {` `#endif`): there
 * the head read may be in the branch the compiler skips, so before the
 * group's #if, which the compiler reads whichever branch it takes. */
static uint32_t group_around_head(struct ctx *c, uint32_t head, uint32_t end)
{
    size_t at = head, a, b;
    int depth = 0;
    enum grammar_directive kind;
    bool crosses = false;
    while (!crosses && (kind = grammar_next_structural(c->src, c->len, end, &at, &a, &b)) != DIR_OTHER) {
        if (kind == DIR_IF)
            depth++;
        else if (kind == DIR_ENDIF && depth > 0)
            depth--;
        else if (kind != DIR_MACRO && depth == 0)
            crosses = true;
    }
    if (!crosses)
        return head;
    /* the group open at `head`: the innermost #if before it not closed */
    size_t opens[64], n = 0;
    at = 0;
    while ((kind = grammar_next_structural(c->src, c->len, head, &at, &a, &b)) != DIR_OTHER) {
        if (kind == DIR_IF && n < 64)
            opens[n++] = a;
        else if (kind == DIR_ENDIF && n > 0)
            n--;
    }
    return n > 0 ? (uint32_t)opens[n - 1] : head;
}

static void edit_function(struct ctx *c, TSNode def)
{
    TSNode id = function_name(c, def);
    TSNode body = ts_node_child_by_field_id(def, c->f_body);
    if (ts_node_is_null(id) || ts_node_is_null(body))
        return;
    /* where the definition ends as the compiler reads it (past what
     * tree-sitter read when an #if inside an initializer cut it short) */
    uint32_t end = grammar_function_end(def, c->src, c->len);
    TSPoint end_point = point_after(c, def, end);
    size_t len;
    const char *name = node_text(c, id, &len);
    struct sym *s = sym_find(c, name, len);
    if (!s)
        return;
    if (s->reloaded) {
        /* prototype with the asm label, on its own line before the
         * definition; the definition keeps the visibility the user gave
         * it (hidden, internal), so the symbol the runtime looks up is an
         * alias with default visibility, on the definition's last line */
        TSNode decl = ts_node_child_by_field_id(def, c->f_declarator);
        /* the head starts before the node when tree-sitter split it off */
        TSNode head = ts_node_prev_sibling(def);
        if (ts_node_is_null(head) || !is_function_head(c, head, def))
            head = def;
        struct sbuf b = { 0 };
        add_one_line(c, &b, ts_node_start_byte(head), ts_node_end_byte(decl), def, true);
        sbuf_str(&b, " __asm__(__hotc_def(");
        sbuf_add(&b, name, len);
        sbuf_str(&b, "));\n");
        uint32_t at = group_around_head(c, ts_node_start_byte(head), end);
        if (b.oom)
            c->oom = true;
        else if (at == ts_node_start_byte(head))
            edit_insert(c, head, b.data, b.len);
        else
            edit_add(c, at, at, point_at(c, at), b.data, b.len);
        free(b.data);
        struct sbuf a = { 0 };
        sbuf_str(&a, " __hotc_export(");
        sbuf_add(&a, name, len);
        sbuf_str(&a, ")");
        if (a.oom)
            c->oom = true;
        else
            edit_add(c, end, end, end_point, a.data, a.len);
        free(a.data);
        uint32_t n = ts_node_child_count(def);
        for (uint32_t i = 0; i < n; i++) {
            TSNode k = ts_node_child(def, i);
            if (type_is(k, "storage_class_specifier") && (node_is(c, k, "static") || is_inline_word(c, k)))
                edit_blank(c, k);
        }
        rewrite_local_statics(c, body, name, len);
    } else if (s->kept) {
        rewrite_local_statics(c, body, name, len);
    } else if (s->flags & SYM_STATIC_FN) {
        edit_add(c, ts_node_start_byte(def), end, end_point, "", 0);
    } else {
        edit_add(c, ts_node_start_byte(body), end, end_point, ";", 1);
    }
}

static void edit_declaration(struct ctx *c, TSNode decl)
{
    bool is_static = has_storage(c, decl, ST_STATIC);
    bool spec_const = has_qualifier(c, decl, "const");
    bool any_var = false, keep_whole = false;
    struct sym *fn = NULL;
    TSNode decls[64];
    size_t ndecl = declarators(decl, decls, 64);
    for (size_t i = 0; i < ndecl; i++) {
        TSNode k = decls[i];
        struct declared info = declarator_info(c, k, spec_const);
        if (ts_node_is_null(info.ident))
            continue;
        size_t len;
        const char *name = node_text(c, info.ident, &len);
        struct sym *s = sym_find(c, name, len);
        if (info.is_function) {
            if (s && !fn)
                fn = s;
        } else {
            any_var = true;
            if (s && s->const_init && s->referenced)
                keep_whole = true;
        }
    }
    if (!is_static) {
        rewrite_global(c, decl, fn && fn->reloaded ? fn : NULL);
        return;
    }
    if (any_var) {
        if (!keep_whole) {
            int slots[64];
            size_t nslots;
            rewrite_static(c, decl, false, slots, &nslots);
        }
        return;
    }
    if (!fn)
        return;
    if (fn->reloaded) {
        uint32_t n = ts_node_child_count(decl);
        for (uint32_t i = 0; i < n; i++) {
            TSNode k = ts_node_child(decl, i);
            if (type_is(k, "storage_class_specifier") && (node_is(c, k, "static") || is_inline_word(c, k)))
                edit_blank(c, k);
        }
        rewrite_global(c, decl, fn);
    } else if (!fn->kept && !fn->referenced) {
        /* a static function the patch does not use: its prototype would only
         * warn "declared but never defined" */
        edit_replace(c, decl, "", 0);
    }
}

static struct item *item_add(struct ctx *c, struct patch_index *ix, int kind, TSNode node)
{
    if (!grow((void **)&ix->items, &ix->itemcap, ix->nitems + 1, sizeof *ix->items)) {
        c->oom = true;
        return NULL;
    }
    struct item *it = &ix->items[ix->nitems++];
    memset(it, 0, sizeof *it);
    it->node = node;
    it->kind = (uint8_t)kind;
    it->dep = (uint32_t)ix->ndeps;
    it->edit = (uint32_t)c->nedits;
    return it;
}

static void item_dep(struct ctx *c, struct patch_index *ix, struct item *it, TSNode ident)
{
    if (ts_node_is_null(ident))
        return;
    size_t len;
    const char *name = node_text(c, ident, &len);
    struct sym *s = sym_find(c, name, len);
    if (!s)
        return;
    if (!grow((void **)&ix->deps, &ix->depcap, ix->ndeps + 1, sizeof *ix->deps)) {
        c->oom = true;
        return;
    }
    ix->deps[ix->ndeps++] = (uint32_t)(s - c->syms);
    it->ndep++;
}

/* Whether top-level `n` is code the patch copies as it is and that no
 * item stands for: a definition whose head is a macro (flex's `YY_DECL {`),
 * what tree-sitter could not read. The names it uses are used. */
static bool is_stray(TSNode n)
{
    static const char *const known[] = {
        "function_definition", "declaration", "comment", "type_definition", "struct_specifier",
        "union_specifier", "enum_specifier", "linkage_specification", ";", "preproc_include",
        "preproc_def", "preproc_function_def", "preproc_call", "preproc_if", "preproc_ifdef",
        "preproc_else", "preproc_elif", "preproc_elifdef", "preproc_directive", "#if", "#ifdef",
        "#ifndef", "#else", "#elif", "#endif", "\n",
    };
    const char *t = ts_node_type(n);
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(t, known[i]) == 0)
            return false;
    return ts_node_is_named(n) || ts_node_has_error(n);
}

/* Step 3 with no name used, for the index: the items of `parent` in
 * document order, each with the symbols it declares and the edits it gets
 * when the patch uses none of them (bodies to prototypes, statics to weak
 * references, definitions of globals to declarations). */
static void index_items(struct ctx *c, struct patch_index *ix, TSNode parent, bool top)
{
    TSNode *kids = NULL;
    size_t cap = 0, n = children(parent, &kids, &cap);
    uint32_t body_end = 0;
    for (size_t i = 0; i < n && !c->oom; i++) {
        TSNode k = kids[i];
        const char *t = ts_node_type(k);
        struct item *it;
        if (ts_node_start_byte(k) < body_end)
            continue; /* the rest of a body tree-sitter cut short */
        if (strcmp(t, "function_definition") == 0 && macro_head(c, k)) {
            body_end = grammar_function_end(k, c->src, c->len);
            if (!item_add(c, ix, ITEM_STRAY, k))
                break;
        } else if (strcmp(t, "function_definition") == 0) {
            body_end = grammar_function_end(k, c->src, c->len);
            if (!(it = item_add(c, ix, ITEM_FUNC, k)))
                break;
            item_dep(c, ix, it, function_name(c, k));
            edit_function(c, k);
            it = &ix->items[ix->nitems - 1];
            it->nedit = (uint32_t)c->nedits - it->edit;
        } else if (strcmp(t, "declaration") == 0) {
            if (i + 1 < n && is_function_head(c, k, kids[i + 1]))
                continue;
            if (!(it = item_add(c, ix, ITEM_DECL, k)))
                break;
            bool spec_const = has_qualifier(c, k, "const");
            TSNode decls[64];
            size_t ndecl = declarators(k, decls, 64);
            for (size_t d = 0; d < ndecl; d++)
                item_dep(c, ix, it, declarator_info(c, decls[d], spec_const).ident);
            edit_declaration(c, k);
            it->nedit = (uint32_t)c->nedits - it->edit;
        } else if (strcmp(t, "preproc_function_def") == 0) {
            c->fn_macro_seen = true;
        } else if (strcmp(t, "preproc_include") == 0) {
            /* after a function-like macro, a header of the project may be
             * an X-macro list expanded here: see use_include */
            TSNode path = ts_node_child_by_field_id(k, c->f_path);
            if (c->fn_macro_seen && type_is(path, "string_literal") && !item_add(c, ix, ITEM_INCLUDE, k))
                break;
        } else if (is_stray(k)) {
            if (!item_add(c, ix, ITEM_STRAY, k))
                break;
        } else if (grammar_is_container(k)) {
            if (top && !item_add(c, ix, ITEM_OPEN, k))
                break;
            index_items(c, ix, k, false);
            if (top) {
                /* #line inside a skipped branch is not obeyed: resynchronize
                 * on the line after the #endif, which is always live */
                uint32_t at = ts_node_end_byte(k);
                TSPoint p = ts_node_end_point(k);
                if (p.column != 0) {
                    while (at < c->len && c->src[at] != '\n')
                        at++;
                    if (at < c->len)
                        at++;
                    p.row++;
                    p.column = 0;
                }
                if (!(it = item_add(c, ix, ITEM_CLOSE, k)))
                    break;
                it->at = at;
                it->at_point = p;
            }
        }
    }
    free(kids);
}

/* Whether the patch uses a name `it` declares: then its edits depend on
 * what the patch keeps and are made again from its node. */
static bool item_live(const struct ctx *c, const struct item *it)
{
    for (uint32_t i = 0; i < it->ndep; i++) {
        const struct sym *s = &c->syms[c->ix->deps[it->dep + i]];
        if (s->reloaded || s->kept || s->referenced)
            return true;
    }
    return false;
}

/* Step 3: the edits of every item, copied from the index for the items
 * the patch does not use, made again for the others. */
static void edit_items(struct ctx *c)
{
    const struct patch_index *ix = c->ix;
    size_t before = 0;
    for (size_t i = 0; i < ix->nitems && !c->oom; i++) {
        const struct item *it = &ix->items[i];
        switch (it->kind) {
        case ITEM_OPEN:
            before = c->nedits;
            break;
        case ITEM_STRAY:
        case ITEM_INCLUDE:
            break;
        case ITEM_CLOSE:
            if (c->nedits > before) {
                edit_add(c, it->at, it->at, it->at_point, "", 0);
                if (!c->oom)
                    c->edits[c->nedits - 1].force_resync = true;
            }
            break;
        default:
            if (item_live(c, it)) {
                if (it->kind == ITEM_FUNC)
                    edit_function(c, it->node);
                else
                    edit_declaration(c, it->node);
                break;
            }
            if (!grow((void **)&c->edits, &c->editcap, c->nedits + it->nedit, sizeof *c->edits)) {
                c->oom = true;
                break;
            }
            for (uint32_t k = 0; k < it->nedit; k++) {
                struct edit *e = &c->edits[c->nedits];
                *e = ix->edits[it->edit + k];
                e->seq = (uint32_t)c->nedits++;
                e->shared = true;
            }
            break;
        }
    }
}

static int edit_cmp(const void *pa, const void *pb)
{
    const struct edit *a = pa, *b = pb;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    bool za = a->start == a->end, zb = b->start == b->end;
    if (za != zb)
        return za ? -1 : 1;
    if (za)
        return a->seq < b->seq ? -1 : 1;
    return a->seq > b->seq ? -1 : 1; /* the later replacement wins */
}

static size_t count_newlines(const char *s, size_t n)
{
    size_t k = 0;
    const char *end = s + n;
    while ((s = memchr(s, '\n', (size_t)(end - s))) != NULL) {
        k++;
        s++;
    }
    return k;
}

/* `#line N "path"`: `quoted` is the path quoted and escaped, with the
 * newline (a file has as many of these as functions: no printf). */
static void add_line_directive(struct sbuf *b, unsigned long line, const struct sbuf *quoted)
{
    char digits[24];
    size_t k = sizeof digits;
    do
        digits[--k] = (char)('0' + line % 10);
    while ((line /= 10) != 0);
    sbuf_add(b, "#line ", 6);
    sbuf_add(b, digits + k, sizeof digits - k);
    sbuf_add(b, quoted->data, quoted->len);
}

/* A directive line of a replaced range. */
struct dline {
    size_t a, b;
    size_t group; /* #else, #endif: index + 1 of its #if in the range, 0 outside */
    bool keep, macros; /* macros: an #if whose group holds a kept #define */
};

/* Whether the directive [a, b) defines a function-like macro. */
static bool defines_function_like(const struct ctx *c, size_t a, size_t b)
{
    size_t i = a + 1;
    while (i < b && (c->src[i] == ' ' || c->src[i] == '\t'))
        i++;
    if (b - i < 6 || memcmp(c->src + i, "define", 6) != 0)
        return false;
    for (i += 6; i < b && (c->src[i] == ' ' || c->src[i] == '\t'); i++)
        ;
    while (i < b && (c->src[i] == '_' || (c->src[i] >= 'a' && c->src[i] <= 'z') ||
                     (c->src[i] >= 'A' && c->src[i] <= 'Z') || (c->src[i] >= '0' && c->src[i] <= '9')))
        i++;
    return i < b && c->src[i] == '(';
}

/* Appends to `b` the directive lines of [start, end) that the text around
 * the range depends on, each on a line of its own:
 * - the #if, #else or #endif of a group the range does not hold whole
 *   (the head of a function in two #if branches);
 * - an object-like #define and every #undef (a later function may use a
 *   constant a body defines: quickjs's OP_DEFINE_METHOD_GETTER), with the
 *   whole groups that hold them. A function-like #define goes with the
 *   range: it is an X-macro for an #include the range holds, which
 *   undefines it, and kept alone it would redefine a later one.
 * Returns whether it appended anything. */
static bool keep_directives(struct ctx *c, struct sbuf *b, uint32_t start, uint32_t end)
{
    struct dline *lines = NULL;
    size_t n = 0, cap = 0, at = start, da, db, open = 0;
    size_t *stack = NULL, depth = 0;
    enum grammar_directive kind;
    bool any = false;

    while ((kind = grammar_next_structural(c->src, c->len, end, &at, &da, &db)) != DIR_OTHER) {
        if (kind == DIR_MACRO && defines_function_like(c, da, db))
            continue;
        if (!grow((void **)&lines, &cap, n + 1, sizeof *lines) ||
            (kind == DIR_IF && !grow((void **)&stack, &open, depth + 1, sizeof *stack))) {
            b->oom = true;
            break;
        }
        struct dline *l = &lines[n];
        *l = (struct dline){ .a = da, .b = db, .keep = true };
        if (kind == DIR_IF) {
            l->keep = false; /* until it is known not to close in the range */
            stack[depth++] = n;
        } else if (kind == DIR_MACRO) {
            if (depth)
                lines[stack[depth - 1]].macros = true;
        } else if (depth) {
            size_t g = stack[depth - 1];
            l->group = g + 1;
            l->keep = false;
            if (kind == DIR_ENDIF) {
                depth--;
                if (lines[g].macros) {
                    lines[g].keep = true;
                    for (size_t k = g + 1; k <= n; k++)
                        if (lines[k].group == g + 1)
                            lines[k].keep = true;
                    if (depth)
                        lines[stack[depth - 1]].macros = true;
                }
            }
        }
        n++;
    }
    /* groups left open: their #if and #else lines stay */
    for (size_t d = 0; d < depth; d++) {
        size_t g = stack[d];
        lines[g].keep = true;
        for (size_t k = g + 1; k < n; k++)
            if (lines[k].group == g + 1)
                lines[k].keep = true;
    }
    for (size_t k = 0; k < n; k++) {
        if (!lines[k].keep)
            continue;
        if (b->len && b->data[b->len - 1] != '\n')
            sbuf_char(b, '\n');
        sbuf_add(b, c->src + lines[k].a, lines[k].b - lines[k].a);
        sbuf_char(b, '\n');
        any = true;
    }
    free(lines);
    free(stack);
    return any;
}

/* Applies the edits. Generated attributes are spelled `__attribute`: glibc's
 * <sys/cdefs.h> defines `__attribute__` away for compilers that do not claim
 * to be GCC (tcc), which would silently drop `weak`. */
static void emit(struct ctx *c, struct sbuf *b)
{
    sbuf_str(b, "__attribute((visibility(\"default\"), used)) const char __hotc_target_build_id[] = \"");
    for (const char *p = c->in->build_id ? c->in->build_id : ""; *p; p++)
        if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'))
            sbuf_char(b, *p);
    sbuf_str(b, "\";\n");
    /* A reloaded definition keeps its own visibility (-fvisibility=hidden,
     * an internal attribute) under the name __hotc_d_<f>; the runtime finds
     * it through __hotc_f_<f>, an alias with default visibility. tcc has no
     * aliases (and ignores visibility): there the definition is that name. */
    sbuf_str(b, "#ifdef __TINYC__\n#define __hotc_def(f) \"__hotc_f_\" #f\n#define __hotc_export(f)\n#else\n"
                "#define __hotc_def(f) \"__hotc_d_\" #f\n#define __hotc_export(f) extern __typeof__(f) __hotc_f_##f "
                "__attribute((alias(\"__hotc_d_\" #f), visibility(\"default\")));\n#endif\n");
    struct sbuf quoted = { 0 };
    sbuf_str(&quoted, " \"");
    for (const char *p = c->in->path; *p; p++) {
        if (*p == '"' || *p == '\\')
            sbuf_char(&quoted, '\\');
        sbuf_char(&quoted, *p);
    }
    sbuf_str(&quoted, "\"\n");
    if (quoted.oom) {
        b->oom = true;
        return;
    }
    add_line_directive(b, 1, &quoted);

    /* the edits come mostly in order: sort only when they are not */
    bool sorted = true;
    for (size_t i = 1; i < c->nedits && sorted; i++)
        sorted = edit_cmp(&c->edits[i - 1], &c->edits[i]) < 0;
    if (!sorted)
        qsort(c->edits, c->nedits, sizeof *c->edits, edit_cmp);
    uint32_t pos = 0;
    for (size_t i = 0; i < c->nedits; i++) {
        struct edit *e = &c->edits[i];
        if (e->start < pos)
            continue; /* overlapped by an edit that won */
        sbuf_add(b, c->src + pos, e->start - pos);
        const char *text = !e->text_len ? "" : e->shared ? c->ix->arena.data + e->text : c->arena.data + e->text;
        sbuf_add(b, text, e->text_len);
        bool kept = e->end > e->start && keep_directives(c, b, e->start, e->end);
        pos = e->end;
        if (kept || e->force_resync || count_newlines(text, e->text_len) != count_newlines(c->src + e->start, e->end - e->start)) {
            if (b->len && b->data[b->len - 1] != '\n')
                sbuf_char(b, '\n');
            add_line_directive(b, (unsigned long)e->end_point.row + 1, &quoted);
            for (uint32_t k = e->end - e->end_point.column; k < e->end; k++)
                sbuf_char(b, c->src[k] == '\t' ? '\t' : ' ');
        }
    }
    sbuf_add(b, c->src + pos, c->len - pos);
    if (b->len && b->data[b->len - 1] != '\n')
        sbuf_char(b, '\n');
    free(quoted.data);
}

/* ------------------------------------------------------------ entry points */

void patch_init(struct patch *self)
{
    memset(self, 0, sizeof *self);
}

void patch_release(struct patch *self)
{
    free(self->source);
    free(self->file);
    for (size_t i = 0; i < self->function_count; i++) {
        free(self->functions[i].name);
        free(self->functions[i].symbol);
    }
    free(self->functions);
    for (size_t i = 0; i < self->static_count; i++) {
        free(self->statics[i].symbol);
        free(self->statics[i].name);
        free(self->statics[i].function);
    }
    free(self->statics);
    patch_init(self);
}

static int static_cmp(const void *pa, const void *pb)
{
    const struct patch_static *a = pa, *b = pb;
    int na = atoi(a->symbol + 9), nb = atoi(b->symbol + 9);
    return (na > nb) - (na < nb);
}

static int fill_tables(struct ctx *c)
{
    struct patch *out = c->out;
    const char *path = c->in->path;
    const char *slash = strrchr(path, '/');
    out->file = strdup(slash ? slash + 1 : path);
    out->functions = calloc(c->in->function_count ? c->in->function_count : 1, sizeof *out->functions);
    if (!out->file || !out->functions)
        return PATCH_ENOMEM;
    for (size_t i = 0; i < c->in->function_count; i++) {
        const char *name = c->in->functions[i];
        struct sym *s = sym_find(c, name, strlen(name));
        struct patch_function *f = &out->functions[out->function_count++];
        f->name = strdup(name);
        f->symbol = malloc(strlen(name) + 10);
        if (!f->name || !f->symbol)
            return PATCH_ENOMEM;
        sprintf(f->symbol, "__hotc_f_%s", name);
        f->is_static = s && (s->flags & SYM_STATIC_FN);
    }
    for (size_t i = 0; i < c->nsyms; i++) {
        struct sym *s = &c->syms[i];
        if ((s->flags & SYM_SVAR) && s->referenced && !s->const_init)
            add_static_entry(c, s->slot, c->src + s->name, s->len, NULL, 0);
    }
    if (c->oom)
        return PATCH_ENOMEM;
    if (out->static_count > 1)
        qsort(out->statics, out->static_count, sizeof *out->statics, static_cmp);
    return 0;
}

static void field_ids(struct ctx *c, const TSTree *tree)
{
    const TSLanguage *lang = ts_tree_language(tree);
    c->f_declarator = ts_language_field_id_for_name(lang, "declarator", 10);
    c->f_body = ts_language_field_id_for_name(lang, "body", 4);
    c->f_value = ts_language_field_id_for_name(lang, "value", 5);
    c->f_name = ts_language_field_id_for_name(lang, "name", 4);
    c->f_size = ts_language_field_id_for_name(lang, "size", 4);
    c->f_path = ts_language_field_id_for_name(lang, "path", 4);
    c->f_type = ts_language_field_id_for_name(lang, "type", 4);
}

void patch_index_free(struct patch_index *self)
{
    if (!self)
        return;
    if (self->tree)
        ts_tree_delete(self->tree);
    if (self->source)
        ts_tree_delete(self->source);
    free(self->syms);
    free(self->table);
    free(self->occs);
    free(self->items);
    free(self->deps);
    free(self->edits);
    free(self->arena.data);
    free(self);
}

/* The index of `text`; `last_branch` as in grammar_mask_directives, for
 * the reading used when tree-sitter gave up on bytes at the top level.
 * `given`: the caller read `tree` already (grammar_reading), `given_reading`
 * its reading or NULL. */
static struct patch_index *index_new(const char *text, size_t length, const TSTree *tree, bool last_branch,
                                     bool given, const TSTree *given_reading)
{
    struct patch_index *ix = NULL;
    TSParser *parser = NULL;
    TSTree *own = NULL, *reading = NULL;
    struct ctx c = { .src = text, .len = length };
    bool masked = false;

    if (!text || length > UINT32_MAX)
        return NULL;
    if (!tree) {
        parser = ts_parser_new();
        if (!parser || !ts_parser_set_language(parser, grammar_language()) ||
            !(own = ts_parser_parse_string(parser, NULL, text, (uint32_t)length)))
            goto fail;
        tree = own;
    }
    const TSTree *source = tree;
    reading = given ? (given_reading ? ts_tree_copy(given_reading) : NULL)
                            : grammar_reading(text, length, tree, last_branch);
    if (reading) {
        tree = reading;
        masked = true;
    }
    ix = calloc(1, sizeof *ix);
    if (!ix || !(ix->tree = ts_tree_copy(tree)) || (masked && !(ix->source = ts_tree_copy(source))))
        goto fail;
    ix->masked = masked;
    ix->length = length;
    TSNode root = ts_tree_root_node(ix->tree);
    field_ids(&c, ix->tree);
    collect(&c, root);
    ix->next_slot = c.next_slot;
    if (!c.oom)
        index_items(&c, ix, root, true);
    ix->syms = c.syms;
    ix->nsyms = c.nsyms;
    ix->symcap = c.symcap;
    ix->table = c.table;
    ix->tablecap = c.tablecap;
    ix->occs = c.occs;
    ix->nocc = c.nocc;
    ix->occcap = c.occcap;
    ix->edits = c.edits;
    ix->nedits = c.nedits;
    ix->arena = c.arena;
    free(c.work);
    bool failed = c.oom || ix->arena.oom;
    c = (struct ctx){ 0 };
    if (failed)
        goto fail;
    goto done;
fail:
    free(c.syms);
    free(c.table);
    free(c.occs);
    free(c.edits);
    free(c.arena.data);
    patch_index_free(ix);
    ix = NULL;
done:
    if (reading)
        ts_tree_delete(reading);
    if (own)
        ts_tree_delete(own);
    if (parser)
        ts_parser_delete(parser);
    return ix;
}

struct patch_index *patch_index_new(const char *text, size_t length, const TSTree *tree)
{
    return index_new(text, length, tree, false, false, NULL);
}

struct patch_index *patch_index_new_read(const char *text, size_t length, const TSTree *tree,
                                         const TSTree *reading)
{
    return tree ? index_new(text, length, tree, false, true, reading) : NULL;
}

/* Whether `ix` was built from the tree `in` names (the text is the
 * caller's promise). A copy of a tree (ts_tree_copy) has a root node of its
 * own (its id is the address of the tree's root field) but shares the root's
 * children, whose ids are addresses inside the root subtree: these cannot be
 * reused while the index holds its copy, and any edit of the other tree
 * replaces its root. */
bool patch_index_fits(const struct patch_index *ix, const TSTree *tree, size_t length)
{
    if (!ix || !tree || ix->length != length)
        return false;
    TSNode a = ts_tree_root_node(ix->source ? ix->source : ix->tree), b = ts_tree_root_node(tree);
    if (ts_node_child_count(a) == 0 || ts_node_child_count(b) == 0)
        return false;
    return ts_node_child(a, 0).id == ts_node_child(b, 0).id;
}

int patch_build(struct patch *self, const struct patch_input *in)
{
    return patch_build_indexed(self, in, NULL);
}

static int build(struct patch *self, const struct patch_input *in, const struct patch_index *index,
                 bool last_branch);

int patch_build_indexed(struct patch *self, const struct patch_input *in, const struct patch_index *index)
{
    int err = build(self, in, index, false);
    if (err == PATCH_ENOTFOUND) {
        /* a function whose head is in the last branch of an #if (the
         * first reading has the first branch's) */
        struct patch other;
        patch_init(&other);
        if (build(&other, in, NULL, true) == 0) {
            patch_release(self);
            *self = other;
            return 0;
        }
        patch_release(&other);
    }
    return err;
}

/* patch_build_indexed with one reading of the file. */
static int build(struct patch *self, const struct patch_input *in, const struct patch_index *index,
                 bool last_branch)
{
    struct ctx c = { .src = in->text, .len = in->length, .in = in, .out = self };
    struct patch_index *own = NULL;
    const struct patch_index *ix;
    int err = 0;

    if (!in->text || !in->path || (in->function_count && !in->functions)) {
        snprintf(self->error, sizeof self->error, "cannot build a patch: %s", patch_strerror(PATCH_EINVAL));
        return PATCH_EINVAL;
    }
    if (patch_index_fits(index, in->tree, in->length)) {
        ix = index;
    } else {
        if (!(own = index_new(in->text, in->length, in->tree, last_branch, false, NULL))) {
            err = PATCH_EPARSE;
            snprintf(self->error, sizeof self->error, "cannot parse %s", in->path);
            goto done;
        }
        ix = own;
    }
    c.ix = ix;
    c.syms = malloc((ix->nsyms ? ix->nsyms : 1) * sizeof *c.syms);
    if (!c.syms)
        goto oom;
    if (ix->nsyms) /* a file with no file-scope names has no array to copy */
        memcpy(c.syms, ix->syms, ix->nsyms * sizeof *c.syms);
    c.nsyms = c.symcap = ix->nsyms;
    c.table = ix->table;
    c.tablecap = ix->tablecap;
    c.occs = ix->occs;
    c.nocc = c.occcap = ix->nocc;
    c.next_slot = ix->next_slot;
    field_ids(&c, ix->tree);
    c.cursor = ts_tree_cursor_new(ts_tree_root_node(ix->tree));

    for (size_t i = 0; i < in->function_count; i++) {
        const char *name = in->functions[i];
        struct sym *s = sym_find(&c, name, strlen(name));
        if (!s || !(s->flags & SYM_FUNC)) {
            err = PATCH_ENOTFOUND;
            snprintf(self->error, sizeof self->error,
                     "cannot reload %s(): no definition of it in %s", name, in->path);
            goto done;
        }
        s->reloaded = true;
        keep_function(&c, s);
    }
    for (size_t i = 0; i < ix->nitems; i++) {
        if (ix->items[i].kind == ITEM_STRAY)
            push_work(&c, ix->items[i].node);
        else if (ix->items[i].kind == ITEM_INCLUDE)
            use_include(&c, ix->items[i].node);
    }
    while ((c.nwork || c.nraw) && !c.oom) {
        if (c.nwork) {
            TSNode n = c.work[--c.nwork];
            scan(&c, n);
        } else {
            c.nraw--;
            use_names_in(&c, c.src + c.raw[c.nraw][0], c.src + c.raw[c.nraw][1], 0);
        }
    }
    if (c.oom)
        goto oom;

    edit_items(&c);
    if (c.oom || c.arena.oom)
        goto oom;
    if (*c.refused) {
        err = PATCH_EPARSE;
        snprintf(self->error, sizeof self->error, "%s", c.refused);
        goto done;
    }

    struct sbuf b = { 0 };
    sbuf_grow(&b, in->length + in->length / 8 + 256);
    emit(&c, &b);
    if (b.oom) {
        free(b.data);
        goto oom;
    }
    self->source = b.data;
    self->length = b.len;
    err = fill_tables(&c);
    if (err)
        goto oom;
    goto done;

oom:
    err = PATCH_ENOMEM;
    snprintf(self->error, sizeof self->error, "cannot build a patch for %s: out of memory", in->path);
done:
    if (err) {
        char keep[sizeof self->error];
        memcpy(keep, self->error, sizeof keep);
        patch_release(self);
        memcpy(self->error, keep, sizeof keep);
    }
    if (c.cursor.tree)
        ts_tree_cursor_delete(&c.cursor);
    free(c.syms);
    free(c.work);
    free(c.raw);
    free(c.edits);
    free(c.arena.data);
    patch_index_free(own);
    return err;
}
