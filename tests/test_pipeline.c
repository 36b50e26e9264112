/* End to end: the real `hotc lsp`, a real program linked with the real
 * runtime (tests/fixtures/pipeline/prog.c, built by the test with -g -O1
 * and described by a compile_commands.json the test writes), and an LSP
 * client. Open the file, change a HOT function, save: the program's output
 * changes while its counters continue. A compile error gives a diagnostic
 * and no reload; a signature change gives a warning and no reload of that
 * function (the rest of the save is applied); rollback; run and restart.
 * Every message between the server and the runtime (HOTC_LINK_TRACE) and
 * every hotc/ notification is validated against schema/. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lspclient.h"
#include "run.h"

#define T 60000 /* ms; generous: the machine is shared and compiles are slow under load */

#if defined(__SANITIZE_ADDRESS__)
#define PIPE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PIPE_SANITIZED 1
#endif
#endif

struct env {
    char dir[64];
    char src[PATH_MAX];
    char uri[PATH_MAX + 8];
    char prog[PATH_MAX];
    char out[PATH_MAX];
    char *text;              /* the fixture's text */
    struct lspclient *c;
    pid_t pid;               /* the program started by the test */
    json_t *editor;          /* kind -> [params] of hotc/ notifications */
    json_t *history;         /* every message read, in order */
    int version;             /* of the document */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int sh(const char *cmd, char *out, size_t size)
{
    char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
    return test_run(argv, out, size, 180000);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = calloc(1, (size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* The fixture with `from` replaced by `to` (each pair, in order). */
static char *edit(const char *text, const char *const *pairs)
{
    char *s = strdup(text);
    for (size_t i = 0; pairs[i]; i += 2) {
        char *at = strstr(s, pairs[i]), *n;
        cr_assert(at, "fixture lacks '%s'", pairs[i]);
        n = malloc(strlen(s) - strlen(pairs[i]) + strlen(pairs[i + 1]) + 1);
        sprintf(n, "%.*s%s%s", (int)(at - s), s, pairs[i + 1], at + strlen(pairs[i]));
        free(s);
        s = n;
    }
    return s;
}

/* 0-based line of the first occurrence of `needle` in `text`. */
static int line_of(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    int line = 0;
    cr_assert(at);
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    return line;
}

/* Flags that link with libhotc: the build's own, or, when the tests run
 * under sanitizers, a plain copy built once (the program runs without them). */
static const char *hotc_flags(void)
{
    static char flags[2 * PATH_MAX + 256];
    char cmd[4 * PATH_MAX + 1024], dir[PATH_MAX];

#ifdef PIPE_SANITIZED
    snprintf(dir, sizeof dir, "%s", test_build_path("tests/pipe-plain"));
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && cd '%s' && exec 9>lock && flock 9 && "
             "if [ ! -f libhotc.a ] || [ -n \"$(find '%s/runtime' -newer libhotc.a -name '*.[ch]')\" ]; then "
             "gcc -std=c11 -O2 -g -fPIC -fvisibility=hidden -D_GNU_SOURCE -DHOTC_VERSION='\"%s\"' "
             "-c '%s'/runtime/*.c && rm -f libhotc.a && ar rcs libhotc.a *.o; fi",
             dir, dir, HOTC_SOURCE_DIR, HOTC_VERSION, HOTC_SOURCE_DIR);
    cr_assert_eq(sh(cmd, NULL, 0), 0, "cannot build a plain libhotc");
    snprintf(flags, sizeof flags, "-I'%s/runtime' -rdynamic '%s/libhotc.a' -ljansson -ldl -lpthread",
             HOTC_SOURCE_DIR, dir);
#else
    (void)dir;
    (void)cmd;
    snprintf(flags, sizeof flags, "$(PKG_CONFIG_PATH='%s' pkg-config --cflags --libs hotc) -ljansson -ldl -lpthread",
             test_build_path("pkgconfig"));
#endif
    return flags;
}

static void record(struct env *e, json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *list;

    if (!method || strncmp(method, "hotc/", 5) != 0)
        return;
    char kind[64];
    snprintf(kind, sizeof kind, "hotc-%s", method + 5);
    list = json_object_get(e->editor, kind);
    if (!list) {
        list = json_array();
        json_object_set_new(e->editor, kind, list);
    }
    json_array_append(list, json_object_get(msg, "params"));
}

typedef int (*match_fn)(json_t *params, const void *arg);

/* Reads messages (recording the hotc/ ones) until one with `method` whose
 * params satisfy `match` (NULL: any). Returns its params (new reference). */
static json_t *wait_for(struct env *e, const char *method, match_fn match, const void *arg, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    for (;;) {
        long long left = deadline - now_ms();
        json_t *msg = left > 0 ? lspclient_read(e->c, (int)left) : NULL;
        const char *m;

        cr_assert(msg, "timed out waiting for %s", method);
        record(e, msg);
        json_array_append(e->history, msg);
        m = json_string_value(json_object_get(msg, "method"));
        if (m && strcmp(m, method) == 0 && (!match || match(json_object_get(msg, "params"), arg))) {
            json_t *params = json_incref(json_object_get(msg, "params"));
            json_decref(msg);
            return params;
        }
        json_decref(msg);
    }
}

/* Like wait_for, but a message already read earlier also counts. */
static json_t *wait_seen(struct env *e, const char *method, match_fn match, const void *arg, int timeout_ms)
{
    size_t i;
    json_t *msg;

    json_array_foreach(e->history, i, msg) {
        const char *m = json_string_value(json_object_get(msg, "method"));
        if (m && strcmp(m, method) == 0 && (!match || match(json_object_get(msg, "params"), arg)))
            return json_incref(json_object_get(msg, "params"));
    }
    return wait_for(e, method, match, arg, timeout_ms);
}

static int programs_is(json_t *params, const void *arg)
{
    return json_integer_value(json_object_get(params, "programs")) == *(const int *)arg;
}

static int last_result_is(json_t *params, const void *arg)
{
    const char *r = json_string_value(json_object_get(json_object_get(params, "last"), "result"));
    return r && strcmp(r, arg) == 0;
}

static int progress_is(json_t *params, const void *arg)
{
    const char *kind = json_string_value(json_object_get(json_object_get(params, "value"), "kind"));
    return kind && strcmp(kind, arg) == 0;
}

static int log_contains(json_t *params, const void *arg)
{
    const char *m = json_string_value(json_object_get(params, "message"));
    return m && strstr(m, arg) != NULL;
}

struct diag_match {
    const char *uri;
    const char *code;    /* a diagnostic with this code, or NULL */
    int severity;        /* with this severity (0: any) */
    int none;            /* match when there is no diagnostic with `severity` at all */
};

static int diags_match(json_t *params, const void *arg)
{
    const struct diag_match *want = arg;
    json_t *list = json_object_get(params, "diagnostics"), *d;
    size_t i;
    int found = 0;

    if (strcmp(json_string_value(json_object_get(params, "uri")), want->uri) != 0)
        return 0;
    json_array_foreach(list, i, d) {
        const char *code = json_string_value(json_object_get(d, "code"));
        int sev = (int)json_integer_value(json_object_get(d, "severity"));
        if ((!want->severity || sev == want->severity) && (!want->code || (code && !strcmp(code, want->code))))
            found = 1;
    }
    return want->none ? !found : found;
}

/* The last line of the program's output that contains `text`, waiting for
 * one (a copy), or NULL at the deadline. */
static char *wait_output(struct env *e, const char *text, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    for (;;) {
        char *out = slurp(e->out), *hit = NULL;
        for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n"))
            if (strstr(line, text)) {
                free(hit);
                hit = strdup(line);
            }
        free(out);
        if (hit || now_ms() > deadline)
            return hit;
        usleep(20000);
    }
}

static long field(const char *line, const char *name)
{
    char key[64];
    const char *at;
    snprintf(key, sizeof key, "%s=", name);
    at = strstr(line, key);
    cr_assert(at, "no %s in '%s'", name, line);
    return atol(at + strlen(key));
}

/* Waits for a line with `text` printed after `after` (a line of the
 * output: its calls= counter is smaller). */
static void expect_output(struct env *e, const char *text, const char *after, const char *why)
{
    long long deadline = now_ms() + T;
    long min = after ? field(after, "calls") : -1;

    for (;;) {
        char *line = wait_output(e, text, T);
        long calls = line ? field(line, "calls") : -1;
        free(line);
        if (calls > min)
            return;
        cr_assert(now_ms() < deadline, "%s", why);
        usleep(20000);
    }
}

/* A temporary project: the fixture, compile_commands.json, the program. */
static void setup_project(struct env *e)
{
    char cmd[16384], out[8192];
    const char *flags = hotc_flags();

    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/hotc-pipe-XXXXXX");
    cr_assert(mkdtemp(e->dir));
    e->editor = json_object();
    e->history = json_array();
    e->text = slurp(test_source_path("tests/fixtures/pipeline/prog.c"));
    cr_assert(e->text);
    snprintf(e->src, sizeof e->src, "%s/prog.c", e->dir);
    snprintf(e->uri, sizeof e->uri, "file://%s", e->src);
    snprintf(e->prog, sizeof e->prog, "%s/prog", e->dir);
    snprintf(e->out, sizeof e->out, "%s/prog.out", e->dir);
    spit(e->src, e->text);
    snprintf(cmd, sizeof cmd, "%s/compile_commands.json", e->dir);
    json_t *db = json_pack("[{s:s, s:s, s:[s,s,s,s,s,s,s,s,s,s]}]", "directory", e->dir, "file", "prog.c",
                           "arguments", "gcc", "-std=gnu11", "-g", "-O1", "-I", test_source_path("runtime"),
                           "-o", "prog", "prog.c", "-Wall");
    cr_assert_eq(json_dump_file(db, cmd, 0), 0);
    json_decref(db);
    snprintf(cmd, sizeof cmd, "cd '%s' && gcc -std=gnu11 -g -O1 -Wall -o prog prog.c %s", e->dir, flags);
    cr_assert_eq(sh(cmd, out, sizeof out), 0, "cannot build the program: %s", out);
    snprintf(cmd, sizeof cmd, "%s/run", e->dir);
    cr_assert_eq(mkdir(cmd, 0700), 0);
}

static void start_server(struct env *e, json_t *settings)
{
    char xdg[PATH_MAX + 32], trace[PATH_MAX + 32], log[PATH_MAX];
    const char *env[] = { xdg, trace, NULL };
    const char *args[] = { "--log", log, NULL };
    struct lspclient_options opt = { .env = env, .args = args, .quiet_stderr = 1 };
    char root[PATH_MAX + 8];
    json_t *r;

    snprintf(xdg, sizeof xdg, "XDG_RUNTIME_DIR=%s/run", e->dir);
    snprintf(trace, sizeof trace, "HOTC_LINK_TRACE=%s/link.jsonl", e->dir);
    snprintf(log, sizeof log, "%s/server.log", e->dir);
    snprintf(root, sizeof root, "file://%s", e->dir);
    e->c = lspclient_start(&opt);
    cr_assert(e->c, "cannot start hotc lsp");
    r = lspclient_initialize(
        e->c,
        json_pack("{s:i, s:s, s:{s:{s:b}, s:{s:{s:b}}}, s:{s:o}}", "processId", (int)getpid(), "rootUri", root,
                  "capabilities", "window", "workDoneProgress", 1, "workspace", "codeLens", "refreshSupport", 1,
                  "initializationOptions", "hotc", settings ? settings : json_object()),
        T);
    cr_assert(r, "no initialize result");
    json_decref(r);
}

static void start_program(struct env *e)
{
    char endpoint[PATH_MAX + 64];

    snprintf(endpoint, sizeof endpoint, "unix:%s/run/hotc/%ld.sock", e->dir, (long)lspclient_pid(e->c));
    e->pid = fork();
    cr_assert(e->pid >= 0);
    if (e->pid == 0) {
        int fd = open(e->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("HOTC_ENDPOINT", endpoint, 1);
        execl(e->prog, e->prog, "120000", (char *)NULL);
        _exit(127);
    }
}

static void open_doc(struct env *e)
{
    lspclient_notify(e->c, "textDocument/didOpen",
                     json_pack("{s:{s:s, s:s, s:i, s:s}}", "textDocument", "uri", e->uri, "languageId", "c",
                               "version", ++e->version, "text", e->text));
}

/* Like an editor: the new text as a change, on disk, then didSave. */
static void save(struct env *e, const char *text)
{
    lspclient_notify(e->c, "textDocument/didChange",
                     json_pack("{s:{s:s, s:i}, s:[{s:s}]}", "textDocument", "uri", e->uri, "version", ++e->version,
                               "contentChanges", "text", text));
    spit(e->src, text);
    lspclient_notify(e->c, "textDocument/didSave", json_pack("{s:{s:s}}", "textDocument", "uri", e->uri));
}

static json_t *command(struct env *e, const char *name, json_t *args)
{
    json_t *r = lspclient_request(e->c, "workspace/executeCommand",
                                  json_pack("{s:s, s:o}", "command", name, "arguments", args ? args : json_array()),
                                  T);
    cr_assert(r, "no answer to %s", name);
    return r;
}

/* Validates every line of `lines` (JSON values) against `schema`. */
static void validate(struct env *e, const char *schema, json_t *lines, const char *kind)
{
    char path[PATH_MAX + 64], cmd[3 * PATH_MAX], out[8192];
    FILE *f;
    size_t i;
    json_t *v;

    snprintf(path, sizeof path, "%s/traffic-%s.jsonl", e->dir, kind);
    f = fopen(path, "w");
    cr_assert(f);
    json_array_foreach(lines, i, v) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fprintf(f, "%s\n", s);
        free(s);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' < '%s'", test_source_path("tools/schema_check.py"),
             schema, path);
    cr_assert_eq(sh(cmd, out, sizeof out), 0, "%s does not match %s:\n%s", kind, schema, out);
}

/* The runtime traffic from HOTC_LINK_TRACE, each kind against its schema;
 * `required` kinds must be present. */
static void validate_traffic(struct env *e, const char *const *required)
{
    char path[PATH_MAX + 32], schema[PATH_MAX];
    char *trace;
    json_t *kinds = json_object(), *list;
    const char *kind;

    snprintf(path, sizeof path, "%s/link.jsonl", e->dir);
    trace = slurp(path);
    cr_assert(trace, "no runtime traffic was traced");
    for (char *line = strtok(trace, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *entry = json_loads(line, 0, NULL);
        const char *k = json_string_value(json_object_get(entry, "kind"));
        cr_assert(k, "bad trace line %s", line);
        list = json_object_get(kinds, k);
        if (!list) {
            list = json_array();
            json_object_set_new(kinds, k, list);
        }
        json_array_append(list, json_object_get(entry, "message"));
        json_decref(entry);
    }
    free(trace);
    for (size_t i = 0; required[i]; i++)
        cr_assert(json_object_get(kinds, required[i]) || json_object_get(e->editor, required[i]),
                  "no %s message was seen", required[i]);
    json_object_foreach(kinds, kind, list) {
        snprintf(schema, sizeof schema, "%s", test_source_path("schema/runtime/"));
        strncat(schema, kind, sizeof schema - strlen(schema) - 20);
        strcat(schema, ".schema.json");
        if (strstr(kind, ".result")) {
            /* hot-reload.result -> hot-reload.result.schema.json */
            snprintf(schema, sizeof schema, "%s%s.schema.json", test_source_path("schema/runtime/"), kind);
        }
        validate(e, schema, list, kind);
    }
    json_object_foreach(e->editor, kind, list) {
        snprintf(schema, sizeof schema, "%s%s.schema.json", test_source_path("schema/editor/"), kind);
        validate(e, schema, list, kind);
    }
    json_decref(kinds);
}

static void teardown(struct env *e)
{
    if (e->c) {
        cr_assert_eq(lspclient_shutdown(e->c, T), 0);
        cr_assert_eq(lspclient_garbage(e->c), 0, "stdout must carry protocol only");
        lspclient_free(e->c);
        e->c = NULL;
    }
    if (e->pid > 0) {
        int status;
        kill(e->pid, SIGTERM);
        waitpid(e->pid, &status, 0);
        e->pid = 0;
    }
}

static void remove_project(struct env *e)
{
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    sh(cmd, NULL, 0);
    json_decref(e->editor);
    json_decref(e->history);
    free(e->text);
}

/* The lens title of HOT function `name` (a copy). */
static char *lens_title(struct env *e, int line)
{
    json_t *r = lspclient_request(e->c, "textDocument/codeLens",
                                  json_pack("{s:{s:s}}", "textDocument", "uri", e->uri), T), *l;
    size_t i;
    char *title = NULL;

    cr_assert(r);
    json_array_foreach(json_object_get(r, "result"), i, l) {
        json_t *start = json_object_get(json_object_get(l, "range"), "start");
        if (json_integer_value(json_object_get(start, "line")) == line)
            title = strdup(json_string_value(json_object_get(json_object_get(l, "command"), "title")));
    }
    json_decref(r);
    cr_assert(title, "no lens at line %d", line);
    return title;
}

Test(pipeline, save_reloads_the_running_program)
{
    struct env e;
    int one = 1;
    json_t *p, *r;
    char *line0, *line1, *line2, *line3, *title;

    setup_project(&e);
    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    line0 = wait_output(&e, "value=101 step=1", T);
    cr_assert(line0, "the program did not start");

    /* 1. change value(), save: the program runs the new code, counters go on */
    char *v200 = edit(e.text, (const char *const[]){ "return x + 100;", "return x + 200;", NULL });
    save(&e, v200);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    cr_assert_str_eq(json_string_value(json_object_get(p, "uri")), e.uri);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "functions"), 0)), "value");
    cr_assert_eq(json_array_size(json_object_get(p, "functions")), 1);
    r = json_array_get(json_object_get(p, "programs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "applied", "%s",
                     json_string_value(json_object_get(r, "reason")));
    cr_assert_eq(json_integer_value(json_object_get(r, "pid")), e.pid);
    json_decref(p);
    line1 = wait_output(&e, "value=201 step=1", T);
    cr_assert(line1, "the program does not run the new code");
    cr_assert_gt(field(line1, "calls"), field(line0, "calls"), "the function-local static was reset");
    cr_assert_gt(field(line1, "seen"), field(line0, "seen"), "the file-scope static was reset");
    cr_assert_gt(field(line1, "frames"), field(line0, "frames"));
    cr_assert_eq(field(line1, "version"), 1);
    p = wait_for(&e, "hotc/status", last_result_is, "applied", T);
    cr_assert_eq(json_integer_value(json_object_get(p, "reloads")), 1);
    cr_assert_eq(json_integer_value(json_object_get(p, "programs")), 1);
    cr_assert(json_object_get(json_object_get(json_object_get(p, "last"), "timings"), "compileUs"));
    json_decref(p);
    title = lens_title(&e, line_of(v200, "HOT int value"));
    cr_assert(strstr(title, "v1") && strstr(title, "reloaded 1×"), "lens: %s", title);
    free(title);
    p = wait_seen(&e, "$/progress", progress_is, "end", T);
    json_decref(p);
    r = lspclient_request(e.c, "textDocument/hover",
                          json_pack("{s:{s:s}, s:{s:i, s:i}}", "textDocument", "uri", e.uri, "position", "line",
                                    line_of(v200, "HOT int value"), "character", 9),
                          T);
    {
        const char *md = json_string_value(
            json_object_get(json_object_get(json_object_get(r, "result"), "contents"), "value"));
        cr_assert(md && strstr(md, "v1 applied"), "hover: %s", md ? md : "(none)");
    }
    json_decref(r);

    /* 2. a compile error: a diagnostic at the line, nothing pushed */
    char *broken = edit(v200, (const char *const[]){ "return x + 200;", "return x + ;", NULL });
    save(&e, broken);
    struct diag_match err = { e.uri, NULL, 1, 0 };
    p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &err, T);
    {
        json_t *d = json_array_get(json_object_get(p, "diagnostics"), 0);
        size_t i;
        json_array_foreach(json_object_get(p, "diagnostics"), i, d)
            if (json_integer_value(json_object_get(d, "severity")) == 1)
                break;
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(d, "range"), "start"), "line")),
                     line_of(broken, "return x + ;"));
    }
    json_decref(p);
    p = wait_for(&e, "hotc/status", last_result_is, "compileError", T);
    cr_assert_eq(json_integer_value(json_object_get(p, "reloads")), 1);
    json_decref(p);

    /* fixed: reloads, and the compiler's diagnostics are cleared */
    char *v300 = edit(v200, (const char *const[]){ "return x + 200;", "return x + 300;", NULL });
    save(&e, v300);
    struct diag_match clean = { e.uri, NULL, 1, 1 };
    p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &clean, T);
    json_decref(p);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(p, "programs"), 0), "status")),
                     "applied");
    json_decref(p);
    line2 = wait_output(&e, "value=301 step=1", T);
    cr_assert(line2, "the second reload did not apply");
    cr_assert_gt(field(line2, "calls"), field(line1, "calls"));
    {
        char *all = slurp(e.out);
        cr_assert(all && !strstr(all, "value=1 "), "the broken code must never run");
        free(all);
    }

    /* 3. a signature change: a warning, value() not pushed, step() is */
    char *sig = edit(v300, (const char *const[]){ "HOT int value(int x)", "HOT int value(long x)", "return 1;",
                                                  "return 2;", NULL });
    save(&e, sig);
    struct diag_match warn = { e.uri, "signature-changed", 2, 0 };
    p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &warn, T);
    json_decref(p);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    cr_assert_eq(json_array_size(json_object_get(p, "functions")), 1);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "functions"), 0)), "step");
    json_decref(p);
    line3 = wait_output(&e, "value=301 step=2", T);
    cr_assert(line3, "step() was not reloaded");
    cr_assert_gt(field(line3, "calls"), field(line2, "calls"));
    title = lens_title(&e, line_of(sig, "HOT int value"));
    cr_assert(strstr(title, "stale"), "lens: %s", title);
    free(title);

    /* 4. rollback: back to the version before */
    r = command(&e, "hotc.server.rollback", NULL);
    {
        json_t *prog = json_array_get(json_object_get(json_object_get(r, "result"), "programs"), 0);
        cr_assert_str_eq(json_string_value(json_object_get(prog, "status")), "rolledBack", "%s",
                         json_dumps(r, 0));
        cr_assert_eq(json_integer_value(json_object_get(prog, "version")), 2);
    }
    json_decref(r);
    p = wait_for(&e, "hotc/status", last_result_is, "rolledBack", T);
    json_decref(p);
    expect_output(&e, "value=301 step=1 ", line3, "rollback did not return to the previous version");

    /* 5. reload now: pushes the file's compatible HOT functions again */
    r = command(&e, "hotc.server.reload", json_pack("[s]", e.uri));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "result"), "result")), "applied", "%s",
                     json_dumps(r, 0));
    json_decref(r);
    expect_output(&e, "value=301 step=2 ", line3, "reload now did not apply");
    {
        char *last = wait_output(&e, "value=301 step=2 ", T);
        cr_assert_eq(field(last, "version"), 4);
        free(last);
    }
    p = wait_for(&e, "hotc/status", last_result_is, "applied", T);
    json_decref(p);

    teardown(&e);
    validate_traffic(&e, (const char *const[]){ "hot-attach", "hot-attach.result", "hot-reload",
                                                "hot-reload.result", "hot-rollback", "hot-rollback.result",
                                                "hotc-status", "hotc-reloaded", NULL });
    free(v200);
    free(broken);
    free(v300);
    free(sig);
    free(line0);
    free(line1);
    free(line2);
    free(line3);
    remove_project(&e);
}

static int status_pid_not(json_t *params, const void *arg)
{
    (void)params;
    (void)arg;
    return 1;
}

Test(pipeline, run_and_restart_the_program)
{
    struct env e;
    int one = 1, zero = 0;
    json_t *p, *r;
    long pid1, pid2;

    setup_project(&e);
    /* the project's compiler only (no tcc): the other path of the driver */
    start_server(&e, json_pack("{s:{s:s, s:[s]}, s:s}", "program", "path", e.prog, "args", "120000", "fastCompiler",
                               "off"));
    r = command(&e, "hotc.server.run", json_pack("[s]", e.uri));
    pid1 = (long)json_integer_value(json_object_get(json_object_get(r, "result"), "pid"));
    cr_assert_gt(pid1, 0, "%s", json_dumps(r, 0));
    json_decref(r);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    /* its output goes to the server's log */
    p = wait_seen(&e, "window/logMessage", log_contains, "value=101", T);
    json_decref(p);

    r = command(&e, "hotc.server.restart", NULL);
    pid2 = (long)json_integer_value(json_object_get(json_object_get(r, "result"), "pid"));
    cr_assert_gt(pid2, 0, "%s", json_dumps(r, 0));
    cr_assert_neq(pid1, pid2);
    json_decref(r);
    p = wait_for(&e, "hotc/status", programs_is, &zero, T);
    json_decref(p);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    (void)status_pid_not;

    /* a change reaches the launched program too */
    open_doc(&e);
    char *v200 = edit(e.text, (const char *const[]){ "return x + 100;", "return x + 200;", NULL });
    save(&e, v200);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(json_object_get(p, "programs"), 0), "pid")), pid2);
    json_decref(p);
    p = wait_seen(&e, "window/logMessage", log_contains, "value=201", T);
    json_decref(p);
    free(v200);

    teardown(&e);
    /* the server stops the program it started */
    long long deadline = now_ms() + T;
    while (kill((pid_t)pid2, 0) == 0 && now_ms() < deadline)
        usleep(20000);
    cr_assert(kill((pid_t)pid2, 0) != 0, "the launched program still runs");
    remove_project(&e);
}

Test(pipeline, a_program_that_dies_is_reported)
{
    struct env e;
    int one = 1, zero = 0;
    json_t *p;

    setup_project(&e);
    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    expect_output(&e, "value=101", NULL, "the program did not start");
    kill(e.pid, SIGKILL);
    waitpid(e.pid, NULL, 0);
    e.pid = 0;
    p = wait_for(&e, "window/showMessage", log_contains, "exited or disconnected", T);
    json_decref(p);
    p = wait_for(&e, "hotc/status", programs_is, &zero, T);
    json_decref(p);
    /* the server keeps working: a save with nothing attached is fine */
    char *v200 = edit(e.text, (const char *const[]){ "return x + 100;", "return x + 200;", NULL });
    save(&e, v200);
    free(v200);

    json_t *r = lspclient_request(e.c, "textDocument/codeLens", json_pack("{s:{s:s}}", "textDocument", "uri", e.uri), T);
    cr_assert(r);
    json_decref(r);
    teardown(&e);
    remove_project(&e);
}
