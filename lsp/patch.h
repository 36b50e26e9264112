/* The minimal patch source: from a saved C file and the names of the
 * functions to reload, the translation unit that is compiled into the patch
 * library (docs/protocol.md, "Patch library conventions").
 *
 * Pure: text in, text out, no I/O. The caller writes the source to a file,
 * compiles it (lsp/build.c) and sends the tables below in hot/reload
 * (lsp/link.c). */
#ifndef HOTC_PATCH_H
#define HOTC_PATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <tree_sitter/api.h>

#define PATCH_ERRNO_MAP(X)                                                     \
    X(NOMEM, -1, "out of memory")                                              \
    X(NOTFOUND, -2, "function to reload has no definition in the file")        \
    X(PARSE, -3, "cannot parse the file")                                      \
    X(INVAL, -4, "invalid request")

enum patch_error {
#define PATCH__ENUM(name, value, text) PATCH_E##name = (value),
    PATCH_ERRNO_MAP(PATCH__ENUM)
#undef PATCH__ENUM
};

/* Text of a negative error returned by patch_build. Static. */
const char *patch_strerror(int err);

/* What a patch needs of a file whatever the functions to reload: its
 * file-scope names and how every top-level declaration and definition is
 * rewritten when the patch uses none of the names it declares. Built once
 * per version of a file (off the save path: lsp/docstore.c keeps one next
 * to each document's tree), it lets patch_build visit only the reloaded
 * functions and what they use. Immutable once built. */
struct patch_index;

/* Indexes `text` (`length` bytes), whose up-to-date tree is `tree` (NULL:
 * parsed here). The index keeps a copy of the tree (ts_tree_copy), not the
 * text. Returns a new index, or NULL when out of memory or when the text
 * cannot be parsed. */
struct patch_index *patch_index_new(const char *text, size_t length, const TSTree *tree);

/* patch_index_new for a caller that has read `tree` already: `reading` is
 * grammar_reading(text, length, tree, false), NULL where the file needs
 * none (the docstore reads once per version for the analysis and the
 * index). `tree` must not be NULL. */
struct patch_index *patch_index_new_read(const char *text, size_t length, const TSTree *tree,
                                         const TSTree *reading);

/* Whether `ix` was built from `tree`, the tree of a text of `length`
 * bytes (then patch_build_indexed uses it; otherwise it indexes again). An
 * index read from a masked copy (grammar_reading) fits the tree it was
 * read from. */
bool patch_index_fits(const struct patch_index *ix, const TSTree *tree, size_t length);

/* Frees `self` (NULL is fine). */
void patch_index_free(struct patch_index *self);

/* What to build. Everything is borrowed for the duration of the call. */
struct patch_input {
    const char *text;              /* the saved file, not NUL-terminated */
    size_t length;
    const char *path;              /* the file's path, for #line; its basename names the host's STT_FILE */
    const char *const *functions;  /* names of the functions to reload */
    size_t function_count;
    const char *build_id;          /* hex build-id of the target executable ("" if none) */
    const TSTree *tree;            /* optional: an up-to-date tree of `text` (saves a parse) */
};

/* A function the runtime redirects: host `name` (a local of `file` when
 * `is_static`) to the patch's exported `symbol` (`__hotc_f_<name>`). */
struct patch_function {
    char *name;
    char *symbol;
    bool is_static;
};

/* A weak reference in the patch that the runtime binds to the host's
 * variable: `symbol` (`__hotc_s_<N>`) → `name` in the host's STT_FILE `file`,
 * inside `function` for a function-local static (NULL at file scope). */
struct patch_static {
    char *symbol;
    char *name;
    char *function;
    bool zero_init;           /* function-local, with no initializer or one of zeros: a program that
                               * does not have it (added since the build) can be given zeroed storage */
};

/* The generated patch. Caller-owned: patch_init, patch_build, patch_release. */
struct patch {
    char *source;                  /* NUL-terminated C source */
    size_t length;
    char *file;                    /* basename of input.path */
    struct patch_function *functions;
    size_t function_count;
    struct patch_static *statics;  /* only the statics the patch's code uses */
    size_t static_count;
    char error[256];               /* a user-readable reason when patch_build fails */
};

void patch_init(struct patch *self);

/* Generates the patch source for `in` into `self` (which must be initialized
 * and empty). Returns 0, or a negative PATCH_E* with `self->error` saying what
 * went wrong (e.g. which function has no definition); on failure `self` holds
 * nothing that needs more than patch_release. A file with syntax errors still
 * produces a patch: the compiler will report them at the user's lines. */
int patch_build(struct patch *self, const struct patch_input *in);

/* patch_build with `index` (may be NULL), an index of `in->text`: used when
 * `in->tree` is given and is the tree the index was built from (a copy of
 * it counts), otherwise ignored; the patch is the same either way, only
 * built faster: the file's top level is not visited again. */
int patch_build_indexed(struct patch *self, const struct patch_input *in, const struct patch_index *index);

/* Frees everything `self` owns and leaves it initialized and empty. */
void patch_release(struct patch *self);

#endif
