/* rt_guard: calls the HOT function risky() under hot_guard (or, with the
 * argument "unguarded", directly) and prints what happened whenever it
 * changes. With "own", "own-late" or "own-signal" it calls risky() directly
 * and installs its own SIGSEGV handler, which exits with status 3: "own"
 * with sigaction right after hot_init; "own-late" with sigaction
 * (SA_SIGINFO, SA_RESETHAND) when a reload is applied, just before the new
 * risky() runs; "own-signal" the same with signal(). */
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

/* 3 when the kernel's details reached it (the faulting address of risky's
 * NULL store), 4 otherwise. */
static void own_info_handler(int sig, siginfo_t *info, void *ctx)
{
    (void)ctx;
    _exit(sig == SIGSEGV && info && info->si_signo == SIGSEGV && info->si_addr == NULL ? 3 : 4);
}

/* Installs the program's handler when a reload was just applied. */
static void on_reload(enum hot_phase phase, int version, void *user)
{
    const char *how = user;
    (void)version;
    if (phase != HOT_AFTER)
        return;
    if (strcmp(how, "own-signal") == 0) {
        void (*was)(int) = signal(SIGSEGV, own_handler);
        printf("own handler, old=%s\n", was == SIG_DFL ? "default" : "other");
        return;
    }
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = own_info_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigaction(SIGSEGV, &sa, &old);
    printf("own handler, old=%s\n", !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL ? "default" : "other");
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
    int late = argc > 1 && strncmp(argv[1], "own-", 4) == 0;
    int guarded = !(argc > 1 && (strcmp(argv[1], "unguarded") == 0 || own || late));
    hot_init(NULL);
    if (late)
        hot_on_reload(on_reload, argv[1]);
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
