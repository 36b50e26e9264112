/* Implements lsp/transport.h with uv_pipe_t / uv_tty_t streams. */
#include "transport.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "jsonrpc.h"
#include "log.h"

union stream {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tty_t tty;
};

struct transport {
    uv_loop_t *loop;
    union stream in, out;
    int out_is_file;
    int out_fd;
    struct frame_decoder dec;
    struct transport_callbacks cb;
    int closing;
    int open_handles;
    void (*done)(void *);
    void *done_data;
    uv_shutdown_t shutdown;
};

struct write_req {
    uv_write_t req;
    char head[FRAME_HEADER_SIZE];
    char *body;
};

static int open_stream(uv_loop_t *loop, union stream *s, int fd, int readable)
{
    switch (uv_guess_handle(fd)) {
    case UV_TTY:
        return uv_tty_init(loop, &s->tty, fd, readable);
    case UV_NAMED_PIPE:
    case UV_TCP:
    case UV_UDP:
    default: {
        int rc = uv_pipe_init(loop, &s->pipe, 0);
        if (rc == 0)
            rc = uv_pipe_open(&s->pipe, fd);
        return rc;
    }
    }
}

struct transport *transport_new(uv_loop_t *loop, int in_fd, int out_fd, const struct transport_callbacks *cb,
                                size_t max_body)
{
    struct transport *self = calloc(1, sizeof *self);
    int rc;

    if (!self)
        return NULL;
    self->loop = loop;
    self->cb = *cb;
    self->out_fd = out_fd;
    frame_decoder_init(&self->dec, max_body);
    rc = open_stream(loop, &self->in, in_fd, 1);
    if (rc != 0) {
        log_error("cannot read the editor's input (fd %d): %s", in_fd, uv_strerror(rc));
        frame_decoder_release(&self->dec);
        free(self);
        return NULL;
    }
    self->open_handles = 1;
    self->in.handle.data = self;
    if (uv_guess_handle(out_fd) == UV_FILE) {
        self->out_is_file = 1; /* e.g. redirected to a file: plain blocking writes */
    } else {
        rc = open_stream(loop, &self->out, out_fd, 0);
        if (rc != 0) {
            log_warn("cannot open the output as a stream (%s); writing synchronously", uv_strerror(rc));
            self->out_is_file = 1;
        } else {
            self->open_handles++;
            self->out.handle.data = self;
        }
    }
    return self;
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    buf->base = malloc(65536);
    buf->len = buf->base ? 65536 : 0;
}

static void deliver(struct transport *self)
{
    const char *body;
    size_t len;
    struct frame_error ferr;
    int rc;

    while (!self->closing && (rc = frame_decoder_next(&self->dec, &body, &len, &ferr)) != 0) {
        json_error_t jerr;
        json_t *msg;

        if (rc < 0) {
            log_warn("bad message from the editor: %s", ferr.text);
            self->cb.on_error(self->cb.data, rc == FRAME_ETOOBIG ? JSONRPC_INVALID_REQUEST : JSONRPC_PARSE_ERROR,
                              ferr.text);
            continue;
        }
        msg = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
        if (!msg) {
            char text[300];
            snprintf(text, sizeof text, "invalid JSON: %s at line %d, column %d", jerr.text, jerr.line, jerr.column);
            log_warn("bad message from the editor: %s", text);
            self->cb.on_error(self->cb.data, JSONRPC_PARSE_ERROR, text);
            continue;
        }
        log_trace("editor.parsed");
        self->cb.on_message(self->cb.data, msg);
        json_decref(msg);
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct transport *self = stream->data;

    if (nread > 0 && !self->closing) {
        log_trace("editor.read");
        if (frame_decoder_feed(&self->dec, buf->base, (size_t)nread) != 0)
            log_error("out of memory reading a message");
        deliver(self);
        if (!self->closing)
            self->cb.on_batch(self->cb.data);
    }
    free(buf->base);
    if (nread < 0 && !self->closing) {
        if (nread != UV_EOF)
            log_error("cannot read from the editor: %s", uv_strerror((int)nread));
        uv_read_stop(stream);
        self->cb.on_eof(self->cb.data);
    }
}

int transport_start(struct transport *self)
{
    return uv_read_start(&self->in.stream, on_alloc, on_read);
}

static void on_written(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;

    if (status != 0 && status != UV_ECANCELED)
        log_error("cannot write to the editor: %s", uv_strerror(status));
    free(w->body);
    free(w);
}

int transport_send(struct transport *self, json_t *msg)
{
    char *body = json_dumps(msg, JSON_COMPACT);
    size_t len;

    if (!body)
        return -1;
    len = strlen(body);
    if (self->out_is_file) {
        char head[FRAME_HEADER_SIZE];
        size_t hl = frame_header(head, len);
        int rc = (write(self->out_fd, head, hl) == (ssize_t)hl && write(self->out_fd, body, len) == (ssize_t)len)
                     ? 0
                     : -1;
        free(body);
        return rc;
    } else {
        struct write_req *w = malloc(sizeof *w);
        uv_buf_t bufs[2];
        int rc;

        if (!w) {
            free(body);
            return -1;
        }
        w->body = body;
        bufs[0] = uv_buf_init(w->head, (unsigned)frame_header(w->head, len));
        bufs[1] = uv_buf_init(body, (unsigned)len);
        rc = uv_write(&w->req, &self->out.stream, bufs, 2, on_written);
        log_trace("editor.written");
        if (rc != 0) {
            log_error("cannot write to the editor: %s", uv_strerror(rc));
            free(body);
            free(w);
        }
        return rc;
    }
}

static void on_closed(uv_handle_t *handle)
{
    struct transport *self = handle->data;

    if (--self->open_handles > 0)
        return;
    frame_decoder_release(&self->dec);
    if (self->done)
        self->done(self->done_data);
    free(self);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct transport *self = req->data;

    (void)status;
    uv_close(&self->out.handle, on_closed);
}

void transport_close(struct transport *self, void (*done)(void *data), void *data)
{
    self->closing = 1;
    self->done = done;
    self->done_data = data;
    uv_read_stop(&self->in.stream);
    if (!self->out_is_file) {
        self->shutdown.data = self;
        if (uv_shutdown(&self->shutdown, &self->out.stream, on_shutdown) != 0)
            uv_close(&self->out.handle, on_closed);
    }
    uv_close(&self->in.handle, on_closed);
}
