/* Implements lsp/server.h. Messages from one read are queued and then
 * handled in order, so that a $/cancelRequest can still catch a request
 * queued before it; every handler runs to completion on the loop thread.
 * A message that reads documents waits in the queue while a large
 * document's analysis runs on a worker (handle_queue). */
#include "server.h"

#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonrpc.h"
#include "log.h"
#include "transport.h"

enum phase { PHASE_UNINITIALIZED, PHASE_RUNNING, PHASE_SHUTDOWN, PHASE_EXITED };

struct server_request {
    json_t *id;
    char *method;
    int cancelled;
    struct server_request *next;
};

struct server {
    uv_loop_t *loop;
    struct transport *transport;
    struct docstore *docs;
    struct state state;
    enum phase phase;
    int shutdown_requested;
    int initialized;          /* `initialized` was handled: the set-up runs once */
    int exit_code;
    enum protocol_encoding enc;
    struct protocol_client client;
    char *root;
    json_t *settings;
    json_t *queue;                 /* incoming messages not yet handled */
    int paused;                    /* the queue waits for a document's analysis (handle_queue) */
    uv_timer_t resume;             /* handles the queue again once that analysis is back */
    int resume_ready;
    json_t *diags;                 /* uri -> source -> [Diagnostic] */
    json_t *published;             /* uri -> the [Diagnostic] the editor last got */
    struct server_request *inflight;
    json_int_t next_out_id;
    struct server_hooks hooks;
    uv_timer_t trim_timer;         /* server_trim_soon()'s delay */
    uv_work_t trim_work;
    int trim_ready;                /* trim_timer is initialized */
    int trimming, trim_again;      /* a trim runs on a worker; another was asked for meanwhile */
};

/* Documents this big (about 900 lines) or bigger are parsed and analysed
 * on a worker after a keystroke: below it, that takes well under a
 * keystroke's budget (5 ms) on the loop (docs/performance.md). */
#define SERVER_BACKGROUND_BYTES (16 * 1024)

static void on_document_ready(void *data, struct document *doc);
static void handle_queue(struct server *self, int force);
static void on_resume(uv_timer_t *t);

/* server_trim_soon() gives freed pages back this long after the last call
 * (a burst of keystrokes or a batch of saves is one trim). */
#define SERVER_TRIM_DELAY_MS 200

static const char *const commands[] = { SERVER_COMMAND_RUN, SERVER_COMMAND_RELOAD, SERVER_COMMAND_ROLLBACK,
                                        SERVER_COMMAND_RESTART, SERVER_COMMAND_FORGET_STATE };
#define N_COMMANDS (sizeof commands / sizeof *commands)

/* ---------------------------------------------------------------- sending */

static void send_msg(struct server *self, json_t *msg)
{
    if (msg && self->transport && self->phase != PHASE_EXITED)
        transport_send(self->transport, msg);
    json_decref(msg);
}

int server_notify(struct server *self, const char *method, json_t *params)
{
    if (!self->transport || self->phase == PHASE_EXITED) {
        json_decref(params);
        return -1;
    }
    send_msg(self, jsonrpc_notification(method, params));
    return 0;
}

json_int_t server_send_request(struct server *self, const char *method, json_t *params)
{
    json_int_t id = ++self->next_out_id;

    if (!self->transport || self->phase == PHASE_EXITED) {
        json_decref(params);
        return -1;
    }
    send_msg(self, jsonrpc_request(id, method, params));
    return id;
}

static struct server_request *request_new(json_t *id, const char *method)
{
    struct server_request *req = calloc(1, sizeof *req);

    req->id = json_incref(id);
    req->method = strdup(method);
    return req;
}

static void request_free(struct server *self, struct server_request *req)
{
    for (struct server_request **p = &self->inflight; *p; p = &(*p)->next)
        if (*p == req) {
            *p = req->next;
            break;
        }
    json_decref(req->id);
    free(req->method);
    free(req);
}

void server_reply(struct server *self, struct server_request *req, json_t *result)
{
    if (!req->cancelled)
        send_msg(self, jsonrpc_response(req->id, result));
    else
        json_decref(result);
    request_free(self, req);
}

void server_reply_error(struct server *self, struct server_request *req, int code, const char *message)
{
    if (!req->cancelled)
        send_msg(self, jsonrpc_error(req->id, code, message));
    request_free(self, req);
}

int server_request_cancelled(const struct server_request *req)
{
    return req->cancelled;
}

static void log_sink(void *data, enum log_level level, const char *message)
{
    struct server *self = data;

    server_notify(self, "window/logMessage", protocol_log_message((int)level, message));
}

/* ---------------------------------------------------------------- heap */

#ifdef __GLIBC__
static void trim_work(uv_work_t *w)
{
    (void)w;
    malloc_trim(0);
}

static void trim_done(uv_work_t *w, int status)
{
    struct server *self = w->data;

    (void)status;
    self->trimming = 0;
    if (self->trim_again) {
        self->trim_again = 0;
        server_trim_soon(self);
    }
}

static void on_trim_timer(uv_timer_t *t)
{
    struct server *self = t->data;

    if (self->trimming) {
        self->trim_again = 1;
        return;
    }
    self->trim_work.data = self;
    self->trimming = uv_queue_work(self->loop, &self->trim_work, trim_work, trim_done) == 0;
}
#endif

void server_trim_soon(struct server *self)
{
#ifdef __GLIBC__
    if (self->trim_ready && self->phase != PHASE_EXITED)
        uv_timer_start(&self->trim_timer, on_trim_timer, SERVER_TRIM_DELAY_MS, 0);
#else
    (void)self;
#endif
}

/* ---------------------------------------------------------------- accessors */

uv_loop_t *server_loop(struct server *self) { return self->loop; }
struct state *server_state(struct server *self) { return &self->state; }
struct docstore *server_docs(struct server *self) { return self->docs; }
json_t *server_settings(struct server *self) { return self->settings; }
const struct protocol_client *server_client(const struct server *self) { return &self->client; }
const char *server_root(struct server *self) { return self->root; }
enum protocol_encoding server_encoding(const struct server *self) { return self->enc; }
int server_exit_code(const struct server *self) { return self->exit_code; }

void server_set_hooks(struct server *self, const struct server_hooks *hooks)
{
    self->hooks = *hooks;
}

/* ---------------------------------------------------------------- diagnostics */

/* The `source` the editor sees for one of the server's diagnostic lists:
 * the compiler's messages and crash reports keep theirs, the server's own
 * warnings ("analysis", "header", ...) say "hotc" (docs/protocol.md). */
static const char *editor_source(const char *source)
{
    return strcmp(source, "compiler") == 0 || strcmp(source, "crash") == 0 ? source : "hotc";
}

/* Publishes the union of `uri`'s lists when it differs from what the editor
 * last got for it (or the file was saved since): a save recomputes every
 * list of every open file, and only the saved file and the files whose
 * diagnostics changed are published again. */
static void publish(struct server *self, const char *uri)
{
    json_t *by_source = json_object_get(self->diags, uri);
    json_t *all = json_array();
    struct document *doc = docstore_peek(self->docs, uri); /* for its version, settled or not */
    json_t *sent = json_object_get(self->published, uri);
    const char *source;
    json_t *list;

    json_object_foreach(by_source, source, list) {
        json_array_extend(all, list);
    }
    if (sent && json_equal(sent, all)) {
        json_decref(all);
        return;
    }
    json_object_set(self->published, uri, all);
    server_notify(self, "textDocument/publishDiagnostics",
                  protocol_publish_diagnostics(uri, doc ? doc->version : -1, all));
}

static void set_source(struct server *self, const char *uri, const char *source, json_t *list)
{
    json_t *by_source = json_object_get(self->diags, uri);

    if (!by_source) {
        by_source = json_object();
        json_object_set_new(self->diags, uri, by_source);
    }
    if (list)
        json_object_set_new(by_source, source, list);
    else
        json_object_del(by_source, source);
}

void server_set_diagnostics(struct server *self, const char *uri, const char *source,
                            const struct server_diagnostic *diags, size_t n)
{
    struct document *doc = docstore_get(self->docs, uri);
    json_t *list = json_array();

    for (size_t i = 0; i < n; i++) {
        json_t *d = protocol_diagnostic(doc, diags[i].range, self->enc, editor_source(source), diags[i].severity,
                                        diags[i].code,
                                        diags[i].message);
        for (size_t k = 0; k < diags[i].n_notes; k++) {
            const struct server_note *note = &diags[i].notes[k];
            const char *nuri = note->uri ? note->uri : uri;
            protocol_diagnostic_add_related(d, nuri, docstore_get(self->docs, nuri), note->range, self->enc,
                                            note->message);
        }
        json_array_append_new(list, d);
    }
    set_source(self, uri, source, list);
    publish(self, uri);
}

static char *printf_dup(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *printf_dup(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* The server's own diagnostics for `doc`: misplaced markers, and changes
 * the running program cannot take. */
static void analyse_and_publish(struct server *self, struct document *doc)
{
    json_t *list = json_array();
    struct analysis_diff *diff = analysis_diff(doc->running, doc->analysis);
    const char *marker = docstore_marker(self->docs);

    for (size_t i = 0; i < doc->analysis->n_problems; i++)
        json_array_append_new(list, protocol_diagnostic(doc, doc->analysis->problems[i].range, self->enc, "hotc", 1,
                                                        "hot-misplaced", doc->analysis->problems[i].message));
    for (size_t i = 0; diff && i < diff->n_changes; i++) {
        const struct analysis_change *ch = &diff->changes[i];
        const struct analysis_function *f = analysis_find_function(doc->analysis, ch->name);
        char *msg = NULL;
        int severity = 2;
        const char *code = NULL;

        if (!f)
            continue;
        if (ch->hot && ch->kind == ANALYSIS_SIGNATURE) {
            msg = printf_dup("cannot reload %s(): %s; restart the program to apply", ch->name, ch->message);
            code = "signature-changed";
        } else if (ch->hot && ch->kind == ANALYSIS_LAYOUT) {
            /* a hint while typing; the save's compiled patch is what is
             * held against the running program (layout-changed) */
            msg = printf_dup("%s() may not reload: %s; saving checks it against the running program", ch->name,
                             ch->message);
            code = "layout-hint";
            severity = 3;
        } else if (!ch->hot && !f->is_static && ch->kind != ANALYSIS_ADDED && self->state.programs > 0) {
            /* a static one reaches the program through the HOT functions
             * that call it (the pipeline says when none does) */
            msg = printf_dup("%s() is not %s: the running program keeps its old code; mark it %s to reload it "
                             "live",
                             ch->name, marker, marker);
            code = "not-hot";
            severity = 3;
        }
        if (msg) {
            json_array_append_new(list, protocol_diagnostic(doc, f->name_range, self->enc, "hotc", severity, code,
                                                                        msg));
            free(msg);
        }
    }
    analysis_diff_free(diff);
    set_source(self, doc->uri, "analysis", list);
    publish(self, doc->uri);
}

void server_mark_running(struct server *self, struct document *doc, const char *text, size_t len)
{
    docstore_set_running(self->docs, doc, text, len);
}

void server_state_changed(struct server *self)
{
    struct document *doc;

    for (size_t i = 0; (doc = docstore_at(self->docs, i)) != NULL; i++)
        analyse_and_publish(self, doc);
    if (self->client.code_lens_refresh)
        server_send_request(self, "workspace/codeLens/refresh", NULL);
    server_notify(self, "hotc/status", state_status(&self->state));
}

/* ---------------------------------------------------------------- lifecycle */

static void on_transport_closed(void *data)
{
    struct server *self = data;

    self->transport = NULL;
    uv_stop(self->loop);
}

static void begin_exit(struct server *self, int code)
{
    if (self->phase == PHASE_EXITED)
        return;
    self->exit_code = code;
    log_set_sink(NULL, NULL, LOG_LEVEL_ERROR);
    log_info("exiting with code %d", code);
    if (self->hooks.exit)
        self->hooks.exit(self->hooks.data, self);
    self->phase = PHASE_EXITED;
    if (self->transport)
        transport_close(self->transport, on_transport_closed, self);
}

static void on_initialize(struct server *self, struct server_request *req, json_t *params)
{
    struct protocol_initialize init;

    if (self->phase != PHASE_UNINITIALIZED) {
        server_reply_error(self, req, JSONRPC_INVALID_REQUEST, "initialize was already received");
        return;
    }
    if (protocol_read_initialize(params, &init) != 0) {
        server_reply_error(self, req, JSONRPC_INVALID_PARAMS, "initialize needs an object of params");
        return;
    }
    self->client = init.client;
    self->enc = init.client.encoding;
    free(self->root);
    self->root = init.root;
    if (init.settings)
        json_object_update(self->settings, init.settings);
    if (json_is_string(json_object_get(self->settings, "marker")))
        docstore_set_marker(self->docs, json_string_value(json_object_get(self->settings, "marker")));
    self->phase = PHASE_RUNNING;
    server_reply(self, req, protocol_initialize_result(self->enc, commands, N_COMMANDS));
    log_set_sink(log_sink, self, LOG_LEVEL_INFO);
    log_info("hotc %s: position encoding %s, marker %s", HOTC_VERSION, protocol_encoding_name(self->enc),
             docstore_marker(self->docs));
}

static void on_initialized(struct server *self, struct server_request *req, json_t *params)
{
    (void)req;
    (void)params;
    if (self->initialized) {
        log_warn("ignored a second initialized notification: the server is set up already");
        return;
    }
    self->initialized = 1;
    if (self->hooks.configuration)
        self->hooks.configuration(self->hooks.data, self, self->settings);
    if (self->hooks.initialized)
        self->hooks.initialized(self->hooks.data, self);
}

static void on_shutdown(struct server *self, struct server_request *req, json_t *params)
{
    (void)params;
    self->phase = PHASE_SHUTDOWN;
    self->shutdown_requested = 1;
    server_reply(self, req, NULL);
}

static void on_exit_notification(struct server *self, struct server_request *req, json_t *params)
{
    (void)req;
    (void)params;
    begin_exit(self, self->shutdown_requested ? 0 : 1);
}

static void on_configuration(struct server *self, struct server_request *req, json_t *params)
{
    json_t *hotc = protocol_read_configuration(params);
    const char *old = docstore_marker(self->docs);
    const char *marker;
    struct document *doc;

    (void)req;
    if (hotc)
        json_object_update(self->settings, hotc);
    marker = json_string_value(json_object_get(self->settings, "marker"));
    if (marker && strcmp(marker, old) != 0) {
        docstore_set_marker(self->docs, marker);
        for (size_t i = 0; (doc = docstore_at(self->docs, i)) != NULL; i++)
            analyse_and_publish(self, doc);
        if (self->client.code_lens_refresh)
            server_send_request(self, "workspace/codeLens/refresh", NULL);
    }
    if (self->hooks.configuration)
        self->hooks.configuration(self->hooks.data, self, self->settings);
}

/* ---------------------------------------------------------------- text sync */

static void on_did_open(struct server *self, struct server_request *req, json_t *params)
{
    struct protocol_document item;
    char *path;
    struct document *doc;

    (void)req;
    if (protocol_read_did_open(params, &item) != 0) {
        log_warn("ignoring a didOpen without textDocument.uri and text");
        return;
    }
    path = protocol_uri_to_path(item.uri);
    doc = docstore_open(self->docs, item.uri, path, item.text, item.len, item.version);
    free(path);
    if (doc && !doc->job) /* else parsed on a worker: on_document_ready publishes */
        analyse_and_publish(self, doc);
    if (doc && self->hooks.did_open)
        self->hooks.did_open(self->hooks.data, self, doc);
}

/* Whether the next queued message is a didChange notification of `uri`
 * (which will be dispatched next: it is in the same phase as this one). */
static int next_is_change_of(struct server *self, const char *uri)
{
    json_t *next = json_array_get(self->queue, 0);
    struct jsonrpc_message m;
    const char *next_uri;

    if (!next || jsonrpc_classify(next, &m) != JSONRPC_NOTIFICATION || strcmp(m.method, "textDocument/didChange"))
        return 0;
    next_uri = protocol_document_uri(m.params);
    return next_uri && !strcmp(next_uri, uri);
}

/* The loop thread's CPU time in ms (HOTC_TRACE_TIMINGS logs it beside the
 * wall time: on a busy machine the wall time also counts other processes). */
static double thread_cpu_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void on_did_change(struct server *self, struct server_request *req, json_t *params)
{
    uint64_t t0 = uv_hrtime();
    double cpu0 = thread_cpu_ms();
    struct protocol_changes changes;
    const char *uri;
    struct document *doc;

    (void)req;
    protocol_read_did_change(params, &changes);
    uri = changes.uri;
    doc = uri ? docstore_peek(self->docs, uri) : NULL; /* an analysis still running keeps running */
    if (!doc) {
        log_warn("ignoring a change to %s, which is not open", uri ? uri : "(no uri)");
        return;
    }
    for (size_t i = 0; i < changes.count; i++) {
        struct text_edit edit;
        int kind = protocol_change_at(&changes, i, doc, self->enc, &edit);

        if (kind < 0)
            log_warn("ignoring a malformed change to %s", uri);
        else if (kind == 0)
            docstore_replace(self->docs, doc, edit.new_text, edit.new_len);
        else
            docstore_edit(self->docs, doc, &edit);
    }
    if (changes.version >= 0)
        doc->version = changes.version;
    /* A burst of keystrokes read at once: reparse and analyse after the
     * last one. Nothing else runs in between, so no one sees the stale
     * analysis. */
    if (next_is_change_of(self, uri))
        return;
    /* a large document is analysed on a worker: on_document_ready publishes */
    if (docstore_update_later(self->docs, doc))
        analyse_and_publish(self, doc);
    if (log_trace_enabled())
        log_debug("loop: didChange of %s version %d handled: loop time %.3f ms (cpu %.3f ms)%s", uri, doc->version,
                  (double)(uv_hrtime() - t0) / 1e6, thread_cpu_ms() - cpu0,
                  doc->job ? " (analysis on a worker)" : "");
}

/* A document analysed on a worker (docstore_update_later) is up to date. */
static void on_document_ready(void *data, struct document *doc)
{
    struct server *self = data;

    analyse_and_publish(self, doc);
    server_trim_soon(self); /* the worker freed the previous tree and analysis */
    /* the messages that waited for it, on the loop's next turn: this may
     * be called from inside another handler (a lookup settled it) */
    if (self->paused && self->resume_ready && !docstore_busy(self->docs))
        uv_timer_start(&self->resume, on_resume, 0, 0);
}

static void on_resume(uv_timer_t *t)
{
    struct server *self = t->data;

    if (self->paused && !docstore_busy(self->docs))
        handle_queue(self, 0);
}

static void on_did_save(struct server *self, struct server_request *req, json_t *params)
{
    struct protocol_document saved;
    struct document *doc;

    (void)req;
    log_trace("didSave");
    protocol_read_did_save(params, &saved);
    doc = saved.uri ? docstore_get(self->docs, saved.uri) : NULL;
    if (!doc) {
        log_warn("ignoring a save of %s, which is not open", saved.uri ? saved.uri : "(no uri)");
        return;
    }
    /* the saved file's diagnostics are published once for this save even
     * when they did not change (a refusal that holds is said again) */
    json_object_del(self->published, saved.uri);
    if (saved.text && (saved.len != doc->len || memcmp(saved.text, doc->text, doc->len) != 0)) {
        docstore_replace(self->docs, doc, saved.text, saved.len);
        docstore_update(self->docs, doc);
        analyse_and_publish(self, doc);
    }
    if (self->hooks.did_save)
        self->hooks.did_save(self->hooks.data, self, doc);
}

static void on_did_close(struct server *self, struct server_request *req, json_t *params)
{
    const char *uri = protocol_document_uri(params);

    (void)req;
    if (!uri)
        return;
    docstore_close(self->docs, uri);
    set_source(self, uri, "analysis", NULL);
    publish(self, uri);
    if (self->hooks.did_close)
        self->hooks.did_close(self->hooks.data, self, uri);
}

/* ---------------------------------------------------------------- lenses, hover */

/* The one-line state of HOT function `f`, for its lens and hover: stale and
 * why, not yet running, rolled back (and from which version), or the
 * version with the reload count and the last reload's time. New string;
 * NULL when out of memory. */
static char *function_status(struct server *self, struct document *doc, const struct analysis_function *f,
                             const struct analysis_diff *diff)
{
    struct state_function *sf = state_get(&self->state, doc->path, f->name);
    const struct analysis_change *ch = analysis_diff_find(diff, f->name);

    if (sf && sf->running && ch && (ch->kind == ANALYSIS_SIGNATURE || ch->kind == ANALYSIS_LAYOUT))
        return printf_dup("stale: %s; restart to apply", ch->message);
    if (sf && sf->stale)
        return printf_dup("stale: %s", sf->stale);
    if (!sf || !sf->running)
        return strdup("not yet running");
    if (sf->rolled_back_from)
        return printf_dup("running v%d · rolled back from v%d", sf->version, sf->rolled_back_from);
    if (sf->reloads == 0)
        return printf_dup("running v%d", sf->version);
    return printf_dup("running v%d · reloaded %d× · %.1f ms", sf->version, sf->reloads, sf->last_us / 1000.0);
}

static void on_code_lens(struct server *self, struct server_request *req, json_t *params)
{
    const char *uri = protocol_document_uri(params);
    struct document *doc = uri ? docstore_get(self->docs, uri) : NULL;
    json_t *lenses = json_array();
    struct analysis_diff *diff;

    if (!doc) {
        server_reply(self, req, lenses);
        return;
    }
    diff = analysis_diff(doc->running, doc->analysis);
    for (size_t i = 0; i < doc->analysis->n_functions; i++) {
        const struct analysis_function *f = &doc->analysis->functions[i];
        struct text_range r = { f->range.start, f->range.start };

        if (f->hot) {
            char *title = function_status(self, doc, f, diff);
            json_array_append_new(lenses, protocol_code_lens(doc, r, self->enc, title, "", NULL));
            free(title);
        } else if (!strcmp(f->name, "main")) {
            json_array_append_new(lenses, protocol_code_lens(doc, r, self->enc, "▶ Run with hot reload",
                                                             SERVER_COMMAND_RUN, doc->uri));
        }
    }
    analysis_diff_free(diff);
    server_reply(self, req, lenses);
}

static void on_hover(struct server *self, struct server_request *req, json_t *params)
{
    const char *uri = protocol_document_uri(params);
    struct document *doc = uri ? docstore_get(self->docs, uri) : NULL;
    uint32_t at;

    if (!doc || protocol_document_offset(doc, params, self->enc, &at) != 0) {
        server_reply(self, req, NULL);
        return;
    }
    for (size_t i = 0; i < doc->analysis->n_functions; i++) {
        const struct analysis_function *f = &doc->analysis->functions[i];
        struct analysis_diff *diff;
        struct state_function *sf;
        char *status, *md = NULL;
        size_t size = 0;
        FILE *out;
        struct text_range r = { f->range.start, f->name_range.end };

        if (!f->hot || at < f->start_byte || at > f->name_byte + strlen(f->name))
            continue;
        diff = analysis_diff(doc->running, doc->analysis);
        status = function_status(self, doc, f, diff);
        analysis_diff_free(diff);
        sf = state_get(&self->state, doc->path, f->name);
        out = open_memstream(&md, &size);
        fprintf(out, "**%s** `%s %s(", docstore_marker(self->docs), f->ret, f->name);
        for (size_t k = 0; k < f->n_params; k++)
            fprintf(out, "%s%s", k ? ", " : "", f->params[k]);
        fprintf(out, "%s%s)`\n\n%s\n", f->variadic ? (f->n_params ? ", ..." : "...") : "",
                f->n_params || f->variadic ? "" : "void", status);
        if (sf && sf->n_history) {
            fprintf(out, "\nReload history (newest first):\n\n");
            for (size_t k = sf->n_history; k-- > 0;) {
                const struct state_record *h = &sf->history[k];
                time_t when = (time_t)(h->when_ms / 1000);
                struct tm tm;
                localtime_r(&when, &tm);
                fprintf(out, "- %02d:%02d:%02d v%d %s", tm.tm_hour, tm.tm_min, tm.tm_sec, h->version, h->result);
                if (!strcmp(h->result, "applied"))
                    fprintf(out, " in %.1f ms", h->total_us / 1000.0);
                if (*h->message)
                    fprintf(out, ": %s", h->message);
                fprintf(out, "\n");
            }
        } else {
            fprintf(out, "\nNo reloads yet.\n");
        }
        fclose(out);
        server_reply(self, req, protocol_hover(doc, r, self->enc, md));
        free(md);
        free(status);
        return;
    }
    server_reply(self, req, NULL);
}

/* ---------------------------------------------------------------- commands */

static void on_execute_command(struct server *self, struct server_request *req, json_t *params)
{
    struct protocol_command cmd;
    json_t *args, *empty = NULL;

    protocol_read_execute_command(params, &cmd);
    for (size_t i = 0; cmd.command && i < N_COMMANDS; i++) {
        if (strcmp(cmd.command, commands[i]) != 0)
            continue;
        if (!self->hooks.command) {
            server_reply_error(self, req, JSONRPC_REQUEST_FAILED,
                               "no program attached: this server has no reload pipeline");
            return;
        }
        args = cmd.arguments ? cmd.arguments : (empty = json_array());
        self->hooks.command(self->hooks.data, self, req, cmd.command, args);
        json_decref(empty);
        return;
    }
    server_reply_error(self, req, JSONRPC_INVALID_PARAMS, "unknown command");
}

static void on_ignore(struct server *self, struct server_request *req, json_t *params)
{
    (void)self;
    (void)req;
    (void)params;
}

/* ---------------------------------------------------------------- dispatch */

enum { M_REQUEST = 1, M_NOTIFICATION = 2, M_BEFORE_INIT = 4, M_AFTER_SHUTDOWN = 8 };

struct method {
    const char *name;
    void (*fn)(struct server *self, struct server_request *req, json_t *params);
    unsigned flags;
};

static const struct method methods[] = {
    { "initialize", on_initialize, M_REQUEST | M_BEFORE_INIT },
    { "initialized", on_initialized, M_NOTIFICATION },
    { "shutdown", on_shutdown, M_REQUEST },
    { "exit", on_exit_notification, M_NOTIFICATION | M_BEFORE_INIT | M_AFTER_SHUTDOWN },
    { "textDocument/didOpen", on_did_open, M_NOTIFICATION },
    { "textDocument/didChange", on_did_change, M_NOTIFICATION },
    { "textDocument/didSave", on_did_save, M_NOTIFICATION },
    { "textDocument/didClose", on_did_close, M_NOTIFICATION },
    { "textDocument/codeLens", on_code_lens, M_REQUEST },
    { "textDocument/hover", on_hover, M_REQUEST },
    { "workspace/executeCommand", on_execute_command, M_REQUEST },
    { "workspace/didChangeConfiguration", on_configuration, M_NOTIFICATION },
    { "$/setTrace", on_ignore, M_NOTIFICATION },
};

static const struct method *find_method(const char *name)
{
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
        if (!strcmp(methods[i].name, name))
            return &methods[i];
    return NULL;
}

static void dispatch(struct server *self, json_t *msg)
{
    struct jsonrpc_message m;
    const struct method *method;
    struct server_request *req = NULL;

    if (self->phase == PHASE_EXITED)
        return;
    switch (jsonrpc_classify(msg, &m)) {
    case JSONRPC_RESPONSE:
        return; /* to one of our requests: nothing waits for it */
    case JSONRPC_INVALID:
        log_warn("invalid message from the editor: %s", m.why);
        send_msg(self, jsonrpc_error(m.id, JSONRPC_INVALID_REQUEST, m.why));
        return;
    default:
        break;
    }
    method = find_method(m.method);
    if (m.kind == JSONRPC_NOTIFICATION) {
        if (!method || !(method->flags & M_NOTIFICATION))
            return; /* unknown notifications are ignored */
        if (self->phase == PHASE_UNINITIALIZED && !(method->flags & M_BEFORE_INIT))
            return;
        if (self->phase == PHASE_SHUTDOWN && !(method->flags & M_AFTER_SHUTDOWN))
            return;
        method->fn(self, NULL, m.params);
        return;
    }
    if (self->phase == PHASE_UNINITIALIZED && !(method && (method->flags & M_BEFORE_INIT))) {
        send_msg(self, jsonrpc_error(m.id, JSONRPC_SERVER_NOT_INITIALIZED, "the server is not initialized"));
        return;
    }
    if (self->phase == PHASE_SHUTDOWN) {
        send_msg(self, jsonrpc_error(m.id, JSONRPC_INVALID_REQUEST, "the server is shutting down"));
        return;
    }
    if (!method || !(method->flags & M_REQUEST)) {
        char text[300];
        snprintf(text, sizeof text, "method not found: %s", m.method);
        send_msg(self, jsonrpc_error(m.id, JSONRPC_METHOD_NOT_FOUND, text));
        return;
    }
    req = request_new(m.id, m.method);
    req->next = self->inflight;
    self->inflight = req;
    method->fn(self, req, m.params);
}

/* $/cancelRequest: a queued request is answered as cancelled and dropped; an
 * in-flight one (deferred by a hook) is answered now, its late answer dropped. */
static void cancel(struct server *self, json_t *params)
{
    json_t *id = protocol_read_cancel(params), *msg;
    size_t i;
    struct server_request *req;

    if (!id)
        return;
    json_array_foreach(self->queue, i, msg) {
        json_t *qid = json_object_get(msg, "id");
        if (qid && json_object_get(msg, "method") && json_equal(qid, id)) {
            send_msg(self, jsonrpc_error(qid, JSONRPC_REQUEST_CANCELLED, "request cancelled"));
            json_array_remove(self->queue, i);
            return;
        }
    }
    for (req = self->inflight; req; req = req->next)
        if (!req->cancelled && json_equal(req->id, id)) {
            req->cancelled = 1;
            send_msg(self, jsonrpc_error(req->id, JSONRPC_REQUEST_CANCELLED, "request cancelled"));
            return;
        }
}

static void on_message(void *data, json_t *msg)
{
    struct server *self = data;
    const char *method = json_string_value(json_object_get(msg, "method"));

    if (method && !strcmp(method, "$/cancelRequest") && !json_object_get(msg, "id"))
        cancel(self, json_object_get(msg, "params"));
    else
        json_array_append(self->queue, msg);
}

/* Whether `msg` is a didChange notification. */
static int is_change(json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));

    return method && !strcmp(method, "textDocument/didChange") && !json_object_get(msg, "id");
}

/* Handles the queued messages in order. Any message but a didChange reads
 * the documents: while one of them is analysed on a worker, the queue waits
 * for it (on_document_ready resumes), so that neither the message sees a
 * stale analysis nor the loop waits for the worker. `force`: wait for
 * the workers instead (the editor is gone: nothing more will come). */
static void handle_queue(struct server *self, int force)
{
    while (json_array_size(self->queue) > 0 && self->phase != PHASE_EXITED) {
        json_t *msg = json_array_get(self->queue, 0);

        if (!is_change(msg) && docstore_busy(self->docs)) {
            if (!force && self->resume_ready) {
                self->paused = 1;
                return;
            }
            self->paused = 0;
            for (size_t i = 0; docstore_at(self->docs, i); i++)
                ; /* each lookup settles */
            continue;
        }
        json_incref(msg);
        json_array_remove(self->queue, 0);
        dispatch(self, msg);
        json_decref(msg);
    }
    self->paused = 0;
    json_array_clear(self->queue);
}

static void on_batch(void *data)
{
    struct server *self = data;

    if (!self->paused)
        handle_queue(self, 0);
}

static void on_error(void *data, int code, const char *text)
{
    struct server *self = data;

    send_msg(self, jsonrpc_error(NULL, code, text));
}

static void on_eof(void *data)
{
    struct server *self = data;

    handle_queue(self, 1);
    if (self->phase != PHASE_EXITED) {
        log_info("the editor closed the connection");
        begin_exit(self, self->shutdown_requested ? 0 : 1);
    }
}

/* ---------------------------------------------------------------- life */

struct server *server_new(uv_loop_t *loop, const struct server_options *opt)
{
    struct server *self = calloc(1, sizeof *self);
    struct transport_callbacks cb;

    if (!self)
        return NULL;
    self->loop = loop;
    self->exit_code = 1;
    state_init(&self->state);
    self->settings = json_object();
    self->queue = json_array();
    self->diags = json_object();
    self->published = json_object();
    self->docs = docstore_new("HOT");
    if (!self->docs)
        goto fail;
    /* HOTC_BACKGROUND_BYTES: another size, for `make bench` (a huge one
     * keeps every analysis on the loop, as before round 9) */
    docstore_set_background(self->docs, loop,
                            getenv("HOTC_BACKGROUND_BYTES") ? strtoull(getenv("HOTC_BACKGROUND_BYTES"), NULL, 10)
                                                            : SERVER_BACKGROUND_BYTES,
                            on_document_ready, self);
    if (uv_timer_init(loop, &self->resume) == 0) {
        self->resume.data = self;
        self->resume_ready = 1;
    }
    if (uv_timer_init(loop, &self->trim_timer) == 0) {
        self->trim_timer.data = self;
        uv_unref((uv_handle_t *)&self->trim_timer); /* never what keeps the loop running */
        self->trim_ready = 1;
    }
    cb.data = self;
    cb.on_message = on_message;
    cb.on_error = on_error;
    cb.on_batch = on_batch;
    cb.on_eof = on_eof;
    self->transport = transport_new(loop, opt ? opt->in_fd : 0, opt ? opt->out_fd : 1, &cb, TRANSPORT_MAX_BODY);
    if (!self->transport)
        goto fail;
    return self;
fail:
    server_free(self);
    return NULL;
}

int server_start(struct server *self)
{
    return transport_start(self->transport);
}

void server_free(struct server *self)
{
    if (!self)
        return;
    log_set_sink(NULL, NULL, LOG_LEVEL_ERROR);
    while (self->inflight)
        request_free(self, self->inflight);
    docstore_free(self->docs);
    state_release(&self->state);
    free(self->root);
    json_decref(self->settings);
    json_decref(self->queue);
    json_decref(self->diags);
    json_decref(self->published);
    free(self);
}
