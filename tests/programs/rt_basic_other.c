/* rt_basic: the other translation unit, calling the HOT function. */
#include "rt_basic.h"

int step_from_other(void)
{
    return step();
}
