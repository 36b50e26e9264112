/* Launching and watching the program the editor runs (see launcher.h).
 *
 * The program is started through uv_spawn, never a shell; its stdout and
 * stderr are pipes whose lines go to the log (the server's own stdout
 * carries protocol only). A restart sends SIGTERM and starts the same
 * command line again from the exit callback. */
#include "launcher.h"

#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "link.h"
#include "log.h"
#include "protocol.h"

extern char **environ;

/* The program started by hotc.server.run. */
struct launched {
    struct launcher *p;
    uv_process_t proc;
    uv_pipe_t out[2];
    int open_handles;
    bool exited;
    long pid;
    char line[2][2048];
    size_t line_len[2];
};

struct launcher {
    uv_loop_t *loop;
    struct server *server;   /* of the last command (borrowed) */
    struct link *link;       /* of the last command (borrowed; NULL once closed) */
    bool closing;
    json_t *program_cfg;     /* the "program" setting, or NULL */
    char *compile_commands;  /* the "compileCommands" setting, or NULL */
    struct launched *launched;
    char **run_argv;
    char *run_cwd;
    struct server_request *restart_req;
};

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, f);
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}


static void launched_maybe_free(struct launched *l)
{
    if (l->open_handles == 0)
        free(l);
}

static void on_launched_closed(uv_handle_t *h)
{
    struct launched *l = h->data;
    l->open_handles--;
    launched_maybe_free(l);
}

static void launched_flush(struct launched *l, int which, bool all)
{
    char *buf = l->line[which];
    size_t start = 0;

    for (size_t i = 0; i < l->line_len[which]; i++)
        if (buf[i] == '\n') {
            log_info("[%ld] %.*s", l->pid, (int)(i - start), buf + start);
            start = i + 1;
        }
    if (all && start < l->line_len[which]) {
        log_info("[%ld] %.*s", l->pid, (int)(l->line_len[which] - start), buf + start);
        start = l->line_len[which];
    }
    if (start == 0 && l->line_len[which] == sizeof l->line[which]) {
        log_info("[%ld] %.*s", l->pid, (int)l->line_len[which], buf);
        start = l->line_len[which];
    }
    memmove(buf, buf + start, l->line_len[which] - start);
    l->line_len[which] -= start;
}

static void on_launched_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct launched *l = h->data;
    int which = h == (uv_handle_t *)&l->out[1];

    (void)suggested;
    *buf = uv_buf_init(l->line[which] + l->line_len[which],
                       (unsigned)(sizeof l->line[which] - l->line_len[which]));
}

static void on_launched_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct launched *l = s->data;
    int which = s == (uv_stream_t *)&l->out[1];

    (void)buf;
    if (n > 0) {
        l->line_len[which] += (size_t)n;
        launched_flush(l, which, false);
    } else if (n < 0) {
        launched_flush(l, which, true);
        uv_read_stop(s);
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_launched_closed);
    }
}

static int launch(struct launcher *p, long *pid_out, char *err, size_t errsize);

static void on_launched_exit(uv_process_t *proc, int64_t status, int signal)
{
    struct launched *l = proc->data;
    struct launcher *p = l->p;

    launched_flush(l, 0, true);
    launched_flush(l, 1, true);
    if (signal)
        log_info("program %ld ended by signal %d", l->pid, signal);
    else
        log_info("program %ld exited with status %" PRId64, l->pid, status);
    l->exited = true;
    uv_close((uv_handle_t *)&l->proc, on_launched_closed);
    if (p && p->launched == l) {
        p->launched = NULL;
        if (p->restart_req && !p->closing) {
            char err[512];
            long pid = 0;
            struct server_request *req = p->restart_req;
            p->restart_req = NULL;
            if (launch(p, &pid, err, sizeof err) == 0)
                server_reply(p->server, req, json_pack("{s:I}", "pid", (json_int_t)pid));
            else
                server_reply_error(p->server, req, -32803, err);
        }
    }
}

/* Starts p->run_argv in p->run_cwd with HOTC_ENDPOINT set, its output to the
 * log. Returns 0 (and the pid) or -1 with a reason. */
static int launch(struct launcher *p, long *pid_out, char *err, size_t errsize)
{
    struct launched *l;
    uv_process_options_t opts = { 0 };
    uv_stdio_container_t stdio[3];
    size_t n_env = 0;
    char **env, *endpoint, *token = NULL;
    const char *tcp = p->link ? link_tcp_endpoint(p->link) : NULL;
    int rc;

    if (!p->link) {
        snprintf(err, errsize, "cannot run the program: the server has no runtime socket");
        return -1;
    }
    while (environ[n_env])
        n_env++;
    env = calloc(n_env + 3, sizeof *env);
    /* with TCP enabled the program attaches over it (it may run where the
     * Unix socket is not reachable: a container, another user) */
    endpoint = fmt("HOTC_ENDPOINT=%s", tcp ? tcp : link_endpoint(p->link));
    if (tcp)
        token = fmt("HOTC_TOKEN=%s", link_token(p->link));
    l = calloc(1, sizeof *l);
    if (!env || !endpoint || !l || (tcp && !token)) {
        free(env);
        free(endpoint);
        free(token);
        free(l);
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    n_env = 0;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "HOTC_ENDPOINT=", 14) != 0 && strncmp(*e, "HOTC_TOKEN=", 11) != 0)
            env[n_env++] = *e;
    env[n_env++] = endpoint;
    if (token)
        env[n_env++] = token;
    l->p = p;
    stdio[0].flags = UV_IGNORE;
    for (int i = 0; i < 2; i++) {
        uv_pipe_init(p->loop, &l->out[i], 0);
        l->out[i].data = l;
        l->open_handles++;
        stdio[1 + i].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[1 + i].data.stream = (uv_stream_t *)&l->out[i];
    }
    opts.file = p->run_argv[0];
    opts.args = p->run_argv;
    opts.env = env;
    opts.cwd = p->run_cwd;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    opts.exit_cb = on_launched_exit;
    l->proc.data = l;
    l->open_handles++;
    rc = uv_spawn(p->loop, &l->proc, &opts);
    free(env);
    free(endpoint);
    free(token);
    if (rc != 0) {
        snprintf(err, errsize, "cannot run %s: %s", p->run_argv[0], uv_strerror(rc));
        l->exited = true;
        l->p = NULL;
        uv_close((uv_handle_t *)&l->proc, on_launched_closed);
        uv_close((uv_handle_t *)&l->out[0], on_launched_closed);
        uv_close((uv_handle_t *)&l->out[1], on_launched_closed);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        uv_read_start((uv_stream_t *)&l->out[i], on_launched_alloc, on_launched_read);
    }
    l->pid = l->proc.pid;
    p->launched = l;
    *pid_out = l->pid;
    log_info("started %s (pid %ld) with HOTC_ENDPOINT=%s", p->run_argv[0], l->pid, tcp ? tcp : link_endpoint(p->link));
    return 0;
}

/* The program of a compile_commands.json entry that links one (`-o X`
 * without `-c`), or NULL. New string. */
static char *program_of_entry(const struct build_command *entry)
{
    bool compile_only = false;
    const char *out = NULL;

    for (size_t i = 1; i < entry->argc; i++) {
        if (strcmp(entry->argv[i], "-c") == 0)
            compile_only = true;
        else if (strcmp(entry->argv[i], "-o") == 0 && i + 1 < entry->argc)
            out = entry->argv[i + 1];
    }
    if (compile_only || !out)
        return NULL;
    return out[0] == '/' ? strdup(out) : fmt("%s/%s", entry->directory, out);
}

static void set_run(struct launcher *p, const char *path, json_t *args, const char *cwd)
{
    size_t n = json_array_size(args), k = 0, i;
    json_t *a;

    build_argv_free(p->run_argv);
    free(p->run_cwd);
    p->run_argv = calloc(n + 2, sizeof *p->run_argv);
    if (!p->run_argv)
        return;
    p->run_argv[k++] = strdup(path);
    json_array_foreach(args, i, a)
        if (json_is_string(a))
            p->run_argv[k++] = strdup(json_string_value(a));
    p->run_cwd = cwd ? strdup(cwd) : NULL;
}

/* Launches `path` (NULL: nothing configured) with the args and cwd of
 * `cfg` and answers `req`. */
static void run_program(struct launcher *p, struct server_request *req, const char *path, json_t *cfg)
{
    char err[512];
    long pid = 0;

    if (p->launched) {
        snprintf(err, sizeof err, "the program is already running (pid %ld); use restart", p->launched->pid);
        server_reply_error(p->server, req, -32803, err);
        return;
    }
    if (!path) {
        server_reply_error(p->server, req, -32803,
                           "no program to run: set hotc.program {path, args, cwd} in the settings");
        return;
    }
    set_run(p, path, json_object_get(cfg, "args"), json_string_value(json_object_get(cfg, "cwd")));
    if (!p->run_argv || launch(p, &pid, err, sizeof err) != 0) {
        server_reply_error(p->server, req, -32803, p->run_argv ? err : "out of memory");
        return;
    }
    server_reply(p->server, req, json_pack("{s:I}", "pid", (json_int_t)pid));
}

/* A run from a source file: the program is the output of its entry in
 * compile_commands.json, looked up off the loop. */
struct run_lookup {
    uv_work_t work;
    struct launcher *p;
    struct server_request *req;
    json_t *cfg;             /* the program settings when the command came (a reference) */
    char *root, *configured, *path; /* what to look for (copies; root and configured may be NULL) */
    char *found;             /* the program, when the lookup found one */
};

/* Blocking (stat and a read of compile_commands.json): for a worker
 * thread. The compile_commands.json that applies to rl->path (configured,
 * at the root, in root/build, else in a parent of the file or its build/),
 * and the program its entry for the file links. */
static void run_lookup_work(uv_work_t *req)
{
    struct run_lookup *rl = req->data;
    char found[PATH_MAX], err[512];
    const char *db_path = build_db_find(rl->root, rl->configured, found, sizeof found);
    struct build_db *db = NULL;
    const struct build_command *entry;

    if (!db_path) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", rl->path);
        for (char *slash = strrchr(dir, '/'); slash && !db_path; slash = strrchr(dir, '/')) {
            *slash = '\0';
            db_path = build_db_find(*dir ? dir : "/", NULL, found, sizeof found);
        }
    }
    if (!db_path || build_db_load(&db, db_path, err, sizeof err) != 0)
        return;
    entry = build_db_lookup(db, rl->path);
    rl->found = entry ? program_of_entry(entry) : NULL;
    build_db_free(db);
}

static void run_lookup_free(struct run_lookup *rl)
{
    json_decref(rl->cfg);
    free(rl->root);
    free(rl->configured);
    free(rl->path);
    free(rl->found);
    free(rl);
}

static void on_run_lookup(uv_work_t *req, int status)
{
    struct run_lookup *rl = req->data;
    struct launcher *p = rl->p;

    (void)status;
    if (p->closing)
        server_reply_error(p->server, rl->req, -32803, "the server is shutting down");
    else
        run_program(p, rl->req, rl->found, rl->cfg);
    run_lookup_free(rl);
}

void launcher_run(struct launcher *p, struct server *server, struct link *link, struct server_request *req,
                  json_t *arguments)
{
    json_t *arg = json_array_get(arguments, 0);
    json_t *cfg = json_is_object(arg) && json_object_get(arg, "program") ? arg : p->program_cfg;
    const char *path = json_string_value(json_object_get(cfg, json_is_object(arg) && cfg == arg ? "program" : "path"));
    const char *root = server_root(server);
    struct run_lookup *rl;

    p->server = server;
    p->link = link;
    if (p->launched || path || !json_is_string(arg)) {
        run_program(p, req, path, cfg);
        return;
    }
    rl = calloc(1, sizeof *rl);
    if (rl) {
        rl->root = root ? strdup(root) : NULL;
        rl->configured = p->compile_commands ? strdup(p->compile_commands) : NULL;
        rl->path = protocol_uri_to_path(json_string_value(arg));
    }
    if (!rl || (root && !rl->root) || (p->compile_commands && !rl->configured) || !rl->path) {
        server_reply_error(server, req, -32803, "out of memory");
        if (rl)
            run_lookup_free(rl);
        return;
    }
    rl->p = p;
    rl->req = req;
    rl->cfg = json_incref(cfg);
    rl->work.data = rl;
    if (uv_queue_work(p->loop, &rl->work, run_lookup_work, on_run_lookup) != 0) {
        server_reply_error(server, req, -32803, "cannot look up the program in compile_commands.json");
        run_lookup_free(rl);
    }
}

void launcher_restart(struct launcher *p, struct server *server, struct link *link, struct server_request *req)
{
    char err[512];
    long pid = 0;

    p->server = server;
    p->link = link;
    if (!p->run_argv) {
        server_reply_error(p->server, req, -32803, "nothing to restart: start the program with run first");
        return;
    }
    if (p->restart_req) {
        server_reply_error(p->server, req, -32803, "a restart is already under way");
        return;
    }
    if (p->launched) {
        p->restart_req = req;
        uv_process_kill(&p->launched->proc, SIGTERM);
        return;
    }
    if (launch(p, &pid, err, sizeof err) != 0)
        server_reply_error(p->server, req, -32803, err);
    else
        server_reply(p->server, req, json_pack("{s:I}", "pid", (json_int_t)pid));
}

struct launcher *launcher_new(uv_loop_t *loop)
{
    struct launcher *p = calloc(1, sizeof *p);

    if (p)
        p->loop = loop;
    return p;
}

void launcher_configure(struct launcher *p, json_t *settings)
{
    const char *s = json_string_value(json_object_get(settings, "compileCommands"));

    json_decref(p->program_cfg);
    p->program_cfg = json_is_object(json_object_get(settings, "program"))
                         ? json_deep_copy(json_object_get(settings, "program"))
                         : NULL;
    free(p->compile_commands);
    p->compile_commands = s ? strdup(s) : NULL;
}

void launcher_close(struct launcher *p)
{
    p->closing = true;
    p->link = NULL;
    if (p->restart_req) {
        server_reply_error(p->server, p->restart_req, -32803, "the server is shutting down");
        p->restart_req = NULL;
    }
    if (p->launched) {
        struct launched *l = p->launched;
        uv_process_kill(&l->proc, SIGTERM);
        l->p = NULL;
        p->launched = NULL;
        for (int i = 0; i < 2; i++)
            if (!uv_is_closing((uv_handle_t *)&l->out[i]))
                uv_close((uv_handle_t *)&l->out[i], on_launched_closed);
        if (!l->exited)
            uv_close((uv_handle_t *)&l->proc, on_launched_closed);
    }
}

void launcher_free(struct launcher *p)
{
    if (!p)
        return;
    json_decref(p->program_cfg);
    free(p->compile_commands);
    build_argv_free(p->run_argv);
    free(p->run_cwd);
    free(p);
}
