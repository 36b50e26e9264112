/* The HOT function step() and the counters it keeps, as rt_basic_patch.c
 * expects them: a global, a file-scope static (f_count) and a
 * function-local static (l_count), all incremented by every version, and
 * step_ptr, a pointer taken before any reload. Included by exactly one .c
 * file of each program (rt_basic_main.c, rt_aarch64.c), so that the statics
 * belong to that file: reload messages name it as their "file". */
#ifndef RT_BASIC_STEP_H
#define RT_BASIC_STEP_H

#include <hot.h>

#include "rt_basic.h"

int g_count;
int last_local;
int last_file;
static int f_count;
/* The program's own l_count, taken by the original step() on its first call
 * (patches never set it), so that the program can print its own counters,
 * not what a patch says it wrote. */
int *host_l_count;

HOT int step(void)
{
    static int l_count;
    if (!host_l_count)
        host_l_count = &l_count;
    g_count++;
    f_count++;
    l_count++;
    last_local = l_count;
    last_file = f_count;
    return 100;
}

int (*volatile step_ptr)(void) = step;

#endif
