/* lsp/docstore: incremental edits keep the text, the tree and the analysis
 * consistent with a fresh parse; the baseline stays what was opened. */
#include <criterion/criterion.h>
#include <string.h>

#include "docstore.h"

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
