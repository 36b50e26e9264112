/* arch.h: the few facts about the processor that the runtime depends on, in
 * one place so that another architecture is one more block here (plus the
 * instruction encodings in redirect.c). */
#ifndef HOTC_ARCH_H
#define HOTC_ARCH_H

#include <elf.h>

#if defined(__x86_64__)
#define ARCH_NAME "x86_64"
#define ARCH_ELF_MACHINE EM_X86_64
#define ARCH_PAD_BEFORE 14 /* bytes of padding before the entry (hot.h) */
#define ARCH_R_ABS64 R_X86_64_64
#define ARCH_R_GLOB_DAT R_X86_64_GLOB_DAT
#define ARCH_R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define ARCH_UCONTEXT_PC(uc) ((uintptr_t)(uc)->uc_mcontext.gregs[REG_RIP])
#elif defined(__aarch64__)
#define ARCH_NAME "aarch64"
#define ARCH_ELF_MACHINE EM_AARCH64
#define ARCH_PAD_BEFORE 16 /* 4 instructions */
#define ARCH_R_ABS64 R_AARCH64_ABS64
#define ARCH_R_GLOB_DAT R_AARCH64_GLOB_DAT
#define ARCH_R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define ARCH_UCONTEXT_PC(uc) ((uintptr_t)(uc)->uc_mcontext.pc)
#else
#define ARCH_NAME "unsupported"
#define ARCH_ELF_MACHINE EM_NONE
#define ARCH_UNSUPPORTED 1
#define ARCH_PAD_BEFORE 0
#define ARCH_R_ABS64 0
#define ARCH_R_GLOB_DAT 0
#define ARCH_R_JUMP_SLOT 0
#define ARCH_UCONTEXT_PC(uc) ((uintptr_t)0)
#endif

#endif
