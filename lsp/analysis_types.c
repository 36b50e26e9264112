/* The types a document defines (part of lsp/analysis.h): structs, unions,
 * enums and typedefs with their fields, and their LP64 layouts (sizes,
 * alignments, offsets, bit-fields), computed from the text alone, with the
 * constant expressions that array bounds, enumerators and alignments need.
 * The walk in lsp/analysis.c calls in here (analysis__index_defs,
 * analysis__add_record, analysis__add_typedef); lsp/analysis_impl.h holds
 * what they share. */
#include "analysis_impl.h"
#include "grammar.h"

/* ---------------------------------------------------------------- types */

char *analysis__tag_name(const struct ctx *c, TSNode spec)
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
    TSNode name = analysis__decl_name(declarator);
    char *s;

    for (uint32_t i = 0; i < ts_node_child_count(holder); i++) {
        TSNode ch = ts_node_child(holder, i);
        if (!strcmp(ts_node_type(ch), "type_qualifier")) {
            sbuf_addn(&b, c->text + ts_node_start_byte(ch), ts_node_end_byte(ch) - ts_node_start_byte(ch));
            sbuf_add(&b, " ");
        }
    }
    if (!ts_node_is_null(type)) {
        char *tag = ts_node_is_null(ts_node_child_by_field_name(type, "body", 4)) ? NULL : analysis__tag_name(c, type);
        s = tag ? tag : analysis__render_node(c, type, null_node());
        sbuf_add(&b, s);
        free(s);
    }
    if (!ts_node_is_null(declarator)) {
        s = analysis__render_node(c, declarator, name);
        if (*s) {
            if (s[0] != '[')
                sbuf_add(&b, " ");
            sbuf_add(&b, s);
        }
        free(s);
    }
    if (!ts_node_is_null(bitfield)) {
        s = analysis__render_node(c, bitfield, null_node());
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
        return analysis__tag_name(c, type);
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

int analysis__is_builtin_type(const char *s, size_t n)
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
static void index_defs(struct ctx *c, TSTreeCursor *cur, unsigned depth);

void analysis__index_defs(struct ctx *c, TSTreeCursor *cur)
{
    index_defs(c, cur, 0);
}

static void index_defs(struct ctx *c, TSTreeCursor *cur, unsigned depth)
{
    TSNode n = ts_tree_cursor_current_node(cur);
    const char *t = ts_node_type(n);

    if (!strcmp(t, "function_definition"))
        return;
    if (!strcmp(t, "struct_specifier") || !strcmp(t, "union_specifier") || !strcmp(t, "enum_specifier")) {
        TSNode body = ts_node_child_by_field_id(n, c->f_body);

        if (!ts_node_is_null(body))
            add_def(c, analysis__tag_name(c, n), n, null_node());
        if (!ts_node_is_null(body) && !strcmp(t, "enum_specifier")) {
            long prev = -1;
            TSNode *kids;
            size_t n_kids = analysis__named_children(body, &kids);

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
            TSNode nm = analysis__decl_name(decls[k]);
            if (!ts_node_is_null(nm) && !ts_node_is_missing(nm))
                add_def(c, node_text(c, nm), n, decls[k]);
        }
    }
    if (depth < GRAMMAR_MAX_DEPTH && ts_tree_cursor_goto_first_child(cur)) {
        do
            index_defs(c, cur, depth + 1);
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
        tag = analysis__tag_name(c, type);
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
static struct layout layout_record_body(struct ctx *c, TSNode spec, TSNode body, int is_union,
                                        struct analysis_type *ty, long base);

static struct layout layout_record(struct ctx *c, TSNode spec, struct analysis_type *ty, long base)
{
    TSNode body = ts_node_child_by_field_name(spec, "body", 4);
    int is_union = !strcmp(ts_node_type(spec), "union_specifier");
    struct layout l;

    if (c->layout_depth >= GRAMMAR_MAX_DEPTH / 16)
        return unknown_layout; /* records nested deeper than any real code's */
    c->layout_depth++;
    l = layout_record_body(c, spec, body, is_union, ty, base);
    c->layout_depth--;
    return l;
}

static struct layout layout_record_body(struct ctx *c, TSNode spec, TSNode body, int is_union,
                                        struct analysis_type *ty, long base)
{
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
                        push_field(ty, strdup("(anonymous)"), analysis__render_node(c, fd, null_node()), NULL, 0, -1,
                                   -1, -1);
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
            TSNode nm = analysis__decl_name(m[k].declarator);
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
            char *value = ts_node_is_null(v) ? strdup("") : analysis__render_node(c, v, null_node());

            push_field(t, node_text(c, ts_node_child_by_field_name(fd, "name", 4)), value, NULL, 0, -1, -1, -1);
        }
    }
}

void analysis__add_record(struct ctx *c, TSNode spec, char *name)
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

void analysis__add_typedef(struct ctx *c, TSNode def)
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

        nm = analysis__decl_name(d);
        if (ts_node_is_null(nm))
            continue;
        known = find_def(c, c->text + ts_node_start_byte(nm), ts_node_end_byte(nm) - ts_node_start_byte(nm));
        /* The first definition of a name is the one layouts use. */
        l = known && ts_node_eq(known->declarator, d)
                ? def_layout(c, known->name, strlen(known->name))
                : layout_decl(c, type, d, NULL);
        if (anonymous_body && !strcmp(ts_node_type(d), "type_identifier")) {
            analysis__add_record(c, type, node_text(c, nm));
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
