/* End to end: the real `hotc lsp`, a real program linked with the real
 * runtime (tests/fixtures/pipeline/prog.c, built by the test with -g -O1
 * and described by a compile_commands.json the test writes), and an LSP
 * client. Open the file, change a HOT function, save: the program's output
 * changes while its counters continue. A compile error gives a diagnostic
 * and no reload; a signature change gives a warning and no reload of that
 * function (the rest of the save is applied); rollback; run and restart;
 * the order of hotc/status and hotc/reloaded; a program attached over TCP
 * with the token; saves batched together; header saves; crashes in
 * reloaded code, with and without hot_guard. (What a save changed, and
 * what the editor is told of it: tests/test_saves.c; the environment both
 * share: tests/support/pipeline_env.h.)
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
#include "pipeline_env.h"
#include "../runtime/hmac.h"

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
