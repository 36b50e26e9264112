/* rt_pair: two HOT functions that a reload changes together. Three worker
 * threads call first() then second() in a tight loop; a patch makes both
 * answer the same new number, written first() then second(). A worker that
 * gets the new first() and then the old second() in one iteration ran
 * between the two writes: it was not stopped (counted in `torn`). main
 * prints "first=X second=Y v=V" whenever what it sees changes, and at the
 * end (hot_version() reaching argv[1], or SIGTERM) "torn=N calls=M". The
 * mode comes from HOTC_MODE. */
#include <hot.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

HOT int first(int x)
{
    return x - x; /* version 0 */
}

HOT int second(int x)
{
    return x - x;
}

#define WORKERS 3

static volatile sig_atomic_t quit;
static volatile int stop;
static long torn[WORKERS], calls[WORKERS];

static void on_term(int sig)
{
    (void)sig;
    quit = 1;
}

static void *worker(void *arg)
{
    long i = (long)arg;
    while (!stop) {
        int x = first(1);
        int y = second(1);
        if (x > y)
            torn[i]++;
        calls[i]++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGTERM, on_term);
    int target = argc > 1 ? atoi(argv[1]) : 1 << 30;
    hot_init(NULL);
    pthread_t threads[WORKERS];
    for (long i = 0; i < WORKERS; i++)
        pthread_create(&threads[i], NULL, worker, (void *)i);
    int seen_x = -1, seen_y = -1, seen_v = -1;
    for (long ms = 0; !quit && ms < 120000; ms++) {
        hot_poll();
        int v = hot_version();
        int x = first(1), y = second(1);
        if (x != seen_x || y != seen_y || v != seen_v) {
            printf("first=%d second=%d v=%d\n", x, y, v);
            seen_x = x;
            seen_y = y;
            seen_v = v;
        }
        if (v >= target)
            break;
        usleep(1000);
    }
    stop = 1;
    long t = 0, c = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(threads[i], NULL);
        t += torn[i];
        c += calls[i];
    }
    hot_shutdown();
    printf("torn=%ld calls=%ld\n", t, c);
    return 0;
}
