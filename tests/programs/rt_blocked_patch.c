/* Patch for rt_blocked: work() and other() answer the number after
 * HOTC_TAG_, which the test rewrites in each copy of the built library. */
#include <hot.h>

__attribute__((visibility("default"))) const char __hotc_target_build_id[] = HOTC_BUILD_ID;

static volatile const char tag[] = "HOTC_TAG_000000";

static int tag_value(void)
{
    int v = 0;
    for (int i = 9; tag[i]; i++)
        v = v * 10 + (tag[i] - '0');
    return v;
}

int work(int x) __asm__("__hotc_f_work");
HOT int work(int x)
{
    return tag_value() + x - x;
}

int other(int x) __asm__("__hotc_f_other");
HOT int other(int x)
{
    return tag_value() + x - x;
}
