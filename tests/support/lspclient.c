/* Implements tests/support/lspclient.h with fork/exec, pipes and poll. */
#include "lspclient.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "run.h"

struct lspclient {
    pid_t pid;
    int in;            /* server's stdin, we write */
    int out;           /* server's stdout, we read */
    int exited;
    int status;
    json_int_t next_id;
    json_t *queue;     /* messages read but not yet returned */
    struct frame_decoder dec;
    size_t garbage;
    int eof;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct lspclient *lspclient_start(const struct lspclient_options *opt)
{
    struct lspclient_options none = { 0 };
    struct lspclient *self;
    int to_child[2], from_child[2];
    const char *hotc;
    pid_t pid;

    if (!opt)
        opt = &none;
    hotc = opt->hotc ? opt->hotc : test_build_path("hotc");
    signal(SIGPIPE, SIG_IGN);
    if (pipe2(to_child, O_CLOEXEC) != 0)
        return NULL;
    if (pipe2(from_child, O_CLOEXEC) != 0) {
        close(to_child[0]);
        close(to_child[1]);
        return NULL;
    }
    {
        /* Build argv before forking: "hotc lsp args..." */
        size_t n = 0;
        char **argv;

        while (opt->args && opt->args[n])
            n++;
        argv = calloc(n + 3, sizeof *argv);
        argv[0] = strdup(hotc);
        argv[1] = "lsp";
        for (size_t i = 0; i < n; i++)
            argv[2 + i] = (char *)opt->args[i];
        pid = fork();
        if (pid == 0) {
            dup2(to_child[0], 0);
            dup2(from_child[1], 1);
            if (opt->quiet_stderr) {
                int devnull = open("/dev/null", O_WRONLY);
                dup2(devnull, 2);
            }
            for (size_t i = 0; opt->env && opt->env[i]; i++)
                putenv((char *)opt->env[i]);
            if (opt->cwd && chdir(opt->cwd) != 0)
                _exit(126);
            execv(argv[0], argv);
            _exit(127);
        }
        free(argv[0]);
        free(argv);
    }
    close(to_child[0]);
    close(from_child[1]);
    if (pid < 0) {
        close(to_child[1]);
        close(from_child[0]);
        return NULL;
    }
    self = calloc(1, sizeof *self);
    self->pid = pid;
    self->in = to_child[1];
    self->out = from_child[0];
    self->next_id = 1;
    self->queue = json_array();
    frame_decoder_init(&self->dec, (size_t)1 << 30);
    return self;
}

static int reap(struct lspclient *self, int hang)
{
    int status;
    pid_t r;

    if (self->exited)
        return 1;
    do
        r = waitpid(self->pid, &status, hang ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == self->pid) {
        self->exited = 1;
        self->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return 1;
    }
    return 0;
}

void lspclient_free(struct lspclient *self)
{
    if (!self)
        return;
    if (self->in >= 0)
        close(self->in);
    if (!reap(self, 0)) {
        kill(self->pid, SIGKILL);
        reap(self, 1);
    }
    close(self->out);
    json_decref(self->queue);
    frame_decoder_release(&self->dec);
    free(self);
}

pid_t lspclient_pid(const struct lspclient *self)
{
    return self->pid;
}

size_t lspclient_garbage(const struct lspclient *self)
{
    return self->garbage;
}

int lspclient_send_raw(struct lspclient *self, const void *bytes, size_t len)
{
    const char *p = bytes;

    if (self->in < 0)
        return -1;
    while (len > 0) {
        ssize_t n = write(self->in, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int lspclient_send(struct lspclient *self, json_t *msg)
{
    char *body, *framed;
    size_t n;
    int rc = -1;

    if (!msg)
        return -1;
    body = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!body)
        return -1;
    framed = frame_encode(body, strlen(body), &n);
    if (framed)
        rc = lspclient_send_raw(self, framed, n);
    free(framed);
    free(body);
    return rc;
}

json_int_t lspclient_send_request(struct lspclient *self, const char *method, json_t *params)
{
    json_int_t id = self->next_id++;
    json_t *msg = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", id, "method", method);

    if (params)
        json_object_set_new(msg, "params", params);
    return lspclient_send(self, msg) == 0 ? id : -1;
}

int lspclient_notify(struct lspclient *self, const char *method, json_t *params)
{
    json_t *msg = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);

    if (params)
        json_object_set_new(msg, "params", params);
    return lspclient_send(self, msg);
}

int lspclient_respond(struct lspclient *self, json_t *id, json_t *result)
{
    return lspclient_send(self, json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result",
                                          result ? result : json_null()));
}

/* Reads from the server until one more message is queued, or the deadline.
 * Returns 0 when a message was queued, -1 otherwise. */
static int pump(struct lspclient *self, long long deadline)
{
    for (;;) {
        const char *body;
        size_t len;
        struct frame_error err;
        int rc;

        while ((rc = frame_decoder_next(&self->dec, &body, &len, &err)) != 0) {
            json_error_t jerr;
            json_t *msg;

            if (rc < 0) {
                fprintf(stderr, "lspclient: bad frame from the server: %s\n", err.text);
                self->garbage++;
                continue;
            }
            msg = json_loadb(body, len, 0, &jerr);
            if (!msg) {
                fprintf(stderr, "lspclient: invalid JSON from the server: %s\n", jerr.text);
                self->garbage += len;
                continue;
            }
            json_array_append_new(self->queue, msg);
            return 0;
        }
        if (self->eof)
            return -1;
        {
            struct pollfd p = { .fd = self->out, .events = POLLIN };
            long long left = deadline - now_ms();
            char chunk[65536];
            ssize_t n;

            if (left <= 0)
                return -1;
            rc = poll(&p, 1, (int)left);
            if (rc < 0 && errno != EINTR)
                return -1;
            if (rc <= 0)
                continue;
            n = read(self->out, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                self->eof = 1;
                return -1;
            }
            frame_decoder_feed(&self->dec, chunk, (size_t)n);
        }
    }
}

/* Removes and returns the first queued message that `match` accepts,
 * reading more until the deadline. */
static json_t *wait_for(struct lspclient *self, int (*match)(json_t *, const void *), const void *arg,
                        int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    size_t checked = 0;

    for (;;) {
        for (; checked < json_array_size(self->queue); checked++) {
            json_t *msg = json_array_get(self->queue, checked);

            if (match(msg, arg)) {
                json_incref(msg);
                json_array_remove(self->queue, checked);
                return msg;
            }
        }
        if (pump(self, deadline) != 0)
            return NULL;
    }
}

static int match_any(json_t *msg, const void *arg)
{
    (void)msg;
    (void)arg;
    return 1;
}

static int match_response(json_t *msg, const void *arg)
{
    json_int_t want = *(const json_int_t *)arg;
    json_t *id = json_object_get(msg, "id");

    if (json_object_get(msg, "method") || !id)
        return 0;
    if (want == -1)
        return json_is_null(id);
    return json_is_integer(id) && json_integer_value(id) == want;
}

static int match_method(json_t *msg, const void *arg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));

    return method && strcmp(method, arg) == 0;
}

json_t *lspclient_read(struct lspclient *self, int timeout_ms)
{
    return wait_for(self, match_any, NULL, timeout_ms);
}

json_t *lspclient_wait_response(struct lspclient *self, json_int_t id, int timeout_ms)
{
    return wait_for(self, match_response, &id, timeout_ms);
}

json_t *lspclient_wait_notification(struct lspclient *self, const char *method, int timeout_ms)
{
    return wait_for(self, match_method, method, timeout_ms);
}

json_t *lspclient_request(struct lspclient *self, const char *method, json_t *params, int timeout_ms)
{
    json_int_t id = lspclient_send_request(self, method, params);

    return id < 0 ? NULL : lspclient_wait_response(self, id, timeout_ms);
}

json_t *lspclient_initialize(struct lspclient *self, json_t *params, int timeout_ms)
{
    json_t *resp, *result;

    if (!params)
        params = json_pack("{s:i, s:n, s:{}}", "processId", (int)getpid(), "rootUri", "capabilities");
    resp = lspclient_request(self, "initialize", params, timeout_ms);
    result = json_object_get(resp, "result");
    if (!result) {
        json_decref(resp);
        return NULL;
    }
    json_incref(result);
    json_decref(resp);
    lspclient_notify(self, "initialized", json_object());
    return result;
}

void lspclient_close_stdin(struct lspclient *self)
{
    if (self->in >= 0)
        close(self->in);
    self->in = -1;
}

int lspclient_wait_exit(struct lspclient *self, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    while (!reap(self, 0)) {
        if (now_ms() >= deadline)
            return -1;
        usleep(10000);
    }
    return self->status;
}

int lspclient_shutdown(struct lspclient *self, int timeout_ms)
{
    json_t *resp = lspclient_request(self, "shutdown", NULL, timeout_ms);

    if (!resp)
        return -1;
    json_decref(resp);
    lspclient_notify(self, "exit", NULL);
    return lspclient_wait_exit(self, timeout_ms);
}
