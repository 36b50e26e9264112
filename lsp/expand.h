/* What the compiler sees of each function of a file: its preprocessed
 * text (`cc -E` with the file's own flags, lsp/build.c) cut along the
 * functions tree-sitter found in the source, hashed token by token, plus
 * the file's functions each one names and every file the compiler read.
 *
 * Why this, and not tree-sitter alone: a save changed a function when the
 * compiler would build it differently, and only the preprocessor knows
 * that: a `#define` it uses, the `#if` branch that is live under the
 * file's flags, a header at any depth. The preprocessed output keeps line
 * markers (`# 12 "prog.c"`), so every line of it is attributed to a line
 * of the source file, and a function's expansion is the preprocessed
 * lines of its definition's lines: no second C parser, no guess. The
 * markers also name every included file, which is the include graph the
 * compiler itself reports. tree-sitter stays for instant feedback while
 * typing (lenses, signature hints).
 *
 * Pure: text in, values out; no I/O. */
#ifndef HOTC_EXPAND_H
#define HOTC_EXPAND_H

#include <stddef.h>
#include <stdint.h>

#include "analysis.h"

struct expand_function {
    char *name;
    uint64_t hash;            /* of its expanded tokens (every definition under #if counts) */
    uint64_t closure;         /* hash, and the hashes of the static functions it reaches */
    int is_static;            /* static and not HOT: it reaches the program only through its callers */
    char **refs;              /* the other functions of the file its expansion names */
    size_t n_refs;
};

struct expand {
    struct expand_function *functions;  /* one per function name of the analysis */
    size_t n_functions;
    char **includes;          /* every other file the markers name, as printed, without <built-in> ones */
    size_t n_includes;
};

/* Reads the preprocessor's output `pp` (`len` bytes, with line markers)
 * of the file `main_file` (as the markers name it) whose source analysis is
 * `source` (its functions' line ranges) and whose text is `text`. Lines are
 * placed by include depth, not by the name a marker gives: the lines at
 * depth 0 (not `<built-in>`) are the file's own, also after a `#line`
 * directive of the text renames or renumbers them (an amalgamated source:
 * the text's directives give the rows back). `skip_file` (may be NULL) is a
 * name the markers may give that is neither the file nor an include (the
 * copy that was preprocessed, before its `#line 1 "main_file"`).
 * `closure` of each function mixes its own hash with those of every
 * `static` function of the file that is not HOT (a HOT one is redirected
 * itself, or refused) it reaches through its refs: what a patch compiles
 * in with it. Returns 0 and fills `out` (which must be zeroed),
 * or -1 when out of memory (`out` then needs only expand_release) or when
 * the markers never name `main_file`. */
int expand_read(struct expand *out, const char *pp, size_t len, const struct analysis *source,
                const char *text, size_t text_len, const char *main_file, const char *skip_file);

void expand_release(struct expand *self);

/* The entry of function `name`, or NULL. Borrowed. */
const struct expand_function *expand_find(const struct expand *self, const char *name);

#endif
