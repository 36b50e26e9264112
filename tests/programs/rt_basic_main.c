/* rt_basic: a program for the runtime's tests. step() is HOT and counts in
 * a global, a file-scope static and a function-local static; main calls it
 * directly, through a pointer taken before any reload, and from another
 * translation unit, and prints a line whenever the running version or the
 * code's answer changes. SIGTERM ends it through hot_shutdown(). */
#include <hot.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_basic_step.h"

static volatile sig_atomic_t quit;

/* A static HOT function: attach names it with its file. */
static HOT int twice(int x)
{
    return 2 * x;
}

static void on_term(int sig)
{
    (void)sig;
    quit = 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGTERM, on_term);
    int rc = hot_init(NULL);
    if (rc != 0)
        printf("hot_init: %s\n", hot_strerror(rc));
    int seen_v = -1, seen_a = -1, lines = 0;
    long limit = argc > 1 ? atol(argv[1]) : 60000; /* ms, a safety net */
    for (long ms = 0; !quit && ms < limit * 2; ms++) {
        hot_poll();
        int v = hot_version();
        int a = step(), b = step_ptr(), c = step_from_other();
        if (v != seen_v || a != seen_a || b != a || c != a) {
            /* f and l are the program's own statics, read here, not what
             * the running step() reports: a patch bound to the wrong
             * variable would leave one of them behind. */
            printf("v=%d direct=%d ptr=%d other=%d g=%d f=%d l=%d n=%d twice=%d\n", v, a, b, c, g_count,
                   f_count, *host_l_count, lines++, twice(1));
            seen_v = v;
            seen_a = a;
        }
        usleep(500);
    }
    hot_shutdown();
    printf("bye g=%d\n", g_count);
    return 0;
}
