/* session: the runtime's side of the server conversation (docs/protocol.md).
 * A background thread finds the endpoint, connects (retrying quietly every
 * 500 ms), attaches, reads JSON-RPC requests with Content-Length framing,
 * prepares reloads off the main thread, and either applies them itself
 * (automatic mode) or leaves them for hot_poll(). */
#ifndef HOTC_SESSION_H
#define HOTC_SESSION_H

#include <stddef.h>
#include <sys/types.h>

/* Starts the background thread. `endpoint` NULL: $HOTC_ENDPOINT, then the
 * endpoint file, reread on every attempt. Returns 0 or a negative hot error.
 * Never blocks on the network. */
int session_start(const char *endpoint, int auto_mode);

/* Sends hot/detach (when attached), stops and joins the thread. */
void session_stop(void);

/* Applies what the background thread prepared for the safe point (a reload
 * or a rollback the server asked for) and hands the answer to the
 * background thread, which sends it: never waits for the network. Returns
 * how many functions were redirected. Called by hot_poll. */
int session_poll(void);

/* The runtime thread's id (0 when not running): never stopped, never runs
 * HOT code. */
pid_t session_thread_tid(void);

/* Queues a hot/log notification (when attached) for the background thread
 * to send. Any thread; never waits for the network. Dropped (and counted in
 * a later warning) while the server is not reading and the backlog is
 * full. */
void session_log(const char *level, const char *message);

/* Waits until the state of the last run is restored (hot/restore), or
 * there is none to wait for, at most $HOTC_STATE_WAIT_MS (default 200)
 * ms; after it, hot/restore is refused. Called once by hot_init. */
void session_wait_state(void);

/* One migration plan as hot/reload carries it (`obj` a struct json_t,
 * borrowed) into `out`, validated (strings and ops owned by `out`: free
 * them with session_plan_release). Returns 0, or -1 with the reason in
 * `err`. */
struct json_t;
struct migrate_plan;
int session_plan_parse(struct json_t *obj, struct migrate_plan *out, char *err, size_t errsz);
void session_plan_release(struct migrate_plan *plan);

/* Queues hot/state (when attached): a typed block was created. Any thread;
 * like session_log. */
void session_state(const char *name, const char *type, size_t size);

/* Queues hot/crash (when attached), like session_log. From normal context.
 * `function` may be NULL; `module` (may be NULL) is the file the address
 * lies in (the executable or a patch library) and `module_base` where it is
 * loaded, for the server to read its DWARF. */
void session_crash(int sig, unsigned long address, const char *function, unsigned long offset,
                   const char *module, unsigned long module_base, int version, int guarded, int rolled_back);

/* The same from a signal handler, for a program about to die: formats
 * without allocating and writes it itself, after the unsent backlog, with
 * non-blocking sends; gives up after a short bounded wait (CRASH_SEND_MS in
 * session.c, for the send lock and for room in the socket). */
void session_crash_from_signal(int sig, unsigned long address, const char *function,
                               unsigned long offset, const char *module, unsigned long module_base, int version);

/* Name of a crash signal ("SIGSEGV"; "signal" for others), static. */
const char *session_signal_name(int sig);

#endif
