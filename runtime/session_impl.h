/* The session's own shared insides: what its files share. runtime/session.c
 * (the thread, the connection and what is sent on it), session_endpoint.c
 * (which endpoint, and whether to trust it) and session_requests.c (the
 * server's messages read and answered). Private to them and to
 * fuzz/fuzz_runtime.c: nothing else includes this. Hidden, like everything
 * in libhotc but hot_* (the pragma says so even without
 * -fvisibility=hidden), and named session__*, so that a program linked with
 * libhotc.a meets none of these names. See session.h for what the session
 * does, and each file for its part. */
#ifndef HOTC_SESSION_IMPL_H
#define HOTC_SESSION_IMPL_H

#include <jansson.h>
#include <stddef.h>

#pragma GCC visibility push(hidden)

struct reload_plan;
struct migrations;
void session__migrations_free(struct migrations *m);

/* What the background thread leaves for hot_poll. */
struct pending {
    json_t *id;               /* the request's id (owned) */
    struct reload_plan *plan; /* NULL: a rollback */
    struct migrations *mig;   /* the typed blocks' migrations of the reload (owned), or NULL */
    unsigned generation;      /* the connection the request came on */
};

/* Bytes read from the server, not yet cut into messages. */
struct reader {
    char *buf;
    size_t len, cap;
};

/* ---------------------------------------------------------------- session.c */

extern int session__auto_mode;         /* HOT_MODE_AUTO: reloads applied on the runtime's thread */
extern char *session__fixed_endpoint;  /* hot_init's endpoint, or NULL */
extern unsigned session__generation;   /* counts connections */
extern int session__attach_id;         /* the id of this connection's hot/attach */
extern int session__saved_state;       /* the server said it keeps state for this program */

/* Answers to a request, queued for the runtime's thread to send. */
void session__respond(json_t *id, json_t *result);
void session__respond_error(json_t *id, int code, const char *message);
void session__post(json_t *msg, unsigned gen, int droppable);
void session__discard_backlog(void);
/* Records why an endpoint or a server was not trusted. */
void session__distrusted(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---------------------------------------------------------------- session_endpoint.c */

char *session__find_endpoint(int *named);
int session__server_may_keep_state(const char *ep);
char *session__endpoint_beside(const char *ep);
int session__connect_to(const char *ep);

/* ---------------------------------------------------------------- session_requests.c */

extern struct pending *session__pending;
void session__open_gate(void);
void session__remove_library_dir(void);
int session__next_message(struct reader *r, json_t **out);
void session__dispatch(json_t *msg);

#pragma GCC visibility pop

#endif
