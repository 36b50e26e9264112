/* The ledger's core types: money (whose width the build chooses with
 * -DLEDGER_WIDE_MONEY), a lot of goods, and the one global ledger, which
 * the code reaches only through LG(). Included by types.h, not directly. */
#ifndef LEDGER_CORE_H
#define LEDGER_CORE_H

#if LEDGER_WIDE_MONEY
typedef long long money_t; /* cents, 64 bits: no overflow in long runs */
#define MONEY_FMT "%lld"
struct price {
    money_t cents;
    short scale; /* decimal places shown */
};
#else
typedef int money_t; /* cents, 32 bits: enough for a small shop */
#define MONEY_FMT "%d"
struct price {
    money_t cents;
};
#endif

/* Goods received together, at one cost. */
struct lot {
    int sku;
    int qty;
    money_t unit_cost;
};

/* Everything the warehouse counts. One instance, ledger_state, defined in
 * main.c; read and written through LG(field). */
struct ledger {
    long tick;
    long units; /* in stock */
    long received;
    long shipped;
    money_t value; /* of the stock, in cents */
    int last_move; /* enum movement */
};

extern struct ledger ledger_state;
#define LG(field) (ledger_state.field)

#endif
