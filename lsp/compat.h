/* The compatibility judge: whether a compiled patch can run against the
 * data of the running program. Both sides come from the compiler: the
 * patch library's own DWARF (it is compiled with -g) says how the new code
 * sees every variable it touches, every function it redirects or calls, and
 * every type it uses; the running executable's DWARF (lsp/dwarf.c) says how
 * the program was built. They must agree on sizes, offsets, bit-fields,
 * enum values and signatures, recursively through fields, arrays,
 * typedefs, anonymous members and pointers.
 *
 * Blocking (it reads the patch file): call it from a libuv worker. */
#ifndef HOTC_COMPAT_H
#define HOTC_COMPAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "debuginfo.h"

/* A function the patch redirects. */
struct compat_function {
    const char *name;
    const char *symbol;      /* its name in the patch (`__hotc_f_<name>`) */
    bool is_static;
};

/* A static of the program the patch binds: `symbol` in the patch stands
 * for `name` (inside `function` when not NULL). As lsp/patch.h's
 * patch_static. */
struct compat_static {
    const char *symbol, *name, *function;
};

/* What to check. Borrowed for the duration of compat_check. */
struct compat_request {
    const char *source;                      /* absolute path of the saved file */
    const struct compat_function *functions; /* the functions the patch redirects */
    size_t function_count;
    const struct compat_static *statics;
    size_t static_count;
    /* The C types the program keeps in typed state blocks (HOT_STATE), as
     * the runtime spells them ("struct game", "game_t"). A layout change of
     * one of them is planned for migration (lsp/migrate.h) instead of
     * refused where the new code reaches it only as a named type or behind
     * a pointer of a redirected function's signature; through a variable,
     * or a function that is not redirected, it stays a refusal. */
    const char *const *state_types;
    size_t state_type_count;
};

/* One disagreement. `function` is the redirected function it concerns, or
 * NULL when it concerns the patch as a whole. A variable or a called
 * function that disagrees is charged to every redirected function whose
 * code reaches it, directly or through the patch's static helpers (from
 * the relocations the patch library keeps: it is linked with
 * --emit-relocs); when that is unknown, or for a type no variable or
 * signature leads to, to the whole patch. `message` reads "`struct cfg` changed: field `pad` added at
 * offset 0, size 136 → 152". `file` and `line` (1-based; 0: unknown) say
 * where the changed thing is declared in the new source. */
struct compat_issue {
    char *function;
    char *message;
    char *file;
    int line;
};

/* The verdict. Caller-owned; compat_report_release frees it. */
struct compat_report {
    struct compat_issue *issues;
    size_t count;
    size_t compared;   /* variables, functions and types compared */
    json_t *migrations; /* hot/reload migrations[]: a plan per state type the patch uses, changed or
                         * not (lsp/migrate.h); NULL when it uses none */
    json_t *new_statics; /* symbol (__hotc_s_N) -> byte size: the function-local statics of the patch
                          * the program does not have (added since it was built); NULL when none */
};

/* Compares the patch library at `patch` with `exe` (which must stay open;
 * taken under its lock). Fills `out` (zeroed first) with every
 * disagreement found. Returns 0 when the comparison ran (whatever its
 * verdict), or a negative DEBUGINFO_E* when the patch's own DWARF cannot be
 * read (with a reason in `err`): then nothing is established and the
 * caller must not apply the patch. */
int compat_check(struct debuginfo *exe, const char *patch, const struct compat_request *req,
                 struct compat_report *out, char *err, size_t errsize);

void compat_report_release(struct compat_report *self);

#endif
