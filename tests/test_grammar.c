/* The grammar compiled into hotc loads into this libtree-sitter and parses C,
 * including the shape hotc's analysis relies on for unknown macros. */
#include <criterion/criterion.h>
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
