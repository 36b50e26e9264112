/* The end-to-end environment of the pipeline tests (pipeline_env.h). */
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

#include "pipeline_env.h"

void record(struct env *e, json_t *msg)
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


/* Reads messages (recording the hotc/ ones) until one with `method` whose
 * params satisfy `match` (NULL: any). Returns its params (new reference). */
json_t *wait_for(struct env *e, const char *method, match_fn match, const void *arg, int timeout_ms)
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
json_t *wait_seen(struct env *e, const char *method, match_fn match, const void *arg, int timeout_ms)
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

int programs_is(json_t *params, const void *arg)
{
    return json_integer_value(json_object_get(params, "programs")) == *(const int *)arg;
}

int last_result_is(json_t *params, const void *arg)
{
    const char *r = json_string_value(json_object_get(json_object_get(params, "last"), "result"));
    return r && strcmp(r, arg) == 0;
}

int progress_is(json_t *params, const void *arg)
{
    const char *kind = json_string_value(json_object_get(json_object_get(params, "value"), "kind"));
    return kind && strcmp(kind, arg) == 0;
}

int log_contains(json_t *params, const void *arg)
{
    const char *m = json_string_value(json_object_get(params, "message"));
    return m && strstr(m, arg) != NULL;
}


int diags_match(json_t *params, const void *arg)
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
char *wait_output(struct env *e, const char *text, int timeout_ms)
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

long field(const char *line, const char *name)
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
void expect_output(struct env *e, const char *text, const char *after, const char *why)
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
void setup_project(struct env *e)
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
void setup_files(struct env *e, const char *const *names)
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

void start_server(struct env *e, json_t *settings)
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
void start_program_at(struct env *e, const char *endpoint, const char *token, const char *arg)
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

void start_program(struct env *e)
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

void open_doc(struct env *e)
{
    lspclient_notify(e->c, "textDocument/didOpen",
                     json_pack("{s:{s:s, s:s, s:i, s:s}}", "textDocument", "uri", e->uri, "languageId", "c",
                               "version", ++e->version, "text", e->text));
}

/* Like an editor: the new text as a change, on disk, then didSave. */
void save(struct env *e, const char *text)
{
    lspclient_notify(e->c, "textDocument/didChange",
                     json_pack("{s:{s:s, s:i}, s:[{s:s}]}", "textDocument", "uri", e->uri, "version", ++e->version,
                               "contentChanges", "text", text));
    test_spit(e->src, text);
    lspclient_notify(e->c, "textDocument/didSave", json_pack("{s:{s:s}}", "textDocument", "uri", e->uri));
}

/* The didChange + didSave pair of an editor for `uri`, framed (the bytes
 * appended to `buf`), and the file written to disk. */
void frame_save(struct env *e, char *buf, size_t size, const char *uri, const char *text)
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

void open_file(struct env *e, const char *name, char *uri, size_t size, char **text)
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

json_t *command(struct env *e, const char *name, json_t *args)
{
    json_t *r = lspclient_request(e->c, "workspace/executeCommand",
                                  json_pack("{s:s, s:o}", "command", name, "arguments", args ? args : json_array()),
                                  T);
    cr_assert(r, "no answer to %s", name);
    return r;
}

/* Validates every line of `lines` (JSON values) against `schema`. */
void validate(struct env *e, const char *schema, json_t *lines, const char *kind)
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
void validate_traffic(struct env *e, const char *const *required)
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

void teardown(struct env *e)
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

void remove_project(struct env *e)
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
void expect_clean_order(struct env *e, size_t mark, int reloads)
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
char *lens_title(struct env *e, int line)
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

/* The status's last message (a borrowed string, or ""). */
const char *last_message(json_t *status)
{
    const char *m = json_string_value(json_object_get(json_object_get(status, "last"), "message"));
    return m ? m : "";
}
