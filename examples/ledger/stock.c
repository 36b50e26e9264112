/* Receiving: one lot arrives every tick. All the counting goes to the
 * global ledger through LG(), the way a program keeps one state struct
 * behind a macro. */
#include "ledger.h"

/* Receives one lot; returns its units. */
HOT int stock_tick(void)
{
    int lot = 3;

    LG(tick)++;
    LG(units) += lot;
    LG(received) += lot;
    LG(value) += (money_t)lot * 150;
    LG(last_move) = MOVE_RECEIVE;
    return lot;
}
