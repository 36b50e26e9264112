/* elfself: what the runtime knows about its own executable, read once from
 * /proc/self/exe: the symbol table (locals grouped by STT_FILE), the GNU
 * build-id, the load bias, and the HOT functions (from the relocated, in
 * memory copy of the __patchable_function_entries section). */
#ifndef HOTC_ELFSELF_H
#define HOTC_ELFSELF_H

#include <stddef.h>
#include <stdint.h>

struct elfself_sym {
    const char *name;   /* borrowed from the mapped file */
    uintptr_t addr;     /* run-time address */
    size_t size;
    unsigned char type; /* STT_FUNC, STT_OBJECT, ... */
    unsigned char bind; /* STB_LOCAL, STB_GLOBAL, STB_WEAK */
    int file;           /* index into files[] for locals, -1 otherwise */
    int hidden;         /* a global the link made local (hidden or internal
                         * visibility): listed as STB_GLOBAL here, but not in
                         * the dynamic symbol table */
};

/* A HOT function: its padding (where __patchable_function_entries points)
 * and the symbol that names it (NULL when the symbol table has none). */
struct elfself_hot {
    uintptr_t pad;
    const struct elfself_sym *sym;
};

struct elfself {
    char path[4096];
    uintptr_t base;      /* load bias (0 for a non-PIE executable) */
    char build_id[130];  /* hex, "" when the executable has none */
    void *map;           /* the whole file, read-only */
    size_t map_size;
    struct elfself_sym *syms;
    size_t nsyms;
    const char **files;  /* basenames of the STT_FILE symbols */
    size_t nfiles;
    struct elfself_hot *hot;
    size_t nhot;
};

/* Reads /proc/self/exe (or `path` when not NULL, for tests) into `self`,
 * which owns the mapping and the tables until elfself_release. Returns 0,
 * or -1 with a reason in `err` (the struct is then released). */
int elfself_load(struct elfself *self, const char *path, char *err, size_t errsz);

/* Unmaps the file and frees the tables; every pointer into them (names,
 * symbols) dies with them. `self` is zeroed and may be loaded again. */
void elfself_release(struct elfself *self);

/* The defined global or weak symbol `name` of type `type` (0 = any),
 * borrowed, or NULL. */
const struct elfself_sym *elfself_global(const struct elfself *self, const char *name, int type);

/* Local symbols of `type` in the STT_FILE whose basename is `file`, matching
 * `name` exactly, or, when `function` is not NULL, a function-local static
 * of it: gcc's `name.N` or clang's `function.name`. Stores up to `max`
 * matches in `out` and returns how many there were in all. */
size_t elfself_locals(const struct elfself *self, const char *file, const char *function,
                      const char *name, int type, const struct elfself_sym **out, size_t max);

/* The HOT function whose entry is `entry` (borrowed), or NULL. */
const struct elfself_hot *elfself_hot_at(const struct elfself *self, uintptr_t entry);

/* Checks, before dlopen, that the shared library at `path` is whole: an
 * ELF file of this process's class and machine whose program headers,
 * section headers, segments and sections all lie inside the file. dlopen
 * maps segments past the end of a truncated file and the process dies of
 * SIGBUS when it touches them; this refuses such a file instead. Reads
 * only the headers. Returns 0, or -1 with a reason in `err`. */
int elfself_check_file(const char *path, char *err, size_t errsz);

/* Basename of a path (borrowed, points into `path`). */
const char *elfself_basename(const char *path);

#endif
