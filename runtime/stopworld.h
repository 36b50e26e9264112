/* stopworld: stopping every other thread of the process at an arbitrary
 * point (a signal whose handler waits), learning where each one stopped, and
 * resuming them.
 *
 * System calls: the kernel never restarts a few calls after any handler
 * (poll, select, epoll_wait, nanosleep, ...; see signal(7)), so a thread
 * sleeping in one must not get the signal. With `skip_blocked`, threads
 * sleeping in a system call are left alone: their pc is at a system call
 * instruction, never in bytes being rewritten, and the caller makes sure
 * the writes are safe for a thread that wakes up meanwhile (see reload.c).
 * Otherwise every thread is signalled; the handler has SA_RESTART, so
 * read(), write(), accept() and the like resume, but those few calls fail
 * with EINTR. */
#ifndef HOTC_STOPWORLD_H
#define HOTC_STOPWORLD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Installs the stop signal's handler. Returns 0 or -1. Idempotent. */
int stopworld_init(void);

/* Stops every thread but the caller, `skip` (0 for none) and, when
 * `skip_blocked`, the threads sleeping in a system call. Waits at most
 * `timeout_ms` for all to arrive. On success returns how many threads were
 * stopped and points `*pcs` at their program counters (valid until
 * stopworld_resume). Returns -1 (all resumed again) when a thread did not
 * arrive in time (it blocks the signal). Must not be called concurrently. */
int stopworld_stop(pid_t skip, int timeout_ms, int skip_blocked, const uintptr_t **pcs);

/* Resumes the threads stopped by the last stopworld_stop. */
void stopworld_resume(void);

/* The calling thread's id. */
pid_t stopworld_gettid(void);

#endif
