/* lsp/docstore: incremental edits keep the text, the tree and the analysis
 * consistent with a fresh parse; the baseline stays what was opened. */
#include <criterion/criterion.h>
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
