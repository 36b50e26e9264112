/* rt_driver: the server's side of the runtime protocol (docs/protocol.md),
 * for the runtime's tests. It listens on a Unix socket in a private
 * directory, accepts one runtime, sends requests and waits for answers, and
 * records every message into <dir>/<kind>.jsonl for schema validation
 * (kind: "hot-attach", "hot-attach.result", "hot-reload", ...).
 *
 * Also: building test programs and patch libraries with gcc, and running a
 * program in the background with its output in a file. rt_fixture.h has
 * the steps the tests share, asserted with Criterion. */
#ifndef HOTC_RT_DRIVER_H
#define HOTC_RT_DRIVER_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

struct rt_driver;

/* A new driver listening in a fresh temporary directory. NULL on failure. */
struct rt_driver *rt_driver_new(void);
void rt_driver_free(struct rt_driver *d);

/* The same listening on TCP, 127.0.0.1 at a free port ("tcp:127.0.0.1:N"). */
struct rt_driver *rt_driver_new_tcp(void);

/* The token the driver proves it knows in its hot/attach answers (the TCP
 * handshake, docs/protocol.md); NULL or "": it proves nothing. */
void rt_driver_set_token(struct rt_driver *d, const char *token);

/* The server goes away: closes the connection and the listening socket
 * (removing a Unix socket's file). The directory stays until
 * rt_driver_free. */
void rt_driver_close(struct rt_driver *d);

/* The base64 of a file's bytes (new string), or NULL. */
char *rt_base64_file(const char *path);

/* The directory (traffic files, built programs, patches) and the endpoint
 * string to give the program ("unix:/.../hotc.sock"). */
const char *rt_driver_dir(const struct rt_driver *d);
const char *rt_driver_endpoint(const struct rt_driver *d);

/* The name of the program rt_spawn started last ("" before), for messages
 * that show its output. */
const char *rt_driver_program(const struct rt_driver *d);

/* Waits for a runtime to connect and send hot/attach, answers it. Returns
 * the attach params (borrowed) or NULL after `timeout_ms`. */
json_t *rt_driver_accept(struct rt_driver *d, int timeout_ms);

/* Sends a request (params stolen) and waits for its response. Returns the
 * whole response (new reference: {"result":...} or {"error":...}) or NULL
 * on timeout or disconnection. Notifications arriving meanwhile are kept. */
json_t *rt_driver_request(struct rt_driver *d, const char *method, json_t *params, int timeout_ms);

/* Waits for a notification `method` (kept or new). Returns its params (new
 * reference) or NULL. */
json_t *rt_driver_notification(struct rt_driver *d, const char *method, int timeout_ms);

/* Waits until the runtime closes the connection. Returns 0 or -1. */
int rt_driver_wait_closed(struct rt_driver *d, int timeout_ms);

/* ---------------------------------------------------------------- builds */

/* The gcc flags that link a test program with libhotc (shell text, for
 * sh -c): the build's own library when the tests are plain; under
 * sanitizers a plain copy of it, so that the program itself runs without
 * them. NULL (the reason on stderr) when that copy cannot be built. */
const char *rt_libhotc_flags(void);

/* Builds the program from sources under tests/programs (NULL-terminated,
 * relative to tests/programs) into <dir>/<name>, linked with libhotc.
 * Returns 0, or -1 with gcc's output on stderr. */
int rt_build_program(struct rt_driver *d, const char *name, const char *const *sources);

/* Builds a patch library from tests/programs/<source> into <dir>/<name>
 * with -DHOTC_BUILD_ID="<build_id>" and extra -D flags (NULL-terminated,
 * may be NULL). Returns 0 or -1. */
int rt_build_patch(struct rt_driver *d, const char *name, const char *source, const char *build_id,
                   const char *const *defines);

/* Copies <dir>/<from> to <dir>/<to>, replacing the decimal digits after the
 * marker "HOTC_TAG_" with `tag` (zero-padded to the same width); a negative
 * `tag` copies unchanged. Returns 0, or -1 (also when no marker was found). */
int rt_copy_tagged(struct rt_driver *d, const char *from, const char *to, int tag);

/* An absolute path in the driver's directory (static buffer). */
const char *rt_path(struct rt_driver *d, const char *name);

/* Starts <dir>/<name> with argv[1..] = args (NULL-terminated, may be NULL),
 * HOTC_ENDPOINT set, extra environment entries `env` ("K=V", may be NULL),
 * stdout and stderr into <dir>/<name>.out. Returns the pid or -1. */
pid_t rt_spawn(struct rt_driver *d, const char *name, const char *const *args,
               const char *const *env);

/* Waits until the program's output contains `text`. Returns 0 or -1. */
int rt_wait_output(struct rt_driver *d, const char *name, const char *text, int timeout_ms);

/* The program's output so far (static buffer, up to 1 MB). */
const char *rt_output(struct rt_driver *d, const char *name);

/* Number of complete lines in the program's output. */
int rt_count_lines(struct rt_driver *d, const char *name);

/* Waits for a line, at index `after` or later (0-based), that starts with
 * `prefix`. Returns it (static buffer, without the newline) or NULL. */
const char *rt_line_after(struct rt_driver *d, const char *name, int after, const char *prefix,
                          int timeout_ms);

/* Waits for `pid` to exit; returns its wait status, or -1 after killing it
 * on timeout. */
int rt_wait_exit(pid_t pid, int timeout_ms);

#endif
