/* elfself: reads the running executable's own ELF file. See elfself.h. */
#include "elfself.h"

#include "arch.h"

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

const char *elfself_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* dl_iterate_phdr callback: stores the load bias of the first object. */
static int first_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    *(uintptr_t *)data = (uintptr_t)info->dlpi_addr;
    return 1; /* the first object is the executable */
}

/* Writes `n` bytes as 2n lowercase hex digits and a NUL into `out`. */
static void hex(char *out, const unsigned char *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = 0;
}

/* Looks for the GNU build-id note in the note section `sh` and, when there
 * is one, stores it in self->build_id as hex. A malformed note ends the
 * search: the build-id then stays "" (unknown), it is not an error. */
static void read_build_id(struct elfself *self, const Elf64_Shdr *sh)
{
    const unsigned char *p = (const unsigned char *)self->map + sh->sh_offset;
    const unsigned char *end = p + sh->sh_size;
    while (p + sizeof(Elf64_Nhdr) <= end) {
        const Elf64_Nhdr *n = (const Elf64_Nhdr *)(const void *)p;
        const unsigned char *name = p + sizeof *n;
        const unsigned char *desc = name + ((n->n_namesz + 3) & ~3u);
        if (desc + n->n_descsz > end)
            return;
        if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
            n->n_descsz * 2 < sizeof self->build_id) {
            hex(self->build_id, desc, n->n_descsz);
            return;
        }
        p = desc + ((n->n_descsz + 3) & ~3u);
    }
}

static int cmp_hot(const void *a, const void *b)
{
    uintptr_t x = ((const struct elfself_hot *)a)->pad, y = ((const struct elfself_hot *)b)->pad;
    return x < y ? -1 : x > y;
}

int elfself_load(struct elfself *self, const char *path, char *err, size_t errsz)
{
    memset(self, 0, sizeof *self);
    if (!path)
        path = "/proc/self/exe";
    ssize_t n = readlink("/proc/self/exe", self->path, sizeof self->path - 1);
    if (n < 0 || strcmp(path, "/proc/self/exe") != 0)
        snprintf(self->path, sizeof self->path, "%s", path);
    dl_iterate_phdr(first_object, &self->base);

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errsz, "cannot open %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto fail;
    }
    self->map_size = (size_t)st.st_size;
    self->map = mmap(NULL, self->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (self->map == MAP_FAILED) {
        self->map = NULL;
        snprintf(err, errsz, "cannot map %s: %s", path, strerror(errno));
        goto fail;
    }
    const unsigned char *base = self->map;
    const Elf64_Ehdr *eh = self->map;
    if (self->map_size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shoff == 0 ||
        eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > self->map_size) {
        snprintf(err, errsz, "cannot read %s: not a 64-bit ELF file with sections", path);
        goto fail;
    }
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(const void *)(base + eh->e_shoff);
    const char *shstr = (const char *)base + sh[eh->e_shstrndx].sh_offset;
    const Elf64_Shdr *symtab = NULL, *patchable = NULL;
    for (size_t i = 0; i < eh->e_shnum; i++) {
        const char *name = shstr + sh[i].sh_name;
        if (sh[i].sh_type == SHT_SYMTAB)
            symtab = &sh[i];
        else if (sh[i].sh_type == SHT_NOTE)
            read_build_id(self, &sh[i]);
        else if (strcmp(name, "__patchable_function_entries") == 0)
            patchable = &sh[i];
    }
    if (!symtab) {
        snprintf(err, errsz, "cannot read %s: it has no symbol table (stripped?); "
                 "rebuild it without -s and do not strip it", path);
        goto fail;
    }

    /* Symbols: keep functions and objects that are defined; remember which
     * STT_FILE each local follows. */
    const Elf64_Sym *st_syms = (const Elf64_Sym *)(const void *)(base + symtab->sh_offset);
    size_t count = symtab->sh_size / sizeof(Elf64_Sym);
    const char *strtab = (const char *)base + sh[symtab->sh_link].sh_offset;
    self->syms = calloc(count ? count : 1, sizeof *self->syms);
    self->files = calloc(count ? count : 1, sizeof *self->files);
    if (!self->syms || !self->files) {
        snprintf(err, errsz, "cannot read %s: out of memory", path);
        goto fail;
    }
    int file = -1, localized = 0;
    for (size_t i = 1; i < count; i++) {
        const Elf64_Sym *s = &st_syms[i];
        int type = ELF64_ST_TYPE(s->st_info), bind = ELF64_ST_BIND(s->st_info);
        if (type == STT_FILE) {
            self->files[self->nfiles] = elfself_basename(strtab + s->st_name);
            /* the linker lists the globals it made local (hidden or
             * internal visibility) after an STT_FILE without a name */
            localized = strtab[s->st_name] == '\0';
            file = (int)self->nfiles++;
            continue;
        }
        if ((type != STT_FUNC && type != STT_OBJECT) || s->st_shndx == SHN_UNDEF)
            continue;
        struct elfself_sym *out = &self->syms[self->nsyms++];
        out->name = strtab + s->st_name;
        out->addr = (s->st_shndx == SHN_ABS ? 0 : self->base) + (uintptr_t)s->st_value;
        out->size = s->st_size;
        out->type = (unsigned char)type;
        out->bind = (unsigned char)bind;
        out->file = bind == STB_LOCAL ? file : -1;
        if (bind == STB_LOCAL && localized) {
            out->bind = STB_GLOBAL;
            out->file = -1;
            out->hidden = 1;
        }
    }

    /* HOT functions: the section is allocated and relocated, so read it in
     * memory; each entry is the address of a function's padding. */
    if (patchable && patchable->sh_addr && ARCH_PAD_BEFORE > 0) {
        const uintptr_t *entries = (const uintptr_t *)(self->base + patchable->sh_addr);
        size_t n_entries = patchable->sh_size / sizeof(uintptr_t);
        self->hot = calloc(n_entries ? n_entries : 1, sizeof *self->hot);
        if (!self->hot) {
            snprintf(err, errsz, "cannot read %s: out of memory", path);
            goto fail;
        }
        for (size_t i = 0; i < n_entries; i++)
            self->hot[self->nhot++].pad = entries[i];
        qsort(self->hot, self->nhot, sizeof *self->hot, cmp_hot);
        for (size_t i = 0; i < self->nsyms; i++) {
            struct elfself_sym *s = &self->syms[i];
            if (s->type != STT_FUNC || s->addr < ARCH_PAD_BEFORE)
                continue;
            struct elfself_hot key = {.pad = s->addr - ARCH_PAD_BEFORE};
            struct elfself_hot *h = bsearch(&key, self->hot, self->nhot, sizeof *h, cmp_hot);
            /* Prefer a global name over a local alias. */
            if (h && (!h->sym || (h->sym->bind == STB_LOCAL && s->bind != STB_LOCAL)))
                h->sym = s;
        }
    }
    return 0;

fail:
    elfself_release(self);
    return -1;
}

void elfself_release(struct elfself *self)
{
    if (self->map)
        munmap(self->map, self->map_size);
    free(self->syms);
    free(self->files);
    free(self->hot);
    memset(self, 0, sizeof *self);
}

const struct elfself_sym *elfself_global(const struct elfself *self, const char *name, int type)
{
    for (size_t i = 0; i < self->nsyms; i++) {
        const struct elfself_sym *s = &self->syms[i];
        if (s->bind != STB_LOCAL && (!type || s->type == type) && strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

/* Whether `sym` is gcc's name for a function-local static `name`: "name.N"
 * with N decimal digits. */
static int gcc_local_name(const char *sym, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(sym, name, n) != 0 || sym[n] != '.' || !sym[n + 1])
        return 0;
    for (const char *p = sym + n + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

/* Whether `sym` is clang's name for the static `name` local to `function`:
 * "function.name". */
static int clang_local_name(const char *sym, const char *function, const char *name)
{
    size_t n = strlen(function);
    return strncmp(sym, function, n) == 0 && sym[n] == '.' && strcmp(sym + n + 1, name) == 0;
}

size_t elfself_locals(const struct elfself *self, const char *file, const char *function,
                      const char *name, int type, const struct elfself_sym **out, size_t max)
{
    size_t found = 0;
    for (size_t i = 0; i < self->nsyms; i++) {
        const struct elfself_sym *s = &self->syms[i];
        if (s->bind != STB_LOCAL || s->file < 0 || (type && s->type != type))
            continue;
        if (file && strcmp(self->files[s->file], elfself_basename(file)) != 0)
            continue;
        int match = function ? gcc_local_name(s->name, name) || clang_local_name(s->name, function, name)
                             : strcmp(s->name, name) == 0;
        if (!match)
            continue;
        if (found < max)
            out[found] = s;
        found++;
    }
    return found;
}

const struct elfself_hot *elfself_hot_at(const struct elfself *self, uintptr_t entry)
{
    if (entry < ARCH_PAD_BEFORE)
        return NULL;
    struct elfself_hot key = {.pad = entry - ARCH_PAD_BEFORE};
    return bsearch(&key, self->hot, self->nhot, sizeof key, cmp_hot);
}

/* pread of exactly `n` bytes at `off`. Returns 0 or -1. */
static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

/* Whether [off, off + len) lies inside a file of `size` bytes. */
static int inside(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

int elfself_check_file(const char *path, char *err, size_t errsz)
{
    ElfW(Ehdr) eh;
    struct stat st;
    int rc = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsz, "cannot open the patch %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errsz, "cannot load the patch %s: not a regular file", path);
        goto done;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (read_at(fd, &eh, sizeof eh, 0) != 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        snprintf(err, errsz, "cannot load the patch %s: not an ELF file (%llu bytes); rebuild it",
                 path, (unsigned long long)size);
        goto done;
    }
    if (eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
        eh.e_machine != ARCH_ELF_MACHINE || eh.e_type != ET_DYN) {
        snprintf(err, errsz, "cannot load the patch %s: not a shared library for this machine; "
                 "rebuild it", path);
        goto done;
    }
    if ((eh.e_phnum && eh.e_phentsize != sizeof(ElfW(Phdr))) ||
        (eh.e_shnum && eh.e_shentsize != sizeof(ElfW(Shdr))) ||
        !inside(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(ElfW(Phdr)), size) ||
        !inside(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(ElfW(Shdr)), size)) {
        snprintf(err, errsz, "cannot load the patch %s: truncated or corrupt (%llu bytes, its "
                 "headers end past that); rebuild it", path, (unsigned long long)size);
        goto done;
    }
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        ElfW(Phdr) ph;
        if (read_at(fd, &ph, sizeof ph, eh.e_phoff + (uint64_t)i * sizeof ph) != 0 ||
            (ph.p_type == PT_LOAD && !inside(ph.p_offset, ph.p_filesz, size))) {
            snprintf(err, errsz, "cannot load the patch %s: truncated (%llu bytes, segment %u ends "
                     "at %llu); rebuild it", path, (unsigned long long)size, i,
                     (unsigned long long)(ph.p_offset + ph.p_filesz));
            goto done;
        }
    }
    for (unsigned i = 0; i < eh.e_shnum; i++) {
        ElfW(Shdr) sh;
        if (read_at(fd, &sh, sizeof sh, eh.e_shoff + (uint64_t)i * sizeof sh) != 0 ||
            (sh.sh_type != SHT_NOBITS && !inside(sh.sh_offset, sh.sh_size, size))) {
            snprintf(err, errsz, "cannot load the patch %s: truncated (%llu bytes, section %u ends "
                     "at %llu); rebuild it", path, (unsigned long long)size, i,
                     (unsigned long long)(sh.sh_offset + sh.sh_size));
            goto done;
        }
    }
    rc = 0;
done:
    close(fd);
    return rc;
}
