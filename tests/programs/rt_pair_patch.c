/* Patch for rt_pair: first() and second() answer the number after
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

int first(int x) __asm__("__hotc_f_first");
HOT int first(int x)
{
    return tag_value() + x - x;
}

int second(int x) __asm__("__hotc_f_second");
HOT int second(int x)
{
    return tag_value() + x - x;
}
