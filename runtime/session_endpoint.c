/* Which endpoint the runtime's thread connects to, and whether it may
 * (part of runtime/session.c's thread; docs/security.md): the endpoint
 * named by hot_init or $HOTC_ENDPOINT, else the endpoint file, taken only
 * from a private folder and file of ours; the endpoint file beside a named
 * socket that is gone; the marker that says whether the server keeps state
 * for this program; and the connection, a Unix socket used only once
 * SO_PEERCRED says its server runs as our uid. Why an endpoint was refused
 * is recorded with session__distrusted, for the next trusted server. */
#include "session_impl.h"

#include "hot.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Whether `st` (of `path`, a directory when `dir`) is ours and private
 * enough to take an endpoint from: owned by our uid (or root), and nobody
 * else may write it (a directory: nobody else may enter it either, 0700).
 * Records why not. Another local user who can plant the file, or swap it
 * in a folder they can write, chooses the library we load. */
static int trusted_stat(const char *path, const struct stat *st, int dir)
{
    uid_t me = geteuid();
    if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) {
        session__distrusted("refused endpoint %s: not a %s; remove it and restart the hotc server", path,
                            dir ? "directory" : "regular file");
        return 0;
    }
    if (st->st_uid != me && st->st_uid != 0) {
        session__distrusted("refused endpoint %s: it belongs to uid %u, not to this program's uid %u; "
                            "remove it, or set HOTC_ENDPOINT", path, (unsigned)st->st_uid, (unsigned)me);
        return 0;
    }
    if ((st->st_mode & (dir ? 077 : 022)) != 0) {
        session__distrusted("refused endpoint %s: mode %03o lets other users %s it; chmod %s %s", path,
                            (unsigned)(st->st_mode & 0777), dir ? "into" : "write", dir ? "700" : "600", path);
        return 0;
    }
    return 1;
}

/* The endpoint named by the file `<dir>/endpoint` (a new string the
 * caller frees), or NULL when it is missing, unreadable or not trusted
 * (trusted_stat: the folder and the file). */
static char *read_endpoint_file(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/endpoint", dir);
    struct stat st;
    if (lstat(dir, &st) != 0)
        return NULL;
    if (!trusted_stat(dir, &st, 1))
        return NULL;
    /* The file as opened (no symbolic link) is the one checked. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ELOOP)
            session__distrusted("refused endpoint %s: it is a symbolic link; remove it", path);
        return NULL;
    }
    char line[600] = "";
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && trusted_stat(path, &st, 0))
        n = read(fd, line, sizeof line - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    line[n] = 0;
    line[strcspn(line, "\r\n")] = 0;
    return *line ? strdup(line) : NULL;
}

/* The endpoint to try now (a new string the caller frees), or NULL when
 * none is configured or the endpoint file is unreadable or not trusted:
 * the caller retries later, so a server started after the program is
 * found. `*named` tells whether it was named (hot_init's argument or
 * $HOTC_ENDPOINT) rather than read from the endpoint file. */
char *session__find_endpoint(int *named)
{
    *named = 1;
    if (session__fixed_endpoint)
        return strdup(session__fixed_endpoint);
    const char *env = getenv(HOT_ENV_ENDPOINT);
    if (env && *env)
        return strdup(env);
    *named = 0;
    char dir[512];
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/hotc", xdg);
    else
        snprintf(dir, sizeof dir, "/tmp/hotc-%u", (unsigned)getuid());
    return read_endpoint_file(dir);
}

/* Whether the server at Unix endpoint `ep` may keep state of this
 * program's last run: it leaves a marker beside its socket for each
 * executable it keeps state for, or is saving state for,
 * `state-<base name>-<hash of the path>` (lsp/handover.c). Without one,
 * hot_init does not wait for the attach answer. A TCP endpoint (a server
 * whose files this program cannot see) always may. */
int session__server_may_keep_state(const char *ep)
{
    char exe[4096], dir[512], name[64], marker[700];
    uint64_t h = 0xcbf29ce484222325ull;
    if (strncmp(ep, "unix:", 5) != 0)
        return 1;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 1;
    exe[n] = '\0';
    snprintf(dir, sizeof dir, "%s", ep + 5);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 1;
    *slash = '\0';
    for (const char *c = exe; *c; c++) {
        h ^= (unsigned char)*c;
        h *= 0x100000001b3ull;
    }
    const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    size_t len = strlen(base) < sizeof name - 1 ? strlen(base) : sizeof name - 1;
    memcpy(name, base, len);
    name[len] = '\0';
    for (char *c = name; *c; c++)
        if (*c == '.' || *c == ' ')
            *c = '_';
    snprintf(marker, sizeof marker, "%s/state-%s-%016llx", dir, name, (unsigned long long)h);
    return access(marker, F_OK) == 0;
}

/* For a named Unix endpoint that no longer answers: the endpoint in the
 * file next to its socket (a new string, or NULL). A server names its
 * socket after its pid, so the one a program was started with dies with
 * that server; the server that replaced it wrote its own into the same
 * folder's endpoint file. */
char *session__endpoint_beside(const char *ep)
{
    if (strncmp(ep, "unix:", 5) != 0)
        return NULL;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", ep + 5);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return NULL;
    *slash = 0;
    char *found = read_endpoint_file(dir);
    if (found && strcmp(found, ep) == 0) { /* the same dead socket */
        free(found);
        return NULL;
    }
    return found;
}

/* Whether the process at the other end of Unix socket `fd` runs as our uid
 * (or root), from the kernel's SO_PEERCRED: anyone else could serve us a
 * library whose constructor runs on dlopen, before any other check.
 * Records why not. */
static int trusted_peer(int fd, const char *ep)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    uid_t me = geteuid();
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        session__distrusted("refused endpoint %s: cannot tell who serves it (%s)", ep, strerror(errno));
        return 0;
    }
    if (cred.uid != me && cred.uid != 0) {
        session__distrusted("refused endpoint %s: its server (pid %ld) runs as uid %u, not as this "
                            "program's uid %u; start hotc as this user", ep, (long)cred.pid,
                            (unsigned)cred.uid, (unsigned)me);
        return 0;
    }
    return 1;
}

/* Connects to `ep` ("unix:PATH" or "tcp:HOST:PORT"), blocking until the
 * connection is made or refused. A Unix socket must be served by our own
 * uid (trusted_peer) before anything is sent on it. Returns the connected
 * socket (the caller owns it), or -1 for any failure, including an
 * endpoint of another form: the caller retries quietly. */
int session__connect_to(const char *ep)
{
    if (strncmp(ep, "unix:", 5) == 0) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        if (strlen(ep + 5) >= sizeof a.sun_path)
            return -1;
        strcpy(a.sun_path, ep + 5);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && trusted_peer(fd, ep))
            return fd;
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (strncmp(ep, "tcp:", 4) == 0) {
        char host[256];
        snprintf(host, sizeof host, "%s", ep + 4);
        char *colon = strrchr(host, ':');
        if (!colon)
            return -1;
        *colon = 0;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
            return -1;
        int fd = -1;
        for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
            fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
            if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
                close(fd);
                fd = -1;
            }
        }
        freeaddrinfo(res);
        return fd;
    }
    return -1;
}
