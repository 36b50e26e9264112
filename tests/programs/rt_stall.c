/* rt_stall: a program whose loop must keep running whatever the server
 * does. It calls hot_poll() in a loop and prints "beat N" every BEAT
 * iterations. With the argument "crash" every iteration also crashes under
 * hot_guard, so that each one hands the runtime a hot/crash notification
 * to send. A second argument N > 0 makes it call hot_shutdown() after beat
 * N, print "shut down" and exit; SIGTERM ends it the same way. */
#include <hot.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BEAT 1000

static volatile sig_atomic_t quit;

static void on_term(int sig)
{
    (void)sig;
    quit = 1;
}

static void crash(void *arg)
{
    (void)arg;
    raise(SIGSEGV);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGTERM, on_term);
    int crashing = argc > 1 && strcmp(argv[1], "crash") == 0;
    long beats = argc > 2 ? atol(argv[2]) : 0;
    int rc = hot_init(NULL);
    if (rc != 0)
        printf("hot_init: %s\n", hot_strerror(rc));
    time_t start = time(NULL);
    for (long i = 1; !quit && time(NULL) - start < 300; i++) { /* a safety net */
        hot_poll();
        if (crashing) {
            rc = hot_guard(crash, NULL);
            if (rc != HOT_ECRASHED) {
                printf("hot_guard returned %d\n", rc);
                return 1;
            }
        } else {
            struct timespec ts = {0, 10000}; /* 10 us */
            nanosleep(&ts, NULL);
        }
        if (i % BEAT == 0) {
            printf("beat %ld\n", i / BEAT);
            if (beats > 0 && i / BEAT >= beats)
                break;
        }
    }
    hot_shutdown();
    printf("shut down\n");
    return 0;
}
