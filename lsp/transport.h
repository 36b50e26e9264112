/* The editor's stdio on libuv: bytes in, framed JSON messages out to
 * callbacks; JSON in, framed bytes out. Framing is lsp/frame.h. */
#ifndef HOTC_TRANSPORT_H
#define HOTC_TRANSPORT_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

struct transport;

struct transport_callbacks {
    void *data;
    /* A complete, well-formed JSON message. `msg` is borrowed. */
    void (*on_message)(void *data, json_t *msg);
    /* Bytes that are not a message: `code` is a JSON-RPC error code
     * (parse error for bad headers and bad JSON, invalid request for an
     * oversize message), `text` says what and where. */
    void (*on_error)(void *data, int code, const char *text);
    /* Called after the messages of one read have been delivered. */
    void (*on_batch)(void *data);
    /* End of input, or a read error. */
    void (*on_eof)(void *data);
};

/* Default limit on a message body: larger ones are refused and skipped. */
#define TRANSPORT_MAX_BODY ((size_t)32 << 20)

/* Creates a transport reading `in_fd` and writing `out_fd` (pipes or
 * terminals) on `loop`. Returns NULL (with a log message) on failure. */
struct transport *transport_new(uv_loop_t *loop, int in_fd, int out_fd, const struct transport_callbacks *cb,
                                size_t max_body);

/* Starts reading. 0 or a libuv error. */
int transport_start(struct transport *self);

/* Queues `msg` (borrowed) for writing. 0 or a negative error. */
int transport_send(struct transport *self, json_t *msg);

/* Flushes what is queued, closes both ends, and frees the transport, then
 * calls `done` (may be NULL). No callback is called after this. */
void transport_close(struct transport *self, void (*done)(void *data), void *data);

#endif
