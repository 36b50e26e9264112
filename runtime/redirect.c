/* redirect: rewriting HOT paddings and entries. See redirect.h. */
#include "redirect.h"

#include "arch.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Makes [addr, addr+len) writable (and still executable, other threads may
 * run there) or puts it back to read+execute. */
static int text_protect(uintptr_t addr, size_t len, int writable)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = addr & ~(page - 1);
    uintptr_t hi = (addr + len + page - 1) & ~(page - 1);
    int prot = PROT_READ | PROT_EXEC | (writable ? PROT_WRITE : 0);
    return mprotect((void *)lo, hi - lo, prot);
}

__attribute__((unused)) static void flush(uintptr_t addr, size_t len)
{
    __builtin___clear_cache((char *)addr, (char *)(addr + len));
}

#if defined(__x86_64__)

static const unsigned char endbr64[4] = {0xf3, 0x0f, 0x1e, 0xfa};

/* Whether [addr, addr+len) lies in one aligned 16-byte block: then a store
 * of it is atomic (Intel: within a cache line; AMD: within 16 bytes), for
 * data loads and for instruction fetch. HOT's padding starts 16-byte aligned
 * with gcc and clang at -O1 and above: the target is bytes 6..13 of it. */
static int same_block(uintptr_t addr, size_t len)
{
    return addr / 16 == (addr + len - 1) / 16;
}

static void store_target(uintptr_t at, uint64_t target)
{
    if (same_block(at, 8))
        __atomic_store((uint64_t *)at, &target, __ATOMIC_SEQ_CST);
    else
        memcpy((void *)at, &target, 8); /* only ever with every thread stopped */
}

/* A debugger's software breakpoint (gdb, lldb: int3). */
#define INT3 0xcc

/* Whether the two bytes at `e` are one of the 2-byte entries HOT emits or
 * the runtime made of them: 90 90 (gcc), 66 90 (clang, or the runtime's). */
static int nop2(const unsigned char *e)
{
    return e[1] == 0x90 && (e[0] == 0x90 || e[0] == 0x66);
}

/* Makes the slot one instruction: 90 90 (two NOPs) becomes 66 90 (one
 * two-byte NOP). Safe with threads running there: only the first byte
 * changes, a one-byte store; a thread at the slot executes 90 or 66 90, a
 * thread already past the first NOP executes the unchanged 90. From then
 * on no thread that reaches the slot can stop between its bytes, so the
 * 2-byte store of the branch is seen whole or not at all. */
static void join_slot(struct redirect_site *site)
{
    if (*(const unsigned char *)site->nop == 0x90 && text_protect(site->nop, 1, 1) == 0) {
        __atomic_store_n((unsigned char *)site->nop, (unsigned char)0x66, __ATOMIC_SEQ_CST);
        text_protect(site->nop, 1, 0);
    }
}

int redirect_site_init(struct redirect_site *site, uintptr_t pad)
{
    memset(site, 0, sizeof *site);
    const unsigned char *p = (const unsigned char *)pad;
    for (int i = 0; i < ARCH_PAD_BEFORE; i++)
        if (p[i] != 0x90) {
            site->debugger = p[i] == INT3;
            return site->debugger ? REDIRECT_EINIT_DEBUGGER : -1;
        }
    uintptr_t entry = pad + ARCH_PAD_BEFORE;
    const unsigned char *en = (const unsigned char *)entry;
    site->pad = pad;
    /* endbr64, or a breakpoint a debugger put on its first byte */
    uintptr_t first = memcmp(en, endbr64, 4) == 0 || (en[0] == INT3 && memcmp(en + 1, endbr64 + 1, 3) == 0)
                          ? entry + 4
                          : entry;
    const unsigned char *e = (const unsigned char *)first;
    if ((e[0] == 0x90 || e[0] == INT3) && e[1] == 0x90 && e[2] == 0x90 && e[3] == 0x90) {
        /* gcc's four NOPs: the slot is the last two. gdb puts `break f`
         * on the first byte (on the endbr64 before them, if any), which
         * the runtime never writes: gdb steps it and reaches our branch,
         * and the byte it restores is still right. */
        site->nop = first + 2;
    } else {
        /* two bytes (clang's 66 90, whose `break f` gdb puts after them,
         * or an executable built with an older hot.h): they are the slot */
        site->nop = first;
        if (e[0] == INT3 && e[1] == 0x90) {
            /* A debugger's breakpoint on the slot (a program started under
             * gdb with `break f`): the byte under it is the NOP HOT
             * emitted, 90 or 66. Leave it alone; redirect_set writes only
             * once the breakpoint is gone, and learns the byte then. */
            site->concurrent = 0;
            return 0;
        }
        if (!nop2(e))
            return -1;
    }
    join_slot(site);
    memcpy(site->orig_entry, (const void *)site->nop, 2);
    site->known = 1;
    site->concurrent = site->orig_entry[0] == 0x66 && same_block(site->nop, 2) &&
                       same_block(site->pad + 6, 8);
    return 0;
}

/* Replaces the 2-byte entry `from` with `to` unless something else is
 * there now: a debugger's breakpoint, put there while the program was
 * stopped (ptrace writes while the writer is stopped, so a compare-and-swap
 * never mixes with it). A debugger restores the byte it saved when it
 * removes its breakpoint: written over, the entry would become half its
 * byte, half ours (66 f0: SIGILL). Returns 0, or -1 and writes nothing. */
static int swap_entry(struct redirect_site *site, const unsigned char from[2], const unsigned char to[2])
{
    uint16_t expected, desired;
    memcpy(&expected, from, 2);
    memcpy(&desired, to, 2);
    if (same_block(site->nop, 2))
        return __atomic_compare_exchange_n((uint16_t *)site->nop, &expected, desired, 0, __ATOMIC_SEQ_CST,
                                           __ATOMIC_SEQ_CST)
                   ? 0
                   : -1;
    /* across a 16-byte block: only ever with every thread stopped */
    if (memcmp((const void *)site->nop, from, 2) != 0)
        return -1;
    memcpy((void *)site->nop, to, 2);
    return 0;
}

int redirect_trapped(const struct redirect_site *site)
{
    return site->pad && *(const volatile unsigned char *)site->nop == INT3;
}

int redirect_set(struct redirect_site *site, uintptr_t target)
{
    uint64_t t = target;
    if (site->armed) {
        /* One 8-byte store, read as data by the padding's jmp. */
        if (text_protect(site->pad + 6, 8, 1) != 0)
            return -1;
        store_target(site->pad + 6, t);
        text_protect(site->pad + 6, 8, 0);
        site->target = target;
        return 0;
    }
    if (!site->known) {
        /* the breakpoint that covered the slot at init is gone: its NOPs
         * are there again (with every thread stopped: not concurrent) */
        if (!nop2((const unsigned char *)site->nop))
            return REDIRECT_EDEBUGGER;
        memcpy(site->orig_entry, (const void *)site->nop, 2);
        site->known = 1;
    }
    if (text_protect(site->pad, (site->nop + 2) - site->pad, 1) != 0)
        return -1;
    /* The padding first (no thread executes it while the entry is a NOP;
     * after a restore it already holds the same jmp, so only the target
     * changes, with one atomic store), then the entry. */
    static const unsigned char jmp[6] = {0xff, 0x25, 0, 0, 0, 0};
    if (memcmp((const void *)site->pad, jmp, 6) != 0)
        memcpy((void *)site->pad, jmp, 6);
    store_target(site->pad + 6, t);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    int8_t rel = (int8_t)((intptr_t)site->pad - (intptr_t)(site->nop + 2));
    unsigned char branch[2] = {0xeb, (unsigned char)rel};
    int swapped = swap_entry(site, site->orig_entry, branch);
    text_protect(site->pad, (site->nop + 2) - site->pad, 0);
    if (swapped != 0)
        return REDIRECT_EDEBUGGER; /* the padding stays: no thread runs it */
    site->armed = 1;
    site->target = target;
    return 0;
}

int redirect_restore(struct redirect_site *site)
{
    if (!site->armed)
        return 0;
    if (text_protect(site->nop, 2, 1) != 0)
        return -1;
    int8_t rel = (int8_t)((intptr_t)site->pad - (intptr_t)(site->nop + 2));
    unsigned char branch[2] = {0xeb, (unsigned char)rel};
    int swapped = swap_entry(site, branch, site->orig_entry);
    text_protect(site->nop, 2, 0);
    if (swapped != 0)
        return REDIRECT_EDEBUGGER;
    site->armed = 0;
    site->target = 0;
    return 0;
}

int redirect_busy(const struct redirect_site *site, uintptr_t pc)
{
    /* Between the two bytes of the entry is the only place a thread can be
     * that the 2-byte store would split: only a thread that passed the
     * first one-byte NOP before the entry became one instruction; the
     * padding is never executed before it is complete. */
    return pc > site->nop && pc < site->nop + 2;
}

#elif defined(__aarch64__)

#define A64_NOP 0xd503201fu
#define A64_LDR_X16_8 0x58000050u /* ldr x16, #8 */
#define A64_BR_X16 0xd61f0200u    /* br x16 */

static int is_bti(uint32_t insn)
{
    return (insn & 0xffffff3fu) == 0xd503241fu; /* bti, bti c/j/jc */
}

/* A debugger's software breakpoint (gdb: brk #0; any brk #imm). */
static int is_brk(uint32_t insn)
{
    return (insn & 0xffe0001fu) == 0xd4200000u;
}

/* Swaps one instruction unless something else (a debugger's brk) is
 * there now; see the x86-64 swap_entry. */
static int swap_entry(struct redirect_site *site, uint32_t from, uint32_t to)
{
    if (!__atomic_compare_exchange_n((uint32_t *)site->nop, &from, to, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return -1;
    flush(site->nop, 4);
    return 0;
}

int redirect_trapped(const struct redirect_site *site)
{
    return site->pad && is_brk(*(const volatile uint32_t *)site->nop);
}

int redirect_site_init(struct redirect_site *site, uintptr_t pad)
{
    memset(site, 0, sizeof *site);
    const uint32_t *p = (const uint32_t *)pad;
    for (int i = 0; i < ARCH_PAD_BEFORE / 4; i++)
        if (p[i] != A64_NOP) {
            site->debugger = is_brk(p[i]);
            return site->debugger ? REDIRECT_EINIT_DEBUGGER : -1;
        }
    uintptr_t entry = pad + ARCH_PAD_BEFORE;
    site->pad = pad;
    uintptr_t first = is_bti(*(const uint32_t *)entry) ? entry + 4 : entry;
    const uint32_t *e = (const uint32_t *)first;
    /* two NOPs: the slot is the second, gdb's `break f` goes on the first
     * (never written); one NOP (an older hot.h): it is the slot */
    site->nop = (e[0] == A64_NOP || is_brk(e[0])) && e[1] == A64_NOP ? first + 4 : first;
    uint32_t nop = A64_NOP;
    memcpy(site->orig_entry, &nop, 4);
    site->known = 1;
    /* a debugger's breakpoint there covers the NOP HOT emitted */
    if (*(const uint32_t *)site->nop != A64_NOP && !is_brk(*(const uint32_t *)site->nop))
        return -1;
    /* The entry is one instruction (NOP <-> B is a pair the architecture
     * allows to be changed while other cores execute it); the target is
     * data read by ldr, atomic when 8-byte aligned. */
    site->concurrent = (site->pad + 8) % 8 == 0;
    return 0;
}

static void store_target(uintptr_t at, uint64_t target)
{
    if (at % 8 == 0) {
        __atomic_store((uint64_t *)at, &target, __ATOMIC_SEQ_CST);
    } else {
        memcpy((void *)at, &target, 8);
    }
}

int redirect_set(struct redirect_site *site, uintptr_t target)
{
    size_t len = (site->nop + 4) - site->pad;
    if (text_protect(site->pad, len, 1) != 0)
        return -1;
    if (!site->armed) {
        uint32_t code[2] = {A64_LDR_X16_8, A64_BR_X16};
        memcpy((void *)site->pad, code, sizeof code);
        store_target(site->pad + 8, target);
        flush(site->pad, 16);
        int32_t words = (int32_t)((intptr_t)site->pad - (intptr_t)site->nop) / 4;
        uint32_t b = 0x14000000u | ((uint32_t)words & 0x03ffffffu);
        if (swap_entry(site, A64_NOP, b) != 0) {
            text_protect(site->pad, len, 0);
            return REDIRECT_EDEBUGGER;
        }
        site->armed = 1;
    } else {
        store_target(site->pad + 8, target);
        flush(site->pad + 8, 8);
    }
    text_protect(site->pad, len, 0);
    site->target = target;
    return 0;
}

int redirect_restore(struct redirect_site *site)
{
    if (!site->armed)
        return 0;
    if (text_protect(site->nop, 4, 1) != 0)
        return -1;
    int32_t words = (int32_t)((intptr_t)site->pad - (intptr_t)site->nop) / 4;
    uint32_t b = 0x14000000u | ((uint32_t)words & 0x03ffffffu);
    int swapped = swap_entry(site, b, A64_NOP);
    text_protect(site->nop, 4, 0);
    if (swapped != 0)
        return REDIRECT_EDEBUGGER;
    site->armed = 0;
    site->target = 0;
    return 0;
}

int redirect_busy(const struct redirect_site *site, uintptr_t pc)
{
    (void)site;
    (void)pc; /* every rewrite is one aligned instruction or data */
    return 0;
}

#else

int redirect_site_init(struct redirect_site *site, uintptr_t pad)
{
    memset(site, 0, sizeof *site);
    (void)pad;
    return -1;
}

int redirect_set(struct redirect_site *site, uintptr_t target)
{
    (void)site;
    (void)target;
    return -1;
}

int redirect_restore(struct redirect_site *site)
{
    (void)site;
    return 0;
}

int redirect_busy(const struct redirect_site *site, uintptr_t pc)
{
    (void)site;
    (void)pc;
    return 0;
}

#endif
