/* guard: crash handling. hot_guard() turns a crash during a call into an
 * error return plus a rollback; outside a guard, a crash is reported to the
 * server and then takes its default course. */
#ifndef HOTC_GUARD_H
#define HOTC_GUARD_H

/* Installs the SIGSEGV/SIGBUS/SIGILL/SIGFPE handlers (once). Returns 0/-1. */
int guard_init(void);

#endif
