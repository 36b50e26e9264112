/* The DWARF of an ELF file, read with elfutils' libdw: the running
 * executable (once per build-id, cached by the pipeline) and each compiled
 * patch library. It answers where things are, not whether they agree
 * (lsp/compat.c judges that): compile units by source path, the variables,
 * functions and named types each defines or declares, and function-local
 * statics.
 *
 * Everything here blocks on the file: call it from a libuv worker, never
 * from the loop. libdw handles are not safe for concurrent use, so a file
 * carries a lock; whoever walks its DIEs holds it (debuginfo_lock). */
#ifndef HOTC_DEBUGINFO_H
#define HOTC_DEBUGINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <elfutils/libdw.h>

#define DEBUGINFO_ERRNO_MAP(X)                                                     \
    X(NOMEM, -1, "out of memory")                                              \
    X(IO, -2, "cannot open the file")                                          \
    X(ELF, -3, "not an ELF file libdw can read")                               \
    X(NOINFO, -4, "the file has no debug information (build it with -g)")      \
    X(BADINFO, -5, "the file's debug information cannot be read")

enum debuginfo_error {
#define DEBUGINFO__ENUM(name, value, text) DEBUGINFO_E##name = (value),
    DEBUGINFO_ERRNO_MAP(DEBUGINFO__ENUM)
#undef DEBUGINFO__ENUM
};

/* Text of a negative DEBUGINFO_E* code. Static. */
const char *debuginfo_strerror(int err);

/* What an index entry names. */
enum debuginfo_kind {
    DEBUGINFO_VARIABLE,  /* a file-scope variable (definition or declaration) */
    DEBUGINFO_FUNCTION,  /* a file-scope function (definition or declaration) */
    DEBUGINFO_LOCAL,     /* a function-local static (or block-scope extern) */
    DEBUGINFO_TYPE       /* a named struct, union, enum or typedef at file scope */
};

/* One indexed DIE. `name` is the C name ("struct " / "union " / "enum "
 * prefixed for tagged types); `function` names the enclosing function of a
 * DEBUGINFO_LOCAL; `cu` indexes the file's compile units. */
struct debuginfo_entry {
    const char *name;
    const char *function;
    enum debuginfo_kind kind;
    unsigned cu;
    unsigned ordinal;        /* DEBUGINFO_LOCAL: how many same-named statics of the function come before it */
    bool external, declaration;
    Dwarf_Off offset;        /* of the DIE, for dwarf_offdie */
};

/* An opened file and its index. Opaque. */
struct debuginfo;

/* Opens `path` and indexes its DWARF. Returns 0 and a new file in *out, or
 * a negative DEBUGINFO_E* with a user-readable reason in `err` (`errsize`
 * bytes; may be NULL). Blocking: reads every compile unit once. */
int debuginfo_open(const char *path, struct debuginfo **out, char *err, size_t errsize);

/* Closes `self` (NULL is fine). */
void debuginfo_free(struct debuginfo *self);

/* The lock that serialises every use of `self`'s libdw handle. */
void debuginfo_lock(struct debuginfo *self);
void debuginfo_unlock(struct debuginfo *self);

/* The file's GNU build-id in lowercase hex into `hex` (`size` bytes).
 * Returns false when it has none (or `hex` is too small). */
bool debuginfo_build_id(struct debuginfo *self, char *hex, size_t size);

/* The libdw handle (borrowed; only under the lock). */
Dwarf *debuginfo_dwarf(struct debuginfo *self);

/* Number of compile units, of indexed entries, and the size of the file in
 * bytes (for the log and the bench). */
size_t debuginfo_cu_count(const struct debuginfo *self);
size_t debuginfo_entry_count(const struct debuginfo *self);

/* The compile unit whose source file is `path` (absolute, or matched by
 * base name when exactly one unit has that base name). Returns its index,
 * or -1. */
int debuginfo_cu_of(const struct debuginfo *self, const char *path);

/* The source path of compile unit `cu` (absolute when the unit said where
 * it was compiled). Borrowed. */
const char *debuginfo_cu_path(const struct debuginfo *self, unsigned cu);

/* Entries named `name` of `kind`, in file order: the first is returned and
 * *count says how many follow it contiguously (all with that name and
 * kind). NULL when none. Borrowed from `self`. */
const struct debuginfo_entry *debuginfo_find(const struct debuginfo *self, enum debuginfo_kind kind, const char *name,
                                          size_t *count);

/* The definition that a reference to `name` of `kind` (a variable or a
 * function) resolves to from compile unit `cu` (-1: from anywhere): a
 * definition in `cu` itself first (a static, or the unit's own global),
 * else an external definition in any unit. NULL when the file has none
 * (it comes from a shared library, or is not there). */
const struct debuginfo_entry *debuginfo_resolve(const struct debuginfo *self, enum debuginfo_kind kind, const char *name,
                                             int cu);

/* The function-local static `name` of `function` in unit `cu`, the
 * `ordinal`th of that name in the function. NULL when there is none. */
const struct debuginfo_entry *debuginfo_local(const struct debuginfo *self, int cu, const char *function,
                                           const char *name, unsigned ordinal);

/* The named type `name` ("struct x", "anon_t") as unit `cu` defines it
 * (complete definitions only). NULL when the unit has none. */
const struct debuginfo_entry *debuginfo_type(const struct debuginfo *self, int cu, const char *name);

/* The DIE of `entry` into *die. Returns false when libdw cannot find it.
 * Only under the lock. */
bool debuginfo_die(struct debuginfo *self, const struct debuginfo_entry *entry, Dwarf_Die *die);

/* The type a DIE names through DW_AT_type into *type (false: none, i.e.
 * void). */
bool debuginfo_type_of(Dwarf_Die *die, Dwarf_Die *type);

/* `die` stripped of typedefs and qualifiers into *out; false for void. */
bool debuginfo_peel(Dwarf_Die *die, Dwarf_Die *out);

/* One reference from the code of a function of the file to a symbol:
 * `from` is the function whose code refers (a symbol of the file's
 * .symtab), `to` the symbol referred to (a variable, or a function when the
 * reference is a call). Both borrowed from the file. */
typedef void (*debuginfo_ref_cb)(const char *from, const char *to, void *user);

/* Calls `cb` for every relocation the linker kept in the file's code
 * sections (a library linked with --emit-relocs), resolving references
 * to local code (section symbol + offset) to the function they land in.
 * Returns the number of references seen, or -1 when the file kept none
 * (then nothing is known of who refers to what). Takes no lock (ELF only). */
long debuginfo_references(struct debuginfo *self, debuginfo_ref_cb cb, void *user);

#endif
