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
 * atomic exchange. */
#include "session.h"
#include "guard.h"
#include "hmac.h"

#include "arch.h"
#include "handover.h"
#include "hooks.h"
#include "hot.h"
#include "reload.h"
#include "stopworld.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
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
#include <sys/mman.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RETRY_MS 500
#define MAX_MESSAGE (64u << 20)
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

struct migrations;
static void migrations_free(struct migrations *m);

/* What the background thread leaves for hot_poll. */
struct pending {
    json_t *id;               /* the request's id (owned) */
    struct reload_plan *plan; /* NULL: a rollback */
    struct migrations *mig;   /* the typed blocks' migrations of the reload (owned), or NULL */
    unsigned generation;      /* the connection the request came on */
};

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
static int auto_mode;
static char *fixed_endpoint;
static int wake[2] = {-1, -1};
static int kick = -1;
static int sock = -1;
static int attached;
static unsigned generation; /* counts connections */
static int send_lock;
static struct backlog outq;
static struct handed *handed;
static unsigned long dropped; /* notifications dropped since the last report */
static int next_id = 1;
static struct pending *pending;

/* hot_init's wait for the state of the last run (hot/restore): `gate`
 * opens when there is nothing to wait for (no server, or the server keeps
 * no state for this program: hot/attach's `savedState`) or the state was
 * restored; `gate_passed` once hot_init stopped waiting (a later
 * hot/restore is refused). Under gate_lock. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open, gate_passed;
static int attach_id;       /* the id of this connection's hot/attach */
static int saved_state;     /* the server said it keeps state for this program */

pid_t session_thread_tid(void)
{
    return __atomic_load_n(&thread_tid, __ATOMIC_ACQUIRE);
}

static void open_gate(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

#define STATE_WAIT_MS 200

void session_wait_state(void)
{
    const char *env = getenv("HOTC_STATE_WAIT_MS");
    long ms = env && *env ? strtol(env, NULL, 10) : STATE_WAIT_MS;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&gate_lock);
    while (!gate_open && ms > 0)
        if (pthread_cond_timedwait(&gate_cond, &gate_lock, &until) != 0)
            break;
    gate_passed = 1;
    pthread_mutex_unlock(&gate_lock);
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
static void discard_backlog(void)
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
static void post(json_t *msg, unsigned gen, int droppable)
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
static void respond(json_t *id, json_t *result)
{
    append(response(id, result), 0);
}

static void respond_error(json_t *id, int code, const char *message)
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
        post(notification("hot/log", json_pack("{s:s, s:s}", "level", level, "message", message)),
             __atomic_load_n(&generation, __ATOMIC_ACQUIRE), 1);
}

void session_state(const char *name, const char *type, size_t size)
{
    if (__atomic_load_n(&attached, __ATOMIC_ACQUIRE))
        post(notification("hot/state", json_pack("{s:[{s:s, s:s, s:I}]}", "blocks", "name", name, "type", type,
                                                 "size", (json_int_t)size)),
             __atomic_load_n(&generation, __ATOMIC_ACQUIRE), 1);
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
    post(notification("hot/crash", p), __atomic_load_n(&generation, __ATOMIC_ACQUIRE), 1);
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
    unsigned gen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
    for (struct handed *h = grab_handed(); w >= 0 && h; h = h->next)
        if (h->generation == gen && outq.sent == outq.len)
            w = send_some(fd, h->data, h->len, deadline) == (ssize_t)h->len ? 0 : -1;
    if (w >= 0 && outq.sent == outq.len && send_some(fd, header, (size_t)hn, deadline) == hn)
        send_some(fd, body, n, deadline);
    unlock_send();
    errno = saved;
}

/* ---------------------------------------------------------------- endpoint */

/* Why the last endpoint was not trusted ("" when it was): told to the
 * next server we do trust, once, as a hot/log warning. Runtime thread only. */
static char distrust[320];
static char connected_to[280]; /* the endpoint of the current connection */
static char distrust_told[320];

static void distrusted(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void distrusted(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(distrust, sizeof distrust, fmt, ap);
    va_end(ap);
}

/* Whether `st` (of `path`, a directory when `dir`) is ours and private
 * enough to take an endpoint from: owned by our uid (or root), and nobody
 * else may write it (a directory: nobody else may enter it either, 0700).
 * Records why not. Another local user who can plant the file, or swap it
 * in a folder they can write, chooses the library we load. */
static int trusted_stat(const char *path, const struct stat *st, int dir)
{
    uid_t me = geteuid();
    if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) {
        distrusted("refused endpoint %s: not a %s; remove it and restart the hotc server", path,
                   dir ? "directory" : "regular file");
        return 0;
    }
    if (st->st_uid != me && st->st_uid != 0) {
        distrusted("refused endpoint %s: it belongs to uid %u, not to this program's uid %u; "
                   "remove it, or set HOTC_ENDPOINT", path, (unsigned)st->st_uid, (unsigned)me);
        return 0;
    }
    if ((st->st_mode & (dir ? 077 : 022)) != 0) {
        distrusted("refused endpoint %s: mode %03o lets other users %s it; chmod %s %s", path,
                   (unsigned)(st->st_mode & 0777), dir ? "into" : "write", dir ? "700" : "600", path);
        return 0;
    }
    return 1;
}

/* The endpoint named by the file `<dir>/endpoint` (a new string the
 * caller frees), or NULL when it is missing, unreadable or not trusted
 * (trusted_stat: the folder and the file). */
static char *read_endpoint_file(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/endpoint", dir);
    struct stat st;
    if (lstat(dir, &st) != 0)
        return NULL;
    if (!trusted_stat(dir, &st, 1))
        return NULL;
    /* The file as opened (no symbolic link) is the one checked. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ELOOP)
            distrusted("refused endpoint %s: it is a symbolic link; remove it", path);
        return NULL;
    }
    char line[600] = "";
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && trusted_stat(path, &st, 0))
        n = read(fd, line, sizeof line - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    line[n] = 0;
    line[strcspn(line, "\r\n")] = 0;
    return *line ? strdup(line) : NULL;
}

/* The endpoint to try now (a new string the caller frees), or NULL when
 * none is configured or the endpoint file is unreadable or not trusted:
 * the caller retries later, so a server started after the program is
 * found. `*named` tells whether it was named (hot_init's argument or
 * $HOTC_ENDPOINT) rather than read from the endpoint file. */
static char *find_endpoint(int *named)
{
    *named = 1;
    if (fixed_endpoint)
        return strdup(fixed_endpoint);
    const char *env = getenv(HOT_ENV_ENDPOINT);
    if (env && *env)
        return strdup(env);
    *named = 0;
    char dir[512];
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/hotc", xdg);
    else
        snprintf(dir, sizeof dir, "/tmp/hotc-%u", (unsigned)getuid());
    return read_endpoint_file(dir);
}

/* Whether the server at Unix endpoint `ep` may keep state of this
 * program's last run: it leaves a marker beside its socket for each
 * executable it keeps state for, or is saving state for,
 * `state-<base name>-<hash of the path>` (lsp/handover.c). Without one,
 * hot_init does not wait for the attach answer. A TCP endpoint (a server
 * whose files this program cannot see) always may. */
static int server_may_keep_state(const char *ep)
{
    char exe[4096], dir[512], name[64], marker[700];
    uint64_t h = 0xcbf29ce484222325ull;
    if (strncmp(ep, "unix:", 5) != 0)
        return 1;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 1;
    exe[n] = '\0';
    snprintf(dir, sizeof dir, "%s", ep + 5);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 1;
    *slash = '\0';
    for (const char *c = exe; *c; c++) {
        h ^= (unsigned char)*c;
        h *= 0x100000001b3ull;
    }
    const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    size_t len = strlen(base) < sizeof name - 1 ? strlen(base) : sizeof name - 1;
    memcpy(name, base, len);
    name[len] = '\0';
    for (char *c = name; *c; c++)
        if (*c == '.' || *c == ' ')
            *c = '_';
    snprintf(marker, sizeof marker, "%s/state-%s-%016llx", dir, name, (unsigned long long)h);
    return access(marker, F_OK) == 0;
}

/* For a named Unix endpoint that no longer answers: the endpoint in the
 * file next to its socket (a new string, or NULL). A server names its
 * socket after its pid, so the one a program was started with dies with
 * that server; the server that replaced it wrote its own into the same
 * folder's endpoint file. */
static char *endpoint_beside(const char *ep)
{
    if (strncmp(ep, "unix:", 5) != 0)
        return NULL;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", ep + 5);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return NULL;
    *slash = 0;
    char *found = read_endpoint_file(dir);
    if (found && strcmp(found, ep) == 0) { /* the same dead socket */
        free(found);
        return NULL;
    }
    return found;
}

/* Whether the process at the other end of Unix socket `fd` runs as our uid
 * (or root), from the kernel's SO_PEERCRED: anyone else could serve us a
 * library whose constructor runs on dlopen, before any other check.
 * Records why not. */
static int trusted_peer(int fd, const char *ep)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    uid_t me = geteuid();
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        distrusted("refused endpoint %s: cannot tell who serves it (%s)", ep, strerror(errno));
        return 0;
    }
    if (cred.uid != me && cred.uid != 0) {
        distrusted("refused endpoint %s: its server (pid %ld) runs as uid %u, not as this "
                   "program's uid %u; start hotc as this user", ep, (long)cred.pid,
                   (unsigned)cred.uid, (unsigned)me);
        return 0;
    }
    return 1;
}

/* Connects to `ep` ("unix:PATH" or "tcp:HOST:PORT"), blocking until the
 * connection is made or refused. A Unix socket must be served by our own
 * uid (trusted_peer) before anything is sent on it. Returns the connected
 * socket (the caller owns it), or -1 for any failure, including an
 * endpoint of another form: the caller retries quietly. */
static int connect_to(const char *ep)
{
    if (strncmp(ep, "unix:", 5) == 0) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        if (strlen(ep + 5) >= sizeof a.sun_path)
            return -1;
        strcpy(a.sun_path, ep + 5);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && trusted_peer(fd, ep))
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

/* connect_to, remembering `ep` in connected_to when it connects. */
static int connect_endpoint(const char *ep)
{
    int fd = connect_to(ep);
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
                          auto_mode ? "auto" : "poll", "version", reload_version(), "cwd", cwd,
                          "functions", functions);
    json_t *state = json_array();
    hooks_state_each(state_entry, state);
    json_object_set_new(p, "state", state);
    add_proof(p);
    return p;
}

/* ---------------------------------------------------------------- reload */

/* `t` as the "timings" object of a reload result (new reference). */
static json_t *timings_json(const struct reload_timings *t)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "loadUs", (json_int_t)t->load_us, "resolveUs",
                     (json_int_t)t->resolve_us, "waitUs", (json_int_t)t->wait_us, "applyUs",
                     (json_int_t)t->apply_us, "totalUs", (json_int_t)t->total_us);
}

/* A reload result (new reference) refusing it for `reason` (copied). */
static json_t *refused(const char *reason)
{
    return json_pack("{s:s, s:i, s:s}", "status", "refused", "version", reload_version(), "reason",
                     reason);
}

/* The private directory (0700) the libraries received as bytes are written
 * to, made on first use: $TMPDIR (else /tmp)/hotc-patches-<pid>-XXXXXX.
 * Real files, so that a debugger reads them (gdb hangs on a library loaded
 * from /proc/self/fd/N); kept for the life of the process (a debugger
 * attached later reads them too), removed at exit(). "" when it cannot be
 * made. */
static char patch_dir[512];

static const char *library_dir(void)
{
    if (!*patch_dir) {
        const char *tmp = getenv("TMPDIR");
        snprintf(patch_dir, sizeof patch_dir, "%s/hotc-patches-%ld-XXXXXX", tmp && *tmp ? tmp : "/tmp",
                 (long)getpid());
        if (!mkdtemp(patch_dir))
            *patch_dir = '\0';
    }
    return patch_dir;
}

/* Removes library_dir() and the libraries in it (at exit). */
static void remove_library_dir(void)
{
    DIR *d = *patch_dir ? opendir(patch_dir) : NULL;
    struct dirent *e;
    char path[1024];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", patch_dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(patch_dir);
    *patch_dir = '\0';
}

/* Writes base64 `text` into a new file of library_dir() (a path never used
 * before in this process: dlopen finds a library already loaded by its path
 * string) and returns its descriptor (the caller closes it once dlopen has
 * mapped the file) with the path in `path`. Returns -1 when the text is not
 * base64 or the file cannot be written (then no file stays). */
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
    const char *dir = library_dir();
    if (!*dir || (size_t)snprintf(path, pathsz, "%s/patch-XXXXXX.so", dir) >= pathsz) {
        free(bytes);
        return -1;
    }
    int fd = mkostemps(path, 3, O_CLOEXEC);
    int ok = fd >= 0 && write(fd, bytes, n) == (ssize_t)n;
    free(bytes);
    if (!ok) {
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        return -1;
    }
    return fd;
}

/* The typed blocks' migrations of one reload (hot/reload `migrations`),
 * parsed: every string and array owned. */
struct migrations {
    struct migrate_plan *plans;
    size_t n;
    struct hooks_prepared *pre; /* the new blocks, allocated ahead (hooks_migrate_prepare) */
};

static void ops_free(struct migrate_op *ops, size_t n)
{
    for (size_t i = 0; ops && i < n; i++) {
        ops_free(ops[i].ops, ops[i].nops);
        free((char *)ops[i].field);
    }
    free(ops);
}

static void migrations_free(struct migrations *m)
{
    if (!m)
        return;
    hooks_prepared_free(m->pre);
    for (size_t i = 0; i < m->n; i++) {
        free((char *)m->plans[i].type);
        free((char *)m->plans[i].from_layout);
        free((char *)m->plans[i].to_layout);
        ops_free(m->plans[i].ops, m->plans[i].nops);
    }
    free(m->plans);
    free(m);
}

static int num_kind(const char *s, enum migrate_num *out)
{
    static const char *const names[] = { "signed", "unsigned", "float", "bool" };
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum migrate_num)i;
            return 0;
        }
    return -1;
}

/* Parses an `ops` array into *out (*n entries). Returns 0, or -1 with the
 * reason in `err`. */
static int parse_ops(json_t *arr, struct migrate_op **out, size_t *n, int depth, char *err, size_t errsz)
{
    size_t count = json_array_size(arr);
    *out = NULL;
    *n = 0;
    if (!json_is_array(arr) || depth > 16) {
        snprintf(err, errsz, "invalid hot/reload migrations: ops must be an array (at most 16 deep)");
        return -1;
    }
    *out = calloc(count ? count : 1, sizeof **out);
    if (!*out) {
        snprintf(err, errsz, "cannot read hot/reload migrations: out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *o = json_array_get(arr, i), *sub = NULL;
        struct migrate_op *op = &(*out)[i];
        const char *kind = NULL, *field = NULL, *fk = "signed", *tk = "signed";
        json_int_t from = 0, to = 0, size = 0, fs = 0, ts = 0, cnt = 0, fst = 0, tst = 0;
        json_error_t e;
        if (json_unpack_ex(o, &e, 0, "{s:s, s:I, s:I, s?I, s?s, s?s, s?I, s?I, s?s, s?I, s?I, s?I, s?o}", "op",
                           &kind, "from", &from, "to", &to, "size", &size, "field", &field, "fromKind", &fk,
                           "fromSize", &fs, "toSize", &ts, "toKind", &tk, "count", &cnt, "fromStride", &fst,
                           "toStride", &tst, "ops", &sub) != 0 ||
            from < 0 || to < 0 || size < 0 || fs < 0 || ts < 0 || cnt < 0 || fst < 0 || tst < 0) {
            snprintf(err, errsz, "invalid hot/reload migrations op: %s", e.text);
            *n = i;
            return -1;
        }
        *n = i + 1;
        op->from = (size_t)from;
        op->to = (size_t)to;
        op->size = (size_t)size;
        op->field = field ? strdup(field) : NULL;
        if (strcmp(kind, "copy") == 0) {
            op->kind = MIGRATE_COPY;
        } else if (strcmp(kind, "convert") == 0) {
            op->kind = MIGRATE_CONVERT;
            op->from_size = (unsigned)fs;
            op->to_size = (unsigned)ts;
            if (num_kind(fk, &op->from_num) != 0 || num_kind(tk, &op->to_num) != 0) {
                snprintf(err, errsz, "invalid hot/reload migrations op: unknown number kind");
                return -1;
            }
        } else if (strcmp(kind, "repeat") == 0) {
            op->kind = MIGRATE_REPEAT;
            op->count = (size_t)cnt;
            op->from_stride = (size_t)fst;
            op->to_stride = (size_t)tst;
            if (parse_ops(sub, &op->ops, &op->nops, depth + 1, err, errsz) != 0)
                return -1;
        } else {
            snprintf(err, errsz, "invalid hot/reload migrations op: unknown op \"%s\"", kind);
            return -1;
        }
    }
    return 0;
}

/* Parses hot/reload `migrations` (may be NULL) into *out (NULL when there
 * are none). Each plan is validated: one that would read or write outside
 * its blocks is an error. Returns 0, or -1 with the reason in `err`. */
static int parse_migrations(json_t *arr, struct migrations **out, char *err, size_t errsz)
{
    *out = NULL;
    if (!arr || json_array_size(arr) == 0)
        return 0;
    if (!json_is_array(arr)) {
        snprintf(err, errsz, "invalid hot/reload params: migrations must be an array");
        return -1;
    }
    struct migrations *m = calloc(1, sizeof *m);
    size_t n = json_array_size(arr);
    if (!m || !(m->plans = calloc(n, sizeof *m->plans))) {
        free(m);
        snprintf(err, errsz, "cannot read hot/reload migrations: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct migrate_plan *plan = &m->plans[i];
        const char *type = NULL, *from = NULL, *to = NULL;
        json_int_t old_size = 0, new_size = 0;
        json_t *ops = NULL;
        json_error_t e;
        if (json_unpack_ex(json_array_get(arr, i), &e, 0, "{s:s, s:I, s:I, s:s, s:s, s:o}", "type", &type,
                           "oldSize", &old_size, "newSize", &new_size, "fromLayout", &from, "toLayout", &to, "ops",
                           &ops) != 0 ||
            old_size < 0 || new_size < 0) {
            snprintf(err, errsz, "invalid hot/reload migrations[%zu]: %s", i, e.text);
            m->n = i;
            migrations_free(m);
            return -1;
        }
        m->n = i + 1;
        plan->type = strdup(type);
        plan->from_layout = strdup(from);
        plan->to_layout = strdup(to);
        plan->old_size = (size_t)old_size;
        plan->new_size = (size_t)new_size;
        char why[200];
        if (!plan->type || !plan->from_layout || !plan->to_layout || parse_ops(ops, &plan->ops, &plan->nops, 0, err, errsz) != 0) {
            migrations_free(m);
            return -1;
        }
        if (migrate_validate(plan, why, sizeof why) != 0) {
            snprintf(err, errsz, "invalid hot/reload migrations[%zu] (`%s`): %s", i, type, why);
            migrations_free(m);
            return -1;
        }
    }
    *out = m;
    return 0;
}

int session_plan_parse(json_t *obj, struct migrate_plan *out, char *err, size_t errsz)
{
    struct migrations *m = NULL;
    json_t *arr = json_pack("[O]", obj);
    int rc = arr ? parse_migrations(arr, &m, err, errsz) : -1;
    json_decref(arr);
    if (rc != 0 || !m) {
        if (rc == 0)
            snprintf(err, errsz, "no migration plan");
        migrations_free(m);
        return -1;
    }
    *out = m->plans[0];
    free(m->plans);
    free(m);
    return 0;
}

void session_plan_release(struct migrate_plan *plan)
{
    free((char *)plan->type);
    free((char *)plan->from_layout);
    free((char *)plan->to_layout);
    ops_free(plan->ops, plan->nops);
}

/* The "state" entries of a reload result, one per block migrated. */
static void on_migrated(const char *name, const char *type, const char *how, const char *const *defaulted,
                        size_t ndefaulted, void *user)
{
    json_t *d = json_array();
    for (size_t i = 0; i < ndefaulted; i++)
        json_array_append_new(d, json_string(defaulted[i]));
    json_array_append_new(user, json_pack("{s:s, s:s, s:s, s:o}", "name", name, "type", type, "how", how,
                                          "defaulted", d));
}

/* Parses a hot/reload request's params into `req` (strings borrowed from
 * `params`; arrays allocated into funcs and statics, which the caller frees
 * whether or not this succeeds). A library sent as bytes is written to an
 * anonymous file whose descriptor goes to `*memfd` (else -1), for the
 * caller to close once the reload is prepared. Returns 0, or -1 with the
 * message of a JSON-RPC invalid-params error in `err` (then no file is
 * open). */
static int parse_reload(json_t *params, struct reload_request *req, struct reload_func **funcs,
                        struct reload_static **statics, char *libpath, size_t libpathsz,
                        int *memfd, char *err, size_t errsz)
{
    *memfd = -1;
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
    req->target_build_id = bid;
    size_t nf = json_array_size(jf), ns = js ? json_array_size(js) : 0;
    *funcs = calloc(nf ? nf : 1, sizeof **funcs);
    *statics = calloc(ns ? ns : 1, sizeof **statics);
    if (!*funcs || !*statics) {
        snprintf(err, errsz, "cannot read hot/reload params: out of memory");
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
    /* Last, so that no later failure leaves the anonymous file open. */
    if (!library && b64) {
        if ((*memfd = library_from_base64(b64, libpath, libpathsz)) < 0) {
            snprintf(err, errsz, "invalid hot/reload params: bad libraryBase64");
            return -1;
        }
        library = libpath;
    }
    req->library = library;
    req->funcs = *funcs;
    req->nfuncs = nf;
    req->statics = *statics;
    req->nstatics = ns;
    return 0;
}

/* Applies `plan` (stolen) now, between the program's reload hooks, and
 * returns the result object (new reference): "applied", or "refused" with
 * the reason (then the hooks saw HOT_BEFORE only). */
static json_t *apply_now(struct reload_plan *plan, struct migrations *mig, int *redirected)
{
    char reason[512];
    struct reload_timings t;
    int version = reload_plan_version(plan);
    hooks_run(HOT_BEFORE, version);
    int n = reload_apply(plan, session_thread_tid(), &t, reason, sizeof reason);
    if (n < 0) {
        migrations_free(mig);
        return refused(reason);
    }
    /* the typed blocks, before the program's code runs on (hooks.h) */
    json_t *state = json_array();
    int64_t m0 = reload_now_us();
    if (mig)
        hooks_migrate(mig->plans, mig->n, mig->pre, on_migrated, state);
    int64_t migrate_us = reload_now_us() - m0;
    migrations_free(mig);
    hooks_run(HOT_AFTER, version);
    if (redirected)
        *redirected = n;
    json_t *result = json_pack("{s:s, s:i, s:i, s:o}", "status", "applied", "version", version, "redirected",
                               n, "timings", timings_json(&t));
    if (json_array_size(state) > 0) {
        json_object_set_new(json_object_get(result, "timings"), "migrateUs", json_integer((json_int_t)migrate_us));
        json_object_set_new(result, "state", state);
    } else {
        json_decref(state);
    }
    return result;
}

/* Rolls back the newest version now and returns the result object (new
 * reference): "rolledBack", or "refused" with the reason. */
static json_t *rollback_now(void)
{
    char reason[512];
    int version = reload_rollback(session_thread_tid(), reason, sizeof reason);
    if (version < 0)
        return json_pack("{s:i, s:s, s:s}", "version", reload_version(), "status", "refused", "reason",
                         reason);
    return json_pack("{s:i, s:s}", "version", version, "status", "rolledBack");
}

/* Leaves the request `id` (borrowed) with `plan` (NULL: a rollback) for
 * hot_poll. Returns 0 with the plan taken, or -1 when a request is already
 * waiting or out of memory (then the caller still owns the plan). */
static int leave_for_poll(json_t *id, struct reload_plan *plan, struct migrations *mig)
{
    struct pending *p = malloc(sizeof *p);
    if (!p)
        return -1;
    /* A copy: the program's thread must not share reference counts with
     * the request, which this thread frees. */
    p->id = json_deep_copy(id);
    if (!p->id) {
        free(p);
        return -1;
    }
    p->plan = plan;
    p->mig = mig;
    p->generation = __atomic_load_n(&generation, __ATOMIC_RELAXED);
    struct pending *expected = NULL;
    if (__atomic_compare_exchange_n(&pending, &expected, p, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return 0;
    json_decref(p->id);
    free(p);
    return -1;
}

/* hot/reload: prepares the reload here, off the program's threads, then
 * applies it at once (automatic mode) or leaves it for hot_poll, which
 * answers. Any failure before that is answered here. */
static void on_reload(json_t *id, json_t *params)
{
    struct reload_request req;
    struct reload_func *funcs = NULL;
    struct reload_static *statics = NULL;
    struct migrations *mig = NULL;
    char err[512], libpath[1024];
    int memfd = -1;
    if (parse_reload(params, &req, &funcs, &statics, libpath, sizeof libpath, &memfd, err,
                     sizeof err) != 0 ||
        parse_migrations(json_object_get(params, "migrations"), &mig, err, sizeof err) != 0) {
        if (memfd >= 0)
            close(memfd);
        respond_error(id, -32602, err);
        goto done;
    }
    struct reload_plan *plan;
    if (mig && hooks_migration_conflict(mig->plans, mig->n, err, sizeof err) != 0) {
        if (memfd >= 0)
            close(memfd);
        migrations_free(mig);
        respond(id, refused(err));
        goto done;
    }
    if (mig)
        mig->pre = hooks_migrate_prepare(mig->plans, mig->n);
    int prepared = reload_prepare(&req, &plan, err, sizeof err);
    if (memfd >= 0) /* loaded (the mapping holds it) or refused: not needed any more */
        close(memfd);
    if (prepared != 0) {
        migrations_free(mig);
        respond(id, refused(err));
        goto done;
    }
    if (auto_mode) {
        respond(id, apply_now(plan, mig, NULL));
        goto done;
    }
    if (leave_for_poll(id, plan, mig) != 0) {
        migrations_free(mig);
        reload_plan_free(plan);
        respond(id, refused("cannot queue the reload: the previous one is still waiting for "
                            "hot_poll(); call hot_poll() in the program's loop, or use "
                            "HOT_MODE_AUTO"));
    }
done:
    free(funcs);
    free(statics);
}

/* hot/rollback: like on_reload, without the preparation. */
static void on_rollback(json_t *id)
{
    if (auto_mode) {
        respond(id, rollback_now());
        return;
    }
    if (leave_for_poll(id, NULL, NULL) != 0)
        respond(id, json_pack("{s:i, s:s, s:s}", "version", reload_version(), "status", "refused",
                              "reason", "cannot queue the rollback: the previous request is still "
                              "waiting for hot_poll(); call hot_poll() in the program's loop, "
                              "or use HOT_MODE_AUTO"));
}

/* On the program's thread: applies, then hands the answer to the runtime's
 * thread; nothing here waits for the network. */
int session_poll(void)
{
    if (!__atomic_load_n(&pending, __ATOMIC_ACQUIRE))
        return 0;
    struct pending *p = __atomic_exchange_n(&pending, NULL, __ATOMIC_ACQ_REL);
    if (!p)
        return 0;
    int redirected = 0;
    json_t *result = p->plan ? apply_now(p->plan, p->mig, &redirected) : rollback_now();
    /* The answer takes the id: nothing of it stays on this thread. */
    post(json_pack("{s:s, s:o, s:o}", "jsonrpc", "2.0", "id", p->id, "result", result),
         p->generation, 0);
    free(p);
    return redirected;
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
    if (json_object_get(msg, "method") || !json_is_integer(id) || json_integer_value(id) != attach_id) {
        distrusted("left server %s: it sent a request before proving that it knows HOTC_TOKEN; "
                   "check HOTC_ENDPOINT",
                   connected_to);
        return -1;
    }
    if (!result)
        return -1; /* an error: the server refused the attach (a wrong token) and hangs up */
    if (!hmac_equal(json_string_value(json_object_get(result, "proof")), server_proof)) {
        distrusted("left server %s: it did not prove that it knows HOTC_TOKEN (not the hotc server "
                   "that logged the token, or an older one); check HOTC_ENDPOINT and HOTC_TOKEN",
                   connected_to);
        return -1;
    }
    server_proven = 1;
    return 0;
}

/* hot/restore: the state of the last run, applied while hot_init waits;
 * refused once it stopped waiting (the program runs on without it). */
static void on_restore(json_t *id, json_t *params)
{
    json_t *result;
    pthread_mutex_lock(&gate_lock);
    if (gate_passed)
        result = json_pack("{s:s, s:[], s:[], s:[]}", "status", "late", "restored", "skipped", "defaulted");
    else
        result = handover_restore(params);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    respond(id, result);
}

/* Answers one message from the server (borrowed): requests are handled,
 * responses (to hot/attach) ignored, anything else answered with a
 * JSON-RPC error. */
static void dispatch(json_t *msg)
{
    const char *method = NULL;
    json_t *id = json_object_get(msg, "id");
    json_t *params = json_object_get(msg, "params");
    if (json_unpack(msg, "{s:s}", "method", &method) != 0) {
        if (!id) /* neither request nor response */
            respond_error(NULL, -32600, "invalid request");
        /* a response (to hot/attach): whether state of the last run follows */
        if (json_is_integer(id) && json_integer_value(id) == attach_id) {
            saved_state = json_is_true(json_object_get(json_object_get(msg, "result"), "savedState"));
            if (!saved_state)
                open_gate();
        }
        return;
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
    } else if (strcmp(method, "hot/handover") == 0) {
        respond(id, handover_snapshot(NULL));
    } else if (strcmp(method, "hot/restore") == 0) {
        on_restore(id, params);
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
        if (eol - line >= 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
            /* digits within this line only (strtoul would read on into the
             * body, and past the bytes received) */
            const char *p = line + 15;
            while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
            if (p == eol)
                return -1;
            for (length = 0; p < eol && *p >= '0' && *p <= '9' && length <= MAX_MESSAGE; p++)
                length = length * 10 + (size_t)(*p - '0');
            while (p < eol && (*p == ' ' || *p == '\t'))
                p++;
            if (p != eol)
                return -1;
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
    unsigned gen = __atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
    if (gen == 0) /* 0 means "no connection" */
        gen = __atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
    __atomic_store_n(&sock, fd, __ATOMIC_RELEASE);
    __atomic_store_n(&attached, 1, __ATOMIC_RELEASE);
    attach_id = next_id++;
    saved_state = 0;
    append(json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", attach_id, "method",
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
        while (verdict >= 0 && (got = next_message(&r, &msg)) == 1) {
            if (!msg)
                respond_error(NULL, -32700, "parse error");
            else if ((verdict = server_verdict(msg)) >= 0) {
                if (verdict == 0)
                    tell_distrust(); /* proven: a server we trust at last */
                dispatch(msg);
            }
            json_decref(msg);
        }
        if (got < 0 || verdict < 0)
            break;
    }
    free(r.buf);
    open_gate();
    if (stopped) {
        /* hot_shutdown: what the program's threads said last, then detach;
         * waiting at most STOP_FLUSH_MS for a server that does not read. */
        take_handed(gen);
        int status = __atomic_load_n(&exit_status, __ATOMIC_ACQUIRE), empty = 1;
        { /* a clean exit (or hot_shutdown) hands the state over */
            json_t *save = handover_snapshot(&empty);
            if (save && (!empty || saved_state)) {
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
        drain_backlog(fd, now_ms() + (empty && !saved_state ? STOP_FLUSH_MS : SAVE_FLUSH_MS));
    }
    __atomic_store_n(&attached, 0, __ATOMIC_RELEASE);
    lock_send(-1);
    __atomic_store_n(&sock, -1, __ATOMIC_RELEASE);
    unlock_send();
    discard_backlog();
    take_handed(0);
    close(fd);
    /* A reload left for hot_poll whose requester is gone: drop it. */
    struct pending *p = __atomic_exchange_n(&pending, NULL, __ATOMIC_ACQ_REL);
    if (p) {
        reload_plan_free(p->plan);
        migrations_free(p->mig);
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
        char *ep = find_endpoint(&named);
        if (!ep || !server_may_keep_state(ep))
            open_gate();
        free(ep);
    }
    reload_init(err, sizeof err);
    for (;;) {
        int named;
        char *ep = find_endpoint(&named);
        int fd = ep ? connect_endpoint(ep) : -1;
        if (fd < 0 && ep && named) {
            char *beside = endpoint_beside(ep);
            fd = beside ? connect_endpoint(beside) : -1;
            free(beside);
        }
        free(ep);
        if (fd < 0)
            open_gate(); /* no server: hot_init does not wait */
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
    remove_library_dir();
}

int session_start(const char *endpoint, int automatic)
{
    static int exit_hooked;

    if (__atomic_load_n(&running, __ATOMIC_ACQUIRE))
        return 0;
    started_pid = getpid();
    if (!exit_hooked && on_exit(on_program_exit, NULL) == 0)
        exit_hooked = 1;
    auto_mode = automatic;
    free(fixed_endpoint);
    fixed_endpoint = endpoint ? strdup(endpoint) : NULL;
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
