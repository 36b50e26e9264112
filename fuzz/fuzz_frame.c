/* Fuzz target: the Content-Length frame decoder (lsp/frame.c), shared by the
 * editor transport and the runtime socket. The input is the byte stream,
 * fed in chunks whose sizes come from its first bytes; every body the
 * decoder returns must be within the limit, and must come back unchanged
 * through the encoder and a second decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes one framed body again with a fresh decoder and checks it. */
static void round_trip(const char *body, size_t len)
{
    size_t framed_len;
    char *framed = frame_encode(body, len, &framed_len);
    if (!framed)
        return;
    struct frame_decoder again;
    const char *out;
    size_t out_len;
    frame_decoder_init(&again, len + 1);
    if (frame_decoder_feed(&again, framed, framed_len) != 0 ||
        frame_decoder_next(&again, &out, &out_len, NULL) != 1 || out_len != len ||
        (len && memcmp(out, body, len) != 0))
        abort();
    frame_decoder_release(&again);
    free(framed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max_body = 16u << (data[0] & 7); /* 16 B .. 2 KiB: oversize bodies happen */
    unsigned step = data[1];
    data += 2;
    size -= 2;
    struct frame_decoder dec;
    frame_decoder_init(&dec, max_body);
    for (size_t at = 0; at < size;) {
        size_t chunk = 1 + (step % 97);
        step = step * 1103515245u + 12345u;
        if (chunk > size - at)
            chunk = size - at;
        if (frame_decoder_feed(&dec, (const char *)data + at, chunk) != 0)
            break;
        at += chunk;
        for (;;) {
            const char *body;
            size_t len;
            struct frame_error err;
            int rc = frame_decoder_next(&dec, &body, &len, &err);
            if (rc == 0)
                break;
            if (rc > 0) {
                if (len > max_body)
                    abort();
                round_trip(body, len);
            } else if (rc < FRAME_ENOMEM || strlen(err.text) >= sizeof err.text) {
                abort();
            }
        }
    }
    frame_decoder_release(&dec);
    return 0;
}
