/* Patch for rt_gdb: value() returns 3x + 1 (FACTOR x + 1). Its lines are rt_gdb.c's (as
 * the server's patches say with #line), so that a breakpoint on
 * rt_gdb.c:11 gets a location in the patch too. */
#include <hot.h>

__attribute__((visibility("default"))) const char __hotc_target_build_id[] = HOTC_BUILD_ID;

#ifndef FACTOR
#define FACTOR 3 /* test_gdb's second patch: 5 */
#endif

int value(int x) __asm__("__hotc_f_value");
#line 8 "rt_gdb.c"
HOT int value(int x)
{
    int y = x * FACTOR;
    return y + 1; /* rt_gdb.c:11 */
}
