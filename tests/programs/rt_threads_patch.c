/* Patch for rt_threads: work() answers the number after HOTC_TAG_, which the
 * test rewrites in each copy of the built library (one build, 1000 loads). */
#include <hot.h>

__attribute__((visibility("default"))) const char __hotc_target_build_id[] = HOTC_BUILD_ID;

static volatile const char tag[] = "HOTC_TAG_000000";

int work(int x) __asm__("__hotc_f_work");
HOT int work(int x)
{
    int v = 0;
    for (int i = 9; tag[i]; i++)
        v = v * 10 + (tag[i] - '0');
    return v + x - x;
}
