/* The socket runtimes attach to (docs/protocol.md, "Server <-> runtime"): a
 * Unix socket in a private directory (mode 0700, peer uid checked), the
 * endpoint file for programs started by hand, optionally a TCP socket for
 * programs on other machines (a per-link random token required in
 * hot/attach), JSON-RPC 2.0 with
 * Content-Length framing (lsp/frame.h), the attached programs, and requests
 * pushed to them (hot/reload, hot/rollback) with their answers and
 * round-trip times. Knows nothing of LSP. */
#ifndef HOTC_LINK_H
#define HOTC_LINK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define LINK_ERRNO_MAP(X)                                                      \
    X(NOMEM, -1, "out of memory")                                              \
    X(DIR, -2, "cannot create the private socket directory")                   \
    X(LISTEN, -3, "cannot listen on the socket")                               \
    X(NOPROGRAM, -4, "no such program attached")                               \
    X(DETACHED, -5, "the program detached before answering")                   \
    X(CLOSED, -6, "the server is shutting down")                               \
    X(TOKEN, -7, "cannot make a token")

enum link_error {
#define LINK__ENUM(name, value, text) LINK_E##name = (value),
    LINK_ERRNO_MAP(LINK__ENUM)
#undef LINK__ENUM
};

const char *link_strerror(int err);

/* The JSON-RPC error code of a hot/attach over TCP without the right token
 * (the connection is closed after it). */
#define LINK_RPC_UNAUTHORIZED -32001

struct link;

/* An attached program. Borrowed; valid until its `detached` callback
 * returns. */
struct link_program {
    int id;               /* the session number, unique for the link's life */
    long pid;
    const char *executable;
    const char *build_id;
    const char *arch;
    bool remote;          /* attached over TCP: patches travel as bytes */
    json_t *attach;       /* the hot/attach params, borrowed */
};

struct link_callbacks {
    void (*attached)(struct link *link, const struct link_program *program, void *user);
    /* `reason` is the runtime's (hot/detach) or "disconnected" */
    void (*detached)(struct link *link, const struct link_program *program, const char *reason,
                     void *user);
    /* hot/crash, hot/log, hot/state, hot/save and hot/detach params, borrowed
     * (hot/detach is followed by `detached` when the connection ends) */
    void (*notified)(struct link *link, const struct link_program *program, const char *method,
                     json_t *params, void *user);
    /* hot/exited params, borrowed: how a program ended, from `hotc exec`
     * (on a connection of its own that never attaches; over TCP only with
     * the token); may be NULL */
    void (*exited)(struct link *link, json_t *params, void *user);
    /* may be NULL: adds members to the hot/attach result (borrowed) just
     * before it is sent, ahead of `attached` */
    void (*attaching)(struct link *link, const struct link_program *program, json_t *result, void *user);
};

/* Listens in `dir` (NULL: $XDG_RUNTIME_DIR/hotc, else /tmp/hotc-<uid>),
 * creating it with mode 0700 (refusing one owned by another user or open to
 * others), on `<dir>/<pid>.sock`, and writes `<dir>/endpoint` atomically.
 * Returns 0 and the link in *out, or a negative LINK_E* with a reason in
 * `err`. */
int link_open(struct link **out, uv_loop_t *loop, const char *dir, const struct link_callbacks *cb,
              void *user, char *err, size_t errsize);

/* What a TCP connection may do before it has shown the token: its longest
 * message (a longer one, or any malformed one, closes it), its time to
 * send hot/attach, and how many such connections are kept at once (more
 * are closed as they arrive). link_open sets 1 MiB, 10 s and 16. */
struct link_limits {
    size_t preauth_message;
    int auth_timeout_ms;
    int max_preauth;
};

/* Replaces the limits for connections accepted from now on. */
void link_set_limits(struct link *self, const struct link_limits *limits);

/* "unix:/abs/path.sock". Borrowed. */
const char *link_endpoint(const struct link *self);

/* Also listens on TCP at `host` (a numeric IPv4/IPv6 address; NULL:
 * 127.0.0.1) and `port` (0: any free port), replacing an earlier TCP
 * socket of this link. Programs that connect there must send the link's
 * token in hot/attach (`token`), or get error LINK_RPC_UNAUTHORIZED and
 * are disconnected. The token (32 hex digits from /dev/urandom) is made
 * once per link, so it stays the same across calls. Returns 0, or
 * LINK_ELISTEN / LINK_ETOKEN / LINK_ECLOSED with a reason in `err`. */
int link_listen_tcp(struct link *self, const char *host, int port, char *err, size_t errsize);

/* Stops listening on TCP (programs attached over it stay). */
void link_stop_tcp(struct link *self);

/* "tcp:HOST:PORT" (the port actually bound) while listening on TCP, else
 * NULL. Borrowed. */
const char *link_tcp_endpoint(const struct link *self);

/* The token remote programs must send, or NULL before link_listen_tcp.
 * Borrowed. */
const char *link_token(const struct link *self);

/* The attached programs (at most `max`, in attach order); returns how many
 * there are in all. */
size_t link_programs(struct link *self, const struct link_program **out, size_t max);

/* Called once per request: with the result (borrowed) or, on a JSON-RPC error
 * or a detach, `result` NULL and `error` saying why. `rtt_us` is the time
 * from sending to the answer. */
typedef void (*link_result_cb)(struct link *link, const struct link_program *program, json_t *result,
                               const char *error, uint64_t rtt_us, void *user);

/* Sends request `method` with `params` (stolen) to program `id`. Returns 0,
 * or a negative LINK_E* (and `cb` is not called). */
int link_request(struct link *self, int id, const char *method, json_t *params, link_result_cb cb,
                 void *user);

/* Closes every connection (pending requests get "the server is shutting
 * down"), stops listening, removes the socket and the endpoint file (if it
 * still names this server). The link is freed once its handles are closed,
 * as the loop runs on. */
void link_close(struct link *self);

#endif
