/* stopworld: stop-the-world with a signal. See stopworld.h.
 *
 * Each stop is a round with its own generation number. The handler records
 * its thread's program counter, counts itself in, and sleeps on a futex
 * until the generation moves on. Nothing between stop and resume may take a
 * lock another thread could hold (no malloc, no stdio). */
#include "stopworld.h"

#include "arch.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define STOP_SIGNAL (SIGRTMIN + 7)
#define MAX_THREADS 1024

static int installed;
static volatile int generation;   /* futex word; changes on resume */
static volatile int stop_round;   /* the round the handler should join */
static int slots;                 /* next free pcs_buf slot this round */
static int ready;                 /* threads whose pc is recorded */
static uintptr_t pcs_buf[MAX_THREADS];
static pid_t stopped[MAX_THREADS];
static size_t nstopped;
static DIR *task_dir;             /* opened before, closed after a round */

pid_t stopworld_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static void futex_wait(volatile int *word, int value)
{
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

static void futex_wake(volatile int *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

static void on_stop(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)info;
    int saved = errno;
    int gen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&stop_round, __ATOMIC_ACQUIRE) != gen + 1) {
        errno = saved; /* a late signal of a finished round */
        return;
    }
    int slot = __atomic_fetch_add(&slots, 1, __ATOMIC_ACQ_REL);
    if (slot < MAX_THREADS)
        __atomic_store_n(&pcs_buf[slot], ARCH_UCONTEXT_PC((ucontext_t *)ctx), __ATOMIC_RELEASE);
    __atomic_fetch_add(&ready, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&generation, __ATOMIC_ACQUIRE) == gen)
        futex_wait(&generation, gen);
    errno = saved;
}

int stopworld_init(void)
{
    if (__atomic_load_n(&installed, __ATOMIC_ACQUIRE))
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_stop;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask); /* nothing else runs on a stopped thread */
    sigdelset(&sa.sa_mask, SIGSEGV);
    sigdelset(&sa.sa_mask, SIGBUS);
    sigdelset(&sa.sa_mask, SIGILL);
    sigdelset(&sa.sa_mask, SIGFPE);
    if (sigaction(STOP_SIGNAL, &sa, NULL) != 0)
        return -1;
    __atomic_store_n(&installed, 1, __ATOMIC_RELEASE);
    return 0;
}

/* Whether thread `tid` sleeps in a system call now: the first field of
 * /proc/self/task/<tid>/syscall is then its number (the kernel reads it
 * only while the thread is off the CPU and sleeping; "running" or "-1"
 * otherwise, the latter for a thread blocked outside a system call, in a
 * page fault say, whose pc may be anywhere). Allocation- and lock-free: the
 * world is half stopped when this runs. */
static int blocked_in_syscall(pid_t tid)
{
    char path[64] = "/proc/self/task/";
    size_t n = strlen(path);
    char digits[16];
    size_t nd = 0;
    for (unsigned v = (unsigned)tid; nd == 0 || v; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    while (nd > 0)
        path[n++] = digits[--nd];
    memcpy(path + n, "/syscall", sizeof "/syscall");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[8];
    ssize_t r = read(fd, buf, sizeof buf);
    close(fd);
    return r > 0 && buf[0] >= '0' && buf[0] <= '9';
}

static int already(pid_t tid)
{
    for (size_t i = 0; i < nstopped; i++)
        if (stopped[i] == tid)
            return 1;
    return 0;
}

/* Signals every thread in /proc/self/task not yet signalled, except, with
 * `skip_blocked`, those sleeping in a system call (checked again at every
 * listing, so one that wakes up before the last listing is stopped too).
 * Returns how many were newly signalled. */
static int signal_new(pid_t self, pid_t skip, int skip_blocked, DIR *dir)
{
    int added = 0;
    pid_t pid = getpid();
    rewinddir(dir);
    for (struct dirent *e; (e = readdir(dir));) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid == self || tid == skip || already(tid) || nstopped >= MAX_THREADS)
            continue;
        if (skip_blocked && blocked_in_syscall(tid))
            continue;
        if (syscall(SYS_tgkill, pid, tid, STOP_SIGNAL) == 0) {
            stopped[nstopped++] = tid;
            added++;
        }
    }
    return added;
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int stopworld_stop(pid_t skip, int timeout_ms, int skip_blocked, const uintptr_t **pcs)
{
    if (stopworld_init() != 0)
        return -1;
    /* opendir allocates: do it while nobody is stopped. */
    task_dir = opendir("/proc/self/task");
    if (!task_dir)
        return -1;
    pid_t self = stopworld_gettid();
    nstopped = 0;
    __atomic_store_n(&slots, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&ready, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&stop_round, __atomic_load_n(&generation, __ATOMIC_ACQUIRE) + 1, __ATOMIC_RELEASE);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    signal_new(self, skip, skip_blocked, task_dir);
    /* Wait until every signalled thread is in; a thread created meanwhile is
     * found by the next listing. */
    for (;;) {
        int r = __atomic_load_n(&ready, __ATOMIC_ACQUIRE);
        if ((size_t)r == nstopped) {
            if (signal_new(self, skip, skip_blocked, task_dir) == 0)
                break;
            continue;
        }
        if (elapsed_ms(&t0) > timeout_ms) {
            /* A thread that exited after the listing never arrives. */
            size_t alive = 0;
            for (size_t i = 0; i < nstopped; i++)
                if (syscall(SYS_tgkill, getpid(), stopped[i], 0) == 0)
                    alive++;
            if (alive <= (size_t)r)
                break;
            stopworld_resume();
            return -1;
        }
        sched_yield();
    }
    *pcs = pcs_buf;
    int n = __atomic_load_n(&ready, __ATOMIC_ACQUIRE);
    return n < MAX_THREADS ? n : MAX_THREADS;
}

void stopworld_resume(void)
{
    __atomic_store_n(&stop_round, 0, __ATOMIC_RELEASE);
    __atomic_fetch_add(&generation, 1, __ATOMIC_ACQ_REL);
    futex_wake(&generation);
    if (task_dir) {
        closedir(task_dir);
        task_dir = NULL;
    }
}
