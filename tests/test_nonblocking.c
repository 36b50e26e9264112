/* The runtime never blocks the program's threads on the network
 * (runtime/session.c): with a server that stops reading, the answers of
 * hot_poll, the log lines and the crash reports of hot_guard pile up in the
 * runtime's thread, and the program's own loop keeps running.
 *
 * Each test runs tests/programs/rt_stall, which prints "beat N" from its
 * loop, and shows that the beats go on long after the socket's buffers
 * would have filled. Every wait has a generous limit; none is a timing
 * check. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rt_fixture.h"

#define PROGRAM "rt_stall"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the program has printed `more` beats after its beat number
 * `after`; asserts it. Returns the last beat seen. */
static long beats_go_on(struct rt_driver *d, long after, long more)
{
    long want = after + more;
    long long deadline = now_ms() + 60000;
    long last = after;
    while (last < want && now_ms() < deadline) {
        const char *out = rt_output(d, PROGRAM);
        for (const char *p = strstr(out, "beat "); p; p = strstr(p + 1, "beat ")) {
            long n = atol(p + 5);
            if (n > last)
                last = n;
        }
        if (last < want)
            usleep(20000);
    }
    cr_assert_geq(last, want, "the program's loop stalled at beat %ld (wanted %ld):\n%s", last, want,
                  rt_output(d, PROGRAM));
    return last;
}

/* A hot/crash from hot_guard for every iteration of the loop, and a
 * server that never reads after the attach: the program goes on and shuts
 * down on its own (hot_shutdown waits only briefly for the server). */
Test(nonblocking, guarded_crashes_do_not_stall_the_loop_when_the_server_stops_reading)
{
    struct rt_driver *d = rt_new();
    /* 100 beats of 1,000 crash reports (about 200 bytes each): some 20 MB,
     * far beyond what the socket buffers hold. */
    const char *const args[] = {"crash", "100", NULL};
    struct rt_prog p = rt_start(d, PROGRAM, args, NULL);
    beats_go_on(d, 0, 100);
    const char *out = rt_finished(d, p.pid);
    cr_assert(strstr(out, "shut down"), "%s", out);

    /* What the socket did take is well framed: it starts with whole crash
     * reports. */
    json_t *crash = rt_driver_notification(d, "hot/crash", 30000);
    cr_assert_not_null(crash);
    cr_assert(json_is_true(json_object_get(crash, "guarded")));
    cr_assert_str_eq(json_string_value(json_object_get(crash, "signalName")), "SIGSEGV");
    json_decref(crash);
    rt_driver_free(d);
}

/* ---------------------------------------------------------------- a server that floods */

/* A minimal server for the next test, which needs to write without reading
 * (rt_driver always reads for its answers). */
struct flood {
    int listen_fd, fd;
    char endpoint[300];
    char *in;        /* what the runtime sent, not yet parsed */
    size_t in_len, in_cap;
    char *outbuf;    /* the requests, all framed */
    size_t out_len, out_sent;
};

static void flood_listen(struct flood *f, struct rt_driver *d)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s/flood.sock", rt_driver_dir(d));
    snprintf(f->endpoint, sizeof f->endpoint, "HOTC_ENDPOINT=unix:%s", a.sun_path);
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(f->listen_fd, 0);
    cr_assert_eq(bind(f->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(f->listen_fd, 1), 0);
}

/* Reads what is there (waiting at most `ms`). Returns 0, or -1 at EOF. */
static int flood_read(struct flood *f, int ms)
{
    struct pollfd p = {.fd = f->fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0)
        return 0;
    if (f->in_cap - f->in_len < 65536) {
        f->in_cap = f->in_cap ? f->in_cap * 2 : 262144;
        f->in = realloc(f->in, f->in_cap);
        cr_assert_not_null(f->in);
    }
    ssize_t n = read(f->fd, f->in + f->in_len, f->in_cap - f->in_len);
    if (n < 0 && errno == EINTR)
        return 0;
    if (n <= 0)
        return -1;
    f->in_len += (size_t)n;
    return 0;
}

/* Takes one message off what was read: new reference, or NULL when none is
 * complete yet. Asserts the framing. */
static json_t *flood_next(struct flood *f)
{
    char *end = f->in_len >= 4 ? memmem(f->in, f->in_len, "\r\n\r\n", 4) : NULL;
    if (!end)
        return NULL;
    cr_assert_eq(strncmp(f->in, "Content-Length: ", 16), 0, "broken framing: %.40s", f->in);
    size_t n = strtoul(f->in + 16, NULL, 10);
    size_t head = (size_t)(end - f->in) + 4;
    if (f->in_len < head + n)
        return NULL;
    json_t *msg = json_loadb(f->in + head, n, 0, NULL);
    cr_assert_not_null(msg, "a body that is not JSON: %.*s", (int)n, f->in + head);
    memmove(f->in, f->in + head + n, f->in_len - head - n);
    f->in_len -= head + n;
    return msg;
}

static void flood_send_raw(struct flood *f, const char *text)
{
    char head[64];
    int hn = snprintf(head, sizeof head, "Content-Length: %zu\r\n\r\n", strlen(text));
    cr_assert_eq(write(f->fd, head, (size_t)hn), hn);
    cr_assert_eq(write(f->fd, text, strlen(text)), (ssize_t)strlen(text));
}

/* Accepts the runtime and answers its hot/attach. */
static void flood_accept(struct flood *f)
{
    struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 20000), 1, "the program did not connect");
    f->fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    cr_assert_geq(f->fd, 0);
    long long deadline = now_ms() + 20000;
    json_t *msg = NULL;
    while (!(msg = flood_next(f)) && now_ms() < deadline)
        cr_assert_eq(flood_read(f, 100), 0, "the program hung up before attaching");
    cr_assert_not_null(msg, "no hot/attach");
    cr_assert_str_eq(json_string_value(json_object_get(msg, "method")), "hot/attach");
    char answer[128];
    snprintf(answer, sizeof answer,
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"session\":\"flood\",\"serverVersion\":\"test\"}}",
             json_integer_value(json_object_get(msg, "id")));
    json_decref(msg);
    flood_send_raw(f, answer);
}

/* Frames `n` hot/rollback requests, ids 1..n, into the output buffer. */
static void flood_prepare(struct flood *f, int n)
{
    size_t cap = (size_t)n * 100;
    f->outbuf = malloc(cap);
    cr_assert_not_null(f->outbuf);
    for (int id = 1; id <= n; id++) {
        char body[96];
        int bn = snprintf(body, sizeof body,
                          "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"hot/rollback\",\"params\":{}}", id);
        f->out_len += (size_t)snprintf(f->outbuf + f->out_len, cap - f->out_len,
                                       "Content-Length: %d\r\n\r\n%s", bn, body);
    }
}

/* Writes what the socket takes of the requests without blocking. */
static void flood_write(struct flood *f)
{
    while (f->out_sent < f->out_len) {
        ssize_t w = send(f->fd, f->outbuf + f->out_sent, f->out_len - f->out_sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        f->out_sent += (size_t)w;
    }
}

static void flood_release(struct flood *f)
{
    if (f->fd >= 0)
        close(f->fd);
    close(f->listen_fd);
    free(f->in);
    free(f->outbuf);
}

/* Poll mode, the problem as it was found: hot_poll answers the server's
 * rollbacks (and the runtime's thread refuses those that arrive while one
 * waits). The server sends 40,000 of them and reads nothing: some 5 MB of
 * answers, more than any socket buffer and more than the runtime keeps
 * before it stops reading requests. The program's loop must go on. Then the
 * server reads again, and every request gets exactly one well-formed
 * answer. */
Test(nonblocking, poll_answers_do_not_stall_the_loop_when_the_server_stops_reading)
{
    enum { REQUESTS = 40000 };
    struct rt_driver *d = rt_new();
    rt_build(d, PROGRAM);
    struct flood f;
    flood_listen(&f, d);
    const char *const args[] = {"poll", NULL};
    const char *const env[] = {f.endpoint, NULL};
    pid_t pid = rt_spawn(d, PROGRAM, args, env);
    cr_assert_gt(pid, 0);
    flood_accept(&f);
    long beat = beats_go_on(d, 0, 1);

    /* Write until everything is sent or the runtime stops taking more. */
    flood_prepare(&f, REQUESTS);
    long long idle_since = now_ms();
    while (f.out_sent < f.out_len && now_ms() - idle_since < 2000) {
        size_t before = f.out_sent;
        flood_write(&f);
        if (f.out_sent != before)
            idle_since = now_ms();
        struct pollfd p = {.fd = f.fd, .events = POLLOUT};
        poll(&p, 1, 100);
    }
    /* Whatever the runtime is doing with that, the loop goes on. */
    beat = beats_go_on(d, beat, 20);

    /* Read again (and send the rest): one answer per request. */
    char *answered = calloc(REQUESTS + 1, 1);
    cr_assert_not_null(answered);
    int got = 0;
    long long deadline = now_ms() + 120000;
    while (got < REQUESTS && now_ms() < deadline) {
        flood_write(&f);
        cr_assert_eq(flood_read(&f, 100), 0, "the program hung up:\n%s", rt_output(d, PROGRAM));
        for (json_t *msg; (msg = flood_next(&f)); json_decref(msg)) {
            if (json_object_get(msg, "method"))
                continue; /* a notification */
            json_int_t id = json_integer_value(json_object_get(msg, "id"));
            cr_assert(id >= 1 && id <= REQUESTS, "an answer to no request");
            cr_assert(!answered[id], "request %lld answered twice", (long long)id);
            answered[id] = 1;
            got++;
            const char *status =
                json_string_value(json_object_get(json_object_get(msg, "result"), "status"));
            cr_assert(status && (strcmp(status, "refused") == 0 || strcmp(status, "rolledBack") == 0),
                      "request %lld: unexpected answer", (long long)id);
        }
    }
    cr_assert_eq(got, REQUESTS, "%d of %d requests answered", got, REQUESTS);
    free(answered);
    beats_go_on(d, beat, 1);

    kill(pid, SIGTERM);
    int status = rt_wait_exit(pid, 30000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d:\n%s", status,
              rt_output(d, PROGRAM));
    flood_release(&f);
    rt_driver_free(d);
}
