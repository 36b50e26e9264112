/* statics: binding a loaded patch library's references to the running
 * program's own variables (and static functions) by writing their addresses
 * into the patch's GOT slots, so that the new code uses the old state. */
#ifndef HOTC_STATICS_H
#define HOTC_STATICS_H

#include <stddef.h>
#include <stdint.h>

struct statics_binding {
    const char *symbol; /* name in the patch, e.g. "__hotc_s_0" */
    uintptr_t addr;     /* the host's address */
};

/* Writes each binding's address into every GOT slot (GLOB_DAT, JUMP_SLOT)
 * and absolute data word (ABS64) of the library `handle` that refers to its
 * symbol, making RELRO pages writable just for that. Every relocation
 * against a symbol starting with `prefix` must have a binding, otherwise
 * nothing is written, -1 is returned and `err` names the symbol. */
int statics_bind(void *handle, const struct statics_binding *bindings, size_t n,
                 const char *prefix, char *err, size_t errsz);

/* The references of a patch file that only a hidden (or internal)
 * definition of the program satisfies: the dynamic linker cannot bind them
 * (the program's dynamic symbol table does not have them), so the patch is
 * loaded from a copy where they are weak, and statics_bind writes their
 * addresses. */
struct statics_hidden {
    char path[4096];                  /* the copy to load (a file beside the library), "" when none is needed */
    int fd;                           /* unused (-1): the copy is a file of its own, for dlopen and debuggers */
    struct statics_binding *bindings; /* symbol (owned) -> the program's address */
    size_t n;
};

struct elfself;

/* Reads the patch file `library` and, for each undefined global symbol of
 * its dynamic symbol table that nothing loaded defines (dlsym) and that
 * `self` has as a hidden global, records a binding and makes it weak in an
 * anonymous copy (`out->path`, open as `out->fd` until the caller loaded
 * it: the mapping keeps it alive). Returns 0 (`out->n` may be 0: load `library` itself), or -1
 * with the reason in `err`. */
int statics_hidden_prepare(const char *library, const struct elfself *self, struct statics_hidden *out,
                           char *err, size_t errsz);

/* Frees the bindings and closes the copy's descriptor. */
void statics_hidden_release(struct statics_hidden *h);

#endif
