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

struct token {
    TSNode node;
    uint32_t start, end;
};

struct ctx {
    const char *text;
    size_t len;
    const char *marker;
    struct token *toks;
    size_t n_toks;
    struct analysis *out;
};

static int tok_is(const struct ctx *c, size_t i, const char *s)
{
    size_t n = c->toks[i].end - c->toks[i].start;
    return strlen(s) == n && memcmp(c->text + c->toks[i].start, s, n) == 0;
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

static void collect_tokens(struct ctx *c, TSNode n)
{
    uint32_t count = ts_node_child_count(n);

    if (count == 0 || strcmp(ts_node_type(n), "string_literal") == 0 ||
        strcmp(ts_node_type(n), "char_literal") == 0) {
        struct token t = { n, ts_node_start_byte(n), ts_node_end_byte(n) };

        if (ts_node_is_missing(n) || t.end == t.start || strcmp(ts_node_type(n), "comment") == 0)
            return;
        PUSH(c->toks, c->n_toks, t);
        return;
    }
    for (uint32_t i = 0; i < count; i++)
        collect_tokens(c, ts_node_child(n, i));
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

/* Renders tokens [from, to) except index `skip`, and the attribute groups
 * and storage classes when `strip`, as one normalized string. */
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
            int dropped = tok_is(c, i, c->marker);

            for (int k = 0; drop[k] && !dropped; k++)
                dropped = tok_is(c, i, drop[k]);
            if (dropped)
                continue;
            if (tok_is(c, i, "__attribute__") || tok_is(c, i, "__declspec") ||
                tok_is(c, i, "__attribute")) {
                int depth = 0;
                for (i++; i < to; i++) {
                    if (tok_is(c, i, "("))
                        depth++;
                    else if (tok_is(c, i, ")") && --depth == 0)
                        break;
                }
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
    return !ts_node_is_null(n) && strncmp(ts_node_type(n), "preproc_", 8) == 0;
}

/* Token i ends the previous declaration, so a function head starts after it. */
static int is_boundary(const struct ctx *c, size_t i)
{
    TSNode parent = ts_node_parent(c->toks[i].node);

    return tok_is(c, i, ";") || tok_is(c, i, "}") || tok_is(c, i, "{") || tok_is(c, i, "=") ||
           is_preproc(parent) || is_preproc(c->toks[i].node);
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

static void collect_type_uses(const struct ctx *c, struct analysis_function *f, TSNode n)
{
    const char *t = ts_node_type(n);
    uint32_t count = ts_node_child_count(n);

    TSNode parent = ts_node_parent(n);

    if (!strcmp(t, "type_identifier") && !node_is(c, n, c->marker) &&
        !(!ts_node_is_null(parent) && strstr(ts_node_type(parent), "_specifier"))) {
        add_type_name(f, node_text(c, n));
    } else if (!strcmp(t, "struct_specifier") || !strcmp(t, "union_specifier") || !strcmp(t, "enum_specifier")) {
        TSNode name = ts_node_child_by_field_name(n, "name", 4);
        if (!ts_node_is_null(name)) {
            struct sbuf b = { 0 };
            sbuf_addn(&b, t, strchr(t, '_') - t);
            sbuf_add(&b, " ");
            sbuf_addn(&b, c->text + ts_node_start_byte(name), ts_node_end_byte(name) - ts_node_start_byte(name));
            add_type_name(f, sbuf_take(&b));
        }
    }
    for (uint32_t i = 0; i < count; i++)
        collect_type_uses(c, f, ts_node_child(n, i));
}

static void add_function(struct ctx *c, TSNode def)
{
    TSNode decl = ts_node_child_by_field_name(def, "declarator", 10);
    TSNode body = ts_node_child_by_field_name(def, "body", 4);
    TSNode fdecl = function_declarator(decl);
    TSNode name = decl_name(decl);
    TSNode params;
    struct analysis_function f;
    size_t name_i, head;

    if (ts_node_is_null(fdecl) || ts_node_is_null(name) || ts_node_is_null(body))
        return;
    memset(&f, 0, sizeof f);
    name_i = tok_at(c, ts_node_start_byte(name));
    head = name_i;
    while (head > 0 && !is_boundary(c, head - 1))
        head--;
    for (size_t i = head; i < name_i; i++) {
        if (tok_is(c, i, c->marker))
            f.hot = 1;
        if (tok_is(c, i, "static"))
            f.is_static = 1;
    }
    f.name = node_text(c, name);
    f.start_byte = head < name_i ? c->toks[head].start : ts_node_start_byte(def);
    f.end_byte = ts_node_end_byte(def);
    f.range.start = head < name_i ? ts_node_start_point(c->toks[head].node) : ts_node_start_point(def);
    f.range.end = ts_node_end_point(def);
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
    f.body_hash = hash_tokens(c, tok_at(c, ts_node_start_byte(body)), tok_at(c, ts_node_end_byte(body)));
    collect_type_uses(c, &f, def);
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
 * added around it. */
static char *declared_type(const struct ctx *c, TSNode holder, TSNode declarator)
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
    for (uint32_t i = 0; i < ts_node_child_count(holder); i++) {
        TSNode ch = ts_node_child(holder, i);
        if (!strcmp(ts_node_type(ch), "bitfield_clause")) {
            s = render_node(c, ch, null_node());
            sbuf_add(&b, " ");
            sbuf_add(&b, s);
            free(s);
        }
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

static void add_fields(const struct ctx *c, struct analysis_type *t, TSNode body)
{
    for (uint32_t i = 0; i < ts_node_named_child_count(body); i++) {
        TSNode fd = ts_node_named_child(body, i);
        const char *ft = ts_node_type(fd);
        int any = 0;

        if (!strcmp(ft, "enumerator")) {
            TSNode v = ts_node_child_by_field_name(fd, "value", 5);
            struct analysis_field f = { node_text(c, ts_node_child_by_field_name(fd, "name", 4)),
                                        ts_node_is_null(v) ? strdup("") : render_node(c, v, null_node()) };
            PUSH(t->fields, t->n_fields, f);
            continue;
        }
        if (strcmp(ft, "field_declaration"))
            continue;
        TSNode decls[64];
        size_t n_decls = declarators(fd, decls, 64);

        for (size_t k = 0; k < n_decls; k++) {
            TSNode d = decls[k];
            TSNode nm;
            struct analysis_field f;

            nm = decl_name(d);
            f.name = ts_node_is_null(nm) ? strdup("") : node_text(c, nm);
            f.type = declared_type(c, fd, d);
            PUSH(t->fields, t->n_fields, f);
            any = 1;
        }
        if (!any) {
            struct analysis_field f = { strdup("(anonymous)"), render_node(c, fd, null_node()) };
            PUSH(t->fields, t->n_fields, f);
        }
    }
}

static void add_record(struct ctx *c, TSNode spec, char *name)
{
    const char *t = ts_node_type(spec);
    struct analysis_type ty;

    memset(&ty, 0, sizeof ty);
    ty.name = name;
    ty.kind = strndup(t, strchr(t, '_') - t);
    ty.range = node_range(spec);
    add_fields(c, &ty, ts_node_child_by_field_name(spec, "body", 4));
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

        nm = decl_name(d);
        if (ts_node_is_null(nm))
            continue;
        if (anonymous_body && !strcmp(ts_node_type(d), "type_identifier")) {
            add_record(c, type, node_text(c, nm));
        } else {
            struct analysis_type ty;

            memset(&ty, 0, sizeof ty);
            ty.name = node_text(c, nm);
            ty.kind = strdup("typedef");
            ty.target = declared_type(c, def, d);
            ty.range = node_range(def);
            PUSH(c->out->types, c->out->n_types, ty);
        }
    }
}

/* ---------------------------------------------------------------- walk */

static void walk(struct ctx *c, TSNode n)
{
    const char *t = ts_node_type(n);
    uint32_t count = ts_node_child_count(n);

    if (!strcmp(t, "function_definition")) {
        add_function(c, n);
        /* Types in the head, e.g. a struct defined in the return type. */
        return;
    }
    if (!strcmp(t, "struct_specifier") || !strcmp(t, "union_specifier") || !strcmp(t, "enum_specifier")) {
        TSNode parent = ts_node_parent(n);
        int in_typedef = !ts_node_is_null(parent) && !strcmp(ts_node_type(parent), "type_definition");
        char *name = tag_name(c, n);

        if (!ts_node_is_null(ts_node_child_by_field_name(n, "body", 4)) && name)
            add_record(c, n, name);
        else
            free(name);
        if (in_typedef)
            return; /* nested records stay part of their parent's fields */
    }
    if (!strcmp(t, "type_definition"))
        add_typedef(c, n);
    for (uint32_t i = 0; i < count; i++)
        walk(c, ts_node_child(n, i));
}

/* A marker that is not in the head of a function definition: fine in a
 * function prototype or a preprocessor line, an error anywhere else. */
static int marker_allowed(struct ctx *c, size_t i)
{
    TSNode n = c->toks[i].node;

    for (size_t k = 0; k < c->out->n_functions; k++) {
        const struct analysis_function *f = &c->out->functions[k];
        if (c->toks[i].start >= f->start_byte && c->toks[i].start < f->name_byte)
            return 1;
    }
    for (TSNode up = ts_node_parent(n); !ts_node_is_null(up); up = ts_node_parent(up)) {
        const char *t = ts_node_type(up);
        int conditional = !strcmp(t, "preproc_if") || !strcmp(t, "preproc_ifdef") ||
                          !strcmp(t, "preproc_else") || !strcmp(t, "preproc_elif") ||
                          !strcmp(t, "preproc_elifdef");

        if (is_preproc(up) && (!conditional || ts_node_start_point(up).row == ts_node_start_point(n).row))
            return 1;
    }
    /* A prototype: a parameter list before the end of the declaration. */
    for (size_t j = i + 1; j < c->n_toks && !tok_is(c, j, "{") && !tok_is(c, j, "}"); j++) {
        if (tok_is(c, j, ";"))
            break;
        if (tok_is(c, j, "(") && !strcmp(ts_node_type(ts_node_parent(c->toks[j].node)), "parameter_list")) {
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

        TSNode top = c->toks[i].node;

        if (!tok_is(c, i, c->marker) || marker_allowed(c, i))
            continue;
        /* Code being typed is often broken: say nothing until it parses. */
        while (!ts_node_is_null(ts_node_parent(top)) && !ts_node_is_null(ts_node_parent(ts_node_parent(top))))
            top = ts_node_parent(top);
        if (has_other_error(top))
            continue;
        p.range = node_range(c->toks[i].node);
        sbuf_printf(&b, "%s can only mark a function definition; it has no effect here", c->marker);
        p.message = sbuf_take(&b);
        PUSH(c->out->problems, c->out->n_problems, p);
    }
}

struct analysis *analysis_run(const char *text, size_t len, const TSTree *tree, const char *marker)
{
    struct ctx c;

    memset(&c, 0, sizeof c);
    c.text = text;
    c.len = len;
    c.marker = marker && *marker ? marker : "HOT";
    c.out = calloc(1, sizeof *c.out);
    if (!c.out)
        return NULL;
    collect_tokens(&c, ts_tree_root_node(tree));
    walk(&c, ts_tree_root_node(tree));
    check_stray_markers(&c);
    free(c.toks);
    return c.out;
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
        for (size_t k = 0; k < t->n_fields; k++) {
            free(t->fields[k].name);
            free(t->fields[k].type);
        }
        free(t->fields);
    }
    free(self->types);
    for (size_t i = 0; i < self->n_problems; i++)
        free(self->problems[i].message);
    free(self->problems);
    free(self);
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

/* Describes how type `a` became `b`, or returns NULL when the layout is the same. */
static char *type_change(const struct analysis_type *a, const struct analysis_type *b)
{
    struct sbuf s = { 0 };
    const char *member = !strcmp(a->kind, "enum") ? "enumerator" : "field";
    int same_order = a->n_fields == b->n_fields;

    if (strcmp(a->kind, b->kind)) {
        sbuf_printf(&s, "`%s` changed from a %s to a %s", a->name, a->kind, b->kind);
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

struct analysis_diff *analysis_diff(const struct analysis *old, const struct analysis *new_)
{
    struct analysis_diff *d = calloc(1, sizeof *d);

    if (!d)
        return NULL;
    for (size_t i = 0; i < old->n_types; i++) {
        const struct analysis_type *b = analysis_find_type(new_, old->types[i].name);
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
    /* A typedef of a changed type has changed too. */
    for (int again = 1; again;) {
        again = 0;
        for (size_t i = 0; i < new_->n_types; i++) {
            const struct analysis_type *t = &new_->types[i];
            const struct analysis_type_change *via;

            if (!t->target || changed_type(d, t->name))
                continue;
            via = changed_type(d, t->target);
            if (via) {
                struct analysis_type_change tc = { strdup(t->name), strdup(via->message) };
                PUSH(d->types, d->n_types, tc);
                again = 1;
            }
        }
    }
    for (size_t i = 0; i < new_->n_functions; i++) {
        const struct analysis_function *b = &new_->functions[i];
        const struct analysis_function *a = analysis_find_function(old, b->name);
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
        for (size_t k = 0; k < b->n_types && !msg; k++) {
            const struct analysis_type_change *tc = changed_type(d, b->types[k]);
            if (tc)
                msg = strdup(tc->message);
        }
        if (msg)
            add_change(d, b->name, b->hot, ANALYSIS_LAYOUT, msg);
        else if (a->body_hash != b->body_hash)
            add_change(d, b->name, b->hot, ANALYSIS_BODY, NULL);
    }
    for (size_t i = 0; i < old->n_functions; i++)
        if (!analysis_find_function(new_, old->functions[i].name))
            add_change(d, old->functions[i].name, old->functions[i].hot, ANALYSIS_REMOVED, NULL);
    return d;
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
