/* The language server: lifecycle state machine, a method table, text sync,
 * analysis diagnostics, code lenses, hover, commands. It owns the documents
 * (lsp/docstore.h) and the reload state (lsp/state.h).
 *
 * How the save-to-reload pipeline plugs in
 * ----------------------------------------
 * 1. It fills a `struct server_hooks` and calls server_set_hooks() once,
 *    right after server_new() in lsp/main.c (one line there). Every hook is
 *    optional.
 * 2. On `textDocument/didSave` the server updates the document (honouring
 *    `text` when the client sends it), republishes analysis diagnostics, and
 *    calls hooks.did_save with the document: its `text` is the saved file,
 *    `running` the analysis of what the program runs, `analysis` the new
 *    one; analysis_diff(doc->running, doc->analysis) says what changed.
 * 3. The four commands of docs/protocol.md are in the server's method table;
 *    each calls hooks.command with a `struct server_request` that the hook
 *    answers, now or later, with exactly one server_reply() or
 *    server_reply_error(). Without a hook they answer "no program attached".
 * 4. After a reload the pipeline writes lsp/state.h (server_state()), makes
 *    the new text the baseline (server_mark_running()), then calls
 *    server_state_changed(): lenses refresh, diagnostics are recomputed and
 *    `hotc/status` is sent.
 * 5. Compiler messages: server_set_diagnostics(uri, "compiler", ...) with
 *    byte positions; each source's list replaces that source's previous one,
 *    and the editor gets the union of all sources ("analysis" is the
 *    server's own).
 * 6. Anything else: server_notify() (e.g. `hotc/reloaded`, `$/progress`)
 *    and server_send_request() (e.g. `window/workDoneProgress/create`;
 *    the client's answer is ignored). */
#ifndef HOTC_SERVER_H
#define HOTC_SERVER_H

#include <jansson.h>
#include <uv.h>

#include "docstore.h"
#include "protocol.h"
#include "state.h"

struct server;
struct server_request;

/* The server's commands (workspace/executeCommand), in the order announced. */
#define SERVER_COMMAND_RUN "hotc.server.run"
#define SERVER_COMMAND_RELOAD "hotc.server.reload"
#define SERVER_COMMAND_ROLLBACK "hotc.server.rollback"
#define SERVER_COMMAND_RESTART "hotc.server.restart"
#define SERVER_COMMAND_FORGET_STATE "hotc.server.forgetState"

struct server_hooks {
    void *data;
    /* After `initialized`: e.g. start listening for runtimes. */
    void (*initialized)(void *data, struct server *server);
    /* After didOpen (`doc` borrowed, valid during the call). A large file
     * may still be parsed on a worker (`doc->job`): docstore_get waits for
     * its analysis and baseline. */
    void (*did_open)(void *data, struct server *server, struct document *doc);
    /* After didSave has updated `doc` (borrowed, valid during the call). */
    void (*did_save)(void *data, struct server *server, struct document *doc);
    /* A document was closed (its uri, borrowed). */
    void (*did_close)(void *data, struct server *server, const char *uri);
    /* `settings` (borrowed) is the whole "hotc" configuration, after
     * initializationOptions and each workspace/didChangeConfiguration. */
    void (*configuration)(void *data, struct server *server, json_t *settings);
    /* One of the SERVER_COMMAND_* ids; `arguments` borrowed (an array, may
     * be empty). Must answer `req` once (server_reply / server_reply_error). */
    void (*command)(void *data, struct server *server, struct server_request *req, const char *command,
                    json_t *arguments);
    /* On `exit` (or end of input): close every handle the pipeline owns so
     * that the loop can end. */
    void (*exit)(void *data, struct server *server);
};

struct server_options {
    int in_fd;                /* default 0 */
    int out_fd;               /* default 1 */
};

/* Creates the server on `loop`. NULL on failure (logged). */
struct server *server_new(uv_loop_t *loop, const struct server_options *opt);

/* Starts reading from the editor. 0 or a libuv error. */
int server_start(struct server *self);

/* The process exit code once the loop has ended: 0 after shutdown + exit,
 * 1 when exit came without shutdown or input ended first. */
int server_exit_code(const struct server *self);

/* Frees everything. The loop must have ended. */
void server_free(struct server *self);

void server_set_hooks(struct server *self, const struct server_hooks *hooks);

/* ---- for the pipeline */

uv_loop_t *server_loop(struct server *self);
struct state *server_state(struct server *self);
struct docstore *server_docs(struct server *self);
/* The "hotc" settings (borrowed object, never NULL). */
json_t *server_settings(struct server *self);
/* The workspace root from initialize (borrowed), or NULL. */
const char *server_root(struct server *self);
/* What the client announced at initialize (borrowed, never NULL). */
const struct protocol_client *server_client(const struct server *self);
enum protocol_encoding server_encoding(const struct server *self);

/* Answers a request given to a hook. `result` stolen (NULL: null). After a
 * $/cancelRequest the answer was already sent: this just frees `req`. */
void server_reply(struct server *self, struct server_request *req, json_t *result);
void server_reply_error(struct server *self, struct server_request *req, int code, const char *message);
int server_request_cancelled(const struct server_request *req);

/* Sends a notification; `params` stolen (may be NULL). 0 or -1. */
int server_notify(struct server *self, const char *method, json_t *params);

/* Sends a request to the client; `params` stolen. Returns its id, or -1.
 * The client's response is read and dropped. */
json_int_t server_send_request(struct server *self, const char *method, json_t *params);

/* One diagnostic in bytes (TSPoint rows/columns), as compilers report. */
struct server_note {
    const char *uri;          /* NULL: the diagnostic's own document */
    struct text_range range;
    const char *message;
};

struct server_diagnostic {
    struct text_range range;
    int severity;             /* 1 error, 2 warning, 3 information, 4 hint */
    const char *code;         /* may be NULL */
    const char *message;
    const struct server_note *notes;
    size_t n_notes;
};

/* Replaces the diagnostics of `source` (e.g. "compiler", "crash") for
 * `uri` and publishes the union of all sources. Everything is copied. */
void server_set_diagnostics(struct server *self, const char *uri, const char *source,
                            const struct server_diagnostic *diags, size_t n);

/* Makes the document's current text (or `text` when not NULL) the baseline
 * that signature/layout diagnostics compare against. */
void server_mark_running(struct server *self, struct document *doc, const char *text, size_t len);

/* The reload state changed: recompute analysis diagnostics, refresh lenses
 * (workspace/codeLens/refresh when the client supports it), send hotc/status. */
void server_state_changed(struct server *self);

/* Gives the heap's free pages back to the system (glibc's malloc_trim, which
 * walks every arena: tens to hundreds of ms with a large file's heap) on a
 * worker, shortly after the last call: call it after work that freed much
 * (a batch of saves, a large file's analysis). */
void server_trim_soon(struct server *self);

#endif
