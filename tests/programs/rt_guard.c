/* rt_guard: calls the HOT function risky() under hot_guard (or, with the
 * argument "unguarded", directly; with "own", directly after installing its
 * own SIGSEGV handler, which exits with status 3) and prints what happened
 * whenever it changes. */
#include <hot.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void own_handler(int sig)
{
    (void)sig;
    _exit(3);
}

HOT int risky(int x)
{
    return 2 * x;
}

static void call(void *arg)
{
    int *io = arg;
    io[1] = risky(io[0]);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int own = argc > 1 && strcmp(argv[1], "own") == 0;
    int guarded = !(argc > 1 && (strcmp(argv[1], "unguarded") == 0 || own));
    hot_init(NULL);
    if (own) {
        /* after hot_init: the runtime's handler is replaced */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = own_handler;
        sigaction(SIGSEGV, &sa, NULL);
        printf("own handler\n");
    }
    int seen = -1, seen_rc = 1;
    for (int i = 0; i < 60000; i++) {
        hot_poll();
        int io[2] = {21, 0};
        int rc = 0;
        if (guarded)
            rc = hot_guard(call, io);
        else
            call(io);
        if (io[1] != seen || rc != seen_rc) {
            printf("v=%d rc=%d r=%d\n", hot_version(), rc, io[1]);
            seen = io[1];
            seen_rc = rc;
        }
        usleep(1000);
    }
    return 0;
}
