/* reload: prepare, apply, roll back. See reload.h.
 *
 * Invariants: the sites array never changes after reload_init; every write
 * to a site happens under `lock`, with every thread that could see it torn
 * stopped (see "How the writes ... are kept safe" below); applied versions
 * are never unloaded. */
#include "reload.h"

#include "arch.h"
#include "redirect.h"
#include "statics.h"
#include "stopworld.h"

#include <dlfcn.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STOP_TIMEOUT_MS 3000 /* waits of the runtime's own thread (see below) */
#define POLL_TIMEOUT_MS 1000 /* waits inside hot_poll */
#define BUSY_RETRIES 200

struct change {
    size_t site;
    uintptr_t target; /* the new code */
    uintptr_t prev;   /* what the site pointed to before (0: original) */
};

/* A prepared plan becomes an applied version in place. */
struct reload_plan {
    int version;
    void *handle;
    uintptr_t lo, hi; /* the library's mapped address range */
    size_t n;
    struct change *changes;
    int64_t t_start;
    struct reload_timings t;
    struct reload_plan *below; /* the version under this one on the stack */
    struct reload_plan *all;   /* every version ever applied (crash lookup) */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct elfself self;
static struct redirect_site *sites; /* parallel to self.hot */
static int init_status = -1;
static char init_error[256];
static struct reload_plan *top;     /* applied stack */
static struct reload_plan *all;     /* every applied version */
static int current_version;
static int stop_world = 1;
static int sync_core; /* membarrier SYNC_CORE registered (reload_init) */

void reload_set_stop_world(int stop)
{
    __atomic_store_n(&stop_world, stop, __ATOMIC_RELEASE);
}

int64_t reload_now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* reload_init's one run: on failure init_status stays -1 and init_error
 * says why, for every later caller. */
static void do_init(void)
{
    if (elfself_load(&self, NULL, init_error, sizeof init_error) != 0)
        return;
    sites = calloc(self.nhot ? self.nhot : 1, sizeof *sites);
    if (!sites) {
        snprintf(init_error, sizeof init_error, "cannot list the HOT functions: out of memory");
        return;
    }
    for (size_t i = 0; i < self.nhot; i++)
        if (redirect_site_init(&sites[i], self.hot[i].pad) != 0)
            sites[i].pad = 0; /* not what HOT emits (or a debugger's byte in it, `debugger`): never written */
#ifdef SYS_membarrier
    sync_core = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) == 0;
#endif
    init_status = 0;
}

int reload_init(char *err, size_t errsz)
{
    pthread_once(&once, do_init);
    if (init_status != 0 && err)
        snprintf(err, errsz, "%s", init_error);
    return init_status;
}

const struct elfself *reload_self(void)
{
    return init_status == 0 ? &self : NULL;
}

int reload_version(void)
{
    return __atomic_load_n(&current_version, __ATOMIC_ACQUIRE);
}

int reload_plan_version(const struct reload_plan *plan)
{
    return plan->version;
}

struct range {
    uintptr_t base, lo, hi;
};

static int range_of(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct range *r = data;
    if ((uintptr_t)info->dlpi_addr != r->base)
        return 0;
    r->lo = UINTPTR_MAX;
    for (size_t i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = r->base + ph->p_vaddr;
        if (a < r->lo)
            r->lo = a;
        if (a + ph->p_memsz > r->hi)
            r->hi = a + ph->p_memsz;
    }
    return 1;
}

/* Whether `p` lies in the mapped range of the plan's library: dlsym also
 * finds symbols of the libraries it depends on (the executable's, say). */
static int in_library(const struct reload_plan *plan, const void *p)
{
    return (uintptr_t)p >= plan->lo && (uintptr_t)p < plan->hi;
}

/* Finds the host function `f` names: a global of that name, else the one
 * static function of that name in f->file. Returns a symbol borrowed from
 * `self`, or NULL with the reason in `reason` (none, or more than one). */
static const struct elfself_sym *host_function(const struct reload_func *f, char *reason,
                                               size_t reasonsz)
{
    const struct elfself_sym *s = elfself_global(&self, f->name, STT_FUNC);
    if (s)
        return s;
    const struct elfself_sym *found[2];
    size_t n = elfself_locals(&self, f->file, NULL, f->name, STT_FUNC, found, 2);
    if (n == 1)
        return found[0];
    if (n == 0 && f->file)
        snprintf(reason, reasonsz, "cannot redirect %s(): not found in the executable (file %s); "
                 "restart the program to add it", f->name, f->file);
    else if (n == 0)
        snprintf(reason, reasonsz, "cannot redirect %s(): not found in the executable; "
                 "restart the program to add it", f->name);
    else
        snprintf(reason, reasonsz, "cannot redirect %s(): %zu static functions of that name%s%s",
                 f->name, n, f->file ? " in " : "", f->file ? f->file : "");
    return NULL;
}

/* Function-local statics added since the program was built (a request's
 * `create`): made here once, zeroed, and kept for the program's life, so
 * that every later patch binds to the same storage. */
struct made_static {
    char *file, *function, *name;
    size_t size;
    void *addr;
    struct made_static *next;
};

static struct made_static *made;
static pthread_mutex_t made_lock = PTHREAD_MUTEX_INITIALIZER;

static bool same_or_null(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* The storage of the added static `s`: the one made by an earlier reload,
 * else a new zeroed one. NULL with a reason when its size changed since it
 * was made, or when out of memory. */
static void *made_static(const struct reload_static *s, const char *what, char *reason, size_t reasonsz)
{
    struct made_static *m;
    void *addr = NULL;

    pthread_mutex_lock(&made_lock);
    for (m = made; m; m = m->next)
        if (same_or_null(m->file, s->file) && same_or_null(m->function, s->function) && strcmp(m->name, s->name) == 0)
            break;
    if (m && m->size != s->create_size) {
        snprintf(reason, reasonsz,
                 "cannot bind %s: added since the program was built, with %zu bytes then and %zu now; restart to "
                 "apply", what, m->size, s->create_size);
    } else if (m) {
        addr = m->addr;
    } else if ((m = calloc(1, sizeof *m)) != NULL) {
        size_t size = (s->create_size + 15) / 16 * 16;
        m->addr = aligned_alloc(16, size);
        m->file = s->file ? strdup(s->file) : NULL;
        m->function = s->function ? strdup(s->function) : NULL;
        m->name = strdup(s->name);
        m->size = s->create_size;
        if (!m->addr || !m->name || (s->file && !m->file) || (s->function && !m->function)) {
            free(m->addr);
            free(m->file);
            free(m->function);
            free(m->name);
            free(m);
            snprintf(reason, reasonsz, "cannot make %s: out of memory", what);
        } else {
            memset(m->addr, 0, size);
            m->next = made;
            made = m;
            addr = m->addr;
        }
    } else {
        snprintf(reason, reasonsz, "cannot make %s: out of memory", what);
    }
    pthread_mutex_unlock(&made_lock);
    return addr;
}

/* Finds the host's address of every static the request names (by file,
 * enclosing function and name, in the executable's symbol table) and writes
 * them into the patch library `handle`'s GOT (statics_bind). Returns 0, or
 * -1 with the reason in `reason` when a static is missing or ambiguous, or
 * the patch refers to one the request does not name (nothing written). */
static int bind_statics(const struct reload_request *req, void *handle, char *reason,
                        size_t reasonsz)
{
    struct statics_binding *b = calloc(req->nstatics ? req->nstatics : 1, sizeof *b);
    if (!b) {
        snprintf(reason, reasonsz, "cannot bind the patch's statics: out of memory");
        return -1;
    }
    int rc = -1;
    for (size_t i = 0; i < req->nstatics; i++) {
        const struct reload_static *s = &req->statics[i];
        const struct elfself_sym *found[3];
        int type = s->is_function ? STT_FUNC : STT_OBJECT;
        size_t n = elfself_locals(&self, s->file, s->function, s->name, type, found, 3);
        char what[300];
        if (s->function)
            snprintf(what, sizeof what, "static '%s' of %s() in %s", s->name, s->function,
                     s->file ? s->file : "?");
        else
            snprintf(what, sizeof what, "static %s '%s' in %s", s->is_function ? "function" : "variable",
                     s->name, s->file ? s->file : "?");
        if (n == 0 && s->create_size > 0 && s->function && !s->is_function) {
            /* added since the build, zero-initialized: made here, once */
            void *addr = made_static(s, what, reason, reasonsz);
            if (!addr)
                goto done;
            b[i].symbol = s->symbol;
            b[i].addr = (uintptr_t)addr;
            continue;
        }
        if (n == 0) {
            snprintf(reason, reasonsz,
                     "cannot bind %s: not found in the executable's symbol table (added since it was built? "
                     "restart to apply, or keep it in a state block: hot_state)",
                     what);
            goto done;
        }
        if (n > 1) {
            snprintf(reason, reasonsz, "cannot bind %s: ambiguous, %zu candidates (%s, %s%s)", what, n,
                     found[0]->name, found[1]->name, n > 2 ? ", ..." : "");
            goto done;
        }
        b[i].symbol = s->symbol;
        b[i].addr = found[0]->addr;
    }
    rc = statics_bind(handle, b, req->nstatics, "__hotc_s_", reason, reasonsz);
done:
    free(b);
    return rc;
}

int reload_prepare(const struct reload_request *req, struct reload_plan **out, char *reason,
                   size_t reasonsz)
{
    struct statics_hidden hidden = { .fd = -1 };

    *out = NULL;
    if (reload_init(reason, reasonsz) != 0)
        return -1;
    struct reload_plan *plan = calloc(1, sizeof *plan);
    if (!plan) {
        snprintf(reason, reasonsz, "cannot prepare the reload: out of memory");
        return -1;
    }
    plan->version = req->version;
    plan->t_start = reload_now_us();
    if (!req->library || !*req->library) {
        snprintf(reason, reasonsz, "cannot load the patch: the request names no library");
        goto fail;
    }
    if (req->target_build_id && *req->target_build_id &&
        strcmp(req->target_build_id, self.build_id) != 0) {
        snprintf(reason, reasonsz,
                 "cannot load the patch: it was built for another executable (build-id %s, "
                 "this one is %s); rebuild it", req->target_build_id, *self.build_id ? self.build_id : "none");
        goto fail;
    }
    if (elfself_check_file(req->library, reason, reasonsz) != 0)
        goto fail;
    void *loaded = dlopen(req->library, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (loaded) {
        dlclose(loaded);
        snprintf(reason, reasonsz, "cannot load the patch: %s is already loaded; use a new file "
                 "per reload", req->library);
        goto fail;
    }
    /* references to the program's hidden functions and variables load as
     * weak ones, bound below like statics */
    if (statics_hidden_prepare(req->library, &self, &hidden, reason, reasonsz) != 0)
        goto fail;
    plan->handle = dlopen(*hidden.path ? hidden.path : req->library, RTLD_NOW | RTLD_LOCAL);
    if (!plan->handle) {
        const char *e = dlerror();
        snprintf(reason, reasonsz, "cannot load the patch: %s", e ? e : "dlopen failed");
        goto fail;
    }
    struct link_map *lm = NULL;
    dlinfo(plan->handle, RTLD_DI_LINKMAP, &lm);
    struct range r = {.base = lm ? (uintptr_t)lm->l_addr : 0};
    dl_iterate_phdr(range_of, &r);
    plan->lo = r.lo;
    plan->hi = r.hi;
    int64_t t_loaded = reload_now_us();
    plan->t.load_us = t_loaded - plan->t_start;

    const char *bid = dlsym(plan->handle, "__hotc_target_build_id");
    if (!bid || !in_library(plan, bid)) {
        snprintf(reason, reasonsz, "cannot load the patch: it defines no __hotc_target_build_id; "
                 "build it with hotc");
        goto fail;
    }
    if (strcmp(bid, self.build_id) != 0) {
        snprintf(reason, reasonsz,
                 "cannot load the patch: it was built for another executable (build-id %.64s, "
                 "this one is %s); rebuild it", bid, *self.build_id ? self.build_id : "none");
        goto fail;
    }

    plan->changes = calloc(req->nfuncs ? req->nfuncs : 1, sizeof *plan->changes);
    if (!plan->changes) {
        snprintf(reason, reasonsz, "cannot prepare the reload: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < req->nfuncs; i++) {
        const struct reload_func *f = &req->funcs[i];
        const struct elfself_sym *s = host_function(f, reason, reasonsz);
        if (!s)
            goto fail;
        const struct elfself_hot *h = elfself_hot_at(&self, s->addr);
        if (!h) {
            snprintf(reason, reasonsz, "cannot redirect %s(): it is not HOT in the running program; "
                     "mark it HOT and restart", f->name);
            goto fail;
        }
        size_t site = (size_t)(h - self.hot);
        if (!sites[site].pad && sites[site].debugger) {
            /* the breakpoint that was in the padding at start may be gone */
            struct redirect_site fresh;
            pthread_mutex_lock(&lock);
            if (redirect_site_init(&fresh, self.hot[site].pad) == 0)
                sites[site] = fresh;
            pthread_mutex_unlock(&lock);
        }
        if (!sites[site].pad && sites[site].debugger) {
            snprintf(reason, reasonsz, "cannot redirect %s(): a debugger's breakpoint is in the padding before "
                     "its entry (an address breakpoint, not gdb's `break %s`); nothing was changed; delete it "
                     "and try again", f->name, f->name);
            goto fail;
        }
        if (!sites[site].pad) {
            snprintf(reason, reasonsz, "cannot redirect %s(): its entry is not the padding HOT emits; "
                     "rebuild the program with this version's hot.h and restart it", f->name);
            goto fail;
        }
        void *target = f->symbol ? dlsym(plan->handle, f->symbol) : NULL;
        if (!target || !in_library(plan, target)) {
            snprintf(reason, reasonsz, "cannot redirect %s(): the patch library does not define %s",
                     f->name, f->symbol ? f->symbol : "(no symbol)");
            goto fail;
        }
        for (size_t k = 0; k < plan->n; k++) {
            if (plan->changes[k].site == site) {
                snprintf(reason, reasonsz, "cannot redirect %s(): the request names it twice", f->name);
                goto fail;
            }
        }
        plan->changes[plan->n].site = site;
        plan->changes[plan->n].target = (uintptr_t)target;
        plan->n++;
    }
    if (bind_statics(req, plan->handle, reason, reasonsz) != 0)
        goto fail;
    if (hidden.n > 0 && statics_bind(plan->handle, hidden.bindings, hidden.n, NULL, reason, reasonsz) != 0)
        goto fail;
    statics_hidden_release(&hidden);
    plan->t.resolve_us = reload_now_us() - t_loaded;
    *out = plan;
    return 0;

fail:
    statics_hidden_release(&hidden);
    reload_plan_free(plan);
    return -1;
}

void reload_plan_free(struct reload_plan *plan)
{
    if (!plan)
        return;
    if (plan->handle)
        dlclose(plan->handle);
    free(plan->changes);
    free(plan);
}

/* How the writes of one apply or rollback are kept safe from other threads.
 *
 * LIVE: a change of one site whose writes are all safe for a thread running
 * through it (redirect.h, `concurrent`): nobody is stopped, so no system
 * call of the program can be interrupted; after the write, membarrier(2)
 * makes every core running a thread of ours serialize its instruction
 * stream (the cross-modifying-code rule), without signals. One site needs
 * no common instant: every call runs either the old or the new code.
 *
 * STOPPED: several sites (they must change at one instant for every thread
 * that runs code) or a site whose writes could tear. Threads running code
 * are stopped with a signal and none may sit between the bytes of an entry.
 *
 * When every site is `concurrent`, idle threads (stopworld.h) are neither
 * signalled nor waited for: those sleeping in a system call (poll,
 * nanosleep, epoll_wait, select would fail with EINTR), those stopped by
 * job control or a debugger, and those that block the stop signal (library
 * threads often block every signal, Mesa's llvmpipe workers for one; if we
 * waited for them no reload could ever be applied). Each site is written
 * with stores a running thread sees whole (redirect.h), so such a thread
 * executes every entry either old or new, never torn, and its pc is never
 * inside a rewritten instruction (the x86 entry is one instruction). What it
 * can see that a stopped one cannot is a multi-site change half done: if it
 * calls two of the changed functions within the microseconds of the writes,
 * it may run the new version of one and the old version of the other. A
 * sleeping or stopped thread only sees that when it wakes up during those
 * microseconds; a thread that blocks the signal and runs HOT code sees it
 * whenever it calls them during the writes. Each function is itself never
 * torn, and once the apply returns every thread runs the new code of all.
 *
 * When some site is not `concurrent`, every thread must stop: one that
 * blocks the signal makes the reload fail at once, with its id and name in
 * the reason (see blocked_reason), instead of waiting.
 *
 * The remaining window: a thread found running that enters such a system
 * call before the signal lands gets EINTR from it. It only exists for
 * multi-site changes (LIVE sends no signal at all).
 *
 * The wait (STOP_TIMEOUT_MS): a thread that is signalled is neither idle
 * nor blocks the signal, so it arrives as soon as the scheduler runs it,
 * within milliseconds even on a loaded machine; threads that become idle
 * while we wait are dropped from it (stopworld.c rechecks every few ms).
 * The deadline is only reached by a thread that is runnable and not run
 * for that long, or stuck in an uninterruptible sleep outside a system
 * call. In poll mode the thread that waits is the program's own, inside
 * hot_poll (its safe point, so nothing of its own is at stake), and the
 * wait is a pause of the program's loop: shorter there (POLL_TIMEOUT_MS),
 * enough for a starved thread on a loaded machine to be scheduled, without
 * freezing a frame-driven program for seconds. The runtime's own thread
 * (automatic mode, rollback from the server) pauses nobody and waits
 * longer.
 *
 * ALONE: stop_world is off (a caller that knows it is alone). */
enum write_mode { WRITE_ALONE, WRITE_LIVE, WRITE_STOPPED };

/* Fault injection for the runtime's own tests, through the environment of
 * the program under test (never part of the API): HOTC_TEST_WRITE_FAIL=N
 * makes the Nth site write of the process fail, once, as a refused
 * mprotect would, so that the undo of the writes before it can be seen;
 * HOTC_TEST_WRITE_PAUSE_US=U sleeps between two writes of one apply, so
 * that a thread left running would see a change half done. Read once. */
static long test_fail_at = -1, test_pause_us;
static long test_writes;

static void test_hooks_read(void)
{
    const char *fail = getenv("HOTC_TEST_WRITE_FAIL"), *pause = getenv("HOTC_TEST_WRITE_PAUSE_US");
    test_fail_at = fail && *fail ? atol(fail) : 0;
    test_pause_us = pause && *pause ? atol(pause) : 0;
}

/* redirect_set, with the test hooks above. */
static int write_site(struct redirect_site *site, uintptr_t target, size_t index)
{
    static pthread_once_t read_once = PTHREAD_ONCE_INIT;
    pthread_once(&read_once, test_hooks_read);
    if (index > 0 && test_pause_us > 0)
        usleep((useconds_t)test_pause_us);
    if (++test_writes == test_fail_at)
        return -1;
    return redirect_set(site, target);
}

static int all_concurrent(const struct change *changes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!sites[changes[i].site].concurrent)
            return 0;
    return 1;
}

/* The name of thread `tid` (its comm), or "?". The world runs again. */
static void thread_name(pid_t tid, char *name, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(name, (int)size, f))
        snprintf(name, size, "?");
    else
        name[strcspn(name, "\n")] = 0;
    if (f)
        fclose(f);
}

/* The name of the first changed function whose entry is not `concurrent`
 * (borrowed), or "?". */
static const char *first_torn(const struct change *changes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!sites[changes[i].site].concurrent)
            return self.hot[changes[i].site].sym ? self.hot[changes[i].site].sym->name : "?";
    return "?";
}

/* Writes why thread `tid`, which blocks the stop signal, makes the change
 * of `changes` impossible, and what to do about it. */
static void blocked_reason(pid_t tid, const struct change *changes, size_t n, char *reason,
                           size_t reasonsz)
{
    char name[32];
    thread_name(tid, name, sizeof name);
    snprintf(reason, reasonsz,
             "cannot stop the program's threads: thread %d (%s) blocks signal SIGRTMIN+%d, and "
             "this change needs every thread stopped because the entry of %s() is not aligned "
             "to be rewritten while a thread runs through it; build the program with this "
             "version's hot.h (HOT aligns entries) or -falign-functions=16, or unblock "
             "SIGRTMIN+%d in that thread (pthread_sigmask)",
             (int)tid, name, stopworld_signal() - SIGRTMIN, first_torn(changes, n),
             stopworld_signal() - SIGRTMIN);
}

/* Prepares the writes of `n` sites (changes[i].site): picks the mode and,
 * for STOPPED, stops the world so that no thread sits in bytes about to be
 * rewritten. Returns 0 with the mode in `*mode`, or -1 with a reason (world
 * running). */
static int stop_clear(pid_t skip, const struct change *changes, size_t n, enum write_mode *mode,
                      char *reason, size_t reasonsz)
{
    *mode = WRITE_ALONE;
    if (!__atomic_load_n(&stop_world, __ATOMIC_ACQUIRE))
        return 0;
    int concurrent = all_concurrent(changes, n);
    if (n <= 1 && concurrent && sync_core) {
        *mode = WRITE_LIVE;
        return 0;
    }
    *mode = WRITE_STOPPED;
    int timeout = stopworld_gettid() == skip || skip == 0 ? STOP_TIMEOUT_MS : POLL_TIMEOUT_MS;
    for (int attempt = 0; attempt < BUSY_RETRIES; attempt++) {
        const uintptr_t *pcs;
        pid_t culprit = 0;
        int stopped = stopworld_stop(skip, timeout, concurrent ? STOPWORLD_SKIP_IDLE : 0, &pcs,
                                     &culprit);
        if (stopped == STOPWORLD_EBLOCKED) {
            blocked_reason(culprit, changes, n, reason, reasonsz);
            return -1;
        }
        if (stopped < 0) {
            if (culprit) {
                char name[32];
                thread_name(culprit, name, sizeof name);
                snprintf(reason, reasonsz, "cannot stop the program's threads: thread %d (%s) "
                         "did not stop within %d ms (it is runnable but was not scheduled, or "
                         "sleeps outside a system call); try again", (int)culprit, name, timeout);
            } else {
                snprintf(reason, reasonsz, "cannot stop the program's threads: the thread list "
                         "is unreadable, or a thread is still leaving the last stop; try again");
            }
            return -1;
        }
        int busy = 0;
        for (int t = 0; t < stopped && !busy; t++)
            for (size_t i = 0; i < n && !busy; i++)
                busy = redirect_busy(&sites[changes[i].site], pcs[t]);
        if (!busy)
            return 0;
        stopworld_resume();
        usleep(100);
    }
    snprintf(reason, reasonsz, "cannot stop the program's threads outside the entries being "
             "rewritten: a thread stayed inside one; try again");
    return -1;
}

/* Ends what stop_clear began, once the writes are done. */
static void resume(enum write_mode mode)
{
    if (mode == WRITE_STOPPED)
        stopworld_resume();
#ifdef SYS_membarrier
    else if (mode == WRITE_LIVE)
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0);
#endif
}

/* Why a site with a debugger's breakpoint on its slot was left alone: the
 * slot is the entry's first instruction only in an executable built with
 * an older hot.h (see redirect.h), where `break f` covers it. */
static void debugger_reason(size_t site, char *reason, size_t reasonsz)
{
    const char *name = self.hot[site].sym && self.hot[site].sym->name ? self.hot[site].sym->name : "?";
    snprintf(reason, reasonsz, "cannot change %s() now: a debugger's breakpoint is on the instruction "
             "a reload writes (gdb: break %s); nothing was changed; delete it, or break on a line inside "
             "%s(), and try again (with this version's hot.h, `break %s` no longer blocks reloads)",
             name, name, name, name);
}

int reload_apply(struct reload_plan *plan, pid_t skip, struct reload_timings *t, char *reason,
                 size_t reasonsz)
{
    int64_t t0 = reload_now_us();
    plan->t.wait_us = t0 - plan->t_start - plan->t.load_us - plan->t.resolve_us;
    pthread_mutex_lock(&lock);
    enum write_mode mode;
    if (stop_clear(skip, plan->changes, plan->n, &mode, reason, reasonsz) != 0) {
        pthread_mutex_unlock(&lock);
        reload_plan_free(plan);
        return -1;
    }
    int64_t t1 = reload_now_us();
    size_t done = 0;
    int rc = 0;
    /* a redirected entry keeps its branch (only the target changes): only
     * an entry still to be written is refused under a breakpoint */
    for (size_t i = 0; i < plan->n; i++)
        if (!sites[plan->changes[i].site].armed && redirect_trapped(&sites[plan->changes[i].site])) {
            done = i;
            rc = REDIRECT_EDEBUGGER;
            goto undo;
        }
    for (; done < plan->n; done++) {
        struct change *c = &plan->changes[done];
        c->prev = sites[c->site].target;
        if ((rc = write_site(&sites[c->site], c->target, done)) != 0)
            break;
    }
    if (done < plan->n) { /* undo: all or nothing */
        size_t failed = done;
        while (done-- > 0) {
            struct change *c = &plan->changes[done];
            if (c->prev)
                redirect_set(&sites[c->site], c->prev);
            else
                redirect_restore(&sites[c->site]);
        }
        done = failed;
undo:
        resume(mode);
        pthread_mutex_unlock(&lock);
        if (rc == REDIRECT_EDEBUGGER)
            debugger_reason(plan->changes[done].site, reason, reasonsz);
        else
            snprintf(reason, reasonsz, "cannot apply the change: mprotect refused to make the "
                     "program's code writable; nothing was changed");
        reload_plan_free(plan);
        return -1;
    }
    plan->below = top;
    plan->all = all;
    __atomic_store_n(&all, plan, __ATOMIC_RELEASE);
    top = plan;
    __atomic_store_n(&current_version, plan->version, __ATOMIC_RELEASE);
    resume(mode);
    plan->t.apply_us = reload_now_us() - t1;
    plan->t.total_us = reload_now_us() - plan->t_start;
    int n = (int)plan->n;
    if (t)
        *t = plan->t;
    pthread_mutex_unlock(&lock);
    return n;
}

int reload_rollback(pid_t skip, char *reason, size_t reasonsz)
{
    pthread_mutex_lock(&lock);
    struct reload_plan *v = top;
    if (!v) {
        pthread_mutex_unlock(&lock);
        snprintf(reason, reasonsz, "cannot roll back: nothing to roll back to (the program runs its "
                 "original code)");
        return -1;
    }
    enum write_mode mode;
    if (stop_clear(skip, v->changes, v->n, &mode, reason, reasonsz) != 0) {
        pthread_mutex_unlock(&lock);
        return -2;
    }
    for (size_t i = 0; i < v->n; i++)
        if (!v->changes[i].prev && redirect_trapped(&sites[v->changes[i].site])) {
            resume(mode);
            pthread_mutex_unlock(&lock);
            debugger_reason(v->changes[i].site, reason, reasonsz);
            return -2;
        }
    for (size_t i = v->n; i-- > 0;) {
        struct change *c = &v->changes[i];
        if (c->prev)
            redirect_set(&sites[c->site], c->prev);
        else
            redirect_restore(&sites[c->site]);
    }
    top = v->below;
    int version = top ? top->version : 0;
    __atomic_store_n(&current_version, version, __ATOMIC_RELEASE);
    resume(mode);
    pthread_mutex_unlock(&lock);
    return version;
}

int reload_version_at(uintptr_t pc)
{
    for (const struct reload_plan *v = __atomic_load_n(&all, __ATOMIC_ACQUIRE); v; v = v->all)
        if (pc >= v->lo && pc < v->hi)
            return v->version;
    return 0;
}
