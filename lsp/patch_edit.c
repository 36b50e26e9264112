/* The patch builder's step 3 (see lsp/patch.c): the edits of the original
 * text. Definitions of functions the patch does not reload become
 * prototypes (or go, when static), file-scope statics become weak
 * references bound to the program's (`__hotc_s_N`), definitions of
 * globals become declarations, reloaded definitions get their asm label
 * and exported alias, function-local statics are renamed to their
 * symbols; the edits of items the patch does not use are copied from the
 * index. Then the emission: the edits applied in one pass, with the
 * directive lines a cut range holds that the rest depends on, and `#line`
 * wherever an edit changes the number of lines.
 *
 * No I/O: text in, text out. */
#include "patch_impl.h"

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

/* The position of byte `at`, which lies at or before the start of `n`:
 * the row counted back from `n`'s, the column from the start of `at`'s
 * line (as point_after, without a walk from the top of the file). */
static TSPoint point_before(const struct ctx *c, TSNode n, uint32_t at)
{
    TSPoint p = ts_node_start_point(n);
    for (uint32_t i = at; i < ts_node_start_byte(n) && i < c->len; i++)
        if (c->src[i] == '\n')
            p.row--;
    uint32_t line = at;
    while (line > 0 && c->src[line - 1] != '\n')
        line--;
    p.column = at - line;
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
                     (node_is(c, n, "static") || patch__is_inline_word(c, n)));
        if (skip && nskip < 64) {
            skips[nskip][0] = ts_node_start_byte(n);
            skips[nskip][1] = ts_node_end_byte(n);
            nskip++;
        }
        more = patch__cursor_next(&cur, def, !skip);
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
    struct sym *s = patch__sym_find(c, name, len);
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
    bool spec_const = patch__has_qualifier(c, decl, "const");
    uint32_t n = ts_node_child_count(decl);
    *nslots = 0;
    for (uint32_t i = 0; i < n; i++) {
        TSNode k = ts_node_child(decl, i);
        if (type_is(k, "storage_class_specifier") && node_is(c, k, "static"))
            edit_replace(c, k, "extern", 6);
    }
    TSNode decls[64];
    size_t ndecl = patch__declarators(decl, decls, 64);
    for (size_t i = 0; i < ndecl; i++) {
        TSNode k = decls[i];
        struct declared info = patch__declarator_info(c, k, spec_const);
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
            struct sym *s = patch__sym_find(c, name, len);
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
                count = patch__initializer_count(c, value);
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
    bool spec_const = patch__has_qualifier(c, decl, "const");
    bool has_extern = patch__has_storage(c, decl, ST_EXTERN);
    bool has_var = false;
    TSNode decls[64];
    size_t ndecl = patch__declarators(decl, decls, 64);
    for (size_t i = 0; i < ndecl; i++) {
        TSNode k = decls[i];
        struct declared info = patch__declarator_info(c, k, spec_const);
        if (ts_node_is_null(info.ident))
            continue;
        if (info.is_function) {
            size_t len;
            const char *name = node_text(c, info.ident, &len);
            struct sym *s = patch__sym_find(c, name, len);
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
        long count = ts_node_is_null(value) ? -1 : patch__initializer_count(c, value);
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
        if (!patch__cursor_next(&cur, block, descend))
            break;
    }
    ts_tree_cursor_delete(&cur);
    return uses;
}


/* Whether the declarator `d` gives its variable zero: no initializer, or
 * one of braces, commas and zero tokens only (`0`, `{0}`, `{ 0, 0 }`, `{}`,
 * `0.0f`, `0x0`, `0UL`, `NULL`, `false`): a function-local static the
 * program does not have (added since it was built) can then be given
 * zeroed storage by the runtime. */
static bool zero_initialized(struct ctx *c, TSNode d)
{
    TSNode value;
    size_t len;
    const char *v;

    if (!type_is(d, "init_declarator"))
        return true;
    value = ts_node_child_by_field_id(d, c->f_value);
    if (ts_node_is_null(value))
        return true;
    v = node_text(c, value, &len);
    for (size_t i = 0; i < len;) {
        if (strchr(" \t\r\n{},", v[i]) && v[i] != '\0') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && v[j] != '\0' && !strchr(" \t\r\n{},", v[j]))
            j++;
        /* one token, [i, j) */
        bool zero = (j - i == 4 && memcmp(v + i, "NULL", 4) == 0) || (j - i == 5 && memcmp(v + i, "false", 5) == 0);
        if (!zero && v[i] == '0') {
            size_t k = i + 1;
            if (k < j && (v[k] == 'x' || v[k] == 'X'))
                k++;
            while (k < j && (v[k] == '0' || v[k] == '.'))
                k++;
            while (k < j && strchr("uUlLfF", v[k]))
                k++;
            zero = k == j;
        }
        if (!zero)
            return false;
        i = j;
    }
    return true;
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
        if (type_is(n, "declaration") && patch__is_bound_local_static(c, n)) {
            int slots[64];
            size_t nslots;
            rewrite_static(c, n, true, slots, &nslots);
            /* the names, in declarator order, matching the slots */
            bool spec_const = patch__has_qualifier(c, n, "const");
            TSNode decls[64];
            size_t ndecl = patch__declarators(n, decls, 64);
            size_t si = 0;
            for (size_t i = 0; i < ndecl && si < nslots; i++) {
                struct declared info = patch__declarator_info(c, decls[i], spec_const);
                if (ts_node_is_null(info.ident) || info.is_function)
                    continue;
                size_t len;
                const char *name = node_text(c, info.ident, &len);
                char sym[32];
                snprintf(sym, sizeof sym, "__hotc_s_%d", slots[si]);
                if (rename_after(c, n, name, len, sym) > 0)
                    patch__add_static_entry(c, slots[si], name, len, zero_initialized(c, decls[i]), fname, flen);
                si++;
            }
            descend = false;
        }
        if (!patch__cursor_next(&cur, body, descend))
            break;
    }
    ts_tree_cursor_delete(&cur);
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

void patch__edit_function(struct ctx *c, TSNode def)
{
    TSNode id = patch__function_name(c, def);
    TSNode body = ts_node_child_by_field_id(def, c->f_body);
    if (ts_node_is_null(id) || ts_node_is_null(body))
        return;
    /* where the definition ends as the compiler reads it (past what
     * tree-sitter read when an #if inside an initializer cut it short) */
    uint32_t end = grammar_function_end(def, c->src, c->len);
    TSPoint end_point = point_after(c, def, end);
    size_t len;
    const char *name = node_text(c, id, &len);
    struct sym *s = patch__sym_find(c, name, len);
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
        if (ts_node_is_null(head) || !patch__is_function_head(c, head, def))
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
            edit_add(c, at, at, point_before(c, head, at), b.data, b.len);
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
            if (type_is(k, "storage_class_specifier") && (node_is(c, k, "static") || patch__is_inline_word(c, k)))
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

void patch__edit_declaration(struct ctx *c, TSNode decl)
{
    bool is_static = patch__has_storage(c, decl, ST_STATIC);
    bool spec_const = patch__has_qualifier(c, decl, "const");
    bool any_var = false, keep_whole = false;
    struct sym *fn = NULL;
    TSNode decls[64];
    size_t ndecl = patch__declarators(decl, decls, 64);
    for (size_t i = 0; i < ndecl; i++) {
        TSNode k = decls[i];
        struct declared info = patch__declarator_info(c, k, spec_const);
        if (ts_node_is_null(info.ident))
            continue;
        size_t len;
        const char *name = node_text(c, info.ident, &len);
        struct sym *s = patch__sym_find(c, name, len);
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
            if (type_is(k, "storage_class_specifier") && (node_is(c, k, "static") || patch__is_inline_word(c, k)))
                edit_blank(c, k);
        }
        rewrite_global(c, decl, fn);
    } else if (!fn->kept && !fn->referenced) {
        /* a static function the patch does not use: its prototype would only
         * warn "declared but never defined" */
        edit_replace(c, decl, "", 0);
    }
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
void patch__edit_items(struct ctx *c)
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
                    patch__edit_function(c, it->node);
                else
                    patch__edit_declaration(c, it->node);
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

/* ------------------------------------------------------------ the text */

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
void patch__emit(struct ctx *c, struct sbuf *b)
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
