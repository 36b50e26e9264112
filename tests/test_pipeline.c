/* End to end: the real `hotc lsp`, a real program linked with the real
 * runtime (tests/fixtures/pipeline/prog.c, built by the test with -g -O1
 * and described by a compile_commands.json the test writes), and an LSP
 * client. Open the file, change a HOT function, save: the program's output
 * changes while its counters continue. A compile error gives a diagnostic
 * and no reload; a signature change gives a warning and no reload of that
 * function (the rest of the save is applied); rollback; run and restart;
 * the order of hotc/status and hotc/reloaded; a program attached over TCP
 * with the token; saves batched together; header saves; crashes in
 * reloaded code, with and without hot_guard.
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
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lspclient.h"
#include "e2e.h"
#include "run.h"
#include "../runtime/hmac.h"

#define T 60000 /* ms; generous: the machine is shared and compiles are slow under load */

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
    char tmp[PATH_MAX];      /* the server's TMPDIR, when not empty */
};

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
    long long deadline = test_now_ms() + timeout_ms;

    for (;;) {
        long long left = deadline - test_now_ms();
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
    long long deadline = test_now_ms() + timeout_ms;

    for (;;) {
        char *out = test_slurp(e->out, NULL), *hit = NULL;
        for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n"))
            if (strstr(line, text)) {
                free(hit);
                hit = strdup(line);
            }
        free(out);
        if (hit || test_now_ms() > deadline)
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
    long long deadline = test_now_ms() + T;
    long min = after ? field(after, "calls") : -1;

    for (;;) {
        char *line = wait_output(e, text, T);
        long calls = line ? field(line, "calls") : -1;
        free(line);
        if (calls > min)
            return;
        cr_assert(test_now_ms() < deadline, "%s", why);
        usleep(20000);
    }
}

/* A temporary project: the fixture, compile_commands.json, the program. */
static void setup_project(struct env *e)
{
    char cmd[16384], out[8192];
    const char *flags = test_hotc_flags();

    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/hotc-pipe-XXXXXX");
    cr_assert(mkdtemp(e->dir));
    e->editor = json_object();
    e->history = json_array();
    e->text = test_slurp(test_source_path("tests/fixtures/pipeline/prog.c"), NULL);
    cr_assert(e->text);
    snprintf(e->src, sizeof e->src, "%s/prog.c", e->dir);
    snprintf(e->uri, sizeof e->uri, "file://%s", e->src);
    snprintf(e->prog, sizeof e->prog, "%s/prog", e->dir);
    snprintf(e->out, sizeof e->out, "%s/prog.out", e->dir);
    test_spit(e->src, e->text);
    snprintf(cmd, sizeof cmd, "%s/compile_commands.json", e->dir);
    json_t *db = json_pack("[{s:s, s:s, s:[s,s,s,s,s,s,s,s,s,s]}]", "directory", e->dir, "file", "prog.c",
                           "arguments", "gcc", "-std=gnu11", "-g", "-O1", "-I", test_source_path("runtime"),
                           "-o", "prog", "prog.c", "-Wall");
    cr_assert_eq(json_dump_file(db, cmd, 0), 0);
    json_decref(db);
    snprintf(cmd, sizeof cmd, "cd '%s' && gcc -std=gnu11 -g -O1 -Wall -o prog prog.c %s", e->dir, flags);
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "cannot build the program: %s", out);
    snprintf(cmd, sizeof cmd, "%s/run", e->dir);
    cr_assert_eq(mkdir(cmd, 0700), 0);
}

/* A temporary project of fixture files (tests/fixtures/pipeline/NAME): the
 * .c files are built into one program `prog` (with `args` given to it by
 * start_program), each with a compile_commands.json entry; e->src is the
 * first. */
static void setup_files(struct env *e, const char *const *names)
{
    char cmd[16384], out[8192], files[2048] = "", path[PATH_MAX], fixture[PATH_MAX];
    json_t *db = json_array();
    size_t used = 0;

    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/hotc-pipe-XXXXXX");
    cr_assert(mkdtemp(e->dir));
    e->editor = json_object();
    e->history = json_array();
    for (size_t i = 0; names[i]; i++) {
        char *text;
        snprintf(fixture, sizeof fixture, "tests/fixtures/pipeline/%s", names[i]);
        text = test_slurp(test_source_path(fixture), NULL);
        cr_assert(text, "no fixture %s", names[i]);
        snprintf(path, sizeof path, "%s/%s", e->dir, names[i]);
        test_spit(path, text);
        if (!e->text && strstr(names[i], ".c")) {
            e->text = text;
            snprintf(e->src, sizeof e->src, "%s", path);
            snprintf(e->uri, sizeof e->uri, "file://%s", path);
        } else {
            free(text);
        }
        if (strstr(names[i], ".c")) {
            json_array_append_new(db, json_pack("{s:s, s:s, s:[s,s,s,s,s,s,s,s,s,s,s]}", "directory", e->dir, "file",
                                                names[i], "arguments", "gcc", "-std=gnu11", "-g", "-O1", "-I",
                                                test_source_path("runtime"), "-c", "-o", "x.o", names[i], "-Wall"));
            used += (size_t)snprintf(files + used, sizeof files - used, " '%s'", names[i]);
        }
    }
    snprintf(e->prog, sizeof e->prog, "%s/prog", e->dir);
    snprintf(e->out, sizeof e->out, "%s/prog.out", e->dir);
    snprintf(cmd, sizeof cmd, "%s/compile_commands.json", e->dir);
    cr_assert_eq(json_dump_file(db, cmd, 0), 0);
    json_decref(db);
    snprintf(cmd, sizeof cmd, "cd '%s' && gcc -std=gnu11 -g -O1 -Wall -o prog %s %s", e->dir, files, test_hotc_flags());
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "cannot build the program: %s", out);
    snprintf(cmd, sizeof cmd, "%s/run", e->dir);
    cr_assert_eq(mkdir(cmd, 0700), 0);
}

static void start_server(struct env *e, json_t *settings)
{
    char xdg[PATH_MAX + 32], trace[PATH_MAX + 32], log[PATH_MAX], tmpdir[PATH_MAX + 16];
    const char *env[] = { xdg, trace, *e->tmp ? tmpdir : NULL, NULL };
    const char *args[] = { "--log", log, NULL };
    struct lspclient_options opt = { .env = env, .args = args, .quiet_stderr = 1 };
    char root[PATH_MAX + 8];
    json_t *r;

    snprintf(xdg, sizeof xdg, "XDG_RUNTIME_DIR=%s/run", e->dir);
    snprintf(trace, sizeof trace, "HOTC_LINK_TRACE=%s/link.jsonl", e->dir);
    snprintf(log, sizeof log, "%s/server.log", e->dir);
    snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s", e->tmp);
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

/* Starts e->prog with `arg` (may be NULL) attached to `endpoint` (NULL:
 * the server's Unix socket) with `token` (may be NULL). */
static void start_program_at(struct env *e, const char *endpoint, const char *token, const char *arg)
{
    char unix_ep[PATH_MAX + 64];

    snprintf(unix_ep, sizeof unix_ep, "unix:%s/run/hotc/%ld.sock", e->dir, (long)lspclient_pid(e->c));
    e->pid = fork();
    cr_assert(e->pid >= 0);
    if (e->pid == 0) {
        int fd = open(e->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("HOTC_ENDPOINT", endpoint ? endpoint : unix_ep, 1);
        if (token)
            setenv("HOTC_TOKEN", token, 1);
        else
            unsetenv("HOTC_TOKEN");
        execl(e->prog, e->prog, "120000", arg, (char *)NULL);
        _exit(127);
    }
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
    test_spit(e->src, text);
    lspclient_notify(e->c, "textDocument/didSave", json_pack("{s:{s:s}}", "textDocument", "uri", e->uri));
}

/* The didChange + didSave pair of an editor for `uri`, framed (the bytes
 * appended to `buf`), and the file written to disk. */
static void frame_save(struct env *e, char *buf, size_t size, const char *uri, const char *text)
{
    json_t *msgs[2];
    char path[PATH_MAX];

    snprintf(path, sizeof path, "%s", uri + 7);
    test_spit(path, text);
    msgs[0] = json_pack("{s:s, s:s, s:{s:{s:s, s:i}, s:[{s:s}]}}", "jsonrpc", "2.0", "method",
                        "textDocument/didChange", "params", "textDocument", "uri", uri, "version", ++e->version,
                        "contentChanges", "text", text);
    msgs[1] = json_pack("{s:s, s:s, s:{s:{s:s}}}", "jsonrpc", "2.0", "method", "textDocument/didSave", "params",
                        "textDocument", "uri", uri);
    for (int i = 0; i < 2; i++) {
        char *body = json_dumps(msgs[i], JSON_COMPACT);
        size_t used = strlen(buf);
        snprintf(buf + used, size - used, "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
        cr_assert_lt(strlen(buf), size - 1, "the frames do not fit");
        free(body);
        json_decref(msgs[i]);
    }
}

static void open_file(struct env *e, const char *name, char *uri, size_t size, char **text)
{
    char path[PATH_MAX];

    snprintf(path, sizeof path, "%s/%s", e->dir, name);
    snprintf(uri, size, "file://%s", path);
    *text = test_slurp(path, NULL);
    cr_assert(*text);
    lspclient_notify(e->c, "textDocument/didOpen",
                     json_pack("{s:{s:s, s:s, s:i, s:s}}", "textDocument", "uri", uri, "languageId", "c",
                               "version", ++e->version, "text", *text));
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
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "%s does not match %s:\n%s", kind, schema, out);
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
    trace = test_slurp(path, NULL);
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
    test_sh(cmd, NULL, 0);
    json_decref(e->editor);
    json_decref(e->history);
    free(e->text);
}

/* From message `mark` of the history on: every hotc/status before the one
 * with the new result says compiling:true (at least one does), and each
 * hotc/reloaded comes before that status and carries its counter, which
 * is `reloads`. */
static void expect_clean_order(struct env *e, size_t mark, int reloads)
{
    size_t i, compiling = 0, reloaded = 0;
    json_t *msg;

    for (i = mark; i < json_array_size(e->history); i++) {
        msg = json_array_get(e->history, i);
        const char *m = json_string_value(json_object_get(msg, "method"));
        json_t *params = json_object_get(msg, "params");
        if (!m)
            continue;
        if (strcmp(m, "hotc/reloaded") == 0) {
            cr_assert_eq(json_integer_value(json_object_get(params, "reloads")), reloads,
                         "hotc/reloaded carries the counter of its status");
            reloaded++;
        } else if (strcmp(m, "hotc/status") == 0) {
            if (json_is_true(json_object_get(params, "compiling"))) {
                compiling++;
                continue;
            }
            cr_assert(last_result_is(params, "applied"), "a status with compiling:false before the result: %s",
                      json_dumps(params, JSON_COMPACT));
            cr_assert_eq(json_integer_value(json_object_get(params, "reloads")), reloads);
            break;
        }
    }
    cr_assert_lt(i, json_array_size(e->history), "no status with the result");
    cr_assert_geq(compiling, 1, "no compiling:true when the compile started");
    cr_assert_geq(reloaded, 1, "hotc/reloaded did not come before the status that counts it");
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
    char *v200 = test_edit(e.text, (const char *const[]){ "return x + 100;", "return x + 200;", NULL });
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
    title = lens_title(&e, test_line_of(v200, "HOT int value"));
    cr_assert(strstr(title, "v1") && strstr(title, "reloaded 1×"), "lens: %s", title);
    free(title);
    p = wait_seen(&e, "$/progress", progress_is, "end", T);
    json_decref(p);
    r = lspclient_request(e.c, "textDocument/hover",
                          json_pack("{s:{s:s}, s:{s:i, s:i}}", "textDocument", "uri", e.uri, "position", "line",
                                    test_line_of(v200, "HOT int value"), "character", 9),
                          T);
    {
        const char *md = json_string_value(
            json_object_get(json_object_get(json_object_get(r, "result"), "contents"), "value"));
        cr_assert(md && strstr(md, "v1 applied"), "hover: %s", md ? md : "(none)");
    }
    json_decref(r);

    /* 2. a compile error: a diagnostic at the line, nothing pushed */
    char *broken = test_edit(v200, (const char *const[]){ "return x + 200;", "return x + ;", NULL });
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
                     test_line_of(broken, "return x + ;"));
    }
    json_decref(p);
    p = wait_for(&e, "hotc/status", last_result_is, "compileError", T);
    cr_assert_eq(json_integer_value(json_object_get(p, "reloads")), 1);
    json_decref(p);

    /* fixed: reloads, and the compiler's diagnostics are cleared */
    char *v300 = test_edit(v200, (const char *const[]){ "return x + 200;", "return x + 300;", NULL });
    size_t mark = json_array_size(e.history);
    save(&e, v300);
    struct diag_match clean = { e.uri, NULL, 1, 1 };
    p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &clean, T);
    json_decref(p);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(p, "programs"), 0), "status")),
                     "applied");
    json_decref(p);
    p = wait_for(&e, "hotc/status", last_result_is, "applied", T);
    json_decref(p);
    /* compiling:true when the compile starts, then one status with the new
     * result; never the old compileError with compiling:false in between */
    expect_clean_order(&e, mark, 2);
    line2 = wait_output(&e, "value=301 step=1", T);
    cr_assert(line2, "the second reload did not apply");
    cr_assert_gt(field(line2, "calls"), field(line1, "calls"));
    {
        char *all = test_slurp(e.out, NULL);
        cr_assert(all && !strstr(all, "value=1 "), "the broken code must never run");
        free(all);
    }

    /* 3. a signature change: a warning, value() not pushed, step() is */
    char *sig = test_edit(v300, (const char *const[]){ "HOT int value(int x)", "HOT int value(long x)", "return 1;",
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
    title = lens_title(&e, test_line_of(sig, "HOT int value"));
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
    /* its output never goes to the server's log (nor anywhere the editor reads) */
    usleep(300000);

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
    char *v200 = test_edit(e.text, (const char *const[]){ "return x + 100;", "return x + 200;", NULL });
    save(&e, v200);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(json_object_get(p, "programs"), 0), "pid")), pid2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(p, "programs"), 0), "status")),
                     "applied");
    json_decref(p);
    free(v200);
    {
        json_t *msg;
        size_t i;
        json_array_foreach(e.history, i, msg) {
            const char *text = json_string_value(json_object_get(json_object_get(msg, "params"), "message"));
            cr_assert(!text || !strstr(text, "value="), "the program's output reached the editor: %s", text);
        }
    }

    teardown(&e);
    /* the server stops the program it started */
    long long deadline = test_now_ms() + T;
    while (kill((pid_t)pid2, 0) == 0 && test_now_ms() < deadline)
        usleep(20000);
    cr_assert(kill((pid_t)pid2, 0) != 0, "the launched program still runs");
    remove_project(&e);
}

static int run_state_is(json_t *params, const void *arg)
{
    const char *s = json_string_value(json_object_get(json_object_get(params, "run"), "state"));
    return s && strcmp(s, arg) == 0;
}

static int has_build_diagnostic(json_t *params, const void *arg)
{
    json_t *d;
    size_t i;
    json_array_foreach(json_object_get(params, "diagnostics"), i, d) {
        const char *m = json_string_value(json_object_get(d, "message"));
        if (m && strstr(m, arg))
            return 1;
    }
    return 0;
}

static int no_diagnostics(json_t *params, const void *arg)
{
    const char *uri = json_string_value(json_object_get(params, "uri"));
    return uri && strcmp(uri, arg) == 0 && json_array_size(json_object_get(params, "diagnostics")) == 0;
}

static int run_killed_by(json_t *params, const void *arg)
{
    json_t *run = json_object_get(params, "run");
    const char *s = json_string_value(json_object_get(run, "state"));
    const char *name = json_string_value(json_object_get(run, "signalName"));
    return s && strcmp(s, "exited") == 0 && name && strcmp(name, arg) == 0;
}

/* Runs a {launch} spec as the editor's terminal does (its program, args
 * and env; output into e->out). Returns the pid of what it started. */
static pid_t run_spec(struct env *e, json_t *spec)
{
    json_t *args = json_object_get(spec, "args"), *env = json_object_get(spec, "env"), *v;
    const char *argv[16] = { json_string_value(json_object_get(spec, "program")) };
    const char *key;
    size_t i;

    cr_assert(argv[0] && json_array_size(args) < 14);
    json_array_foreach(args, i, v) argv[i + 1] = json_string_value(v);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(e->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        json_object_foreach(env, key, v) setenv(key, json_string_value(v), 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Kills the program the terminal runs (its pid from hotc/status) with
 * `sig`: the status says so, and the terminal's process (hotc exec) ends
 * by the same signal. */
static void kill_in_terminal(struct env *e, pid_t terminal, int sig, const char *name)
{
    json_t *p = wait_for(e, "hotc/status", run_state_is, "running", T);
    pid_t pid = (pid_t)json_integer_value(json_object_get(json_object_get(p, "run"), "pid"));
    json_decref(p);
    cr_assert(pid > 0 && pid != terminal, "the program's pid: %ld", (long)pid);
    cr_assert_eq(kill(pid, sig), 0);
    p = wait_for(e, "hotc/status", run_killed_by, name, T);
    json_decref(p);
    int status = 0;
    cr_assert_eq(waitpid(terminal, &status, 0), terminal);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == sig, "hotc exec ended with %d", status);
}

/* Run with no settings: the server finds the workspace's executables that
 * carry the runtime (two here: the user picks), hands the editor what to
 * start in its terminal (hotc exec running the program), hears how the
 * program ended, killed by SIGTERM or SIGKILL included; restart runs the
 * project's build (a failed build: diagnostics, the program keeps
 * running; a good one: diagnostics cleared, the program started again). */
Test(pipeline, run_without_settings_in_a_terminal_and_restart_with_a_rebuild)
{
    struct env e;
    char cmd[16384], out[8192], exits[PATH_MAX], endpoint[PATH_MAX + 64], marker[PATH_MAX];
    json_t *r, *res, *p, *spec;
    const char *flags = test_hotc_flags();

    setup_project(&e);
    char *text = test_slurp(test_source_path("tests/fixtures/pipeline/exits.c"), NULL);
    cr_assert(text);
    snprintf(exits, sizeof exits, "%s/exits.c", e.dir);
    test_spit(exits, text);
    free(text);
    snprintf(cmd, sizeof cmd, "cd '%s' && mkdir sub && gcc -std=gnu11 -g -O1 -o sub/exits exits.c %s", e.dir, flags);
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "cannot build exits: %s", out);
    snprintf(exits, sizeof exits, "%s/sub/exits", e.dir);
    start_server(&e, NULL);

    /* two programs linked with libhotc: the editor gets both to pick from */
    r = command(&e, "hotc.server.run", json_pack("[{s:b}]", "terminal", 1));
    res = json_object_get(r, "result");
    cr_assert_eq(json_array_size(json_object_get(res, "candidates")), 2, "%s", json_dumps(r, 0));
    json_decref(r);

    /* the pick: the editor starts it in its terminal with the environment
     * given, through hotc exec */
    r = command(&e, "hotc.server.run", json_pack("[{s:s, s:[s], s:b}]", "program", exits, "args", "120000", "terminal", 1));
    spec = json_object_get(json_object_get(r, "result"), "launch");
    cr_assert(spec, "%s", json_dumps(r, 0));
    json_t *args = json_object_get(spec, "args");
    cr_assert_str_eq(json_string_value(json_object_get(spec, "program")), test_build_path("hotc"));
    cr_assert_str_eq(json_string_value(json_array_get(args, 0)), "exec");
    cr_assert_str_eq(json_string_value(json_array_get(args, 2)), exits);
    cr_assert_str_eq(json_string_value(json_array_get(args, 3)), "120000");
    cr_assert_str_eq(json_string_value(json_object_get(spec, "title")), "exits");
    snprintf(endpoint, sizeof endpoint, "%s",
             json_string_value(json_object_get(json_object_get(spec, "env"), "HOTC_ENDPOINT")));
    cr_assert(strncmp(endpoint, "unix:", 5) == 0, "%s", endpoint);
    snprintf(e.prog, sizeof e.prog, "%s", exits);
    /* killed in the terminal: the status says by what */
    kill_in_terminal(&e, run_spec(&e, spec), SIGTERM, "SIGTERM");
    json_decref(r);

    /* restart: a failing build gives diagnostics and an error */
    snprintf(cmd, sizeof cmd, "%s/Makefile", e.dir);
    test_spit(cmd, "all:\n\t@echo 'prog.c:20:5: error: broken on purpose' >&2; exit 1\n");
    r = command(&e, "hotc.server.restart", json_pack("[{s:b}]", "terminal", 1));
    cr_assert(json_object_get(r, "error"), "%s", json_dumps(r, 0));
    cr_assert(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")), "build failed"));
    json_decref(r);
    p = wait_seen(&e, "textDocument/publishDiagnostics", has_build_diagnostic, "broken on purpose", T);
    cr_assert_str_eq(json_string_value(json_object_get(p, "uri")), e.uri);
    json_decref(p);

    /* a good build: the diagnostic goes, the editor starts the program again */
    snprintf(marker, sizeof marker, "%s/built", e.dir);
    snprintf(cmd, sizeof cmd, "%s/Makefile", e.dir);
    test_spit(cmd, "all:\n\ttouch built\n");
    r = command(&e, "hotc.server.restart", json_pack("[{s:b}]", "terminal", 1));
    spec = json_object_get(json_object_get(r, "result"), "launch");
    cr_assert(spec, "%s", json_dumps(r, 0));
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(spec, "args"), 2)), exits);
    cr_assert_eq(access(marker, F_OK), 0, "restart did not run the build");
    kill_in_terminal(&e, run_spec(&e, spec), SIGKILL, "SIGKILL");
    json_decref(r);
    p = wait_seen(&e, "textDocument/publishDiagnostics", no_diagnostics, e.uri, T);
    json_decref(p);

    teardown(&e);
    remove_project(&e);
}

/* A project whose Makefile builds the program (so that restart rebuilds
 * it), the server set to run it, the program run and attached, the
 * source open. */
static void run_with_makefile(struct env *e)
{
    char path[PATH_MAX], make[16384];
    int one = 1;
    json_t *r, *p;

    setup_project(e);
    snprintf(path, sizeof path, "%s/Makefile", e->dir);
    {
        /* the flags are shell text: $(...) becomes $$(...) in a Makefile */
        const char *f = test_hotc_flags();
        size_t n = (size_t)snprintf(make, sizeof make, "all:\n\tgcc -std=gnu11 -g -O1 -Wall -o prog prog.c ");
        for (; *f && n + 3 < sizeof make; f++) {
            if (*f == '$')
                make[n++] = '$';
            make[n++] = *f;
        }
        snprintf(make + n, sizeof make - n, "\n");
    }
    test_spit(path, make);
    start_server(e, json_pack("{s:{s:s, s:[s]}}", "program", "path", e->prog, "args", "120000"));
    r = command(e, "hotc.server.run", NULL);
    cr_assert_gt(json_integer_value(json_object_get(json_object_get(r, "result"), "pid")), 0, "%s", json_dumps(r, 0));
    json_decref(r);
    p = wait_for(e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(e);
}

/* A signature change is not applied and warned about; restart rebuilds
 * the program from the saved file, starts it again, and the warning goes
 * (the rebuilt program runs the file as it is). */
Test(pipeline, restart_rebuilds_and_clears_the_warning_it_resolved)
{
    struct env e;
    json_t *r, *p;

    run_with_makefile(&e);

    char *changed = test_edit(e.text, (const char *const[]){ "HOT int value(int x)", "HOT int value(long x)", NULL });
    save(&e, changed);
    struct diag_match warned = { e.uri, "signature-changed", 0, 0 };
    p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &warned, T);
    json_decref(p);

    r = command(&e, "hotc.server.restart", NULL);
    cr_assert_gt(json_integer_value(json_object_get(json_object_get(r, "result"), "pid")), 0, "%s", json_dumps(r, 0));
    json_decref(r);
    struct diag_match cleared = { e.uri, "signature-changed", 0, 1 };
    p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &cleared, T);
    json_decref(p);
    free(changed);
    teardown(&e);
    remove_project(&e);
}

/* A layout change (a field added to a struct a HOT function writes) is
 * refused with a warning that asks for a restart; the restart rebuilds
 * the program with the new layout, and the warning goes. */
Test(pipeline, restart_clears_the_layout_warning_it_resolved)
{
    struct env e;
    json_t *r, *p;

    run_with_makefile(&e);

    char *changed = test_edit(e.text, (const char *const[]){ "    int ticks;\n", "    long pad;\n    int ticks;\n",
                                                        "    c->ticks++;", "    c->ticks += 2;", NULL });
    save(&e, changed);
    struct diag_match warned = { e.uri, "layout-changed", 2, 0 };
    p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &warned, T);
    json_decref(p);

    r = command(&e, "hotc.server.restart", NULL);
    cr_assert_gt(json_integer_value(json_object_get(json_object_get(r, "result"), "pid")), 0, "%s", json_dumps(r, 0));
    json_decref(r);
    struct diag_match cleared = { e.uri, "layout-changed", 0, 1 };
    p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &cleared, T);
    json_decref(p);
    free(changed);
    teardown(&e);
    remove_project(&e);
}

/* The runtime reports the program's exit status (exit() with the runtime
 * attached) and the status says so. */
Test(pipeline, the_exit_status_reaches_the_status)
{
    struct env e;
    char cmd[16384], out[8192], exits[PATH_MAX];
    json_t *p;
    const char *flags = test_hotc_flags();

    setup_project(&e);
    char *text = test_slurp(test_source_path("tests/fixtures/pipeline/exits.c"), NULL);
    cr_assert(text);
    snprintf(exits, sizeof exits, "%s/exits.c", e.dir);
    test_spit(exits, text);
    free(text);
    snprintf(cmd, sizeof cmd, "cd '%s' && gcc -std=gnu11 -g -O1 -o exits exits.c %s", e.dir, flags);
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "cannot build exits: %s", out);
    snprintf(e.prog, sizeof e.prog, "%s/exits", e.dir);
    start_server(&e, NULL);
    e.pid = fork();
    cr_assert(e.pid >= 0);
    if (e.pid == 0) {
        char ep[PATH_MAX + 64];
        snprintf(ep, sizeof ep, "unix:%s/run/hotc/%ld.sock", e.dir, (long)lspclient_pid(e.c));
        setenv("HOTC_ENDPOINT", ep, 1);
        execl(e.prog, e.prog, "1500", (char *)NULL);
        _exit(127);
    }
    p = wait_for(&e, "hotc/status", run_state_is, "running", T);
    json_decref(p);
    p = wait_for(&e, "hotc/status", run_state_is, "exited", T);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(p, "run"), "status")), 3, "%s", json_dumps(p, 0));
    json_decref(p);
    waitpid(e.pid, NULL, 0);
    e.pid = 0;
    teardown(&e);
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
    char *v200 = test_edit(e.text, (const char *const[]){ "return x + 100;", "return x + 200;", NULL });
    save(&e, v200);
    free(v200);

    json_t *r = lspclient_request(e.c, "textDocument/codeLens", json_pack("{s:{s:s}}", "textDocument", "uri", e.uri), T);
    cr_assert(r);
    json_decref(r);
    teardown(&e);
    remove_project(&e);
}

/* ------------------------------------------------------------ TCP */

static int raw_connect(const char *endpoint)
{
    char host[256];
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    char *colon;
    int fd;

    cr_assert(strncmp(endpoint, "tcp:", 4) == 0);
    snprintf(host, sizeof host, "%s", endpoint + 4);
    colon = strrchr(host, ':');
    cr_assert(colon);
    *colon = '\0';
    cr_assert_eq(getaddrinfo(host, colon + 1, &hints, &res), 0);
    fd = socket(res->ai_family, SOCK_STREAM, 0);
    cr_assert(fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0, "cannot connect to %s", endpoint);
    freeaddrinfo(res);
    return fd;
}

/* One framed message from `fd` (new reference), NULL at end of stream. */
static json_t *raw_read(int fd)
{
    char head[256], *body;
    size_t n = 0, len = 0, got = 0;
    json_t *msg;

    while (n < sizeof head - 1) {
        if (read(fd, head + n, 1) != 1)
            return NULL;
        if (++n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[n] = '\0';
    if (sscanf(head, "Content-Length: %zu", &len) != 1)
        return NULL;
    body = malloc(len + 1);
    while (body && got < len) {
        ssize_t k = read(fd, body + got, len - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    msg = body && got == len ? json_loadb(body, len, 0, NULL) : NULL;
    free(body);
    return msg;
}

Test(pipeline, a_program_attached_over_tcp_reloads_and_a_wrong_token_is_refused)
{
    struct env e;
    int one = 1;
    json_t *p, *r;
    char endpoint[128], token[64], path[PATH_MAX + 32];

    setup_project(&e);
    start_server(&e, json_pack("{s:{s:b}, s:{s:s, s:[s]}}", "tcp", "enabled", 1, "program", "path", e.prog, "args",
                               "120000"));
    /* the endpoint and the token are in the log */
    p = wait_seen(&e, "window/logMessage", log_contains, "remote runtimes attach at tcp:", T);
    {
        const char *m = json_string_value(json_object_get(p, "message"));
        cr_assert_eq(sscanf(strstr(m, "tcp:"), "%127s", endpoint), 1);
        cr_assert_eq(sscanf(strstr(m, "HOTC_TOKEN=") + 11, "%63[0-9a-f]", token), 1, "%s", m);
        cr_assert_eq(strlen(token), 32);
    }
    json_decref(p);

    /* a wrong token: an error, and the connection is closed */
    {
        int fd = raw_connect(endpoint);
        json_t *attach = json_pack("{s:s, s:i, s:s, s:{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:[], s:s}}",
                                   "jsonrpc", "2.0", "id", 1, "method", "hot/attach", "params", "pid", 4242,
                                   "executable", "/bin/intruder", "buildId", "", "loadBase", "0x1000", "arch",
                                   "x86_64", "runtimeVersion", "0.1.0", "mode", "poll", "version", 0, "cwd", "/",
                                   "functions", "token", "0123456789abcdef0123456789abcdef");
        char *body = json_dumps(attach, JSON_COMPACT), head[64];
        int hn = snprintf(head, sizeof head, "Content-Length: %zu\r\n\r\n", strlen(body));
        cr_assert_eq(write(fd, head, (size_t)hn), hn);
        cr_assert_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
        free(body);
        json_decref(attach);
        r = raw_read(fd);
        cr_assert(r, "no answer to an attach with a wrong token");
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "error"), "code")), -32001, "%s",
                     json_dumps(r, JSON_COMPACT));
        json_decref(r);
        r = raw_read(fd);
        cr_assert_null(r, "the connection must be closed after a wrong token");
        close(fd);
    }

    /* run: the program gets the TCP endpoint and the token, attaches, reloads */
    r = command(&e, "hotc.server.run", json_pack("[{s:b}]", "terminal", 1));
    {
        /* what the editor starts in its terminal: the TCP endpoint and the token */
        json_t *env = json_object_get(json_object_get(json_object_get(r, "result"), "launch"), "env");
        cr_assert_str_eq(json_string_value(json_object_get(env, "HOTC_ENDPOINT")), endpoint, "%s", json_dumps(r, 0));
        cr_assert_str_eq(json_string_value(json_object_get(env, "HOTC_TOKEN")), token);
    }
    json_decref(r);
    start_program_at(&e, endpoint, token, NULL);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    expect_output(&e, "value=101", NULL, "the program did not start");
    char *v200 = test_edit(e.text, (const char *const[]){ "return x + 100;", "return x + 200;", NULL });
    save(&e, v200);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    r = json_array_get(json_object_get(p, "programs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "applied", "%s",
                     json_string_value(json_object_get(r, "reason")));
    json_decref(p);
    expect_output(&e, "value=201", NULL, "the reload over TCP did not apply");
    free(v200);
    teardown(&e);

    /* the trace: the program's attach proved the token, the patch carried its bytes */
    snprintf(path, sizeof path, "%s/link.jsonl", e.dir);
    {
        char *trace = test_slurp(path, NULL);
        int attaches = 0, reloads = 0, refusals = 0;
        cr_assert(trace);
        for (char *line = strtok(trace, "\n"); line; line = strtok(NULL, "\n")) {
            json_t *entry = json_loads(line, 0, NULL), *msg = json_object_get(entry, "message");
            const char *kind = json_string_value(json_object_get(entry, "kind"));
            json_t *params = json_object_get(msg, "params");
            if (strcmp(kind, "hot-attach") == 0 &&
                strcmp(json_string_value(json_object_get(params, "executable")), "/bin/intruder") != 0) {
                /* the handshake: a proof of the token for a fresh nonce, not the token */
                const char *nonce = json_string_value(json_object_get(params, "nonce"));
                char what[64], proof[HMAC_HEX_LEN + 1];
                cr_assert_null(json_object_get(params, "token"));
                cr_assert(nonce && strlen(nonce) == 32, "nonce %s", nonce ? nonce : "-");
                snprintf(what, sizeof what, "hotc program %s", nonce);
                hmac_sha256_hex(token, what, proof);
                cr_assert_str_eq(json_string_value(json_object_get(params, "proof")), proof);
                attaches++;
            } else if (strcmp(kind, "hot-reload") == 0) {
                cr_assert(json_string_length(json_object_get(params, "libraryBase64")) > 100,
                          "a TCP program gets the library's bytes");
                cr_assert_null(json_object_get(params, "library"));
                reloads++;
            } else if (strcmp(kind, "error") == 0) {
                refusals += json_integer_value(json_object_get(json_object_get(msg, "error"), "code")) == -32001;
            }
            json_decref(entry);
        }
        free(trace);
        cr_assert_eq(attaches, 1);
        cr_assert_geq(reloads, 1);
        cr_assert_eq(refusals, 1);
    }
    validate_traffic(&e, (const char *const[]){ "hot-attach", "hot-attach.result", "hot-reload", "hot-reload.result",
                                                "error", "hotc-status", "hotc-reloaded", NULL });
    remove_project(&e);
}

/* ------------------------------------------------------------ batches, headers */

static int reloads_is(json_t *params, const void *arg)
{
    return json_integer_value(json_object_get(params, "reloads")) == *(const int *)arg &&
           !json_is_true(json_object_get(params, "compiling"));
}

static int reloaded_uri_is(json_t *params, const void *arg)
{
    return strcmp(json_string_value(json_object_get(params, "uri")), arg) == 0;
}

Test(pipeline, saves_together_are_one_batch_and_headers_reload_their_includers)
{
    struct env e;
    int one = 1, two = 2, three = 3;
    json_t *p;
    char extra_uri[PATH_MAX + 8], header_uri[PATH_MAX + 8], frames[16384] = "";
    char *extra_text, *header_text, *line0, *line1;
    size_t mark;

    setup_files(&e, (const char *const[]){ "duo_main.c", "duo_extra.c", "duo.h", NULL });
    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    open_file(&e, "duo_extra.c", extra_uri, sizeof extra_uri, &extra_text);
    open_file(&e, "duo.h", header_uri, sizeof header_uri, &header_text);
    line0 = wait_output(&e, "a=101 b=11 area=6", T);
    cr_assert(line0, "the program did not start");

    /* 1. both .c files saved in one go ("save all"): one batch */
    char *main2 = test_edit(e.text, (const char *const[]){ "x * SCALE + 100", "x * SCALE + 200", NULL });
    char *extra2 = test_edit(extra_text, (const char *const[]){ "x * SCALE + 10", "x * SCALE + 20", NULL });
    frame_save(&e, frames, sizeof frames, e.uri, main2);
    frame_save(&e, frames, sizeof frames, extra_uri, extra2);
    mark = json_array_size(e.history);
    cr_assert_eq(lspclient_send_raw(e.c, frames, strlen(frames)), 0);
    p = wait_for(&e, "hotc/status", last_result_is, "applied", T);
    cr_assert_eq(json_integer_value(json_object_get(p, "reloads")), 1, "the batch counts as one reload");
    cr_assert_eq(json_array_size(json_object_get(json_object_get(p, "last"), "files")), 2, "%s",
                 json_dumps(p, JSON_COMPACT));
    json_decref(p);
    p = wait_seen(&e, "hotc/reloaded", reloaded_uri_is, e.uri, T);
    json_decref(p);
    p = wait_seen(&e, "hotc/reloaded", reloaded_uri_is, extra_uri, T);
    json_decref(p);
    expect_clean_order(&e, mark, 1);
    line1 = wait_output(&e, "a=201 b=21 area=6", T);
    cr_assert(line1, "both changes of the batch must run");
    cr_assert_gt(field(line1, "calls"), field(line0, "calls"));

    /* 2. a header save reloads the HOT functions of the files including it */
    char *header2 = test_edit(header_text, (const char *const[]){ "#define SCALE 1", "#define SCALE 2", NULL });
    *frames = '\0';
    frame_save(&e, frames, sizeof frames, header_uri, header2);
    cr_assert_eq(lspclient_send_raw(e.c, frames, strlen(frames)), 0);
    expect_output(&e, "a=202 b=22 area=6", line1, "a header save did not reload its includers");
    p = wait_seen(&e, "hotc/status", reloads_is, &two, T); /* its includers, one batch */
    json_decref(p);
    /* scaled_limit() is not HOT and its text is unchanged: the editor's
     * analysis sees nothing, the compiler does, and the editor is told */
    struct diag_match quiet = { extra_uri, "not-hot", 3, 0 };
    p = wait_seen(&e, "textDocument/publishDiagnostics", diags_match, &quiet, T);
    cr_assert(p, "no note on scaled_limit(), changed through the header");
    {
        json_t *d;
        size_t i;
        int seen = 0;
        json_array_foreach(json_object_get(p, "diagnostics"), i, d)
            if (!strcmp(json_string_value(json_object_get(d, "code")), "not-hot")) {
                seen++;
                cr_assert_eq(json_integer_value(json_object_get(
                                 json_object_get(json_object_get(d, "range"), "start"), "line")),
                             test_line_of(extra_text, "int scaled_limit"));
                cr_assert(strstr(json_string_value(json_object_get(d, "message")),
                                 "scaled_limit() is not HOT, and what it compiles to changed"),
                          "%s", json_string_value(json_object_get(d, "message")));
            }
        cr_assert_eq(seen, 1, "%s", json_dumps(p, JSON_COMPACT));
    }
    json_decref(p);

    /* 3. a layout change in the header: box_area() gets a warning and is not
     * pushed; the rest is */
    char *header3 = test_edit(header2, (const char *const[]){ "#define SCALE 2", "#define SCALE 3", "int w, h;",
                                                         "int w, h, d;", NULL });
    *frames = '\0';
    mark = json_array_size(e.history);
    frame_save(&e, frames, sizeof frames, header_uri, header3);
    cr_assert_eq(lspclient_send_raw(e.c, frames, strlen(frames)), 0);
    struct diag_match layout = { extra_uri, "layout-changed", 2, 0 };
    p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &layout, T);
    {
        json_t *d;
        size_t i;
        json_array_foreach(json_object_get(p, "diagnostics"), i, d)
            if (!strcmp(json_string_value(json_object_get(d, "code")), "layout-changed"))
                cr_assert_eq(json_integer_value(json_object_get(
                                 json_object_get(json_object_get(d, "range"), "start"), "line")),
                             test_line_of(extra_text, "HOT int box_area"));
    }
    json_decref(p);
    expect_output(&e, "a=203 b=23 area=6", line1, "the compatible functions were not reloaded");
    p = wait_seen(&e, "hotc/status", reloads_is, &three, T);
    json_decref(p);
    {
        /* no reload since the layout change carried box_area() */
        size_t i, reloaded = 0;
        json_t *msg;
        json_array_foreach(e.history, i, msg) {
            const char *m = json_string_value(json_object_get(msg, "method"));
            json_t *fns = json_object_get(json_object_get(msg, "params"), "functions"), *f;
            size_t k;
            if (i < mark || !m || strcmp(m, "hotc/reloaded") != 0)
                continue;
            reloaded++;
            json_array_foreach(fns, k, f)
                cr_assert_str_neq(json_string_value(f), "box_area",
                                  "box_area() was pushed after its type's layout changed");
        }
        cr_assert_geq(reloaded, 2, "both includers were reloaded");
    }

    /* 4. the header put back: what every function compiles to is what the
     * program runs again, and the notes go */
    *frames = '\0';
    frame_save(&e, frames, sizeof frames, header_uri, header_text);
    cr_assert_eq(lspclient_send_raw(e.c, frames, strlen(frames)), 0);
    struct diag_match gone = { extra_uri, "not-hot", 3, 1 };
    p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &gone, T);
    cr_assert(p, "the note on scaled_limit() stayed after the header was put back");
    json_decref(p);
    expect_output(&e, "a=201 b=21 area=6", line1, "the header put back did not reload its includers");

    teardown(&e);
    validate_traffic(&e, (const char *const[]){ "hot-reload", "hot-reload.result", "hotc-status", "hotc-reloaded",
                                                NULL });
    free(main2);
    free(extra2);
    free(header2);
    free(header3);
    free(extra_text);
    free(header_text);
    free(line0);
    free(line1);
    remove_project(&e);
}

/* ------------------------------------------------------------ crashes */

/* The crash diagnostic is on the faulting line (`fault`, read from the
 * patch's DWARF), not on the function's name. */
static void expect_crash_diagnostic(struct env *e, const char *text, const char *fault)
{
    struct diag_match crash = { e->uri, "crash", 1, 0 };
    json_t *p = wait_seen(e, "textDocument/publishDiagnostics", diags_match, &crash, T), *d;
    size_t i;

    json_array_foreach(json_object_get(p, "diagnostics"), i, d)
        if (!strcmp(json_string_value(json_object_get(d, "code")), "crash"))
            cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(d, "range"), "start"),
                                                            "line")),
                         test_line_of(text, fault), "the crash diagnostic is on the faulting line");
    json_decref(p);
}

Test(pipeline, a_crash_in_reloaded_code_is_reported_and_survived_under_hot_guard)
{
    struct env e;
    int one = 1, zero = 0, status = 0;
    json_t *p;
    char *line0;

    setup_files(&e, (const char *const[]){ "crash.c", NULL });
    start_server(&e, NULL);

    /* 1. under hot_guard: the crash rolls back, the program goes on */
    start_program_at(&e, NULL, NULL, "guard");
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    line0 = wait_output(&e, "poke=2 crashes=0 version=0", T);
    cr_assert(line0, "the program did not start");
    char *bad = test_edit(e.text, (const char *const[]){ "return x + 1;", "return *(volatile int *)0 + x;", NULL });
    save(&e, bad);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    json_decref(p);
    expect_crash_diagnostic(&e, bad, "return *(volatile int *)0 + x;");
    p = wait_seen(&e, "window/logMessage", log_contains, "poke() crashed with", T);
    json_decref(p);
    /* it survived and runs the previous version */
    expect_output(&e, "poke=2 crashes=1 version=0", line0, "the guarded program does not run the previous version");
    p = wait_seen(&e, "window/showMessage", log_contains, "rolled back", T);
    json_decref(p);
    cr_assert_eq(kill(e.pid, 0), 0, "the guarded program died");
    kill(e.pid, SIGTERM);
    waitpid(e.pid, &status, 0);
    e.pid = 0;
    p = wait_for(&e, "hotc/status", programs_is, &zero, T);
    json_decref(p);

    /* 2. without a guard: reported at the line, the program dies, the
     * editor is told, the server goes on */
    start_program_at(&e, NULL, NULL, NULL);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    char *bad2 = test_edit(e.text, (const char *const[]){ "return x + 1;", "return *(volatile int *)0 + x + 1;", NULL });
    json_array_clear(e.history);
    save(&e, bad2);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    json_decref(p);
    expect_crash_diagnostic(&e, bad2, "return *(volatile int *)0 + x + 1;");
    p = wait_seen(&e, "window/showMessage", log_contains, "the program died", T);
    json_decref(p);
    p = wait_seen(&e, "hotc/status", programs_is, &zero, T);
    json_decref(p);
    cr_assert_eq(waitpid(e.pid, &status, 0), e.pid);
    cr_assert(WIFSIGNALED(status), "the unguarded program must die of its crash");
    e.pid = 0;

    teardown(&e);
    validate_traffic(&e, (const char *const[]){ "hot-crash", "hot-reload", "hotc-status", NULL });
    free(bad);
    free(bad2);
    free(line0);
    remove_project(&e);
}

/* ------------------------------------------------------------ disconnection */

/* Waits until the trace has a message of `kind`. */
static void wait_trace(struct env *e, const char *kind)
{
    char path[PATH_MAX + 32], needle[64];
    long long deadline = test_now_ms() + T;

    snprintf(path, sizeof path, "%s/link.jsonl", e->dir);
    snprintf(needle, sizeof needle, "\"kind\":\"%s\"", kind);
    for (;;) {
        char *trace = test_slurp(path, NULL);
        int found = trace && strstr(trace, needle);
        free(trace);
        if (found)
            return;
        cr_assert(test_now_ms() < deadline, "no %s was sent", kind);
        usleep(20000);
    }
}

static int reloaded_failed(json_t *params, const void *arg)
{
    const char *status = json_string_value(json_object_get(json_array_get(json_object_get(params, "programs"), 0),
                                                           "status"));
    (void)arg;
    return status && strcmp(status, "error") == 0;
}

Test(pipeline, a_program_that_vanishes_mid_reload_is_reported_and_the_server_goes_on)
{
    struct env e;
    int one = 1, zero = 0;
    json_t *p, *r;

    setup_project(&e);
    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    expect_output(&e, "value=101", NULL, "the program did not start");
    /* stopped, it cannot answer the reload; killed once it was sent */
    kill(e.pid, SIGSTOP);
    char *v200 = test_edit(e.text, (const char *const[]){ "return x + 100;", "return x + 200;", NULL });
    save(&e, v200);
    wait_trace(&e, "hot-reload");
    kill(e.pid, SIGKILL);
    waitpid(e.pid, NULL, 0);
    e.pid = 0;
    p = wait_for(&e, "hotc/reloaded", reloaded_failed, NULL, T);
    json_decref(p);
    p = wait_seen(&e, "window/showMessage", log_contains, "detached before answering", T);
    json_decref(p);
    p = wait_seen(&e, "hotc/status", last_result_is, "error", T);
    json_decref(p);
    p = wait_seen(&e, "hotc/status", programs_is, &zero, T);
    json_decref(p);
    /* the server goes on: a new program attaches and the same save reaches it */
    r = lspclient_request(e.c, "textDocument/codeLens", json_pack("{s:{s:s}}", "textDocument", "uri", e.uri), T);
    cr_assert(r);
    json_decref(r);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    r = command(&e, "hotc.server.reload", json_pack("[s]", e.uri));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "result"), "result")), "applied", "%s",
                     json_dumps(r, 0));
    json_decref(r);
    expect_output(&e, "value=201", NULL, "the new program did not get the reload");
    free(v200);
    teardown(&e);
    validate_traffic(&e, (const char *const[]){ "hot-reload", "hotc-status", "hotc-reloaded", NULL });
    remove_project(&e);
}

/* The status's last message (a borrowed string, or ""). */
static const char *last_message(json_t *status)
{
    const char *m = json_string_value(json_object_get(json_object_get(status, "last"), "message"));
    return m ? m : "";
}

/* A function marked HOT after the program was built has no entry to
 * redirect: the save says so (not "nothing to reload"), and the text is
 * not taken for what the program runs: taking the mark away again is
 * nothing to reload, with no note about that function. */
Test(pipeline, a_function_marked_hot_after_the_build_asks_for_a_restart)
{
    struct env e;
    int one = 1;
    json_t *p;

    setup_project(&e);
    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    char *started = wait_output(&e, "value=101 step=1", T);
    cr_assert(started, "the program did not start");
    free(started);
    char *marked = test_edit(e.text, (const char *const[]){ "static void on_term(int sig)", "static HOT void on_term(int sig)", NULL });
    save(&e, marked);
    p = wait_for(&e, "hotc/status", last_result_is, "notApplied", T);
    cr_assert(p, "no notApplied status for the newly marked function");
    cr_assert(strstr(last_message(p), "on_term() is not HOT in the running program (marked since it was built)"), "%s",
              last_message(p));
    json_decref(p);
    /* the mark taken away: the text is what the program runs again */
    save(&e, e.text);
    p = wait_for(&e, "hotc/status", last_result_is, "nothing", T);
    cr_assert(p, "putting the text back is not \"nothing to reload\"");
    cr_assert_null(strstr(last_message(p), "on_term"), "%s", last_message(p));
    json_decref(p);
    free(marked);
    teardown(&e);
    remove_project(&e);
}

/* A static variable added since the program was built is not in it: the
 * reload is refused, naming the variable and saying why, and the program
 * keeps running the old code (no fresh zero where state could be lost). */
Test(pipeline, a_static_added_since_the_build_is_refused_by_name)
{
    struct env e;
    int one = 1;
    json_t *p;

    setup_project(&e);
    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    char *started = wait_output(&e, "value=101 step=1", T);
    cr_assert(started, "the program did not start");
    free(started);
    char *added = test_edit(e.text, (const char *const[]){ "HOT int value(int x)\n", "static int added_later;\nHOT int value(int x)\n",
                                                      "return x + 100;", "added_later++;\n    return x + 300;", NULL });
    save(&e, added);
    p = wait_for(&e, "hotc/status", last_result_is, "refused", T);
    cr_assert(p, "the reload was not refused");
    cr_assert(strstr(last_message(p), "added_later") && strstr(last_message(p), "added since it was built"), "%s",
              last_message(p));
    json_decref(p);
    usleep(300000);
    char *line = wait_output(&e, "value=", T); /* the program's last line */
    cr_assert(line && strstr(line, "value=101"), "the program does not run the old code: %s", line);
    free(line);
    free(added);
    teardown(&e);
    remove_project(&e);
}

/* An amalgamated source (one .c made of many, as SQLite's or Mongoose's
 * with MG_ENABLE_LINES): a `#line` directive renames the lines that follow.
 * The preprocessor's markers then name "src/value.c", yet value() is the
 * file's own: a save of its body reloads it, keeping its statics, and a
 * compile error lands on the user's line of prog.c. */
Test(pipeline, a_function_after_a_line_directive_reloads_and_keeps_its_state)
{
    struct env e;
    int one = 1;
    json_t *p;
    char cmd[16384], out[8192];

    setup_project(&e);
    char *amalgamated = test_edit(e.text, (const char *const[]){ "HOT int value(int x)\n",
                                                            "#line 1 \"src/value.c\"\nHOT int value(int x)\n", NULL });
    free(e.text);
    e.text = amalgamated;
    test_spit(e.src, e.text);
    snprintf(cmd, sizeof cmd, "cd '%s' && gcc -std=gnu11 -g -O1 -Wall -o prog prog.c %s", e.dir, test_hotc_flags());
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "cannot build the program: %s", out);
    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    char *started = wait_output(&e, "value=101 step=1", T);
    cr_assert(started, "the program did not start");
    free(started);
    char *broken = test_edit(e.text, (const char *const[]){ "return x + 100;", "return x + ;", NULL });
    save(&e, broken);
    struct diag_match err = { e.uri, NULL, 1, 0 };
    p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &err, T);
    json_t *d = NULL;
    size_t i;
    json_array_foreach(json_object_get(p, "diagnostics"), i, d)
        if (json_integer_value(json_object_get(d, "severity")) == 1)
            break;
    cr_assert_not_null(d, "no error diagnostic");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(d, "range"), "start"), "line")),
                 test_line_of(broken, "return x + ;"), "%s", json_dumps(d, 0));
    json_decref(p);
    char *changed = test_edit(e.text, (const char *const[]){ "return x + 100;", "return x + 300;", NULL });
    save(&e, changed);
    p = wait_for(&e, "hotc/status", last_result_is, "applied", T);
    cr_assert(p, "a body change after a #line directive was not reloaded");
    json_decref(p);
    char *line = wait_output(&e, "value=301 step=1", T);
    cr_assert(line, "the program does not run the new value()");
    int calls = 0, seen = 0;
    cr_assert_eq(sscanf(strstr(line, "calls="), "calls=%d seen=%d", &calls, &seen), 2, "%s", line);
    cr_assert(calls > 1 && seen > 1, "value()'s statics were not kept: %s", line);
    free(line);
    free(changed);
    free(broken);
    teardown(&e);
    remove_project(&e);
}

/* A unity build: unity_main.c includes unity_game.c, which
 * compile_commands.json does not compile. A save of unity_game.c is read
 * like a header's: a macro of it that a HOT function of unity_main.c uses
 * reloads that function; its own HOT function is not reloaded (the patch
 * builder does not assemble one translation unit from two files) and the
 * status says so, instead of a compile error of the file built alone. */
Test(pipeline, a_c_file_another_includes_is_read_like_a_header)
{
    struct env e;
    int one = 1;
    json_t *p;
    char cmd[16384], out[8192], main_uri[PATH_MAX + 8];
    char *main_text;

    memset(&e, 0, sizeof e);
    snprintf(e.dir, sizeof e.dir, "/tmp/hotc-pipe-XXXXXX");
    cr_assert(mkdtemp(e.dir));
    e.editor = json_object();
    e.history = json_array();
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "unity_game.c" : "unity_main.c";
        char fixture[PATH_MAX], path[PATH_MAX];
        snprintf(fixture, sizeof fixture, "tests/fixtures/pipeline/%s", name);
        char *text = test_slurp(test_source_path(fixture), NULL);
        cr_assert(text);
        snprintf(path, sizeof path, "%s/%s", e.dir, name);
        test_spit(path, text);
        free(text);
    }
    snprintf(e.src, sizeof e.src, "%s/unity_game.c", e.dir);
    snprintf(e.uri, sizeof e.uri, "file://%s", e.src);
    e.text = test_slurp(e.src, NULL);
    snprintf(e.prog, sizeof e.prog, "%s/prog", e.dir);
    snprintf(e.out, sizeof e.out, "%s/prog.out", e.dir);
    snprintf(cmd, sizeof cmd, "%s/compile_commands.json", e.dir);
    json_t *db = json_pack("[{s:s, s:s, s:[s,s,s,s,s,s,s,s,s,s]}]", "directory", e.dir, "file", "unity_main.c",
                           "arguments", "gcc", "-std=gnu11", "-g", "-O1", "-I", test_source_path("runtime"), "-o",
                           "prog", "unity_main.c", "-Wall");
    cr_assert_eq(json_dump_file(db, cmd, 0), 0);
    json_decref(db);
    snprintf(cmd, sizeof cmd, "cd '%s' && gcc -std=gnu11 -g -O1 -Wall -o prog unity_main.c %s", e.dir,
             test_hotc_flags());
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "cannot build the program: %s", out);
    snprintf(cmd, sizeof cmd, "%s/run", e.dir);
    cr_assert_eq(mkdir(cmd, 0700), 0);

    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_file(&e, "unity_main.c", main_uri, sizeof main_uri, &main_text);
    open_doc(&e);
    char *line = wait_output(&e, "shown=111", T);
    cr_assert(line, "the program did not start");
    free(line);

    /* its own HOT function: said, not attempted */
    char *own = test_edit(e.text, (const char *const[]){ "x * 10 + GAME_STEP", "x * 20 + GAME_STEP", NULL });
    save(&e, own);
    p = wait_for(&e, "hotc/status", last_result_is, "notApplied", T);
    cr_assert(p, "no notApplied status for the included file's own HOT function");
    cr_assert(strstr(last_message(p), "game_value() is in unity_game.c, which unity_main.c includes"), "%s",
              last_message(p));
    json_decref(p);
    {
        struct diag_match err = { e.uri, NULL, 1, 0 };
        json_t *msg;
        size_t i;
        json_array_foreach(e.history, i, msg) {
            const char *m = json_string_value(json_object_get(msg, "method"));
            cr_assert(!m || strcmp(m, "textDocument/publishDiagnostics") != 0 ||
                          !diags_match(json_object_get(msg, "params"), &err),
                      "an error on unity_game.c (built alone?): %s", json_dumps(msg, JSON_COMPACT));
        }
    }

    /* a macro of it that the includer's HOT function uses: reloaded there */
    save(&e, e.text);
    char *macro = test_edit(e.text, (const char *const[]){ "#define GAME_STEP 1", "#define GAME_STEP 5", NULL });
    save(&e, macro);
    line = wait_output(&e, "shown=511", T);
    cr_assert(line, "a macro of the included file did not reach the includer's HOT function");
    free(line);
    free(macro);
    free(own);
    free(main_text);
    teardown(&e);
    remove_project(&e);
}

/* Real code logs __LINE__ (a LOG macro): a line added above a function
 * that is not HOT changes the number it prints, not its code. A save that
 * adds one above it (and changes value()) reloads value() and says nothing
 * about the other function. */
Test(pipeline, a_line_added_above_a_function_that_logs_its_line_is_no_change_of_it)
{
    struct env e;
    int one = 1;
    json_t *p;
    char cmd[16384], out[8192];

    setup_project(&e);
    char *logging = test_edit(e.text, (const char *const[]){ "static void on_term(int sig)\n",
                                                        "#define WHERE() (__LINE__ + 0)\n"
                                                        "int where_logged(void)\n{\n    return WHERE();\n}\n\n"
                                                        "static void on_term(int sig)\n", NULL });
    free(e.text);
    e.text = logging;
    test_spit(e.src, e.text);
    snprintf(cmd, sizeof cmd, "cd '%s' && gcc -std=gnu11 -g -O1 -Wall -o prog prog.c %s", e.dir, test_hotc_flags());
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "cannot build the program: %s", out);
    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    char *started = wait_output(&e, "value=101 step=1", T);
    cr_assert(started, "the program did not start");
    free(started);
    char *moved = test_edit(e.text, (const char *const[]){ "HOT int value(int x)\n", "\n\nHOT int value(int x)\n",
                                                      "return x + 100;", "return x + 300;", NULL });
    save(&e, moved);
    p = wait_for(&e, "hotc/status", last_result_is, "applied", T);
    cr_assert(p, "value() was not reloaded");
    cr_assert_null(strstr(last_message(p), "where_logged"), "%s", last_message(p));
    json_decref(p);
    {
        struct diag_match note = { e.uri, "not-hot", 3, 0 };
        json_t *msg;
        size_t i;
        json_array_foreach(e.history, i, msg) {
            const char *m = json_string_value(json_object_get(msg, "method"));
            cr_assert(!m || strcmp(m, "textDocument/publishDiagnostics") != 0 ||
                          !diags_match(json_object_get(msg, "params"), &note),
                      "a note on a function whose code did not change: %s", json_dumps(msg, JSON_COMPACT));
        }
    }
    free(moved);
    teardown(&e);
    remove_project(&e);
}

/* The line a compile error lands on, on its own and fast: one program,
 * one broken save, the error diagnostic at the user's line (not the
 * generated patch's), and the program never runs the broken code. */
Test(pipeline, a_compile_error_lands_on_the_users_line)
{
    struct env e;
    int one = 1;
    json_t *p;

    setup_project(&e);
    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    char *started = wait_output(&e, "value=101 step=1", T);
    cr_assert(started, "the program did not start");
    free(started);
    char *broken = test_edit(e.text, (const char *const[]){ "return x + 100;", "return x + ;", NULL });
    save(&e, broken);
    struct diag_match err = { e.uri, NULL, 1, 0 };
    p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &err, T);
    json_t *d = NULL;
    size_t i;
    json_array_foreach(json_object_get(p, "diagnostics"), i, d)
        if (json_integer_value(json_object_get(d, "severity")) == 1)
            break;
    cr_assert_not_null(d, "no error diagnostic");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(d, "range"), "start"), "line")),
                 test_line_of(broken, "return x + ;"), "%s", json_dumps(d, 0));
    json_decref(p);
    p = wait_for(&e, "hotc/status", last_result_is, "compileError", T);
    json_decref(p);
    /* an error in a macro's body, expanded twice: said once, at the
     * #define (the compiler says it once per expansion) */
    char *twice = test_edit(e.text, (const char *const[]){ "HOT int value(int x)\n", "#define TWICE(v) ((v) * )\nHOT int value(int x)\n",
                                                      "return x + 100;", "int a = TWICE(x);\n    int b = TWICE(x);\n    return a + b;", NULL });
    save(&e, twice);
    struct diag_match err2 = { e.uri, NULL, 1, 0 };
    for (;;) {
        p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &err2, T);
        int at_define = 0, other = 0;
        json_array_foreach(json_object_get(p, "diagnostics"), i, d) {
            if (json_integer_value(json_object_get(d, "severity")) != 1)
                continue;
            if (json_integer_value(json_object_get(json_object_get(json_object_get(d, "range"), "start"), "line")) ==
                test_line_of(twice, "#define TWICE"))
                at_define++;
            else
                other++;
        }
        char *all = json_dumps(p, JSON_COMPACT);
        json_decref(p);
        if (at_define == 0 && other > 0) { /* the previous save's error, still being replaced */
            free(all);
            continue;
        }
        cr_assert_eq(at_define, 1, "the macro's error, said %d times: %s", at_define, all);
        free(all);
        break;
    }
    free(twice);
    free(broken);
    teardown(&e);
    remove_project(&e);
}

/* A status that ends a save (compiling:false) with the result `arg`. */
static int ended_with(json_t *params, const void *arg)
{
    return json_is_false(json_object_get(params, "compiling")) && last_result_is(params, arg);
}

static int build_preamble_is(json_t *params, const void *arg)
{
    json_t *last = json_object_get(params, "last");
    const char *pre = json_string_value(json_object_get(json_object_get(last, "build"), "preamble"));
    return json_object_get(last, "result") && pre && strncmp(pre, arg, strlen(arg)) == 0;
}

/* The number of files in `dir` whose name ends with `suffix`. */
static int count_files(const char *dir, const char *suffix)
{
    char cmd[PATH_MAX + 128], out[64];
    snprintf(cmd, sizeof cmd, "ls -1 '%s' | grep -c -- '%s$'", dir, suffix);
    test_sh(cmd, out, sizeof out);
    return atoi(out);
}

/* gcc patches (fastCompiler off) use a precompiled preamble from the second
 * save on; messages stay on the user's lines; a header changed on disk
 * makes it stale (the patch sees the new header), and a new one is built. */
Test(pipeline, gcc_patches_use_a_precompiled_preamble_that_follows_its_headers)
{
    struct env e;
    int one = 1;
    json_t *p;
    char path[PATH_MAX + 16];

    setup_project(&e);
    snprintf(path, sizeof path, "%s/extra.h", e.dir);
    test_spit(path, "#define BONUS 0\n");
    start_server(&e, json_pack("{s:s}", "fastCompiler", "off"));
    start_program(&e);
    json_decref(wait_for(&e, "hotc/status", programs_is, &one, T));
    open_doc(&e);
    free(wait_output(&e, "value=101 step=1", T));

    /* 1. the first save of this #include block builds it in the background */
    char *v200 = test_edit(e.text, (const char *const[]){ "#include <unistd.h>\n", "#include <unistd.h>\n#include \"extra.h\"\n",
                                                     "return x + 100;", "return x + 200 + BONUS;", NULL });
    save(&e, v200);
    p = wait_for(&e, "hotc/status", ended_with, "applied", T);
    cr_assert(build_preamble_is(p, "building"), "%s", json_dumps(p, 0));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "last"), "result")), "applied");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(p, "last"), "build"),
                                                       "compiler")),
                     "gcc");
    json_decref(p);
    free(wait_output(&e, "value=201 step=1", T));
    json_decref(wait_seen(&e, "window/logMessage", log_contains, "precompiled the preamble", T));

    /* 2. the next save uses it */
    char *v300 = test_edit(v200, (const char *const[]){ "return x + 200 + BONUS;", "return x + 300 + BONUS;", NULL });
    save(&e, v300);
    p = wait_for(&e, "hotc/status", ended_with, "applied", T);
    cr_assert(build_preamble_is(p, "precompiled"), "%s", json_dumps(p, 0));
    json_decref(p);
    free(wait_output(&e, "value=301 step=1", T));

    /* 3. an error after the block lands on the user's line, in the user's file */
    char *broken = test_edit(v300, (const char *const[]){ "return x + 300 + BONUS;", "return x + ;", NULL });
    save(&e, broken);
    struct diag_match err = { e.uri, NULL, 1, 0 };
    p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &err, T);
    {
        json_t *d;
        size_t i;
        int found = 0;
        json_array_foreach(json_object_get(p, "diagnostics"), i, d)
            if (json_integer_value(json_object_get(d, "severity")) == 1 &&
                json_integer_value(json_object_get(json_object_get(json_object_get(d, "range"), "start"), "line")) ==
                    test_line_of(broken, "return x + ;"))
                found = 1;
        cr_assert(found, "no error at the user's line: %s", json_dumps(p, 0));
    }
    json_decref(p);
    p = wait_seen(&e, "hotc/status", ended_with, "compileError", T);
    cr_assert(build_preamble_is(p, "precompiled"), "%s", json_dumps(p, 0));
    json_decref(p);

    /* 4. the header changes on disk: not used stale, the patch sees the new value */
    usleep(100000);
    test_spit(path, "#define BONUS 5\n");
    char *v400 = test_edit(v300, (const char *const[]){ "return x + 300 + BONUS;", "return x + 400 + BONUS;", NULL });
    save(&e, v400);
    p = wait_for(&e, "hotc/status", ended_with, "applied", T);
    cr_assert(build_preamble_is(p, "stale"), "%s", json_dumps(p, 0));
    json_decref(p);
    free(wait_output(&e, "value=406 step=1", T));
    free(v400);

    teardown(&e);
    validate_traffic(&e, (const char *const[]){ "hotc-status", NULL });
    free(v200);
    free(v300);
    free(broken);
    remove_project(&e);
}

/* A file tcc cannot compile: the first save falls back to gcc and says
 * why; the next saves go straight to gcc (no second failed try). */
Test(pipeline, tcc_failing_on_a_file_is_remembered)
{
    struct env e;
    int one = 1;
    json_t *p, *build;
    char cmd[PATH_MAX + 64];

    snprintf(cmd, sizeof cmd, "command -v tcc >/dev/null");
    if (test_sh(cmd, NULL, 0) != 0)
        cr_skip_test("tcc is not installed");
    setup_project(&e);
    start_server(&e, json_pack("{s:s, s:s}", "fastCompiler", "tcc", "layoutCheck", "off"));
    start_program(&e);
    json_decref(wait_for(&e, "hotc/status", programs_is, &one, T));
    open_doc(&e);
    free(wait_output(&e, "value=101 step=1", T));

    char *v200 = test_edit(e.text, (const char *const[]){ "#include <unistd.h>\n",
                                                     "#include <unistd.h>\n#ifdef __TINYC__\n#error this project "
                                                     "needs gcc\n#endif\n",
                                                     "return x + 100;", "return x + 200;", NULL });
    save(&e, v200);
    p = wait_for(&e, "hotc/status", ended_with, "applied", T);
    build = json_object_get(json_object_get(p, "last"), "build");
    cr_assert_str_eq(json_string_value(json_object_get(build, "compiler")), "gcc", "%s", json_dumps(p, 0));
    cr_assert(strstr(json_string_value(json_object_get(build, "fastCompiler")), "tcc failed:") &&
                  strstr(json_string_value(json_object_get(build, "fastCompiler")), "needs gcc"),
              "%s", json_dumps(p, 0));
    json_decref(p);
    json_decref(wait_seen(&e, "window/logMessage", log_contains, "tcc cannot compile prog.c", T));
    free(wait_output(&e, "value=201 step=1", T));

    char *v300 = test_edit(v200, (const char *const[]){ "return x + 200;", "return x + 300;", NULL });
    save(&e, v300);
    p = wait_for(&e, "hotc/status", ended_with, "applied", T);
    build = json_object_get(json_object_get(p, "last"), "build");
    cr_assert_str_eq(json_string_value(json_object_get(build, "compiler")), "gcc", "%s", json_dumps(p, 0));
    cr_assert(strstr(json_string_value(json_object_get(build, "fastCompiler")), "tcc skipped:"), "%s",
              json_dumps(p, 0));
    json_decref(p);
    free(wait_output(&e, "value=301 step=1", T));

    teardown(&e);
    free(v200);
    free(v300);
    remove_project(&e);
}

/* At start-up the server removes the patch folders of servers that no
 * longer run, and keeps those of live ones; while it runs, the patch
 * libraries on disk are those of the programs' applied stacks. */
Test(pipeline, stale_patch_folders_are_removed_and_patch_files_bounded)
{
    struct env e;
    int one = 1;
    json_t *p, *r;
    char dead[PATH_MAX + 64], live[PATH_MAX + 64], own[PATH_MAX + 64], cmd[2 * PATH_MAX], out[PATH_MAX];
    pid_t gone = fork();

    if (gone == 0)
        _exit(0);
    waitpid(gone, NULL, 0);
    setup_project(&e);
    snprintf(e.tmp, sizeof e.tmp, "%s/tmp", e.dir);
    cr_assert_eq(mkdir(e.tmp, 0700), 0);
    snprintf(dead, sizeof dead, "%s/hotc-patches-%ld-abcdef", e.tmp, (long)gone);
    snprintf(live, sizeof live, "%s/hotc-patches-%ld-ghijkl", e.tmp, (long)getpid());
    cr_assert_eq(mkdir(dead, 0700), 0);
    cr_assert_eq(mkdir(live, 0700), 0);
    snprintf(cmd, sizeof cmd, "%s/p1.so", dead);
    test_spit(cmd, "x");
    start_server(&e, json_pack("{s:s}", "fastCompiler", "off"));
    json_decref(wait_seen(&e, "window/logMessage", log_contains, "removed 1 patch folder", T));
    cr_assert_neq(access(dead, F_OK), 0, "the folder of a dead server stays");
    cr_assert_eq(access(live, F_OK), 0, "the folder of a live process was removed");
    snprintf(cmd, sizeof cmd, "ls -d '%s'/hotc-patches-%ld-*", e.tmp, (long)lspclient_pid(e.c));
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "the server's folder has no pid in its name");
    snprintf(own, sizeof own, "%.*s", (int)strcspn(out, "\n"), out);

    start_program(&e);
    json_decref(wait_for(&e, "hotc/status", programs_is, &one, T));
    open_doc(&e);
    free(wait_output(&e, "value=101 step=1", T));
    char *v[3];
    const char *from = "return x + 100;";
    char *prev = e.text;
    for (int i = 0; i < 3; i++) {
        char to[64];
        snprintf(to, sizeof to, "return x + %d;", 200 + 100 * i);
        v[i] = test_edit(prev, (const char *const[]){ from, to, NULL });
        save(&e, v[i]);
        json_decref(wait_for(&e, "hotc/status", ended_with, "applied", T));
        prev = v[i];
        from = i == 0 ? "return x + 200;" : i == 1 ? "return x + 300;" : from;
    }
    cr_assert_eq(count_files(own, ".so"), 3, "three applied versions, three libraries");
    /* a compile error leaves no library */
    char *broken = test_edit(v[2], (const char *const[]){ "return x + 400;", "return x + ;", NULL });
    save(&e, broken);
    json_decref(wait_seen(&e, "hotc/status", ended_with, "compileError", T));
    cr_assert_eq(count_files(own, ".so"), 3);
    /* a rolled back version no longer runs: its library goes */
    r = command(&e, "hotc.server.rollback", NULL);
    json_decref(r);
    p = wait_for(&e, "hotc/status", ended_with, "rolledBack", T);
    json_decref(p);
    for (int i = 0; i < 100 && count_files(own, ".so") != 2; i++)
        usleep(20000);
    cr_assert_eq(count_files(own, ".so"), 2, "the rolled back library stays");

    teardown(&e);
    cr_assert_neq(access(own, F_OK), 0, "the server's folder stays after its exit");
    for (int i = 0; i < 3; i++)
        free(v[i]);
    free(broken);
    remove_project(&e);
}

/* Typed state (issue 13): a save that changes the types of HOT_STATE
 * blocks is applied with the blocks migrated at the safe point: a field
 * added (zero), a float that became a double, an int that became a char
 * (its value 300 does not fit: zero, named), a nested struct that grew
 * inside an array that grew, a field removed, a pointer kept live; a block
 * whose type did not change is kept as it is; a block with its own
 * migrate function gets the function's (new) result, not the plan's. */
Test(state, a_save_that_changes_state_types_migrates_the_blocks)
{
    struct env e;
    int one = 1;
    json_t *p, *r;
    char *before, *after;

    setup_files(&e, (const char *const[]){ "state.c", NULL });
    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    before = wait_output(&e, "old score=", T);
    cr_assert(before, "the program did not start");
    cr_assert(strstr(before, "speed=1.5 big=300 at1y=7 ptr=42 plain=5/"), "%s", before);

    char *changed = test_edit(e.text, (const char *const[]){
        "    int x, y;\n", "    int x, y, z;\n",
        "    float speed;\n    long frames;\n    int big;\n    struct pos at[2];\n    int *ptr;\n    short gone;\n",
        "    double speed;\n    long frames;\n    int lives;\n    char big;\n    struct pos at[3];\n    int *ptr;\n",
        "struct custom {\n    int v;\n};", "struct custom {\n    long v;\n    int extra;\n};\nstruct custom_v1 {\n    int v;\n};",
        "((struct custom *)new_block)->v = ((const struct custom *)old_block)->v;",
        "((struct custom *)new_block)->v = ((const struct custom_v1 *)old_block)->v * 1000L;",
        "        g->gone = 3;\n", "",
        "printf(\"old score=%d speed=%g big=%d at1y=%d ptr=%d plain=%d/%d custom=%d calls=%ld version=%d\\n\", g->score,\n"
        "               (double)g->speed, g->big, g->at[1].y, *g->ptr, p->a, p->b, c->v, g->frames, hot_version());",
        "printf(\"new score=%d speed=%g big=%d at1y=%d at2z=%d lives=%d ptr=%d plain=%d/%d custom=%ld calls=%ld \"\n"
        "                   \"version=%d\\n\", g->score, g->speed, g->big, g->at[1].y, g->at[2].z, g->lives, *g->ptr, p->a,\n"
        "                   p->b, c->v, g->frames, hot_version());",
        NULL });
    save(&e, changed);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    r = json_array_get(json_object_get(p, "programs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "applied", "%s",
                     json_string_value(json_object_get(r, "reason")));
    const char *said = json_string_value(json_object_get(p, "state"));
    cr_assert(said, "hotc/reloaded says what was migrated");
    cr_assert(strstr(said, "state `game` migrated:"), "%s", said);
    cr_assert(strstr(said, "field `lives` added (0)"), "%s", said);
    cr_assert(strstr(said, "`speed` float → double"), "%s", said);
    cr_assert(strstr(said, "`big` int → char"), "%s", said);
    cr_assert(strstr(said, "`big` did not fit its new type, defaulted (0)"), "%s", said);
    cr_assert(strstr(said, "field `at[].z` added (0)"), "%s", said);
    cr_assert(strstr(said, "field `gone` removed"), "%s", said);
    cr_assert(strstr(said, "state `custom` migrated by its migrate function"), "%s", said);
    cr_assert(!strstr(said, "`plain`"), "an unchanged block is not migrated: %s", said);
    json_decref(p);
    after = wait_output(&e, "new score=", T);
    cr_assert(after, "the program does not run the new code");
    cr_assert_gt(field(after, "calls"), field(before, "calls"), "the frame counter was reset: %s", after);
    cr_assert_gt(field(after, "score"), field(before, "score"), "the score was reset: %s", after);
    cr_assert(strstr(after, "speed=1.5 big=0 at1y=7 at2z=0 lives=0 ptr=42 plain=5/"), "%s", after);
    cr_assert_gt(atol(strstr(after, "plain=5/") + 8), atol(strstr(before, "plain=5/") + 8),
                 "the unchanged block was kept: %s", after);
    cr_assert(strstr(after, "custom=9000 "), "the migrate function wins: %s", after);
    cr_assert_eq(field(after, "version"), 1);
    p = wait_for(&e, "hotc/status", last_result_is, "applied", T);
    json_decref(p);

    /* a body change with the same new layout: the blocks are already in it */
    char *again = test_edit(changed, (const char *const[]){ "printf(\"new score=", "printf(\"again score=",
                                                      "    p->b++;\n", "    p->b++;\n    HOT_STATE(struct plain, \"later\")->a++;\n",
                                                      NULL });
    save(&e, again);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    r = json_array_get(json_object_get(p, "programs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "applied", "%s",
                     json_string_value(json_object_get(r, "reason")));
    cr_assert_null(json_object_get(p, "state"), "nothing to migrate: %s",
                   json_string_value(json_object_get(p, "state")));
    json_decref(p);
    char *third = wait_output(&e, "again score=", T);
    cr_assert(third, "the program does not run the new code");
    cr_assert(strstr(third, "speed=1.5 big=0 at1y=7 at2z=0 lives=0 ptr=42 plain=5/"), "%s", third);
    cr_assert(strstr(third, "custom=9000 "), "%s", third);
    cr_assert_gt(field(third, "score"), field(after, "score"), "%s", third);
    free(third);

    /* a third layout: the server plans from the executable's, which the
     * blocks are no longer in: refused, nothing changed */
    char *layout3 = test_edit(again, (const char *const[]){ "    int lives;\n", "    int lives;\n    int level;\n",
                                                       "    g->score++;\n", "    g->score++;\n    g->level = 1;\n", NULL });
    save(&e, layout3);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    r = json_array_get(json_object_get(p, "programs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "refused");
    cr_assert(strstr(json_string_value(json_object_get(r, "reason")), "restart the program to apply"), "%s",
              json_string_value(json_object_get(r, "reason")));
    json_decref(p);
    third = wait_output(&e, "again score=", T);
    cr_assert(third && strstr(third, "lives=0 ptr=42"), "the program goes on: %s", third ? third : "");
    free(third);
    free(layout3);
    free(again);
    teardown(&e);
    /* the block made by the new code was reported (hot/state) */
    validate_traffic(&e, (const char *const[]){ "hot-attach", "hot-state", "hot-reload", "hot-reload.result",
                                                "hotc-reloaded", NULL });
    free(before);
    free(after);
    free(changed);
    remove_project(&e);
}
