/* lsp/analysis on fixtures: tests/fixtures/analysis/<case>/input.c is
 * analysed and dumped as text, compared with <case>/expected; and diffs
 * between two versions of a file, in words. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "grammar.h"
#include "run.h"

static char *dump(const struct analysis *a)
{
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);

    for (size_t i = 0; i < a->n_functions; i++) {
        const struct analysis_function *fn = &a->functions[i];
        fprintf(f, "function %s%s%s line %u-%u name %u:%u ret `%s` params (", fn->name, fn->hot ? " hot" : "",
                fn->is_static ? " static" : "", fn->range.start.row, fn->range.end.row, fn->name_range.start.row,
                fn->name_range.start.column, fn->ret);
        for (size_t k = 0; k < fn->n_params; k++)
            fprintf(f, "%s`%s`", k ? ", " : "", fn->params[k]);
        fprintf(f, ")%s types [", fn->variadic ? " variadic" : "");
        for (size_t k = 0; k < fn->n_types; k++)
            fprintf(f, "%s%s", k ? ", " : "", fn->types[k]);
        fprintf(f, "]\n");
    }
    for (size_t i = 0; i < a->n_types; i++) {
        const struct analysis_type *t = &a->types[i];
        fprintf(f, "type %s (%s)", t->name, t->kind);
        if (t->target)
            fprintf(f, " = `%s`", t->target);
        if (t->size >= 0)
            fprintf(f, " size %ld align %ld", t->size, t->align);
        else
            fprintf(f, " size ?");
        for (size_t k = 0; k < t->n_fields; k++) {
            const struct analysis_field *fd = &t->fields[k];
            fprintf(f, "%s%s", k ? ", " : " {", fd->name);
            if (strcmp(t->kind, "enum")) {
                if (fd->offset < 0)
                    fprintf(f, "@?");
                else if (fd->width >= 0)
                    fprintf(f, "@%ld.%d", fd->offset, fd->bit);
                else
                    fprintf(f, "@%ld", fd->offset);
            }
            fprintf(f, ": `%s`", fd->type);
        }
        fprintf(f, "%s\n", t->n_fields ? " }" : "");
    }
    for (size_t i = 0; i < a->n_problems; i++)
        fprintf(f, "problem %u:%u %s\n", a->problems[i].range.start.row, a->problems[i].range.start.column,
                a->problems[i].message);
    fclose(f);
    return out;
}

/* Compares `got` with tests/fixtures/analysis/<name>/expected, or rewrites
 * that file with it when HOTC_UPDATE_FIXTURES is set. */
static void expect_fixture(const char *name, const char *got)
{
    char path[512];

    snprintf(path, sizeof path, "tests/fixtures/analysis/%s/expected", name);
    if (getenv("HOTC_UPDATE_FIXTURES")) {
        FILE *f = fopen(test_source_path(path), "w");
        cr_assert_not_null(f, "cannot write %s", path);
        fputs(got, f);
        fclose(f);
        return;
    }
    char *expected = test_slurp(test_source_path(path), NULL);
    cr_assert(expected, "missing %s", path);
    cr_assert_str_eq(got, expected, "%s: got\n%s", name, got);
    free(expected);
}

static void check_fixture(const char *name)
{
    char path[512];
    size_t len;
    char *src, *got;
    struct analysis *a;

    snprintf(path, sizeof path, "tests/fixtures/analysis/%s/input.c", name);
    src = test_slurp(test_source_path(path), &len);
    cr_assert(src, "missing %s", path);
    a = analysis_of_text(src, len, "HOT");
    got = dump(a);
    expect_fixture(name, got);
    free(got);
    free(src);
    analysis_free(a);
}

Test(analysis, hot_forms) { check_fixture("forms"); }
Test(analysis, types_and_fields) { check_fixture("types"); }
Test(analysis, broken_code_still_analysed) { check_fixture("broken"); }
Test(analysis, layouts_for_lp64) { check_fixture("layout"); }
Test(analysis, unknown_macros_before_the_type) { check_fixture("macros"); }

static struct analysis *of(const char *src)
{
    return analysis_of_text(src, strlen(src), "HOT");
}

Test(analysis, body_hash_ignores_whitespace_and_comments)
{
    struct analysis *a = of("HOT int f(int a) { return a+1; }");
    struct analysis *b = of("HOT int f(int a)\n{\n  /* add one */\n  return a + 1; // ok\n}\n");
    struct analysis *c = of("HOT int f(int a) { return a+2; }");

    cr_assert_eq(a->functions[0].body_hash, b->functions[0].body_hash);
    cr_assert_neq(a->functions[0].body_hash, c->functions[0].body_hash);
    analysis_free(a);
    analysis_free(b);
    analysis_free(c);
}

Test(analysis, marker_is_configurable)
{
    const char *src = "RELOADABLE void f(void) { } HOT void g(void) { }";
    struct analysis *a = analysis_of_text(src, strlen(src), "RELOADABLE");

    cr_assert(analysis_find_function(a, "f")->hot);
    cr_assert_not(analysis_find_function(a, "g")->hot);
    analysis_free(a);
}

static char *diff_text(const char *old_src, const char *new_src)
{
    struct analysis *a = of(old_src), *b = of(new_src);
    struct analysis_diff *d = analysis_diff(a, b);
    static const char *kinds[] = { "body", "signature", "layout", "added", "removed" };
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);

    for (size_t i = 0; i < d->n_changes; i++)
        fprintf(f, "%s%s %s: %s\n", d->changes[i].name, d->changes[i].hot ? " (hot)" : "", kinds[d->changes[i].kind],
                d->changes[i].message);
    for (size_t i = 0; i < d->n_types; i++)
        fprintf(f, "type %s: %s\n", d->types[i].name, d->types[i].message);
    fclose(f);
    analysis_diff_free(d);
    analysis_free(a);
    analysis_free(b);
    return out;
}

/* tests/fixtures/analysis/<case>/old.c against new.c, in words, compared
 * with <case>/expected (the same lines as diff_text). */
static void check_diff_fixture(const char *name)
{
    char path[512];
    size_t len;
    char *old_src, *new_src, *got;

    snprintf(path, sizeof path, "tests/fixtures/analysis/%s/old.c", name);
    old_src = test_slurp(test_source_path(path), &len);
    cr_assert(old_src, "missing %s", path);
    snprintf(path, sizeof path, "tests/fixtures/analysis/%s/new.c", name);
    new_src = test_slurp(test_source_path(path), &len);
    cr_assert(new_src, "missing %s", path);
    got = diff_text(old_src, new_src);
    expect_fixture(name, got);
    free(got);
    free(old_src);
    free(new_src);
}

Test(analysis, diff_field_added_with_sizes) { check_diff_fixture("diff_field_added"); }
Test(analysis, diff_nested_by_value_not_by_pointer) { check_diff_fixture("diff_nested"); }
Test(analysis, diff_array_bound_from_enum) { check_diff_fixture("diff_array_bound"); }
Test(analysis, diff_macros_before_type_are_no_change) { check_diff_fixture("diff_macros"); }

#define CHECK_DIFF(old, new_, expected)                  \
    do {                                                 \
        char *got = diff_text(old, new_);                \
        cr_assert_str_eq(got, expected, "got:\n%s", got); \
        free(got);                                       \
    } while (0)

Test(analysis, diff_body_only)
{
    CHECK_DIFF("HOT void f(int a) { a++; } void g(void) { }", "HOT void f(int a) { a--; } void g(void) { }",
               "f (hot) body: \n");
}

/* A conditional inside an initializer list makes tree-sitter end the body
 * at the initializer's `}`: the function still ends where the compiler
 * ends it, and an edit after the cut is a change of its body. */
Test(analysis, a_body_cut_short_by_an_if_in_an_initializer_ends_at_its_brace)
{
    const char *src = "struct v { int k; double n; };\n"
                      "HOT struct v make(double x)\n{\n    struct v r = {\n#ifdef WIDE\n        2,\n#else\n"
                      "        1,\n#endif\n        x\n    };\n    return r;\n}\n"
                      "HOT int step(int x)\n{\n    return x + 1;\n}\n";
    struct analysis *a = of(src);
    const struct analysis_function *make = analysis_find_function(a, "make");
    const struct analysis_function *step = analysis_find_function(a, "step");
    const char *close = strstr(src, "return r;\n}") + strlen("return r;\n}");

    cr_assert(make && step, "both functions are found");
    cr_assert(make->hot && step->hot);
    cr_assert_eq(make->end_byte, (size_t)(close - src), "make() ends at its own closing brace");
    cr_assert_eq(make->range.end.row, 12);
    analysis_free(a);
    CHECK_DIFF(src, "struct v { int k; double n; };\n"
                    "HOT struct v make(double x)\n{\n    struct v r = {\n#ifdef WIDE\n        2,\n#else\n"
                    "        1,\n#endif\n        x\n    };\n    return r.n > 0 ? r : r;\n}\n"
                    "HOT int step(int x)\n{\n    return x + 1;\n}\n",
               "make (hot) body: \n");
}

Test(analysis, diff_whitespace_is_no_change)
{
    CHECK_DIFF("HOT void f(int a) { a++; }", "HOT void f(int a)\n{\n    a++; /* same */\n}\n", "");
}

Test(analysis, diff_signature_in_words)
{
    CHECK_DIFF("HOT void f(int a, float b) { }", "HOT int f(int a, double b, char c) { }",
               "f (hot) signature: return type changed from `void` to `int`; parameter 2 changed from `float` "
               "to `double`; parameter 3 `char` added\n");
    CHECK_DIFF("HOT void f(const char *s, ...) { }", "HOT void f(const char *name) { }",
               "f (hot) signature: is no longer variadic\n");
}

Test(analysis, diff_layout_names_type_and_field)
{
    CHECK_DIFF("struct p { float x, y; };\nHOT void f(struct p *q) { }\nvoid g(void) { }",
               "struct p { float x, y, vx; };\nHOT void f(struct p *q) { }\nvoid g(void) { }",
               "f (hot) layout: field `vx` added to `struct p`, size 8 → 12\n"
               "type struct p: field `vx` added to `struct p`, size 8 → 12\n");
    CHECK_DIFF("typedef struct { float x; int n; } v;\nHOT void f(v *q) { }",
               "typedef struct { double x; int n; } v;\nHOT void f(v *q) { }",
               "f (hot) layout: field `x` of `v` changed from `float` to `double`, size 8 → 16\n"
               "type v: field `x` of `v` changed from `float` to `double`, size 8 → 16\n");
    CHECK_DIFF("struct p { int a; int b; };", "struct p { int b; int a; };",
               "type struct p: fields of `struct p` reordered\n");
    CHECK_DIFF("struct p { int a; }; typedef struct p P; HOT void f(P *x) { x->a = 1; }",
               "struct p { int a; int b; }; typedef struct p P; HOT void f(P *x) { x->a = 1; }",
               "f (hot) layout: field `b` added to `struct p`, size 4 → 8\n"
               "type struct p: field `b` added to `struct p`, size 4 → 8\n"
               "type P: field `b` added to `struct p`, size 4 → 8\n");
}

Test(analysis, diff_added_removed_and_non_hot)
{
    CHECK_DIFF("void a(void) { } void b(void) { }", "void b(void) { int x; } void c(void) { }",
               "b body: \nc added: \na removed: \n");
}

/* analysis_diff_hot: the HOT functions' changes, and whether any other
 * function defined in both versions changed (in order or not). */
static char *hot_diff_text(const char *old, const char *new_, int *others)
{
    struct analysis *a = analysis_of_text(old, strlen(old), "HOT");
    struct analysis *b = analysis_of_text(new_, strlen(new_), "HOT");
    struct analysis_diff *d;
    char *out = calloc(1, 4096);

    cr_assert(a && b && out);
    d = analysis_diff_hot(a, b, others);
    cr_assert(d);
    for (size_t i = 0; i < d->n_changes; i++)
        snprintf(out + strlen(out), 4096 - strlen(out), "%s %d\n", d->changes[i].name, (int)d->changes[i].kind);
    analysis_diff_free(d);
    analysis_free(a);
    analysis_free(b);
    return out;
}

#define CHECK_HOT_DIFF(old, new_, expected, expected_others)            \
    do {                                                                \
        int others = -1;                                                \
        char *got = hot_diff_text(old, new_, &others);                  \
        cr_assert_str_eq(got, expected, "got:\n%s", got);               \
        cr_assert_eq(others, expected_others, "others: %d", others);    \
        free(got);                                                      \
    } while (0)

Test(analysis, diff_hot_and_others)
{
    /* only the HOT function's body */
    CHECK_HOT_DIFF("void a(void) { } HOT void f(void) { } void b(void) { }",
                   "void a(void) { } HOT void f(void) { int x; } void b(void) { }", "f 0\n", 0);
    /* another body, in order */
    CHECK_HOT_DIFF("void a(void) { } HOT void f(void) { } void b(void) { }",
                   "void a(void) { } HOT void f(void) { } void b(void) { int y; }", "", 1);
    /* another signature */
    CHECK_HOT_DIFF("void a(int x) { } HOT void f(void) { }", "void a(long x) { } HOT void f(void) { }", "", 1);
    /* reordered, unchanged; reordered, changed */
    CHECK_HOT_DIFF("void a(void) { } void b(void) { } HOT void f(void) { }",
                   "void b(void) { } HOT void f(void) { } void a(void) { }", "", 0);
    CHECK_HOT_DIFF("void a(void) { } void b(void) { } HOT void f(void) { }",
                   "void b(void) { } HOT void f(void) { } void a(void) { a(); }", "", 1);
    /* added and removed functions do not count */
    CHECK_HOT_DIFF("void a(void) { } HOT void f(void) { }", "HOT void f(void) { } void c(void) { }", "", 0);
    CHECK_HOT_DIFF("void a(void) { } HOT void f(void) { }",
                   "void a(void) { } void c(void) { } HOT void f(void) { }", "", 0);
    /* a function that became HOT is not an "other" one */
    CHECK_HOT_DIFF("void a(void) { } void g(void) { }", "void a(void) { } HOT void g(void) { int z; }", "g 3\n",
                   0);
}

/* dump() and the fields it leaves out: byte offsets, body hashes. */
static char *dump_all(const struct analysis *a)
{
    char *d = dump(a), *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);

    fputs(d, f);
    for (size_t i = 0; i < a->n_functions; i++)
        fprintf(f, "%s %u %u %u %u:%u %016llx\n", a->functions[i].name, a->functions[i].start_byte,
                a->functions[i].end_byte, a->functions[i].name_byte, a->functions[i].range.start.column,
                a->functions[i].range.end.column, (unsigned long long)a->functions[i].body_hash);
    fclose(f);
    free(d);
    return out;
}

static TSTree *parse(const char *src, size_t len)
{
    TSParser *p = ts_parser_new();
    TSTree *t;

    ts_parser_set_language(p, grammar_language());
    t = ts_parser_parse_string(p, NULL, src, (uint32_t)len);
    ts_parser_delete(p);
    return t;
}

/* analysis_run_cached of `src` with `cache` is analysis_run's. */
static void check_cached(const char *what, const char *src, size_t len, struct analysis_cache *cache)
{
    TSTree *tree = parse(src, len);
    struct analysis *full = analysis_run(src, len, tree, "HOT");
    struct analysis *cached = analysis_run_cached(src, len, tree, "HOT", cache);
    char *x = dump_all(full), *y = dump_all(cached);

    cr_assert_str_eq(y, x, "%s", what);
    free(x);
    free(y);
    analysis_free(full);
    analysis_free(cached);
    ts_tree_delete(tree);
}

/* The reading handed in (the docstore reads once for the analysis and the
 * patch index) gives analysis_run's result, on a file tree-sitter loses the
 * top level of (a function head in two branches of an #if) and on one it
 * reads whole. */
Test(analysis, a_given_reading_is_the_same_analysis)
{
    static const char *const srcs[] = {
        "#if WIDE\nHOT long f(long a) {\n#else\nHOT int f(int a) {\n#endif\n  return a + 1;\n}\n"
        "HOT int g(int b) { return f(b) * 2; }\nstatic int h(void) { return 3; }\n",
        "HOT int g(int b) { return b * 2; }\nstatic int h(void) { return 3; }\n",
    };
    for (size_t i = 0; i < sizeof srcs / sizeof *srcs; i++) {
        size_t len = strlen(srcs[i]);
        TSTree *tree = parse(srcs[i], len);
        TSTree *reading = grammar_reading(srcs[i], len, tree, false);
        cr_assert_eq(reading != NULL, i == 0, "case %zu: a reading only where the top level is lost", i);
        struct analysis_cache *cache = analysis_cache_new();
        struct analysis *full = analysis_run(srcs[i], len, tree, "HOT");
        struct analysis *read = analysis_run_read(srcs[i], len, tree, reading, "HOT", cache);
        char *x = dump_all(full), *y = dump_all(read);
        cr_assert_str_eq(y, x, "case %zu", i);
        cr_assert(strstr(x, "g") && strstr(x, "h"), "case %zu: %s", i, x);
        free(x);
        free(y);
        analysis_free(full);
        analysis_free(read);
        analysis_cache_free(cache);
        if (reading)
            ts_tree_delete(reading);
        ts_tree_delete(tree);
    }
}

/* A copy dumps as the original, and is independent of it. */
Test(analysis, copy_is_the_same_analysis)
{
    static const char *const names[] = { "forms", "types", "broken", "layout", "macros" };

    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[512];
        size_t len;
        char *src, *x, *y;
        struct analysis *a, *b;

        snprintf(path, sizeof path, "tests/fixtures/analysis/%s/input.c", names[i]);
        src = test_slurp(test_source_path(path), &len);
        cr_assert(src);
        a = analysis_of_text(src, len, "HOT");
        b = analysis_copy(a);
        cr_assert(b);
        x = dump_all(a);
        analysis_free(a);
        y = dump_all(b);
        cr_assert_str_eq(y, x, "%s", names[i]);
        free(x);
        free(y);
        analysis_free(b);
        free(src);
    }
}

/* The cached analysis is the full one: on each fixture from an empty
 * cache, again with every body reused, and after edits that move bodies,
 * open a function around the next ones, or put the marker in a body. */
Test(analysis, cached_run_is_the_full_run)
{
    static const char *const names[] = { "forms", "types", "broken", "layout", "macros" };
    static const char *const typed[] = { "x", "{", "}", "HOT ", "\n\n", "/* c */", ";" };

    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[512];
        size_t len;
        char *src;
        struct analysis_cache *cache = analysis_cache_new();

        snprintf(path, sizeof path, "tests/fixtures/analysis/%s/input.c", names[i]);
        src = test_slurp(test_source_path(path), &len);
        cr_assert(src && cache);
        check_cached(names[i], src, len, cache);
        check_cached(names[i], src, len, cache);
        for (size_t k = 0; k < 24; k++) {
            const char *t = typed[k % (sizeof typed / sizeof *typed)];
            size_t at = len * k / 24, n = strlen(t);
            char *edited = malloc(len + n + 1);
            char what[600];

            memcpy(edited, src, at);
            memcpy(edited + at, t, n);
            memcpy(edited + at + n, src + at, len - at + 1);
            snprintf(what, sizeof what, "%s, \"%s\" at %zu", names[i], t, at);
            check_cached(what, edited, len + n, cache);
            check_cached(what, src, len, cache);
            free(edited);
        }
        analysis_cache_free(cache);
        free(src);
    }
}

/* A body reused from a cache made with another marker would miss the
 * marker's tokens: the cache is not used across markers. */
Test(analysis, cache_follows_the_marker)
{
    const char *src = "void f(void) { LIVE; }\nLIVE void g(void) { }\n";
    size_t len = strlen(src);
    TSTree *tree = parse(src, len);
    struct analysis_cache *cache = analysis_cache_new();
    struct analysis *a = analysis_run_cached(src, len, tree, "HOT", cache);
    struct analysis *b;

    cr_assert_eq(a->n_problems, 0);
    b = analysis_run_cached(src, len, tree, "LIVE", cache);
    cr_assert_eq(b->n_problems, 1);
    cr_assert(b->functions[1].hot);
    analysis_free(a);
    analysis_free(b);
    analysis_cache_free(cache);
    ts_tree_delete(tree);
}
