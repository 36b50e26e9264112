/* lsp/docstore: incremental edits keep the text, the tree and the analysis
 * consistent with a fresh parse; the baseline stays what was opened. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docstore.h"
#include "patch.h"

Test(docstore, incremental_edits_match_a_fresh_parse)
{
    struct docstore *ds = docstore_new("HOT");
    const char *src = "int a;\nHOT void f(int x) { x++; }\n";
    struct document *doc = docstore_open(ds, "file:///a.c", "/a.c", src, strlen(src), 1);
    struct text_edit e = { 18, 21, "long", 4 }; /* int x -> long x */
    char *fresh;

    cr_assert_eq(doc->n_lines, 3);
    docstore_edit(ds, doc, &e);
    docstore_update(ds, doc);
    cr_assert_str_eq(doc->text, "int a;\nHOT void f(long x) { x++; }\n");
    fresh = ts_node_string(ts_tree_root_node(doc->tree));
    {
        struct document *other = docstore_open(ds, "file:///b.c", NULL, doc->text, doc->len, 1);
        char *s = ts_node_string(ts_tree_root_node(other->tree));
        cr_assert_str_eq(fresh, s);
        free(s);
    }
    free(fresh);
    cr_assert_str_eq(doc->analysis->functions[0].params[0], "long");
    cr_assert_str_eq(doc->running->functions[0].params[0], "int");
    docstore_set_running(ds, doc, NULL, 0);
    cr_assert_str_eq(doc->running->functions[0].params[0], "long");
    docstore_free(ds);
}

Test(docstore, lookup_and_close)
{
    struct docstore *ds = docstore_new(NULL);

    docstore_open(ds, "file:///a.c", "/a.c", "", 0, 1);
    docstore_open(ds, "file:///b.c", "/b.c", "int x;", 6, 1);
    cr_assert_not_null(docstore_get(ds, "file:///b.c"));
    cr_assert_not_null(docstore_find_path(ds, "/a.c"));
    docstore_close(ds, "file:///a.c");
    cr_assert_null(docstore_get(ds, "file:///a.c"));
    cr_assert_str_eq(docstore_at(ds, 0)->uri, "file:///b.c");
    cr_assert_null(docstore_at(ds, 1));
    docstore_free(ds);
}

Test(docstore, marker_change_reanalyses)
{
    struct docstore *ds = docstore_new("HOT");
    const char *src = "LIVE void f(void) { }";
    struct document *doc = docstore_open(ds, "file:///a.c", NULL, src, strlen(src), 1);

    cr_assert_not(doc->analysis->functions[0].hot);
    docstore_set_marker(ds, "LIVE");
    cr_assert(doc->analysis->functions[0].hot);
    docstore_free(ds);
}

/* Each version of a document has a patch index of its own tree: a patch
 * built with it is the one built from the text alone. */
Test(docstore, the_patch_index_follows_the_text)
{
    struct docstore *ds = docstore_new("HOT");
    const char *src = "static int n;\nstatic int helper(void) { return n; }\nHOT int f(void) { return helper(); }\n"
                      "int g(void) { return 2; }\n";
    struct document *doc = docstore_open(ds, "file:///a.c", "/a.c", src, strlen(src), 1);
    const char *fns[] = { "f" };
    struct text_edit e = { 85, 85, " + 1", 4 }; /* return helper() + 1 */

    cr_assert_not_null(doc->patch_index);
    for (int round = 0; round < 2; round++) {
        struct patch_input in = { .text = doc->text, .length = doc->len, .path = "/a.c", .functions = fns,
                                  .function_count = 1, .build_id = "", .tree = doc->tree };
        struct patch plain, indexed;

        patch_init(&plain);
        patch_init(&indexed);
        cr_assert_eq(patch_build(&plain, &in), 0);
        cr_assert_eq(patch_build_indexed(&indexed, &in, doc->patch_index), 0);
        cr_assert_str_eq(indexed.source, plain.source);
        if (round == 1)
            cr_assert_not_null(strstr(plain.source, "helper() + 1"));
        patch_release(&plain);
        patch_release(&indexed);
        docstore_edit(ds, doc, &e);
        docstore_update(ds, doc);
        cr_assert_not_null(doc->patch_index);
    }
    docstore_free(ds);
}

/* The baseline set from the document's own text is a copy of its analysis:
 * later edits leave it alone. */
Test(docstore, running_from_the_current_text_is_a_copy)
{
    struct docstore *ds = docstore_new("HOT");
    const char *src = "HOT int f(int x) { return x; }\nint g(void) { return 1; }\n";
    struct document *doc = docstore_open(ds, "file:///a.c", NULL, src, strlen(src), 1);
    struct text_edit e = { 4, 7, "long", 4 };

    cr_assert_neq(doc->running, doc->analysis);
    docstore_set_running(ds, doc, src, strlen(src));
    cr_assert_neq(doc->running, doc->analysis);
    cr_assert_str_eq(doc->running->functions[0].ret, "int");
    cr_assert_eq(doc->running->functions[1].body_hash, doc->analysis->functions[1].body_hash);
    docstore_edit(ds, doc, &e);
    docstore_update(ds, doc);
    cr_assert_str_eq(doc->analysis->functions[0].ret, "long");
    cr_assert_str_eq(doc->running->functions[0].ret, "int");
    cr_assert_eq(doc->running->functions[1].body_hash, doc->analysis->functions[1].body_hash);
    cr_assert_eq(doc->analysis->functions[1].start_byte, doc->running->functions[1].start_byte + 1);
    docstore_free(ds);
}

/* A marker typed into a body whose analysis was reused is still found. */
Test(docstore, marker_typed_in_a_reused_body)
{
    struct docstore *ds = docstore_new("HOT");
    const char *src = "void f(void) { g(); }\nvoid h(void) { g(); }\n";
    struct document *doc = docstore_open(ds, "file:///a.c", NULL, src, strlen(src), 1);
    struct text_edit e = { 15, 15, "HOT; ", 5 };

    cr_assert_eq(doc->analysis->n_problems, 0);
    docstore_edit(ds, doc, &e);
    docstore_update(ds, doc);
    cr_assert_eq(doc->analysis->n_problems, 1);
    docstore_free(ds);
}

/* The line index is updated in place by each edit: it is the one a fresh
 * open of the same text builds, for newlines typed, deleted and replaced,
 * at the start, in the middle and at the end. */
Test(docstore, line_index_follows_edits)
{
    struct docstore *ds = docstore_new("HOT");
    const char *src = "int a;\n\nint b;\nvoid f(void)\n{\n}\n";
    struct document *doc = docstore_open(ds, "file:///a.c", NULL, src, strlen(src), 1);
    const struct text_edit edits[] = {
        { 0, 0, "\n", 1 },           /* a line at the start */
        { 8, 9, "", 0 },             /* the empty line joined */
        { 3, 12, "x\ny\n\nz", 6 },   /* across lines, with new ones */
        { 0, 3, "", 0 },
        { 20, 20, "\n\n", 2 },
        { 5, 25, "q", 1 },
    };

    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
        struct document *fresh;

        docstore_edit(ds, doc, &edits[i]); /* no update: the index is the edit's */
        fresh = docstore_open(ds, "file:///fresh.c", NULL, doc->text, doc->len, 1);
        doc = docstore_peek(ds, "file:///a.c");
        cr_assert_eq(doc->n_lines, fresh->n_lines, "edit %zu: %zu lines, a fresh index has %zu", i, doc->n_lines,
                     fresh->n_lines);
        for (size_t k = 0; k < fresh->n_lines; k++)
            cr_assert_eq(doc->lines[k], fresh->lines[k], "edit %zu: line %zu starts at %u, not %u", i, k,
                         doc->lines[k], fresh->lines[k]);
        docstore_close(ds, "file:///fresh.c");
        docstore_update(ds, doc);
    }
    docstore_free(ds);
}

/* Whether `a` is `b`: the functions (names, marks, hashes, places,
 * signatures), the types and the problems. */
static void assert_same_analysis(const struct analysis *a, const struct analysis *b, const char *what)
{
    cr_assert_eq(a->n_functions, b->n_functions, "%s: %zu functions, not %zu", what, a->n_functions,
                 b->n_functions);
    for (size_t i = 0; i < a->n_functions; i++) {
        const struct analysis_function *x = &a->functions[i], *y = &b->functions[i];
        cr_assert_str_eq(x->name, y->name, "%s", what);
        cr_assert_eq(x->hot, y->hot, "%s: %s", what, x->name);
        cr_assert_eq(x->body_hash, y->body_hash, "%s: %s", what, x->name);
        cr_assert_eq(x->start_byte, y->start_byte, "%s: %s", what, x->name);
        cr_assert_eq(x->end_byte, y->end_byte, "%s: %s", what, x->name);
        cr_assert_str_eq(x->ret, y->ret, "%s: %s", what, x->name);
        cr_assert_eq(x->n_params, y->n_params, "%s: %s", what, x->name);
    }
    cr_assert_eq(a->n_types, b->n_types, "%s", what);
    cr_assert_eq(a->n_problems, b->n_problems, "%s", what);
}

static void count_ready(void *data, struct document *doc)
{
    (void)doc;
    ++*(int *)data;
}

/* A text of `n` functions, the 3rd HOT. New string. */
static char *functions(int n)
{
    size_t cap = (size_t)n * 64 + 1, at = 0;
    char *s = malloc(cap);

    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(s + at, cap - at, "%sint f%d(int a) { return a + %d; }\n", i == 2 ? "HOT " : "", i, i);
    return s;
}

/* With a loop, an open and an update left to a worker: the document is
 * dirty until the worker's analysis is back (and has no baseline until its
 * opening analysis is); edits made meanwhile are analysed next; the
 * result is what a synchronous update gives; a lookup settles a document
 * at once; a document closed while its analysis runs is let go. */
Test(docstore, keystrokes_analysed_on_a_worker)
{
    uv_loop_t loop;
    struct docstore *ds = docstore_new("HOT"), *ref = docstore_new("HOT"); /* ref: without a loop */
    char *src = functions(300);
    struct document *doc, *fresh;
    int ready = 0;
    /* "HOT " before f0, a comment before f7 (after that edit), " + 1" in f150's body (after both) */
    uint32_t f7 = (uint32_t)(strstr(src, "int f7(") - src) + 4, body = (uint32_t)(strstr(src, "a + 150;") - src);
    struct text_edit typed = { 0, 0, "HOT ", 4 }, more = { f7, f7, "/* c */", 7 };
    struct text_edit in_body = { body + 4 + 7 + 7, body + 4 + 7 + 7, " + 1", 4 };
    char *tree, *fresh_tree;

    cr_assert_eq(uv_loop_init(&loop), 0);
    docstore_set_background(ds, &loop, 0, count_ready, &ready);
    /* opened on a worker: no baseline until it is back */
    doc = docstore_open(ds, "file:///a.c", "/a.c", src, strlen(src), 1);
    cr_assert_not_null(doc->analysis);
    cr_assert_not_null(doc->job);
    cr_assert_null(doc->running);
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(ready, 1);
    fresh = docstore_open(ref, "file:///fresh.c", NULL, src, strlen(src), 1);
    assert_same_analysis(doc->analysis, fresh->analysis, "opened");
    assert_same_analysis(doc->running, fresh->running, "the baseline");
    docstore_close(ref, "file:///fresh.c");
    ready = 0;

    /* edited while opening: the baseline is still the opened text's */
    docstore_open(ds, "file:///b.c", "/b.c", src, strlen(src), 1);
    docstore_edit(ds, docstore_peek(ds, "file:///b.c"), &(struct text_edit){ 0, 0, "HOT ", 4 });
    cr_assert_eq(docstore_update_later(ds, docstore_peek(ds, "file:///b.c")), 0);
    cr_assert(docstore_get(ds, "file:///b.c")->analysis->functions[0].hot);
    cr_assert_not(docstore_get(ds, "file:///b.c")->running->functions[0].hot);
    docstore_close(ds, "file:///b.c");
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ready = 0;

    docstore_edit(ds, doc, &typed);
    cr_assert_eq(docstore_update_later(ds, doc), 0, "the worker was not asked");
    cr_assert(doc->dirty);
    cr_assert_not_null(doc->job);
    /* typed while the worker runs */
    docstore_edit(ds, doc, &more);
    cr_assert_eq(docstore_update_later(ds, doc), 0);
    docstore_edit(ds, doc, &in_body);
    cr_assert_eq(docstore_update_later(ds, doc), 0);
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    cr_assert_geq(ready, 1);
    cr_assert_not(doc->dirty);
    cr_assert_null(doc->job);
    cr_assert_not_null(strstr(doc->text, "return a + 150 + 1;"));
    fresh = docstore_open(ref, "file:///fresh.c", NULL, doc->text, doc->len, 1);
    doc = docstore_peek(ds, "file:///a.c");
    assert_same_analysis(doc->analysis, fresh->analysis, "after the worker");
    cr_assert(doc->analysis->functions[0].hot, "the marker typed first was lost");
    tree = ts_node_string(ts_tree_root_node(doc->tree));
    fresh_tree = ts_node_string(ts_tree_root_node(fresh->tree));
    cr_assert_str_eq(tree, fresh_tree);
    free(tree);
    free(fresh_tree);
    docstore_close(ref, "file:///fresh.c");

    /* a lookup while the worker runs: up to date when it returns */
    ready = 0;
    docstore_edit(ds, doc, &(struct text_edit){ 0, 4, "", 0 });
    cr_assert_eq(docstore_update_later(ds, doc), 0);
    doc = docstore_get(ds, "file:///a.c");
    cr_assert_not(doc->dirty);
    cr_assert_eq(ready, 1);
    cr_assert_not(doc->analysis->functions[0].hot);
    fresh = docstore_open(ref, "file:///fresh.c", NULL, doc->text, doc->len, 1);
    assert_same_analysis(docstore_get(ds, "file:///a.c")->analysis, fresh->analysis, "settled");
    docstore_close(ref, "file:///fresh.c");
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(ready, 1, "a settled analysis was published twice");

    /* closed while the worker runs */
    doc = docstore_peek(ds, "file:///a.c");
    docstore_edit(ds, doc, &typed);
    cr_assert_eq(docstore_update_later(ds, doc), 0);
    docstore_close(ds, "file:///a.c");
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(ready, 1);
    docstore_free(ds);
    docstore_free(ref);
    cr_assert_eq(uv_loop_close(&loop), 0);
    free(src);
}
