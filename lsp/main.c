/* hotc's entry point: argv, build the server, run the loop; nothing else. */
#include <stdio.h>
#include <string.h>

#include "grammar.h"

static void usage(FILE *out)
{
    fputs("usage: hotc <command> [options]\n"
          "\n"
          "hot code reloading for C, driven from the editor\n"
          "\n"
          "commands:\n"
          "  lsp [--stdio] [--log FILE]   speak the Language Server Protocol on stdio\n"
          "\n"
          "options:\n"
          "  --version                    print the version and exit\n"
          "  --help                       print this help and exit\n",
          out);
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
    if (grammar_check(err, sizeof err) != 0) {
        fprintf(stderr, "hotc: %s\n", err);
        return 1;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    fprintf(stderr, "hotc: unknown command '%s'; see hotc --help\n", argv[1]);
    return 2;
}
