/* Patch for rt_guard: the new risky() dereferences NULL. */
#include <hot.h>

__attribute__((visibility("default"))) const char __hotc_target_build_id[] = HOTC_BUILD_ID;

int risky(int x) __asm__("__hotc_f_risky");
HOT int risky(int x)
{
    volatile int *p = (volatile int *)0;
    *p = x;
    return 3 * x;
}
