/* Implements lsp/analysis.h. The file is seen both as a tree and as a flat
 * list of tokens (the tree's leaves): tree-sitter recovers from an unknown
 * macro before a type by wrapping tokens in ERROR nodes, so the head of a
 * function (everything between the previous `;`/`}`/directive and its name)
 * is read from the token list, which does not depend on that recovery.
 *
 * This file holds the run: the tokens and type uses collected from the
 * tree (and the bodies analysis_run_cached takes from its cache instead),
 * the functions and their heads, the walk that finds functions and types,
 * misplaced markers, and copying and freeing an analysis. The types and
 * their layouts are in lsp/analysis_types.c, the diffs between two versions
 * in lsp/analysis_diff.c; lsp/analysis_impl.h holds what they share. */
#include "analysis_impl.h"

#include "grammar.h"

/* ---------------------------------------------------------------- tokens */

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
    struct grammar_reading_cache *readings; /* the document's readings (grammar_reading_cached), kept across runs */
};

static int tok_is_marker(const struct ctx *c, size_t i)
{
    size_t n = c->toks[i].end - c->toks[i].start;
    return c->marker_len == n && memcmp(c->text + c->toks[i].start, c->marker, n) == 0;
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

    /* deeper than GRAMMAR_MAX_DEPTH: the node's text is one token (its
     * changes still change the hash) */
    if (ts_node_child_count(n) == 0 || strcmp(type, "string_literal") == 0 || strcmp(type, "char_literal") == 0 ||
        c->depth >= GRAMMAR_MAX_DEPTH) {
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

/* The named children of `n` into `*out` (new array, free it; NULL when
 * there are none). ts_node_named_child(i) walks from the first child on
 * every call. */
size_t analysis__named_children(TSNode n, TSNode **out)
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
TSNode analysis__decl_name(TSNode n)
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

char *analysis__render_node(const struct ctx *c, TSNode n, TSNode skip)
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

/* Token i ends the previous declaration, so a function head starts after it. */
static int is_boundary(const struct ctx *c, size_t i)
{
    return tok_is(c, i, ";") || tok_is(c, i, "}") || tok_is(c, i, "{") || tok_is(c, i, "=") ||
           (c->toks[i].flags & TOK_PARENT_PREPROC) || is_preproc_type(c->toks[i].type);
}

/* ---------------------------------------------------------------- functions */

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
    return analysis__is_builtin_type(c->text + c->toks[i].start, n);
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
    TSNode name = analysis__decl_name(decl);
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
            PUSH(f.params, f.n_params, analysis__render_node(c, p, analysis__decl_name(pd)));
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

/* ---------------------------------------------------------------- walk */

static void walk(struct ctx *c, TSTreeCursor *cur, unsigned depth)
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
        char *name = analysis__tag_name(c, n);

        if (!ts_node_is_null(ts_node_child_by_field_id(n, c->f_body)) && name)
            analysis__add_record(c, n, name);
        else
            free(name);
    }
    if (!strcmp(t, "type_definition"))
        analysis__add_typedef(c, n);
    if (depth < GRAMMAR_MAX_DEPTH && ts_tree_cursor_goto_first_child(cur)) {
        do
            walk(c, cur, depth + 1);
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
static int has_other_error(TSNode n, unsigned depth)
{
    if (ts_node_is_missing(n) || depth > GRAMMAR_MAX_DEPTH)
        return 1;
    if (!ts_node_has_error(n))
        return 0;
    if (!strcmp(ts_node_type(n), "ERROR"))
        return !(ts_node_child_count(n) == 1 && !strcmp(ts_node_type(ts_node_child(n, 0)), "identifier"));
    for (uint32_t i = 0; i < ts_node_child_count(n); i++)
        if (has_other_error(ts_node_child(n, i), depth + 1))
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
        if (has_other_error(c->tops[c->toks[i].top - 1], 0))
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

struct grammar_reading_cache *analysis_cache_readings(struct analysis_cache *self)
{
    if (self && !self->readings)
        self->readings = grammar_reading_cache_new();
    return self ? self->readings : NULL;
}

/* Empties the bodies of `k` (its readings stay). */
static void cache_clear(struct analysis_cache *k)
{
    struct grammar_reading_cache *readings = k->readings;

    free(k->marker);
    free(k->text);
    free(k->entries);
    free(k->uses);
    free(k->slots);
    memset(k, 0, sizeof *k);
    k->readings = readings;
}

void analysis_cache_free(struct analysis_cache *self)
{
    if (!self)
        return;
    cache_clear(self);
    grammar_reading_cache_free(self->readings);
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
    next->readings = self->readings;
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
    analysis__index_defs(&c, &cur);
    ts_tree_cursor_reset(&cur, ts_tree_root_node(tree));
    walk(&c, &cur, 0);
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
