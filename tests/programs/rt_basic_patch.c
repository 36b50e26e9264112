/* A patch library for rt_basic, written by hand the way the server writes
 * them (docs/protocol.md, "Patch library conventions"). TAG is the answer
 * of the new step(); UNDEFINED adds a call to a function nobody defines. */
#include <hot.h>

#include "rt_basic.h"

#ifndef TAG
#define TAG 200
#endif

__attribute__((visibility("default"))) const char __hotc_target_build_id[] = HOTC_BUILD_ID;

extern int f_count __asm__("__hotc_s_0") __attribute__((weak));

#ifdef UNDEFINED
int missing_function_xyz(void);
#endif

int step(void) __asm__("__hotc_f_step");
HOT int step(void)
{
    extern int l_count __asm__("__hotc_s_1") __attribute__((weak));
    g_count++;
    f_count++;
    l_count++;
    last_local = l_count;
    last_file = f_count;
#ifdef UNDEFINED
    return missing_function_xyz();
#else
    return TAG;
#endif
}
