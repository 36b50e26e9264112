/* lsp/expand.c: the preprocessor's real output (gcc -E of a source written
 * here) cut into per-function hashes, refs, closures and includes. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis.h"
#include "expand.h"
#include "run.h"

struct unit {
    char dir[64];
    struct analysis *a;
    struct expand ex;
};

static const char header[] = "#define DEEP 5\n";

static const char source[] = "#include \"deep.h\"\n"
                             "#define BONUS 10\n"
                             "static int helper(int x) { return x * 2; }\n"
                             "static int via(int x)\n"
                             "{\n"
                             "    return helper(x) + 1;\n"
                             "}\n"
                             "int calc(int x)\n"
                             "{\n"
                             "#if FAST\n"
                             "    return x + BONUS;\n"
                             "#else\n"
                             "    return x + BONUS + 1000;\n"
                             "#endif\n"
                             "}\n"
                             "int help(int x) { return via(x); }\n"
                             "int deep(int x) { return x + DEEP; }\n";

/* Writes `text` (and deep.h with `deep`) to a new directory, runs `cc` -E
 * with -DFAST=1 and reads the output. */
static void expand_text_with(struct unit *u, const char *cc, const char *text, const char *deep)
{
    char path[PATH_MAX], cmd[3 * PATH_MAX];
    FILE *f;
    char *pp;
    size_t len;

    snprintf(u->dir, sizeof u->dir, "/tmp/hotc-expand-XXXXXX");
    cr_assert(mkdtemp(u->dir));
    snprintf(path, sizeof path, "%s/deep.h", u->dir);
    f = fopen(path, "w");
    fputs(deep, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/u.c", u->dir);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cd '%s' && %s -DFAST=1 -E -o u.i '%s'", u->dir, cc, path);
    char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    cr_assert_eq(test_run(argv, NULL, 0, 60000), 0);
    snprintf(cmd, sizeof cmd, "%s/u.i", u->dir);
    pp = test_slurp(cmd, &len);
    cr_assert(pp);
    u->a = analysis_of_text(text, strlen(text), "HOT");
    cr_assert(u->a);
    memset(&u->ex, 0, sizeof u->ex);
    cr_assert_eq(expand_read(&u->ex, pp, len, u->a, text, strlen(text), path, NULL), 0);
    free(pp);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", u->dir);
    char *rm[] = { "/bin/sh", "-c", cmd, NULL };
    test_run(rm, NULL, 0, 60000);
}

static void expand_text(struct unit *u, const char *text, const char *deep)
{
    expand_text_with(u, "gcc", text, deep);
}

static void release(struct unit *u)
{
    expand_release(&u->ex);
    analysis_free(u->a);
}

static uint64_t hash_of(const struct unit *u, const char *name)
{
    const struct expand_function *f = expand_find(&u->ex, name);
    cr_assert(f, "no %s", name);
    return f->hash;
}

static uint64_t closure_of(const struct unit *u, const char *name)
{
    const struct expand_function *f = expand_find(&u->ex, name);
    cr_assert(f, "no %s", name);
    return f->closure;
}

static char *replaced(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    char *s = malloc(strlen(text) + strlen(to) + 1);
    cr_assert(at);
    sprintf(s, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return s;
}

Test(expand, a_macro_changes_the_functions_that_use_it_and_no_other)
{
    struct unit a, b;
    char *text = replaced(source, "#define BONUS 10", "#define BONUS 20");

    expand_text(&a, source, header);
    expand_text(&b, text, header);
    cr_assert_neq(hash_of(&a, "calc"), hash_of(&b, "calc"));
    cr_assert_eq(hash_of(&a, "help"), hash_of(&b, "help"));
    cr_assert_eq(hash_of(&a, "deep"), hash_of(&b, "deep"));
    release(&a);
    release(&b);
    free(text);
}

Test(expand, the_branch_the_flags_leave_out_changes_nothing)
{
    struct unit a, b;
    char *text = replaced(source, "x + BONUS + 1000", "x + BONUS + 2000");

    expand_text(&a, source, header);
    expand_text(&b, text, header);
    cr_assert_eq(hash_of(&a, "calc"), hash_of(&b, "calc"));
    release(&a);
    release(&b);
    free(text);
}

Test(expand, whitespace_and_comments_change_nothing)
{
    struct unit a, b;
    char *text = replaced(source, "    return helper(x) + 1;", "    return   helper(x)+1; /* hm */");

    expand_text(&a, source, header);
    expand_text(&b, text, header);
    cr_assert_eq(hash_of(&a, "via"), hash_of(&b, "via"));
    release(&a);
    release(&b);
    free(text);
}

Test(expand, a_static_helper_reaches_its_callers_through_other_statics)
{
    struct unit a, b;
    char *text = replaced(source, "return x * 2;", "return x * 3;");
    const struct expand_function *help;

    expand_text(&a, source, header);
    expand_text(&b, text, header);
    cr_assert_eq(hash_of(&a, "help"), hash_of(&b, "help"), "help()'s own tokens did not change");
    cr_assert_neq(closure_of(&a, "help"), closure_of(&b, "help"), "help() reaches helper() through via()");
    cr_assert_eq(closure_of(&a, "calc"), closure_of(&b, "calc"));
    help = expand_find(&b.ex, "help");
    cr_assert_eq(help->n_refs, 1);
    cr_assert_str_eq(help->refs[0], "via");
    release(&a);
    release(&b);
    free(text);
}

Test(expand, a_header_change_reaches_through_the_include_graph)
{
    struct unit a, b;

    expand_text(&a, source, header);
    expand_text(&b, source, "#define DEEP 7\n");
    cr_assert_neq(hash_of(&a, "deep"), hash_of(&b, "deep"));
    cr_assert_eq(hash_of(&a, "calc"), hash_of(&b, "calc"));
    {
        int found = 0;
        for (size_t i = 0; i < a.ex.n_includes; i++)
            found |= strstr(a.ex.includes[i], "deep.h") != NULL;
        cr_assert(found, "deep.h is not among the includes");
    }
    release(&a);
    release(&b);
}

Test(expand, a_changed_type_or_prototype_changes_the_functions_that_use_it)
{
    static const char types[] = "struct box { int w, h; };\n"
                                "typedef struct box box_t;\n"
                                "enum mode { QUICK, SLOWLY };\n"
                                "int twice(int x);\n"
                                "int area(box_t *b)\n"
                                "{\n"
                                "    return b->w * b->h;\n"
                                "}\n"
                                "int fast(void) { return QUICK; }\n"
                                "int call(int x) { return twice(x); }\n"
                                "int alone(int x) { return x; }\n";
    struct unit a, b, c, d;
    char *fields = replaced(types, "int w, h;", "int h, w;");
    char *modes = replaced(types, "QUICK, SLOWLY", "SLOWLY, QUICK");
    char *proto = replaced(types, "int twice(int x);", "long twice(int x);");

    expand_text(&a, types, header);
    expand_text(&b, fields, header);
    expand_text(&c, modes, header);
    expand_text(&d, proto, header);
    cr_assert_neq(hash_of(&a, "area"), hash_of(&b, "area"), "a field order change reaches area() through a typedef");
    cr_assert_eq(hash_of(&a, "fast"), hash_of(&b, "fast"));
    cr_assert_neq(hash_of(&a, "fast"), hash_of(&c, "fast"), "an enumerator's value changed");
    cr_assert_eq(hash_of(&a, "area"), hash_of(&c, "area"));
    cr_assert_neq(hash_of(&a, "call"), hash_of(&d, "call"), "a called function's prototype changed");
    cr_assert_eq(hash_of(&a, "alone"), hash_of(&b, "alone"));
    cr_assert_eq(hash_of(&a, "alone"), hash_of(&c, "alone"));
    cr_assert_eq(hash_of(&a, "alone"), hash_of(&d, "alone"));
    release(&a);
    release(&b);
    release(&c);
    release(&d);
    free(fields);
    free(modes);
    free(proto);
}

/* An amalgamated source (one .c made of many, as SQLite's or Mongoose's):
 * `#line` directives rename and renumber its lines, and the preprocessor's
 * markers follow them. The lines are still the file's own: each function's
 * expansion is read from its rows, and the names are no includes. */
static const char amalgamated[] = "#include \"deep.h\"\n"
                                  "#define HOT\n"
                                  "#line 1 \"src/one.c\"\n"
                                  "static int one(int x) {\n"
                                  "    return x * 3;\n"
                                  "}\n"
                                  "#line 1 \"src/two.c\"\n"
                                  "HOT int two(int x) {\n"
                                  "    return one(x) + 2;\n"
                                  "}\n"
                                  "\n\n\n\n\n\n\n\n\n\n\n\n"
                                  "HOT int after_blanks(int x) { return x - 1; }\n"
                                  "#line 40 \"src/three.c\"\n"
                                  "HOT int four(int x) {\n"
                                  "    return x + DEEP;\n"
                                  "}\n"
                                  "#line 300\n"
                                  "/* #line 7 \"not/a/directive.c\" */\n"
                                  "HOT int five(int x) { return x + 5; }\n";

/* gcc and clang print a marker at each directive. (tcc does not: it may
 * print none until a gap of blank lines, so its output cannot place the
 * lines after a `#line`; docs/limitations.md.) */
static void read_amalgamated_with(const char *cc)
{
    struct unit a, b, c, d;
    char *body = replaced(amalgamated, "one(x) + 2", "one(x) + 7");
    char *late = replaced(amalgamated, "x + 5;", "x + 6;");
    char *blanks = replaced(amalgamated, "x - 1;", "x - 2;");

    expand_text_with(&a, cc, amalgamated, header);
    expand_text_with(&b, cc, body, header);
    expand_text_with(&c, cc, late, header);
    expand_text_with(&d, cc, blanks, header);
    cr_assert_neq(hash_of(&a, "two"), hash_of(&b, "two"), "%s: a change after `#line 1 \"src/two.c\"` went unseen", cc);
    cr_assert_eq(hash_of(&a, "four"), hash_of(&b, "four"), "%s", cc);
    cr_assert_eq(hash_of(&a, "five"), hash_of(&b, "five"), "%s", cc);
    cr_assert_neq(hash_of(&a, "five"), hash_of(&c, "five"), "%s: a change after `#line 300` went unseen", cc);
    cr_assert_eq(hash_of(&a, "two"), hash_of(&c, "two"), "%s", cc);
    cr_assert_neq(hash_of(&a, "after_blanks"), hash_of(&d, "after_blanks"), "%s", cc);
    cr_assert_eq(hash_of(&a, "two"), hash_of(&d, "two"), "%s", cc);
    /* a function reads its own lines only: the header's DEEP reaches four */
    release(&b);
    expand_text_with(&b, cc, amalgamated, "#define DEEP 9\n");
    cr_assert_neq(hash_of(&a, "four"), hash_of(&b, "four"), "%s", cc);
    cr_assert_eq(hash_of(&a, "two"), hash_of(&b, "two"), "%s", cc);
    for (size_t i = 0; i < a.ex.n_includes; i++)
        cr_assert(strstr(a.ex.includes[i], "src/") == NULL, "%s: %s is no include", cc, a.ex.includes[i]);
    release(&a);
    release(&b);
    release(&c);
    release(&d);
    free(body);
    free(late);
    free(blanks);
}

Test(expand, an_amalgamated_file_renamed_by_line_directives_is_still_read_by_rows)
{
    read_amalgamated_with("gcc");
    read_amalgamated_with("clang");
}
