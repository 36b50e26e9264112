/* session: the background thread and the JSON-RPC conversation with the
 * server. See session.h and docs/protocol.md.
 *
 * Ownership: the thread owns the socket for reading; writes from any thread
 * go through `send_lock` (an atomic flag, so that a signal handler can try
 * it without deadlocking). A reload waiting for hot_poll is one slot
 * (`pending`), handed over with an atomic exchange. */
#include "session.h"

#include "arch.h"
#include "hooks.h"
#include "hot.h"
#include "reload.h"
#include "stopworld.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RETRY_MS 500
#define MAX_MESSAGE (64u << 20)

/* What the background thread leaves for hot_poll. */
struct pending {
    json_t *id;               /* the request's id (owned) */
    struct reload_plan *plan; /* NULL: a rollback */
};

static pthread_t thread;
static int running;
static pid_t thread_tid;
static int auto_mode;
static char *fixed_endpoint;
static int wake[2] = {-1, -1};
static int sock = -1;
static int attached;
static int send_lock;
static int next_id = 1;
static struct pending *pending;

pid_t session_thread_tid(void)
{
    return __atomic_load_n(&thread_tid, __ATOMIC_ACQUIRE);
}

/* ---------------------------------------------------------------- sending */

static int try_lock_send(int tries)
{
    for (int i = 0; tries < 0 || i < tries; i++) {
        int expected = 0;
        if (__atomic_compare_exchange_n(&send_lock, &expected, 1, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return 1;
        sched_yield();
    }
    return 0;
}

static void unlock_send(void)
{
    __atomic_store_n(&send_lock, 0, __ATOMIC_RELEASE);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Frames and sends `msg` (stolen). Returns 0 or -1 (not connected). */
static int send_message(json_t *msg)
{
    char *body = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!body)
        return -1;
    char header[64];
    int hn = snprintf(header, sizeof header, "Content-Length: %zu\r\n\r\n", strlen(body));
    try_lock_send(-1);
    int rc = -1;
    int fd = __atomic_load_n(&sock, __ATOMIC_ACQUIRE);
    if (fd >= 0)
        rc = write_all(fd, header, (size_t)hn) == 0 && write_all(fd, body, strlen(body)) == 0 ? 0 : -1;
    unlock_send();
    free(body);
    return rc;
}

static void notify(const char *method, json_t *params)
{
    send_message(json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params", params));
}

static void respond(json_t *id, json_t *result)
{
    send_message(json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result));
}

static void respond_error(json_t *id, int code, const char *message)
{
    send_message(json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                           "error", "code", code, "message", message));
}

void session_log(const char *level, const char *message)
{
    if (__atomic_load_n(&attached, __ATOMIC_ACQUIRE))
        notify("hot/log", json_pack("{s:s, s:s}", "level", level, "message", message));
}

const char *session_signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    default: return "signal";
    }
}

void session_crash(int sig, unsigned long address, const char *function, unsigned long offset,
                int version, int guarded, int rolled_back)
{
    char addr[32];
    snprintf(addr, sizeof addr, "0x%lx", address);
    json_t *p = json_pack("{s:i, s:s, s:s, s:i, s:b, s:b}", "signal", sig, "signalName",
                          session_signal_name(sig), "address", addr, "version", version, "guarded",
                          guarded, "rolledBack", rolled_back);
    if (function) {
        json_object_set_new(p, "function", json_string(function));
        json_object_set_new(p, "offset", json_integer((json_int_t)offset));
    }
    notify("hot/crash", p);
}

/* Appends a JSON string literal of `s` (escaping what must be). */
static size_t put_string(char *out, size_t at, size_t cap, const char *s)
{
    if (at < cap)
        out[at] = '"';
    at++;
    for (; *s && at + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[at++] = '\\';
            out[at++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[at++] = (char)c;
        }
    }
    if (at < cap)
        out[at] = '"';
    return at + 1;
}

void session_crash_from_signal(int sig, unsigned long address, const char *function,
                            unsigned long offset, int version)
{
    int fd = __atomic_load_n(&sock, __ATOMIC_ACQUIRE);
    if (fd < 0 || !__atomic_load_n(&attached, __ATOMIC_ACQUIRE) || !try_lock_send(1000))
        return;
    char body[768];
    size_t n = (size_t)snprintf(body, sizeof body,
                                "{\"jsonrpc\":\"2.0\",\"method\":\"hot/crash\",\"params\":{\"signal\":%d,"
                                "\"signalName\":\"%s\",\"address\":\"0x%lx\",\"version\":%d,"
                                "\"guarded\":false,\"rolledBack\":false",
                                sig, session_signal_name(sig), address, version);
    if (function && n < 400) {
        memcpy(body + n, ",\"function\":", 12);
        n = put_string(body, n + 12, 600, function);
        n += (size_t)snprintf(body + n, sizeof body - n, ",\"offset\":%lu", offset);
    }
    n += (size_t)snprintf(body + n, sizeof body - n, "}}");
    char header[64];
    int hn = snprintf(header, sizeof header, "Content-Length: %zu\r\n\r\n", n);
    write_all(fd, header, (size_t)hn);
    write_all(fd, body, n);
    unlock_send();
}

/* ---------------------------------------------------------------- endpoint */

/* The endpoint to try now (new string), or NULL. */
static char *find_endpoint(void)
{
    if (fixed_endpoint)
        return strdup(fixed_endpoint);
    const char *env = getenv(HOT_ENV_ENDPOINT);
    if (env && *env)
        return strdup(env);
    char path[512];
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && *xdg)
        snprintf(path, sizeof path, "%s/hotc/endpoint", xdg);
    else
        snprintf(path, sizeof path, "/tmp/hotc-%u/endpoint", (unsigned)getuid());
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char line[600] = "";
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    if (!got)
        return NULL;
    line[strcspn(line, "\r\n")] = 0;
    return *line ? strdup(line) : NULL;
}

static int connect_endpoint(const char *ep)
{
    if (strncmp(ep, "unix:", 5) == 0) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        if (strlen(ep + 5) >= sizeof a.sun_path)
            return -1;
        strcpy(a.sun_path, ep + 5);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (strncmp(ep, "tcp:", 4) == 0) {
        char host[256];
        snprintf(host, sizeof host, "%s", ep + 4);
        char *colon = strrchr(host, ':');
        if (!colon)
            return -1;
        *colon = 0;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
            return -1;
        int fd = -1;
        for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
            fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
            if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
                close(fd);
                fd = -1;
            }
        }
        freeaddrinfo(res);
        return fd;
    }
    return -1;
}

/* ---------------------------------------------------------------- attach */

static json_t *attach_params(void)
{
    const struct elfself *self = reload_self();
    char base[32], cwd[4096];
    snprintf(base, sizeof base, "0x%lx", self ? (unsigned long)self->base : 0ul);
    if (!getcwd(cwd, sizeof cwd))
        strcpy(cwd, "");
    json_t *functions = json_array();
    for (size_t i = 0; self && i < self->nhot; i++) {
        const struct elfself_sym *s = self->hot[i].sym;
        if (!s)
            continue;
        char addr[32];
        snprintf(addr, sizeof addr, "0x%lx", (unsigned long)s->addr);
        json_t *f = json_pack("{s:s, s:s}", "name", s->name, "address", addr);
        if (s->file >= 0)
            json_object_set_new(f, "file", json_string(self->files[s->file]));
        json_array_append_new(functions, f);
    }
    json_t *p = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:o}", "pid", (int)getpid(),
                          "executable", self ? self->path : "", "buildId", self ? self->build_id : "",
                          "loadBase", base, "arch", ARCH_NAME, "runtimeVersion", HOTC_VERSION, "mode",
                          auto_mode ? "auto" : "poll", "version", reload_version(), "cwd", cwd,
                          "functions", functions);
    const char *token = getenv(HOT_ENV_TOKEN);
    if (token && *token)
        json_object_set_new(p, "token", json_string(token));
    return p;
}

/* ---------------------------------------------------------------- reload */

static json_t *timings_json(const struct reload_timings *t)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "loadUs", (json_int_t)t->load_us, "resolveUs",
                     (json_int_t)t->resolve_us, "waitUs", (json_int_t)t->wait_us, "applyUs",
                     (json_int_t)t->apply_us, "totalUs", (json_int_t)t->total_us);
}

static json_t *refused(const char *reason)
{
    return json_pack("{s:s, s:i, s:s}", "status", "refused", "version", reload_version(), "reason",
                     reason);
}

/* Writes base64 `text` into an anonymous file and returns its /proc path in
 * `path` (the descriptor stays open: the library will live there). */
static int library_from_base64(const char *text, char *path, size_t pathsz)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(text);
    unsigned char *bytes = malloc(len / 4 * 3 + 3);
    if (!bytes)
        return -1;
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = text; *p && *p != '='; p++) {
        const char *c = strchr(alphabet, *p);
        if (!c || !*p) {
            if (*p == '\n' || *p == '\r')
                continue;
            free(bytes);
            return -1;
        }
        acc = (acc << 6) | (unsigned)(c - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes[n++] = (unsigned char)(acc >> bits);
        }
    }
    int fd = memfd_create("hotc-patch", MFD_CLOEXEC);
    int ok = fd >= 0 && write(fd, bytes, n) == (ssize_t)n;
    free(bytes);
    if (!ok) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(path, pathsz, "/proc/self/fd/%d", fd);
    return 0;
}

/* Parses a hot/reload request's params into `req` (strings borrowed from
 * `params`; arrays allocated into funcs and statics). */
static int parse_reload(json_t *params, struct reload_request *req, struct reload_func **funcs,
                        struct reload_static **statics, char *libpath, size_t libpathsz,
                        char *err, size_t errsz)
{
    json_t *jf = NULL, *js = NULL;
    const char *library = NULL, *b64 = NULL, *bid = NULL;
    json_error_t e;
    memset(req, 0, sizeof *req);
    if (json_unpack_ex(params, &e, 0, "{s:i, s?s, s?s, s?s, s:o, s?o}", "version", &req->version,
                       "library", &library, "libraryBase64", &b64, "targetBuildId", &bid,
                       "functions", &jf, "statics", &js) != 0 ||
        !json_is_array(jf) || (js && !json_is_array(js))) {
        snprintf(err, errsz, "invalid hot/reload params: %s", e.text);
        return -1;
    }
    if (!library && b64) {
        if (library_from_base64(b64, libpath, libpathsz) != 0) {
            snprintf(err, errsz, "invalid hot/reload params: bad libraryBase64");
            return -1;
        }
        library = libpath;
    }
    req->library = library;
    req->target_build_id = bid;
    size_t nf = json_array_size(jf), ns = js ? json_array_size(js) : 0;
    *funcs = calloc(nf ? nf : 1, sizeof **funcs);
    *statics = calloc(ns ? ns : 1, sizeof **statics);
    if (!*funcs || !*statics) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nf; i++) {
        struct reload_func *f = &(*funcs)[i];
        if (json_unpack_ex(json_array_get(jf, i), &e, 0, "{s:s, s?s, s:s}", "name", &f->name, "file",
                           &f->file, "symbol", &f->symbol) != 0) {
            snprintf(err, errsz, "invalid hot/reload functions[%zu]: %s", i, e.text);
            return -1;
        }
    }
    for (size_t i = 0; i < ns; i++) {
        struct reload_static *s = &(*statics)[i];
        const char *kind = "object";
        if (json_unpack_ex(json_array_get(js, i), &e, 0, "{s:s, s:s, s:s, s?s, s?s}", "symbol",
                           &s->symbol, "name", &s->name, "file", &s->file, "function", &s->function,
                           "kind", &kind) != 0) {
            snprintf(err, errsz, "invalid hot/reload statics[%zu]: %s", i, e.text);
            return -1;
        }
        s->is_function = strcmp(kind, "function") == 0;
    }
    req->funcs = *funcs;
    req->nfuncs = nf;
    req->statics = *statics;
    req->nstatics = ns;
    return 0;
}

/* Applies `plan` (owned) now and returns the result object. */
static json_t *apply_now(struct reload_plan *plan, int *redirected)
{
    char reason[512];
    struct reload_timings t;
    int version = reload_plan_version(plan);
    hooks_run(HOT_BEFORE, version);
    int n = reload_apply(plan, session_thread_tid(), &t, reason, sizeof reason);
    if (n < 0)
        return refused(reason);
    hooks_run(HOT_AFTER, version);
    if (redirected)
        *redirected = n;
    return json_pack("{s:s, s:i, s:i, s:o}", "status", "applied", "version", version, "redirected",
                     n, "timings", timings_json(&t));
}

static json_t *rollback_now(void)
{
    char reason[256];
    int version = reload_rollback(session_thread_tid(), reason, sizeof reason);
    if (version < 0)
        return json_pack("{s:i, s:s, s:s}", "version", reload_version(), "status", "refused", "reason",
                         reason);
    return json_pack("{s:i, s:s}", "version", version, "status", "rolledBack");
}

/* Hands `p` (owned) to hot_poll. Returns 0, or -1 when one is waiting. */
static int leave_for_poll(struct pending *p)
{
    struct pending *expected = NULL;
    return __atomic_compare_exchange_n(&pending, &expected, p, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE) ? 0 : -1;
}

static void on_reload(json_t *id, json_t *params)
{
    struct reload_request req;
    struct reload_func *funcs = NULL;
    struct reload_static *statics = NULL;
    char err[512], libpath[64];
    if (parse_reload(params, &req, &funcs, &statics, libpath, sizeof libpath, err, sizeof err) != 0) {
        respond_error(id, -32602, err);
        goto done;
    }
    struct reload_plan *plan;
    if (reload_prepare(&req, &plan, err, sizeof err) != 0) {
        respond(id, refused(err));
        goto done;
    }
    if (auto_mode) {
        respond(id, apply_now(plan, NULL));
        goto done;
    }
    struct pending *p = malloc(sizeof *p);
    if (!p || leave_for_poll(p) != 0) {
        free(p);
        reload_plan_free(plan);
        respond(id, refused("a previous reload is still waiting for hot_poll()"));
        goto done;
    }
    p->id = json_incref(id);
    p->plan = plan;
done:
    free(funcs);
    free(statics);
}

static void on_rollback(json_t *id)
{
    if (auto_mode) {
        respond(id, rollback_now());
        return;
    }
    struct pending *p = malloc(sizeof *p);
    if (!p || leave_for_poll(p) != 0) {
        free(p);
        respond(id, json_pack("{s:i, s:s, s:s}", "version", reload_version(), "status", "refused",
                              "reason", "a previous request is still waiting for hot_poll()"));
        return;
    }
    p->id = json_incref(id);
    p->plan = NULL;
}

int session_poll(void)
{
    if (!__atomic_load_n(&pending, __ATOMIC_ACQUIRE))
        return 0;
    struct pending *p = __atomic_exchange_n(&pending, NULL, __ATOMIC_ACQ_REL);
    if (!p)
        return 0;
    int redirected = 0;
    json_t *result = p->plan ? apply_now(p->plan, &redirected) : rollback_now();
    respond(p->id, result);
    json_decref(p->id);
    free(p);
    return redirected;
}

static void dispatch(json_t *msg)
{
    const char *method = NULL;
    json_t *id = json_object_get(msg, "id");
    json_t *params = json_object_get(msg, "params");
    if (json_unpack(msg, "{s:s}", "method", &method) != 0) {
        if (!id) /* neither request nor response */
            respond_error(NULL, -32600, "invalid request");
        return; /* a response (to hot/attach): nothing to do */
    }
    if (!id)
        return; /* notifications from the server: none defined yet */
    if (strcmp(method, "hot/reload") == 0) {
        if (!json_is_object(params))
            respond_error(id, -32602, "hot/reload needs params");
        else
            on_reload(id, params);
    } else if (strcmp(method, "hot/rollback") == 0) {
        on_rollback(id);
    } else {
        respond_error(id, -32601, "method not found");
    }
}

/* ---------------------------------------------------------------- reading */

struct reader {
    char *buf;
    size_t len, cap;
};

/* Takes one complete message off the buffer. Returns 1 with `*out` (new
 * reference, NULL when the body was not JSON), 0 when incomplete, -1 when
 * the framing is broken. */
static int next_message(struct reader *r, json_t **out)
{
    *out = NULL;
    char *end = NULL;
    for (size_t i = 0; i + 3 < r->len; i++)
        if (memcmp(r->buf + i, "\r\n\r\n", 4) == 0) {
            end = r->buf + i;
            break;
        }
    if (!end)
        return r->len > 8192 ? -1 : 0;
    size_t length = 0;
    int have = 0;
    for (char *line = r->buf; line < end;) {
        char *eol = memchr(line, '\r', (size_t)(end - line) + 1);
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            length = strtoul(line + 15, NULL, 10);
            have = 1;
        }
        line = eol + 2;
    }
    if (!have || length > MAX_MESSAGE)
        return -1;
    size_t head = (size_t)(end - r->buf) + 4;
    if (r->len < head + length)
        return 0;
    *out = json_loadb(r->buf + head, length, 0, NULL);
    memmove(r->buf, r->buf + head + length, r->len - head - length);
    r->len -= head + length;
    return 1;
}

/* Talks to one connected server until it goes away or we are stopped.
 * Returns 1 when stopped. */
static int converse(int fd)
{
    __atomic_store_n(&sock, fd, __ATOMIC_RELEASE);
    __atomic_store_n(&attached, 1, __ATOMIC_RELEASE);
    send_message(json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", next_id++, "method",
                           "hot/attach", "params", attach_params()));
    struct reader r = {0};
    int stopped = 0;
    for (;;) {
        struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = wake[0], .events = POLLIN}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents) {
            stopped = 1;
            break;
        }
        if (r.cap - r.len < 65536) {
            size_t cap = r.cap ? r.cap * 2 : 131072;
            char *nb = realloc(r.buf, cap);
            if (!nb)
                break;
            r.buf = nb;
            r.cap = cap;
        }
        ssize_t n = read(fd, r.buf + r.len, r.cap - r.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        r.len += (size_t)n;
        json_t *msg;
        int got;
        while ((got = next_message(&r, &msg)) == 1) {
            if (msg)
                dispatch(msg);
            else
                respond_error(NULL, -32700, "parse error");
            json_decref(msg);
        }
        if (got < 0)
            break;
    }
    free(r.buf);
    if (stopped)
        send_message(json_pack("{s:s, s:s, s:{s:s}}", "jsonrpc", "2.0", "method", "hot/detach",
                               "params", "reason", "shutdown"));
    __atomic_store_n(&attached, 0, __ATOMIC_RELEASE);
    try_lock_send(-1);
    __atomic_store_n(&sock, -1, __ATOMIC_RELEASE);
    unlock_send();
    close(fd);
    /* A reload left for hot_poll whose requester is gone: drop it. */
    struct pending *p = __atomic_exchange_n(&pending, NULL, __ATOMIC_ACQ_REL);
    if (p) {
        reload_plan_free(p->plan);
        json_decref(p->id);
        free(p);
    }
    return stopped;
}

static void *run(void *arg)
{
    (void)arg;
    /* The runtime's thread is never stopped and must not take the stop or
     * crash signals meant for the program. */
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGFPE);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    __atomic_store_n(&thread_tid, stopworld_gettid(), __ATOMIC_RELEASE);
    char err[256];
    reload_init(err, sizeof err);
    for (;;) {
        char *ep = find_endpoint();
        int fd = ep ? connect_endpoint(ep) : -1;
        free(ep);
        if (fd >= 0 && converse(fd))
            break;
        struct pollfd w = {.fd = wake[0], .events = POLLIN};
        if (poll(&w, 1, RETRY_MS) > 0)
            break;
    }
    return NULL;
}

int session_start(const char *endpoint, int automatic)
{
    if (__atomic_load_n(&running, __ATOMIC_ACQUIRE))
        return 0;
    auto_mode = automatic;
    free(fixed_endpoint);
    fixed_endpoint = endpoint ? strdup(endpoint) : NULL;
    if (pipe2(wake, O_CLOEXEC) != 0)
        return HOT_ETHREAD;
    /* The thread must not inherit a signal mask that blocks nothing: it sets
     * its own first thing. */
    if (pthread_create(&thread, NULL, run, NULL) != 0) {
        close(wake[0]);
        close(wake[1]);
        return HOT_ETHREAD;
    }
    __atomic_store_n(&running, 1, __ATOMIC_RELEASE);
    return 0;
}

void session_stop(void)
{
    if (!__atomic_load_n(&running, __ATOMIC_ACQUIRE))
        return;
    ssize_t w = write(wake[1], "x", 1);
    (void)w;
    pthread_join(thread, NULL);
    close(wake[0]);
    close(wake[1]);
    wake[0] = wake[1] = -1;
    __atomic_store_n(&thread_tid, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&running, 0, __ATOMIC_RELEASE);
}
