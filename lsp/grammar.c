/* The one place that names the grammar symbol, so that a change of grammar
 * (or a second language) touches nothing else. */
#include "grammar.h"

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
