/* hotc's entry point: argv, build the server, run the loop; nothing else. */
#include <signal.h>
#include <stdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <uv.h>

#include "exec.h"
#include "grammar.h"
#include "log.h"
#include "pipeline.h"
#include "server.h"

static void usage(FILE *out)
{
    fputs("usage: hotc <command> [options]\n"
          "\n"
          "hot code reloading for C, driven from the editor\n"
          "\n"
          "commands:\n"
          "  lsp [--stdio] [--log FILE]   speak the Language Server Protocol on stdio\n"
          "  exec [--] PROGRAM [ARGS...]  run PROGRAM and tell the server how it ended\n"
          "                               (what the editor's terminal runs)\n"
          "\n"
          "options:\n"
          "  --version                    print the version and exit\n"
          "  --help                       print this help and exit\n",
          out);
}

static void close_handle(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

static int run_lsp(int argc, char **argv)
{
    uv_loop_t loop;
    struct server *server;
    struct pipeline *pipeline;
    struct server_hooks hooks;
    int code;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--stdio") == 0)
            continue;
        if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
            int rc = log_open(argv[++i]);
            if (rc != 0) {
                fprintf(stderr, "hotc: cannot open the log file %s: %s\n", argv[i], strerror(-rc));
                return 2;
            }
            continue;
        }
        fprintf(stderr, "hotc: unknown option '%s' for lsp; see hotc --help\n", argv[i]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
#ifdef __GLIBC__
    /* the loop and the workers share two heaps: with one arena per worker,
     * each kept the pages of the large parses it did (100 open files of
     * 20 KB: 30.7 MB instead of 24.5, docs/performance.md) */
    mallopt(M_ARENA_MAX, 2);
#endif
    uv_loop_init(&loop);
    server = server_new(&loop, NULL);
    pipeline = pipeline_new(&loop);
    if (server && pipeline) {
        hooks = pipeline_hooks(pipeline);
        server_set_hooks(server, &hooks);
    }
    if (!server || !pipeline || server_start(server) != 0) {
        fprintf(stderr, "hotc: cannot start the language server on stdio\n");
        server_free(server);
        pipeline_free(pipeline);
        log_close();
        return 1;
    }
    log_info("hotc %s started", HOTC_VERSION);
    uv_run(&loop, UV_RUN_DEFAULT);
    /* Handles left by anyone (the pipeline's sockets, timers) are closed. */
    uv_walk(&loop, close_handle, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    code = server_exit_code(server);
    pipeline_free(pipeline);
    server_free(server);
    uv_loop_close(&loop);
    log_close();
    return code;
}

int main(int argc, char **argv)
{
    char err[512];

    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("hotc %s\n", HOTC_VERSION);
        return 0;
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "exec") == 0)
        return exec_main(argc, argv);
    if (grammar_check(err, sizeof err) != 0) {
        fprintf(stderr, "hotc: %s\n", err);
        return 1;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "lsp") == 0)
        return run_lsp(argc, argv);
    fprintf(stderr, "hotc: unknown command '%s'; see hotc --help\n", argv[1]);
    return 2;
}
