/* Implements lsp/frame.h: the Content-Length decoder and encoder. */
#include "frame.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char length_field[] = "content-length";

const char *frame_strerror(int code)
{
    switch (code) {
#define FRAME__CASE(name, value, text) \
    case name:                          \
        return text;
        FRAME_ERRNO_MAP(FRAME__CASE)
#undef FRAME__CASE
    }
    return "unknown error";
}

void frame_decoder_init(struct frame_decoder *self, size_t max_body)
{
    memset(self, 0, sizeof *self);
    self->max_body = max_body;
    self->body = -1;
}

void frame_decoder_release(struct frame_decoder *self)
{
    free(self->buf);
    self->buf = NULL;
    self->start = self->len = self->cap = 0;
}

/* Drops `n` buffered bytes from the front. */
static void drop(struct frame_decoder *self, size_t n)
{
    self->start += n;
    self->consumed += n;
    if (self->start == self->len)
        self->start = self->len = 0;
}

int frame_decoder_feed(struct frame_decoder *self, const char *data, size_t len)
{
    if (self->skip > 0) {
        size_t d = len < self->skip ? len : self->skip;

        self->skip -= d;
        self->consumed += d;
        data += d;
        len -= d;
    }
    if (len == 0)
        return 0;
    if (self->cap - self->len < len && self->start > 0) {
        memmove(self->buf, self->buf + self->start, self->len - self->start);
        self->len -= self->start;
        self->start = 0;
    }
    if (self->cap - self->len < len) {
        size_t cap = self->cap ? self->cap : 4096;
        char *buf;

        while (cap - self->len < len)
            cap *= 2;
        buf = realloc(self->buf, cap);
        if (!buf)
            return FRAME_ENOMEM;
        self->buf = buf;
        self->cap = cap;
    }
    memcpy(self->buf + self->len, data, len);
    self->len += len;
    return 0;
}

/* Finds "content-length:" (any case) in p[from..n), or returns -1. */
static long find_length_field(const char *p, size_t from, size_t n)
{
    size_t k = sizeof length_field - 1;

    for (size_t i = from; i + k < n; i++)
        if (strncasecmp(p + i, length_field, k) == 0 && p[i + k] == ':')
            return (long)i;
    return -1;
}

static int fail(struct frame_decoder *self, struct frame_error *err, int code, size_t length,
                const char *detail, size_t detail_len)
{
    if (err) {
        char shown[64];
        size_t n = detail_len < sizeof shown - 1 ? detail_len : sizeof shown - 1;

        for (size_t i = 0; i < n; i++)
            shown[i] = isprint((unsigned char)detail[i]) ? detail[i] : '?';
        shown[n] = '\0';
        err->code = code;
        err->offset = self->header_at;
        err->length = length;
        if (code == FRAME_ETOOBIG)
            snprintf(err->text, sizeof err->text, "%s: %zu bytes, the limit is %zu", frame_strerror(code),
                     length, self->max_body);
        else if (detail && detail_len)
            snprintf(err->text, sizeof err->text, "%s at byte %zu: '%s%s'", frame_strerror(code),
                     self->header_at, shown, detail_len > n ? "..." : "");
        else
            snprintf(err->text, sizeof err->text, "%s at byte %zu", frame_strerror(code), self->header_at);
    }
    return code;
}

/* Skips a bad header block of `block` bytes: up to a later Content-Length
 * field inside it, which likely starts the next real message, or past it. */
static void resync(struct frame_decoder *self, size_t block)
{
    const char *p = self->buf + self->start;
    long at = find_length_field(p, 1, block);

    drop(self, at > 0 ? (size_t)at : block);
}

/* Parses one header line p[0..n) (without its line end). Returns 0 and
 * sets *length when it is Content-Length, 0 for another valid field, or an
 * error code. */
static int parse_field(const char *p, size_t n, long long *length)
{
    const char *colon = memchr(p, ':', n);
    size_t name_len, i;
    unsigned long long v = 0;

    if (!colon || colon == p)
        return FRAME_EHEADER;
    name_len = (size_t)(colon - p);
    for (i = 0; i < name_len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= ' ' || c >= 127 || strchr("()<>@,;:\\\"/[]?={}", c))
            return FRAME_EHEADER;
    }
    if (name_len != sizeof length_field - 1 || strncasecmp(p, length_field, name_len) != 0)
        return 0;
    i = name_len + 1;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i == n)
        return FRAME_EBADLENGTH;
    for (; i < n && isdigit((unsigned char)p[i]); i++) {
        v = v * 10 + (unsigned)(p[i] - '0');
        if (v > (unsigned long long)INT64_MAX / 16)
            return FRAME_EBADLENGTH;
    }
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i != n)
        return FRAME_EBADLENGTH;
    if (*length >= 0 && (unsigned long long)*length != v)
        return FRAME_EBADLENGTH;
    *length = (long long)v;
    return 0;
}

int frame_decoder_next(struct frame_decoder *self, const char **body, size_t *len,
                       struct frame_error *err)
{
    for (;;) {
        const char *p = self->buf ? self->buf + self->start : "";
        size_t avail = self->len - self->start;
        size_t pos = 0, block = 0;
        long long length = -1;
        int rc = 0;
        const char *bad = NULL;
        size_t bad_len = 0;

        if (self->skip > 0) {
            size_t d = avail < self->skip ? avail : self->skip;

            drop(self, d);
            self->skip -= d;
            if (self->skip > 0)
                return 0;
            continue;
        }
        if (self->body >= 0) {
            if (avail < (size_t)self->body)
                return 0;
            *body = p;
            *len = (size_t)self->body;
            drop(self, (size_t)self->body);
            self->body = -1;
            return 1;
        }

        if (avail == 0)
            return 0;
        /* Blank lines between messages are tolerated. */
        while (pos < avail && (p[pos] == '\r' || p[pos] == '\n'))
            pos++;
        if (pos > 0) {
            drop(self, pos);
            continue;
        }
        self->header_at = self->consumed;

        /* Find the end of the header block: an empty line. */
        for (;;) {
            const char *nl = memchr(p + pos, '\n', avail - pos);
            size_t line_len;

            if (!nl) {
                if (avail > FRAME_MAX_HEADER) {
                    long at = find_length_field(p, 1, avail);
                    drop(self, at > 0 ? (size_t)at : avail - (sizeof length_field));
                    return fail(self, err, FRAME_EHEADERSIZE, 0, p, 0);
                }
                return 0;
            }
            line_len = (size_t)(nl - (p + pos));
            if (line_len > 0 && p[pos + line_len - 1] == '\r')
                line_len--;
            if (line_len == 0) {
                block = (size_t)(nl - p) + 1;
                break;
            }
            if (rc == 0) {
                rc = parse_field(p + pos, line_len, &length);
                if (rc != 0) {
                    bad = p + pos;
                    bad_len = line_len;
                }
            }
            pos = (size_t)(nl - p) + 1;
            if (pos > FRAME_MAX_HEADER) {
                resync(self, pos);
                return fail(self, err, FRAME_EHEADERSIZE, 0, NULL, 0);
            }
        }

        if (rc == 0 && length < 0) {
            rc = FRAME_ENOLENGTH;
            bad = p;
            bad_len = block;
        }
        if (rc != 0) {
            /* Keep the detail: resync only moves `start`, the bytes stay. */
            rc = fail(self, err, rc, 0, bad, bad_len);
            resync(self, block);
            return rc;
        }
        drop(self, block);
        if ((unsigned long long)length > self->max_body) {
            size_t have = self->len - self->start;
            size_t d = have < (size_t)length ? have : (size_t)length;

            drop(self, d);
            self->skip = (size_t)length - d;
            return fail(self, err, FRAME_ETOOBIG, (size_t)length, NULL, 0);
        }
        self->body = length;
    }
}

size_t frame_header(char *buf, size_t body_len)
{
    return (size_t)snprintf(buf, FRAME_HEADER_SIZE, "Content-Length: %zu\r\n\r\n", body_len);
}

char *frame_encode(const char *body, size_t body_len, size_t *out_len)
{
    char head[FRAME_HEADER_SIZE];
    size_t n = frame_header(head, body_len);
    char *out = malloc(n + body_len + 1);

    if (!out)
        return NULL;
    memcpy(out, head, n);
    memcpy(out + n, body, body_len);
    out[n + body_len] = '\0';
    *out_len = n + body_len;
    return out;
}
