/* rt_driver: a protocol driver and build helpers for the runtime's tests.
 * See rt_driver.h. Everything is blocking with timeouts; one runtime per
 * driver. */
#include "rt_driver.h"

#include "run.h"
#include "../../runtime/hmac.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_KEPT 256

struct rt_driver {
    char dir[64];
    char endpoint[300];
    int listen_fd;
    int fd;
    char *buf;
    size_t len, cap;
    int next_id;
    json_t *attach;           /* params of hot/attach */
    json_t *kept[MAX_KEPT];   /* notifications not yet asked for */
    size_t nkept;
    char program[64];         /* the last program started */
    char token[80];           /* proves it in hot/attach answers ("" none) */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A driver with its directory, listening on a Unix socket there (`tcp`
 * false) or on 127.0.0.1 at a port the kernel picks. */
static struct rt_driver *driver_new(int tcp)
{
    struct rt_driver *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->fd = -1;
    d->listen_fd = -1;
    snprintf(d->dir, sizeof d->dir, "/tmp/hotc-rt-XXXXXX");
    if (!mkdtemp(d->dir))
        goto fail;
    chmod(d->dir, 0700);
    if (tcp) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        d->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (d->listen_fd < 0 || bind(d->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
            listen(d->listen_fd, 4) != 0 ||
            getsockname(d->listen_fd, (struct sockaddr *)&a, &len) != 0)
            goto fail;
        snprintf(d->endpoint, sizeof d->endpoint, "tcp:127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
        return d;
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s/hotc.sock", d->dir);
    snprintf(d->endpoint, sizeof d->endpoint, "unix:%s", a.sun_path);
    d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (d->listen_fd < 0 || bind(d->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(d->listen_fd, 4) != 0)
        goto fail;
    return d;
fail:
    if (d->listen_fd >= 0)
        close(d->listen_fd);
    free(d);
    return NULL;
}

struct rt_driver *rt_driver_new(void)
{
    return driver_new(0);
}

struct rt_driver *rt_driver_new_tcp(void)
{
    return driver_new(1);
}

void rt_driver_set_token(struct rt_driver *d, const char *token)
{
    snprintf(d->token, sizeof d->token, "%s", token ? token : "");
}

void rt_driver_close(struct rt_driver *d)
{
    if (d->fd >= 0)
        close(d->fd);
    if (d->listen_fd >= 0)
        close(d->listen_fd);
    d->fd = d->listen_fd = -1;
    if (strncmp(d->endpoint, "unix:", 5) == 0)
        unlink(d->endpoint + 5);
}

char *rt_base64_file(const char *path)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t got;
    unsigned char *bytes = (unsigned char *)test_slurp(path, &got);
    char *out = bytes ? malloc(got / 3 * 4 + 8) : NULL;
    if (!out) {
        free(bytes);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < got; i += 3) {
        unsigned v = (unsigned)bytes[i] << 16;
        if (i + 1 < got)
            v |= (unsigned)bytes[i + 1] << 8;
        if (i + 2 < got)
            v |= bytes[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < got ? alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < got ? alphabet[v & 63] : '=';
    }
    out[o] = 0;
    free(bytes);
    return out;
}

void rt_driver_free(struct rt_driver *d)
{
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd);
    if (d->listen_fd >= 0)
        close(d->listen_fd);
    for (size_t i = 0; i < d->nkept; i++)
        json_decref(d->kept[i]);
    json_decref(d->attach);
    free(d->buf);
    if (!getenv("HOTC_KEEP_TMP")) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
        char *argv[] = {"sh", "-c", cmd, NULL};
        test_run(argv, NULL, 0, 10000);
    }
    free(d);
}

const char *rt_driver_dir(const struct rt_driver *d)
{
    return d->dir;
}

const char *rt_driver_endpoint(const struct rt_driver *d)
{
    return d->endpoint;
}

const char *rt_driver_program(const struct rt_driver *d)
{
    return d->program;
}

const char *rt_path(struct rt_driver *d, const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", d->dir, name);
    return buf;
}

/* Appends `msg` to <dir>/<kind>.jsonl. */
static void record(struct rt_driver *d, const char *kind, json_t *msg)
{
    char name[128], path[512];
    snprintf(name, sizeof name, "%s.jsonl", kind);
    for (char *p = name; *p; p++)
        if (*p == '/')
            *p = '-';
    snprintf(path, sizeof path, "%s/%s", d->dir, name);
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    char *text = json_dumps(msg, JSON_COMPACT);
    if (text)
        fprintf(f, "%s\n", text);
    free(text);
    fclose(f);
}

static int send_msg(struct rt_driver *d, json_t *msg, const char *kind)
{
    record(d, kind, msg);
    char *body = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!body)
        return -1;
    char head[64];
    int hn = snprintf(head, sizeof head, "Content-Length: %zu\r\n\r\n", strlen(body));
    int rc = (write(d->fd, head, (size_t)hn) == hn &&
              write(d->fd, body, strlen(body)) == (ssize_t)strlen(body)) ? 0 : -1;
    free(body);
    return rc;
}

/* Reads one message (new reference) or NULL on timeout / EOF. */
static json_t *read_msg(struct rt_driver *d, long long deadline)
{
    for (;;) {
        char *end = d->len >= 4 ? memmem(d->buf, d->len, "\r\n\r\n", 4) : NULL;
        if (end) {
            char *cl = memmem(d->buf, (size_t)(end - d->buf), "Content-Length:", 15);
            size_t n = cl ? strtoul(cl + 15, NULL, 10) : 0;
            size_t head = (size_t)(end - d->buf) + 4;
            if (d->len >= head + n) {
                json_t *msg = json_loadb(d->buf + head, n, 0, NULL);
                memmove(d->buf, d->buf + head + n, d->len - head - n);
                d->len -= head + n;
                return msg;
            }
        }
        long long left = deadline - now_ms();
        if (left <= 0 || d->fd < 0)
            return NULL;
        struct pollfd p = {.fd = d->fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        if (d->cap - d->len < 65536) {
            d->cap = d->cap ? d->cap * 2 : 262144;
            d->buf = realloc(d->buf, d->cap);
        }
        ssize_t r = read(d->fd, d->buf + d->len, d->cap - d->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(d->fd);
            d->fd = -1;
            return NULL;
        }
        d->len += (size_t)r;
    }
}

/* Handles a message that is not the awaited response: records it, answers
 * hot/attach, keeps notifications. */
static void on_other(struct rt_driver *d, json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *id = json_object_get(msg, "id");
    if (!method) {
        json_decref(msg);
        return;
    }
    record(d, method, msg);
    if (strcmp(method, "hot/attach") == 0 && id) {
        json_decref(d->attach);
        d->attach = json_incref(json_object_get(msg, "params"));
        json_t *answer = json_pack("{s:s, s:O, s:{s:s, s:s}}", "jsonrpc", "2.0", "id", id, "result", "session",
                                   "test-session", "serverVersion", "test");
        const char *nonce = json_string_value(json_object_get(d->attach, "nonce"));
        if (*d->token && nonce) {
            char what[128], proof[HMAC_HEX_LEN + 1];
            snprintf(what, sizeof what, "hotc server %s", nonce);
            hmac_sha256_hex(d->token, what, proof);
            json_object_set_new(json_object_get(answer, "result"), "proof", json_string(proof));
        }
        send_msg(d, answer, "hot/attach.result");
    }
    if (!id && d->nkept < MAX_KEPT)
        d->kept[d->nkept++] = json_incref(msg);
    json_decref(msg);
}

json_t *rt_driver_accept(struct rt_driver *d, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    struct pollfd p = {.fd = d->listen_fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return NULL;
    if (d->fd >= 0)
        close(d->fd);
    d->fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    d->len = 0;
    json_decref(d->attach);
    d->attach = NULL;
    while (!d->attach) {
        json_t *msg = read_msg(d, deadline);
        if (!msg)
            return NULL;
        on_other(d, msg);
    }
    return d->attach;
}

json_t *rt_driver_request(struct rt_driver *d, const char *method, json_t *params, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    int id = ++d->next_id;
    if (d->fd < 0) {
        json_decref(params);
        return NULL;
    }
    send_msg(d, json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", id, "method", method,
                          "params", params),
             method);
    for (;;) {
        json_t *msg = read_msg(d, deadline);
        if (!msg)
            return NULL;
        json_t *rid = json_object_get(msg, "id");
        if (!json_object_get(msg, "method") && json_integer_value(rid) == id) {
            char kind[80];
            snprintf(kind, sizeof kind, "%s.%s", method,
                     json_object_get(msg, "error") ? "error" : "result");
            record(d, kind, msg);
            return msg;
        }
        on_other(d, msg);
    }
}

json_t *rt_driver_notification(struct rt_driver *d, const char *method, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        for (size_t i = 0; i < d->nkept; i++) {
            json_t *m = d->kept[i];
            if (strcmp(json_string_value(json_object_get(m, "method")), method) == 0) {
                json_t *params = json_incref(json_object_get(m, "params"));
                json_decref(m);
                memmove(&d->kept[i], &d->kept[i + 1], (d->nkept - i - 1) * sizeof *d->kept);
                d->nkept--;
                return params;
            }
        }
        json_t *msg = read_msg(d, deadline);
        if (!msg)
            return NULL;
        on_other(d, msg);
    }
}

int rt_driver_wait_closed(struct rt_driver *d, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    while (d->fd >= 0) {
        json_t *msg = read_msg(d, deadline);
        if (!msg)
            return d->fd < 0 ? 0 : -1;
        on_other(d, msg);
    }
    return 0;
}

/* ---------------------------------------------------------------- builds */

static int sh(const char *cmd, int timeout_ms)
{
    static char out[65536];
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    int rc = test_run(argv, out, sizeof out, timeout_ms);
    if (rc != 0)
        fprintf(stderr, "command failed (%d): %s\n%s\n", rc, cmd, out);
    return rc;
}

#if defined(__SANITIZE_ADDRESS__)
#define RT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RT_SANITIZED 1
#endif
#endif

/* See rt_driver.h. Under sanitizers the plain copy is compiled into
 * <build>/tests/rt-plain, again when runtime/ changes. */
const char *rt_libhotc_flags(void)
{
    static char flags[2048];
    if (*flags)
        return flags;
#ifdef RT_SANITIZED
    char dir[1024], cmd[4096];
    snprintf(dir, sizeof dir, "%s", test_build_path("tests/rt-plain"));
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && cd '%s' && exec 9>lock && flock 9 && "
             "if [ ! -f libhotc.a ] || [ -n \"$(find '%s/runtime' -newer libhotc.a -name '*.[ch]')\" ]; then "
             "gcc -std=c11 -O2 -g -fPIC -fvisibility=hidden -D_GNU_SOURCE -DHOTC_VERSION='\"%s\"' "
             "-c '%s'/runtime/*.c && rm -f libhotc.a && ar rcs libhotc.a *.o; fi",
             dir, dir, HOTC_SOURCE_DIR, HOTC_VERSION, HOTC_SOURCE_DIR);
    if (sh(cmd, 120000) != 0)
        return NULL;
    snprintf(flags, sizeof flags, "-I'%s/runtime' -rdynamic '%s/libhotc.a' -ljansson -ldl -lpthread",
             HOTC_SOURCE_DIR, dir);
#else
    snprintf(flags, sizeof flags,
             "$(PKG_CONFIG_PATH='%s' pkg-config --cflags --libs hotc) -ljansson -ldl -lpthread",
             test_build_path("pkgconfig"));
#endif
    return flags;
}

int rt_build_program(struct rt_driver *d, const char *name, const char *const *sources)
{
    const char *flags = rt_libhotc_flags();
    if (!flags)
        return -1;
    char cmd[8192];
    int n = snprintf(cmd, sizeof cmd, "cd '%s' && gcc -std=gnu11 -O2 -g -Wall -o '%s/%s'",
                     test_source_path("tests/programs"), d->dir, name);
    for (size_t i = 0; sources[i]; i++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " '%s'", sources[i]);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " %s", flags);
    return sh(cmd, 120000) == 0 ? 0 : -1;
}

int rt_build_patch(struct rt_driver *d, const char *name, const char *source, const char *build_id,
                   const char *const *defines)
{
    char cmd[8192];
    int n = snprintf(cmd, sizeof cmd,
                     "cd '%s/tests/programs' && gcc -std=gnu11 -O2 -g -fPIC -shared -I'%s/runtime' "
                     "-DHOTC_BUILD_ID='\"%s\"' -o '%s/%s' '%s'",
                     HOTC_SOURCE_DIR, HOTC_SOURCE_DIR, build_id, d->dir, name, source);
    for (size_t i = 0; defines && defines[i]; i++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " -D'%s'", defines[i]);
    return sh(cmd, 120000) == 0 ? 0 : -1;
}

int rt_copy_tagged(struct rt_driver *d, const char *from, const char *to, int tag)
{
    char path[512];
    size_t n;
    snprintf(path, sizeof path, "%s/%s", d->dir, from);
    char *data = test_slurp(path, &n);
    if (!data)
        return -1;
    int replaced = 0;
    for (char *p = data; tag >= 0 && (p = memmem(p, n - (size_t)(p - data), "HOTC_TAG_", 9)); p += 9) {
        char *digits = p + 9;
        size_t w = 0;
        while (digits + w < data + n && digits[w] >= '0' && digits[w] <= '9')
            w++;
        char buf[32];
        snprintf(buf, sizeof buf, "%0*d", (int)w, tag);
        if (w && strlen(buf) == w) {
            memcpy(digits, buf, w);
            replaced++;
        }
    }
    snprintf(path, sizeof path, "%s/%s", d->dir, to);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, n, f) == n;
    if (f && fclose(f) != 0)
        ok = 0;
    free(data);
    return ok && (replaced || tag < 0) ? 0 : -1;
}

pid_t rt_spawn(struct rt_driver *d, const char *name, const char *const *args,
               const char *const *env)
{
    char exe[512], out[600];
    snprintf(exe, sizeof exe, "%s/%s", d->dir, name);
    snprintf(out, sizeof out, "%s/%s.out", d->dir, name);
    char *argv[16] = {exe};
    for (size_t i = 0; args && args[i] && i < 14; i++)
        argv[i + 1] = (char *)args[i];
    snprintf(d->program, sizeof d->program, "%s", name);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int in = open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    setenv("HOTC_ENDPOINT", d->endpoint, 1);
    unsetenv("LD_PRELOAD");
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
    for (size_t i = 0; env && env[i]; i++)
        putenv((char *)env[i]);
    execv(exe, argv);
    _exit(127);
}

const char *rt_output(struct rt_driver *d, const char *name)
{
    static char buf[1 << 20];
    char path[600];
    snprintf(path, sizeof path, "%s/%s.out", d->dir, name);
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

int rt_wait_output(struct rt_driver *d, const char *name, const char *text, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (strstr(rt_output(d, name), text))
            return 0;
        if (now_ms() > deadline)
            return -1;
        usleep(2000);
    }
}

int rt_wait_exit(pid_t pid, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0)
            return -1;
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(2000);
    }
}

int rt_count_lines(struct rt_driver *d, const char *name)
{
    int n = 0;
    for (const char *p = rt_output(d, name); (p = strchr(p, '\n')); p++)
        n++;
    return n;
}

const char *rt_line_after(struct rt_driver *d, const char *name, int after, const char *prefix,
                          int timeout_ms)
{
    static char line[4096];
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        const char *p = rt_output(d, name);
        for (int i = 0; *p; i++) {
            const char *eol = strchr(p, '\n');
            if (!eol)
                break;
            if (i >= after && strncmp(p, prefix, strlen(prefix)) == 0) {
                size_t n = (size_t)(eol - p) < sizeof line - 1 ? (size_t)(eol - p) : sizeof line - 1;
                memcpy(line, p, n);
                line[n] = 0;
                return line;
            }
            p = eol + 1;
        }
        if (now_ms() > deadline)
            return NULL;
        usleep(2000);
    }
}
