/* Auditing: compares the stock with the restocking policy. */
#include "ledger.h"

flags_t policy = { .restock = 2, .priority = 5, .reorder_at = 40 };
static long alarms; /* ticks spent under the reorder level */

/* Counts a tick under the reorder level; returns the policy's grade. */
HOT int audit_check(void)
{
    if (LG(units) < policy.reorder_at)
        alarms++;
    return (int)policy.restock * 10 + (int)policy.priority;
}
