/* The warehouse's vocabulary on top of core.h: movements of goods, the
 * restocking policy, catalogue items and suppliers. */
#ifndef LEDGER_TYPES_H
#define LEDGER_TYPES_H

#include "core.h"

typedef int units_t; /* a count of goods */

enum movement {
    MOVE_RECEIVE,
    MOVE_SHIP,
    MOVE_RETURN,
};

/* The restocking policy, packed in one word. */
typedef struct {
    unsigned restock : 3;  /* lots to order when stock runs low */
    unsigned priority : 5; /* of the supplier's delivery */
    int reorder_at;        /* units */
} flags_t;

struct item {
    int sku;
    int on_hand;
    struct price price;
};

/* Listed for the supplier report to come; no code uses it yet. */
struct supplier {
    int id;
    char name[16];
};

#endif
