/* Reporting: one status line per tick, with the trend of the last ticks. */
#include <stdio.h>

#include "ledger.h"

static const char *const move_names[] = { "receive", "ship", "return" };
static int recent[8]; /* units in minus units out, per tick, as a ring */

/* Prints the status line of this tick. */
HOT void report_line(int in, int out, int audit, money_t price)
{
    int trend = 0;

    recent[LG(tick) % 8] = in - out;
    for (int i = 0; i < 8; i++)
        trend += recent[i];
    printf("tick=%ld units=%ld in=%d out=%d filled=%ld audit=%d price=" MONEY_FMT " trend=%d last=%s "
           "tag=a version=%d\n",
           LG(tick), LG(units), in, out, orders_filled(), audit, price, trend, move_names[LG(last_move)],
           hot_version());
}
