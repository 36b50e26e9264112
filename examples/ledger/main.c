/* ledger: a small warehouse simulation for trying hotc on a program split
 * like a real one (six files, types two headers deep, a global reached
 * through a macro, file-scope state, bit-fields, an enum, and types chosen
 * by -D flags). Every tick it receives a lot, ships orders, audits the
 * stock, prices the shipment and prints one status line:
 *
 *   tick=12 units=13 in=3 out=2 filled=22 audit=25 price=374 trend=8 last=receive tag=a version=0
 *
 * Every function printed there is HOT: edit one, save, and the next line
 * shows it while tick, units and filled keep counting.
 *
 *   ./ledger                       a tick every 100 ms, until Ctrl-C
 *   ./ledger --period 20           a tick every 20 ms
 *   ./ledger --ticks 30            stop after 30 ticks
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"

struct ledger ledger_state;

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
}

int main(int argc, char **argv)
{
    long period_ms = 100, ticks = -1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--period") == 0 && i + 1 < argc) {
            period_ms = atol(argv[++i]);
        } else if (strcmp(argv[i], "--ticks") == 0 && i + 1 < argc) {
            ticks = atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: ledger [--period MS] [--ticks N]\n");
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    pricing_init(150);
    hot_init(NULL);
    while (!quit && (ticks < 0 || LG(tick) < ticks)) {
        hot_poll();
        int in = stock_tick();
        int out = orders_tick(3);
        int audit = audit_check();
        report_line(in, out, audit, price_of(out));
        usleep((useconds_t)period_ms * 1000);
    }
    hot_shutdown();
    printf("closed tick=%ld units=%ld filled=%ld\n", LG(tick), LG(units), orders_filled());
    return 0;
}
