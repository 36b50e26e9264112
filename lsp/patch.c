/* The patch builder: turns a saved C file into the minimal translation unit
 * that becomes the patch library (docs/protocol.md, "Patch library
 * conventions").
 *
 * It works on the tree-sitter tree in three steps:
 *   1. collect: the file-scope functions, statics and macros, by name
 *      (lsp/patch_index.c, once per version of the file: the index);
 *   2. close: starting from the bodies of the functions to reload, mark every
 *      static helper they use (through macros too) as kept, transitively, and
 *      every file-scope static they reference (this file);
 *   3. edit: a list of byte-range replacements on the original text (bodies
 *      to prototypes, statics to weak references, asm labels), applied in one
 *      pass, with `#line` directives wherever an edit changes the number of
 *      lines, so that every compiler message points at the user's own line
 *      (lsp/patch_edit.c).
 *
 * This file holds step 2, the entry points (patch_build and its error
 * strings, the patch's lifetime) and the `functions`/`statics` tables of
 * hot/reload. The three files share lsp/patch_impl.h.
 *
 * No I/O: text in, text out. */
#include "patch_impl.h"

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
    struct sym *s = patch__sym_find(c, name, len);
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
bool patch__is_bound_local_static(struct ctx *c, TSNode decl)
{
    if (!patch__has_storage(c, decl, ST_STATIC))
        return false;
    /* a table of label addresses (`static void *jump[] = { &&op_add,
     * ... }`, computed goto) holds the old code's labels: the new code
     * needs its own */
    const char *p = c->src + ts_node_start_byte(decl), *end = c->src + ts_node_end_byte(decl);
    for (; p + 2 < end; p++)
        if (p[0] == '&' && p[1] == '&' && (p[2] == '_' || (p[2] >= 'a' && p[2] <= 'z') || (p[2] >= 'A' && p[2] <= 'Z')))
            return false;
    bool spec_const = patch__has_qualifier(c, decl, "const");
    TSNode decls[64];
    size_t ndecl = patch__declarators(decl, decls, 64);
    for (size_t i = 0; i < ndecl; i++) {
        TSNode d = decls[i];
        struct declared info = patch__declarator_info(c, d, spec_const);
        if (!info.is_function && !(info.is_const && type_is(d, "init_declarator")))
            return true;
    }
    return false;
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
        } else if (strcmp(t, "declaration") == 0 && patch__is_bound_local_static(c, n)) {
            descend = false;
        } else if (strcmp(t, "preproc_arg") == 0) {
            /* the body of a macro defined inside kept code */
            use_names_in(c, c->src + ts_node_start_byte(n), c->src + ts_node_end_byte(n), 0);
            descend = false;
        }
        if (!patch__cursor_next(cur, root, descend))
            return;
    }
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

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void patch__add_static_entry(struct ctx *c, int slot, const char *name, size_t len, bool zero_init,
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
    s->zero_init = zero_init;
    out->static_count++;
    if (!s->symbol || !s->name || (function && !s->function))
        c->oom = true;
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
        struct sym *s = patch__sym_find(c, name, strlen(name));
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
            patch__add_static_entry(c, s->slot, c->src + s->name, s->len, false, NULL, 0);
    }
    if (c->oom)
        return PATCH_ENOMEM;
    if (out->static_count > 1)
        qsort(out->statics, out->static_count, sizeof *out->statics, static_cmp);
    return 0;
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
        if (!(own = patch__index_new(in->text, in->length, in->tree, last_branch, false, NULL))) {
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
    patch__field_ids(&c, ix->tree);
    c.cursor = ts_tree_cursor_new(ts_tree_root_node(ix->tree));

    for (size_t i = 0; i < in->function_count; i++) {
        const char *name = in->functions[i];
        struct sym *s = patch__sym_find(&c, name, strlen(name));
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

    patch__edit_items(&c);
    if (c.oom || c.arena.oom)
        goto oom;
    if (*c.refused) {
        err = PATCH_EPARSE;
        snprintf(self->error, sizeof self->error, "%s", c.refused);
        goto done;
    }

    struct sbuf b = { 0 };
    sbuf_grow(&b, in->length + in->length / 8 + 256);
    patch__emit(&c, &b);
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
