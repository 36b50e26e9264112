/* Content-Length framing, as LSP and the server <-> runtime protocol use it:
 * `Content-Length: N\r\n` (other header fields allowed and ignored), `\r\n`,
 * then N bytes of body. Independent of libuv, of JSON and of LSP, so that
 * the editor transport and the runtime socket share one decoder.
 *
 * The decoder is incremental: feed it bytes as they arrive, in chunks of any
 * size, then take complete bodies out one by one. Malformed input produces a
 * structured error and the decoder resynchronises by itself: a bad header
 * block is skipped (up to the next `Content-Length:` it contains, or to its
 * end), and the body of an oversize message is discarded as it arrives
 * without being buffered. */
#ifndef HOTC_FRAME_H
#define HOTC_FRAME_H

#include <stddef.h>

/* Error codes, negative. X(name, value, text). */
#define FRAME_ERRNO_MAP(X)                                                       \
    X(FRAME_EHEADER, -1, "malformed header line")                                \
    X(FRAME_ENOLENGTH, -2, "header has no Content-Length")                       \
    X(FRAME_EBADLENGTH, -3, "Content-Length is not a valid length")              \
    X(FRAME_ETOOBIG, -4, "message is larger than the limit")                     \
    X(FRAME_EHEADERSIZE, -5, "header block is too long")                         \
    X(FRAME_ENOMEM, -6, "out of memory")

enum frame_errno {
#define FRAME__ENUM(name, value, text) name = value,
    FRAME_ERRNO_MAP(FRAME__ENUM)
#undef FRAME__ENUM
};

/* The text of a frame error code ("unknown error" for anything else). */
const char *frame_strerror(int code);

/* What went wrong, where. `offset` is the position in the whole stream of
 * the first byte of the offending header block; `length` is the declared
 * Content-Length for FRAME_ETOOBIG (else 0). `text` is a lowercase message
 * a user can read, with the detail (e.g. the bad line). */
struct frame_error {
    int code;
    size_t offset;
    size_t length;
    char text[200];
};

/* Longest header block accepted (all fields plus the blank line). */
#define FRAME_MAX_HEADER 8192

/* Decoder state. Caller-owned: frame_decoder_init/frame_decoder_release. */
struct frame_decoder {
    char *buf;         /* buffered bytes, from buf[start] to buf[len] */
    size_t start;
    size_t len;
    size_t cap;
    size_t max_body;   /* bodies longer than this are refused and skipped */
    size_t consumed;   /* stream offset of buf[start] */
    long long body;    /* length of the pending body, or -1 while in the header */
    size_t skip;       /* bytes of an oversize body still to discard */
    size_t header_at;  /* stream offset of the current header block */
};

/* Prepares an empty decoder that refuses bodies longer than `max_body`. */
void frame_decoder_init(struct frame_decoder *self, size_t max_body);

/* Frees the decoder's buffer. The decoder may be initialised again. */
void frame_decoder_release(struct frame_decoder *self);

/* Appends `len` bytes of the stream. Bytes of an oversize body being skipped
 * are dropped here. Invalidates any body returned by frame_decoder_next.
 * Returns 0, or FRAME_ENOMEM (nothing is appended). */
int frame_decoder_feed(struct frame_decoder *self, const char *data, size_t len);

/* Takes the next complete message. Returns 1 and sets *body / *len to the
 * body (borrowed: valid until the next call to feed or next; not
 * NUL-terminated); returns 0 when more bytes are needed; returns a negative
 * FRAME_E* code and fills `err` (when not NULL) when the input is malformed,
 * after which the decoder has already skipped the bad bytes, so the caller
 * just reports the error and calls again. */
int frame_decoder_next(struct frame_decoder *self, const char **body, size_t *len,
                       struct frame_error *err);

/* Writes the header for a body of `body_len` bytes into `buf` (at least
 * FRAME_HEADER_SIZE bytes) and returns its length. */
#define FRAME_HEADER_SIZE 48
size_t frame_header(char *buf, size_t body_len);

/* Returns a new buffer (malloc'd, caller frees) holding header and body,
 * its length in *out_len; NULL when out of memory. */
char *frame_encode(const char *body, size_t body_len, size_t *out_len);

#endif
