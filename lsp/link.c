/* The runtime link (see link.h): one listening Unix socket (and, when asked,
 * one TCP socket), one connection per attached program, JSON-RPC over
 * lsp/frame.h. */
#include "link.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../runtime/hmac.h"
#include "frame.h"

#define LINK_MAX_MESSAGE (64u * 1024 * 1024)
/* Before a TCP program has shown the token, anyone who can reach the port
 * may be at the other end: its messages stay under LINK_PREAUTH_MESSAGE (a
 * hot/attach listing ten thousand HOT functions is about 1 MB), it has
 * LINK_AUTH_TIMEOUT_MS to attach, and at most LINK_MAX_PREAUTH such
 * connections are kept at once (see link_set_limits). */
#define LINK_PREAUTH_MESSAGE (1024u * 1024)
#define LINK_AUTH_TIMEOUT_MS 10000
#define LINK_MAX_PREAUTH 16

const char *link_strerror(int err)
{
    switch (err) {
#define LINK__CASE(name, value, text)                                          \
    case value:                                                                \
        return text;
        LINK_ERRNO_MAP(LINK__CASE)
#undef LINK__CASE
    }
    return "unknown error";
}

struct pending {
    struct pending *next;
    long id;
    char method[32];
    link_result_cb cb;
    void *user;
    uint64_t sent;
};

struct conn {
    struct conn *next;
    struct link *link;
    union {
        uv_pipe_t pipe;       /* a local program (Unix socket) */
        uv_tcp_t tcp;         /* a remote one: it must show the token */
    } h;
    uv_shutdown_t shutdown;   /* after refusing an attach */
    uv_timer_t auth_timer;    /* a remote program's time to attach */
    int handles;              /* open libuv handles (stream, timer): freed at 0 */
    bool refused;
    struct frame_decoder dec;
    struct link_program program;
    bool attached, closing;
    long next_id;
    struct pending *pending;
    char *detach_reason;
};

struct link {
    uv_loop_t *loop;
    uv_pipe_t server;
    uv_tcp_t tcp_server;
    bool tcp_listening;
    char tcp_endpoint[320];   /* "tcp:HOST:PORT" while listening */
    char token[33];           /* 32 hex digits, made at the first link_listen_tcp */
    struct link_callbacks cb;
    void *user;
    char dir[512];
    char sock[600];
    char endpoint[640];
    struct conn *conns;
    struct link_limits limits;
    FILE *trace;          /* $HOTC_LINK_TRACE: every message, one JSON line each */
    int next_session;
    int open_handles;
    bool closing;
};

static void link_maybe_free(struct link *self)
{
    if (self->closing && self->open_handles == 0) {
        if (self->trace)
            fclose(self->trace);
        free(self);
    }
}

/* Appends {"kind", "message"} to the trace, when tracing: `kind` names the
 * schema the message must match ("hot-reload", "hot-reload.result",
 * "error"), from its method or, for a response, its request's method. */
static void trace(struct link *self, const char *method, bool response, json_t *msg)
{
    char kind[64];
    char *line;

    if (!self->trace)
        return;
    if (json_object_get(msg, "error"))
        snprintf(kind, sizeof kind, "error");
    else
        snprintf(kind, sizeof kind, "%s%s", method ? method : "unknown", response ? ".result" : "");
    for (char *k = kind; *k; k++)
        if (*k == '/')
            *k = '-';
    json_t *entry = json_pack("{s:s, s:O}", "kind", kind, "message", msg);
    line = entry ? json_dumps(entry, JSON_COMPACT) : NULL;
    json_decref(entry);
    if (line) {
        fprintf(self->trace, "%s\n", line);
        fflush(self->trace);
    }
    free(line);
}

/* ------------------------------------------------------------ writing */

struct write_req {
    uv_write_t req;
    char *data;
};

static void on_written(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    (void)status;
    free(w->data);
    free(w);
}

static int conn_send(struct conn *c, json_t *msg)
{
    char *body = json_dumps(msg, JSON_COMPACT);
    size_t len;
    if (!body)
        return LINK_ENOMEM;
    char *framed = frame_encode(body, strlen(body), &len);
    free(body);
    struct write_req *w = malloc(sizeof *w);
    if (!framed || !w) {
        free(framed);
        free(w);
        return LINK_ENOMEM;
    }
    w->data = framed;
    uv_buf_t buf = uv_buf_init(framed, (unsigned)len);
    log_trace("link.write");
    if (uv_write(&w->req, (uv_stream_t *)&c->h, &buf, 1, on_written) != 0) {
        free(framed);
        free(w);
        return LINK_EDETACHED;
    }
    return 0;
}

/* ------------------------------------------------------------ connections */

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct link *link = c->link;
    if (--c->handles > 0)
        return;
    frame_decoder_release(&c->dec);
    json_decref(c->program.attach);
    free(c->detach_reason);
    free(c);
    link->open_handles--;
    link_maybe_free(link);
}

/* Drops a connection: fails its pending requests, tells the server it
 * detached, closes the pipe. */
static void conn_drop(struct conn *c, const char *reason)
{
    struct link *link = c->link;
    if (c->closing)
        return;
    c->closing = true;
    for (struct conn **p = &link->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    while (c->pending) {
        struct pending *p = c->pending;
        c->pending = p->next;
        p->cb(link, &c->program, NULL, link->closing ? link_strerror(LINK_ECLOSED) : link_strerror(LINK_EDETACHED),
              (uv_hrtime() - p->sent) / 1000, p->user);
        free(p);
    }
    if (c->attached && link->cb.detached)
        link->cb.detached(link, &c->program, c->detach_reason ? c->detach_reason : reason, link->user);
    if (c->program.remote)
        uv_close((uv_handle_t *)&c->auth_timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->h, on_conn_closed);
}

/* Remote connections that have not attached yet. */
static int preauth_count(const struct link *link)
{
    int n = 0;
    for (const struct conn *c = link->conns; c; c = c->next)
        n += c->program.remote && !c->attached && !c->closing;
    return n;
}

static void on_auth_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (!c->attached) {
        log_warn("closed a TCP connection that did not attach within %d ms", c->link->limits.auth_timeout_ms);
        conn_drop(c, "no hot/attach in time");
    }
}

static void on_refused_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_drop(req->data, "refused");
}

/* Stops reading from `c` and closes it once what was written to it (the
 * error that says why) has gone out. */
static void conn_refuse(struct conn *c)
{
    c->refused = true;
    uv_read_stop((uv_stream_t *)&c->h);
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->h, on_refused_shutdown) != 0)
        conn_drop(c, "refused");
}

/* HMAC(token, "hotc <who> <nonce>") into `out` (the TCP handshake,
 * docs/protocol.md); false when the nonce is missing or not 32 hex digits. */
static bool proof_of(const struct link *link, const char *who, const char *nonce, char out[HMAC_HEX_LEN + 1])
{
    char msg[64];

    if (!nonce || strlen(nonce) != 32 || strspn(nonce, "0123456789abcdef") != 32)
        return false;
    snprintf(msg, sizeof msg, "hotc %s %s", who, nonce);
    hmac_sha256_hex(link->token, msg, out);
    return true;
}

/* Whether attach `params` show the token: the program's proof for its
 * nonce, or (runtimes before the handshake) the token itself. Compared
 * without stopping at the first difference. */
static bool token_shown(const struct link *link, json_t *params)
{
    char expected[HMAC_HEX_LEN + 1];

    if (!*link->token)
        return false;
    if (json_object_get(params, "proof"))
        return proof_of(link, "program", json_string_value(json_object_get(params, "nonce")), expected) &&
               hmac_equal(json_string_value(json_object_get(params, "proof")), expected);
    return hmac_equal(json_string_value(json_object_get(params, "token")), link->token);
}

static void reply_error(struct conn *c, json_t *id, int code, const char *message)
{
    json_t *msg = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error",
                            "code", code, "message", message);
    trace(c->link, NULL, true, msg);
    if (msg)
        conn_send(c, msg);
    json_decref(msg);
}

static void handle_attach(struct conn *c, json_t *id, json_t *params)
{
    struct link *link = c->link;
    json_int_t pid = 0;
    const char *exe = "", *build_id = "", *arch = "";

    if (!json_is_object(params) ||
        json_unpack(params, "{s:I, s:s, s:s, s:s}", "pid", &pid, "executable", &exe, "buildId", &build_id,
                    "arch", &arch) != 0) {
        reply_error(c, id, -32602, "hot/attach needs pid, executable, buildId and arch");
        return;
    }
    if (c->attached) {
        reply_error(c, id, -32600, "already attached");
        return;
    }
    if (c->program.remote && !token_shown(link, params)) {
        reply_error(c, id, LINK_RPC_UNAUTHORIZED,
                    json_object_get(params, "token") || json_object_get(params, "proof")
                        ? "wrong token: use the HOTC_TOKEN the server logged"
                        : "missing token: set HOTC_TOKEN to the token the server logged");
        conn_refuse(c);
        return;
    }
    json_decref(c->program.attach);
    c->program.attach = json_incref(params);
    c->program.id = ++link->next_session;
    c->program.pid = (long)pid;
    c->program.executable = exe;
    c->program.build_id = build_id;
    c->program.arch = arch;
    c->attached = true;
    if (c->program.remote) { /* shown the token: the full limits now */
        uv_timer_stop(&c->auth_timer);
        c->dec.max_body = LINK_MAX_MESSAGE;
    }
    json_t *msg = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id, "result", "session",
                            c->program.id, "serverVersion", HOTC_VERSION);
    char proof[HMAC_HEX_LEN + 1];
    /* our side of the handshake: only a holder of the token can answer so */
    if (msg && *link->token && proof_of(link, "server", json_string_value(json_object_get(params, "nonce")), proof))
        json_object_set_new(json_object_get(msg, "result"), "proof", json_string(proof));
    if (msg && link->cb.attaching)
        link->cb.attaching(link, &c->program, json_object_get(msg, "result"), link->user);
    trace(link, "hot/attach", true, msg);
    if (msg)
        conn_send(c, msg);
    json_decref(msg);
    if (link->cb.attached)
        link->cb.attached(link, &c->program, link->user);
}

static void handle_message(struct conn *c, json_t *msg)
{
    struct link *link = c->link;
    json_t *id = json_object_get(msg, "id");
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *params = json_object_get(msg, "params");

    if (method)
        trace(link, method, false, msg);
    if (method) {
        if (strcmp(method, "hot/attach") == 0 && id) {
            handle_attach(c, id, params);
        } else if (strcmp(method, "hot/exited") == 0 && !id && json_is_object(params)) {
            if (c->program.remote && !token_shown(link, params))
                conn_drop(c, "hot/exited without the token");
            else if (link->cb.exited)
                link->cb.exited(link, params, link->user);
        } else if (!c->attached) {
            if (id)
                reply_error(c, id, -32002, "not attached: send hot/attach first");
        } else if (strcmp(method, "hot/detach") == 0) {
            const char *reason = json_string_value(json_object_get(params, "reason"));
            free(c->detach_reason);
            c->detach_reason = strdup(reason ? reason : "detached");
            if (link->cb.notified)
                link->cb.notified(link, &c->program, method, params, link->user);
        } else if (!id && (strcmp(method, "hot/crash") == 0 || strcmp(method, "hot/log") == 0 ||
                           strcmp(method, "hot/state") == 0 || strcmp(method, "hot/save") == 0)) {
            if (link->cb.notified)
                link->cb.notified(link, &c->program, method, params, link->user);
        } else if (id) {
            reply_error(c, id, -32601, "method not found");
        }
        return;
    }
    if (!json_is_integer(id))
        return;
    long want = (long)json_integer_value(id);
    for (struct pending **p = &c->pending; *p; p = &(*p)->next) {
        if ((*p)->id != want)
            continue;
        struct pending *hit = *p;
        *p = hit->next;
        trace(link, hit->method, true, msg);
        uint64_t rtt = (uv_hrtime() - hit->sent) / 1000;
        json_t *result = json_object_get(msg, "result");
        json_t *error = json_object_get(msg, "error");
        const char *text = json_string_value(json_object_get(error, "message"));
        if (result)
            hit->cb(link, &c->program, result, NULL, rtt, hit->user);
        else
            hit->cb(link, &c->program, NULL, text ? text : "the program answered with an error", rtt,
                    hit->user);
        free(hit);
        return;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    log_trace("link.read");
    if (c->refused) {
        free(buf->base);
        return;
    }
    if (n < 0) {
        free(buf->base);
        conn_drop(c, "disconnected");
        return;
    }
    if (frame_decoder_feed(&c->dec, buf->base, (size_t)n) != 0) {
        free(buf->base);
        conn_drop(c, "out of memory");
        return;
    }
    free(buf->base);
    for (;;) {
        const char *body;
        size_t len;
        struct frame_error ferr;
        int rc = frame_decoder_next(&c->dec, &body, &len, &ferr);
        if (rc == 0)
            break;
        if (rc < 0) {
            reply_error(c, NULL, -32700, ferr.text);
            if (c->program.remote && !c->attached) { /* a stranger: no second chance */
                conn_refuse(c);
                break;
            }
            continue;
        }
        json_error_t jerr;
        json_t *msg = json_loadb(body, len, 0, &jerr);
        if (!json_is_object(msg)) {
            reply_error(c, NULL, msg ? -32600 : -32700, msg ? "not a JSON-RPC message" : jerr.text);
            json_decref(msg);
            continue;
        }
        handle_message(c, msg);
        json_decref(msg);
        if (c->closing || c->refused)
            break;
    }
}

/* Only the user running the server may attach over the Unix socket. */
static bool peer_is_us(uv_pipe_t *pipe)
{
    uv_os_fd_t fd;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (uv_fileno((uv_handle_t *)pipe, &fd) != 0)
        return false;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return false;
    return cred.uid == getuid();
}

static void on_connection(uv_stream_t *server, int status)
{
    struct link *link = server->data;
    bool remote = server == (uv_stream_t *)&link->tcp_server;
    if (status < 0)
        return;
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->link = link;
    c->program.remote = remote;
    bool full = remote && preauth_count(link) >= link->limits.max_preauth;
    if (remote)
        uv_tcp_init(link->loop, &c->h.tcp);
    else
        uv_pipe_init(link->loop, &c->h.pipe, 0);
    if (remote)
        c->h.tcp.data = c;
    else
        c->h.pipe.data = c;
    c->handles = 1;
    link->open_handles++;
    frame_decoder_init(&c->dec, remote ? link->limits.preauth_message : LINK_MAX_MESSAGE);
    c->next = link->conns;
    link->conns = c;
    if (remote) {
        uv_timer_init(link->loop, &c->auth_timer);
        c->auth_timer.data = c;
        c->handles++;
    }
    if (uv_accept(server, (uv_stream_t *)&c->h) != 0 || (!remote && !peer_is_us(&c->h.pipe))) {
        conn_drop(c, "refused");
        return;
    }
    if (full) {
        log_warn("closed a TCP connection: %d others have not attached yet", link->limits.max_preauth);
        conn_drop(c, "refused");
        return;
    }
    if (remote) {
        uv_tcp_nodelay(&c->h.tcp, 1);
        uv_timer_start(&c->auth_timer, on_auth_timeout, (uint64_t)link->limits.auth_timeout_ms, 0);
    }
    uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read);
}

static void on_server_closed(uv_handle_t *h)
{
    struct link *link = h->data;
    link->open_handles--;
    link_maybe_free(link);
}

/* ------------------------------------------------------------ set-up */

static int private_dir(const char *dir, char *err, size_t errsize)
{
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errsize, "cannot create %s: %s", dir, strerror(errno));
        return LINK_EDIR;
    }
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errsize, "cannot use %s: not a directory", dir);
        return LINK_EDIR;
    }
    if (st.st_uid != getuid()) {
        snprintf(err, errsize, "cannot use %s: it belongs to another user", dir);
        return LINK_EDIR;
    }
    if ((st.st_mode & 077) != 0 && chmod(dir, 0700) != 0) {
        snprintf(err, errsize, "cannot make %s private: %s", dir, strerror(errno));
        return LINK_EDIR;
    }
    return 0;
}

static int write_endpoint(struct link *self, char *err, size_t errsize)
{
    char tmp[700], final[600];
    snprintf(tmp, sizeof tmp, "%s/.endpoint.%ld", self->dir, (long)getpid());
    snprintf(final, sizeof final, "%s/endpoint", self->dir);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", self->endpoint) < 0 || fclose(f) != 0 || rename(tmp, final) != 0) {
        snprintf(err, errsize, "cannot write %s: %s", final, strerror(errno));
        unlink(tmp);
        return LINK_EDIR;
    }
    return 0;
}

int link_open(struct link **out, uv_loop_t *loop, const char *dir, const struct link_callbacks *cb,
              void *user, char *err, size_t errsize)
{
    struct link *self = calloc(1, sizeof *self);
    int rc;

    *out = NULL;
    if (!self)
        return LINK_ENOMEM;
    self->loop = loop;
    self->limits = (struct link_limits){ LINK_PREAUTH_MESSAGE, LINK_AUTH_TIMEOUT_MS, LINK_MAX_PREAUTH };
    if (cb)
        self->cb = *cb;
    self->user = user;
    if (dir) {
        snprintf(self->dir, sizeof self->dir, "%s", dir);
    } else {
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        if (xdg && *xdg)
            snprintf(self->dir, sizeof self->dir, "%s/hotc", xdg);
        else
            snprintf(self->dir, sizeof self->dir, "/tmp/hotc-%ld", (long)getuid());
    }
    if ((rc = private_dir(self->dir, err, errsize)) != 0) {
        free(self);
        return rc;
    }
    const char *trace_path = getenv("HOTC_LINK_TRACE");
    if (trace_path && *trace_path)
        self->trace = fopen(trace_path, "ae");
    snprintf(self->sock, sizeof self->sock, "%s/%ld.sock", self->dir, (long)getpid());
    snprintf(self->endpoint, sizeof self->endpoint, "unix:%s", self->sock);
    unlink(self->sock); /* a stale one from a crashed server with our pid */
    uv_pipe_init(loop, &self->server, 0);
    self->server.data = self;
    self->open_handles = 1;
    if ((rc = uv_pipe_bind(&self->server, self->sock)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&self->server, 16, on_connection)) != 0) {
        snprintf(err, errsize, "cannot listen on %s: %s", self->sock, uv_strerror(rc));
        /* freed by the close callback, as the loop runs on */
        self->closing = true;
        uv_close((uv_handle_t *)&self->server, on_server_closed);
        return LINK_ELISTEN;
    }
    chmod(self->sock, 0600);
    if ((rc = write_endpoint(self, err, errsize)) != 0) {
        link_close(self);
        return rc;
    }
    *out = self;
    return 0;
}

void link_set_limits(struct link *self, const struct link_limits *limits)
{
    self->limits = *limits;
}

const char *link_endpoint(const struct link *self)
{
    return self->endpoint;
}

size_t link_programs(struct link *self, const struct link_program **out, size_t max)
{
    size_t n = 0, k = 0;
    for (struct conn *c = self->conns; c; c = c->next)
        if (c->attached)
            n++;
    /* conns are kept newest first; hand them out in attach order */
    for (size_t want = n; want > 0; want--) {
        size_t i = 0;
        for (struct conn *c = self->conns; c; c = c->next) {
            if (!c->attached)
                continue;
            if (++i == want && k < max)
                out[k++] = &c->program;
        }
    }
    return n;
}

int link_request(struct link *self, int id, const char *method, json_t *params, link_result_cb cb,
                 void *user)
{
    struct conn *c = self->conns;
    while (c && !(c->attached && c->program.id == id))
        c = c->next;
    if (!c || self->closing) {
        json_decref(params);
        return c ? LINK_ECLOSED : LINK_ENOPROGRAM;
    }
    struct pending *p = calloc(1, sizeof *p);
    json_t *msg = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", (json_int_t)(c->next_id + 1),
                            "method", method, "params", params ? params : json_object());
    if (!p || !msg) {
        free(p);
        json_decref(msg);
        return LINK_ENOMEM;
    }
    p->id = ++c->next_id;
    snprintf(p->method, sizeof p->method, "%s", method);
    trace(self, method, false, msg);
    p->cb = cb;
    p->user = user;
    p->sent = uv_hrtime();
    int rc = conn_send(c, msg);
    json_decref(msg);
    if (rc != 0) {
        free(p);
        return rc;
    }
    p->next = c->pending;
    c->pending = p;
    return 0;
}

void link_close(struct link *self)
{
    char final[600], content[700] = "";
    if (!self || self->closing)
        return;
    self->closing = true;
    while (self->conns)
        conn_drop(self->conns, "server shutting down");
    uv_close((uv_handle_t *)&self->server, on_server_closed);
    link_stop_tcp(self);
    unlink(self->sock);
    snprintf(final, sizeof final, "%s/endpoint", self->dir);
    FILE *f = fopen(final, "r");
    if (f) {
        if (fgets(content, sizeof content, f)) {
            content[strcspn(content, "\n")] = '\0';
            if (strcmp(content, self->endpoint) == 0)
                unlink(final);
        }
        fclose(f);
    }
}

/* 16 bytes of /dev/urandom as 32 hex digits into self->token. */
static int make_token(struct link *self, char *err, size_t errsize)
{
    unsigned char raw[16];
    size_t got = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

    while (fd >= 0 && got < sizeof raw) {
        ssize_t n = read(fd, raw + got, sizeof raw - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (fd >= 0)
        close(fd);
    if (got < sizeof raw) {
        snprintf(err, errsize, "cannot make a token: cannot read /dev/urandom");
        return LINK_ETOKEN;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(self->token + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

int link_listen_tcp(struct link *self, const char *host, int port, char *err, size_t errsize)
{
    struct sockaddr_storage addr;
    int len = sizeof addr, rc;
    char name[INET6_ADDRSTRLEN] = "";

    if (self->closing) {
        snprintf(err, errsize, "%s", link_strerror(LINK_ECLOSED));
        return LINK_ECLOSED;
    }
    link_stop_tcp(self);
    if (!*self->token && (rc = make_token(self, err, errsize)) != 0)
        return rc;
    host = host && *host ? host : "127.0.0.1";
    if (port < 0 || port > 65535 ||
        (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
         uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0)) {
        snprintf(err, errsize, "cannot listen on tcp:%s:%d: not a numeric IPv4 or IPv6 address and port", host,
                 port);
        return LINK_ELISTEN;
    }
    uv_tcp_init(self->loop, &self->tcp_server);
    self->tcp_server.data = self;
    self->open_handles++;
    self->tcp_listening = true;
    if ((rc = uv_tcp_bind(&self->tcp_server, (struct sockaddr *)&addr, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&self->tcp_server, 16, on_connection)) != 0 ||
        (rc = uv_tcp_getsockname(&self->tcp_server, (struct sockaddr *)&addr, &len)) != 0) {
        snprintf(err, errsize, "cannot listen on tcp:%s:%d: %s", host, port, uv_strerror(rc));
        link_stop_tcp(self);
        return LINK_ELISTEN;
    }
    if (addr.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&addr, name, sizeof name);
        port = ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    } else {
        uv_ip4_name((struct sockaddr_in *)&addr, name, sizeof name);
        port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
    }
    snprintf(self->tcp_endpoint, sizeof self->tcp_endpoint, "tcp:%s:%d", name, port);
    return 0;
}

void link_stop_tcp(struct link *self)
{
    if (!self->tcp_listening)
        return;
    self->tcp_listening = false;
    *self->tcp_endpoint = '\0';
    uv_close((uv_handle_t *)&self->tcp_server, on_server_closed);
}

const char *link_tcp_endpoint(const struct link *self)
{
    return self->tcp_listening ? self->tcp_endpoint : NULL;
}

const char *link_token(const struct link *self)
{
    return *self->token ? self->token : NULL;
}
