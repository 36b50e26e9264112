/* Reading an ELF file's DWARF with libdw (see debuginfo.h).
 *
 * The index is built once, when the file is opened: every compile unit's
 * path, its file-scope variables, functions and named types, and the
 * statics inside its functions, sorted by kind and name so that a lookup is
 * a binary search. The DIEs themselves stay in libdw; an entry keeps only
 * the offset. */
#include "debuginfo.h"

#include <dwarf.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dwarf_cu {
    char *path;          /* absolute when comp_dir was given */
    const char *base;    /* its base name, inside `path` */
};

struct debuginfo {
    int fd;
    Elf *elf;
    Dwarf *dw;
    pthread_mutex_t lock;
    struct dwarf_cu *cus;
    size_t n_cus, cap_cus;
    struct debuginfo_entry *entries;
    size_t n_entries, cap_entries;
    char **strings;      /* names this file allocated ("struct x"), freed with it */
    size_t n_strings, cap_strings;
};

static const struct {
    int code;
    const char *text;
} error_table[] = {
#define DEBUGINFO__TEXT(name, value, text) { value, text },
    DEBUGINFO_ERRNO_MAP(DEBUGINFO__TEXT)
#undef DEBUGINFO__TEXT
};

const char *debuginfo_strerror(int err)
{
    for (size_t i = 0; i < sizeof error_table / sizeof error_table[0]; i++)
        if (error_table[i].code == err)
            return error_table[i].text;
    return "unknown error";
}

static bool grow(void **items, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*items, ncap * size);
    if (!p)
        return false;
    *items = p;
    *cap = ncap;
    return true;
}

static const char *keep_string(struct debuginfo *self, char *s)
{
    if (!s || !grow((void **)&self->strings, &self->cap_strings, self->n_strings, sizeof *self->strings)) {
        free(s);
        return NULL;
    }
    self->strings[self->n_strings++] = s;
    return s;
}

static bool flag(Dwarf_Die *die, unsigned name)
{
    Dwarf_Attribute attr;
    bool value = false;
    return dwarf_attr_integrate(die, name, &attr) && dwarf_formflag(&attr, &value) == 0 && value;
}

/* Whether the DIE itself (not the declaration it completes through
 * DW_AT_specification) is a declaration. */
static bool own_declaration(Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    bool value = false;
    return dwarf_attr(die, DW_AT_declaration, &attr) && dwarf_formflag(&attr, &value) == 0 && value;
}

/* The name of a DIE, or of the declaration it completes (a definition
 * `struct cfg cfg;` after `extern struct cfg cfg;` names nothing itself). */
static const char *name_of(Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    return dwarf_attr_integrate(die, DW_AT_name, &attr) ? dwarf_formstring(&attr) : NULL;
}

/* Whether a variable DIE inside a function has static storage: a fixed
 * address as its location, or a declaration (a block-scope extern). */
static bool static_storage(Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    Dwarf_Op *ops;
    size_t n;

    if (own_declaration(die))
        return true;
    if (!dwarf_attr(die, DW_AT_location, &attr))
        return false;
    if (dwarf_getlocation(&attr, &ops, &n) != 0 || n == 0)
        return false;
    return ops[0].atom == DW_OP_addr || ops[0].atom == DW_OP_addrx || ops[0].atom == DW_OP_GNU_addr_index;
}

/* The index name of a type DIE, or NULL for an unnamed one. */
static const char *type_key(struct debuginfo *self, Dwarf_Die *die)
{
    const char *name = dwarf_diename(die), *prefix;
    char *s;

    if (!name)
        return NULL;
    switch (dwarf_tag(die)) {
    case DW_TAG_structure_type: prefix = "struct "; break;
    case DW_TAG_union_type: prefix = "union "; break;
    case DW_TAG_enumeration_type: prefix = "enum "; break;
    case DW_TAG_typedef: return name;
    default: return NULL;
    }
    s = malloc(strlen(prefix) + strlen(name) + 1);
    if (!s)
        return NULL;
    strcpy(s, prefix);
    strcat(s, name);
    return keep_string(self, s);
}

static int add(struct debuginfo *self, const struct debuginfo_entry *e)
{
    if (!grow((void **)&self->entries, &self->cap_entries, self->n_entries, sizeof *self->entries))
        return DEBUGINFO_ENOMEM;
    self->entries[self->n_entries++] = *e;
    return 0;
}

/* Indexes the statics under `die` (a function or one of its blocks). */
static int index_locals(struct debuginfo *self, Dwarf_Die *die, unsigned cu, const char *function, size_t first)
{
    Dwarf_Die child;
    int rc = 0;

    if (dwarf_child(die, &child) != 0)
        return 0;
    do {
        int tag = dwarf_tag(&child);
        if (tag == DW_TAG_variable) {
            const char *name = name_of(&child);
            if (name && static_storage(&child)) {
                struct debuginfo_entry e = { .name = name, .function = function, .kind = DEBUGINFO_LOCAL, .cu = cu,
                                         .external = flag(&child, DW_AT_external),
                                         .declaration = own_declaration(&child),
                                         .offset = dwarf_dieoffset(&child) };
                for (size_t i = first; i < self->n_entries; i++)
                    if (strcmp(self->entries[i].name, name) == 0)
                        e.ordinal++;
                rc = add(self, &e);
            }
        } else if (tag == DW_TAG_lexical_block) {
            rc = index_locals(self, &child, cu, function, first);
        }
    } while (rc == 0 && dwarf_siblingof(&child, &child) == 0);
    return rc;
}

static int index_cu(struct debuginfo *self, Dwarf_Die *cudie)
{
    const char *name = dwarf_diename(cudie), *dir = NULL;
    Dwarf_Attribute attr;
    Dwarf_Die child;
    unsigned cu = (unsigned)self->n_cus;
    char *path;
    int rc = 0;

    if (dwarf_attr(cudie, DW_AT_comp_dir, &attr))
        dir = dwarf_formstring(&attr);
    if (!name)
        name = "";
    if (name[0] != '/' && dir && *dir) {
        path = malloc(strlen(dir) + strlen(name) + 2);
        if (path)
            sprintf(path, "%s/%s", dir, name);
    } else {
        path = strdup(name);
    }
    if (!path || !grow((void **)&self->cus, &self->cap_cus, self->n_cus, sizeof *self->cus)) {
        free(path);
        return DEBUGINFO_ENOMEM;
    }
    self->cus[self->n_cus].path = path;
    self->cus[self->n_cus].base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    self->n_cus++;

    if (dwarf_child(cudie, &child) != 0)
        return 0;
    do {
        struct debuginfo_entry e = { .cu = cu, .offset = dwarf_dieoffset(&child) };
        switch (dwarf_tag(&child)) {
        case DW_TAG_variable:
            e.kind = DEBUGINFO_VARIABLE;
            e.name = name_of(&child);
            e.external = flag(&child, DW_AT_external);
            e.declaration = own_declaration(&child);
            if (e.name)
                rc = add(self, &e);
            break;
        case DW_TAG_subprogram:
            e.kind = DEBUGINFO_FUNCTION;
            e.name = name_of(&child);
            e.external = flag(&child, DW_AT_external);
            e.declaration = own_declaration(&child);
            if (!e.name)
                break;
            rc = add(self, &e);
            if (rc == 0 && !e.declaration)
                rc = index_locals(self, &child, cu, e.name, self->n_entries);
            break;
        case DW_TAG_structure_type:
        case DW_TAG_union_type:
        case DW_TAG_enumeration_type:
        case DW_TAG_typedef:
            e.kind = DEBUGINFO_TYPE;
            e.name = type_key(self, &child);
            e.declaration = flag(&child, DW_AT_declaration);
            if (e.name && !e.declaration)
                rc = add(self, &e);
            break;
        default:
            break;
        }
    } while (rc == 0 && dwarf_siblingof(&child, &child) == 0);
    return rc;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct debuginfo_entry *x = a, *y = b;
    int c;

    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    if ((c = strcmp(x->name, y->name)) != 0)
        return c;
    /* stable: file order */
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int debuginfo_open(const char *path, struct debuginfo **out, char *err, size_t errsize)
{
    struct debuginfo *self = calloc(1, sizeof *self);
    int rc;

    *out = NULL;
    if (!self)
        return DEBUGINFO_ENOMEM;
    pthread_mutex_init(&self->lock, NULL);
    self->fd = -1;
    self->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (self->fd < 0) {
        if (err)
            snprintf(err, errsize, "cannot open %s: %s", path, strerror(errno));
        rc = DEBUGINFO_EIO;
        goto fail;
    }
    elf_version(EV_CURRENT);
    self->elf = elf_begin(self->fd, ELF_C_READ_MMAP, NULL);
    if (!self->elf || elf_kind(self->elf) != ELF_K_ELF) {
        rc = DEBUGINFO_EELF;
        if (err)
            snprintf(err, errsize, "%s: %s", path, debuginfo_strerror(rc));
        goto fail;
    }
    /* a readable ELF file without DWARF sections */
    self->dw = dwarf_begin_elf(self->elf, DWARF_C_READ, NULL);
    if (!self->dw) {
        rc = DEBUGINFO_ENOINFO;
        if (err)
            snprintf(err, errsize, "%s: %s", path, debuginfo_strerror(rc));
        goto fail;
    }
    {
        Dwarf_CU *cu = NULL;
        Dwarf_Die cudie;
        uint8_t unit_type;
        Dwarf_Half version;

        while (dwarf_get_units(self->dw, cu, &cu, &version, &unit_type, &cudie, NULL) == 0) {
            if (unit_type != DW_UT_compile && unit_type != DW_UT_partial)
                continue;
            rc = index_cu(self, &cudie);
            if (rc != 0)
                goto fail;
        }
    }
    if (self->n_cus == 0) {
        rc = DEBUGINFO_ENOINFO;
        if (err)
            snprintf(err, errsize, "%s: %s", path, debuginfo_strerror(rc));
        goto fail;
    }
    if (self->n_entries)
        qsort(self->entries, self->n_entries, sizeof *self->entries, entry_cmp);
    *out = self;
    return 0;
fail:
    if (rc == DEBUGINFO_ENOMEM && err)
        snprintf(err, errsize, "%s", debuginfo_strerror(rc));
    debuginfo_free(self);
    return rc;
}

void debuginfo_free(struct debuginfo *self)
{
    if (!self)
        return;
    if (self->dw)
        dwarf_end(self->dw);
    if (self->elf)
        elf_end(self->elf);
    if (self->fd >= 0)
        close(self->fd);
    for (size_t i = 0; i < self->n_cus; i++)
        free(self->cus[i].path);
    for (size_t i = 0; i < self->n_strings; i++)
        free(self->strings[i]);
    free(self->cus);
    free(self->entries);
    free(self->strings);
    pthread_mutex_destroy(&self->lock);
    free(self);
}

void debuginfo_lock(struct debuginfo *self)
{
    pthread_mutex_lock(&self->lock);
}

void debuginfo_unlock(struct debuginfo *self)
{
    pthread_mutex_unlock(&self->lock);
}

bool debuginfo_build_id(struct debuginfo *self, char *hex, size_t size)
{
    const void *id = NULL;
    ssize_t n = dwelf_elf_gnu_build_id(self->elf, &id);

    if (n <= 0 || (size_t)n * 2 + 1 > size)
        return false;
    for (ssize_t i = 0; i < n; i++)
        sprintf(hex + 2 * i, "%02x", ((const unsigned char *)id)[i]);
    return true;
}

Dwarf *debuginfo_dwarf(struct debuginfo *self)
{
    return self->dw;
}

size_t debuginfo_cu_count(const struct debuginfo *self)
{
    return self->n_cus;
}

size_t debuginfo_entry_count(const struct debuginfo *self)
{
    return self->n_entries;
}

int debuginfo_cu_of(const struct debuginfo *self, const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char real[PATH_MAX];
    int by_base = -1, bases = 0;

    for (size_t i = 0; i < self->n_cus; i++)
        if (strcmp(self->cus[i].path, path) == 0)
            return (int)i;
    /* the unit may name it through another spelling (../src/x.c, a link) */
    for (size_t i = 0; i < self->n_cus; i++) {
        if (strcmp(self->cus[i].base, base) != 0)
            continue;
        if (realpath(self->cus[i].path, real) && strcmp(real, path) == 0)
            return (int)i;
        by_base = (int)i;
        bases++;
    }
    return bases == 1 ? by_base : -1;
}

const char *debuginfo_cu_path(const struct debuginfo *self, unsigned cu)
{
    return cu < self->n_cus ? self->cus[cu].path : NULL;
}

const struct debuginfo_entry *debuginfo_find(const struct debuginfo *self, enum debuginfo_kind kind, const char *name,
                                          size_t *count)
{
    size_t lo = 0, hi = self->n_entries;
    struct debuginfo_entry key = { .name = name, .kind = kind, .offset = 0 };

    *count = 0;
    if (!name)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct debuginfo_entry *e = &self->entries[mid];
        int c = e->kind != kind ? (int)e->kind - (int)kind : strcmp(e->name, name);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    (void)key;
    for (size_t i = lo; i < self->n_entries && self->entries[i].kind == kind &&
                        strcmp(self->entries[i].name, name) == 0;
         i++)
        (*count)++;
    return *count ? &self->entries[lo] : NULL;
}

const struct debuginfo_entry *debuginfo_resolve(const struct debuginfo *self, enum debuginfo_kind kind, const char *name,
                                             int cu)
{
    size_t n;
    const struct debuginfo_entry *e = debuginfo_find(self, kind, name, &n), *global = NULL;

    for (size_t i = 0; i < n; i++) {
        if (e[i].declaration)
            continue;
        if (cu >= 0 && e[i].cu == (unsigned)cu)
            return &e[i];
        if (e[i].external && !global)
            global = &e[i];
    }
    return global;
}

const struct debuginfo_entry *debuginfo_local(const struct debuginfo *self, int cu, const char *function,
                                           const char *name, unsigned ordinal)
{
    size_t n;
    const struct debuginfo_entry *e = debuginfo_find(self, DEBUGINFO_LOCAL, name, &n);

    for (size_t i = 0; i < n; i++)
        if ((cu < 0 || e[i].cu == (unsigned)cu) && strcmp(e[i].function, function) == 0 && e[i].ordinal == ordinal &&
            !e[i].declaration)
            return &e[i];
    return NULL;
}

const struct debuginfo_entry *debuginfo_type(const struct debuginfo *self, int cu, const char *name)
{
    size_t n;
    const struct debuginfo_entry *e = debuginfo_find(self, DEBUGINFO_TYPE, name, &n);

    for (size_t i = 0; i < n; i++)
        if (e[i].cu == (unsigned)cu)
            return &e[i];
    return NULL;
}

bool debuginfo_die(struct debuginfo *self, const struct debuginfo_entry *entry, Dwarf_Die *die)
{
    return dwarf_offdie(self->dw, entry->offset, die) != NULL;
}

/* A defined function symbol of the file: its address range. */
struct fn_range {
    GElf_Addr start, end;
    const char *name;
};

static const char *function_at(const struct fn_range *fns, size_t n, GElf_Addr addr)
{
    for (size_t i = 0; i < n; i++)
        if (addr >= fns[i].start && addr < fns[i].end)
            return fns[i].name;
    return NULL;
}

long debuginfo_references(struct debuginfo *self, debuginfo_ref_cb cb, void *user)
{
    Elf_Scn *scn = NULL, *symscn = NULL;
    GElf_Shdr sh;
    size_t strndx = 0, n_fns = 0;
    struct fn_range *fns = NULL;
    Elf_Data *syms;
    long seen = 0;
    bool any = false;

    while ((scn = elf_nextscn(self->elf, scn)) != NULL)
        if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB) {
            symscn = scn;
            strndx = sh.sh_link;
            break;
        }
    if (!symscn || !(syms = elf_getdata(symscn, NULL)))
        return -1;
    size_t count = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
    fns = calloc(count + 1, sizeof *fns);
    if (!fns)
        return -1;
    for (size_t i = 0; i < count; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(syms, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF)
            continue;
        fns[n_fns].start = sym.st_value;
        fns[n_fns].end = sym.st_value + (sym.st_size ? sym.st_size : 1);
        fns[n_fns].name = elf_strptr(self->elf, strndx, sym.st_name);
        if (fns[n_fns].name)
            n_fns++;
    }
    scn = NULL;
    while ((scn = elf_nextscn(self->elf, scn)) != NULL) {
        GElf_Shdr rsh, target;
        Elf_Data *data;
        Elf_Scn *tscn;
        if (!gelf_getshdr(scn, &rsh) || (rsh.sh_type != SHT_RELA && rsh.sh_type != SHT_REL) ||
            elf_getscn(self->elf, rsh.sh_link) != symscn)
            continue;
        tscn = elf_getscn(self->elf, rsh.sh_info);
        if (!tscn || !gelf_getshdr(tscn, &target) || !(target.sh_flags & SHF_EXECINSTR))
            continue;
        if (!(data = elf_getdata(scn, NULL)))
            continue;
        any = true;
        size_t nrel = rsh.sh_entsize ? rsh.sh_size / rsh.sh_entsize : 0;
        for (size_t i = 0; i < nrel; i++) {
            GElf_Rela rela;
            GElf_Rel rel;
            GElf_Sym sym;
            if (rsh.sh_type == SHT_RELA) {
                if (!gelf_getrela(data, (int)i, &rela))
                    continue;
            } else {
                if (!gelf_getrel(data, (int)i, &rel))
                    continue;
                rela.r_offset = rel.r_offset;
                rela.r_info = rel.r_info;
                rela.r_addend = 0;
            }
            const char *from = function_at(fns, n_fns, rela.r_offset), *to = NULL;
            if (!from || !gelf_getsym(syms, (int)GELF_R_SYM(rela.r_info), &sym))
                continue;
            if (GELF_ST_TYPE(sym.st_info) == STT_SECTION || (GELF_ST_TYPE(sym.st_info) == STT_FUNC &&
                                                              GELF_ST_BIND(sym.st_info) == STB_LOCAL)) {
                /* local code: a pc-relative reference is 4 bytes short of its target on x86-64 */
                GElf_Addr at = sym.st_value + (GElf_Addr)rela.r_addend;
                to = function_at(fns, n_fns, at);
                if (!to || (GELF_ST_TYPE(sym.st_info) == STT_SECTION && !function_at(fns, n_fns, at + 4)))
                    to = to ? to : function_at(fns, n_fns, at + 4);
                else if (GELF_ST_TYPE(sym.st_info) == STT_SECTION)
                    to = function_at(fns, n_fns, at + 4);
            } else {
                to = elf_strptr(self->elf, strndx, sym.st_name);
            }
            if (to && *to && strcmp(to, from) != 0) {
                cb(from, to, user);
                seen++;
            }
        }
    }
    free(fns);
    return any ? seen : -1;
}

bool debuginfo_type_of(Dwarf_Die *die, Dwarf_Die *type)
{
    Dwarf_Attribute attr;
    return dwarf_attr_integrate(die, DW_AT_type, &attr) && dwarf_formref_die(&attr, type);
}

bool debuginfo_peel(Dwarf_Die *die, Dwarf_Die *out)
{
    Dwarf_Die cur = *die;
    for (int i = 0; i < 64; i++) {
        int tag = dwarf_tag(&cur);
        if (tag != DW_TAG_typedef && tag != DW_TAG_const_type && tag != DW_TAG_volatile_type &&
            tag != DW_TAG_restrict_type && tag != DW_TAG_atomic_type) {
            *out = cur;
            return true;
        }
        if (!debuginfo_type_of(&cur, &cur))
            return false;
    }
    return false;
}
