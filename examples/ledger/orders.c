/* Shipping: customer orders queue up in a file-scope book and are filled
 * from stock, a few units per tick. */
#include "ledger.h"

static struct order_book {
    int open; /* units ordered, not shipped yet */
    long filled;
    int next_id;
    int backlog[4]; /* open units at the last four ticks */
} book;

/* How many of `want` units one shipment can take. */
static HOT units_t fill(units_t want)
{
    units_t cap = 2;
    return want < cap ? want : cap;
}

/* Queues `demand` units and ships what stock and capacity allow; returns
 * the units shipped. */
HOT int orders_tick(int demand)
{
    int n = fill(demand);

    book.open += demand;
    if (n > LG(units))
        n = (int)LG(units);
    if (n > book.open)
        n = book.open;
    book.open -= n;
    book.filled += n;
    book.backlog[book.next_id++ % 4] = book.open;
    LG(units) -= n;
    LG(shipped) += n;
    return n;
}

long orders_filled(void)
{
    return book.filled;
}
