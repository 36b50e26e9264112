/* A blocking LSP client for tests: spawns the real `hotc lsp` with pipes,
 * sends framed JSON, and reads framed messages with a timeout. Messages read
 * while waiting for something else are kept in a queue (in arrival order)
 * and returned by later waits, so a test never loses a notification.
 *
 * Typical use:
 *
 *     struct lspclient *c = lspclient_start(NULL);
 *     json_t *init = lspclient_initialize(c, NULL);       // initialize + initialized
 *     lspclient_notify(c, "textDocument/didOpen", json_pack(...));
 *     json_t *diag = lspclient_wait_notification(c, "textDocument/publishDiagnostics", 10000);
 *     json_t *resp = lspclient_request(c, "textDocument/codeLens", json_pack(...), 10000);
 *     cr_assert_eq(lspclient_shutdown(c, 10000), 0);      // shutdown + exit, exit status
 *     lspclient_free(c);
 *
 * Every json_t returned is a new reference the caller must json_decref; every
 * json_t passed in is stolen (also on failure). Timeouts are in milliseconds;
 * on a timeout or a dead server the functions return NULL / -1. */
#ifndef HOTC_TEST_LSPCLIENT_H
#define HOTC_TEST_LSPCLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

struct lspclient;

/* How to start the server. Every field may be left NULL/0. */
struct lspclient_options {
    const char *hotc;               /* binary; default test_build_path("hotc") */
    const char *const *args;        /* extra arguments after "lsp", NULL-terminated */
    const char *const *env;         /* "NAME=value" entries added to the environment */
    const char *cwd;                /* working directory of the server */
    int quiet_stderr;               /* send the server's stderr to /dev/null */
};

/* Spawns `hotc lsp [args...]`. Returns NULL (with a message on stderr) when
 * it cannot. `opt` may be NULL. */
struct lspclient *lspclient_start(const struct lspclient_options *opt);

/* Kills the server if it still runs, reaps it, frees everything. */
void lspclient_free(struct lspclient *self);

/* The server's pid. */
pid_t lspclient_pid(const struct lspclient *self);

/* Sends one message (any JSON), framed. Steals `msg`. 0 or -1. */
int lspclient_send(struct lspclient *self, json_t *msg);

/* Writes raw bytes to the server's stdin, unframed. 0 or -1. */
int lspclient_send_raw(struct lspclient *self, const void *bytes, size_t len);

/* Sends a request with a fresh integer id (returned, > 0) or -1. Steals
 * `params` (may be NULL: no "params" member). */
json_int_t lspclient_send_request(struct lspclient *self, const char *method, json_t *params);

/* Sends a notification. Steals `params` (may be NULL). 0 or -1. */
int lspclient_notify(struct lspclient *self, const char *method, json_t *params);

/* Sends a response to a request the server made. Steals `result`
 * (NULL means JSON null). 0 or -1. */
int lspclient_respond(struct lspclient *self, json_t *id, json_t *result);

/* Sends a request and waits for its response: the whole response object
 * ({"jsonrpc","id","result"|"error"}), or NULL on timeout. */
json_t *lspclient_request(struct lspclient *self, const char *method, json_t *params, int timeout_ms);

/* Returns the next message: first from the queue, else read from the
 * server. NULL on timeout or end of stream. */
json_t *lspclient_read(struct lspclient *self, int timeout_ms);

/* Waits for the response with this id (an integer id, or pass -1 for
 * "id": null, the answer to a message the server could not read). */
json_t *lspclient_wait_response(struct lspclient *self, json_int_t id, int timeout_ms);

/* Waits for a message from the server with this method: a notification, or
 * a request the server makes (which then has an "id" to respond to). */
json_t *lspclient_wait_notification(struct lspclient *self, const char *method, int timeout_ms);

/* Sends `initialize` (with `params`, or a default: processId, rootUri null,
 * capabilities {} when NULL), then `initialized`. Returns the result member
 * of the response, or NULL. */
json_t *lspclient_initialize(struct lspclient *self, json_t *params, int timeout_ms);

/* Sends `shutdown`, waits for its response, sends `exit`, and waits for the
 * process to end. Returns its exit status, or -1. */
int lspclient_shutdown(struct lspclient *self, int timeout_ms);

/* Closes the server's stdin (end of stream). */
void lspclient_close_stdin(struct lspclient *self);

/* Waits for the process to exit on its own. Returns its exit status, -1 on
 * timeout (the process is left running) or when killed by a signal. */
int lspclient_wait_exit(struct lspclient *self, int timeout_ms);

/* How many bytes of unframeable or unparsable input the client has seen
 * from the server (should stay 0: stdout carries protocol only). */
size_t lspclient_garbage(const struct lspclient *self);

#endif
