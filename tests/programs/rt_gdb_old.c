/* rt_gdb built as with an older hot.h, whose HOT gave the entry only the
 * two bytes a reload writes: gdb's `break value` then covers them, and
 * test_gdb checks that such a reload is refused about the debugger, never
 * written under its breakpoint. */
#include <hot.h>

#if defined(__x86_64__)
#undef HOT
#define HOT __attribute__((noinline, used, aligned(16), patchable_function_entry(16, 14))) HOT__NOIPA
#endif

#include "rt_gdb.c"
