/* exec: `hotc exec PROGRAM [ARGS...]`, what the editor's terminal runs when
 * the server starts a program there (see exec.h). */
#include "exec.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t child_pid;

const char *exec_signal_name(int sig)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {
        {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
        {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
        {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
        {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGXCPU, "SIGXCPU"},
        {SIGXFSZ, "SIGXFSZ"}, {SIGSYS, "SIGSYS"},
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (names[i].sig == sig)
            return names[i].name;
    return "a signal";
}

/* SIGTERM and SIGHUP sent to us (the editor stopping the terminal) are
 * the program's: passed on. */
static void forward(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

/* A stream socket connected to `endpoint` ("unix:/path" or
 * "tcp:host:port"), or -1. */
static int connect_endpoint(const char *endpoint)
{
    if (strncmp(endpoint, "unix:", 5) == 0) {
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        if (strlen(endpoint + 5) >= sizeof sa.sun_path)
            return -1;
        strcpy(sa.sun_path, endpoint + 5);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(fd);
            fd = -1;
        }
        return fd;
    }
    if (strncmp(endpoint, "tcp:", 4) != 0)
        return -1;
    char host[256];
    const char *colon = strrchr(endpoint + 4, ':');
    size_t n = colon ? (size_t)(colon - (endpoint + 4)) : 0;
    if (!colon || n == 0 || n >= sizeof host)
        return -1;
    memcpy(host, endpoint + 4, n);
    host[n] = '\0';
    if (host[0] == '[' && n > 2 && host[n - 1] == ']') { /* [::1] */
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* Tells the server how `pid` ended (hot/exited), best effort: without a
 * server, or when it is gone, nothing is said. */
static void report(pid_t pid, int status)
{
    const char *endpoint = getenv("HOTC_ENDPOINT"), *token = getenv("HOTC_TOKEN");
    if (!endpoint || !*endpoint)
        return;
    json_t *params = WIFSIGNALED(status)
                         ? json_pack("{s:I, s:i, s:s}", "pid", (json_int_t)pid, "signal", WTERMSIG(status),
                                     "signalName", exec_signal_name(WTERMSIG(status)))
                         : json_pack("{s:I, s:i}", "pid", (json_int_t)pid, "status", WEXITSTATUS(status));
    if (params && token && *token)
        json_object_set_new(params, "token", json_string(token));
    json_t *msg = json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", "hot/exited", "params", params);
    char *body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    int fd = body ? connect_endpoint(endpoint) : -1;
    if (fd >= 0) {
        char header[64];
        int hn = snprintf(header, sizeof header, "Content-Length: %zu\r\n\r\n", strlen(body));
        if (send(fd, header, (size_t)hn, MSG_NOSIGNAL) == hn)
            send(fd, body, strlen(body), MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        struct timeval limit = {2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        char drain[64]; /* until the server closes (it has read it), 2 s at most */
        while (read(fd, drain, sizeof drain) > 0)
            ;
        close(fd);
    }
    free(body);
}

/* Ends the way the program ended, so that the terminal (and the editor)
 * sees the same: its exit status, or its signal (without a core file of
 * ours). */
static int end_like(int status)
{
    if (!WIFSIGNALED(status))
        return WEXITSTATUS(status);
    int sig = WTERMSIG(status);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    kill(getpid(), sig);
    return 128 + sig; /* a signal that does not end a process */
}

int exec_main(int argc, char **argv)
{
    int first = 2;
    if (first < argc && strcmp(argv[first], "--") == 0)
        first++;
    if (first >= argc) {
        fprintf(stderr, "hotc exec: no program given; usage: hotc exec [--] PROGRAM [ARGS...]\n");
        return 2;
    }
    /* Ctrl-C and Ctrl-\ reach the program from the terminal itself (the
     * same process group): not ours to die of, nor to pass on twice; the
     * program gets them as we were given them */
    struct sigaction ignore, was_int, was_quit;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGINT, &ignore, &was_int);
    sigaction(SIGQUIT, &ignore, &was_quit);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "hotc exec: cannot start %s: %s\n", argv[first], strerror(errno));
        return 127;
    }
    if (pid == 0) {
        /* killed with us (SIGKILL from the editor): as if we were it */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        sigaction(SIGINT, &was_int, NULL);
        sigaction(SIGQUIT, &was_quit, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        execvp(argv[first], argv + first);
        fprintf(stderr, "hotc exec: cannot run %s: %s\n", argv[first], strerror(errno));
        _exit(127);
    }
    child_pid = pid;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "hotc exec: cannot wait for %s: %s\n", argv[first], strerror(errno));
            return 127;
        }
    child_pid = 0;
    report(pid, status);
    return end_like(status);
}
