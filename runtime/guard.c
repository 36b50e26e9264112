/* guard: crash signals and hot_guard. See guard.h and hot.h.
 *
 * The handler runs on an alternate stack (a stack overflow is a SIGSEGV
 * too). Inside a guard it jumps back to hot_guard, which does the work that
 * is not async-signal-safe (rollback, JSON) in normal context. */
#include "guard.h"

#include "hot.h"
#include "session.h"
#include "reload.h"

#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "arch.h"

#define ALT_STACK_SIZE (64 * 1024)

struct guard_frame {
    sigjmp_buf env;
    struct guard_frame *outer;
    int sig;
    uintptr_t pc;
};

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
static struct sigaction previous[4];
static int installed;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread struct guard_frame *current;
static __thread void *alt_stack;

/* The slot of `sig` in crash_signals and previous (0 for any other). */
static int index_of(int sig)
{
    for (int i = 0; i < 4; i++)
        if (crash_signals[i] == sig)
            return i;
    return 0;
}

/* The crash signals' handler. Inside a guard it only records the signal
 * and the pc and jumps back to hot_guard (nothing else here is
 * async-signal-safe enough to do more). Outside one it reports the crash
 * and reinstalls the program's previous handler: returning re-executes the
 * faulting instruction, which then takes its usual course (a signal that
 * was sent rather than caused is raised again instead). */
static void on_crash(int sig, siginfo_t *info, void *ctx)
{
    uintptr_t pc = ARCH_UCONTEXT_PC((ucontext_t *)ctx);
    struct guard_frame *g = current;
    if (g) {
        g->sig = sig;
        g->pc = pc;
        siglongjmp(g->env, 1);
    }
    /* Called by the program's own handler, which had taken our place and
     * passes crashes on to the one it replaced (ours): the report was
     * sent when ours ran first; now the default action. */
    struct sigaction now;
    if (sigaction(sig, NULL, &now) == 0 && !((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_crash)) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL);
        if (info->si_code <= 0)
            raise(sig);
        return;
    }
    /* Unguarded: tell the server, then let the crash happen as it would
     * have without us (the previous handler, or the default action). */
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
    sigaction(sig, &previous[index_of(sig)], NULL);
    if (info->si_code <= 0) /* sent, not a fault: it will not recur */
        raise(sig);
}

int guard_init(void)
{
    pthread_mutex_lock(&init_lock);
    int rc = 0;
    if (!installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_crash;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        for (int i = 0; i < 4; i++)
            if (sigaction(crash_signals[i], &sa, &previous[i]) != 0)
                rc = -1;
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
        if (sigaction(crash_signals[i], NULL, &now) != 0)
            continue;
        if ((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_crash)
            continue;
        /* the program installed its own: ours goes in front again, theirs
         * becomes the one a crash is handed to after the report */
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_crash;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        previous[i] = now;
        sigaction(crash_signals[i], &sa, NULL);
    }
    pthread_mutex_unlock(&init_lock);
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
