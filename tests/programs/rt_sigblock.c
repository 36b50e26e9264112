/* rt_sigblock: a library-like thread that blocks every signal (as Mesa's
 * llvmpipe workers do) spins in a busy loop outside HOT code, while the
 * main thread calls the HOT functions work() and other() and hot_poll() in
 * its loop. argv[1]: "poll" or "auto" (the mode); argv[2]: the version to
 * wait for. Every reload changes both functions at once, so it needs the
 * other threads stopped; the blocking thread must not make that
 * impossible. Prints what the main thread saw, then exits.
 *
 * odd() is HOT-like padding and entry written by hand at an address where
 * the 8-byte target straddles a 16-byte block (x86-64), so its writes are
 * not safe while a thread runs: a reload of it needs every thread stopped,
 * and must be refused, naming the blocking thread. */
#define _GNU_SOURCE
#include <hot.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

HOT int work(int x)
{
    return x - x; /* version 0 */
}

HOT int other(int x)
{
    return x - x;
}

int odd(void);
#if defined(__x86_64__)
__asm__(".pushsection .text.hotc_odd,\"ax\",@progbits\n"
        ".balign 16\n"
        ".skip 5, 0xcc\n"          /* padding at 16k+5: target at +11..+18 */
        ".Lodd_pad:\n"
        ".fill 14, 1, 0x90\n"
        ".globl odd\n"
        ".type odd, @function\n"
        "odd:\n"
        ".byte 0x90, 0x90\n"
        "xorl %eax, %eax\n"
        "ret\n"
        ".size odd, .-odd\n"
        ".popsection\n"
        ".pushsection __patchable_function_entries,\"awo\",@progbits,odd\n"
        ".balign 8\n"
        ".quad .Lodd_pad\n"
        ".popsection\n");
#else
HOT int odd(void)
{
    return 0;
}
#endif

static volatile int stop;
static volatile unsigned long spins;

static void *spinner(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "spinner");
    printf("spinner tid=%ld\n", (long)syscall(SYS_gettid));
    while (!stop)
        spins++; /* never in HOT code, never in a system call */
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int automatic = argc > 1 && strcmp(argv[1], "auto") == 0;
    int target = argc > 2 ? atoi(argv[2]) : 10;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* the new thread inherits it */
    pthread_t t;
    if (pthread_create(&t, NULL, spinner, NULL) != 0)
        return 1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    int rc = hot_init_mode(NULL, automatic ? HOT_MODE_AUTO : HOT_MODE_POLL);
    printf("ready rc=%d\n", rc);
    int w = 0, o = 0, applied = 0, mismatched = 0;
    for (long i = 0; hot_version() < target && i < 200000000L; i++) {
        int n = hot_poll();
        if (n > 0)
            applied += n;
        w = work(1);
        o = other(1);
        if (n > 0 && (w != hot_version() || o != hot_version()))
            mismatched++; /* hot_poll returned: both must be new */
    }
    w = work(1);
    o = other(1);
    stop = 1;
    pthread_join(t, NULL);
    printf("version=%d work=%d other=%d polled=%d mismatched=%d spins=%s odd=%d\n", hot_version(),
           w, o, applied, mismatched, spins ? "yes" : "no", odd());
    hot_shutdown();
    return 0;
}
