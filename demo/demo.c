/* hotc-demo: `make demo` without an editor. It plays the editor's part
 * against the real server and a real program:
 *
 *   1. copies an example (examples/particles by default) into a work
 *      directory and builds it there with its own Makefile;
 *   2. starts `hotc lsp` (its runtime socket in a private directory) and
 *      initializes it as an editor would, rooted at the work directory;
 *   3. launches the example with HOTC_ENDPOINT in its environment and reads
 *      its status lines (frame counter, score, version, HOT output);
 *   4. opens the example's source (didOpen), edits a HOT function
 *      (didChange), writes the file and saves (didSave); then saves a
 *      compile error; then a fix; for the game, restarts it as the
 *      editor's restart command does (the server rebuilds it, takes its
 *      state, and the new program gets it back);
 *   5. shows the program's output changing while its counters carry on, the
 *      error diagnostic while the old code keeps running, and a summary of
 *      each reload with the timings the server and the runtime reported.
 *
 * With --check it is a test: each step is asserted, the exit status says
 * whether all held. It never depends on wall-clock timings, only waits (with
 * generous limits) for the things it expects to see.
 *
 *   hotc-demo --hotc BUILD/hotc --build BUILD --examples DIR --work DIR
 *             [--example particles|sdl] [--check] [--verbose]
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lspclient.h"
#include "run.h"

/* ---------------------------------------------------------------- scenarios
 *
 * A scenario is an example program plus three saves: a change that must be
 * applied, a compile error that must be reported without a reload, and a fix
 * that must be applied. Edits are literal find/replace pairs on the current
 * text, sent to the server as incremental changes. */

enum step_kind { STEP_RELOAD, STEP_COMPILE_ERROR };

struct edit {
    const char *find;
    const char *replace;
};

struct step {
    enum step_kind kind;
    const char *what;        /* shown to the user */
    struct edit edits[3];    /* up to 3, ended by a NULL find */
    const char *expect;      /* RELOAD: a status line then contains this */
};

struct scenario {
    const char *name;        /* examples/<name> */
    const char *file;        /* the source file edited */
    const char *prog;        /* the binary its Makefile builds */
    const char *args[8];     /* its arguments, NULL-terminated */
    const char *counters[3]; /* status-line keys that must never go down */
    const char *before;      /* a status line contains this before any edit */
    const char *version_key; /* a status line has it, followed by hot_version() */
    const char *feed;        /* written to the program's stdin now and then */
    const char *never;       /* a line of output must never contain this */
    int hook;                /* prints "# reloaded" from a hot_on_reload hook */
    int shots;               /* pass --shots DIR and check the screenshots */
    struct step steps[3];
    const char *restart;     /* then restart it (hotc.server.restart): a status line of the new program contains this */
};

static const struct scenario scenarios[] = {
    {
        .name = "particles",
        .file = "particles.c",
        .prog = "particles",
        .args = {"--plain", "--frames", "30", NULL},
        .counters = {"frame=", "score=", NULL},
        .before = "message=\"hello from hotc\"",
        .version_key = "version=",
        .hook = 1,
        .steps = {
            {STEP_RELOAD,
             "message() returns new text and points() gives 5 points a frame",
             {{"return \"hello from hotc\";", "return \"edited live, state kept\";"},
              {"(void)frame;\n    return 1;", "(void)frame;\n    return 5;"},
              {NULL, NULL}},
             "message=\"edited live, state kept\""},
            {STEP_COMPILE_ERROR,
             "message() now uses an undeclared name: a compile error",
             {{"return \"edited live, state kept\";", "return edited_message;"}, {NULL, NULL}},
             NULL},
            {STEP_RELOAD,
             "the error is fixed and points() gives 10 points a frame",
             {{"return edited_message;", "return \"fixed, and still the same balls\";"},
              {"return 5;", "return 10;"},
              {NULL, NULL}},
             "message=\"fixed, and still the same balls\""},
        },
    },
    {
        .name = "sdl",
        .file = "sdl.c",
        .prog = "sdl",
        .args = {"--frames", "30", NULL},
        .counters = {"frame=", NULL},
        .before = "pixel=203040",
        .version_key = "version=",
        .hook = 1,
        .shots = 1,
        .steps = {
            {STEP_RELOAD,
             "render() clears to dark red",
             {{"SetRenderDrawColor(r, 0x20, 0x30, 0x40, 0xff)",
               "SetRenderDrawColor(r, 0x80, 0x10, 0x10, 0xff)"},
              {NULL, NULL}},
             "pixel=801010"},
            {STEP_COMPILE_ERROR,
             "render() uses an undeclared name: a compile error",
             {{"SetRenderDrawColor(r, 0x80, 0x10, 0x10, 0xff)",
               "SetRenderDrawColor(r, background_red, 0x10, 0x10, 0xff)"},
              {NULL, NULL}},
             NULL},
            {STEP_RELOAD,
             "the error is fixed: render() clears to green",
             {{"SetRenderDrawColor(r, background_red, 0x10, 0x10, 0xff)",
               "SetRenderDrawColor(r, 0x10, 0x70, 0x30, 0xff)"},
              {NULL, NULL}},
             "pixel=107030"},
        },
    },
    {
        /* Typed state: the game's state is a HOT_STATE block; the first
         * save adds a field to its struct, and the block is migrated while
         * the frame counter and the score go on. */
        .name = "game",
        .file = "game.c",
        .prog = "game",
        .args = {"--frames", "30", NULL},
        .counters = {"frame=", "score=", NULL},
        .before = "state=\"score only\"",
        .version_key = "version=",
        .hook = 1,
        .steps = {
            {STEP_RELOAD,
             "struct game gets a field `lives` (the block is migrated: frame and score kept), tick() uses it",
             {{"    long score;\n};", "    long score;\n    int lives;\n};"},
              {"    g->score += 2;\n", "    g->score += 2;\n    if (g->lives == 0)\n        g->lives = 3;\n"},
              {"state=\\\"score only\\\"\\n\", g->frame, g->score, hot_version());",
               "state=\\\"lives %d\\\"\\n\", g->frame, g->score, hot_version(), g->lives);"}},
             "state=\"lives 3\""},
            {STEP_COMPILE_ERROR,
             "tick() uses an undeclared name: a compile error",
             {{"g->lives = 3;", "g->lives = max_lives;"}, {NULL, NULL}},
             NULL},
            {STEP_RELOAD,
             "the error is fixed; the lives kept their value through the reload",
             {{"g->lives = max_lives;", "g->lives = 5;"},
              {"state=\\\"lives %d\\\"", "state=\\\"lives %d, still\\\""},
              {NULL, NULL}},
             "state=\"lives 3, still\""},
        },
        /* a fresh game would set lives to 5: 3 means the block came back */
        .restart = "state=\"lives 3, still\"",
    },
    {
        /* Automatic mode: the program is blocked in poll()/read() on its
         * stdin when each reload arrives; the demo writes a request now and
         * then, and every reply is a status line. */
        .name = "echo",
        .file = "echo.c",
        .prog = "echo",
        .args = {NULL},
        .counters = {"#", NULL},
        .before = "echo: ping",
        .version_key = " v",
        .feed = "ping\n",
        .never = "interrupted (",
        .steps = {
            {STEP_RELOAD,
             "format_reply() answers in capitals",
             {{"\"echo: %s\", line", "\"ECHO, NEW CODE: %s\", line"}, {NULL, NULL}},
             "ECHO, NEW CODE: ping"},
            {STEP_COMPILE_ERROR,
             "format_reply() uses an undeclared name: a compile error",
             {{"\"ECHO, NEW CODE: %s\", line", "\"ECHO: %s\", line_text"}, {NULL, NULL}},
             NULL},
            {STEP_RELOAD,
             "the error is fixed: format_reply() numbers its replies",
             {{"\"ECHO: %s\", line_text);", "\"reply %ld to %s\", count, line);"},
              {"    (void)count;\n", ""},
              {NULL, NULL}},
             "reply"},
        },
    },
};

/* ---------------------------------------------------------------- output */

static int check_mode, verbose, color;
static int failures;

static void say(const char *fmt, ...)
{
    va_list ap;
    printf(color ? "\n\033[1;36m==> " : "\n==> ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(color ? "\033[0m\n" : "\n");
    fflush(stdout);
}

static void note(const char *fmt, ...)
{
    va_list ap;
    printf("    ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* Records the outcome of one assertion; the demo goes on after a failure so
 * that the summary shows everything that went wrong. */
static int expect(int ok, const char *fmt, ...)
{
    va_list ap;
    printf(ok ? (color ? "    \033[32mok\033[0m   " : "    ok   ")
              : (color ? "    \033[1;31mFAIL\033[0m " : "    FAIL "));
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    if (!ok)
        failures++;
    return ok;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- files */

/* Writes text to path through a temporary file and a rename, as editors do. */
static int write_file(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    FILE *f;

    snprintf(tmp, sizeof tmp, "%s.demo-tmp", path);
    f = fopen(tmp, "wb");
    if (!f)
        return -1;
    if (fputs(text, f) < 0) {
        fclose(f);
        return -1;
    }
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

static int mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Runs argv and waits for it; its output goes to ours. Returns its exit
 * status, or -1. */
static int run_wait(char *const argv[])
{
    int status;
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        execvp(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---------------------------------------------------------------- the program */

struct program {
    pid_t pid;
    int fd;             /* its stdout and stderr, non-blocking */
    char buf[16384];
    size_t have;
    char last[1024];    /* the last status line (one with the version key) */
    int in;             /* its stdin when the scenario feeds it, else -1 */
    long long fed_ms;   /* when it was last fed */
    int lines;          /* status lines seen */
    long counters[3];   /* last values of the scenario's counters */
    int reload_lines;   /* "# reloaded" lines seen */
    int stopping;       /* program_stop has begun */
    int exited;
};

static const struct scenario *sc;

/* The long after `key` in line (key includes the '='), or -1. */
static long field_long(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* Handles one line of the program's output: shows it, and checks that the
 * counters never go down (state kept across reloads). */
static void program_line(struct program *p, const char *line)
{
    printf(color ? "    \033[2mprogram |\033[0m %s\n" : "    program | %s\n", line);
    fflush(stdout);
    if (strncmp(line, "# reloaded", 10) == 0)
        p->reload_lines++;
    if (sc->never && strstr(line, sc->never))
        expect(0, "the program said \"%s\"", line);
    if (!strstr(line, sc->version_key))
        return;
    for (int i = 0; i < 3 && sc->counters[i]; i++) {
        long v = field_long(line, sc->counters[i]);
        if (p->lines > 0 && v < p->counters[i])
            expect(0, "counter %s went down from %ld to %ld: state was lost", sc->counters[i],
                   p->counters[i], v);
        p->counters[i] = v;
    }
    snprintf(p->last, sizeof p->last, "%s", line);
    p->lines++;
}

/* Reads whatever the program has written, line by line. */
static void program_drain(struct program *p)
{
    if (p->fd < 0)
        return; /* not started, or stopped */
    for (;;) {
        ssize_t n = read(p->fd, p->buf + p->have, sizeof p->buf - 1 - p->have);
        if (n <= 0) {
            if (n == 0 && !p->exited) {
                p->exited = 1;
                if (!p->stopping)
                    note("(the program closed its output)");
            }
            return;
        }
        p->have += (size_t)n;
        p->buf[p->have] = '\0';
        char *start = p->buf, *nl;
        while ((nl = strchr(start, '\n')) != NULL) {
            *nl = '\0';
            program_line(p, start);
            start = nl + 1;
        }
        p->have = strlen(start);
        memmove(p->buf, start, p->have);
        if (p->have == sizeof p->buf - 1)
            p->have = 0;
    }
}

/* Starts the example with the endpoint in its environment, its output in a
 * pipe. Returns 0 or -1. */
static int program_start(struct program *p, const char *workdir, const char *endpoint,
                         const char *shots)
{
    int fds[2];
    char exe[PATH_MAX];
    const char *argv[16];
    int n = 0;

    memset(p, 0, sizeof *p);
    p->fd = p->in = -1;
    snprintf(exe, sizeof exe, "%s/%s", workdir, sc->prog);
    argv[n++] = exe;
    for (int i = 0; sc->args[i]; i++)
        argv[n++] = sc->args[i];
    if (shots) {
        argv[n++] = "--shots";
        argv[n++] = shots;
    }
    argv[n] = NULL;

    int in[2] = {-1, -1};
    if (pipe2(fds, O_CLOEXEC) != 0 || (sc->feed && pipe2(in, O_CLOEXEC) != 0))
        return -1;
    p->pid = fork();
    if (p->pid < 0)
        return -1;
    if (p->pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        if (in[0] >= 0)
            dup2(in[0], 0);
        setenv("HOTC_ENDPOINT", endpoint, 1);
        /* hot_init's wait for saved state, made long enough for a shared,
         * loaded machine (programs get 200 ms) */
        setenv("HOTC_STATE_WAIT_MS", "5000", 1);
        if (chdir(workdir) != 0)
            _exit(126);
        execv(exe, (char *const *)argv);
        perror(exe);
        _exit(127);
    }
    close(fds[1]);
    p->fd = fds[0];
    p->in = in[1];
    if (in[0] >= 0)
        close(in[0]);
    fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

static void program_stop(struct program *p)
{
    int status;
    if (p->pid <= 0)
        return;
    pid_t r = 0;
    p->stopping = 1;
    if (p->in >= 0) {
        close(p->in); /* end of input: a reader exits by itself */
        p->in = -1;
        for (int i = 0; i < 500 && (r = waitpid(p->pid, &status, WNOHANG)) == 0; i++)
            usleep(10000);
        if (r == p->pid)
            expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                   "the program ended cleanly at the end of its input (status %d)",
                   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    if (r != p->pid) {
        kill(p->pid, SIGTERM);
        for (int i = 0; i < 500 && (r = waitpid(p->pid, &status, WNOHANG)) == 0; i++)
            usleep(10000);
        if (r != p->pid) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
        }
    }
    program_drain(p);
    close(p->fd);
    p->fd = -1;
    p->pid = 0;
}

/* ---------------------------------------------------------------- the editor side */

struct reload_record {
    const char *what;
    json_t *status;   /* hotc/status after it (owned) */
    json_t *reloaded; /* hotc/reloaded for it (owned), or NULL */
};

struct demo {
    struct lspclient *lsp;
    struct program prog;
    char uri[PATH_MAX + 8];
    char path[PATH_MAX];
    char *text;        /* the document as the editor has it */
    int doc_version;
    json_t *status;    /* the latest hotc/status (owned) */
    int statuses;      /* hotc/status notifications seen */
    json_t *reloaded;  /* the latest hotc/reloaded (owned) */
    int reloadeds;
    json_t *diags;     /* the latest diagnostics for our file (owned) */
    int diag_count;    /* publishDiagnostics for our file seen */
    struct reload_record records[3];
    int nrecords;
    json_int_t restart_id; /* the hotc.server.restart request waiting, 0 when none */
    json_t *restart_result; /* its answer (owned) */
};

static void replace_json(json_t **slot, json_t *value)
{
    json_decref(*slot);
    *slot = json_incref(value);
}

/* Handles one message from the server: answers its requests, keeps the
 * notifications the demo waits for, shows its log in verbose mode. */
static void handle(struct demo *d, json_t *msg)
{
    const char *method = NULL;
    json_t *params = NULL, *id = json_object_get(msg, "id");

    if (json_unpack(msg, "{s:s}", "method", &method) != 0) {
        if (d->restart_id && json_integer_value(id) == d->restart_id)
            replace_json(&d->restart_result, msg);
        return; /* a response nobody else waits for */
    }
    params = json_object_get(msg, "params");
    if (id) {
        /* workspace/codeLens/refresh, window/workDoneProgress/create, ... */
        lspclient_respond(d->lsp, json_incref(id), NULL);
        return;
    }
    if (strcmp(method, "hotc/status") == 0) {
        replace_json(&d->status, params);
        d->statuses++;
        if (verbose) {
            char *s = json_dumps(params, JSON_COMPACT);
            note("server  | hotc/status %s", s);
            free(s);
        }
    } else if (strcmp(method, "hotc/reloaded") == 0) {
        replace_json(&d->reloaded, params);
        d->reloadeds++;
    } else if (strcmp(method, "textDocument/publishDiagnostics") == 0) {
        const char *uri = "";
        json_unpack(params, "{s:s}", "uri", &uri);
        if (strcmp(uri, d->uri) == 0) {
            replace_json(&d->diags, json_object_get(params, "diagnostics"));
            d->diag_count++;
        }
    } else if (strcmp(method, "window/showMessage") == 0 && !verbose) {
        const char *m = "";
        json_unpack(params, "{s:s}", "message", &m);
        if (strstr(m, "state restored"))
            note("server  | %s", m);
    } else if (strcmp(method, "window/logMessage") == 0 && verbose) {
        const char *m = "";
        json_unpack(params, "{s:s}", "message", &m);
        note("server  | %s", m);
    }
}

/* Reads from the server and the program for up to `ms` milliseconds, or
 * until `done(d, arg)` holds. Returns 1 when it held, 0 on timeout. */
static int wait_until(struct demo *d, int ms, int (*done)(struct demo *, const void *),
                      const void *arg)
{
    long long deadline = now_ms() + ms;
    for (;;) {
        program_drain(&d->prog);
        if (sc->feed && d->prog.in >= 0 && now_ms() - d->prog.fed_ms >= 250) {
            if (write(d->prog.in, sc->feed, strlen(sc->feed)) < 0)
                note("(cannot write to the program: %s)", strerror(errno));
            d->prog.fed_ms = now_ms();
        }
        if (done && done(d, arg))
            return 1;
        if (now_ms() >= deadline)
            return 0;
        json_t *msg = lspclient_read(d->lsp, 20);
        if (msg) {
            handle(d, msg);
            json_decref(msg);
        }
    }
}

static int has_status_line(struct demo *d, const void *arg)
{
    return d->prog.lines > 0 && (!arg || strstr(d->prog.last, arg));
}

static int lines_at_least(struct demo *d, const void *arg)
{
    return d->prog.lines >= *(const int *)arg;
}

static int program_attached(struct demo *d, const void *arg)
{
    json_int_t programs = 0;
    (void)arg;
    return d->status && json_unpack(d->status, "{s:I}", "programs", &programs) == 0 &&
           programs > 0;
}

static const char *last_result(struct demo *d)
{
    const char *result = NULL;
    if (d->status)
        json_unpack(d->status, "{s:{s:s}}", "last", "result", &result);
    return result;
}

/* A save that should reload has an outcome once the server counts one more
 * reload (hotc/status "reloads"), or reports a refusal
 * or an error. A compileError left over from the previous save does not
 * count: the server may repeat it before it starts compiling. */
struct outcome_wait {
    int statuses_before;
    int reloadeds_before;
    int diags_before;
    json_int_t reloads_before;
};

static json_int_t reload_count(struct demo *d)
{
    json_int_t reloads = 0;
    if (d->status)
        json_unpack(d->status, "{s:I}", "reloads", &reloads);
    return reloads;
}

static struct outcome_wait outcome_start(struct demo *d)
{
    struct outcome_wait w = {d->statuses, d->reloadeds, d->diag_count, reload_count(d)};
    return w;
}

static int save_has_outcome(struct demo *d, const void *arg)
{
    const struct outcome_wait *w = arg;
    int compiling = 0;
    const char *result = last_result(d);
    if (d->statuses <= w->statuses_before || !result)
        return 0;
    json_unpack(d->status, "{s:b}", "compiling", &compiling);
    if (compiling)
        return 0;
    return reload_count(d) > w->reloads_before || strcmp(result, "refused") == 0 || strcmp(result, "error") == 0;
}

static int compile_error_status(struct demo *d, const void *arg)
{
    const struct outcome_wait *w = arg;
    const char *result = last_result(d);
    return d->statuses > w->statuses_before && result && strcmp(result, "compileError") == 0;
}

static int reloaded_arrived(struct demo *d, const void *arg)
{
    const struct outcome_wait *w = arg;
    return d->reloadeds > w->reloadeds_before;
}

static int error_diagnostic(struct demo *d)
{
    size_t i;
    json_t *diag;
    json_array_foreach(d->diags, i, diag) {
        json_int_t severity = 0;
        json_unpack(diag, "{s:I}", "severity", &severity);
        if (severity == 1)
            return 1;
    }
    return 0;
}

/* Whether an error diagnostic starts on line (0-based). */
static int error_on_line(struct demo *d, long line)
{
    size_t i;
    json_t *diag;
    json_array_foreach(d->diags, i, diag) {
        json_int_t severity = 0, l = -1;
        json_unpack(diag, "{s:I, s:{s:{s:I}}}", "severity", &severity, "range", "start", "line", &l);
        if (severity == 1 && l == line)
            return 1;
    }
    return 0;
}

static int error_reported(struct demo *d, const void *arg)
{
    const struct outcome_wait *w = arg;
    return d->diag_count > w->diags_before && error_diagnostic(d);
}

/* Position (line, UTF-16 character) of byte offset `off` in text; the demo's
 * sources are ASCII, so characters are bytes. */
static json_t *position(const char *text, size_t off)
{
    int line = 0, col = 0;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            line++;
            col = 0;
        } else {
            col++;
        }
    }
    return json_pack("{s:i, s:i}", "line", line, "character", col);
}

/* Applies the step's edits to the document, sends them as one didChange of
 * incremental changes, writes the file and sends didSave. 0 or -1. */
static int edit_and_save(struct demo *d, const struct step *st)
{
    json_t *changes = json_array();

    for (int i = 0; i < 3 && st->edits[i].find; i++) {
        const struct edit *e = &st->edits[i];
        char *at = strstr(d->text, e->find);
        if (!at) {
            expect(0, "the demo's edit does not apply: '%s' not found in %s", e->find, sc->file);
            json_decref(changes);
            return -1;
        }
        size_t off = (size_t)(at - d->text), flen = strlen(e->find), rlen = strlen(e->replace);
        json_array_append_new(changes,
                              json_pack("{s:{s:o, s:o}, s:s}", "range", "start",
                                        position(d->text, off), "end",
                                        position(d->text, off + flen), "text", e->replace));
        size_t len = strlen(d->text);
        char *next = malloc(len - flen + rlen + 1);
        memcpy(next, d->text, off);
        memcpy(next + off, e->replace, rlen);
        memcpy(next + off + rlen, at + flen, len - off - flen + 1);
        free(d->text);
        d->text = next;
    }
    d->doc_version++;
    lspclient_notify(d->lsp, "textDocument/didChange",
                     json_pack("{s:{s:s, s:i}, s:o}", "textDocument", "uri", d->uri, "version",
                               d->doc_version, "contentChanges", changes));
    if (write_file(d->path, d->text) != 0) {
        expect(0, "cannot write %s: %s", d->path, strerror(errno));
        return -1;
    }
    lspclient_notify(d->lsp, "textDocument/didSave",
                     json_pack("{s:{s:s}, s:s}", "textDocument", "uri", d->uri, "text", d->text));
    return 0;
}

static void show_diagnostics(struct demo *d)
{
    size_t i;
    json_t *diag;
    json_array_foreach(d->diags, i, diag) {
        const char *message = "";
        json_int_t line = 0, severity = 0;
        json_unpack(diag, "{s:s, s:{s:{s:I}}, s?I}", "message", &message, "range", "start", "line",
                    &line, "severity", &severity);
        note("editor  | %s:%lld: %s: %s", sc->file, (long long)line + 1,
             severity == 1 ? "error" : severity == 2 ? "warning" : "note", message);
    }
}

static void show_result(json_t *status, json_t *reloaded)
{
    const char *message = NULL;
    if (status)
        json_unpack(status, "{s:{s?s}}", "last", "message", &message);
    if (message)
        note("server  | %s", message);
    size_t i;
    json_t *prog;
    json_array_foreach(json_object_get(reloaded, "programs"), i, prog) {
        const char *st = "?", *reason = NULL;
        json_int_t pid = 0;
        json_unpack(prog, "{s?I, s?s, s?s}", "pid", &pid, "status", &st, "reason", &reason);
        note("runtime | pid %lld: %s%s%s", (long long)pid, st, reason ? ": " : "",
             reason ? reason : "");
    }
}

/* One reload step: edit, save, wait for the server's outcome, then for the
 * program to show the new output with its counters carried on. */
static void do_reload(struct demo *d, const struct step *st)
{
    struct outcome_wait w = outcome_start(d);
    long version_before = field_long(d->prog.last, sc->version_key);
    long before[3];
    int reload_lines = d->prog.reload_lines;
    memcpy(before, d->prog.counters, sizeof before);

    if (edit_and_save(d, st) != 0)
        return;
    int got = wait_until(d, 60000, save_has_outcome, &w);
    if (!expect(got, "the server reported the outcome of the save (hotc/status)"))
        return;
    /* hotc/reloaded may come just after hotc/status. */
    wait_until(d, 5000, reloaded_arrived, &w);
    const char *result = last_result(d);
    show_result(d->status, d->reloadeds > w.reloadeds_before ? d->reloaded : NULL);
    if (d->diag_count > w.diags_before && error_diagnostic(d))
        show_diagnostics(d);
    if (d->nrecords < 3) {
        struct reload_record *r = &d->records[d->nrecords++];
        r->what = st->what;
        r->status = json_incref(d->status);
        r->reloaded = d->reloadeds > w.reloadeds_before ? json_incref(d->reloaded) : NULL;
    }
    if (!expect(result && strcmp(result, "applied") == 0, "reload applied (server says \"%s\")",
                result ? result : "nothing"))
        return;

    got = wait_until(d, 20000, has_status_line, st->expect);
    expect(got, "the program's output changed: %s", st->expect);
    if (!got)
        return;
    long version = field_long(d->prog.last, sc->version_key);
    expect(version > version_before, "the program runs a new version: %ld (hot_version(); was %ld)",
           version, version_before);
    expect(!sc->hook || d->prog.reload_lines > reload_lines, "the program's reload hook ran (\"# reloaded\" line)");
    for (int i = 0; i < 3 && sc->counters[i]; i++)
        expect(d->prog.counters[i] > before[i], "%s continued: %ld before the save, %ld now",
               sc->counters[i], before[i], d->prog.counters[i]);
}

/* The compile-error step: the error must reach the editor as a diagnostic,
 * nothing may be reloaded, and the program must keep running its code. */
static void do_compile_error(struct demo *d, const struct step *st, const char *running)
{
    struct outcome_wait w = outcome_start(d);
    long version = field_long(d->prog.last, sc->version_key);

    if (edit_and_save(d, st) != 0)
        return;
    int got = wait_until(d, 60000, error_reported, &w);
    if (expect(got, "the compile error reached the editor (publishDiagnostics, severity error)")) {
        show_diagnostics(d);
        const char *at = strstr(d->text, st->edits[0].replace);
        long line = 0;
        for (const char *c = d->text; at && c < at; c++)
            line += *c == '\n';
        expect(at && error_on_line(d, line), "the error is on the edited line (%s:%ld)", sc->file,
               line + 1);
    }
    wait_until(d, 10000, compile_error_status, &w);
    const char *result = last_result(d);
    if (result)
        note("server  | hotc/status last result: %s", result);
    if (d->nrecords < 3) {
        struct reload_record *r = &d->records[d->nrecords++];
        r->what = st->what;
        r->status = json_incref(d->status);
        r->reloaded = NULL;
    }
    expect(result && strcmp(result, "compileError") == 0,
           "hotc/status says compileError (got \"%s\")", result ? result : "nothing");

    /* The old code keeps running: two more status lines, same version. */
    int target = d->prog.lines + 2;
    got = wait_until(d, 20000, lines_at_least, &target);
    expect(got, "the program keeps running");
    expect(field_long(d->prog.last, sc->version_key) == version && d->reloadeds == w.reloadeds_before,
           "nothing was reloaded: still version %ld", version);
    expect(strstr(d->prog.last, running) != NULL,
           "the program still shows the last good code's output (%s)", running);
}

static void timing_row(json_t *timings, const char *const *keys, const char *const *labels)
{
    char row[512] = "";
    size_t n = 0;
    for (int i = 0; keys[i]; i++) {
        json_t *v = json_object_get(timings, keys[i]);
        if (json_is_integer(v))
            n += (size_t)snprintf(row + n, sizeof row - n, "  %s %.2f ms", labels[i],
                                  (double)json_integer_value(v) / 1000.0);
    }
    note("%s", n ? row : "  (no timings reported)");
}

static void summary(struct demo *d)
{
    static const char *const server_keys[] = {"analysisUs", "patchUs", "compileUs", "loadUs",
                                              "applyUs", "totalUs", NULL};
    static const char *const server_labels[] = {"analysis", "patch", "compile", "load",
                                                "apply", "total", NULL};
    static const char *const rt_keys[] = {"loadUs", "resolveUs", "waitUs", "applyUs", "totalUs",
                                          NULL};
    static const char *const rt_labels[] = {"load", "resolve", "wait", "apply", "total", NULL};

    say("Summary");
    for (int i = 0; i < d->nrecords; i++) {
        struct reload_record *r = &d->records[i];
        const char *result = "?";
        json_int_t version = -1;
        json_unpack(r->status, "{s:{s?s, s?I}}", "last", "result", &result, "version", &version);
        char head[64];
        if (version >= 0 && strcmp(result, "applied") == 0)
            snprintf(head, sizeof head, "%s, now version %lld", result, (long long)version);
        else
            snprintf(head, sizeof head, "%s, nothing reloaded", result);
        note("save %d (%s): %s", i + 1, head, r->what);
        json_t *t = NULL;
        json_unpack(r->status, "{s:{s?o}}", "last", "timings", &t);
        if (t) {
            note("  server, from didSave:");
            timing_row(t, server_keys, server_labels);
        }
        size_t k;
        json_t *prog;
        json_array_foreach(json_object_get(r->reloaded, "programs"), k, prog) {
            json_int_t pid = 0;
            json_unpack(prog, "{s?I}", "pid", &pid);
            note("  runtime in pid %lld:", (long long)pid);
            timing_row(json_object_get(prog, "timings"), rt_keys, rt_labels);
        }
    }
    json_int_t reloads = 0;
    if (d->status)
        json_unpack(d->status, "{s?I}", "reloads", &reloads);
    note("reloads counted by the server: %lld", (long long)reloads);
    note("the program's last status line: %s", d->prog.last);
}

static int restart_answered(struct demo *d, const void *arg)
{
    (void)arg;
    return d->restart_result != NULL;
}

static int new_status_line(struct demo *d, const void *arg)
{
    (void)arg;
    return d->prog.lines > 0;
}

/* The editor's restart: the server rebuilds the program (the `build`
 * setting), asks it for its state (hot/handover) and keeps it, and answers
 * with what to start in the terminal; the demo stops the old program and
 * starts the new one, which gets the state back in hot_init. */
static void do_restart(struct demo *d, const char *workdir)
{
    json_t *args = json_array(), *launch;
    for (int i = 0; sc->args[i]; i++)
        json_array_append_new(args, json_string(sc->args[i]));
    char exe[PATH_MAX];
    snprintf(exe, sizeof exe, "%s/%s", workdir, sc->prog);
    long frame = d->prog.counters[0];
    d->restart_id = lspclient_send_request(
        d->lsp, "workspace/executeCommand",
        json_pack("{s:s, s:[{s:s, s:o, s:s, s:b}]}", "command", "hotc.server.restart", "arguments", "program", exe,
                  "args", args, "cwd", workdir, "terminal", 1));
    int got = wait_until(d, 120000, restart_answered, NULL);
    launch = got ? json_object_get(json_object_get(d->restart_result, "result"), "launch") : NULL;
    if (!expect(launch != NULL, "the server rebuilt the program and said what to start (%s)",
                got ? json_dumps(d->restart_result, JSON_COMPACT) : "no answer"))
        return;
    const char *endpoint = json_string_value(json_object_get(json_object_get(launch, "env"), "HOTC_ENDPOINT"));
    note("the server kept the game's state; the old program is stopped and the new one started");
    program_stop(&d->prog);
    if (!expect(endpoint && program_start(&d->prog, workdir, endpoint, NULL) == 0, "the new program started"))
        return;
    got = wait_until(d, 20000, new_status_line, NULL);
    if (!expect(got, "the new program runs"))
        return;
    long now = field_long(d->prog.last, sc->counters[0]);
    expect(now >= frame, "the frame counter came back across the restart (%ld, was %ld)", now, frame);
    got = wait_until(d, 20000, has_status_line, sc->restart);
    expect(got, "the state came back: %s", sc->restart);
}

/* ---------------------------------------------------------------- main */

static int endpoint_ready(struct demo *d, const void *arg)
{
    (void)d;
    return access(arg, R_OK) == 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: hotc-demo --hotc PATH --build DIR --examples DIR --work DIR "
                    "[--example particles|sdl] [--check] [--verbose]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *hotc = NULL, *build = NULL, *examples = NULL, *work = NULL, *name = "particles";
    char workdir[PATH_MAX], rundir[PATH_MAX], endpoint_file[PATH_MAX + 32], shots[PATH_MAX + 8];
    char src[PATH_MAX * 2], makefile[PATH_MAX * 2], env_xdg[PATH_MAX + 32];
    struct demo d;
    long long t0 = now_ms();

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0)
            check_mode = 1;
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = 1;
        else if (i + 1 < argc && strcmp(argv[i], "--hotc") == 0)
            hotc = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--build") == 0)
            build = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--examples") == 0)
            examples = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--work") == 0)
            work = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--example") == 0)
            name = argv[++i];
        else
            usage();
    }
    if (!hotc || !build || !examples || !work)
        usage();
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(scenarios[i].name, name) == 0)
            sc = &scenarios[i];
    if (!sc)
        usage();
    static char hotc_abs[PATH_MAX];
    if (!realpath(hotc, hotc_abs)) {
        fprintf(stderr, "hotc-demo: %s: %s (run make first)\n", hotc, strerror(errno));
        return 2;
    }
    hotc = hotc_abs;
    color = isatty(STDOUT_FILENO) && !check_mode && getenv("NO_COLOR") == NULL;
    signal(SIGPIPE, SIG_IGN);
    memset(&d, 0, sizeof d);
    d.prog.fd = d.prog.in = -1;

    /* 1. A fresh copy of the example, built by its own Makefile. */
    if (!realpath(work, workdir) && (mkdirs(work) != 0 || !realpath(work, workdir))) {
        fprintf(stderr, "hotc-demo: cannot use work directory %s\n", work);
        return 2;
    }
    snprintf(workdir + strlen(workdir), sizeof workdir - strlen(workdir), "/%s", sc->name);
    mkdirs(workdir);
    snprintf(src, sizeof src, "%s/%s/%s", examples, sc->name, sc->file);
    snprintf(makefile, sizeof makefile, "%s/%s/Makefile", examples, sc->name);
    snprintf(d.path, sizeof d.path, "%s/%s", workdir, sc->file);
    d.text = test_slurp(src, NULL);
    if (!d.text || write_file(d.path, d.text) != 0) {
        fprintf(stderr, "hotc-demo: cannot copy %s to %s\n", src, d.path);
        return 2;
    }
    say("Building examples/%s in %s", sc->name, workdir);
    {
        char hb[PATH_MAX + 16];
        snprintf(hb, sizeof hb, "HOTC_BUILD=%s", build);
        char *const mk[] = {"make", "-s", "-B", "-C", workdir, "-f", makefile, hb, NULL};
        if (run_wait(mk) != 0) {
            fprintf(stderr, "hotc-demo: building the example failed\n");
            return 1;
        }
    }
    snprintf(d.uri, sizeof d.uri, "file://%s", d.path);

    /* 2. The server, with its runtime socket in a directory of its own. */
    snprintf(rundir, sizeof rundir, "%s/run", workdir);
    mkdirs(rundir);
    chmod(rundir, 0700);
    snprintf(endpoint_file, sizeof endpoint_file, "%s/hotc/endpoint", rundir);
    unlink(endpoint_file);
    snprintf(env_xdg, sizeof env_xdg, "XDG_RUNTIME_DIR=%s", rundir);
    /* the programs' saved state in the work directory, fresh each run (not
     * the user's ~/.local/state) */
    char statedir[PATH_MAX + 16], env_state[PATH_MAX + 32];
    snprintf(statedir, sizeof statedir, "%s/state", workdir);
    {
        char *const rm[] = {"rm", "-rf", statedir, NULL};
        run_wait(rm);
    }
    snprintf(env_state, sizeof env_state, "XDG_STATE_HOME=%s", statedir);
    const char *env[] = {env_xdg, env_state, NULL};
    /* what the editor's restart builds with (the example's own Makefile) */
    static char build_cmd[3 * PATH_MAX];
    snprintf(build_cmd, sizeof build_cmd, "make -s -B -C %s -f %s HOTC_BUILD=%s", workdir, makefile, build);
    struct lspclient_options opt = {.hotc = hotc, .env = env, .cwd = workdir,
                                    .quiet_stderr = !verbose};
    say("Starting the server: %s lsp", hotc);
    d.lsp = lspclient_start(&opt);
    if (!d.lsp) {
        fprintf(stderr, "hotc-demo: cannot start %s\n", hotc);
        return 1;
    }
    char root[PATH_MAX + 8];
    snprintf(root, sizeof root, "file://%s", workdir);
    json_t *init = lspclient_initialize(
        d.lsp,
        json_pack("{s:i, s:s, s:{s:{s:b}, s:{s:{s:b}}, s:{s:{s:b}}}, s:{s:s, s:s}}", "processId",
                  (int)getpid(), "rootUri", root, "capabilities", "window", "workDoneProgress", 1,
                  "workspace", "codeLens", "refreshSupport", 1, "textDocument", "synchronization",
                  "didSave", 1, "initializationOptions", "compileCommands", workdir, "build", build_cmd),
        15000);
    if (!expect(init != NULL, "the server answered initialize")) {
        lspclient_free(d.lsp);
        return 1;
    }
    json_decref(init);

    /* 3. The program, told where the server is. */
    int got = wait_until(&d, 15000, endpoint_ready, endpoint_file);
    char *endpoint = got ? test_slurp(endpoint_file, NULL) : NULL;
    if (!expect(endpoint != NULL, "the server wrote its endpoint (%s)", endpoint_file))
        goto out;
    endpoint[strcspn(endpoint, "\r\n")] = '\0';
    note("endpoint: %s", endpoint);
    if (sc->shots) {
        snprintf(shots, sizeof shots, "%s/shots", workdir);
        mkdirs(shots);
    }
    say("Launching %s with HOTC_ENDPOINT=%s", sc->prog, endpoint);
    if (program_start(&d.prog, workdir, endpoint, sc->shots ? shots : NULL) != 0) {
        expect(0, "cannot start the program");
        goto out;
    }
    free(endpoint);
    got = wait_until(&d, 20000, program_attached, NULL);
    expect(got, "the program attached to the server (hotc/status programs >= 1)");
    got = wait_until(&d, 20000, has_status_line, sc->before);
    if (!expect(got, "the program runs its original code (%s)", sc->before) || !d.status)
        goto out;

    /* 4. The editor opens the file. */
    say("Opening %s in the \"editor\"", sc->file);
    d.doc_version = 1;
    lspclient_notify(d.lsp, "textDocument/didOpen",
                     json_pack("{s:{s:s, s:s, s:i, s:s}}", "textDocument", "uri", d.uri,
                               "languageId", "c", "version", d.doc_version, "text", d.text));
    int target = d.prog.lines + (check_mode ? 1 : 2);
    wait_until(&d, 10000, lines_at_least, &target);

    for (int i = 0; i < 3; i++) {
        const struct step *st = &sc->steps[i];
        say("Save %d: %s", i + 1, st->what);
        if (st->kind == STEP_RELOAD)
            do_reload(&d, st);
        else
            do_compile_error(&d, st, i > 0 ? sc->steps[i - 1].expect : sc->before);
        if (failures && check_mode)
            break;
        if (!check_mode) { /* let the new code run for a moment on screen */
            target = d.prog.lines + 2;
            wait_until(&d, 10000, lines_at_least, &target);
        }
    }

    if (sc->restart && !failures) {
        say("Restart: the editor's restart rebuilds %s, and it gets its state back", sc->prog);
        do_restart(&d, workdir);
    }

    if (sc->shots && !failures) {
        char a[PATH_MAX + 32], b[PATH_MAX + 32];
        snprintf(a, sizeof a, "%s/shot-v0.bmp", shots);
        snprintf(b, sizeof b, "%s/shot-v%ld.bmp", shots, field_long(d.prog.last, "version="));
        struct stat sa, sb;
        char *x = test_slurp(a, NULL), *y = test_slurp(b, NULL);
        int both = x && y && stat(a, &sa) == 0 && stat(b, &sb) == 0;
        expect(both, "screenshots %s and %s were written", a, b);
        expect(both && (sa.st_size != sb.st_size ||
                        memcmp(x, y, (size_t)sa.st_size) != 0), "the screenshots differ");
        free(x);
        free(y);
    }

out:
    if (!failures || !check_mode)
        summary(&d);
    program_stop(&d.prog);
    int rc = lspclient_shutdown(d.lsp, 10000);
    expect(rc == 0, "the server shut down cleanly (exit status %d)", rc);
    lspclient_free(d.lsp);
    for (int i = 0; i < d.nrecords; i++) {
        json_decref(d.records[i].status);
        json_decref(d.records[i].reloaded);
    }
    json_decref(d.status);
    json_decref(d.reloaded);
    json_decref(d.restart_result);
    json_decref(d.diags);
    free(d.text);

    if (failures)
        say("hotc demo: %d check%s failed (%.1f s)", failures, failures == 1 ? "" : "s",
            (double)(now_ms() - t0) / 1000.0);
    else
        say("hotc demo: all steps passed (%.1f s)", (double)(now_ms() - t0) / 1000.0);
    return failures ? 1 : 0;
}
