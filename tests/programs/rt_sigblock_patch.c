/* Patch for rt_sigblock's odd(): answers 1. */
#include <hot.h>

__attribute__((visibility("default"))) const char __hotc_target_build_id[] = HOTC_BUILD_ID;

int odd(void) __asm__("__hotc_f_odd");
int odd(void)
{
    return 1;
}
