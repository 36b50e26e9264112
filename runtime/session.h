/* session: the runtime's side of the server conversation (docs/protocol.md).
 * A background thread finds the endpoint, connects (retrying quietly every
 * 500 ms), attaches, reads JSON-RPC requests with Content-Length framing,
 * prepares reloads off the main thread, and either applies them itself
 * (automatic mode) or leaves them for hot_poll(). */
#ifndef HOTC_SESSION_H
#define HOTC_SESSION_H

#include <sys/types.h>

/* Starts the background thread. `endpoint` NULL: $HOTC_ENDPOINT, then the
 * endpoint file, reread on every attempt. Returns 0 or a negative hot error.
 * Never blocks on the network. */
int session_start(const char *endpoint, int auto_mode);

/* Sends hot/detach (when attached), stops and joins the thread. */
void session_stop(void);

/* Applies what the background thread prepared for the safe point (a reload
 * or a rollback the server asked for) and answers the server. Returns how
 * many functions were redirected. Called by hot_poll. */
int session_poll(void);

/* The runtime thread's id (0 when not running): never stopped, never runs
 * HOT code. */
pid_t session_thread_tid(void);

/* Sends a hot/log notification (when attached). */
void session_log(const char *level, const char *message);

/* Sends hot/crash. From normal context. `function` may be NULL. */
void session_crash(int sig, unsigned long address, const char *function, unsigned long offset,
                int version, int guarded, int rolled_back);

/* The same from a signal handler: formats without allocating and writes
 * with write(2), giving up when another thread is writing. */
void session_crash_from_signal(int sig, unsigned long address, const char *function,
                            unsigned long offset, int version);

/* Name of a signal ("SIGSEGV"). */
const char *session_signal_name(int sig);

#endif
