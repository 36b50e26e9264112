/* The runtime link: the private directory and endpoint file, attach,
 * requests pushed to a program and their answers with round-trip times,
 * notifications, detach and disconnection mid-request, several programs at
 * once, malformed input, and TCP with its token. The "runtime" here is a raw socket client in a
 * thread speaking docs/protocol.md; the end-to-end tests use the real one. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netdb.h>
#include <unistd.h>
#include <uv.h>

#include "link.h"
#include "run.h"
#include "../runtime/hmac.h"

static char dir[512];

static const char *scratch(const char *name)
{
    snprintf(dir, sizeof dir, "%slink-%s-%d", test_build_path(""), name, (int)getpid());
    return dir;
}

/* ------------------------------------------------------------ the client
 *
 * It runs in its own thread, where Criterion's assertions must not be used:
 * it records the first failure in `fail`, checked after the join. */

struct client {
    char endpoint[700];
    int pid;
    bool answer_reload; /* else: disconnect when the reload arrives */
    char token[64];     /* shown in hot/attach when not empty */
    bool prove;         /* shown by the handshake's proof, not sent itself */
    int session;
    char library[256];
    char fail[800];
};

#define CHECK(cl, cond, ...)                                                   \
    do {                                                                       \
        if (!(cond)) {                                                         \
            snprintf((cl)->fail, sizeof (cl)->fail, __VA_ARGS__);              \
            goto out;                                                          \
        }                                                                      \
    } while (0)

static int client_connect(const char *endpoint)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strncmp(endpoint, "tcp:", 4) == 0) {
        char host[256];
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
        snprintf(host, sizeof host, "%s", endpoint + 4);
        char *colon = strrchr(host, ':');
        if (!colon)
            return -1;
        *colon = '\0';
        if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
            return -1;
        int fd = socket(res->ai_family, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
        freeaddrinfo(res);
        return fd;
    }
    if (strncmp(endpoint, "unix:", 5) != 0)
        return -1;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", endpoint + 5);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool client_send_raw(int fd, const char *body)
{
    char head[64];
    int n = snprintf(head, sizeof head, "Content-Length: %zu\r\n\r\n", strlen(body));
    return write(fd, head, (size_t)n) == n && write(fd, body, strlen(body)) == (ssize_t)strlen(body);
}

static bool client_send(int fd, json_t *msg)
{
    char *body = json_dumps(msg, JSON_COMPACT);
    bool ok = body && client_send_raw(fd, body);
    free(body);
    json_decref(msg);
    return ok;
}

/* Reads one framed message (new reference), NULL at end of stream. */
static json_t *client_read(int fd)
{
    char head[256];
    size_t n = 0, len = 0, got = 0;
    while (n < sizeof head - 1) {
        if (read(fd, head + n, 1) != 1)
            return NULL;
        n++;
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[n] = '\0';
    if (sscanf(head, "Content-Length: %zu", &len) != 1)
        return NULL;
    char *body = malloc(len + 1);
    while (body && got < len) {
        ssize_t k = read(fd, body + got, len - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    json_t *msg = body && got == len ? json_loadb(body, len, 0, NULL) : NULL;
    free(body);
    return msg;
}

static json_t *attach_msg(int pid, const char *token)
{
    json_t *m = json_pack("{s:s, s:i, s:s, s:{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:[]}}", "jsonrpc", "2.0",
                     "id", 1, "method", "hot/attach", "params", "pid", pid, "executable", "/bin/game", "buildId",
                     "3f1c", "loadBase", "0x5555", "arch", "x86_64", "runtimeVersion", "0.1.0", "mode", "poll",
                     "version", 0, "cwd", "/", "functions");
    if (token && *token)
        json_object_set_new(json_object_get(m, "params"), "token", json_string(token));
    return m;
}

#define NONCE "00112233445566778899aabbccddeeff"

/* hot/attach showing `token` the way the runtime does: NONCE and its proof. */
static json_t *attach_proving(int pid, const char *token)
{
    json_t *m = attach_msg(pid, NULL);
    char proof[HMAC_HEX_LEN + 1];
    hmac_sha256_hex(token, "hotc program " NONCE, proof);
    json_object_set_new(json_object_get(m, "params"), "nonce", json_string(NONCE));
    json_object_set_new(json_object_get(m, "params"), "proof", json_string(proof));
    return m;
}

static void *client_main(void *arg)
{
    struct client *cl = arg;
    json_t *m = NULL, *id = NULL;
    int fd = client_connect(cl->endpoint);

    CHECK(cl, fd >= 0, "cannot connect to %s", cl->endpoint);
    /* before attaching: garbage is answered with a parse error */
    CHECK(cl, client_send_raw(fd, "{not json"), "write");
    m = client_read(fd);
    CHECK(cl, m, "no answer to invalid JSON");
    CHECK(cl, json_integer_value(json_object_get(json_object_get(m, "error"), "code")) == -32700,
          "invalid JSON not answered with -32700");
    json_decref(m);

    CHECK(cl, client_send(fd, cl->prove ? attach_proving(cl->pid, cl->token) : attach_msg(cl->pid, cl->token)),
          "write");
    m = client_read(fd);
    CHECK(cl, m, "no answer to hot/attach");
    cl->session = (int)json_integer_value(json_object_get(json_object_get(m, "result"), "session"));
    CHECK(cl, json_is_string(json_object_get(json_object_get(m, "result"), "serverVersion")), "no serverVersion");
    if (cl->prove) { /* the server's side of the handshake */
        char proof[HMAC_HEX_LEN + 1];
        hmac_sha256_hex(cl->token, "hotc server " NONCE, proof);
        const char *given = json_string_value(json_object_get(json_object_get(m, "result"), "proof"));
        CHECK(cl, given && strcmp(given, proof) == 0, "the server's proof is %s, not %s", given ? given : "missing",
              proof);
    }
    json_decref(m);

    m = client_read(fd);
    CHECK(cl, m, "no hot/reload pushed");
    CHECK(cl, json_string_value(json_object_get(m, "method")) &&
                  strcmp(json_string_value(json_object_get(m, "method")), "hot/reload") == 0,
          "not hot/reload");
    id = json_incref(json_object_get(m, "id"));
    snprintf(cl->library, sizeof cl->library, "%s",
             json_string_value(json_object_get(json_object_get(m, "params"), "library")));
    json_decref(m);
    m = NULL;
    if (!cl->answer_reload)
        goto out;
    client_send(fd, json_pack("{s:s, s:O, s:{s:s, s:i, s:i, s:{s:i, s:i, s:i, s:i, s:i}}}", "jsonrpc", "2.0",
                              "id", id, "result", "status", "applied", "version", 1, "redirected", 1, "timings",
                              "loadUs", 800, "resolveUs", 40, "waitUs", 1500, "applyUs", 6, "totalUs", 2400));
    client_send(fd, json_pack("{s:s, s:s, s:{s:i, s:s, s:s, s:s, s:i, s:i, s:b, s:b}}", "jsonrpc", "2.0",
                              "method", "hot/crash", "params", "signal", 11, "signalName", "SIGSEGV", "address",
                              "0x1234", "function", "update", "offset", 12, "version", 1, "guarded", 1,
                              "rolledBack", 1));
    client_send(fd, json_pack("{s:s, s:s, s:{s:s}}", "jsonrpc", "2.0", "method", "hot/detach", "params",
                              "reason", "exit"));
    shutdown(fd, SHUT_WR);
    /* drain until the server closes */
    while ((m = client_read(fd)) != NULL)
        json_decref(m);
out:
    json_decref(id);
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* ------------------------------------------------------------ the server side */

struct seen {
    int attached, detached, results, errors, crashes;
    int expect_programs;
    char detach_reason[64];
    char error[128];
    uint64_t rtt_us;
    json_t *result;
    int exited, exit_status; /* hot/exited */
};

static void on_result(struct link *link, const struct link_program *p, json_t *result, const char *error,
                      uint64_t rtt, void *user)
{
    struct seen *s = user;
    (void)link;
    (void)p;
    if (result) {
        s->results++;
        s->result = json_incref(result);
        s->rtt_us = rtt;
    } else {
        s->errors++;
        snprintf(s->error, sizeof s->error, "%s", error);
    }
}

static void on_attached(struct link *link, const struct link_program *p, void *user)
{
    struct seen *s = user;
    s->attached++;
    cr_expect_str_eq(p->build_id, "3f1c");
    cr_expect_str_eq(p->arch, "x86_64");
    if (s->attached < s->expect_programs)
        return;
    const struct link_program *all[8];
    cr_assert_eq(link_programs(link, all, 8), (size_t)s->expect_programs);
    for (int i = 0; i < s->expect_programs; i++) {
        json_t *params = json_pack("{s:i, s:s, s:s, s:[], s:[]}", "version", 1, "library", "/tmp/p.so",
                                   "targetBuildId", "3f1c", "functions", "statics");
        cr_assert_eq(link_request(link, all[i]->id, "hot/reload", params, on_result, s), 0);
    }
}

static void on_detached(struct link *link, const struct link_program *p, const char *reason, void *user)
{
    struct seen *s = user;
    (void)p;
    s->detached++;
    snprintf(s->detach_reason, sizeof s->detach_reason, "%s", reason);
    if (s->detached == s->expect_programs)
        link_close(link);
}

static void on_notified(struct link *link, const struct link_program *p, const char *method, json_t *params,
                        void *user)
{
    struct seen *s = user;
    (void)link;
    (void)p;
    if (strcmp(method, "hot/crash") == 0) {
        s->crashes++;
        cr_expect_str_eq(json_string_value(json_object_get(params, "function")), "update");
    }
}

/* hot/exited: counts it, keeps its status, and ends the test's loop. */
static void on_exited(struct link *link, json_t *params, void *user)
{
    struct seen *s = user;
    s->exited++;
    s->exit_status = (int)json_integer_value(json_object_get(params, "status"));
    link_close(link);
}

static const struct link_callbacks callbacks = { on_attached, on_detached, on_notified, on_exited, NULL };

Test(link, a_program_attaches_gets_a_reload_answers_and_detaches, .timeout = 60)
{
    uv_loop_t loop;
    struct link *link;
    char err[256], path[600], content[700];
    struct seen seen = { .expect_programs = 1 };
    struct client cl = { .pid = 4242, .answer_reload = true };
    struct stat st;
    pthread_t th;

    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    cr_assert_eq(link_open(&link, &loop, scratch("one"), &callbacks, &seen, err, sizeof err), 0, "%s", err);
    cr_assert_eq(stat(dir, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0700, "the socket directory is private");
    snprintf(path, sizeof path, "%s/endpoint", dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no endpoint file");
    cr_assert_not_null(fgets(content, sizeof content, f));
    fclose(f);
    content[strcspn(content, "\n")] = '\0';
    cr_expect_str_eq(content, link_endpoint(link));

    snprintf(cl.endpoint, sizeof cl.endpoint, "%s", link_endpoint(link));
    pthread_create(&th, NULL, client_main, &cl);
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    pthread_join(th, NULL);

    cr_expect_eq(seen.attached, 1);
    cr_expect_eq(cl.session, 1);
    cr_expect_str_eq(cl.fail, "", "client: %s", cl.fail);
    cr_expect_str_eq(cl.library, "/tmp/p.so", "the reload carried the library");
    cr_expect_eq(seen.results, 1);
    cr_expect_str_eq(json_string_value(json_object_get(seen.result, "status")), "applied");
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(seen.result, "timings"), "totalUs")), 2400);
    cr_expect_eq(seen.crashes, 1);
    cr_expect_eq(seen.detached, 1);
    cr_expect_str_eq(seen.detach_reason, "exit");
    cr_expect_neq(access(path, F_OK), 0, "the endpoint file is removed on close");
    json_decref(seen.result);
    cr_expect_eq(uv_loop_close(&loop), 0);
}

Test(link, several_programs_and_one_that_disconnects_mid_reload, .timeout = 60)
{
    uv_loop_t loop;
    struct link *link;
    char err[256];
    struct seen seen = { .expect_programs = 2 };
    struct client a = { .pid = 1, .answer_reload = true }, b = { .pid = 2, .answer_reload = false };
    pthread_t ta, tb;

    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    cr_assert_eq(link_open(&link, &loop, scratch("two"), &callbacks, &seen, err, sizeof err), 0, "%s", err);
    snprintf(a.endpoint, sizeof a.endpoint, "%s", link_endpoint(link));
    snprintf(b.endpoint, sizeof b.endpoint, "%s", link_endpoint(link));
    pthread_create(&ta, NULL, client_main, &a);
    pthread_create(&tb, NULL, client_main, &b);
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);

    cr_expect_str_eq(a.fail, "", "client a: %s", a.fail);
    cr_expect_str_eq(b.fail, "", "client b: %s", b.fail);
    cr_expect_eq(seen.attached, 2);
    cr_expect_neq(a.session, b.session);
    cr_expect_eq(seen.results, 1, "the program that answered");
    cr_expect_eq(seen.errors, 1, "the program that vanished");
    cr_expect_str_eq(seen.error, "the program detached before answering");
    cr_expect_eq(seen.detached, 2);
    json_decref(seen.result);
    cr_expect_eq(uv_loop_close(&loop), 0);
}

Test(link, a_directory_open_to_others_is_made_private)
{
    uv_loop_t loop;
    struct link *link;
    char err[256];
    struct stat st;

    scratch("perm");
    mkdir(dir, 0755);
    uv_loop_init(&loop);
    cr_assert_eq(link_open(&link, &loop, dir, NULL, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(stat(dir, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0700);
    cr_expect_eq(link_request(link, 99, "hot/rollback", json_object(), on_result, NULL), LINK_ENOPROGRAM);
    link_close(link);
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    cr_expect_eq(uv_loop_close(&loop), 0);
}

/* ------------------------------------------------------------ TCP */

/* Attaches over TCP with a wrong token, then with none: each gets the
 * "unauthorized" error and the connection is closed; then attaches with the
 * right one and goes through a reload like the Unix client. */
static void *tcp_client_main(void *arg)
{
    struct client *cl = arg;
    /* a wrong token, none, a proof made with a wrong token */
    static const char *const tokens[] = { "0123456789abcdef0123456789abcdef", "", "0123456789abcdef0123456789abcdef" };
    static const char *const what[] = { "a wrong token", "no token", "a wrong proof" };
    json_t *m = NULL;

    for (size_t i = 0; i < 3; i++) {
        int fd = client_connect(cl->endpoint);
        CHECK(cl, fd >= 0, "cannot connect to %s", cl->endpoint);
        client_send(fd, i == 2 ? attach_proving(cl->pid, tokens[i]) : attach_msg(cl->pid, tokens[i]));
        m = client_read(fd);
        if (!m) {
            close(fd);
            CHECK(cl, false, "no answer to an attach with %s", what[i]);
        }
        if (json_integer_value(json_object_get(json_object_get(m, "error"), "code")) != LINK_RPC_UNAUTHORIZED) {
            close(fd);
            CHECK(cl, false, "an attach with %s was not refused", what[i]);
        }
        json_decref(m);
        m = client_read(fd);
        close(fd);
        CHECK(cl, !m, "the connection stays open after a refused attach");
    }
    return client_main(cl);
out:
    json_decref(m);
    return NULL;
}

static void on_remote_attached(struct link *link, const struct link_program *p, void *user)
{
    cr_expect(p->remote, "attached over TCP: remote");
    on_attached(link, p, user);
}

/* A TCP server refusing wrong, missing and wrongly proven tokens, then
 * attaching the program that shows the right one: sent as is (`prove`
 * false: runtimes before the handshake) or proven (and the server's
 * answer must prove it too). */
static void tcp_attach(bool prove)
{
    uv_loop_t loop;
    struct link *link;
    char err[256];
    struct seen seen = { .expect_programs = 1 };
    struct client cl = { .pid = 77, .answer_reload = true };
    struct link_callbacks cb = callbacks;
    pthread_t th;
    const char *ep, *token;

    cb.attached = on_remote_attached;
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    cr_assert_eq(link_open(&link, &loop, scratch("tcp"), &cb, &seen, err, sizeof err), 0, "%s", err);
    cr_expect_null(link_tcp_endpoint(link));
    cr_assert_eq(link_listen_tcp(link, "127.0.0.1", 0, err, sizeof err), 0, "%s", err);
    ep = link_tcp_endpoint(link);
    token = link_token(link);
    cr_assert(ep && strncmp(ep, "tcp:127.0.0.1:", 14) == 0 && atoi(ep + 14) > 0, "endpoint %s", ep ? ep : "-");
    cr_assert(token && strlen(token) == 32 && strspn(token, "0123456789abcdef") == 32, "token %s",
              token ? token : "-");
    snprintf(cl.endpoint, sizeof cl.endpoint, "%s", ep);
    snprintf(cl.token, sizeof cl.token, "%s", token);
    cl.prove = prove;
    pthread_create(&th, NULL, tcp_client_main, &cl);
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    pthread_join(th, NULL);

    cr_expect_str_eq(cl.fail, "", "client: %s", cl.fail);
    cr_expect_eq(seen.attached, 1, "only the program with the token attached");
    cr_expect_eq(seen.results, 1);
    cr_expect_eq(seen.detached, 1);
    json_decref(seen.result);
    cr_expect_eq(uv_loop_close(&loop), 0);
}

/* The handshake's HMAC-SHA-256 against RFC 4231 (cases 1, 2 and 6: a
 * short key, a text key, a key longer than the block). */
Test(link, hmac_matches_rfc_4231)
{
    char key1[21], key6[132], out[HMAC_HEX_LEN + 1];
    memset(key1, 0x0b, 20);
    key1[20] = '\0';
    memset(key6, 0xaa, 131);
    key6[131] = '\0';
    hmac_sha256_hex(key1, "Hi There", out);
    cr_expect_str_eq(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    hmac_sha256_hex("Jefe", "what do ya want for nothing?", out);
    cr_expect_str_eq(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    hmac_sha256_hex(key6, "Test Using Larger Than Block-Size Key - Hash Key First", out);
    cr_expect_str_eq(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    cr_expect(hmac_equal(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
    cr_expect(!hmac_equal(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f5"));
    cr_expect(!hmac_equal(NULL, out));
}

Test(link, tcp_needs_the_token)
{
    tcp_attach(false);
}

/* The handshake (docs/protocol.md): the token never travels. */
Test(link, tcp_handshake_proves_the_token_both_ways)
{
    tcp_attach(true);
}

/* The client side of tcp_exited_proves_the_token: a hot/exited whose proof
 * was made with a wrong token, which must be dropped unheard; then the real
 * `hotc exec` running `sh -c 'exit 3'` with the endpoint and token. */
static void *exited_client_main(void *arg)
{
    struct client *cl = arg;
    char proof[HMAC_HEX_LEN + 1], env_ep[760], env_token[80], out[2048];
    hmac_sha256_hex("0123456789abcdef0123456789abcdef", "hotc program " NONCE, proof);
    int fd = client_connect(cl->endpoint);
    CHECK(cl, fd >= 0, "cannot connect to %s", cl->endpoint);
    client_send(fd, json_pack("{s:s, s:s, s:{s:i, s:i, s:s, s:s}}", "jsonrpc", "2.0", "method", "hot/exited", "params",
                              "pid", 1, "status", 9, "nonce", NONCE, "proof", proof));
    json_t *m = client_read(fd);
    close(fd);
    CHECK(cl, !m, "a hot/exited with a wrong proof was answered, not dropped");
    snprintf(env_ep, sizeof env_ep, "HOTC_ENDPOINT=%s", cl->endpoint);
    snprintf(env_token, sizeof env_token, "HOTC_TOKEN=%s", cl->token);
    char *argv[] = { "env", env_ep, env_token, (char *)test_build_path("hotc"), "exec", "--", "sh", "-c", "exit 3",
                     NULL };
    int rc = test_run(argv, out, sizeof out, 20000);
    CHECK(cl, rc == 3, "hotc exec: status %d: %.400s", rc, out);
out:
    return NULL;
}

/* hot/exited over TCP (from `hotc exec`, on a connection that never
 * attaches) shows the token by the handshake's proof, and one with a
 * wrong proof is dropped. */
Test(link, tcp_exited_proves_the_token, .timeout = 60)
{
    uv_loop_t loop;
    struct link *link;
    char err[256];
    struct seen seen = { 0 };
    struct client cl = { 0 };
    pthread_t th;

    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    cr_assert_eq(link_open(&link, &loop, scratch("exited"), &callbacks, &seen, err, sizeof err), 0, "%s", err);
    cr_assert_eq(link_listen_tcp(link, "127.0.0.1", 0, err, sizeof err), 0, "%s", err);
    snprintf(cl.endpoint, sizeof cl.endpoint, "%s", link_tcp_endpoint(link));
    snprintf(cl.token, sizeof cl.token, "%s", link_token(link));
    pthread_create(&th, NULL, exited_client_main, &cl);
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    pthread_join(th, NULL);

    cr_expect_str_eq(cl.fail, "", "client: %s", cl.fail);
    cr_expect_eq(seen.exited, 1, "only the proven hot/exited was heard");
    cr_expect_eq(seen.exit_status, 3);
    cr_expect_eq(uv_loop_close(&loop), 0);
}

/* ------------------------------------------------------------ peer uid */

#define NOBODY 65534

/* The child's side: as uid NOBODY, connects to `path`, sends hot/attach and
 * exits 0 when the server hangs up without a byte, 1 when it answers, 2
 * when it cannot even connect or drop privileges. */
static void foreign_client(const char *path)
{
    char ep[600];
    if (setgroups(0, NULL) != 0 || setresgid(NOBODY, NOBODY, NOBODY) != 0 ||
        setresuid(NOBODY, NOBODY, NOBODY) != 0)
        _exit(2);
    snprintf(ep, sizeof ep, "unix:%.590s", path);
    int fd = client_connect(ep);
    if (fd < 0)
        _exit(2);
    client_send(fd, attach_msg(4242, NULL));
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char byte;
    if (poll(&p, 1, 10000) != 1)
        _exit(1); /* neither answered nor dropped: the check is not there */
    /* a hang-up, or a reset (the server closed with our attach unread) */
    _exit(read(fd, &byte, 1) <= 0 ? 0 : 1);
}

struct uid_watch {
    pid_t child;
    int status;
    struct link *link;
};

static void on_uid_tick(uv_timer_t *t)
{
    struct uid_watch *w = t->data;
    if (waitpid(w->child, &w->status, WNOHANG) != w->child)
        return;
    uv_close((uv_handle_t *)t, NULL);
    link_close(w->link);
}

Test(link, refuses_a_program_of_another_uid, .timeout = 60)
{
    if (geteuid() != 0)
        cr_skip_test("needs root, to act as another user (uid %d)", NOBODY);
    uv_loop_t loop;
    uv_timer_t tick;
    struct link *link;
    char err[256], base[64], sock[600];
    struct seen seen = { .expect_programs = 1 };

    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    snprintf(base, sizeof base, "/tmp/hotc-linkuid-XXXXXX");
    cr_assert_not_null(mkdtemp(base));
    chmod(base, 0711);
    char hdir[128];
    snprintf(hdir, sizeof hdir, "%s/hotc", base);
    cr_assert_eq(link_open(&link, &loop, hdir, &callbacks, &seen, err, sizeof err), 0, "%s", err);
    snprintf(sock, sizeof sock, "%s", link_endpoint(link) + 5);
    /* Open the folder and the socket to everyone: the uid check alone must
     * keep the other user out. */
    cr_assert_eq(chmod(hdir, 0711), 0);
    cr_assert_eq(chmod(sock, 0666), 0);

    struct uid_watch w = { .link = link };
    w.child = fork();
    cr_assert_geq(w.child, 0);
    if (w.child == 0)
        foreign_client(sock);
    uv_timer_init(&loop, &tick);
    tick.data = &w;
    uv_timer_start(&tick, on_uid_tick, 20, 20);
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    cr_assert(WIFEXITED(w.status), "child status %d", w.status);
    cr_expect_neq(WEXITSTATUS(w.status), 2, "the other uid could not even connect: the test proves nothing");
    cr_expect_eq(WEXITSTATUS(w.status), 0, "the server answered a program of uid %d", NOBODY);
    cr_expect_eq(seen.attached, 0, "a program of uid %d attached", NOBODY);
    cr_expect_eq(uv_loop_close(&loop), 0);
    rmdir(hdir);
    rmdir(base);
}

/* ------------------------------------------------------------ TCP limits */

/* Whether the server closes `fd` within `ms` (what it sends first, an
 * error, is read and dropped). */
static bool closed_within(int fd, int ms)
{
    char buf[4096];
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, ms) != 1)
            return false;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return true;
    }
}

struct strangers {
    char endpoint[320];
    char token[64];
    int phase; /* 0: message and timeout limits, 1: the cap */
    bool done;
    char fail[400];
};

/* Connects and attaches with the token; returns whether the server answered
 * with a session. */
static bool attach_with_token(const char *endpoint, const char *token)
{
    int fd = client_connect(endpoint);
    if (fd < 0)
        return false;
    client_send(fd, attach_msg(99, token));
    json_t *m = client_read(fd);
    bool ok = json_integer_value(json_object_get(json_object_get(m, "result"), "session")) > 0;
    json_decref(m);
    close(fd);
    return ok;
}

static void *strangers_main(void *arg)
{
    struct strangers *st = arg;
    int fds[4] = { -1, -1, -1, -1 };
    if (st->phase == 0) {
        /* a big message before attaching: closed at once, not buffered */
        fds[0] = client_connect(st->endpoint);
        static char big[65536];
        memset(big, 'x', sizeof big);
        const char head[] = "Content-Length: 10000000\r\n\r\n";
        CHECK(st, fds[0] >= 0 && write(fds[0], head, strlen(head)) > 0, "cannot connect");
        CHECK(st, write(fds[0], big, sizeof big) > 0 || errno == EPIPE || errno == ECONNRESET, "write");
        CHECK(st, closed_within(fds[0], 5000), "a 10 MB message before hot/attach did not close the connection");
        /* silence: closed after the authentication timeout */
        fds[1] = client_connect(st->endpoint);
        CHECK(st, fds[1] >= 0, "cannot connect");
        CHECK(st, closed_within(fds[1], 5000), "an idle connection was not closed after the authentication timeout");
    } else {
        /* three strangers fill the places; the fourth is closed at once */
        for (int i = 0; i < 3; i++) {
            fds[i] = client_connect(st->endpoint);
            CHECK(st, fds[i] >= 0, "cannot connect");
        }
        usleep(100 * 1000);
        fds[3] = client_connect(st->endpoint);
        CHECK(st, fds[3] >= 0, "cannot connect");
        CHECK(st, closed_within(fds[3], 5000), "a connection past the cap was kept");
        for (int i = 0; i < 3; i++)
            CHECK(st, !closed_within(fds[i], 100), "connection %d within the cap was closed", i);
        close(fds[0]);
        fds[0] = -1;
        usleep(100 * 1000);
    }
    /* and a program with the token still gets in */
    CHECK(st, attach_with_token(st->endpoint, st->token), "the program with the token could not attach");
out:
    for (int i = 0; i < 4; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    __atomic_store_n(&st->done, true, __ATOMIC_RELEASE);
    return NULL;
}

struct strangers_watch {
    struct strangers *st;
    struct link *link;
};

static void on_watch(uv_timer_t *t)
{
    struct strangers_watch *w = t->data;
    if (!__atomic_load_n(&w->st->done, __ATOMIC_ACQUIRE))
        return;
    uv_close((uv_handle_t *)t, NULL);
    link_close(w->link);
}

static void run_strangers(int phase, const struct link_limits *limits)
{
    uv_loop_t loop;
    uv_timer_t tick;
    struct link *link;
    char err[256];
    struct seen seen = { .expect_programs = 99 };
    struct strangers st = { .phase = phase };
    pthread_t th;

    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    cr_assert_eq(link_open(&link, &loop, scratch(phase ? "cap" : "limits"), &callbacks, &seen, err, sizeof err), 0,
                 "%s", err);
    link_set_limits(link, limits);
    cr_assert_eq(link_listen_tcp(link, "127.0.0.1", 0, err, sizeof err), 0, "%s", err);
    snprintf(st.endpoint, sizeof st.endpoint, "%s", link_tcp_endpoint(link));
    snprintf(st.token, sizeof st.token, "%s", link_token(link));
    struct strangers_watch w = { &st, link };
    uv_timer_init(&loop, &tick);
    tick.data = &w;
    uv_timer_start(&tick, on_watch, 20, 20);
    pthread_create(&th, NULL, strangers_main, &st);
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    pthread_join(th, NULL);
    cr_expect_str_eq(st.fail, "", "%s", st.fail);
    cr_expect_eq(seen.attached, 1, "only the program with the token attached");
    cr_expect_eq(uv_loop_close(&loop), 0);
}

/* Before the token: a small message limit and an authentication timeout
 * (300 ms here), so that strangers cannot make the server buffer or keep
 * their connections. */
Test(link, tcp_strangers_are_limited_before_the_token, .timeout = 60)
{
    struct link_limits limits = { 4096, 300, 16 };
    run_strangers(0, &limits);
}

/* At most max_preauth connections wait for their hot/attach; more are
 * closed as they arrive, so idle connections cannot use up the server's
 * descriptors. */
Test(link, tcp_connections_without_the_token_are_capped, .timeout = 60)
{
    struct link_limits limits = { 1u << 20, 20000, 3 };
    run_strangers(1, &limits);
}
