/* End to end: every edit reaches the running program, or the editor says
 * why. The real `hotc lsp`, a real two-file program linked with the real
 * runtime (tests/fixtures/edits/, built with -DMODE_FAST=1 and described
 * by a compile_commands.json the test writes) and an LSP client:
 *   - a changed #define reloads the HOT function that uses it;
 *   - an edit in the #if branch the flags leave out reloads nothing, and
 *     the editor hears "nothing to reload";
 *   - a changed static helper (reached through another static) reloads
 *     its HOT caller;
 *   - a changed function that is neither HOT nor static: "not applied",
 *     and an information diagnostic with the hint to mark it HOT;
 *   - a compile error, then the undo back to the running code: in that
 *     same save the error and the stale lens go;
 *   - a header reached through another header: every including file
 *     reloads, the one never opened too;
 *   - a program that stops calling hot_poll(): "waiting ...", then the
 *     reload applies once it polls again;
 *   - one publishDiagnostics per changed file per save, none for the
 *     other open files; compiler messages say source "compiler".
 * Every hotc/status is validated against its schema. */
#include <criterion/criterion.h>
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
#include "e2e.h"
#include "run.h"

#define T 60000 /* ms; generous: the machine is shared and compiles are slow under load */

struct env {
    char dir[64];
    char pause[PATH_MAX];
    struct lspclient *c;
    pid_t pid;
    json_t *history;         /* every message read, in order */
    int version;
};

/* `text` with `from` replaced by `to` (a new string). */
static char *edit(const char *text, const char *from, const char *to)
{
    return test_edit(text, (const char *const[]){ from, to, NULL });
}

static char *path_in(struct env *e, const char *name)
{
    static char path[4][PATH_MAX];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, PATH_MAX, "%s/%s", e->dir, name);
    return p;
}

/* A project of fixtures (tests/fixtures/edits/NAME), each .c file with a
 * compile_commands.json entry using `flags`, and the program built from
 * them with the same flags. */
static void setup(struct env *e, const char *const *names, const char *flags)
{
    char cmd[16384], out[8192], files[1024] = "";
    json_t *db = json_array();
    size_t used = 0;

    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/hotc-edits-XXXXXX");
    cr_assert(mkdtemp(e->dir));
    e->history = json_array();
    for (size_t i = 0; names[i]; i++) {
        char fixture[PATH_MAX];
        snprintf(fixture, sizeof fixture, "tests/fixtures/edits/%s", names[i]);
        char *text = test_slurp(test_source_path(fixture), NULL);
        cr_assert(text, "no fixture %s", names[i]);
        test_spit(path_in(e, names[i]), text);
        free(text);
        if (strstr(names[i], ".c")) {
            json_t *args = json_pack("[s,s,s,s]", "gcc", "-std=gnu11", "-g", "-O1");
            char *copy = strdup(flags);
            for (char *f = strtok(copy, " "); f; f = strtok(NULL, " "))
                json_array_append_new(args, json_string(f));
            free(copy);
            json_t *tail = json_pack("[s,s,s,s,s,s,s]", "-I", test_source_path("runtime"), "-c", "-o", "x.o",
                                     names[i], "-Wall");
            json_array_extend(args, tail);
            json_decref(tail);
            json_array_append_new(db, json_pack("{s:s, s:s, s:o}", "directory", e->dir, "file", names[i],
                                                "arguments", args));
            used += (size_t)snprintf(files + used, sizeof files - used, " %s", names[i]);
        }
    }
    cr_assert_eq(json_dump_file(db, path_in(e, "compile_commands.json"), 0), 0);
    json_decref(db);
    snprintf(cmd, sizeof cmd, "cd '%s' && gcc -std=gnu11 -g -O1 %s -Wall -o prog %s %s", e->dir, flags, files,
             test_hotc_flags());
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "cannot build the program: %s", out);
    cr_assert_eq(mkdir(path_in(e, "run"), 0700), 0);
    snprintf(e->pause, sizeof e->pause, "%s/pause", e->dir);
}

static void start(struct env *e)
{
    char xdg[PATH_MAX + 32], log[PATH_MAX], root[PATH_MAX + 8], endpoint[PATH_MAX + 64];
    const char *env[] = { xdg, NULL };
    const char *args[] = { "--log", log, NULL };
    struct lspclient_options opt = { .env = env, .args = args, .quiet_stderr = 1 };
    json_t *r;

    snprintf(xdg, sizeof xdg, "XDG_RUNTIME_DIR=%s/run", e->dir);
    snprintf(log, sizeof log, "%s/server.log", e->dir);
    snprintf(root, sizeof root, "file://%s", e->dir);
    e->c = lspclient_start(&opt);
    cr_assert(e->c, "cannot start hotc lsp");
    r = lspclient_initialize(e->c,
                             json_pack("{s:i, s:s, s:{s:{s:{s:b}}}}", "processId", (int)getpid(), "rootUri", root,
                                       "capabilities", "workspace", "codeLens", "refreshSupport", 1),
                             T);
    cr_assert(r, "no initialize result");
    json_decref(r);
    snprintf(endpoint, sizeof endpoint, "unix:%s/run/hotc/%ld.sock", e->dir, (long)lspclient_pid(e->c));
    e->pid = fork();
    cr_assert(e->pid >= 0);
    if (e->pid == 0) {
        int fd = open(path_in(e, "prog.out"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("HOTC_ENDPOINT", endpoint, 1);
        execl(path_in(e, "prog"), "prog", "120000", e->pause, (char *)NULL);
        _exit(127);
    }
}

typedef int (*match_fn)(json_t *params, const void *arg);

/* Reads messages until one with `method` whose params satisfy `match`
 * (NULL: any). Returns its params (new reference). */
static json_t *wait_for(struct env *e, const char *method, match_fn match, const void *arg)
{
    long long deadline = test_now_ms() + T;

    for (;;) {
        long long left = deadline - test_now_ms();
        json_t *msg = left > 0 ? lspclient_read(e->c, (int)left) : NULL;
        const char *m;

        cr_assert(msg, "timed out waiting for %s", method);
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

static int programs_one(json_t *params, const void *arg)
{
    (void)arg;
    return json_integer_value(json_object_get(params, "programs")) == 1;
}

static int last_is(json_t *params, const void *arg)
{
    const char *r = json_string_value(json_object_get(json_object_get(params, "last"), "result"));
    return r && strcmp(r, arg) == 0;
}

static int uri_is(json_t *params, const void *arg)
{
    return strcmp(json_string_value(json_object_get(params, "uri")), arg) == 0;
}

/* The status that answers a save (compiling:false, last.result `result`),
 * with its message (a copy). */
static char *expect_status(struct env *e, const char *result)
{
    json_t *p = wait_for(e, "hotc/status", last_is, result);
    char *message = strdup(json_string_value(json_object_get(json_object_get(p, "last"), "message")));
    cr_assert(!json_is_true(json_object_get(p, "compiling")), "the answer came while compiling");
    json_decref(p);
    return message;
}

/* The program's last output line containing `text` (a copy), waiting for
 * one; NULL at the deadline. */
static char *wait_output(struct env *e, const char *text)
{
    long long deadline = test_now_ms() + T;

    for (;;) {
        char *out = test_slurp(path_in(e, "prog.out"), NULL), *hit = NULL;
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

static void expect_output(struct env *e, const char *text, const char *why)
{
    char *line = wait_output(e, text);
    cr_assert(line, "%s (no '%s' in the output)", why, text);
    free(line);
}

static void open_file(struct env *e, const char *name, char *uri, size_t size, char **text)
{
    snprintf(uri, size, "file://%s", path_in(e, name));
    *text = test_slurp(path_in(e, name), NULL);
    cr_assert(*text);
    lspclient_notify(e->c, "textDocument/didOpen",
                     json_pack("{s:{s:s, s:s, s:i, s:s}}", "textDocument", "uri", uri, "languageId", "c",
                               "version", ++e->version, "text", *text));
}

/* Like an editor: the new text as a change, on disk, then didSave. */
static void save(struct env *e, const char *uri, const char *text)
{
    lspclient_notify(e->c, "textDocument/didChange",
                     json_pack("{s:{s:s, s:i}, s:[{s:s}]}", "textDocument", "uri", uri, "version", ++e->version,
                               "contentChanges", "text", text));
    test_spit(uri + 7, text);
    lspclient_notify(e->c, "textDocument/didSave", json_pack("{s:{s:s}}", "textDocument", "uri", uri));
}

/* The publishDiagnostics of `uri` read since message `mark`. */
static size_t published(struct env *e, size_t mark, const char *uri, json_t **last)
{
    size_t n = 0;

    for (size_t i = mark; i < json_array_size(e->history); i++) {
        json_t *msg = json_array_get(e->history, i);
        const char *m = json_string_value(json_object_get(msg, "method"));
        json_t *params = json_object_get(msg, "params");
        if (m && strcmp(m, "textDocument/publishDiagnostics") == 0 && uri_is(params, uri)) {
            n++;
            if (last)
                *last = params;
        }
    }
    return n;
}

/* How many hotc/reloaded were read since `mark`. */
static size_t reloaded_since(struct env *e, size_t mark)
{
    size_t n = 0;
    for (size_t i = mark; i < json_array_size(e->history); i++) {
        const char *m = json_string_value(json_object_get(json_array_get(e->history, i), "method"));
        n += m && strcmp(m, "hotc/reloaded") == 0;
    }
    return n;
}

/* The one diagnostic of `params` with `severity`, or NULL. Borrowed. */
static json_t *diag_with(json_t *params, int severity)
{
    size_t i;
    json_t *d;

    json_array_foreach(json_object_get(params, "diagnostics"), i, d)
        if (json_integer_value(json_object_get(d, "severity")) == severity)
            return d;
    return NULL;
}

static char *lens_title(struct env *e, const char *uri, int line)
{
    json_t *r = lspclient_request(e->c, "textDocument/codeLens", json_pack("{s:{s:s}}", "textDocument", "uri", uri),
                                  T),
           *l;
    size_t i;
    char *title = NULL;

    cr_assert(r);
    json_array_foreach(json_object_get(r, "result"), i, l) {
        json_t *s = json_object_get(json_object_get(l, "range"), "start");
        if (json_integer_value(json_object_get(s, "line")) == line)
            title = strdup(json_string_value(json_object_get(json_object_get(l, "command"), "title")));
    }
    json_decref(r);
    cr_assert(title, "no lens at line %d", line);
    return title;
}

static void validate_statuses(struct env *e)
{
    char path[PATH_MAX], cmd[3 * PATH_MAX], out[8192];
    FILE *f;

    snprintf(path, sizeof path, "%s/statuses.jsonl", e->dir);
    f = fopen(path, "w");
    cr_assert(f);
    for (size_t i = 0; i < json_array_size(e->history); i++) {
        json_t *msg = json_array_get(e->history, i);
        const char *m = json_string_value(json_object_get(msg, "method"));
        if (m && strcmp(m, "hotc/status") == 0) {
            char *s = json_dumps(json_object_get(msg, "params"), JSON_COMPACT);
            fprintf(f, "%s\n", s);
            free(s);
        }
    }
    fclose(f);
    char checker[PATH_MAX];
    snprintf(checker, sizeof checker, "%s", test_source_path("tools/schema_check.py"));
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' < '%s'", checker,
             test_source_path("schema/editor/hotc-status.schema.json"), path);
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "hotc/status does not match its schema:\n%s", out);
}

static void teardown(struct env *e)
{
    char cmd[PATH_MAX];
    int status;

    cr_assert_eq(lspclient_shutdown(e->c, T), 0);
    cr_assert_eq(lspclient_garbage(e->c), 0, "stdout must carry protocol only");
    lspclient_free(e->c);
    kill(e->pid, SIGTERM);
    waitpid(e->pid, &status, 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    test_sh(cmd, NULL, 0);
    json_decref(e->history);
}

Test(edits, every_edit_reaches_the_program_or_the_editor_says_why)
{
    struct env e;
    char uri[PATH_MAX + 8], huri[PATH_MAX + 8], ouri[PATH_MAX + 8];
    char *text, *htext, *message, *title;
    json_t *p, *d;
    size_t mark;

    setup(&e, (const char *const[]){ "edits.c", "other.c", "config.h", "deep.h", NULL },
          "-DMODE_FAST=1 -Wredundant-decls -Wnested-externs");
    start(&e);
    json_decref(wait_for(&e, "hotc/status", programs_one, NULL));
    open_file(&e, "edits.c", uri, sizeof uri, &text);
    open_file(&e, "deep.h", huri, sizeof huri, &htext);
    snprintf(ouri, sizeof ouri, "file://%s", path_in(&e, "other.c"));
    expect_output(&e, "calc=11 help=3 deep=6 other=11 plain=4", "the program did not start");

    /* 1. a #define of the file: the HOT function that uses it reloads */
    char *v1 = edit(text, "#define BONUS 10", "#define BONUS 20");
    save(&e, uri, v1);
    p = wait_for(&e, "hotc/reloaded", uri_is, uri);
    cr_assert_eq(json_array_size(json_object_get(p, "functions")), 1, "%s", json_dumps(p, 0));
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "functions"), 0)), "calc");
    json_decref(p);
    free(expect_status(&e, "applied"));
    expect_output(&e, "calc=21 help=3", "a changed #define did not reach calc()");
    cr_assert_eq(published(&e, 0, uri, &p) > 0 ? (diag_with(p, 2) != NULL) : 0, 0,
                 "the patch warns where the build does not: %s", json_dumps(p, JSON_COMPACT));

    /* 2. the #if branch the flags leave out: nothing to reload, and said */
    char *v2 = edit(v1, "x + BONUS + 1000", "x + BONUS + 2000");
    mark = json_array_size(e.history);
    save(&e, uri, v2);
    message = expect_status(&e, "nothing");
    cr_assert(strstr(message, "nothing to reload"), "%s", message);
    free(message);
    cr_assert_eq(reloaded_since(&e, mark), 0, "an edit of an inactive #if branch was reloaded");

    /* 3. a static helper reached through another static: its HOT caller
     * reloads; one publishDiagnostics at most for the file, none for the
     * other open file */
    char *v3 = edit(v2, "return x * 2;", "return x * 3;");
    mark = json_array_size(e.history);
    save(&e, uri, v3);
    p = wait_for(&e, "hotc/reloaded", uri_is, uri);
    cr_assert_eq(json_array_size(json_object_get(p, "functions")), 1, "%s", json_dumps(p, 0));
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "functions"), 0)), "help");
    json_decref(p);
    free(expect_status(&e, "applied"));
    expect_output(&e, "calc=21 help=4", "a changed static helper did not reach help()");
    cr_assert_leq(published(&e, mark, uri, NULL), 1, "diagnostics of the saved file published more than once");
    cr_assert_eq(published(&e, mark, huri, NULL), 0, "diagnostics of another open file published again");

    /* 4. neither HOT nor static: not applied, an information diagnostic
     * with the hint */
    char *v4 = edit(v3, "return x + 3;", "return x + 4;");
    save(&e, uri, v4);
    message = expect_status(&e, "notApplied");
    cr_assert(strstr(message, "plain()") && strstr(message, "mark it HOT"), "%s", message);
    free(message);
    mark = 0;
    cr_assert_geq(published(&e, mark, uri, &p), 1);
    d = diag_with(p, 3);
    cr_assert(d, "no information diagnostic for plain()");
    cr_assert_str_eq(json_string_value(json_object_get(d, "code")), "not-hot");
    cr_assert(strstr(json_string_value(json_object_get(d, "message")), "mark it HOT"));

    /* 5. a compile error (plain() back as it runs): source "compiler", a
     * stale lens, nothing published for the other open file */
    char *broken = edit(v3, "return x + BONUS;", "return x + ;");
    mark = json_array_size(e.history);
    save(&e, uri, broken);
    free(expect_status(&e, "compileError"));
    cr_assert_geq(published(&e, mark, uri, &p), 1);
    d = diag_with(p, 1);
    cr_assert(d, "no error diagnostic");
    cr_assert_str_eq(json_string_value(json_object_get(d, "source")), "compiler");
    cr_assert_eq(published(&e, mark, huri, NULL), 0, "a compile error re-published another open file");
    title = lens_title(&e, uri, test_line_of(broken, "HOT int calc"));
    cr_assert(strstr(title, "stale"), "lens: %s", title);
    free(title);

    /* 6. undo back to the running code: the error and the stale lens go in
     * that same save */
    mark = json_array_size(e.history);
    save(&e, uri, v3);
    message = expect_status(&e, "nothing");
    free(message);
    cr_assert_eq(published(&e, mark, uri, &p), 1, "the undo must publish the file's diagnostics once");
    cr_assert_null(diag_with(p, 1), "the compile error stayed after the undo");
    title = lens_title(&e, uri, test_line_of(v3, "HOT int calc"));
    cr_assert(!strstr(title, "stale"), "lens after the undo: %s", title);
    free(title);

    /* 7. a header reached through another header: both files reload, the
     * one never opened too */
    char *h1 = edit(htext, "#define DEEP_BONUS 5", "#define DEEP_BONUS 7");
    mark = json_array_size(e.history);
    save(&e, huri, h1);
    p = wait_for(&e, "hotc/reloaded", uri_is, ouri);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "functions"), 0)), "other");
    json_decref(p);
    expect_output(&e, "deep=8 other=15", "a header at depth 2 did not reach deep() and other()");
    {
        int found = 0;
        for (size_t i = mark; i < json_array_size(e.history); i++) {
            json_t *msg = json_array_get(e.history, i);
            const char *m = json_string_value(json_object_get(msg, "method"));
            json_t *params = json_object_get(msg, "params");
            if (m && !strcmp(m, "hotc/reloaded") && uri_is(params, uri))
                found = !strcmp(json_string_value(json_array_get(json_object_get(params, "functions"), 0)), "deep");
        }
        if (!found) {
            p = wait_for(&e, "hotc/reloaded", uri_is, uri);
            cr_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "functions"), 0)), "deep");
            json_decref(p);
        }
    }
    free(expect_status(&e, "applied"));

    /* 8. a program that stops calling hot_poll(): the editor hears why the
     * reload waits, and it applies once the program polls again */
    test_spit(e.pause, "");
    char *v8 = edit(v3, "#define BONUS 20", "#define BONUS 30");
    save(&e, uri, v8);
    message = expect_status(&e, "waiting");
    cr_assert(strstr(message, "hot_poll()") && strstr(message, "HOTC_MODE=auto"), "%s", message);
    free(message);
    unlink(e.pause);
    free(expect_status(&e, "applied"));
    expect_output(&e, "calc=31", "the reload did not apply once the program polled again");

    validate_statuses(&e);
    teardown(&e);
    free(text);
    free(htext);
    free(v1);
    free(v2);
    free(v3);
    free(v4);
    free(broken);
    free(h1);
    free(v8);
}

Test(edits, hidden_and_internal_functions_reload_and_patches_reach_hidden_symbols)
{
    struct env e;
    char uri[PATH_MAX + 8], *text, *line0, *line1;
    json_t *p;

    setup(&e, (const char *const[]){ "hidden.c", NULL }, "-fvisibility=hidden");
    start(&e);
    json_decref(wait_for(&e, "hotc/status", programs_one, NULL));
    open_file(&e, "hidden.c", uri, sizeof uri, &text);
    line0 = wait_output(&e, "probe=2 shown=2");
    cr_assert(line0, "the program did not start");

    /* probe() (internal) now calls twice() (internal) and base() (hidden);
     * shown() (hidden) changes too */
    char *v1 = edit(text, "    counter++;\n    return x + 1;", "    counter++;\n    return twice(x) + base();");
    char *v2 = edit(v1, "HOT int shown(int x)\n{\n    return x + 1;", "HOT int shown(int x)\n{\n    return x + 2;");
    save(&e, uri, v2);
    p = wait_for(&e, "hotc/reloaded", uri_is, uri);
    {
        json_t *prog = json_array_get(json_object_get(p, "programs"), 0);
        cr_assert_str_eq(json_string_value(json_object_get(prog, "status")), "applied", "%s",
                         json_dumps(p, JSON_COMPACT));
        cr_assert_eq(json_array_size(json_object_get(p, "functions")), 2, "%s", json_dumps(p, JSON_COMPACT));
    }
    json_decref(p);
    free(expect_status(&e, "applied"));
    line1 = wait_output(&e, "probe=9 shown=3");
    cr_assert(line1, "the new code of the hidden and internal HOT functions does not run");
    {
        const char *c0 = strstr(line0, "counter="), *c1 = strstr(line1, "counter=");
        cr_assert(c0 && c1 && atol(c1 + 8) > atol(c0 + 8), "the hidden global was not the program's: %s / %s",
                  line0, line1);
    }

    /* a second patch that binds hidden symbols loads as itself, not as the
     * first one (dlopen knows libraries by path: the copy the runtime makes
     * to bind them must not reuse a path) */
    char *v3 = edit(v2, "HOT int shown(int x)\n{\n    return x + 2;", "HOT int shown(int x)\n{\n    return x + 3;");
    save(&e, uri, v3);
    json_decref(wait_for(&e, "hotc/reloaded", uri_is, uri));
    char *line2 = wait_output(&e, "probe=9 shown=4");
    cr_assert(line2, "the second patch binding hidden symbols did not run its own code");

    teardown(&e);
    free(text);
    free(v1);
    free(v2);
    free(v3);
    free(line0);
    free(line1);
    free(line2);
}

static int last_answered(json_t *params, const void *arg)
{
    (void)arg;
    return json_object_get(json_object_get(params, "last"), "result") != NULL &&
           !json_is_true(json_object_get(params, "compiling"));
}

/* The server preprocesses every file of compile_commands.json in the
 * background, to know what the program runs (after the first file opened
 * has loaded the compile commands). An editor that writes a save to disk
 * before that preprocessor reads the file must still see the save reload:
 * the scan read the saved text, not the program's. The compiler here is a
 * wrapper whose preprocessor run on other.c as on disk waits until the
 * test has written the save there. */
Test(edits, a_save_on_disk_before_the_background_scan_reads_it_still_reloads)
{
    struct env e;
    char uri[PATH_MAX + 8], ouri[PATH_MAX + 8], *text, *otext, wrapper[PATH_MAX], cmd[4 * PATH_MAX];
    json_t *db, *p, *v;
    size_t i;
    long long deadline;

    setup(&e, (const char *const[]){ "edits.c", "other.c", "config.h", "deep.h", NULL }, "-DMODE_FAST=1");
    snprintf(wrapper, sizeof wrapper, "%s/slowcc", e.dir);
    snprintf(cmd, sizeof cmd,
             "#!/bin/sh\n"
             "case \" $* \" in *\" -E \"*\" other.c \"*|*\" -E \"*\"/other.c \"*)\n"
             "  if mkdir '%s/first' 2>/dev/null; then\n"
             "    while [ ! -e '%s/go' ]; do sleep 0.05; done\n"
             "    gcc \"$@\"; rc=$?; touch '%s/done'; exit $rc\n"
             "  fi;;\n"
             "esac\n"
             "exec gcc \"$@\"\n",
             e.dir, e.dir, e.dir);
    test_spit(wrapper, cmd);
    cr_assert_eq(chmod(wrapper, 0700), 0);
    db = json_load_file(path_in(&e, "compile_commands.json"), 0, NULL);
    cr_assert(db);
    json_array_foreach(db, i, v)
        json_array_set_new(json_object_get(v, "arguments"), 0, json_string(wrapper));
    cr_assert_eq(json_dump_file(db, path_in(&e, "compile_commands.json"), 0), 0);
    json_decref(db);

    start(&e);
    json_decref(wait_for(&e, "hotc/status", programs_one, NULL));
    open_file(&e, "edits.c", uri, sizeof uri, &text);
    expect_output(&e, "other=11", "the program did not start");
    for (deadline = test_now_ms() + T; access(path_in(&e, "first"), F_OK) != 0 && test_now_ms() < deadline;)
        usleep(20000);
    cr_assert_eq(access(path_in(&e, "first"), F_OK), 0, "other.c was not preprocessed in the background");
    open_file(&e, "other.c", ouri, sizeof ouri, &otext);

    /* the editor's save: the new text, on disk; the background
     * preprocessor then reads it and ends, and only then comes didSave */
    char *v1 = edit(otext, "x + DEEP_BONUS * 2", "x + DEEP_BONUS * 3");
    lspclient_notify(e.c, "textDocument/didChange",
                     json_pack("{s:{s:s, s:i}, s:[{s:s}]}", "textDocument", "uri", ouri, "version", ++e.version,
                               "contentChanges", "text", v1));
    test_spit(path_in(&e, "other.c"), v1);
    test_spit(path_in(&e, "go"), "");
    for (deadline = test_now_ms() + T; access(path_in(&e, "done"), F_OK) != 0 && test_now_ms() < deadline;)
        usleep(20000);
    cr_assert_eq(access(path_in(&e, "done"), F_OK), 0, "the background preprocessor never ended");
    usleep(300000); /* its result reaches the server's loop */
    lspclient_notify(e.c, "textDocument/didSave", json_pack("{s:{s:s}}", "textDocument", "uri", ouri));

    p = wait_for(&e, "hotc/status", last_answered, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "last"), "result")), "applied",
                     "the save was not reloaded: %s", json_dumps(json_object_get(p, "last"), JSON_COMPACT));
    json_decref(p);
    expect_output(&e, "other=16", "the new code of other() does not run");

    teardown(&e);
    free(text);
    free(otext);
    free(v1);
}
