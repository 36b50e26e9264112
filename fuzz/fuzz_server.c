/* Fuzz target: the language server's input, the whole method table
 * (lsp/server.c over lsp/transport.c, lsp/jsonrpc.c, lsp/protocol.c,
 * lsp/docstore.c and lsp/analysis.c), without the reload pipeline (no
 * compiler, no socket). The input is the editor's byte stream: as is when
 * it starts with "Content-Length", else one JSON message per line, each
 * framed here, so that the fuzzer mutates messages rather than headers.
 * The server reads it all, then sees the end of its input and must exit
 * cleanly (ASan checks for leaks after each input, fuzz/tsalloc.c that
 * every tree and parser was deleted). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "server.h"
#include "tsalloc.h"

#define FUZZ_MAX_INPUT (256u * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_tsalloc_install();
    return 0;
}

/* The stream to feed: `data` itself, or its lines framed (new buffer). */
static char *stream_of(const uint8_t *data, size_t size, size_t *len)
{
    int raw = size >= 14 && memcmp(data, "Content-Length", 14) == 0;
    size_t lines = 1;
    for (size_t i = 0; !raw && i < size; i++)
        lines += data[i] == '\n';
    /* a header is at most 40 bytes ("Content-Length: " + 20 digits + CRLFs) */
    char *out = malloc(size + (raw ? 0 : 40 * lines) + 1);
    if (!out)
        return NULL;
    if (raw) {
        memcpy(out, data, size);
        *len = size;
        return out;
    }
    size_t n = 0;
    for (size_t at = 0; at < size;) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t line = nl ? (size_t)(nl - (data + at)) : size - at;
        n += (size_t)sprintf(out + n, "Content-Length: %zu\r\n\r\n", line);
        memcpy(out + n, data + at, line);
        n += line;
        at += line + 1;
    }
    *len = n;
    return out;
}

static void close_left(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    size_t len;
    if (size > FUZZ_MAX_INPUT)
        return 0;
    char *stream = stream_of(data, size, &len);
    if (!stream || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        free(stream);
        return 0;
    }
    int buf = (int)(len + 4096) * 2;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    size_t sent = 0;
    while (sent < len) {
        ssize_t k = write(sv[1], stream + sent, len - sent);
        if (k <= 0)
            break;
        sent += (size_t)k;
    }
    shutdown(sv[1], SHUT_WR);
    free(stream);
    int out = open("/dev/null", O_WRONLY | O_CLOEXEC);

    uv_loop_t loop;
    uv_loop_init(&loop);
    struct server_options opt = { .in_fd = sv[0], .out_fd = out };
    struct server *server = server_new(&loop, &opt);
    if (server && server_start(server) == 0)
        uv_run(&loop, UV_RUN_DEFAULT);
    /* as lsp/main.c does: the handles left (the server's timers) closed
     * before the server they live in is freed */
    uv_walk(&loop, close_left, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    server_free(server);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        abort(); /* a handle still open: its memory would leak every input */
    close(sv[1]);
    close(out);
    fuzz_tsalloc_check();
    return 0;
}
