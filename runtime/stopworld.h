/* stopworld: stopping every other thread of the process at an arbitrary
 * point (a signal whose handler waits), learning where each one stopped, and
 * resuming them.
 *
 * Idle threads: the kernel never restarts a few calls after any handler
 * (poll, select, epoll_wait, nanosleep, ...; see signal(7)), so a thread
 * sleeping in one must not get the signal; and a thread that blocks the
 * signal (library threads often block every signal: Mesa's llvmpipe
 * workers do) would never arrive. With STOPWORLD_SKIP_IDLE, three kinds of
 * threads are neither signalled nor waited for: those sleeping in a system
 * call, those stopped (job control, a debugger), and those blocking the
 * stop signal. The caller makes sure its writes are safe for a thread that
 * keeps running or wakes up meanwhile (see reload.c). Without it every
 * thread must arrive: the handler has SA_RESTART, so read(), write(),
 * accept() and the like resume, but those few calls fail with EINTR, and a
 * thread that blocks the signal makes the stop fail at once. */
#ifndef HOTC_STOPWORLD_H
#define HOTC_STOPWORLD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* stopworld_stop's flags. */
#define STOPWORLD_SKIP_IDLE 1

/* stopworld_stop's errors; `*culprit` names the thread. */
#define STOPWORLD_ETIMEOUT (-1) /* did not arrive within the wait (0: an old round's) */
#define STOPWORLD_EBLOCKED (-2) /* blocks the stop signal (without SKIP_IDLE) */

/* Installs the stop signal's handler. Returns 0 or -1. Idempotent. */
int stopworld_init(void);

/* The signal used to stop threads (SIGRTMIN + 7), for messages. */
int stopworld_signal(void);

/* Stops every thread but the caller, `skip` (0 for none) and, with
 * STOPWORLD_SKIP_IDLE, the idle threads (above). Waits at most
 * `timeout_ms` for all to arrive. On success returns how many threads were
 * stopped and points `*pcs` at their program counters (valid until
 * stopworld_resume). On failure returns a negative STOPWORLD_E* error with
 * every thread running again and the thread at fault in `*culprit` (may be
 * NULL); -1 also when the task list cannot be read. Must not be called
 * concurrently. */
int stopworld_stop(pid_t skip, int timeout_ms, int flags, const uintptr_t **pcs, pid_t *culprit);

/* Resumes the threads stopped by the last stopworld_stop. */
void stopworld_resume(void);

/* The calling thread's id. */
pid_t stopworld_gettid(void);

/* Whether thread `tid` of this process blocks the stop signal now. */
int stopworld_blocks_signal(pid_t tid);

#endif
