/* guard: crash handling. hot_guard() turns a crash during a call into an
 * error return plus a rollback; outside a guard, a crash is reported to the
 * server and then takes its default course. */
#ifndef HOTC_GUARD_H
#define HOTC_GUARD_H

/* Installs the SIGSEGV/SIGBUS/SIGILL/SIGFPE handlers, once for the life of
 * the process (the handlers they replace are kept, for unguarded crashes).
 * From then on the program's sigaction() and signal() for these signals
 * (guard.c defines them over libc's) record its handler, which gets each
 * crash after the report, and leave the runtime's in place. Returns 0, or
 * -1 when sigaction refused one (the others stay installed; later calls
 * return 0). Thread-safe. */
int guard_init(void);

/* Puts the runtime's handlers back in front of any the program installed
 * without sigaction() or signal() (sigset, a raw system call; theirs then
 * get the crash after the report). Called by the runtime's thread about
 * once a second. */
void guard_recheck(void);

#endif
