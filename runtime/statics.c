/* statics: GOT binding of a patch library. See statics.h. */
#include "statics.h"

#include "arch.h"
#include "elfself.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct dyninfo {
    const Elf64_Sym *symtab;
    const char *strtab;
    const Elf64_Rela *rela[2];
    size_t nrela[2];
    uintptr_t relro, relro_size;
};

struct find_relro {
    uintptr_t base;
    uintptr_t relro, relro_size;
};

/* dl_iterate_phdr callback: fills `data` (struct find_relro) with the
 * PT_GNU_RELRO range of the object loaded at f->base; stops there. */
static int relro_of(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct find_relro *f = data;
    if ((uintptr_t)info->dlpi_addr != f->base)
        return 0;
    for (size_t i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO) {
            f->relro = f->base + info->dlpi_phdr[i].p_vaddr;
            f->relro_size = info->dlpi_phdr[i].p_memsz;
        }
    }
    return 1;
}

/* glibc relocates the d_ptr entries of a loaded object's dynamic section on
 * these architectures; an unrelocated one is below the load bias. */
static uintptr_t dyn_ptr(const struct link_map *lm, uintptr_t p)
{
    return p < (uintptr_t)lm->l_addr ? (uintptr_t)lm->l_addr + p : p;
}

/* Finds the symbol table, string table, relocation tables and RELRO range
 * of the loaded library `handle`, pointing `d` into the library's own
 * memory (borrowed for as long as it stays loaded). Returns 0, or -1 when
 * the link map or the tables are missing (then `*lmp` is untouched). */
static int read_dynamic(void *handle, struct link_map **lmp, struct dyninfo *d)
{
    struct link_map *lm = NULL;
    if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm)
        return -1;
    memset(d, 0, sizeof *d);
    for (const ElfW(Dyn) *dyn = lm->l_ld; dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_SYMTAB: d->symtab = (const Elf64_Sym *)dyn_ptr(lm, dyn->d_un.d_ptr); break;
        case DT_STRTAB: d->strtab = (const char *)dyn_ptr(lm, dyn->d_un.d_ptr); break;
        case DT_RELA: d->rela[0] = (const Elf64_Rela *)dyn_ptr(lm, dyn->d_un.d_ptr); break;
        case DT_RELASZ: d->nrela[0] = dyn->d_un.d_val / sizeof(Elf64_Rela); break;
        case DT_JMPREL: d->rela[1] = (const Elf64_Rela *)dyn_ptr(lm, dyn->d_un.d_ptr); break;
        case DT_PLTRELSZ: d->nrela[1] = dyn->d_un.d_val / sizeof(Elf64_Rela); break;
        default: break;
        }
    }
    if (!d->symtab || !d->strtab)
        return -1;
    struct find_relro f = {.base = (uintptr_t)lm->l_addr};
    dl_iterate_phdr(relro_of, &f);
    d->relro = f.relro;
    d->relro_size = f.relro_size;
    *lmp = lm;
    return 0;
}

static int page_protect(uintptr_t addr, size_t len, int prot)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = addr & ~(page - 1);
    uintptr_t hi = (addr + len + page - 1) & ~(page - 1);
    return mprotect((void *)lo, hi - lo, prot);
}

/* One pass over the relocations: with `write` 0 it only checks that every
 * prefixed symbol has a binding; with `write` 1 it writes (the check ran
 * first, so that a refusal leaves the library untouched). Returns 0, or -1
 * with the unbound symbol named in `err`. */
static int walk(const struct link_map *lm, const struct dyninfo *d,
                const struct statics_binding *b, size_t n, const char *prefix, int write,
                char *err, size_t errsz)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < d->nrela[t]; i++) {
            const Elf64_Rela *r = &d->rela[t][i];
            unsigned type = (unsigned)ELF64_R_TYPE(r->r_info);
            size_t symi = ELF64_R_SYM(r->r_info);
            if (!symi || (type != ARCH_R_GLOB_DAT && type != ARCH_R_JUMP_SLOT && type != ARCH_R_ABS64))
                continue;
            const char *name = d->strtab + d->symtab[symi].st_name;
            size_t k = 0;
            while (k < n && strcmp(b[k].symbol, name) != 0)
                k++;
            if (k == n) {
                if (plen && strncmp(name, prefix, plen) == 0) {
                    snprintf(err, errsz, "cannot bind %s: the patch refers to it but the reload names "
                             "no such static; rebuild the patch", name);
                    return -1;
                }
                continue;
            }
            if (write) {
                uintptr_t value = b[k].addr + (type == ARCH_R_ABS64 ? (uintptr_t)r->r_addend : 0);
                *(uintptr_t *)((uintptr_t)lm->l_addr + r->r_offset) = value;
            }
        }
    }
    return 0;
}

int statics_bind(void *handle, const struct statics_binding *bindings, size_t n,
                 const char *prefix, char *err, size_t errsz)
{
    struct link_map *lm;
    struct dyninfo d;
    if (read_dynamic(handle, &lm, &d) != 0) {
        snprintf(err, errsz, "cannot bind the patch's statics: its dynamic section is "
                 "unreadable");
        return -1;
    }
    if (walk(lm, &d, bindings, n, prefix, 0, err, errsz) != 0)
        return -1;
    if (d.relro_size && page_protect(d.relro, d.relro_size, PROT_READ | PROT_WRITE) != 0) {
        snprintf(err, errsz, "cannot bind the patch's statics: mprotect refused to make "
                 "its RELRO pages writable");
        return -1;
    }
    walk(lm, &d, bindings, n, prefix, 1, err, errsz);
    if (d.relro_size)
        page_protect(d.relro, d.relro_size, PROT_READ);
    return 0;
}

/* Reads the whole file `path` into a new buffer. NULL on failure. */
static unsigned char *read_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    unsigned char *data = NULL;
    size_t got = 0;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && (data = malloc((size_t)st.st_size)) != NULL) {
        while (got < (size_t)st.st_size) {
            ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got != (size_t)st.st_size) {
            free(data);
            data = NULL;
        }
    }
    close(fd);
    *len = got;
    return data;
}

int statics_hidden_prepare(const char *library, const struct elfself *self, struct statics_hidden *out,
                           char *err, size_t errsz)
{
    size_t len = 0;
    unsigned char *data = read_all(library, &len);
    int rc = -1;

    memset(out, 0, sizeof *out);
    out->fd = -1;
    if (!data) {
        snprintf(err, errsz, "cannot load the patch: cannot read %s", library);
        return -1;
    }
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(const void *)data;
    if (len < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shoff == 0 || eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > len) {
        rc = 0; /* not for us to judge: dlopen says what is wrong with it */
        goto done;
    }
    Elf64_Shdr *sh = (Elf64_Shdr *)(void *)(data + eh->e_shoff);
    for (size_t i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum ||
            sh[i].sh_offset + sh[i].sh_size > len || sh[sh[i].sh_link].sh_offset >= len)
            continue;
        Elf64_Sym *syms = (Elf64_Sym *)(void *)(data + sh[i].sh_offset);
        size_t count = sh[i].sh_size / sizeof *syms;
        const char *strtab = (const char *)data + sh[sh[i].sh_link].sh_offset;
        size_t strsize = len - sh[sh[i].sh_link].sh_offset;
        for (size_t k = 1; k < count; k++) {
            Elf64_Sym *sym = &syms[k];
            int type = ELF64_ST_TYPE(sym->st_info);
            if (sym->st_shndx != SHN_UNDEF || ELF64_ST_BIND(sym->st_info) != STB_GLOBAL ||
                sym->st_name >= strsize || (type != STT_FUNC && type != STT_OBJECT && type != STT_NOTYPE))
                continue;
            const char *name = strtab + sym->st_name;
            if (!*name || dlsym(RTLD_DEFAULT, name))
                continue;
            const struct elfself_sym *host = elfself_global(self, name, 0);
            if (!host || !host->hidden)
                continue;
            struct statics_binding *grown = realloc(out->bindings, (out->n + 1) * sizeof *grown);
            if (!grown) {
                snprintf(err, errsz, "cannot load the patch: out of memory");
                goto done;
            }
            out->bindings = grown;
            if (!(out->bindings[out->n].symbol = strdup(name))) {
                snprintf(err, errsz, "cannot load the patch: out of memory");
                goto done;
            }
            out->bindings[out->n++].addr = host->addr;
            sym->st_info = (unsigned char)ELF64_ST_INFO(STB_WEAK, type);
        }
    }
    rc = 0;
    if (out->n > 0) {
        /* A file of its own beside the library, never a /proc/self/fd path:
         * dlopen knows libraries by their path, and a descriptor number
         * (hence its path) comes back for the next patch, which would then
         * get the old library; debuggers read it as well. */
        int fd = -1;
        for (unsigned k = 0; fd < 0 && k < 100; k++) {
            if (snprintf(out->path, sizeof out->path, "%s.bound%u.so", library, k) >= (int)sizeof out->path)
                break;
            fd = open(out->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (fd < 0 && errno != EEXIST)
                break;
        }
        if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
            snprintf(err, errsz, "cannot load the patch: cannot copy it to bind the program's hidden symbols: %s",
                     strerror(errno ? errno : EIO));
            if (fd >= 0) {
                close(fd);
                unlink(out->path);
            }
            *out->path = '\0';
            rc = -1;
            goto done;
        }
        close(fd);
    }
done:
    free(data);
    if (rc != 0)
        statics_hidden_release(out);
    return rc;
}

void statics_hidden_release(struct statics_hidden *h)
{
    for (size_t i = 0; i < h->n; i++)
        free((char *)h->bindings[i].symbol);
    free(h->bindings);
    h->bindings = NULL;
    h->n = 0;
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
}
