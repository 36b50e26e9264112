/* rt_guard: calls the HOT function risky() under hot_guard (or, with the
 * argument "unguarded", directly) and prints what happened whenever it
 * changes. */
#include <hot.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
    int guarded = !(argc > 1 && strcmp(argv[1], "unguarded") == 0);
    hot_init(NULL);
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
