/* session: the background thread and the JSON-RPC conversation with the
 * server. See session.h and docs/protocol.md.
 *
 * Ownership: the runtime's thread owns the socket. It is the only thread
 * that reads it and, but for one exception, the only one that writes it:
 * the program's threads never touch the network, so a server that stops
 * reading can never stall them (hot_poll costs one atomic load when idle,
 * and only the apply itself when it applies). What they have to say (the
 * answer to a reload applied in hot_poll, a crash report from hot_guard, a
 * log line) is handed over on `handed`, a lock-free list they push onto and
 * the runtime's thread takes whole, and the runtime's thread is woken
 * through the eventfd `kick`. It frames each message into `outq`, the
 * backlog, and writes it with non-blocking sends whenever the socket takes
 * more.
 *
 * The exception is a crash outside hot_guard: the program is about to die,
 * so the signal handler writes its report itself, non-blocking, waiting at
 * most CRASH_SEND_MS for the socket to take it (after the backlog, so that
 * it never lands inside another message). `outq` is guarded by `send_lock`,
 * an atomic flag rather than a mutex, so that the handler can try it with a
 * deadline instead of deadlocking on a thread it interrupted.
 *
 * A reload waiting for hot_poll is one slot (`pending`), handed over with an
 * atomic exchange.
 *
 * This file holds the thread, the connection and everything sent on it:
 * the backlog, the hand-over from other threads, the crash report from a
 * signal handler, hot/attach with the TCP handshake, the conversation
 * loop, start and stop. Split by concern with runtime/session_endpoint.c
 * (which endpoint, and whether to trust it) and runtime/session_requests.c
 * (the server's messages read, and each request handled), sharing the
 * private runtime/session_impl.h. */
#include "session.h"
#include "guard.h"
#include "hmac.h"
#include "session_impl.h"

#include "arch.h"
#include "handover.h"
#include "hooks.h"
#include "hot.h"
#include "reload.h"
#include "stopworld.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RETRY_MS 500
/* Above this much unsent output the runtime stops reading requests (the
 * server, which is not reading, gets back-pressure instead of growing our
 * memory) and drops notifications (log lines, crash reports from
 * hot_guard), counting them; answers are never dropped. */
#define MAX_BACKLOG (4u << 20)
#define CRASH_SEND_MS 250 /* the dying program's wait for its crash report */
#define STOP_FLUSH_MS 500 /* hot_shutdown's wait for the last messages */
#define SAVE_FLUSH_MS 5000 /* the same when they hand the state over (hot/save) */
#define GUARD_RECHECK_MS 1000 /* how often the crash handlers are put back in front */
#define NO_EXIT_STATUS (-1) /* exit_status before exit(): hot_shutdown's detach */

static int exit_status = NO_EXIT_STATUS; /* what the program passed to exit(), once it did */
static pid_t started_pid;                 /* the process that started the runtime */

/* A message handed to the runtime's thread by another thread. */
struct handed {
    struct handed *next;
    unsigned generation; /* sent only on this connection */
    int droppable;       /* a notification: may be dropped when the backlog is full */
    size_t len;          /* bytes of data */
    char data[];         /* the framed message, serialized by the poster so that
                          * the crash handler can send it without allocating */
};

/* The framed bytes not yet sent: buf[sent, len). Under send_lock. */
struct backlog {
    char *buf;
    size_t len, cap, sent;
};

static pthread_t thread;
static int running;
static pid_t thread_tid;
int session__auto_mode;
char *session__fixed_endpoint;
static int wake[2] = {-1, -1};
static int kick = -1;
static int sock = -1;
static int attached;
unsigned session__generation; /* counts connections */
static int send_lock;
static struct backlog outq;
static struct handed *handed;
static unsigned long dropped; /* notifications dropped since the last report */
static int next_id = 1;

int session__attach_id;       /* the id of this connection's hot/attach */
int session__saved_state;     /* the server said it keeps state for this program */

pid_t session_thread_tid(void)
{
    return __atomic_load_n(&thread_tid, __ATOMIC_ACQUIRE);
}

/* ---------------------------------------------------------------- sending */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Takes send_lock, waiting at most until `deadline` (now_ms; negative: no
 * limit). Returns 1 when taken. Async-signal-safe. */
static int lock_send(int64_t deadline)
{
    for (;;) {
        int expected = 0;
        if (__atomic_compare_exchange_n(&send_lock, &expected, 1, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return 1;
        if (deadline >= 0 && now_ms() >= deadline)
            return 0;
        sched_yield();
    }
}

static void unlock_send(void)
{
    __atomic_store_n(&send_lock, 0, __ATOMIC_RELEASE);
}

/* Sends what the socket takes of p[0, n) without blocking, waiting for room
 * until `deadline` (now_ms; 0: not at all). Returns the bytes sent, or -1
 * when the connection is broken. Async-signal-safe. */
static ssize_t send_some(int fd, const char *p, size_t n, int64_t deadline)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = send(fd, p + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int64_t left = deadline - now_ms();
            if (left <= 0)
                break;
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            if (poll(&pf, 1, (int)left) < 0 && errno != EINTR)
                return -1;
            continue;
        }
        return -1;
    }
    return (ssize_t)done;
}

/* Sends what the socket takes of the backlog now, without waiting.
 * Runtime thread only. Returns 0, or -1 when the connection is broken. */
static int flush_backlog(int fd)
{
    lock_send(-1);
    int rc = 0;
    if (outq.sent < outq.len) {
        ssize_t w = send_some(fd, outq.buf + outq.sent, outq.len - outq.sent, 0);
        if (w < 0)
            rc = -1;
        else
            outq.sent += (size_t)w;
    }
    if (outq.sent == outq.len)
        outq.len = outq.sent = 0;
    unlock_send();
    return rc;
}

/* Bytes not yet sent. Runtime thread only (the crash handler may send
 * some meanwhile, hence the lock). */
static size_t backlog_size(void)
{
    lock_send(-1);
    size_t n = outq.len - outq.sent;
    unlock_send();
    return n;
}

/* Serializes and frames `msg` (stolen) into a new buffer of `extra` bytes
 * followed by the frame; *len gets the frame's length. NULL when out of
 * memory (msg is released either way). */
static char *frame_new(json_t *msg, size_t extra, size_t *len)
{
    char *body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (!body)
        return NULL;
    size_t bn = strlen(body);
    char header[64];
    int hn = snprintf(header, sizeof header, "Content-Length: %zu\r\n\r\n", bn);
    char *out = malloc(extra + (size_t)hn + bn);
    if (out) {
        memcpy(out + extra, header, (size_t)hn);
        memcpy(out + extra + (size_t)hn, body, bn);
        *len = (size_t)hn + bn;
    }
    free(body);
    return out;
}

/* Adds `len` framed bytes at the end of the backlog. Under send_lock. A
 * droppable message is dropped (and counted) when the backlog is full. */
static void append_locked(const char *data, size_t len, int droppable)
{
    if (droppable && outq.len - outq.sent >= MAX_BACKLOG) {
        dropped++;
        return;
    }
    if (outq.sent > 0 && outq.sent >= outq.len / 2) { /* reclaim what was sent */
        memmove(outq.buf, outq.buf + outq.sent, outq.len - outq.sent);
        outq.len -= outq.sent;
        outq.sent = 0;
    }
    size_t need = outq.len + len;
    if (need > outq.cap) {
        size_t cap = outq.cap ? outq.cap : 4096;
        while (cap < need)
            cap *= 2;
        char *nb = realloc(outq.buf, cap);
        if (!nb)
            return;
        outq.buf = nb;
        outq.cap = cap;
    }
    memcpy(outq.buf + outq.len, data, len);
    outq.len = need;
}

/* Frames `msg` (stolen) at the end of the backlog. Runtime thread only. A
 * droppable message is dropped (and counted) when the backlog is full. */
static void append(json_t *msg, int droppable)
{
    size_t len = 0;
    char *data = frame_new(msg, 0, &len);
    if (!data)
        return;
    lock_send(-1);
    append_locked(data, len, droppable);
    unlock_send();
    free(data);
}

/* Forgets the backlog (the connection is gone). Runtime thread only. */
void session__discard_backlog(void)
{
    lock_send(-1);
    free(outq.buf);
    outq.buf = NULL;
    outq.len = outq.cap = outq.sent = 0;
    unlock_send();
    dropped = 0;
}

/* Hands `msg` (stolen) to the runtime's thread, for the connection
 * `gen`. Any thread; never blocks: one allocation, a compare-and-swap and
 * an eventfd write. */
void session__post(json_t *msg, unsigned gen, int droppable)
{
    size_t len = 0;
    struct handed *h = (struct handed *)frame_new(msg, sizeof *h, &len);
    if (!h)
        return;
    h->len = len;
    h->generation = gen;
    h->droppable = droppable;
    h->next = __atomic_load_n(&handed, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&handed, &h->next, h, 1, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
        ;
    int k = __atomic_load_n(&kick, __ATOMIC_ACQUIRE);
    if (k >= 0) {
        uint64_t one = 1;
        ssize_t w = write(k, &one, sizeof one); /* EFD_NONBLOCK: never waits */
        (void)w;
    }
}

/* Takes the whole handed list, oldest first. Any thread, signal handlers
 * included (one atomic exchange, pointer moves). */
static struct handed *grab_handed(void)
{
    struct handed *h = __atomic_exchange_n(&handed, NULL, __ATOMIC_ACQUIRE), *oldest = NULL;
    while (h) { /* the list is newest first */
        struct handed *next = h->next;
        h->next = oldest;
        oldest = h;
        h = next;
    }
    return oldest;
}

/* Moves every handed message into the backlog when it belongs to
 * connection `gen` (0: none, drop them all). Runtime thread only. The send
 * lock is held from the grab to the last append, so that the crash handler,
 * once it holds the lock, finds every message either in the backlog or
 * still in the handed list. */
static void take_handed(unsigned gen)
{
    lock_send(-1);
    struct handed *oldest = grab_handed();
    while (oldest) {
        struct handed *next = oldest->next;
        if (gen && oldest->generation == gen)
            append_locked(oldest->data, oldest->len, oldest->droppable);
        free(oldest);
        oldest = next;
    }
    unlock_send();
}

/* A JSON-RPC notification (new reference) of `method` with `params`
 * (stolen); NULL when out of memory. */
static json_t *notification(const char *method, json_t *params)
{
    return json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params", params);
}

/* A JSON-RPC response (new reference) to `id` (borrowed) with `result`
 * (stolen); NULL when out of memory. */
static json_t *response(json_t *id, json_t *result)
{
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

/* Queue answers to `id` (borrowed), from the runtime's thread only: a
 * result (stolen), or a JSON-RPC error. Answers are never dropped; out of
 * memory, the server sees no answer. */
void session__respond(json_t *id, json_t *result)
{
    append(response(id, result), 0);
}

void session__respond_error(json_t *id, int code, const char *message)
{
    append(json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                     "error", "code", code, "message", message),
           0);
}

/* Reports the notifications dropped while the backlog was full, once it
 * has drained. Runtime thread only. */
static void report_dropped(void)
{
    if (!dropped || backlog_size() > 0)
        return;
    char message[160];
    snprintf(message, sizeof message,
             "dropped %lu log or crash notifications: the server was not reading", dropped);
    dropped = 0;
    append(notification("hot/log", json_pack("{s:s, s:s}", "level", "warning", "message", message)),
           0);
}

void session_log(const char *level, const char *message)
{
    if (__atomic_load_n(&attached, __ATOMIC_ACQUIRE))
        session__post(notification("hot/log", json_pack("{s:s, s:s}", "level", level, "message", message)),
                      __atomic_load_n(&session__generation, __ATOMIC_ACQUIRE), 1);
}

void session_state(const char *name, const char *type, size_t size)
{
    if (__atomic_load_n(&attached, __ATOMIC_ACQUIRE))
        session__post(notification("hot/state", json_pack("{s:[{s:s, s:s, s:I}]}", "blocks", "name", name, "type", type,
                                                          "size", (json_int_t)size)),
                      __atomic_load_n(&session__generation, __ATOMIC_ACQUIRE), 1);
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
                   const char *module, unsigned long module_base, int version, int guarded, int rolled_back)
{
    if (!__atomic_load_n(&attached, __ATOMIC_ACQUIRE))
        return;
    char addr[32];
    snprintf(addr, sizeof addr, "0x%lx", address);
    json_t *p = json_pack("{s:i, s:s, s:s, s:i, s:b, s:b}", "signal", sig, "signalName",
                          session_signal_name(sig), "address", addr, "version", version, "guarded",
                          guarded, "rolledBack", rolled_back);
    if (p && function) {
        json_object_set_new(p, "function", json_string(function));
        json_object_set_new(p, "offset", json_integer((json_int_t)offset));
    }
    if (p && module && *module) {
        snprintf(addr, sizeof addr, "0x%lx", module_base);
        json_object_set_new(p, "module", json_string(module));
        json_object_set_new(p, "moduleBase", json_string(addr));
    }
    session__post(notification("hot/crash", p), __atomic_load_n(&session__generation, __ATOMIC_ACQUIRE), 1);
}

/* Appends a JSON string literal of `s` (escaping what must be). */
static size_t put_string(char *buf, size_t at, size_t cap, const char *s)
{
    if (at < cap)
        buf[at] = '"';
    at++;
    for (; *s && at + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[at++] = '\\';
            buf[at++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            buf[at++] = (char)c;
        }
    }
    if (at < cap)
        buf[at] = '"';
    return at + 1;
}

/* The program is dying: this is the one write from a thread other than the
 * runtime's. Bounded by CRASH_SEND_MS in all (for send_lock and for room
 * in the socket): what the socket does not take by then is lost, and so is
 * the stream's framing, which does not matter once the program is gone (a
 * program whose own handler survives the crash keeps a connection the
 * server may then drop as broken). */
void session_crash_from_signal(int sig, unsigned long address, const char *function,
                               unsigned long offset, const char *module, unsigned long module_base, int version)
{
    int fd = __atomic_load_n(&sock, __ATOMIC_ACQUIRE);
    if (fd < 0 || !__atomic_load_n(&attached, __ATOMIC_ACQUIRE))
        return;
    int saved = errno;
    char body[1536];
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
    if (module && *module && n < 700) {
        memcpy(body + n, ",\"module\":", 10);
        n = put_string(body, n + 10, 1400, module);
        n += (size_t)snprintf(body + n, sizeof body - n, ",\"moduleBase\":\"0x%lx\"", module_base);
    }
    n += (size_t)snprintf(body + n, sizeof body - n, "}}");
    char header[64];
    int hn = snprintf(header, sizeof header, "Content-Length: %zu\r\n\r\n", n);
    int64_t deadline = now_ms() + CRASH_SEND_MS;
    if (!lock_send(deadline)) {
        errno = saved;
        return;
    }
    /* The backlog first: it ends on a message boundary, its start may not. */
    ssize_t w = 0;
    if (outq.sent < outq.len) {
        w = send_some(fd, outq.buf + outq.sent, outq.len - outq.sent, deadline);
        if (w > 0)
            outq.sent += (size_t)w;
    }
    /* Then what other threads handed over and the runtime's thread has not
     * taken yet (the answer to a reload applied just before the crash, say):
     * already framed, so sending it allocates nothing. Not freed: the
     * program is dying. */
    unsigned gen = __atomic_load_n(&session__generation, __ATOMIC_ACQUIRE);
    for (struct handed *h = grab_handed(); w >= 0 && h; h = h->next)
        if (h->generation == gen && outq.sent == outq.len)
            w = send_some(fd, h->data, h->len, deadline) == (ssize_t)h->len ? 0 : -1;
    if (w >= 0 && outq.sent == outq.len && send_some(fd, header, (size_t)hn, deadline) == hn)
        send_some(fd, body, n, deadline);
    unlock_send();
    errno = saved;
}

/* ---------------------------------------------------------------- endpoint
 *
 * Which one, and whether to trust it: runtime/session_endpoint.c. */

/* Why the last endpoint was not trusted ("" when it was): told to the
 * next server we do trust, once, as a hot/log warning. Runtime thread only. */
static char distrust[320];
static char connected_to[280]; /* the endpoint of the current connection */
static char distrust_told[320];

void session__distrusted(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(distrust, sizeof distrust, fmt, ap);
    va_end(ap);
}

/* connect_to, remembering `ep` in connected_to when it connects. */
static int connect_endpoint(const char *ep)
{
    int fd = session__connect_to(ep);
    if (fd >= 0)
        snprintf(connected_to, sizeof connected_to, "%s", ep);
    return fd;
}

/* ---------------------------------------------------------------- attach */

static void state_entry(const char *name, const char *type, size_t size, void *user)
{
    json_array_append_new(user, json_pack("{s:s, s:s, s:I}", "name", name, "type", type, "size", (json_int_t)size));
}

/* The TCP handshake (docs/protocol.md): with HOTC_TOKEN set, hot/attach
 * carries a fresh nonce and the program's proof that it knows the token,
 * HMAC(token, "hotc program " nonce), never the token itself; the server's
 * answer must carry HMAC(token, "hotc server " nonce), which only a holder
 * of the token can make. Until it has, nothing the server sends is acted
 * on (server_verdict). `server_proof` is the proof expected on this
 * connection ("" without a token). */
static char server_proof[HMAC_HEX_LEN + 1];
static int server_proven;

/* Adds nonce and proof to attach params `p` when HOTC_TOKEN is set, and
 * sets server_proof; else clears it. */
static void add_proof(json_t *p)
{
    const char *token = getenv(HOT_ENV_TOKEN);
    unsigned char raw[16];
    char nonce[2 * sizeof raw + 1], msg[64], proof[HMAC_HEX_LEN + 1];
    *server_proof = '\0';
    server_proven = 0;
    if (!token || !*token)
        return;
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        /* no randomness: send no proof (the server refuses the attach),
         * and expect none that could match */
        snprintf(server_proof, sizeof server_proof, "-");
        return;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(nonce + 2 * i, 3, "%02x", raw[i]);
    snprintf(msg, sizeof msg, "hotc program %s", nonce);
    hmac_sha256_hex(token, msg, proof);
    json_object_set_new(p, "nonce", json_string(nonce));
    json_object_set_new(p, "proof", json_string(proof));
    /* over a Unix socket the server's uid was checked (trusted_peer) and a
     * server without TCP has no token to prove */
    if (strncmp(connected_to, "tcp:", 4) != 0)
        return;
    snprintf(msg, sizeof msg, "hotc server %s", nonce);
    hmac_sha256_hex(token, msg, server_proof);
}

/* The params of hot/attach (new reference): what the server needs to
 * build patches for this process, its HOT functions above all. */
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
                          session__auto_mode ? "auto" : "poll", "version", reload_version(), "cwd", cwd,
                          "functions", functions);
    json_t *state = json_array();
    hooks_state_each(state_entry, state);
    json_object_set_new(p, "state", state);
    add_proof(p);
    return p;
}

/* Whether the connection may go on after `msg` (borrowed) while the
 * server has not yet proven that it knows the token: 1 when it is proven
 * or no proof is needed, 0 when `msg` is the answer that proves it (then
 * handled as any answer), -1 when the server must be left (another
 * answer, or a request before the proof), with the reason for the next
 * trusted server. */
static int server_verdict(json_t *msg)
{
    if (!*server_proof || server_proven)
        return 1;
    json_t *id = json_object_get(msg, "id");
    json_t *result = json_object_get(msg, "result");
    if (json_object_get(msg, "method") || !json_is_integer(id) || json_integer_value(id) != session__attach_id) {
        session__distrusted("left server %s: it sent a request before proving that it knows HOTC_TOKEN; "
                            "check HOTC_ENDPOINT",
                            connected_to);
        return -1;
    }
    if (!result)
        return -1; /* an error: the server refused the attach (a wrong token) and hangs up */
    if (!hmac_equal(json_string_value(json_object_get(result, "proof")), server_proof)) {
        session__distrusted("left server %s: it did not prove that it knows HOTC_TOKEN (not the hotc server "
                            "that logged the token, or an older one); check HOTC_ENDPOINT and HOTC_TOKEN",
                            connected_to);
        return -1;
    }
    server_proven = 1;
    return 0;
}

/* ---------------------------------------------------------------- conversation */

/* Sends the backlog until it is empty or `deadline` (now_ms) passes,
 * without holding send_lock while it waits. Returns 0, or -1 when the
 * connection is broken. */
static int drain_backlog(int fd, int64_t deadline)
{
    while (backlog_size() > 0) {
        if (flush_backlog(fd) != 0)
            return -1;
        int64_t left = deadline - now_ms();
        if (backlog_size() == 0 || left <= 0)
            break;
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (poll(&pf, 1, (int)left) < 0 && errno != EINTR)
            return -1;
    }
    return 0;
}

/* Tells a trusted server, once, why the runtime refused the endpoints or
 * servers before it (a hot/log warning), and forgets the reason. */
static void tell_distrust(void)
{
    if (*distrust && strcmp(distrust, distrust_told) != 0) {
        append(notification("hot/log", json_pack("{s:s, s:s}", "level", "warning", "message", distrust)), 1);
        snprintf(distrust_told, sizeof distrust_told, "%s", distrust);
    }
    *distrust = 0;
}

/* Talks to one connected server until it goes away or we are stopped.
 * Returns 1 when stopped. The socket is non-blocking: the loop waits in
 * poll for requests, for room to send the backlog, for messages handed
 * over by other threads (`kick`) and for hot_shutdown (`wake`). */
static int converse(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        close(fd);
        return 0;
    }
    unsigned gen = __atomic_add_fetch(&session__generation, 1, __ATOMIC_ACQ_REL);
    if (gen == 0) /* 0 means "no connection" */
        gen = __atomic_add_fetch(&session__generation, 1, __ATOMIC_ACQ_REL);
    __atomic_store_n(&sock, fd, __ATOMIC_RELEASE);
    __atomic_store_n(&attached, 1, __ATOMIC_RELEASE);
    session__attach_id = next_id++;
    session__saved_state = 0;
    append(json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", session__attach_id, "method",
                     "hot/attach", "params", attach_params()),
           0);
    if (!*server_proof)
        tell_distrust();
    struct reader r = {0};
    int stopped = 0;
    for (;;) {
        take_handed(gen);
        report_dropped();
        if (flush_backlog(fd) != 0)
            break;
        /* With a full backlog the server is not reading: stop reading its
         * requests too until it does (only a hang-up is still seen). */
        int reading = backlog_size() < MAX_BACKLOG;
        short events = (short)((reading ? POLLIN : 0) | (backlog_size() > 0 ? POLLOUT : 0));
        struct pollfd fds[3] = {{.fd = fd, .events = events},
                                {.fd = wake[0], .events = POLLIN},
                                {.fd = kick, .events = POLLIN}};
        int ready = poll(fds, 3, GUARD_RECHECK_MS);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        guard_recheck();
        if (ready == 0)
            continue;
        if (fds[1].revents) {
            stopped = 1;
            break;
        }
        if (fds[2].revents) {
            uint64_t count;
            ssize_t k = read(kick, &count, sizeof count);
            (void)k;
        }
        if (fds[0].revents & POLLNVAL)
            break;
        if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue; /* room to send, or a kick: the top of the loop does it */
        if (r.cap - r.len < 65536) {
            size_t cap = r.cap ? r.cap * 2 : 131072;
            char *nb = realloc(r.buf, cap);
            if (!nb)
                break;
            r.buf = nb;
            r.cap = cap;
        }
        ssize_t n = read(fd, r.buf + r.len, r.cap - r.len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n <= 0)
            break;
        r.len += (size_t)n;
        json_t *msg;
        int got = 0;
        int verdict = 1;
        while (verdict >= 0 && (got = session__next_message(&r, &msg)) == 1) {
            if (!msg)
                session__respond_error(NULL, -32700, "parse error");
            else if ((verdict = server_verdict(msg)) >= 0) {
                if (verdict == 0)
                    tell_distrust(); /* proven: a server we trust at last */
                session__dispatch(msg);
            }
            json_decref(msg);
        }
        if (got < 0 || verdict < 0)
            break;
    }
    free(r.buf);
    session__open_gate();
    if (stopped) {
        /* hot_shutdown: what the program's threads said last, then detach;
         * waiting at most STOP_FLUSH_MS for a server that does not read. */
        take_handed(gen);
        int status = __atomic_load_n(&exit_status, __ATOMIC_ACQUIRE), empty = 1;
        { /* a clean exit (or hot_shutdown) hands the state over */
            json_t *save = handover_snapshot(&empty);
            if (save && (!empty || session__saved_state)) {
                json_object_set_new(save, "reason", json_string(status == NO_EXIT_STATUS ? "shutdown" : "exit"));
                append(notification("hot/save", save), 0);
            } else {
                json_decref(save);
            }
        }
        append(status == NO_EXIT_STATUS
                   ? json_pack("{s:s, s:s, s:{s:s}}", "jsonrpc", "2.0", "method", "hot/detach", "params", "reason",
                               "shutdown")
                   : json_pack("{s:s, s:s, s:{s:s, s:i}}", "jsonrpc", "2.0", "method", "hot/detach", "params",
                               "reason", "exit", "status", status),
               0);
        drain_backlog(fd, now_ms() + (empty && !session__saved_state ? STOP_FLUSH_MS : SAVE_FLUSH_MS));
    }
    __atomic_store_n(&attached, 0, __ATOMIC_RELEASE);
    lock_send(-1);
    __atomic_store_n(&sock, -1, __ATOMIC_RELEASE);
    unlock_send();
    session__discard_backlog();
    take_handed(0);
    close(fd);
    /* A reload left for hot_poll whose requester is gone: drop it. */
    struct pending *p = __atomic_exchange_n(&session__pending, NULL, __ATOMIC_ACQ_REL);
    if (p) {
        reload_plan_free(p->plan);
        session__migrations_free(p->mig);
        json_decref(p->id);
        free(p);
    }
    return stopped;
}

/* The runtime's thread: connects, converses until the server goes away,
 * retries every RETRY_MS, until session_stop writes to `wake`. */
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
    {
        /* no server at all, or one that keeps no state for this program:
         * hot_init does not wait while the executable is read */
        int named;
        char *ep = session__find_endpoint(&named);
        if (!ep || !session__server_may_keep_state(ep))
            session__open_gate();
        free(ep);
    }
    reload_init(err, sizeof err);
    for (;;) {
        int named;
        char *ep = session__find_endpoint(&named);
        int fd = ep ? connect_endpoint(ep) : -1;
        if (fd < 0 && ep && named) {
            char *beside = session__endpoint_beside(ep);
            fd = beside ? connect_endpoint(beside) : -1;
            free(beside);
        }
        free(ep);
        if (fd < 0)
            session__open_gate(); /* no server: hot_init does not wait */
        if (fd >= 0 && converse(fd))
            break;
        /* Between connections, what is handed over (a late answer from
         * hot_poll) has nobody to go to. */
        struct pollfd w[2] = {{.fd = wake[0], .events = POLLIN}, {.fd = kick, .events = POLLIN}};
        int64_t retry = now_ms() + RETRY_MS;
        int stop = 0;
        for (int64_t left = RETRY_MS; left > 0 && !stop; left = retry - now_ms()) {
            if (poll(w, 2, (int)left) <= 0)
                continue;
            stop = w[0].revents != 0;
            if (w[1].revents) {
                uint64_t count;
                ssize_t k = read(kick, &count, sizeof count);
                (void)k;
                take_handed(0);
            }
        }
        if (stop)
            break;
    }
    return NULL;
}

/* exit() ran (on_exit): the server hears the program's exit status in
 * hot/detach. Only in the process that started the runtime: a child forked
 * without exec has no runtime thread to stop. */
static void on_program_exit(int status, void *arg)
{
    (void)arg;
    if (getpid() != started_pid)
        return;
    __atomic_store_n(&exit_status, status & 0xff, __ATOMIC_RELEASE);
    session_stop();
    session__remove_library_dir();
}

int session_start(const char *endpoint, int automatic)
{
    static int exit_hooked;

    if (__atomic_load_n(&running, __ATOMIC_ACQUIRE))
        return 0;
    started_pid = getpid();
    if (!exit_hooked && on_exit(on_program_exit, NULL) == 0)
        exit_hooked = 1;
    session__auto_mode = automatic;
    free(session__fixed_endpoint);
    session__fixed_endpoint = endpoint ? strdup(endpoint) : NULL;
    /* `kick` stays open for the life of the process: a thread posting
     * while hot_shutdown runs must never write into a closed (or reused)
     * descriptor. */
    if (__atomic_load_n(&kick, __ATOMIC_ACQUIRE) < 0) {
        int k = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (k < 0)
            goto fail;
        __atomic_store_n(&kick, k, __ATOMIC_RELEASE);
    }
    if (pipe2(wake, O_CLOEXEC) != 0)
        goto fail;
    /* run() replaces the mask it inherits first thing, before it is known
     * as the runtime's thread or takes part in anything. */
    if (pthread_create(&thread, NULL, run, NULL) != 0)
        goto fail;
    __atomic_store_n(&running, 1, __ATOMIC_RELEASE);
    return 0;

fail:
    if (wake[0] >= 0) {
        close(wake[0]);
        close(wake[1]);
        wake[0] = wake[1] = -1;
    }
    return HOT_ETHREAD;
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
    take_handed(0);
    __atomic_store_n(&thread_tid, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&running, 0, __ATOMIC_RELEASE);
}
