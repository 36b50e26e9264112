/* Addresses to source lines with libdwfl (see symbolize.h). */
#include "symbolize.h"

#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const Dwfl_Callbacks offline = {
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

/* The bias to report `path` with: where it is loaded for a shared object or
 * a position-independent executable (ET_DYN), 0 for a fixed-address one. */
static int load_bias(const char *path, uint64_t base, uint64_t *bias)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    Elf *elf;
    GElf_Ehdr eh;
    int rc = -1;

    if (fd < 0)
        return -1;
    elf_version(EV_CURRENT);
    elf = elf_begin(fd, ELF_C_READ, NULL);
    if (elf && gelf_getehdr(elf, &eh)) {
        *bias = eh.e_type == ET_DYN ? base : 0;
        rc = 0;
    }
    if (elf)
        elf_end(elf);
    close(fd);
    return rc;
}

int symbolize(const char *module, uint64_t base, uint64_t address, struct symbolized *out)
{
    Dwfl *dwfl;
    Dwfl_Module *mod;
    Dwfl_Line *line;
    uint64_t bias = 0;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (!module || !*module || load_bias(module, base, &bias) != 0)
        return -1;
    dwfl = dwfl_begin(&offline);
    if (!dwfl)
        return -1;
    dwfl_report_begin(dwfl);
    mod = dwfl_report_elf(dwfl, "crash", module, -1, bias, false);
    dwfl_report_end(dwfl, NULL, NULL);
    if (mod && (mod = dwfl_addrmodule(dwfl, address)) != NULL) {
        const char *name = dwfl_module_addrname(mod, address);
        if (name)
            snprintf(out->function, sizeof out->function, "%s", name);
        line = dwfl_module_getsrc(mod, address);
        if (line) {
            int l = 0, c = 0;
            const char *src = dwfl_lineinfo(line, NULL, &l, &c, NULL, NULL);
            if (src && l > 0) {
                Dwarf_Addr cu_bias;
                Dwarf_Die *cu = src[0] == '/' ? NULL : dwfl_module_addrdie(mod, address, &cu_bias);
                Dwarf_Attribute attr;
                const char *dir = cu ? dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr)) : NULL;
                if (dir)
                    snprintf(out->file, sizeof out->file, "%s/%s", dir, src);
                else
                    snprintf(out->file, sizeof out->file, "%s", src);
                out->line = l;
                out->column = c;
                rc = 0;
            }
        }
    }
    dwfl_end(dwfl);
    return rc;
}
