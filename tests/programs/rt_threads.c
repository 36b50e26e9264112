/* rt_threads: 4 threads call the HOT function work() in a tight loop while
 * the runtime, in automatic mode, applies reloads without hot_poll; a fifth
 * thread sits blocked in read() the whole time. argv[1]: the version to
 * wait for. Prints what each thread saw, then exits. */
#include <hot.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 4

static volatile int stop;
static int pipefd[2];

HOT int work(int x)
{
    return x - x; /* version 0 */
}

struct worker {
    pthread_t thread;
    long calls;
    int regressions;
    int last;
};

static void *run(void *arg)
{
    struct worker *w = arg;
    while (!stop) {
        int v = work(1);
        if (v < w->last)
            w->regressions++;
        w->last = v;
        w->calls++;
        if ((w->calls & 1023) == 0)
            sched_yield(); /* two cores shared with others: let the stopper in */
    }
    w->last = work(1);
    return NULL;
}

static ssize_t read_result;
static int read_errno;

static void *reader(void *arg)
{
    (void)arg;
    char c;
    read_result = read(pipefd[0], &c, 1);
    read_errno = read_result < 0 ? errno : 0;
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int target = argc > 1 ? atoi(argv[1]) : 10;
    if (pipe(pipefd) != 0)
        return 1;
    pthread_t rd;
    pthread_create(&rd, NULL, reader, NULL);
    struct worker w[THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&w[i].thread, NULL, run, &w[i]);
    int rc = hot_init_mode(NULL, HOT_MODE_AUTO);
    printf("ready rc=%d\n", rc);
    for (int waited = 0; hot_version() < target && waited < 600000; waited++)
        usleep(1000);
    stop = 1;
    for (int i = 0; i < THREADS; i++)
        pthread_join(w[i].thread, NULL);
    if (write(pipefd[1], "x", 1) != 1)
        return 1;
    pthread_join(rd, NULL);
    for (int i = 0; i < THREADS; i++)
        printf("thread %d last=%d calls=%ld regressions=%d\n", i, w[i].last, w[i].calls, w[i].regressions);
    printf("read=%zd errno=%d version=%d\n", read_result, read_errno, hot_version());
    hot_shutdown();
    return 0;
}
