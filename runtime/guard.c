/* guard: crash signals and hot_guard. See guard.h and hot.h.
 *
 * The handler runs on an alternate stack (a stack overflow is a SIGSEGV
 * too). Inside a guard it jumps back to hot_guard, which does the work that
 * is not async-signal-safe (rollback, JSON) in normal context.
 *
 * Once installed it stays in front: this file defines sigaction(), signal()
 * (and bsd_signal, sysv_signal, __sysv_signal), which libhotc, linked into
 * the executable, puts in front of libc's for the program and its
 * libraries. For a crash signal they record the program's handler without
 * replacing ours and answer with the program's own previous one; a crash
 * is reported, then handed to the program's handler as the kernel would
 * (its mask, SA_SIGINFO, SA_RESETHAND, SA_NODEFER; SIG_DFL and SIG_IGN as
 * the default action would be). Every other signal goes to libc's as it
 * is. A program that reaches the kernel another way (sigset, a raw system
 * call) is caught up with by guard_recheck. */
#include "guard.h"

#include "hot.h"
#include "session.h"
#include "reload.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "arch.h"

#define ALT_STACK_SIZE (64 * 1024)

struct guard_frame {
    sigjmp_buf env;
    struct guard_frame *outer;
    int sig;
    uintptr_t pc;
};

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
/* The program's handler of each crash signal, the one a crash is handed to
 * after the report: two copies each, the one `program_at` names is whole
 * (a new one is written in the other, then named), so the crash handler
 * never reads one half written. */
static struct sigaction previous[4][2];
static int program_at[4];
static int installed;
/* Bit i: the runtime's handler is installed for crash_signals[i] (the
 * program's sigaction and signal only record a handler for those). */
static int ours_mask;
/* libc's sigaction and signal functions, behind this file's (resolved once,
 * before the handlers are installed; sigaction also on its first call) */
typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef void (*handler_fn)(int);
typedef handler_fn (*signal_fn)(int, handler_fn);
static sigaction_fn libc_sigaction;
/* This thread's last reported crash: the same fault again (the program's
 * handler returned, the instruction faulted again), or the same signal
 * raised by the process itself (a handler that re-raises it to die of it)
 * is not reported twice; so a program that recovers from a crash (its
 * handler jumps out) and faults at the same place again is reported once. */
static __thread int reported_sig;
static __thread uintptr_t reported_pc;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread struct guard_frame *current;
static __thread void *alt_stack;

/* The slot of `sig` in crash_signals and previous (-1 for any other). */
static int index_of(int sig)
{
    for (int i = 0; i < 4; i++)
        if (crash_signals[i] == sig)
            return i;
    return -1;
}

/* libc's definition of `name`, the one behind this file's (dlsym gives an
 * object pointer; POSIX guarantees it converts to a function pointer). */
static void libc_function(const char *name, void *fn, size_t size)
{
    void *p = dlsym(RTLD_NEXT, name);
    memcpy(fn, &p, size);
}

/* libc's sigaction (dlsym is not async-signal-safe: resolved in normal
 * context first, by guard_init or the program's first call). */
static sigaction_fn real_sigaction(void)
{
    sigaction_fn f = __atomic_load_n(&libc_sigaction, __ATOMIC_ACQUIRE);
    if (!f) {
        libc_function("sigaction", &f, sizeof f);
        __atomic_store_n(&libc_sigaction, f, __ATOMIC_RELEASE);
    }
    return f;
}

static int kernel_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    sigaction_fn f = real_sigaction();
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    return f(sig, act, old);
}

/* The program's handler of crash signal slot `i` now. */
static struct sigaction program_handler(int i)
{
    return previous[i][__atomic_load_n(&program_at[i], __ATOMIC_ACQUIRE)];
}

static void set_program_handler(int i, const struct sigaction *sa)
{
    int next = !__atomic_load_n(&program_at[i], __ATOMIC_ACQUIRE);
    previous[i][next] = *sa;
    __atomic_store_n(&program_at[i], next, __ATOMIC_RELEASE);
}

static void on_crash(int sig, siginfo_t *info, void *ctx);

static int is_ours(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_crash;
}

/* The default action of `sig`, now: a fault recurs when the handler
 * returns (then it kills), a sent signal is raised again. */
static void default_action(int sig, const siginfo_t *info)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    kernel_sigaction(sig, &dfl, NULL);
    if (info->si_code <= 0)
        raise(sig);
}

/* Hands a crash to the program's handler as the kernel would have: its
 * mask blocked (and `sig` unless SA_NODEFER) during the call, SA_RESETHAND
 * honoured, SIG_IGN and SIG_DFL as the kernel treats them (an ignored
 * fault kills all the same). Runs in the crash handler. */
static void hand_over(int sig, siginfo_t *info, void *ctx)
{
    int i = index_of(sig);
    struct sigaction h = program_handler(i);
    int is_function = (h.sa_flags & SA_SIGINFO) ? h.sa_sigaction != NULL
                                                : h.sa_handler != SIG_DFL && h.sa_handler != SIG_IGN;
    if (!is_function) {
        if (!(h.sa_flags & SA_SIGINFO) && h.sa_handler == SIG_IGN && info->si_code <= 0)
            return; /* sent, and the program ignores it */
        default_action(sig, info);
        return;
    }
    if (h.sa_flags & SA_RESETHAND) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        set_program_handler(i, &dfl);
    }
    sigset_t mask = h.sa_mask, old;
    if (!(h.sa_flags & SA_NODEFER))
        sigaddset(&mask, sig);
    pthread_sigmask(SIG_BLOCK, &mask, &old);
    if (h.sa_flags & SA_SIGINFO)
        h.sa_sigaction(sig, info, ctx);
    else
        h.sa_handler(sig);
    /* what it raised to die of it is delivered here (not reported again) */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* The crash signals' handler. Inside a guard it only records the signal
 * and the pc and jumps back to hot_guard (nothing else here is
 * async-signal-safe enough to do more). Outside one it reports the crash
 * and hands it to the program's handler (hand_over); with none, returning
 * re-executes the faulting instruction, which then takes its default
 * course (a signal that was sent rather than caused is raised again
 * instead). */
static void on_crash(int sig, siginfo_t *info, void *ctx)
{
    uintptr_t pc = ARCH_UCONTEXT_PC((ucontext_t *)ctx);
    struct guard_frame *g = current;
    if (g) {
        g->sig = sig;
        g->pc = pc;
        siglongjmp(g->env, 1);
    }
    /* Called by the program's own handler, which had taken our place (past
     * the functions below: guard_recheck) and passes crashes on to the one
     * it replaced (ours): the report was sent when ours ran first; now the
     * default action. */
    struct sigaction now;
    if (kernel_sigaction(sig, NULL, &now) == 0 && !is_ours(&now)) {
        default_action(sig, info);
        return;
    }
    /* The fault again after the program's handler returned, or the signal
     * its handler raised to die of it: reported already. */
    if (sig == reported_sig && (pc == reported_pc || (info->si_code <= 0 && info->si_pid == getpid()))) {
        hand_over(sig, info, ctx);
        return;
    }
    /* Unguarded: tell the server, then let the crash happen as it would
     * have without us (the program's handler, or the default action). */
    Dl_info di;
    const char *function = NULL, *module = NULL;
    unsigned long offset = 0, base = 0;
    if (dladdr((void *)pc, &di)) {
        module = di.dli_fname;
        base = (unsigned long)(uintptr_t)di.dli_fbase;
        if (di.dli_sname) {
            function = di.dli_sname;
            offset = (unsigned long)(pc - (uintptr_t)di.dli_saddr);
        }
    }
    int version = reload_version_at(pc);
    session_crash_from_signal(sig, (unsigned long)pc, function, offset, module, base,
                              version ? version : reload_version());
    reported_sig = sig;
    reported_pc = pc;
    hand_over(sig, info, ctx);
}

/* Our handler, as installed for every crash signal. */
static void our_handler(struct sigaction *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sa_sigaction = on_crash;
    sa->sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa->sa_mask);
}

int guard_init(void)
{
    pthread_mutex_lock(&init_lock);
    int rc = 0;
    if (!installed) {
        struct sigaction sa, was;
        our_handler(&sa);
        for (int i = 0; i < 4; i++) {
            if (kernel_sigaction(crash_signals[i], &sa, &was) != 0) {
                rc = -1;
                continue;
            }
            set_program_handler(i, &was);
            __atomic_or_fetch(&ours_mask, 1 << i, __ATOMIC_RELEASE);
        }
        __atomic_store_n(&installed, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&init_lock);
    return rc;
}

void guard_recheck(void)
{
    if (!__atomic_load_n(&installed, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&init_lock);
    for (int i = 0; i < 4; i++) {
        struct sigaction now, sa;
        if (!(__atomic_load_n(&ours_mask, __ATOMIC_ACQUIRE) & (1 << i)) ||
            kernel_sigaction(crash_signals[i], NULL, &now) != 0 || is_ours(&now))
            continue;
        /* the program went around sigaction() below: ours goes in front
         * again, theirs becomes the one a crash is handed to */
        our_handler(&sa);
        set_program_handler(i, &now);
        kernel_sigaction(crash_signals[i], &sa, NULL);
    }
    pthread_mutex_unlock(&init_lock);
}

/* The program's sigaction(): see the top of this file. */
HOT_API int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    int i = index_of(sig);
    if (i < 0 || !(__atomic_load_n(&ours_mask, __ATOMIC_ACQUIRE) & (1 << i)))
        return kernel_sigaction(sig, act, old);
    if (old)
        *old = program_handler(i);
    if (act)
        set_program_handler(i, act);
    return 0;
}

/* signal() and its kin over the sigaction() above: BSD semantics (signal,
 * bsd_signal: SA_RESTART, the signal blocked in its handler) or System V's
 * (sysv_signal: reset to SIG_DFL on delivery, not blocked). Other signals
 * go to libc's own. */
static handler_fn set_handler(int sig, handler_fn handler, int flags, const char *libc_name)
{
    int i = index_of(sig);
    if (i < 0 || !(__atomic_load_n(&ours_mask, __ATOMIC_ACQUIRE) & (1 << i))) {
        signal_fn f;
        libc_function(libc_name, &f, sizeof f);
        if (!f) {
            errno = ENOSYS;
            return SIG_ERR;
        }
        return f(sig, handler);
    }
    if (handler == SIG_ERR) {
        errno = EINVAL;
        return SIG_ERR;
    }
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    if (!(flags & SA_NODEFER))
        sigaddset(&sa.sa_mask, sig);
    sigaction(sig, &sa, &old);
    return old.sa_handler;
}

HOT_API handler_fn signal(int sig, handler_fn handler)
{
    return set_handler(sig, handler, SA_RESTART, "signal");
}

HOT_API handler_fn bsd_signal(int sig, handler_fn handler)
{
    return set_handler(sig, handler, SA_RESTART, "bsd_signal");
}

HOT_API handler_fn sysv_signal(int sig, handler_fn handler)
{
    return set_handler(sig, handler, SA_RESETHAND | SA_NODEFER, "sysv_signal");
}

/* what signal() is under strict ISO C (-std=c11 without _GNU_SOURCE) */
HOT_API handler_fn __sysv_signal(int sig, handler_fn handler)
{
    return set_handler(sig, handler, SA_RESETHAND | SA_NODEFER, "__sysv_signal");
}

/* Gives the calling thread an alternate signal stack, so that a stack
 * overflow inside a guard can still be caught, unless it has one already.
 * The stack is never freed (the thread may crash on it at any time); out
 * of memory, the thread simply goes without. */
static void ensure_alt_stack(void)
{
    if (alt_stack)
        return;
    stack_t st;
    if (sigaltstack(NULL, &st) == 0 && !(st.ss_flags & SS_DISABLE))
        return; /* the program has its own */
    alt_stack = malloc(ALT_STACK_SIZE);
    if (!alt_stack)
        return;
    st.ss_sp = alt_stack;
    st.ss_size = ALT_STACK_SIZE;
    st.ss_flags = 0;
    sigaltstack(&st, NULL);
}

HOT_API int hot_guard(hot_guarded_fn fn, void *arg)
{
    if (!fn)
        return HOT_EINVAL;
    guard_init();
    ensure_alt_stack();
    struct guard_frame frame;
    memset(&frame, 0, sizeof frame);
    frame.outer = current;
    current = &frame;
    if (sigsetjmp(frame.env, 1) == 0) {
        fn(arg);
        current = frame.outer;
        return 0;
    }
    /* Back from the handler: we are in normal context again. */
    current = frame.outer;
    int crashed_version = reload_version_at(frame.pc);
    if (!crashed_version)
        crashed_version = reload_version();
    int rolled_back = 0;
    if (reload_version() > 0) {
        char reason[256];
        rolled_back = reload_rollback(session_thread_tid(), reason, sizeof reason) >= 0;
    }
    Dl_info di;
    const char *function = NULL, *module = NULL;
    unsigned long offset = 0, base = 0;
    if (dladdr((void *)frame.pc, &di)) {
        module = di.dli_fname;
        base = (unsigned long)(uintptr_t)di.dli_fbase;
        if (di.dli_sname) {
            function = di.dli_sname;
            offset = (unsigned long)(frame.pc - (uintptr_t)di.dli_saddr);
        }
    }
    session_crash(frame.sig, (unsigned long)frame.pc, function, offset, module, base, crashed_version, 1,
                  rolled_back);
    return HOT_ECRASHED;
}
