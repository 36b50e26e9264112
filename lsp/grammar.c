/* The one place that names the grammar symbol, so that a change of grammar
 * (or a second language) touches nothing else. */
#include "grammar.h"

#include <string.h>

#include <stdio.h>

const TSLanguage *tree_sitter_c(void);

const TSLanguage *grammar_language(void)
{
    return tree_sitter_c();
}

int grammar_check(char *err, size_t size)
{
    uint32_t abi = ts_language_version(grammar_language());

    if (abi >= TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION && abi <= TREE_SITTER_LANGUAGE_VERSION)
        return 0;
    snprintf(err, size,
             "cannot load the C grammar: it has ABI %u but this libtree-sitter accepts ABI %u to %u; "
             "rebuild hotc with the tree-sitter-c version pinned in lsp/grammar/package-lock.json (0.23.x)",
             (unsigned)abi, (unsigned)TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION,
             (unsigned)TREE_SITTER_LANGUAGE_VERSION);
    return -1;
}

TSNode grammar_misread_name(TSNode fdecl)
{
    TSNode none = { 0 };
    uint32_t n = ts_node_child_count(fdecl);

    for (uint32_t i = 0; i + 1 < n; i++) {
        TSNode k = ts_node_child(fdecl, i), next = ts_node_child(fdecl, i + 1);
        uint32_t m = ts_node_named_child_count(k);
        if (strcmp(ts_node_type(k), "ERROR") != 0 || strcmp(ts_node_type(next), "parameter_list") != 0 || m == 0)
            continue;
        TSNode last = ts_node_named_child(k, m - 1);
        if (strcmp(ts_node_type(last), "identifier") == 0 && ts_node_end_byte(last) == ts_node_end_byte(k))
            return last;
    }
    return none;
}
