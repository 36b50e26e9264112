/* stopworld: stop-the-world with a signal. See stopworld.h.
 *
 * Each stop is a round with its own number, published in `round_id` (the
 * futex word; 0 between rounds). The stopper lists the threads it signals
 * in `targets`; the handler looks its own thread up there, records its
 * program counter in its slot, marks the slot with the round's number and
 * sleeps until the round is closed. A signal that is not for the open
 * round (a late one of a finished round, one still pending in a thread that
 * was not waited for) finds no round or is not counted twice.
 *
 * A new round opens only when no handler is running (`inside`): a handler
 * that counted itself in and then saw round r cannot meet the tables of
 * round r+1. Nothing between stop and resume may take a lock another thread
 * could hold (no malloc, no stdio). */
#include "stopworld.h"

#include "arch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_THREADS 1024
#define RECHECK_MS 5 /* how often threads that have not arrived are looked at */

static int installed;
static int stop_sig;
static volatile int round_id;      /* futex word: the open round, 0 when none */
static int last_round;
static volatile int inside;        /* handlers running now */
static pid_t targets[MAX_THREADS]; /* the threads signalled this round */
static volatile int ntargets;
static volatile int arrived[MAX_THREADS]; /* == round_id once the pc is recorded */
static uintptr_t target_pc[MAX_THREADS];
static char dropped[MAX_THREADS];  /* not waited for: exited, or idle */
static uintptr_t pcs_out[MAX_THREADS];
static DIR *task_dir;              /* opened before, closed after a round */

pid_t stopworld_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

int stopworld_signal(void)
{
    return SIGRTMIN + 7;
}

static void futex_wait(volatile int *word, int value)
{
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

static void futex_wake(volatile int *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

/* The stop signal's handler. A thread that is a target of the open round
 * records its pc, marks itself arrived and sleeps on the futex until the
 * round closes; any other delivery (late, or for no round) returns at
 * once. Only async-signal-safe calls; errno is preserved. */
static void on_stop(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)info;
    int saved = errno;
    __atomic_fetch_add(&inside, 1, __ATOMIC_SEQ_CST);
    int r = __atomic_load_n(&round_id, __ATOMIC_SEQ_CST);
    if (r != 0) {
        pid_t me = stopworld_gettid();
        int n = __atomic_load_n(&ntargets, __ATOMIC_ACQUIRE);
        for (int i = 0; i < n; i++) {
            if (targets[i] != me)
                continue;
            if (__atomic_load_n(&arrived[i], __ATOMIC_ACQUIRE) != r) {
                target_pc[i] = ARCH_UCONTEXT_PC((ucontext_t *)ctx);
                __atomic_store_n(&arrived[i], r, __ATOMIC_RELEASE);
                while (__atomic_load_n(&round_id, __ATOMIC_ACQUIRE) == r)
                    futex_wait(&round_id, r);
            }
            break;
        }
    }
    __atomic_fetch_sub(&inside, 1, __ATOMIC_RELEASE);
    errno = saved;
}

int stopworld_init(void)
{
    if (__atomic_load_n(&installed, __ATOMIC_ACQUIRE))
        return 0;
    stop_sig = stopworld_signal();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_stop;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask); /* nothing else runs on a stopped thread */
    sigdelset(&sa.sa_mask, SIGSEGV);
    sigdelset(&sa.sa_mask, SIGBUS);
    sigdelset(&sa.sa_mask, SIGILL);
    sigdelset(&sa.sa_mask, SIGFPE);
    if (sigaction(stop_sig, &sa, NULL) != 0)
        return -1;
    __atomic_store_n(&installed, 1, __ATOMIC_RELEASE);
    return 0;
}

/* Reads /proc/self/task/<tid>/<file> into buf (NUL-terminated). Returns the
 * length, or -1. Allocation- and lock-free: the world is half stopped when
 * this runs. */
static ssize_t read_task_file(pid_t tid, const char *file, char *buf, size_t size)
{
    char path[64] = "/proc/self/task/";
    size_t n = strlen(path);
    char digits[16];
    size_t nd = 0;
    for (unsigned v = (unsigned)tid; nd == 0 || v; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    while (nd > 0)
        path[n++] = digits[--nd];
    path[n++] = '/';
    size_t fl = strlen(file);
    if (n + fl + 1 > sizeof path)
        return -1;
    memcpy(path + n, file, fl + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    for (ssize_t r; len + 1 < size && (r = read(fd, buf + len, size - 1 - len)) > 0;)
        len += (size_t)r;
    close(fd);
    buf[len] = 0;
    return (ssize_t)len;
}

/* Whether thread `tid` sleeps in a system call now: the first field of
 * /proc/self/task/<tid>/syscall is then its number (the kernel reads it
 * only while the thread is off the CPU and sleeping; "running" or "-1"
 * otherwise, the latter for a thread blocked outside a system call, in a
 * page fault say, whose pc may be anywhere). */
static int blocked_in_syscall(pid_t tid)
{
    char buf[8];
    return read_task_file(tid, "syscall", buf, sizeof buf) > 0 && buf[0] >= '0' && buf[0] <= '9';
}

/* The value of the line "<key>\t..." in a status file, or NULL. */
static const char *status_field(const char *status, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = status; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) == 0) {
            p += kl;
            while (*p == ' ' || *p == '\t')
                p++;
            return p;
        }
    }
    return NULL;
}

/* Whether the hexadecimal mask at `hex` (a SigBlk line) has signal `sig`. */
static int mask_has(const char *hex, int sig)
{
    size_t len = 0;
    while ((hex[len] >= '0' && hex[len] <= '9') || (hex[len] >= 'a' && hex[len] <= 'f') ||
           (hex[len] >= 'A' && hex[len] <= 'F'))
        len++;
    unsigned bit = (unsigned)sig - 1;
    if (bit / 4 >= len)
        return 0;
    char c = hex[len - 1 - bit / 4];
    unsigned d = c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
    return (d >> (bit % 4)) & 1;
}

int stopworld_blocks_signal(pid_t tid)
{
    char status[4096];
    if (read_task_file(tid, "status", status, sizeof status) <= 0)
        return 0;
    const char *blk = status_field(status, "SigBlk:");
    return blk && mask_has(blk, stopworld_signal());
}

/* Whether thread `tid` is idle: sleeping in a system call, stopped (job
 * control, a debugger: state T or t), or blocking the stop signal. */
static int idle(pid_t tid)
{
    if (blocked_in_syscall(tid))
        return 1;
    char status[4096];
    if (read_task_file(tid, "status", status, sizeof status) <= 0)
        return 0;
    const char *state = status_field(status, "State:");
    if (state && (*state == 'T' || *state == 't'))
        return 1;
    const char *blk = status_field(status, "SigBlk:");
    return blk && mask_has(blk, stop_sig);
}

static int listed(pid_t tid, int n)
{
    for (int i = 0; i < n; i++)
        if (targets[i] == tid)
            return 1;
    return 0;
}

/* Signals every thread in /proc/self/task not yet signalled, except idle
 * ones with STOPWORLD_SKIP_IDLE (checked again at every listing, so one
 * that becomes busy before the last listing is stopped too). Returns how
 * many were newly signalled, or STOPWORLD_EBLOCKED with `*culprit`. */
static int signal_new(pid_t self, pid_t skip, int flags, pid_t *culprit)
{
    int added = 0;
    pid_t pid = getpid();
    int n = __atomic_load_n(&ntargets, __ATOMIC_RELAXED);
    rewinddir(task_dir);
    for (struct dirent *e; (e = readdir(task_dir));) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid == self || tid == skip || n >= MAX_THREADS || listed(tid, n))
            continue;
        if (flags & STOPWORLD_SKIP_IDLE) {
            if (idle(tid))
                continue;
        } else if (stopworld_blocks_signal(tid)) {
            *culprit = tid;
            return STOPWORLD_EBLOCKED;
        }
        targets[n] = tid;
        dropped[n] = 0;
        __atomic_store_n(&ntargets, n + 1, __ATOMIC_RELEASE); /* before the signal */
        if (syscall(SYS_tgkill, pid, tid, stop_sig) != 0)
            dropped[n] = 1; /* exited since the listing */
        n++;
        added++;
    }
    return added;
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Looks again at the threads of this round that have not arrived: one that
 * exited is dropped, and with STOPWORLD_SKIP_IDLE one that became idle
 * (blocked the signal after the listing, say; if it takes the signal later
 * it stops then, until the round ends). Returns 0 or STOPWORLD_EBLOCKED. */
static int recheck(int r, int flags, pid_t *culprit)
{
    pid_t pid = getpid();
    int n = __atomic_load_n(&ntargets, __ATOMIC_RELAXED);
    for (int i = 0; i < n; i++) {
        if (dropped[i] || __atomic_load_n(&arrived[i], __ATOMIC_ACQUIRE) == r)
            continue;
        if (syscall(SYS_tgkill, pid, targets[i], 0) != 0) {
            dropped[i] = 1;
        } else if (flags & STOPWORLD_SKIP_IDLE) {
            dropped[i] = (char)idle(targets[i]);
        } else if (stopworld_blocks_signal(targets[i])) {
            *culprit = targets[i];
            return STOPWORLD_EBLOCKED;
        }
    }
    return 0;
}

int stopworld_stop(pid_t skip, int timeout_ms, int flags, const uintptr_t **pcs, pid_t *culprit)
{
    pid_t dummy;
    if (!culprit)
        culprit = &dummy;
    *culprit = 0;
    if (stopworld_init() != 0)
        return -1;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Handlers of the last round still on their way out must be gone before
     * the tables are reused. */
    while (__atomic_load_n(&inside, __ATOMIC_SEQ_CST) != 0) {
        if (elapsed_ms(&t0) > timeout_ms)
            return STOPWORLD_ETIMEOUT;
        sched_yield();
    }
    /* opendir allocates: do it while nobody is stopped. */
    task_dir = opendir("/proc/self/task");
    if (!task_dir)
        return -1;
    pid_t self = stopworld_gettid();
    __atomic_store_n(&ntargets, 0, __ATOMIC_RELAXED);
    if (++last_round <= 0)
        last_round = 1;
    int r = last_round;
    __atomic_store_n(&round_id, r, __ATOMIC_SEQ_CST);
    int rc = signal_new(self, skip, flags, culprit);
    long next_check = RECHECK_MS;
    /* Wait until every signalled thread is in; a thread created meanwhile is
     * found by the next listing. */
    while (rc >= 0) {
        int n = __atomic_load_n(&ntargets, __ATOMIC_RELAXED);
        int missing = -1;
        for (int i = 0; i < n && missing < 0; i++)
            if (!dropped[i] && __atomic_load_n(&arrived[i], __ATOMIC_ACQUIRE) != r)
                missing = i;
        if (missing < 0) {
            rc = signal_new(self, skip, flags, culprit);
            if (rc == 0)
                break;
            continue;
        }
        long ms = elapsed_ms(&t0);
        if (ms >= next_check) {
            next_check = ms + RECHECK_MS;
            rc = recheck(r, flags, culprit);
            continue;
        }
        if (ms > timeout_ms) {
            *culprit = targets[missing];
            rc = STOPWORLD_ETIMEOUT;
            break;
        }
        sched_yield();
    }
    if (rc < 0) {
        stopworld_resume();
        return rc;
    }
    int n = __atomic_load_n(&ntargets, __ATOMIC_RELAXED), out = 0;
    for (int i = 0; i < n; i++)
        if (__atomic_load_n(&arrived[i], __ATOMIC_ACQUIRE) == r)
            pcs_out[out++] = target_pc[i];
    *pcs = pcs_out;
    return out;
}

void stopworld_resume(void)
{
    __atomic_store_n(&round_id, 0, __ATOMIC_SEQ_CST);
    futex_wake(&round_id);
    if (task_dir) {
        closedir(task_dir);
        task_dir = NULL;
    }
}
