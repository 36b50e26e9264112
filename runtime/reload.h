/* reload: the all-or-nothing core. A reload is first prepared (dlopen,
 * build-id check, functions and statics resolved and bound; off the main
 * thread, nothing visible changes), then applied at a safe point (every
 * redirect written while other threads are stopped), or refused whole.
 * Applied versions form a stack that rollback pops; their libraries stay
 * loaded. No JSON here: session_requests.c translates messages into these
 * structs. */
#ifndef HOTC_RELOAD_H
#define HOTC_RELOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "elfself.h"

struct reload_func {
    const char *name;   /* the host's function */
    const char *file;   /* its STT_FILE (for a static function), or NULL */
    const char *symbol; /* the patch's symbol with the new code */
};

struct reload_static {
    const char *symbol;   /* weak reference in the patch (__hotc_s_N) */
    const char *name;     /* C name */
    const char *file;     /* basename of the source file */
    const char *function; /* enclosing function of a function-local static */
    int is_function;      /* kind "function" (a static helper), else object */
    size_t create_size;   /* > 0: a function-local static added since the build; when the
                           * executable has none, the runtime makes it (zeroed, once, kept) */
};

struct reload_request {
    int version;
    const char *library;         /* path of the patch .so */
    const char *target_build_id; /* NULL or hex */
    const struct reload_func *funcs;
    size_t nfuncs;
    const struct reload_static *statics;
    size_t nstatics;
};

struct reload_timings {
    int64_t load_us, resolve_us, wait_us, apply_us, total_us;
};

struct reload_plan; /* opaque: a prepared reload */

/* Reads the executable (elfself) and checks every HOT function's padding,
 * once for the life of the process. Returns 0, or -1 with the reason in
 * `err` (may be NULL); a failure is final: every later call and every
 * reload_prepare report it again. Thread-safe. */
int reload_init(char *err, size_t errsz);

/* The executable as read by reload_init (borrowed; NULL before). */
const struct elfself *reload_self(void);

/* Prepares `req`. On success stores a new plan in `*out` and returns 0; on
 * refusal returns -1 with the reason in `reason` (nothing changed, the
 * library unloaded). Does not block other threads. */
int reload_prepare(const struct reload_request *req, struct reload_plan **out, char *reason,
                   size_t reasonsz);

/* The version `plan` would install. */
int reload_plan_version(const struct reload_plan *plan);

/* Applies a plan: stops every other thread except `skip` (the runtime's own
 * thread), makes sure none is inside bytes being rewritten, writes, resumes.
 * Returns how many functions were redirected, or -1 with a reason (nothing
 * applied). Takes ownership of the plan either way. `t` gets the timings
 * (wait = from preparation to now, as measured by the plan's clock). */
int reload_apply(struct reload_plan *plan, pid_t skip, struct reload_timings *t, char *reason,
                 size_t reasonsz);

/* With 0, apply and rollback write without stopping other threads: for a
 * caller that knows it is alone (a single-threaded test under qemu-user,
 * where qemu's own threads show in /proc/self/task but never take guest
 * signals). 1 (stop the world) is the default. */
void reload_set_stop_world(int stop);

/* Frees a plan that will not be applied (unloads its library). NULL is
 * ignored. */
void reload_plan_free(struct reload_plan *plan);

/* Undoes the newest applied version, stopping other threads but `skip` as
 * reload_apply does; its library stays loaded (old code may still run
 * there). Returns the version now running, or, with the reason in `reason`
 * and nothing changed, -1 when there is nothing to roll back to and -2 when
 * the threads did not stop. */
int reload_rollback(pid_t skip, char *reason, size_t reasonsz);

/* The version running now (0 before any reload). */
int reload_version(void);

/* When `pc` is inside the library of a version ever applied (rolled back
 * or not), returns that version; else 0. Lock-free: safe in a signal
 * handler. */
int reload_version_at(uintptr_t pc);

/* Microseconds on the monotonic clock. */
int64_t reload_now_us(void);

#endif
