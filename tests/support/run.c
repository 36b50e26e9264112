/* Implements tests/support/run.h: small, blocking process helpers for tests. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *build_dir(void)
{
    const char *env = getenv("HOTC_BUILD_DIR");
    return env && *env ? env : HOTC_BUILD_DIR;
}

const char *test_build_path(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", build_dir(), rel);
    return buf;
}

const char *test_source_path(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", HOTC_SOURCE_DIR, rel);
    return buf;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int test_run(char *const argv[], char *out, size_t size, int timeout_ms)
{
    int fds[2];
    size_t len = 0;
    int status = 0;
    pid_t pid;
    long long deadline = now_ms() + timeout_ms;

    if (pipe(fds) != 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        struct pollfd p = { .fd = fds[0], .events = POLLIN };
        long long left = deadline - now_ms();
        char chunk[4096];
        ssize_t n;

        if (left <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        n = read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (out && size > 0) {
            size_t room = size - 1 - len;
            size_t take = (size_t)n < room ? (size_t)n : room;
            memcpy(out + len, chunk, take);
            len += take;
        }
    }
    if (out && size > 0)
        out[len] = '\0';
    close(fds[0]);
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int test_libhotc_interposer(const char *name)
{
    static const char *const names[] = { "sigaction", "signal", "bsd_signal", "sysv_signal", "__sysv_signal" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0)
            return 1;
    return 0;
}

int test_have(const char *tool)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v '%s'", tool);
    char *argv[] = { "sh", "-c", cmd, NULL };
    return test_run(argv, NULL, 0, 10000) == 0;
}

char *test_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
        size_t got = fread(buf, 1, (size_t)n, f);
        buf[got] = '\0';
        if (len)
            *len = got;
    }
    fclose(f);
    return buf;
}
