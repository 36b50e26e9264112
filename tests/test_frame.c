/* lsp/frame: Content-Length decoding in arbitrary chunks, malformed headers
 * with resynchronisation, oversize bodies skipped without buffering. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* Feeds `input` in chunks of `chunk` bytes and collects every body and
 * error as a line: "ok:<body>" or "err:<code>". */
static void decode(const char *input, size_t input_len, size_t chunk, size_t max, char *out, size_t size)
{
    struct frame_decoder d;
    size_t at = 0, used = 0;

    frame_decoder_init(&d, max);
    out[0] = '\0';
    while (at < input_len) {
        size_t n = input_len - at < chunk ? input_len - at : chunk;
        const char *body;
        size_t len;
        struct frame_error err;
        int rc;

        cr_assert_eq(frame_decoder_feed(&d, input + at, n), 0);
        at += n;
        while ((rc = frame_decoder_next(&d, &body, &len, &err)) != 0) {
            if (rc == 1)
                used += (size_t)snprintf(out + used, size - used, "ok:%.*s\n", (int)len, body);
            else {
                cr_assert_eq(err.code, rc);
                cr_assert(err.text[0] != '\0');
                used += (size_t)snprintf(out + used, size - used, "err:%d\n", rc);
            }
        }
    }
    frame_decoder_release(&d);
}

static void check_all_chunkings(const char *input, size_t max, const char *expected)
{
    char out[4096];
    size_t len = strlen(input);

    for (size_t chunk = 1; chunk <= len; chunk++) {
        decode(input, len, chunk, max, out, sizeof out);
        cr_assert_str_eq(out, expected, "chunk %zu", chunk);
    }
}

Test(frame, decodes_messages_in_any_chunking)
{
    check_all_chunkings("Content-Length: 2\r\n\r\n{}Content-Length: 7\r\n\r\n[1,2,3]", 100,
                        "ok:{}\nok:[1,2,3]\n");
}

Test(frame, ignores_other_fields_and_case)
{
    check_all_chunkings("Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
                        "content-length:   3\r\n\r\nabc",
                        100, "ok:abc\n");
}

Test(frame, empty_body_is_a_message)
{
    check_all_chunkings("Content-Length: 0\r\n\r\nContent-Length: 1\r\n\r\nx", 100, "ok:\nok:x\n");
}

Test(frame, missing_length_is_reported_and_skipped)
{
    check_all_chunkings("Content-Lenght: 2\r\n\r\nContent-Length: 2\r\n\r\nok", 100, "err:-2\nok:ok\n");
}

Test(frame, bad_length_is_reported)
{
    check_all_chunkings("Content-Length: 12x\r\n\r\nContent-Length: 2\r\n\r\nok", 100, "err:-3\nok:ok\n");
    check_all_chunkings("Content-Length: -1\r\n\r\nContent-Length: 2\r\n\r\nok", 100, "err:-3\nok:ok\n");
    check_all_chunkings("Content-Length: 99999999999999999999999\r\n\r\nContent-Length: 2\r\n\r\nok", 100,
                        "err:-3\nok:ok\n");
}

Test(frame, garbage_before_a_header_resyncs_to_it)
{
    /* What remains of a message whose head was eaten by an earlier body that
     * was declared too long. */
    check_all_chunkings("\"id\":2}}Content-Length: 2\r\n\r\nok", 100, "err:-1\nok:ok\n");
}

Test(frame, oversize_body_is_skipped)
{
    check_all_chunkings("Content-Length: 20\r\n\r\n01234567890123456789Content-Length: 2\r\n\r\nok", 10,
                        "err:-4\nok:ok\n");
}

Test(frame, oversize_error_carries_the_length)
{
    struct frame_decoder d;
    struct frame_error err;
    const char *body;
    size_t len;
    const char *in = "Content-Length: 50000000\r\n\r\nxx";

    frame_decoder_init(&d, 1000);
    frame_decoder_feed(&d, in, strlen(in));
    cr_assert_eq(frame_decoder_next(&d, &body, &len, &err), FRAME_ETOOBIG);
    cr_assert_eq(err.length, 50000000);
    cr_assert_eq(err.offset, 0);
    cr_assert(strstr(err.text, "50000000") != NULL, "%s", err.text);
    /* The body is not buffered. */
    {
        char *big = calloc(1, 1 << 20);
        for (int i = 0; i < 47; i++)
            frame_decoder_feed(&d, big, 1 << 20);
        free(big);
    }
    cr_assert_lt(d.cap, 1 << 16);
    cr_assert_eq(frame_decoder_next(&d, &body, &len, &err), 0);
    frame_decoder_release(&d);
}

Test(frame, endless_header_is_refused)
{
    char in[FRAME_MAX_HEADER + 100];
    char out[256];

    memset(in, 'a', sizeof in);
    strcpy(in + sizeof in - 30, "Content-Length: 1\r\n\r\nz");
    decode(in, strlen(in), 4096, 100, out, sizeof out);
    cr_assert_str_eq(out, "err:-5\nok:z\n");
}

Test(frame, encode_round_trips)
{
    size_t n;
    char *msg = frame_encode("{\"a\":1}", 7, &n);
    char out[256];

    cr_assert_str_eq(msg, "Content-Length: 7\r\n\r\n{\"a\":1}");
    cr_assert_eq(n, strlen(msg));
    decode(msg, n, 3, 100, out, sizeof out);
    cr_assert_str_eq(out, "ok:{\"a\":1}\n");
    free(msg);
}

Test(frame, strerror_names_every_code)
{
    cr_assert_str_eq(frame_strerror(FRAME_ENOLENGTH), "header has no Content-Length");
    cr_assert_str_eq(frame_strerror(12345), "unknown error");
}
