/* Pricing: what the current lot sells for. How the margin is computed
 * depends on the width of money, chosen by the build (-DLEDGER_WIDE_MONEY). */
#include "ledger.h"

struct lot current_lot = { .sku = 1001, .qty = 0, .unit_cost = 150 };
static struct price list; /* set once by pricing_init() */

#if LEDGER_WIDE_MONEY
/* 64-bit cents: a 25% margin, exact. */
static money_t margin(money_t cost)
{
    return cost * 125 / 100;
}
#else
/* 32-bit cents: a 25% margin, rounded down to whole cents. */
static money_t margin(money_t cost)
{
    return cost + cost / 4;
}
#endif

/* Sets the list price: the cost of one unit, in cents. */
void pricing_init(money_t cents)
{
    list.cents = cents;
}

/* The price of `qty` units of the current lot. */
HOT money_t price_of(units_t qty)
{
    current_lot.qty = qty;
    current_lot.unit_cost = list.cents;
    return margin(current_lot.unit_cost) * qty;
}
