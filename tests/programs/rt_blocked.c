/* rt_blocked: automatic mode must not disturb the program's own system
 * calls. Five threads sleep in poll(), nanosleep(), read(), epoll_wait() and
 * select() (each on its own pipe, nanosleep for argv[2] ms at a time) while
 * the runtime applies reloads, and a worker calls the HOT functions work()
 * and other() in a tight loop, so that reloads of two functions have a
 * thread to stop. Each sleeper counts the calls that fail with EINTR. When
 * hot_version() reaches argv[1], main wakes them (a byte on each pipe) and
 * each calls work() and other() once more: the newest code. */
#include <hot.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

HOT int work(int x)
{
    return x - x; /* version 0 */
}

HOT int other(int x)
{
    return x - x;
}

enum { POLL, SLEEP, READ, EPOLL, SELECT, SLEEPERS };
static const char *const names[SLEEPERS] = {"poll", "nanosleep", "read", "epoll_wait", "select"};

struct sleeper {
    int kind;
    int pipe[2];
    pthread_t thread;
    int eintr, calls, other_errors, work_v, other_v;
};

static volatile int stop;
static long sleep_ms = 2000;

/* One blocking call of the sleeper's kind. Returns what it returned. */
static long block(struct sleeper *s)
{
    int fd = s->pipe[0];
    switch (s->kind) {
    case POLL: {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        return poll(&p, 1, -1);
    }
    case SLEEP: {
        struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000};
        return nanosleep(&ts, NULL);
    }
    case READ: {
        char c;
        return read(fd, &c, 1);
    }
    case EPOLL: {
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd}, out;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        int r = epoll_wait(ep, &out, 1, -1);
        int e = errno;
        close(ep);
        errno = e;
        return r;
    }
    default: {
        fd_set set;
        FD_ZERO(&set);
        FD_SET(fd, &set);
        return select(fd + 1, &set, NULL, NULL, NULL);
    }
    }
}

static void *sleeper_run(void *arg)
{
    struct sleeper *s = arg;
    while (!stop) {
        errno = 0;
        long r = block(s);
        s->calls++;
        if (r < 0 && errno == EINTR) {
            s->eintr++;
            printf("EINTR in %s\n", names[s->kind]);
        } else if (r < 0) {
            s->other_errors++;
        } else if (s->kind != SLEEP) {
            break; /* woken by main's byte */
        }
    }
    s->work_v = work(1);
    s->other_v = other(1);
    return NULL;
}

static void *worker_run(void *arg)
{
    int *last = arg;
    long calls = 0;
    while (!stop) {
        last[0] = work(1);
        last[1] = other(1);
        if ((++calls & 1023) == 0)
            sched_yield(); /* two cores shared with others */
    }
    last[0] = work(1);
    last[1] = other(1);
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int target = argc > 1 ? atoi(argv[1]) : 10;
    if (argc > 2)
        sleep_ms = atol(argv[2]);
    struct sleeper s[SLEEPERS];
    memset(s, 0, sizeof s);
    for (int i = 0; i < SLEEPERS; i++) {
        s[i].kind = i;
        if (pipe(s[i].pipe) != 0)
            return 1;
        pthread_create(&s[i].thread, NULL, sleeper_run, &s[i]);
    }
    int last[2] = {0, 0};
    pthread_t worker;
    pthread_create(&worker, NULL, worker_run, last);
    int rc = hot_init_mode(NULL, HOT_MODE_AUTO);
    printf("ready rc=%d\n", rc);
    for (int waited = 0; hot_version() < target && waited < 600000; waited++)
        usleep(1000);
    stop = 1;
    pthread_join(worker, NULL);
    for (int i = 0; i < SLEEPERS; i++) {
        if (write(s[i].pipe[1], "x", 1) != 1)
            return 1;
        pthread_join(s[i].thread, NULL);
    }
    printf("worker work=%d other=%d\n", last[0], last[1]);
    for (int i = 0; i < SLEEPERS; i++)
        printf("%s eintr=%d errors=%d calls=%d work=%d other=%d\n", names[i], s[i].eintr,
               s[i].other_errors, s[i].calls, s[i].work_v, s[i].other_v);
    printf("version=%d\n", hot_version());
    hot_shutdown();
    return 0;
}
