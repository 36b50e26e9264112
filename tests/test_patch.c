/* The patch builder: fixture cases (tests/fixtures/patch/<case>/input.c +
 * request.json → expected.c and the statics/functions tables), the generated
 * source compiling as a shared library with gcc, clang and tcc, and compiler
 * messages pointing at the user's own lines.
 *
 * HOTC_BLESS=1 rewrites the expected.c files from the current output. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis.h"
#include "grammar.h"
#include "patch.h"
#include "run.h"

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* A fixture case, loaded. */
struct fcase {
    char dir[1024];
    char *input;
    size_t length;
    json_t *request;
    const char *functions[16];
    size_t nfunctions;
};

static void fcase_load_in(struct fcase *fc, const char *root, const char *name)
{
    char path[1200];
    json_error_t jerr;

    snprintf(fc->dir, sizeof fc->dir, "%s/%s", test_source_path(root), name);
    snprintf(path, sizeof path, "%s/input.c", fc->dir);
    fc->input = test_slurp(path, &fc->length);
    cr_assert_not_null(fc->input, "%s", path);
    snprintf(path, sizeof path, "%s/request.json", fc->dir);
    fc->request = json_load_file(path, 0, &jerr);
    cr_assert_not_null(fc->request, "%s: %s", path, jerr.text);
    json_t *fns = json_object_get(fc->request, "functions");
    fc->nfunctions = 0;
    for (size_t i = 0; i < json_array_size(fns) && i < 16; i++)
        fc->functions[fc->nfunctions++] = json_string_value(json_array_get(fns, i));
}

static void fcase_load(struct fcase *fc, const char *name)
{
    fcase_load_in(fc, "tests/fixtures/patch", name);
}

static void fcase_release(struct fcase *fc)
{
    free(fc->input);
    json_decref(fc->request);
}

static int fcase_build(struct fcase *fc, struct patch *p, const TSTree *tree)
{
    struct patch_input in = {
        .text = fc->input,
        .length = fc->length,
        .path = json_string_value(json_object_get(fc->request, "path")),
        .functions = fc->functions,
        .function_count = fc->nfunctions,
        .build_id = json_string_value(json_object_get(fc->request, "buildId")),
        .tree = tree,
    };
    patch_init(p);
    return patch_build(p, &in);
}

static size_t case_names(char names[][64], size_t max)
{
    DIR *d = opendir(test_source_path("tests/fixtures/patch"));
    size_t n = 0;
    struct dirent *e;

    cr_assert_not_null(d);
    while ((e = readdir(d)) != NULL && n < max) {
        if (e->d_name[0] == '.')
            continue;
        if (strlen(e->d_name) < 64)
            memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
    }
    closedir(d);
    cr_assert_gt(n, 0);
    return n;
}

static void check_tables(struct fcase *fc, const char *name, struct patch *p)
{
    json_t *want = json_object_get(fc->request, "expectStatics");
    cr_expect_eq(p->static_count, json_array_size(want), "%s: %zu statics, expected %zu", name,
                 p->static_count, json_array_size(want));
    for (size_t i = 0; i < p->static_count && i < json_array_size(want); i++) {
        const char *symbol, *sname, *function = NULL;
        cr_assert_eq(json_unpack(json_array_get(want, i), "{s:s, s:s, s?s}", "symbol", &symbol, "name",
                                 &sname, "function", &function),
                     0);
        cr_expect_str_eq(p->statics[i].symbol, symbol, "%s: static %zu", name, i);
        cr_expect_str_eq(p->statics[i].name, sname, "%s: static %zu", name, i);
        if (function)
            cr_expect(p->statics[i].function && strcmp(p->statics[i].function, function) == 0,
                      "%s: static %s should be in %s", name, sname, function);
        else
            cr_expect_null(p->statics[i].function, "%s: static %s is file-scope", name, sname);
    }
    json_t *fns = json_object_get(fc->request, "expectFunctions");
    cr_expect_eq(p->function_count, json_array_size(fns), "%s", name);
    for (size_t i = 0; i < p->function_count && i < json_array_size(fns); i++) {
        const char *fname, *symbol;
        int is_static;
        cr_assert_eq(json_unpack(json_array_get(fns, i), "{s:s, s:s, s:b}", "name", &fname, "symbol",
                                 &symbol, "static", &is_static),
                     0);
        cr_expect_str_eq(p->functions[i].name, fname);
        cr_expect_str_eq(p->functions[i].symbol, symbol);
        cr_expect_eq(p->functions[i].is_static, is_static != 0, "%s: %s static", name, fname);
    }
    const char *slash = strrchr(json_string_value(json_object_get(fc->request, "path")), '/');
    const char *base = slash ? slash + 1 : json_string_value(json_object_get(fc->request, "path"));
    cr_expect_str_eq(p->file, base);
}

Test(patch, fixtures_match_expected_source_and_tables)
{
    char names[64][64];
    size_t n = case_names(names, 64);
    bool bless = getenv("HOTC_BLESS") != NULL;

    for (size_t i = 0; i < n; i++) {
        struct fcase fc;
        struct patch p;
        char path[1200];

        fcase_load(&fc, names[i]);
        cr_assert_eq(fcase_build(&fc, &p, NULL), 0, "%s: %s", names[i], p.error);
        snprintf(path, sizeof path, "%s/expected.c", fc.dir);
        if (bless)
            spit(path, p.source);
        char *expected = test_slurp(path, NULL);
        cr_assert_not_null(expected, "%s missing (HOTC_BLESS=1 writes it)", path);
        if (strcmp(expected, p.source) != 0) {
            char got[1200];
            snprintf(got, sizeof got, "%s", test_build_path(""));
            snprintf(got + strlen(got), sizeof got - strlen(got), "patch-%s.got.c", names[i]);
            spit(got, p.source);
            cr_expect_fail("%s: output differs from expected.c; see diff -u %s %s", names[i], path, got);
        }
        cr_expect_eq(strlen(p.source), p.length);
        check_tables(&fc, names[i], &p);
        free(expected);
        patch_release(&p);
        fcase_release(&fc);
    }
}

/* Compiles `source` with `cc` as a shared library; returns nm -D's output in
 * `syms`. */
static void compile_shared(const char *cc, const char *name, const char *source, const char *incdir,
                           char *syms, size_t size)
{
    char src[1200], so[1200], inc1[1300], inc2[1300], out[8192];

    snprintf(src, sizeof src, "%spatch-%s-%s.c", test_build_path(""), name, cc);
    snprintf(so, sizeof so, "%spatch-%s-%s.so", test_build_path(""), name, cc);
    snprintf(inc1, sizeof inc1, "-I%s", test_source_path("runtime"));
    snprintf(inc2, sizeof inc2, "-I%s", incdir);
    spit(src, source);
    /* a call of a function the patch dropped is an error, not a warning
     * (tcc has no -Werror=) */
    const char *implicit = strcmp(cc, "tcc") == 0 ? "-Wall" : "-Werror=implicit-function-declaration";
    char *argv[] = { (char *)cc, "-fPIC", "-shared", "-Wall", "-Wextra", (char *)implicit, inc1, inc2, "-o", so, src,
                     NULL };
    int rc = test_run(argv, out, sizeof out, 60000);
    cr_assert_eq(rc, 0, "%s: %s failed:\n%s", name, cc, out);
    char *nm[] = { "nm", "-D", so, NULL };
    cr_assert_eq(test_run(nm, syms, size, 20000), 0);
}

static void check_compiles_with(const char *cc)
{
    char names[64][64];
    size_t n = case_names(names, 64);

    if (!test_have(cc)) {
        cr_log_warn("%s not installed; skipped", cc);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct fcase fc;
        struct patch p;
        char syms[16384], want[128];

        fcase_load(&fc, names[i]);
        cr_assert_eq(fcase_build(&fc, &p, NULL), 0, "%s", p.error);
        compile_shared(cc, names[i], p.source, fc.dir, syms, sizeof syms);
        for (size_t k = 0; k < p.function_count; k++) {
            snprintf(want, sizeof want, " T %s\n", p.functions[k].symbol);
            cr_expect(strstr(syms, want), "%s/%s: %s not exported:\n%s", cc, names[i], p.functions[k].symbol,
                      syms);
        }
        cr_expect(strstr(syms, "__hotc_target_build_id\n"), "%s/%s: no build id", cc, names[i]);
        /* every bound static the code really uses is a weak undefined symbol
         * (unused ones may be optimized out, never defined) */
        for (size_t k = 0; k < p.static_count; k++) {
            snprintf(want, sizeof want, " %s\n", p.statics[k].symbol);
            const char *at = strstr(syms, want);
            if (at)
                cr_expect(at[-1] == 'w' || at[-1] == 'v', "%s/%s: %s is not weak undefined:\n%s", cc,
                          names[i], p.statics[k].symbol, syms);
        }
        cr_expect_null(strstr(syms, " D __hotc_s_"), "%s/%s: a static was defined, not bound", cc, names[i]);
        cr_expect_null(strstr(syms, " B __hotc_s_"), "%s/%s: a static was defined, not bound", cc, names[i]);
        patch_release(&p);
        fcase_release(&fc);
    }
}

Test(patch, generated_source_compiles_with_gcc, .timeout = 240)
{
    check_compiles_with("gcc");
}

Test(patch, generated_source_compiles_with_clang, .timeout = 240)
{
    check_compiles_with("clang");
}

Test(patch, generated_source_compiles_with_tcc, .timeout = 240)
{
    check_compiles_with("tcc");
}

/* An error in the reloaded function, after bodies that were removed (so the
 * patch has fewer lines than the file), is reported at the user's line. */
Test(patch, compiler_messages_point_at_the_users_lines, .timeout = 120)
{
    static const char src[] = "#include \"hot.h\"\n"                  /* 1 */
                              "int before(int x)\n"                   /* 2 */
                              "{\n"                                   /* 3 */
                              "    x += 1;\n"                         /* 4 */
                              "    x += 2;\n"                         /* 5 */
                              "    return x;\n"                       /* 6 */
                              "}\n"                                   /* 7 */
                              "static int unused(void)\n"             /* 8 */
                              "{\n"                                   /* 9 */
                              "    return 3;\n"                       /* 10 */
                              "}\n"                                   /* 11 */
                              "static int count;\n"                   /* 12 */
                              "HOT int update(int v)\n"               /* 13 */
                              "{\n"                                   /* 14 */
                              "    static int calls = 0;\n"           /* 15 */
                              "    calls++;\n"                        /* 16 */
                              "\treturn v + count + undeclared_var;\n" /* 17 */
                              "}\n";
    const char *fns[] = { "update" };
    struct patch_input in = { src, sizeof src - 1, "/home/me/game/main.c", fns, 1, "aa", NULL };
    struct patch p;

    patch_init(&p);
    cr_assert_eq(patch_build(&p, &in), 0, "%s", p.error);
    cr_assert_lt(strlen(p.source) - strlen(strstr(p.source, "#line 1")), 500);

    const char *ccs[] = { "gcc", "clang", "tcc" };
    for (size_t i = 0; i < 3; i++) {
        char path[1200], out[8192], inc[1300];
        if (!test_have(ccs[i]))
            continue;
        snprintf(path, sizeof path, "%spatch-lines-%s.c", test_build_path(""), ccs[i]);
        snprintf(inc, sizeof inc, "-I%s", test_source_path("runtime"));
        spit(path, p.source);
        char *argv[] = { (char *)ccs[i], "-fsyntax-only", inc, path, NULL, NULL, NULL };
        if (strcmp(ccs[i], "tcc") == 0) {
            argv[1] = "-c";
            argv[4] = "-o";
            argv[5] = "/dev/null";
        }
        cr_assert_neq(test_run(argv, out, sizeof out, 60000), 0, "%s accepted an undeclared variable", ccs[i]);
        /* gcc and clang give the column (tab counted as 1 byte by clang, as a
         * tab stop by gcc); tcc gives the line only */
        cr_expect(strstr(out, "/home/me/game/main.c:17:"), "%s: not at main.c:17:\n%s\n--\n%s", ccs[i], out,
                  p.source);
        if (strcmp(ccs[i], "clang") == 0)
            cr_expect(strstr(out, "main.c:17:21:"), "clang column:\n%s", out);
    }
    patch_release(&p);
}

/* Source the builder must refuse with a reason, never loop on or patch
 * wrongly (tests/fixtures/patch_refused/<case>: input.c, request.json with
 * `expectError`). The timeout catches a builder that never returns. */
Test(patch, refused_fixtures_say_why, .timeout = 30)
{
    static const char *const cases[] = {"typeless_static"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct fcase fc;
        struct patch p;
        fcase_load_in(&fc, "tests/fixtures/patch_refused", cases[i]);
        const char *want = json_string_value(json_object_get(fc.request, "expectError"));
        cr_assert_not_null(want, "%s: request.json needs expectError", cases[i]);
        int rc = fcase_build(&fc, &p, NULL);
        cr_expect_lt(rc, 0, "%s: built a patch:\n%s", cases[i], rc == 0 ? p.source : "");
        cr_expect(rc == 0 || strstr(p.error, want), "%s: error \"%s\", expected \"%s\"", cases[i],
                  p.error, want);
        patch_release(&p);
        fcase_release(&fc);
    }
}

Test(patch, a_missing_function_is_an_error_naming_it)
{
    static const char src[] = "int f(void) { return 1; }\n";
    const char *fns[] = { "f", "nope" };
    struct patch_input in = { src, sizeof src - 1, "a.c", fns, 2, "", NULL };
    struct patch p;

    patch_init(&p);
    cr_assert_eq(patch_build(&p, &in), PATCH_ENOTFOUND);
    cr_expect(strstr(p.error, "nope()"), "%s", p.error);
    cr_expect_null(p.source);
    cr_expect_str_eq(patch_strerror(PATCH_ENOTFOUND), "function to reload has no definition in the file");
    patch_release(&p);
}

Test(patch, broken_source_still_gives_a_patch)
{
    static const char src[] = "#include \"hot.h\"\n"
                              "HOT int update(int v)\n"
                              "{\n"
                              "    return v +;\n"
                              "}\n"
                              "int other(void) { return 2; }\n";
    const char *fns[] = { "update" };
    struct patch_input in = { src, sizeof src - 1, "b.c", fns, 1, "", NULL };
    struct patch p;

    patch_init(&p);
    cr_assert_eq(patch_build(&p, &in), 0, "%s", p.error);
    cr_expect(strstr(p.source, "return v +;"), "%s", p.source);
    cr_expect(strstr(p.source, "__asm__(__hotc_def(update))"), "%s", p.source);
    cr_expect(strstr(p.source, "} __hotc_export(update)"), "%s", p.source);
    patch_release(&p);
}

Test(patch, a_given_tree_gives_the_same_output)
{
    struct fcase fc;
    struct patch a, b;
    TSParser *parser = ts_parser_new();

    fcase_load(&fc, "basic");
    cr_assert(ts_parser_set_language(parser, grammar_language()));
    TSTree *tree = ts_parser_parse_string(parser, NULL, fc.input, (uint32_t)fc.length);
    cr_assert_eq(fcase_build(&fc, &a, NULL), 0);
    cr_assert_eq(fcase_build(&fc, &b, tree), 0);
    cr_expect_str_eq(a.source, b.source);
    patch_release(&a);
    patch_release(&b);
    ts_tree_delete(tree);
    ts_parser_delete(parser);
    fcase_release(&fc);
}

/* Reloading several times from one buffer is stable: the same request gives
 * the same bytes (the server relies on it to skip identical rebuilds). */
Test(patch, output_is_deterministic)
{
    struct fcase fc;
    struct patch a, b;

    fcase_load(&fc, "locals");
    cr_assert_eq(fcase_build(&fc, &a, NULL), 0);
    cr_assert_eq(fcase_build(&fc, &b, NULL), 0);
    cr_expect_str_eq(a.source, b.source);
    patch_release(&a);
    patch_release(&b);
    fcase_release(&fc);
}

/* An index of the file (what the docstore keeps per version) gives the same
 * bytes and tables as building without one, for every fixture and for each
 * function reloaded alone; an index of another tree is ignored. */
Test(patch, an_index_gives_the_same_output)
{
    char names[64][64];
    size_t n = case_names(names, 64);
    TSParser *parser = ts_parser_new();

    cr_assert(ts_parser_set_language(parser, grammar_language()));
    for (size_t i = 0; i < n; i++) {
        struct fcase fc;
        fcase_load(&fc, names[i]);
        TSTree *tree = ts_parser_parse_string(parser, NULL, fc.input, (uint32_t)fc.length);
        TSTree *other = ts_parser_parse_string(parser, NULL, fc.input, (uint32_t)fc.length);
        struct patch_index *index = patch_index_new(fc.input, fc.length, tree);
        struct patch_index *stale = patch_index_new(fc.input, fc.length, other);
        /* as the docstore builds it: the reading given (shared with the
         * analysis) */
        TSTree *reading = grammar_reading(fc.input, fc.length, tree, false);
        struct patch_index *given = patch_index_new_read(fc.input, fc.length, tree, reading);
        if (reading)
            ts_tree_delete(reading);
        cr_assert_not_null(index);
        cr_assert_not_null(stale);
        cr_assert_not_null(given);
        /* used where it fits, also when read from a masked copy */
        cr_expect(patch_index_fits(index, tree, fc.length), "%s", names[i]);
        cr_expect(patch_index_fits(given, tree, fc.length), "%s", names[i]);
        cr_expect(!patch_index_fits(stale, tree, fc.length), "%s", names[i]);
        size_t all = fc.nfunctions;
        const char *requested[16];
        memcpy(requested, fc.functions, sizeof requested);
        /* the request, then each of its functions alone */
        for (size_t k = 0; k <= all; k++) {
            if (k > 0) {
                fc.functions[0] = requested[k - 1];
                fc.nfunctions = 1;
            }
            struct patch_input in = {
                .text = fc.input,
                .length = fc.length,
                .path = json_string_value(json_object_get(fc.request, "path")),
                .functions = fc.functions,
                .function_count = fc.nfunctions,
                .build_id = "ab",
                .tree = tree,
            };
            struct patch plain, indexed, ignored, shared;
            patch_init(&plain);
            patch_init(&indexed);
            patch_init(&ignored);
            patch_init(&shared);
            cr_assert_eq(patch_build(&plain, &in), 0, "%s: %s", names[i], plain.error);
            cr_assert_eq(patch_build_indexed(&indexed, &in, index), 0, "%s: %s", names[i], indexed.error);
            cr_assert_eq(patch_build_indexed(&ignored, &in, stale), 0, "%s: %s", names[i], ignored.error);
            cr_expect_str_eq(indexed.source, plain.source, "%s, request %zu", names[i], k);
            cr_expect_str_eq(ignored.source, plain.source, "%s, request %zu", names[i], k);
            cr_assert_eq(patch_build_indexed(&shared, &in, given), 0, "%s: %s", names[i], shared.error);
            cr_expect_str_eq(shared.source, plain.source, "%s, request %zu", names[i], k);
            cr_expect_eq(indexed.static_count, plain.static_count, "%s", names[i]);
            for (size_t s = 0; s < plain.static_count && s < indexed.static_count; s++) {
                cr_expect_str_eq(indexed.statics[s].symbol, plain.statics[s].symbol);
                cr_expect_str_eq(indexed.statics[s].name, plain.statics[s].name);
            }
            patch_release(&plain);
            patch_release(&indexed);
            patch_release(&ignored);
            patch_release(&shared);
        }
        fc.nfunctions = all;
        patch_index_free(given);
        patch_index_free(index);
        patch_index_free(stale);
        ts_tree_delete(tree);
        ts_tree_delete(other);
        fcase_release(&fc);
    }
    ts_parser_delete(parser);
}

/* A text `n` levels deep: `open` n times, then `middle`, then `close` n
 * times, between `head` and `tail` (a new string). */
static char *nested(const char *head, const char *open, const char *middle, const char *close, const char *tail,
                    size_t n)
{
    size_t lo = strlen(open), lc = strlen(close), lh = strlen(head), lm = strlen(middle), lt = strlen(tail);
    char *s = malloc(lh + n * (lo + lc) + lm + lt + 1), *p = s;

    cr_assert(s);
    memcpy(p, head, lh), p += lh;
    for (size_t i = 0; i < n; i++)
        memcpy(p, open, lo), p += lo;
    memcpy(p, middle, lm), p += lm;
    for (size_t i = 0; i < n; i++)
        memcpy(p, close, lc), p += lc;
    memcpy(p, tail, lt), p += lt;
    *p = '\0';
    return s;
}

/* Code nested 100,000 deep (a 200 KB file of `!`, of braces, of `#if`
 * lines) is analysed and cut without overflowing the stack: the walks stop
 * at GRAMMAR_MAX_DEPTH. (Before, each of these crashed the server.) */
Test(patch, code_nested_100000_deep_is_analysed_and_cut)
{
    const size_t n = 100000;
    char *texts[] = {
        nested("#include \"hot.h\"\nHOT int f(void) { return ", "!", "1", "", "; }\n", n),
        nested("#include \"hot.h\"\nHOT int f(void) { ", "{", "", "}", " return 0; }\n", n),
        nested("#include \"hot.h\"\n", "#if 1\n", "HOT int f(void) { return 1; }\n", "#endif\n", "", n),
        nested("#include \"hot.h\"\nint x = ", "(", "1", ")", ";\nHOT int f(void) { return x; }\n", n),
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        size_t len = strlen(texts[i]);
        struct analysis *a = analysis_of_text(texts[i], len, "HOT");
        cr_assert_not_null(a, "case %zu: no analysis", i);
        analysis_free(a);
        const char *fns[] = { "f" };
        struct patch p;
        patch_init(&p);
        struct patch_input in = {
            .text = texts[i], .length = len, .path = "deep.c", .functions = fns, .function_count = 1, .build_id = "ab",
        };
        int rc = patch_build(&p, &in);
        cr_assert(rc == 0 || rc == PATCH_ENOTFOUND, "case %zu: %d %s", i, rc, p.error);
        patch_release(&p);
        free(texts[i]);
    }
}

/* The readings the patch index falls back on blank only what a C compiler
 * reads as nothing: a comment inside a directive (not the one ending it:
 * tree-sitter reads that one), and the branches only C++ takes (up to their
 * #else); every offset and newline stays. */
Test(patch, c_readings_blank_only_what_c_ignores)
{
    char text[] = "#define F(x) do { \\\n    f(x); /*note*/; \\\n} while (0) /* end */\n"
                  "#ifdef __cplusplus\nextern \"C\" {\n#else\nint c_only;\n#endif\n"
                  "#if defined(__cplusplus)\n#if X\n}\n#endif\n#endif\nint after;\n";
    char want[] = "#define F(x) do { \\\n    f(x);         ; \\\n} while (0) /* end */\n"
                  "#ifdef __cplusplus\n            \n#else\nint c_only;\n#endif\n"
                  "#if defined(__cplusplus)\n     \n \n      \n#endif\nint after;\n";
    size_t len = sizeof text - 1;

    cr_assert(grammar_mask_directive_comments(text, len));
    cr_assert(grammar_mask_cplusplus(text, len));
    cr_expect_str_eq(text, want);
    cr_expect_not(grammar_mask_directive_comments(text, len), "nothing left to blank");
    cr_expect_not(grammar_mask_cplusplus(text, len), "nothing left to blank");
}

/* Inside a body, the branches of plain #ifdef/#ifndef tests are read under
 * one assumption per macro (the first test's first branch); a file-scope
 * group and any other condition are left to the later readings. */
Test(patch, body_branches_read_one_configuration)
{
    char text[] = "#ifdef A\nint a;\n#endif\n"
                  "void f(void) {\n#ifndef A\n  if (x) {\n#endif\n  y();\n#ifdef A\n  z();\n#else\n  }\n#endif\n"
                  "#if A > 2\n  w();\n#endif\n}\n";
    char want[] = "#ifdef A\nint a;\n#endif\n"
                  "void f(void) {\n         \n  if (x) {\n      \n  y();\n        \n      \n     \n  }\n      \n"
                  "#if A > 2\n  w();\n#endif\n}\n";
    size_t len = sizeof text - 1;

    cr_assert(grammar_mask_body_branches(text, len));
    cr_expect_str_eq(text, want);
    cr_expect_not(grammar_mask_body_branches(text, len), "nothing left to blank");
}

/* Which function-local statics start at zero (patch_static.zero_init): the
 * runtime may make one the program does not have only then. Zero tokens
 * in braces and any spelling of zero count; a value, a name (an enum
 * constant may be 5) or an expression does not. File-scope ones never. */
Test(patch, local_statics_that_start_at_zero_are_told_apart)
{
    static const char src[] = "#include \"hot.h\"\n"
                              "enum { X = 5 };\n"
                              "static int file_level;\n"
                              "HOT int update(int v)\n"
                              "{\n"
                              "    static int a;\n"
                              "    static int b = 0;\n"
                              "    static int c[3] = { 0, 0 };\n"
                              "    static double d = 0.0f;\n"
                              "    static void *e = NULL;\n"
                              "    static unsigned long f = 0x0UL;\n"
                              "    static int g = 7;\n"
                              "    static int h[2] = { X };\n"
                              "    static int i = 0 + 1;\n"
                              "    static int j[1] = {};\n"
                              "    return a + b + c[0] + (int)d + (e != 0) + (int)f + g + h[0] + i + j[0] + file_level + v;\n"
                              "}\n";
    static const char *const zero[] = { "a", "b", "c", "d", "e", "f", "j", NULL };
    static const char *const other[] = { "g", "h", "i", "file_level", NULL };
    const char *fns[] = { "update" };
    struct patch_input in = { src, sizeof src - 1, "z.c", fns, 1, "", NULL };
    struct patch p;

    patch_init(&p);
    cr_assert_eq(patch_build(&p, &in), 0, "%s", p.error);
    cr_assert_eq(p.static_count, 11, "%zu statics", p.static_count);
    for (size_t k = 0; k < p.static_count; k++) {
        bool want_zero = false, known = false;
        for (size_t i = 0; zero[i]; i++)
            if (!strcmp(zero[i], p.statics[k].name))
                want_zero = known = true;
        for (size_t i = 0; other[i]; i++)
            if (!strcmp(other[i], p.statics[k].name))
                known = true;
        cr_assert(known, "unexpected static %s", p.statics[k].name);
        cr_expect_eq(p.statics[k].zero_init, want_zero, "%s: zero_init %d", p.statics[k].name,
                     p.statics[k].zero_init);
    }
    patch_release(&p);
}
