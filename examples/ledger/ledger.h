/* What the ledger's files share: the HOT functions of each module and the
 * few globals that cross files. */
#ifndef LEDGER_LEDGER_H
#define LEDGER_LEDGER_H

#include <hot.h>

#include "types.h"

extern flags_t policy; /* audit.c */

/* stock.c: one delivery per tick; returns the units received. */
int stock_tick(void);

/* orders.c: ships what it can of `demand` units; returns the units shipped. */
int orders_tick(int demand);
long orders_filled(void);

/* audit.c: checks the stock against the policy; returns the policy's grade. */
int audit_check(void);

/* pricing.c: the price of `qty` units of the current lot. */
void pricing_init(money_t cents);
money_t price_of(units_t qty);

/* report.c: prints one status line. */
void report_line(int in, int out, int audit, money_t price);

#endif
