/* echo: a small server-style program for trying hotc's automatic mode. It
 * spends its life blocked in read() (or poll()) on standard input (a pipe, a
 * terminal, or a socket handed to it), so it has no loop in which to call
 * hot_poll(): reloads are applied by the runtime's own thread while the
 * program's threads are stopped or asleep in the kernel. The read() or poll()
 * it is blocked in carries on; it must not fail with EINTR (counted below;
 * any makes the program exit with status 1).
 *
 * Each line read is answered by format_reply(), which is HOT: edit it, save,
 * and the next reply uses the new code. The request counter survives.
 *
 *   ./echo                  type lines; Ctrl-D quits (blocks in read())
 *   ./echo --poll           the same, blocking in poll() before each read()
 *   printf 'a\nb\n' | ./echo
 *
 * Every reply is one line:  #<count> v<version> <text made by format_reply>
 */
#include <hot.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* State that must survive reloads: a global and a file-scope static. */
long requests;
static long interrupted; /* reads that failed with EINTR: must stay 0 */
static long poll_retries; /* polls that returned EINTR: also expected to stay 0 */

/* Formats the reply to one request line (without its newline) into out. */
HOT void format_reply(char *out, size_t size, const char *line, long count)
{
    (void)count;
    snprintf(out, size, "echo: %s", line);
}

/* Answers one complete line. */
static void answer(const char *line)
{
    char reply[1200];
    requests++;
    format_reply(reply, sizeof reply, line, requests);
    printf("#%ld v%d %s\n", requests, hot_version(), reply);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    char buf[1024];
    size_t have = 0;
    int use_poll = argc > 1 && strcmp(argv[1], "--poll") == 0;

    if (argc > 1 && !use_poll) {
        fprintf(stderr, "usage: echo [--poll]\n");
        return 2;
    }
    /* Automatic mode: no hot_poll() anywhere. HOTC_MODE=auto does the same
     * for a program that calls plain hot_init(). */
    int err = hot_init_mode(NULL, HOT_MODE_AUTO);
    if (err < 0)
        fprintf(stderr, "echo: hot reload unavailable: %s\n", hot_strerror(err));

    for (;;) {
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        if (use_poll && poll(&pfd, 1, -1) < 0) {
            if (errno == EINTR) {
                poll_retries++;
                continue;
            }
            perror("echo: poll");
            return 1;
        }

        ssize_t n = read(STDIN_FILENO, buf + have, sizeof buf - 1 - have);
        if (n < 0) {
            if (errno == EINTR) {
                interrupted++;
                fprintf(stderr, "echo: read interrupted (%ld)\n", interrupted);
                continue;
            }
            perror("echo: read");
            return 1;
        }
        if (n == 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';

        /* Answer every complete line; keep the rest for the next read. */
        char *start = buf, *nl;
        while ((nl = strchr(start, '\n')) != NULL) {
            *nl = '\0';
            answer(start);
            start = nl + 1;
        }
        have = strlen(start);
        memmove(buf, start, have);
        if (have == sizeof buf - 1) { /* a line too long for the buffer */
            answer(buf);
            have = 0;
        }
    }
    if (have > 0) {
        buf[have] = '\0';
        answer(buf);
    }
    fprintf(stderr, "echo: %ld requests, %ld interrupted reads, %ld poll retries\n", requests,
            interrupted, poll_retries);
    hot_shutdown();
    return interrupted || poll_retries ? 1 : 0;
}
