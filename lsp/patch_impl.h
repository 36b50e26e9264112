/* The patch builder's own shared insides: its structs and the functions
 * its files share (lsp/patch.c: entry points and step 2, which names a
 * patch uses; lsp/patch_index.c: step 1 and the index; lsp/patch_edit.c:
 * step 3, the edits and the text). Private to them: nothing else includes
 * this. See lsp/patch.h for what the patch builder does. */
#ifndef HOTC_PATCH_IMPL_H
#define HOTC_PATCH_IMPL_H

#include "patch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grammar.h"

/* ------------------------------------------------------------ growable text */

struct sbuf {
    char *data;
    size_t len, cap;
    bool oom;
};

static inline void sbuf_grow(struct sbuf *b, size_t extra)
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

static inline void sbuf_add(struct sbuf *b, const char *s, size_t n)
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

static inline void sbuf_str(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

static inline void sbuf_char(struct sbuf *b, char c)
{
    sbuf_add(b, &c, 1);
}

/* ------------------------------------------------------------ the builder's state */

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

static inline bool grow(void **p, size_t *cap, size_t need, size_t elem)
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

/* ------------------------------------------------------------ tree helpers */

static inline const char *node_text(struct ctx *c, TSNode n, size_t *len)
{
    uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
    *len = b - a;
    return c->src + a;
}

static inline bool node_is(struct ctx *c, TSNode n, const char *word)
{
    size_t len;
    const char *t = node_text(c, n, &len);
    return len == strlen(word) && memcmp(t, word, len) == 0;
}

static inline bool type_is(TSNode n, const char *type)
{
    return strcmp(ts_node_type(n), type) == 0;
}

/* Whether a declaration or definition has the storage class `word` among its
 * direct children (or in an ERROR child, where an unknown macro such as HOT
 * can push it). */
enum { ST_STATIC = 1, ST_INLINE = 2, ST_TLS = 4, ST_EXTERN = 8 };

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

/* ------------------------------------------------------------ shared internals */

/* lsp/patch_index.c: the symbol table and the reading of declarations */
struct sym *patch__sym_find(struct ctx *c, const char *name, size_t n);
bool patch__has_storage(struct ctx *c, TSNode decl, unsigned words);
bool patch__is_inline_word(struct ctx *c, TSNode n);
bool patch__has_qualifier(struct ctx *c, TSNode n, const char *word);
size_t patch__declarators(TSNode decl, TSNode *out, size_t max);
struct declared patch__declarator_info(struct ctx *c, TSNode d, bool spec_const);
long patch__initializer_count(struct ctx *c, TSNode value);
TSNode patch__function_name(struct ctx *c, TSNode def);
bool patch__cursor_next(TSTreeCursor *cur, TSNode root, bool descend);
bool patch__is_function_head(const struct ctx *c, TSNode decl, TSNode next);
/* lsp/patch_index.c: the index */
void patch__field_ids(struct ctx *c, const TSTree *tree);
struct patch_index *patch__index_new(const char *text, size_t length, const TSTree *tree, bool last_branch,
                                     bool given, const TSTree *given_reading);

/* lsp/patch.c: step 2 and the tables */
bool patch__is_bound_local_static(struct ctx *c, TSNode decl);
void patch__add_static_entry(struct ctx *c, int slot, const char *name, size_t len, bool zero_init, const char *function,
                             size_t flen);

/* lsp/patch_edit.c: step 3 */
void patch__edit_function(struct ctx *c, TSNode def);
void patch__edit_declaration(struct ctx *c, TSNode decl);
void patch__edit_items(struct ctx *c);
void patch__emit(struct ctx *c, struct sbuf *b);

#endif
