/* rt_aarch64: the redirection and statics code on its own (no server, no
 * JSON), for architectures the Criterion tests do not run on: built with a
 * cross compiler and run under qemu-user by mk/aarch64.mk (it also runs
 * natively). argv[1], argv[2]: patch libraries built from rt_basic_patch.c
 * with TAG=200 and TAG=300 for this executable. Prints each check; exits 0
 * when all pass. */
#include <hot.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "reload.h"
#include "rt_basic_step.h"

static int failures;

static void check(int ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok" : "FAIL", what);
    failures += !ok;
}

/* Every call path answers `want` and the three counters move together. */
static int runs(int want)
{
    int before = g_count;
    int a = step(), b = step_ptr(), c = step_from_other();
    return a == want && b == want && c == want && g_count == before + 3 && g_count == last_file &&
           g_count == last_local;
}

static int load(const char *lib, int version, const char *static_name, char *reason, size_t size)
{
    struct reload_func funcs[] = {{"step", NULL, "__hotc_f_step"}};
    struct reload_static statics[] = {{"__hotc_s_0", static_name, "rt_aarch64.c", NULL, 0, 0},
                                      {"__hotc_s_1", "l_count", "rt_aarch64.c", "step", 0, 0}};
    struct reload_request req = {version, lib, NULL, funcs, 1, statics, 2};
    struct reload_plan *plan;
    int rc = -1;
    if (reload_prepare(&req, &plan, reason, size) == 0) {
        struct reload_timings t;
        rc = reload_apply(plan, 0, &t, reason, size);
    }
    if (rc < 0)
        printf("  refused: %s\n", reason);
    return rc;
}

/* Writes `insn` over step()'s first instruction as a debugger does (gdb's
 * `break step` puts brk #0 there; deleting it puts the NOP back). */
static void poke_entry(uint32_t insn)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), at = (uintptr_t)step;
    mprotect((void *)(at & ~(page - 1)), page * 2, PROT_READ | PROT_WRITE | PROT_EXEC);
    __atomic_store_n((uint32_t *)at, insn, __ATOMIC_SEQ_CST);
    __builtin___clear_cache((char *)at, (char *)at + 4);
    mprotect((void *)(at & ~(page - 1)), page * 2, PROT_READ | PROT_EXEC);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3) {
        fprintf(stderr, "usage: rt_aarch64 patch200.so patch300.so\n");
        return 2;
    }
    char reason[512];
    reload_set_stop_world(0); /* alone; under qemu-user its threads show too */
    check(reload_init(reason, sizeof reason) == 0, "the executable is read");
    const struct elfself *self = reload_self();
    int found = 0;
    for (size_t i = 0; self && i < self->nhot; i++)
        found += self->hot[i].sym && strcmp(self->hot[i].sym->name, "step") == 0;
    check(found == 1, "step() is found as a HOT function");
    check(runs(100), "the original code runs");

    int rc = load(argv[1], 1, "no_such_static", reason, sizeof reason);
    check(rc < 0 &&
              strstr(reason, "no_such_static") != NULL,
          "an unresolvable static refuses the reload");
    check(runs(100) && reload_version() == 0, "nothing of it was applied");

    /* a debugger's breakpoint on the entry's first NOP: the reload writes
     * the second one, so it applies, and the NOP put back is still right */
    poke_entry(0xd4200000u); /* brk #0 */
    check(load(argv[1], 1, "f_count", reason, sizeof reason) == 1, "patch 1 applies under a breakpoint on step");
    check(*(const uint32_t *)(uintptr_t)step == 0xd4200000u, "the breakpoint's word is left as it was");
    poke_entry(0xd503201fu); /* nop, as the debugger saved it */
    check(runs(200), "direct, pointer and other-unit calls run patch 1, counters continue");
    check(load(argv[2], 2, "f_count", reason, sizeof reason) == 1, "patch 2 applies");
    check(runs(300), "patch 2 runs");
    check(reload_rollback(0, reason, sizeof reason) == 1 && runs(200), "rollback returns to patch 1");
    check(reload_rollback(0, reason, sizeof reason) == 0 && runs(100), "rollback returns to the original");
    check(reload_rollback(0, reason, sizeof reason) < 0, "then there is nothing to roll back");
    printf("%s: %d failure(s), g=%d\n", failures ? "FAILED" : "passed", failures, g_count);
    return failures ? 1 : 0;
}
