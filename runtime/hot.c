/* Bootstrap of libhotc's public entry points; replaced by the runtime proper. */
#include "hot.h"

HOT_API int hot_version(void)
{
    return 0;
}
