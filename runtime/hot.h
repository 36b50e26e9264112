/* hot.h: the whole public API of libhotc, the runtime linked into programs
 * that hotc reloads. Build with the flags `pkg-config --cflags --libs hotc`
 * gives (they include -rdynamic, which the runtime needs).
 *
 *   #include <hot.h>
 *   HOT void update(struct game *g, float dt) { ... }
 *   int main(void) { hot_init(NULL); for (;;) { hot_poll(); update(&g, dt); } }
 */
#ifndef HOT_H
#define HOT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(__clang__) && (__GNUC__ >= 8)
#define HOT__PATCHABLE 1
#elif defined(__clang__) && (__clang_major__ >= 10)
#define HOT__PATCHABLE 1
#endif

/* HOT marks a function as redirectable: kept out of line, never cloned, and
 * given patchable padding before its entry (x86-64: 14 bytes before, 4 at the
 * entry with gcc, 2 with clang; aarch64: 4 instructions before, 2 at the
 * entry). The cost before any reload is the NOPs at the entry. A reload
 * writes only the entry's last NOP(s): gdb puts `break f` on the first one
 * with gcc (after them with clang), so a debugger's breakpoint on a HOT
 * function never blocks a reload, and the byte the debugger saved stays
 * right (clang emits one 2-byte NOP for 2 bytes but one 4-byte NOP for 4,
 * which would cover the bytes a reload writes: hence 2). On x86-64 the padding starts on a 16-byte
 * boundary (aligned(16); gcc aligns functions only from -O2 otherwise), so
 * that the entry and the jump's target can each be rewritten with one atomic
 * store while other threads run. With gcc it also implies noipa: callers
 * must not assume anything about the body (its return value, what it
 * clobbers), since the body will change. Elsewhere it expands to noinline
 * only.
 *
 * clang has no noipa, and noinline is not enough there: clang 14 at -O1 and
 * above still deduces facts from the body and uses them in callers (a HOT
 * function that returns a constant has its calls' results replaced by the
 * constant; one that writes nothing, its calls dropped), so a reload of
 * such a function may not change what its callers see. What stops it:
 * `weak` (the definition may be replaced at link time, so clang assumes
 * nothing about it; tried: calls, results and side effects all kept), but
 * clang refuses weak on a static function, so HOT cannot carry it; optnone
 * keeps the calls and their side effects but not their results (and gives
 * up optimizing the body). Until hotc has an answer for static functions,
 * with clang: mark non-static HOT functions `HOT __attribute__((weak))`
 * yourself when their body is trivial (constant results, no side effects),
 * or build the program with gcc. */
#if defined(__GNUC__) && !defined(__clang__)
#define HOT__NOIPA __attribute__((noipa, noclone))
#else
#define HOT__NOIPA
#endif

#if defined(HOT__PATCHABLE) && defined(__x86_64__) && defined(__clang__)
#define HOT __attribute__((noinline, used, aligned(16), patchable_function_entry(16, 14))) HOT__NOIPA
#elif defined(HOT__PATCHABLE) && defined(__x86_64__)
#define HOT __attribute__((noinline, used, aligned(16), patchable_function_entry(18, 14))) HOT__NOIPA
#elif defined(HOT__PATCHABLE) && defined(__aarch64__)
#define HOT __attribute__((noinline, used, patchable_function_entry(6, 4))) HOT__NOIPA
#elif defined(__GNUC__)
#define HOT __attribute__((noinline, used))
#else
#define HOT
#endif

#if defined(__GNUC__)
#define HOT_API __attribute__((visibility("default")))
#else
#define HOT_API
#endif

/* The environment variable that names the server's endpoint when hot_init is
 * given NULL ("unix:/path/to.sock" or "tcp:host:port"); HOTC_TOKEN carries the
 * TCP token. Without it the runtime reads the endpoint file the server writes
 * ($XDG_RUNTIME_DIR/hotc/endpoint, or /tmp/hotc-<uid>/endpoint). */
#define HOT_ENV_ENDPOINT "HOTC_ENDPOINT"
#define HOT_ENV_TOKEN "HOTC_TOKEN"
/* "auto" selects the automatic mode (see hot_init) without code changes. */
#define HOT_ENV_MODE "HOTC_MODE"

enum hot_mode {
    HOT_MODE_POLL = 0, /* reloads are applied in hot_poll() */
    HOT_MODE_AUTO = 1  /* reloads are applied by stopping all threads */
};

/* Attaches to the hotc server at `endpoint`, or at the one named by
 * $HOTC_ENDPOINT (then the endpoint file) when NULL. A background thread
 * connects, and retries quietly while there is no server. Without a server
 * it returns at once, and also when the server (over a Unix socket) keeps
 * no state of this program's last run (a marker beside its socket says
 * when it does); otherwise it waits for the attach's answer and for that
 * state, 200 ms at most in all (see HOT_PERSIST).
 * Returns 0, or a negative error when the runtime cannot start at all (the
 * program still runs; it just won't reload). Calling it twice is harmless. */
HOT_API int hot_init(const char *endpoint);

/* Like hot_init, choosing the mode. In HOT_MODE_AUTO, reloads are applied
 * without hot_poll. A change of one function is written while the program
 * runs (each write is one the processor sees whole); a change of several
 * stops every thread that runs code with a signal, checks that no
 * instruction pointer sits in bytes being rewritten, writes and resumes.
 * Threads sleeping in a system call are never signalled, so poll, select,
 * epoll_wait, nanosleep and read are not failed with EINTR (see
 * runtime/reload.c for the one narrow case where a thread entering such a
 * call while a multi-function change stops the world can be). Threads that
 * block the stop signal (SIGRTMIN+7; library threads that block every
 * signal, like Mesa's) are not waited for either: they may see a
 * multi-function change half applied for the microseconds of the writes
 * (each function is old or new, never torn). Where an entry cannot be
 * rewritten while a thread runs through it (not aligned: a program built
 * without optimization), such a thread makes the change refused, with its
 * id in the reason. The same holds for hot_poll, which stops the program's
 * other threads the same way. */
HOT_API int hot_init_mode(const char *endpoint, enum hot_mode mode);

/* The safe point: applies a prepared reload, if any. Returns how many
 * functions it redirected (0 when nothing was pending). Cheap when idle: one
 * atomic load. */
HOT_API int hot_poll(void);

/* Called with HOT_BEFORE just before a reload is applied and HOT_AFTER right
 * after, on the thread that applies it. At most 16 callbacks. */
enum hot_phase { HOT_BEFORE = 0, HOT_AFTER = 1 };
typedef void (*hot_reload_fn)(enum hot_phase phase, int version, void *user);
HOT_API int hot_on_reload(hot_reload_fn callback, void *user);

/* State that survives reloads. The first call with `name` allocates `size`
 * zeroed bytes; later calls (from new code) return the same block. When
 * `version` differs from the block's, `migrate` is called to turn the old
 * block into a new one of `size` bytes (old contents, old size and old
 * version given); without `migrate` the common prefix is kept and the rest
 * zeroed. Returns NULL only when out of memory. The block is owned by the
 * runtime and lives until the program exits. */
typedef void (*hot_migrate_fn)(void *new_block, size_t new_size, const void *old_block,
                               size_t old_size, int old_version);
HOT_API void *hot_state(const char *name, size_t size, int version, hot_migrate_fn migrate);

/* Typed state: a block that hotc knows the C type of, so that a reload
 * which changes that type's layout is applied with the block migrated
 * instead of refused.
 *
 *   struct game { int score; long frames; };
 *   HOT void frame(void) { struct game *g = HOT_STATE(struct game, "game"); g->frames++; }
 *
 * HOT_STATE(type, name) returns a `type *` to a zeroed block the first time
 * and the same block on later calls. `type` is spelled as in a declaration
 * ("struct game", or a typedef name); the runtime tells the server the block
 * and its type. When a reload changes the type's layout (a field added,
 * removed, moved, widened, turned from int to double), the server plans the
 * migration from the two builds' debug information and the runtime applies
 * it at the safe point, right after the new code is in place and before the
 * program's thread runs on (in HOT_MODE_AUTO: before the reload's answer;
 * other threads may run new code in between, see hot_init_mode): a new block
 * of the new layout is allocated; same-named fields of the same type are
 * copied; numbers that changed width, signedness or kind (int → double) are
 * converted when the value fits and left zero otherwise (the server's log
 * and the editor name them); nested structs and fixed arrays are migrated
 * field by field; new fields are zero; removed fields are dropped; pointers
 * are copied as they are. The next HOT_STATE call returns the new block; the
 * old one stays allocated (code still running on another thread may hold
 * it). So: fetch the block with HOT_STATE where it is used (each frame),
 * rather than keeping the pointer across a reload.
 *
 * HOT_STATE_MIGRATE(type, name, fn) is the same with your own migration:
 * at such a reload `fn` (a hot_migrate_fn; the one given by the latest
 * call, run after the new code is in place, so a HOT `fn` runs its new
 * version) fills the new block instead of the plan; old_version is 0.
 *
 * A block whose type the reload does not change is kept as it is (nothing
 * copied). The server refuses a reload that changes a block's type when it
 * cannot migrate it safely: when the new code also reaches that type
 * through a global or static variable, or passes it to a function that is
 * not reloaded (old code would read the new layout). Returns NULL only when
 * out of memory. */
#define HOT_STATE(type, name) ((type *)hot_state_typed((name), sizeof(type), #type, (hot_migrate_fn)0))
#define HOT_STATE_MIGRATE(type, name, fn) ((type *)hot_state_typed((name), sizeof(type), #type, (fn)))
HOT_API void *hot_state_typed(const char *name, size_t size, const char *type, hot_migrate_fn migrate);

/* State across a restart and a clean exit. When the program exits (exit(),
 * a return from main, or hot_shutdown) or the editor restarts it (hotc's restart
 * command, which rebuilds it first), the runtime hands every state block
 * (hot_state and HOT_STATE) and every HOT_PERSIST variable to the server,
 * which keeps them per executable path in $XDG_STATE_HOME/hotc (default
 * ~/.local/state/hotc; files 0600 in a 0700 folder) together with the
 * layout of each typed block and variable, read from the build's debug
 * information. The next start of the same executable gets them back
 * inside hot_init, before it returns: hot_init waits for them (at most
 * 200 ms, or $HOTC_STATE_WAIT_MS) only when the server said at attach that
 * it keeps state for the program, never without a server or saved state.
 * When the new build's layouts differ, typed blocks and variables are
 * migrated field by field as at a reload (see HOT_STATE); a field that
 * cannot be migrated is left at its default (zero in a block, the
 * variable's initial value in a variable) and the editor is warned with
 * its name. Pointers do not survive a process: pointer fields are reset
 * (NULL in a block, the initial value in a variable), unlike at a live
 * reload where they are kept. Untyped hot_state blocks come back byte for
 * byte (their `version` and `migrate` work as at a reload). State arriving
 * after hot_init stopped waiting is not applied (the editor is told) and
 * stays saved. A crash or a kill saves nothing: the next start gets what
 * the last clean exit or restart saved. The editor's "forget state"
 * command (hotc.server.forgetState) deletes it. Call hot_init first in
 * main, before the state is used.
 *
 * HOT_PERSIST(var) makes an existing global or file-scope `static`
 * persistent in that way. Place it at file scope after the definition:
 *
 *   static struct score best = { .points = 10 };
 *   HOT_PERSIST(best);
 *
 * It registers the variable's address, size, name and file from a
 * constructor (gcc and clang); its type comes from the debug information
 * (build with -g). Function-local statics cannot be named from file scope
 * and are not supported. A persistent variable whose layout a reload
 * changes is still refused live (code refers to it by address): restart
 * to apply, and it is migrated then. Returns from hot_persist: 0, or
 * HOT_EINVAL / HOT_ENOMEM. */
#define HOT__CAT2(a, b) a##b
#define HOT__CAT(a, b) HOT__CAT2(a, b)
#if defined(__GNUC__)
#define HOT_PERSIST(var)                                                                                   \
    __attribute__((constructor)) static void HOT__CAT(hot__persist_, __LINE__)(void)                    \
    {                                                                                                      \
        hot_persist((void *)&(var), sizeof(var), #var, __FILE__);                                          \
    }                                                                                                      \
    struct hot__persist_semicolon
#else
#define HOT_PERSIST(var) struct hot__persist_semicolon
#endif
HOT_API int hot_persist(void *addr, size_t size, const char *name, const char *file);

/* The version of the code running now: 0 before any reload, then 1, 2, ... */
HOT_API int hot_version(void);

/* Returns to the previous version now (other threads are stopped for the
 * write, as in automatic mode) and tells the server. Returns the version now
 * running, or a negative error: HOT_ENOROLLBACK when nothing was reloaded,
 * HOT_ESTOP when the other threads could not be stopped (nothing changed). */
HOT_API int hot_rollback(void);

/* Hands the state over (see HOT_PERSIST), detaches from the server and
 * stops the background thread. The code that runs now keeps running. */
HOT_API void hot_shutdown(void);

/* Crashes outside hot_guard: after hot_init, a crash (SIGSEGV, SIGBUS,
 * SIGILL, SIGFPE) is reported to the server, then takes the course it
 * would have taken without libhotc. libhotc defines sigaction(), signal(),
 * bsd_signal() and sysv_signal() in front of libc's: for these four
 * signals they record the program's (or a library's) handler and answer
 * with its previous one, while the runtime's handler stays installed and
 * hands each crash on to the program's handler after the report, as the
 * kernel would have (siginfo, mask, SA_RESETHAND, SA_NODEFER; SIG_DFL and
 * SIG_IGN as the default action). Other signals go to libc's as they are.
 *
 * Calls fn(arg) so that a crash (SIGSEGV, SIGBUS, SIGILL, SIGFPE) during the
 * call returns HOT_ECRASHED instead of killing the program. When a reload is
 * in effect, the newest one is rolled back (the previous version runs from
 * then on); the server gets hot/crash either way. Returns 0 when fn
 * returned. Guards nest; each thread has its own. Whatever fn had locked or
 * allocated when it crashed stays so. */
typedef void (*hot_guarded_fn)(void *arg);
HOT_API int hot_guard(hot_guarded_fn fn, void *arg);

/* Errors returned by this API: HOT_EINVAL, ... (negative), and their texts
 * for hot_strerror. The one table: add an error here and both follow. */
#define HOT_ERRNO_MAP(X)                                                              \
    X(EINVAL, -1, "invalid argument")                                                 \
    X(ENOMEM, -2, "out of memory")                                                    \
    X(ENOROLLBACK, -3, "nothing to roll back to")                                     \
    X(ETOOMANY, -4, "too many reload callbacks (at most 16)")                         \
    X(EUNSUPPORTED, -5, "hot reloading is not supported on this platform")            \
    X(ENOEXE, -6, "cannot read the program's executable (stripped?)")                 \
    X(ESTOP, -7, "cannot stop the program's threads to apply a change")               \
    X(ETHREAD, -8, "cannot start the runtime's thread")                               \
    X(ECRASHED, -1000, "the guarded call crashed; the newest reload, if any, was rolled back")

enum hot_error {
#define HOT__ERR(name, value, text) HOT_##name = (value),
    HOT_ERRNO_MAP(HOT__ERR)
#undef HOT__ERR
};

/* Human-readable text of a negative error returned by this API (a static
 * string, never NULL; "unknown error" for a value not in the table). */
HOT_API const char *hot_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
