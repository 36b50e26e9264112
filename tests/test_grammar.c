/* The grammar compiled into hotc loads into this libtree-sitter and parses C,
 * including the shape hotc's analysis relies on for unknown macros. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"

Test(grammar, abi_is_accepted)
{
    char err[256] = "";

    cr_assert_eq(grammar_check(err, sizeof err), 0, "%s", err);
}

Test(grammar, parses_a_function)
{
    const char *src = "int add(int a, int b) { return a + b; }\n";
    TSParser *parser = ts_parser_new();

    cr_assert(ts_parser_set_language(parser, grammar_language()));
    TSTree *tree = ts_parser_parse_string(parser, NULL, src, (uint32_t)strlen(src));
    TSNode root = ts_tree_root_node(tree);
    cr_assert_not(ts_node_has_error(root));
    cr_assert_str_eq(ts_node_type(ts_node_named_child(root, 0)), "function_definition");
    ts_tree_delete(tree);
    ts_parser_delete(parser);
}

/* The reading of a document is parsed incrementally from its previous
 * version's: after every edit it must be the tree a fresh reading of the
 * same text makes, whatever the edit (inside a masked branch, across a
 * directive, at either end, growing or shrinking the text). */
/* Every node: its type, bytes and rows/columns. */
static void dump(FILE *out, TSNode n)
{
    TSPoint a = ts_node_start_point(n), b = ts_node_end_point(n);

    fprintf(out, "(%s %u-%u %u:%u-%u:%u", ts_node_type(n), ts_node_start_byte(n), ts_node_end_byte(n), a.row,
            a.column, b.row, b.column);
    for (uint32_t i = 0; i < ts_node_child_count(n); i++)
        dump(out, ts_node_child(n, i));
    fputc(')', out);
}

static char *reading_string(const char *text, struct grammar_reading_cache *cache, TSParser *parser)
{
    TSTree *tree = ts_parser_parse_string(parser, NULL, text, (uint32_t)strlen(text));
    TSTree *reading = grammar_reading_cached(text, strlen(text), tree, false, cache);
    char *s = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&s, &size);

    cr_assert(reading, "no reading for:\n%s", text);
    dump(out, ts_tree_root_node(reading));
    fclose(out);
    ts_tree_delete(reading);
    ts_tree_delete(tree);
    return s;
}

Test(grammar, a_reading_parsed_incrementally_is_the_fresh_one)
{
    /* each branch opens the function's brace: tree-sitter alone loses the
     * top level; the directives inside the initializer need a reading too */
    static const char *const versions[] = {
        "int table[] = {\n#include \"rows.h\"\n};\n"
        "#ifdef WIDE\nint run(long a) {\n#else\nint run(int a) {\n#endif\n    return a + 1;\n}\n"
        "int after(void) { return 2; }\n",
        /* an edit in the kept branch */
        "int table[] = {\n#include \"rows.h\"\n};\n"
        "#ifdef WIDE\nint run(long a) {\n#else\nint run(int a) {\n#endif\n    return a + 100;\n}\n"
        "int after(void) { return 2; }\n",
        /* in the branch the reading blanks */
        "int table[] = {\n#include \"rows.h\"\n};\n"
        "#ifdef WIDE\nint run(long long a) {\n#else\nint run(int a) {\n#endif\n    return a + 100;\n}\n"
        "int after(void) { return 2; }\n",
        /* a function added at the end, one removed at the start */
        "#ifdef WIDE\nint run(long long a) {\n#else\nint run(int a) {\n#endif\n    return a + 100;\n}\n"
        "int after(void) { return 2; }\nint more(int b) { return b * 3; }\n",
        /* a directive taken away, then back */
        "#ifdef WIDE\nint run(long long a) {\n#else\nint run(int a) {\n    return a + 100;\n}\n"
        "int after(void) { return 2; }\nint more(int b) { return b * 3; }\n",
        "#ifdef WIDE\nint run(long long a) {\n#else\nint run(int a) {\n#endif\n    return a + 100;\n}\n"
        "int after(void) { return 2; }\nint more(int b) { return b * 3; }\n",
        /* the same text again */
        "#ifdef WIDE\nint run(long long a) {\n#else\nint run(int a) {\n#endif\n    return a + 100;\n}\n"
        "int after(void) { return 2; }\nint more(int b) { return b * 3; }\n",
    };
    TSParser *parser = ts_parser_new();
    struct grammar_reading_cache *cache = grammar_reading_cache_new();

    cr_assert(ts_parser_set_language(parser, grammar_language()));
    for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
        char *incremental = reading_string(versions[i], cache, parser);
        char *fresh = reading_string(versions[i], NULL, parser);
        cr_assert_str_eq(incremental, fresh, "version %zu", i);
        free(incremental);
        free(fresh);
    }
    grammar_reading_cache_free(cache);
    ts_parser_delete(parser);
}
