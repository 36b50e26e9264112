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

#endif
