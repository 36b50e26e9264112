/* The patch builder's index of a file (see lsp/patch.c for the three
 * steps): what a patch needs of the file that does not depend on the
 * functions to reload. Step 1 (collect: the file-scope functions, statics
 * and macros, by name, in a hash table), the reading of declarations and
 * declarators the three files share, and the file's top-level items in
 * document order, each with the names it declares and the edits it gets
 * when the patch uses none of them (made by lsp/patch_edit.c). Built once
 * per version of a file (patch_index_new, from the docstore) or for one
 * patch (patch_build without an index that fits).
 *
 * No I/O: text in, text out. */
#include "patch_impl.h"

/* ------------------------------------------------------------ symbol table */

static uint32_t hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

struct sym *patch__sym_find(struct ctx *c, const char *name, size_t n)
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
    struct sym *s = patch__sym_find(c, name, n);
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

/* ------------------------------------------------------------ reading declarations */

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

bool patch__has_storage(struct ctx *c, TSNode decl, unsigned words)
{
    return (storage(c, decl) & words) != 0;
}

bool patch__is_inline_word(struct ctx *c, TSNode n)
{
    return node_is(c, n, "inline") || node_is(c, n, "__inline") || node_is(c, n, "__inline__");
}

/* Whether `n` names a macro of the file whose every body is just `word`
 * (`#define CONST const`: tree-sitter reads the name as a type). */
static bool macro_is(struct ctx *c, TSNode n, const char *word)
{
    size_t len;
    const char *name = node_text(c, n, &len);
    struct sym *s = patch__sym_find(c, name, len);
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

bool patch__has_qualifier(struct ctx *c, TSNode n, const char *word)
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
size_t patch__declarators(TSNode decl, TSNode *out, size_t max)
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

struct declared patch__declarator_info(struct ctx *c, TSNode d, bool spec_const)
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
                r.is_const = patch__has_qualifier(c, d, "const");
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
long patch__initializer_count(struct ctx *c, TSNode value)
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
                struct sym *s = patch__sym_find(c, name, len);
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
TSNode patch__function_name(struct ctx *c, TSNode def)
{
    TSNode d = ts_node_child_by_field_id(def, c->f_declarator);
    struct declared info = patch__declarator_info(c, d, false);
    if (!info.is_function) {
        TSNode null = { 0 };
        return null;
    }
    return info.ident;
}

/* Moves `cur` to the next node of a preorder walk of `root`'s subtree,
 * going into the current node's children when `descend`. Returns false when
 * the walk is over. */
bool patch__cursor_next(TSTreeCursor *cur, TSNode root, bool descend)
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

/* ------------------------------------------------------------ step 1: collect */

static void collect_declaration(struct ctx *c, TSNode decl)
{
    unsigned words = storage(c, decl);
    bool is_static = words & ST_STATIC;
    bool is_tls = words & ST_TLS;
    bool spec_const = patch__has_qualifier(c, decl, "const");
    TSNode decls[64];
    size_t ndecl = patch__declarators(decl, decls, 64);
    for (size_t i = 0; i < ndecl; i++) {
        TSNode d = decls[i];
        struct declared info = patch__declarator_info(c, d, spec_const);
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
            patch__initializer_count(c, ts_node_child_by_field_id(d, c->f_value)) < 0) {
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
    struct declared info = patch__declarator_info(c, d, false);
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
    return !patch__declarator_info(c, ts_node_child_by_field_id(def, c->f_declarator), false).is_function;
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
bool patch__is_function_head(const struct ctx *c, TSNode decl, TSNode next)
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

static void collect(struct ctx *c, TSNode parent, unsigned depth)
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
        else if (strcmp(t, "declaration") == 0 && !(i + 1 < n && patch__is_function_head(c, k, kids[i + 1])))
            collect_declaration(c, k);
        else if (strcmp(t, "preproc_def") == 0 || strcmp(t, "preproc_function_def") == 0)
            collect_macro(c, k);
        else if (grammar_is_container(k) && depth < GRAMMAR_MAX_DEPTH)
            collect(c, k, depth + 1);
    }
    free(kids);
}

/* ------------------------------------------------------------ the index */

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
    struct sym *s = patch__sym_find(c, name, len);
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
static void index_items(struct ctx *c, struct patch_index *ix, TSNode parent, bool top, unsigned depth)
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
            item_dep(c, ix, it, patch__function_name(c, k));
            patch__edit_function(c, k);
            it = &ix->items[ix->nitems - 1];
            it->nedit = (uint32_t)c->nedits - it->edit;
        } else if (strcmp(t, "declaration") == 0) {
            if (i + 1 < n && patch__is_function_head(c, k, kids[i + 1]))
                continue;
            if (!(it = item_add(c, ix, ITEM_DECL, k)))
                break;
            bool spec_const = patch__has_qualifier(c, k, "const");
            TSNode decls[64];
            size_t ndecl = patch__declarators(k, decls, 64);
            for (size_t d = 0; d < ndecl; d++)
                item_dep(c, ix, it, patch__declarator_info(c, decls[d], spec_const).ident);
            patch__edit_declaration(c, k);
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
        } else if (grammar_is_container(k) && depth < GRAMMAR_MAX_DEPTH) {
            if (top && !item_add(c, ix, ITEM_OPEN, k))
                break;
            index_items(c, ix, k, false, depth + 1);
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

void patch__field_ids(struct ctx *c, const TSTree *tree)
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
struct patch_index *patch__index_new(const char *text, size_t length, const TSTree *tree, bool last_branch,
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
    patch__field_ids(&c, ix->tree);
    collect(&c, root, 0);
    ix->next_slot = c.next_slot;
    if (!c.oom)
        index_items(&c, ix, root, true, 0);
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
    return patch__index_new(text, length, tree, false, false, NULL);
}

struct patch_index *patch_index_new_read(const char *text, size_t length, const TSTree *tree,
                                         const TSTree *reading)
{
    return tree ? patch__index_new(text, length, tree, false, true, reading) : NULL;
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
