/* The tree-sitter C grammar hotc parses with, and the check that the grammar
 * compiled into this binary can be loaded by the libtree-sitter it runs with. */
#ifndef HOTC_GRAMMAR_H
#define HOTC_GRAMMAR_H

#include <stddef.h>
#include <tree_sitter/api.h>

/* The C language, compiled from tree-sitter-c's parser.c. Borrowed, static. */
const TSLanguage *grammar_language(void);

/* Checks the grammar's ABI against the range libtree-sitter accepts.
 * Returns 0 when it can be loaded; otherwise -1 with a message a user can act
 * on written to `err` (at most `size` bytes, NUL-terminated). */
int grammar_check(char *err, size_t size);

#endif
