/* redirect: sending calls of a HOT function to new code by rewriting its
 * patchable padding and entry (see hot.h for the layout).
 *
 *   x86-64   padding: jmp *0(%rip); .quad target     slot: jmp to the padding (EB xx)
 *   aarch64  padding: ldr x16, #8; br x16; .quad t   slot: b to the padding
 *
 * The slot is the entry's last NOP(s): x86-64 gcc emits four one-byte NOPs
 * at the entry and the slot is the last two; aarch64 two NOPs, the slot is
 * the second. On x86-64 the first one is where gdb puts `break f` with gcc
 * (its prologue analysis stops at a NOP; gcc's line table starts there),
 * and the runtime never writes it: a debugger's breakpoint there never
 * blocks a reload, gdb steps the NOP and reaches the branch, and the byte
 * gdb saved stays right. x86-64 clang emits one 2-byte NOP (66 90), which
 * is the slot (gdb breaks after it, from clang's line table); so is the
 * entry of an executable built with an older hot.h (two NOPs on x86-64, one
 * on aarch64). On aarch64 gcc's line table starts after the NOPs, so gdb's
 * `break f` lands past them (read from the line table; no aarch64 gdb was
 * run); the first NOP stays unwritten for a debugger that breaks on the
 * symbol itself.
 *
 * The first redirection writes the padding, then replaces the slot's NOPs
 * with one atomic store; later ones rewrite only the 8-byte target; a restore
 * puts the slot's NOPs back. An endbr64 (x86, -fcf-protection) or bti
 * (aarch64) at the entry is kept: the NOPs follow it (gdb then breaks on
 * the endbr64, which is not written either). */
#ifndef HOTC_REDIRECT_H
#define HOTC_REDIRECT_H

#include <stddef.h>
#include <stdint.h>

struct redirect_site {
    uintptr_t pad;    /* start of the padding */
    uintptr_t nop;    /* the slot: the entry NOP(s) that become a branch */
    uintptr_t target; /* current target, 0 when not redirected */
    int armed;        /* padding written and entry branching */
    int concurrent;   /* every write is safe for a thread running there */
    int known;        /* orig_entry is known (not while a breakpoint covers the slot) */
    int debugger;     /* init refused: a debugger's breakpoint lay in the padding or entry */
    unsigned char orig_entry[4];
};

/* Checks that `pad` starts HOT padding as this runtime expects (NOPs where
 * they should be) and fills `site`. On x86-64 it also turns the entry's two
 * one-byte NOPs into one two-byte NOP (safe at any time, see redirect.c).
 * Returns 0, or -1 when the bytes are not what HOT emits (then nothing may
 * be written there).
 *
 * `site->concurrent` then tells whether every later write (redirect_set,
 * redirect_restore) is safe for a thread that runs through the site at the
 * same moment: it executes either the old or the new entry, never a torn
 * one, and a redirected entry only ever leads to a complete padding and
 * target. x86-64: the entry is one instruction, and it and the target each
 * lie in one aligned 16-byte block. aarch64: the target is 8-byte aligned.
 * Otherwise writes need every thread stopped. */
int redirect_site_init(struct redirect_site *site, uintptr_t pad);

/* What redirect_site_init returns when the bytes would be HOT's but for a
 * debugger's breakpoint where gdb does not put `break f` (an address
 * breakpoint in the padding): `site->debugger` is set, nothing written;
 * once the breakpoint is gone a new redirect_site_init succeeds. */
#define REDIRECT_EINIT_DEBUGGER (-3)

/* What redirect_set and redirect_restore return when a debugger's
 * breakpoint sits on the slot: nothing was written there (writing over it
 * would crash the program once the debugger puts its saved byte back). Only
 * a slot that is the entry's first instruction gets gdb's `break f`: the
 * entry of an executable built with an older hot.h. */
#define REDIRECT_EDEBUGGER (-2)

/* Whether a debugger's software breakpoint (int3, brk) is on the slot now.
 * redirect_site_init accepts one there (a program started under gdb with
 * `break f`): the function stays reloadable once it is removed. */
int redirect_trapped(const struct redirect_site *site);

/* Points the site at `target`. The text pages are made writable just for the
 * write. Returns 0, -1 (mprotect failed; nothing changed) or
 * REDIRECT_EDEBUGGER (the entry was left as it is). */
int redirect_set(struct redirect_site *site, uintptr_t target);

/* Puts the original entry back: calls run the executable's own code again
 * (the padding stays, for a later redirect_set). Returns 0 (also when the
 * site was not redirected), -1 when mprotect failed (nothing changed), or
 * REDIRECT_EDEBUGGER (a debugger's breakpoint is on the entry; unchanged). */
int redirect_restore(struct redirect_site *site);

/* Whether a thread stopped at `pc` would resume inside an instruction that
 * redirect_set or redirect_restore rewrites (it must not be stopped there). */
int redirect_busy(const struct redirect_site *site, uintptr_t pc);

#endif
