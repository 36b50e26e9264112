/* The tree-sitter C grammar hotc parses with, and the check that the grammar
 * compiled into this binary can be loaded by the libtree-sitter it runs with. */
#ifndef HOTC_GRAMMAR_H
#define HOTC_GRAMMAR_H

/* How deep the walks over a tree go (the analysis's, the patch builder's,
 * the readings'): a tree-sitter tree is as deep as the code nests, and a
 * file of 100,000 `!` or `{` nests that deep. Below this depth a walk
 * stops (the analysis hashes what is below as text), so that every walk
 * fits a thread's stack, under ASan too. Real code nests far less (an
 * `else if` chain of 900 cases is 1,800 levels). */
#define GRAMMAR_MAX_DEPTH 2000

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tree_sitter/api.h>

/* The C language, compiled from tree-sitter-c's parser.c. Borrowed, static. */
const TSLanguage *grammar_language(void);

/* Checks the grammar's ABI against the range libtree-sitter accepts.
 * Returns 0 when it can be loaded; otherwise -1 with a message a user can act
 * on written to `err` (at most `size` bytes, NUL-terminated). */
int grammar_check(char *err, size_t size);

/* The real name of the function declared by `fdecl` (a
 * function_declarator) when tree-sitter misread it: after two unknown
 * names before it (`LUA_API lua_Unsigned lua_rawlen (...)`) it takes the
 * second as the declarator and puts the name in an ERROR node just before
 * the parameter list. Returns that identifier, or a null node when the
 * declarator is read right. */
TSNode grammar_misread_name(TSNode fdecl);

/* The byte just past a function definition `def` as the compiler reads it.
 * When tree-sitter's reading of the body has errors (a conditional
 * directive inside an initializer list cuts the body short, the rest of it
 * read as stray top-level nodes), the body's braces are matched in `text`
 * (comments, strings, character constants and directive lines skipped;
 * of a conditional group, only the first branch counts, as in
 * grammar_mask_directives); otherwise, or when they do not balance, the
 * node's own end. */
uint32_t grammar_function_end(TSNode def, const char *text, size_t len);

/* A copy of `text` (`len` bytes, NUL-terminated) that tree-sitter can read
 * with the structure the compiler sees, every byte offset and newline kept;
 * NULL when nothing needed blanking (or out of memory). Malloc'd. Blanked:
 * - each directive line inside brackets ((, [ or {: an `#if` or `#include`
 *   inside an initializer list or a call's arguments), which tree-sitter
 *   cannot read in an expression;
 * - of a conditional group opened inside brackets, or one whose branches
 *   open or close brackets (`#if A` `if (a) {` `#else` `if (b) {` `#endif`,
 *   or a function's head in two branches), every branch but the first,
 *   and the group's directive lines: both branches read together leave the
 *   braces unbalanced and the rest of the file misread. The first branch
 *   stands for the others: the compiler's choice is not known here, and
 *   the patch keeps every branch (only the reading is changed).
 *   `last_branch`: of a group at file scope whose first branch leaves
 *   brackets open (`#ifdef WIN32` `int wmain(...) {` `#else`
 *   `int main(...) {` `#endif`), the last branch is read instead, for a
 *   function the first reading does not define. */
char *grammar_mask_directives(const char *text, size_t len, bool last_branch);

/* A reading of `text` for when tree-sitter's `tree` of it misread the top
 * level: the parse of a copy without the comments on directive lines and
 * the C++-only branches (grammar_mask_directive_comments,
 * grammar_mask_cplusplus), and when it gave up on bytes (ERROR nodes
 * there, where whole functions vanish) also without the branches of a body
 * that disagree with the others (grammar_mask_body_branches), then of
 * grammar_mask_directives' copy of that (directives inside an initializer
 * or a call's arguments, conditionals whose branches each open a brace):
 * the one that reads the top level with the fewest errors. NULL when `tree`
 * reads it well or no copy does better.
 * Offsets are the text's; the caller deletes the tree. */
TSTree *grammar_reading(const char *text, size_t len, const TSTree *tree, bool last_branch);

/* What grammar_reading_cached keeps of one version of a document for the
 * next: each masked copy it parsed and the copy's tree, so that the next
 * version's parse is incremental (the cost follows the edit: a keystroke
 * in a 30,000-line file whose top level tree-sitter misreads parsed its
 * readings from scratch, two thirds of the keystroke). Opaque; one thread
 * at a time. */
struct grammar_reading_cache;

struct grammar_reading_cache *grammar_reading_cache_new(void);
void grammar_reading_cache_free(struct grammar_reading_cache *self);

/* grammar_reading, parsing incrementally from what `cache` (may be NULL)
 * holds of the previous version, and keeping this version's there. */
TSTree *grammar_reading_cached(const char *text, size_t len, const TSTree *tree, bool last_branch,
                               struct grammar_reading_cache *cache);

/* Whether `n` is a conditional group or one of its branches (`#if`,
 * `#ifdef`, `#else`, `#elif`, `#elifdef`), whose children are items of the
 * level it sits at (the file's top level, for one there). */
bool grammar_is_container(TSNode n);

/* Directive lines, by what they do to the structure around them. */
enum grammar_directive { DIR_OTHER, DIR_IF, DIR_ELSE, DIR_ENDIF, DIR_MACRO };

/* The next directive line in [*pos, end) of `text` that the file's
 * structure depends on beyond the range: a conditional (DIR_IF: #if,
 * #ifdef, #ifndef; DIR_ELSE: #elif.., #else; DIR_ENDIF) or a macro's
 * (DIR_MACRO: #define, #undef). Comments, strings and character constants
 * are skipped. Returns its kind with [*a, *b) the line (continuations
 * included, the newline not) and *pos past it; DIR_OTHER when none. */
enum grammar_directive grammar_next_structural(const char *text, size_t len, size_t end, size_t *pos, size_t *a,
                                               size_t *b);

/* Blanks, in place, each block comment that lies on a directive line
 * (a comment between the statements of a `do { ... } while (0)` macro
 * body), newlines and every byte offset kept; returns whether it blanked
 * any. The compiler reads such a comment as a space; tree-sitter ends the
 * macro's value at it and reads the rest of the definition, and the
 * function after it, as errors. A comment spanning lines is left as is. */
bool grammar_mask_directive_comments(char *text, size_t len);

/* Blanks, in place, what a C compiler never reads: the branches only a C++
 * compiler takes (`#ifdef __cplusplus` up to its #else, #elif or #endif:
 * an `extern "C" {` there, closed in another such branch, leaves
 * tree-sitter with a brace it cannot match and the whole file unread).
 * Directive lines outside those branches, newlines and every byte offset
 * are kept; returns whether it blanked anything. */
bool grammar_mask_cplusplus(char *text, size_t len);

/* Blanks, in place, inside braces (a function's body), the branches a
 * compiler would not read under one consistent assumption about each macro
 * tested as `#ifdef X`, `#ifndef X`, `#if defined X` or `#if !defined X`:
 * the first such test takes its first branch, and every later test of the
 * same macro the branch that agrees (`#ifndef X` `if (a) {` `#endif` ...
 * `#ifndef X` `}` `#endif` with its #ifdef counterpart: the braces of one
 * configuration balance, those of all branches together do not). The
 * directive lines of those groups are blanked too; other conditions are
 * left as they are. Newlines and every byte offset are kept; returns
 * whether it blanked anything. The patch keeps every branch: only the
 * reading changes, and the names of a kept function's whole text count as
 * used. */
bool grammar_mask_body_branches(char *text, size_t len);

#endif
