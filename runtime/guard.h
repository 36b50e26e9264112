/* guard: crash handling. hot_guard() turns a crash during a call into an
 * error return plus a rollback; outside a guard, a crash is reported to the
 * server and then takes its default course. */
#ifndef HOTC_GUARD_H
#define HOTC_GUARD_H

/* Installs the SIGSEGV/SIGBUS/SIGILL/SIGFPE handlers, once for the life of
 * the process (the handlers they replace are kept, for unguarded crashes).
 * Returns 0, or -1 when sigaction refused one (the others stay installed;
 * later calls return 0). Thread-safe. */
int guard_init(void);

/* Puts the runtime's handlers back in front of any the program installed
 * since (theirs then get the crash after the report, as the handlers
 * guard_init replaced do). Called by the runtime's thread about once a
 * second: a crash in the second after the program replaced a handler is
 * not reported. */
void guard_recheck(void);

#endif
