/* gdb and hot reload (runtime/redirect.c, runtime/reload.c): the program
 * runs under gdb (tests/programs/rt_gdb.c), started with `break value` on
 * the HOT function's entry, or with gdb attached later (gdb -p). gdb puts
 * `break value` on the entry's first NOP, which a reload never writes (it
 * writes the NOPs after it): reloads apply with the breakpoint in, the
 * breakpoint still stops the program and leads into the new code, a line
 * breakpoint stops in the patch library (a real file gdb reads), and the
 * byte gdb puts back when it deletes the breakpoint, inserted before or
 * after the reload, is still right: the program survives all of it. An
 * executable built with an older hot.h (rt_gdb_old.c), whose entry is only
 * the bytes a reload writes, has its reload refused about the debugger
 * while gdb's breakpoint covers them (never written under it: gdb would
 * put its saved byte back into our branch, 66 f0, SIGILL). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rt_fixture.h"

#define T 30000

struct gdb {
    pid_t pid;
    int in, out;
    char buf[1 << 16];
    size_t len;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts gdb on `program` (with `pid`: attached to that process), the
 * runtime pointed at `endpoint`. */
static void gdb_start(struct gdb *g, const char *program, pid_t pid, const char *endpoint)
{
    int in[2], out[2];
    memset(g, 0, sizeof *g);
    cr_assert_eq(pipe(in), 0);
    cr_assert_eq(pipe(out), 0);
    g->pid = fork();
    cr_assert(g->pid >= 0);
    if (g->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        close(in[1]);
        close(out[0]);
        setenv("HOTC_ENDPOINT", endpoint, 1);
        char p[32];
        snprintf(p, sizeof p, "%ld", (long)pid);
        if (pid > 0)
            execlp("gdb", "gdb", "-q", "-nx", "-nh", "-p", p, program, (char *)NULL);
        else
            execlp("gdb", "gdb", "-q", "-nx", "-nh", program, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    g->in = in[1];
    g->out = out[0];
}

/* Sends gdb `commands`, then an echo of `mark`; returns gdb's output up to
 * the mark (static: the buffer) once gdb has run them all. */
static const char *gdb_do(struct gdb *g, const char *commands, const char *mark)
{
    char echo[128];
    long long deadline = now_ms() + T;
    size_t from = g->len;

    snprintf(echo, sizeof echo, "echo %s\\n\n", mark);
    cr_assert_eq(write(g->in, commands, strlen(commands)), (ssize_t)strlen(commands));
    cr_assert_eq(write(g->in, echo, strlen(echo)), (ssize_t)strlen(echo));
    for (;;) {
        g->buf[g->len] = '\0';
        char *at = strstr(g->buf + from, mark);
        if (at && at[strlen(mark)] == '\n')
            return g->buf + from;
        long long left = deadline - now_ms();
        struct pollfd p = {.fd = g->out, .events = POLLIN};
        cr_assert(left > 0 && poll(&p, 1, (int)left) > 0, "gdb did not answer %s; it said:\n%s", commands,
                  g->buf + from);
        ssize_t n = read(g->out, g->buf + g->len, sizeof g->buf - 1 - g->len);
        cr_assert(n > 0, "gdb ended; it said:\n%s", g->buf);
        g->len += (size_t)n;
        cr_assert(g->len < sizeof g->buf - 1, "gdb said too much");
    }
}

/* Stops the running program (gdb keeps SIGINT from it) and waits until gdb
 * took it. */
static void gdb_interrupt(struct gdb *g, pid_t program, const char *mark)
{
    const char *out;
    cr_assert_eq(kill(program, SIGINT), 0);
    out = gdb_do(g, "", mark);
    cr_assert(strstr(out, "SIGINT"), "gdb did not stop the program:\n%s", out);
}

/* gdb's answer to `continue` once the breakpoint numbered `bp` stops the
 * program: asserts that it stopped there, in value(). */
static void gdb_stops_at(struct gdb *g, const char *bp, const char *mark)
{
    char commands[64];
    snprintf(commands, sizeof commands, "ignore %s 0\ncontinue\n", bp);
    const char *out = gdb_do(g, commands, mark);
    cr_assert(strstr(out, "Breakpoint ") && strstr(out, "value ("), "gdb did not stop in value():\n%s", out);
}

/* Lets the program run on under gdb (its breakpoint `bp`, if any, hit and
 * passed) and checks that it prints `expect` again. */
static void runs_on(struct gdb *g, struct rt_driver *d, const char *bp, const char *expect, const char *mark)
{
    if (bp) {
        char ignore[64];
        snprintf(ignore, sizeof ignore, "ignore %s 100000000\n", bp);
        gdb_do(g, ignore, mark);
    }
    int lines = rt_count_lines(d, "rt_gdb");
    cr_assert_eq(write(g->in, "continue\n", 9), 9);
    cr_assert_not_null(rt_line_after(d, "rt_gdb", lines + 2, expect, T), "the program does not print %s; gdb:\n%s",
                       expect, g->buf);
}

/* From a stopped program, a temporary breakpoint on rt_gdb.c:11 stops it
 * in the patch's code (y is FACTOR * 1). */
static void line_stops_in_patch(struct gdb *g, const char *y)
{
    const char *out = gdb_do(g, "tbreak rt_gdb.c:11\ncontinue\n", "MARK-LINE");
    cr_assert(strstr(out, "value ("), "gdb did not stop on the line:\n%s", out);
    out = gdb_do(g, "info symbol $pc\n", "MARK-WHERE");
    cr_assert(strstr(out, "gdb_patch"), "stopped outside the patch:\n%s", out);
    out = gdb_do(g, "print y\n", "MARK-Y");
    cr_assert(strstr(out, y), "the patch's y: %s\n%s", y, out);
}

static void gdb_end(struct gdb *g)
{
    kill(g->pid, SIGKILL);
    waitpid(g->pid, NULL, 0);
    close(g->in);
    close(g->out);
}

Test(gdb, a_breakpoint_on_the_function_never_blocks_its_reload)
{
    struct rt_driver *d = rt_new();
    struct gdb g;
    const char *out;
    static const char *const value[] = {"value", NULL};
    static const char *const factor5[] = {"FACTOR=5", NULL};

    rt_build(d, "rt_gdb");
    gdb_start(&g, rt_path(d, "rt_gdb"), 0, rt_driver_endpoint(d));

    /* started under gdb with a breakpoint on the HOT function */
    char run[4096 + 64];
    snprintf(run, sizeof run, "set pagination off\nset confirm off\nset width 0\nbreak value\nrun 60000 > '%s'\n",
             rt_path(d, "rt_gdb.out"));
    out = gdb_do(&g, run, "MARK-STARTED");
    cr_assert(strstr(out, "Breakpoint 1") && strstr(out, "value ("), "the program did not stop in value():\n%s", out);
    /* then it runs on with the breakpoint inserted (hit and passed) */
    gdb_do(&g, "ignore 1 100000000\n", "MARK-IGNORE");
    cr_assert_eq(write(g.in, "continue\n", 9), 9);
    json_t *attach = rt_driver_accept(d, T);
    cr_assert(attach, "the program did not attach under gdb");
    pid_t pid = (pid_t)json_integer_value(json_object_get(attach, "pid"));
    const char *build_id = json_string_value(json_object_get(attach, "buildId"));
    cr_assert(pid > 0 && build_id);
    rt_patch(d, "gdb_patch.so", "rt_gdb_patch.c", build_id, NULL);
    rt_patch(d, "gdb_patch5.so", "rt_gdb_patch.c", build_id, factor5);

    /* a reload with gdb's int3 on the entry applies; the program runs the
     * new code through the breakpoint */
    cr_assert_not_null(rt_line_after(d, "rt_gdb", 0, "v=3", T), "the program does not run");
    json_decref(rt_reload_applied(d, rt_reload_params(d, 1, "gdb_patch.so", build_id, value)));
    int lines = rt_count_lines(d, "rt_gdb");
    cr_assert_not_null(rt_line_after(d, "rt_gdb", lines + 2, "v=4", T), "the new code does not run");

    /* the breakpoint still stops on calls, and leads into the new code */
    gdb_interrupt(&g, pid, "MARK-STOP1");
    gdb_stops_at(&g, "1", "MARK-HIT1");
    out = gdb_do(&g, "tbreak rt_gdb.c:11\ncontinue\n", "MARK-LINE1");
    cr_assert(strstr(out, "value ("), "gdb did not reach the line:\n%s", out);
    out = gdb_do(&g, "info symbol $pc\nprint y\n", "MARK-WHERE1");
    cr_assert(strstr(out, "gdb_patch.so") && strstr(out, "= 3"), "not in the new code:\n%s", out);

    /* deleted: gdb puts back the byte it saved before the reload */
    gdb_do(&g, "delete 1\n", "MARK-DELETED");
    runs_on(&g, d, NULL, "v=4", "MARK-RUN1");

    /* inserted after the reload, a second reload under it, removed */
    gdb_interrupt(&g, pid, "MARK-STOP2");
    gdb_do(&g, "break value\n", "MARK-BREAK2"); /* 3: the tbreak was 2 */
    runs_on(&g, d, "3", "v=4", "MARK-RUN2");
    json_decref(rt_reload_applied(d, rt_reload_params(d, 2, "gdb_patch5.so", build_id, value)));
    lines = rt_count_lines(d, "rt_gdb");
    cr_assert_not_null(rt_line_after(d, "rt_gdb", lines + 2, "v=6", T), "the second patch does not run");
    gdb_interrupt(&g, pid, "MARK-STOP3");
    line_stops_in_patch(&g, "= 5");
    gdb_do(&g, "delete\n", "MARK-CLEAN");
    runs_on(&g, d, NULL, "v=6", "MARK-RUN3");

    /* inserted once more, the program still runs through it */
    gdb_interrupt(&g, pid, "MARK-STOP4");
    gdb_do(&g, "break value\n", "MARK-BREAK3");
    runs_on(&g, d, "5", "v=6", "MARK-RUN4");
    cr_assert_eq(kill(pid, 0), 0);

    kill(pid, SIGKILL);
    gdb_end(&g);
    rt_driver_free(d);
}

/* gdb attached to a running program (gdb -p) puts `break value` on an
 * entry the runtime has prepared: reloads apply under it, before and after
 * it was inserted, and gdb's detach leaves the entry right. */
Test(gdb, a_reload_under_an_attached_gdb_never_breaks_the_entry)
{
    struct rt_driver *d = rt_new();
    struct gdb g;
    const char *out;
    static const char *const value[] = {"value", NULL};
    static const char *const args[] = {"60000", NULL};
    static const char *const factor5[] = {"FACTOR=5", NULL};
    struct rt_prog p = rt_start(d, "rt_gdb", args, NULL);

    rt_patch(d, "gdb_patch.so", "rt_gdb_patch.c", p.build_id, NULL);
    rt_patch(d, "gdb_patch5.so", "rt_gdb_patch.c", p.build_id, factor5);
    cr_assert_not_null(rt_line_after(d, "rt_gdb", 0, "v=3", T));
    gdb_start(&g, rt_path(d, "rt_gdb"), p.pid, rt_driver_endpoint(d));
    out = gdb_do(&g, "set pagination off\nset confirm off\nset width 0\nbreak value\n", "MARK-ATTACHED");
    cr_assert(strstr(out, "Breakpoint 1 at"), "%s", out);
    runs_on(&g, d, "1", "v=3", "MARK-RUN1");

    json_decref(rt_reload_applied(d, rt_reload_params(d, 1, "gdb_patch.so", p.build_id, value)));
    int lines = rt_count_lines(d, "rt_gdb");
    cr_assert_not_null(rt_line_after(d, "rt_gdb", lines + 2, "v=4", T), "the program does not run the new code");
    gdb_interrupt(&g, p.pid, "MARK-STOP1");
    gdb_stops_at(&g, "1", "MARK-HIT1");
    gdb_do(&g, "delete 1\n", "MARK-DELETED");
    line_stops_in_patch(&g, "= 3");
    runs_on(&g, d, NULL, "v=4", "MARK-RUN2");

    /* the second reload with a breakpoint inserted after the first */
    gdb_interrupt(&g, p.pid, "MARK-STOP2");
    gdb_do(&g, "break value\n", "MARK-BREAK2"); /* 3: the tbreak was 2 */
    runs_on(&g, d, "3", "v=4", "MARK-RUN3");
    json_decref(rt_reload_applied(d, rt_reload_params(d, 2, "gdb_patch5.so", p.build_id, value)));
    lines = rt_count_lines(d, "rt_gdb");
    cr_assert_not_null(rt_line_after(d, "rt_gdb", lines + 2, "v=6", T), "the second patch does not run");

    /* gdb lets go (its breakpoint removed); the program runs on */
    gdb_interrupt(&g, p.pid, "MARK-STOP3");
    gdb_do(&g, "detach\n", "MARK-DETACHED");
    lines = rt_count_lines(d, "rt_gdb");
    cr_assert_not_null(rt_line_after(d, "rt_gdb", lines + 2, "v=6", T), "the program stopped after gdb left");
    gdb_end(&g);
    kill(p.pid, SIGKILL);
    rt_wait_exit(p.pid, T);
    rt_driver_free(d);
}

/* An executable built with an older hot.h: gdb's `break value` covers the
 * bytes a reload writes. The reload is refused about the debugger, never
 * about the build, and applies once the breakpoint is deleted. */
Test(gdb, an_older_entry_under_a_breakpoint_is_refused_about_the_debugger)
{
#if !defined(__x86_64__)
    cr_skip_test("the older entry is x86-64's");
#endif
    struct rt_driver *d = rt_new();
    struct gdb g;
    static const char *const value[] = {"value", NULL};
    static const char *const args[] = {"60000", NULL};
    struct rt_prog p = rt_start(d, "rt_gdb_old", args, NULL);

    rt_patch(d, "gdb_patch.so", "rt_gdb_patch.c", p.build_id, NULL);
    cr_assert_not_null(rt_line_after(d, "rt_gdb_old", 0, "v=3", T));
    gdb_start(&g, rt_path(d, "rt_gdb_old"), p.pid, rt_driver_endpoint(d));
    gdb_do(&g, "set pagination off\nset confirm off\nset width 0\nbreak value\nignore 1 100000000\n",
           "MARK-ATTACHED");
    cr_assert_eq(write(g.in, "continue\n", 9), 9);

    json_t *r = rt_reload(d, rt_reload_params(d, 1, "gdb_patch.so", p.build_id, value));
    const char *reason = json_string_value(json_object_get(r, "reason"));
    cr_assert_str_eq(rt_status(r), "refused", "%s", json_dumps(r, 0));
    cr_assert(reason && strstr(reason, "debugger's breakpoint") && !strstr(reason, "rebuild"), "the reason: %s",
              reason);
    json_decref(r);

    gdb_interrupt(&g, p.pid, "MARK-STOP");
    gdb_do(&g, "delete 1\n", "MARK-DELETED");
    cr_assert_eq(write(g.in, "continue\n", 9), 9);
    json_decref(rt_reload_applied(d, rt_reload_params(d, 2, "gdb_patch.so", p.build_id, value)));
    int lines = rt_count_lines(d, "rt_gdb_old");
    cr_assert_not_null(rt_line_after(d, "rt_gdb_old", lines + 2, "v=4", T), "the new code does not run");
    gdb_end(&g);
    kill(p.pid, SIGKILL);
    rt_wait_exit(p.pid, T);
    rt_driver_free(d);
}

/* A breakpoint by address in the padding before value() when the program
 * starts (not where gdb puts `break value`): the reload is refused about
 * the debugger, and applies once it is deleted (the runtime looks again). */
Test(gdb, a_breakpoint_in_the_padding_is_the_debuggers_not_the_builds)
{
#if !defined(__x86_64__)
    cr_skip_test("x86-64's padding");
#endif
    struct rt_driver *d = rt_new();
    struct gdb g;
    static const char *const value[] = {"value", NULL};

    rt_build(d, "rt_gdb");
    gdb_start(&g, rt_path(d, "rt_gdb"), 0, rt_driver_endpoint(d));
    const char *out = gdb_do(&g, "set pagination off\nset confirm off\nset width 0\nbreak *((char *)value - 4)\n",
                             "MARK-SET");
    cr_assert(strstr(out, "Breakpoint 1 at"), "%s", out);
    char run[4096 + 64];
    int n = snprintf(run, sizeof run, "run 60000 > '%s'\n", rt_path(d, "rt_gdb.out"));
    cr_assert_eq(write(g.in, run, (size_t)n), n);
    json_t *attach = rt_driver_accept(d, T);
    cr_assert(attach, "the program did not attach under gdb: %s", g.buf);
    pid_t pid = (pid_t)json_integer_value(json_object_get(attach, "pid"));
    const char *build_id = json_string_value(json_object_get(attach, "buildId"));
    cr_assert(pid > 0 && build_id);
    rt_patch(d, "gdb_patch.so", "rt_gdb_patch.c", build_id, NULL);

    json_t *r = rt_reload(d, rt_reload_params(d, 1, "gdb_patch.so", build_id, value));
    const char *reason = json_string_value(json_object_get(r, "reason"));
    cr_assert_str_eq(rt_status(r), "refused", "%s", json_dumps(r, 0));
    cr_assert(reason && strstr(reason, "debugger's breakpoint is in the padding") && !strstr(reason, "rebuild"),
              "the reason: %s", reason);
    json_decref(r);

    gdb_interrupt(&g, pid, "MARK-STOP");
    gdb_do(&g, "delete 1\n", "MARK-DELETED");
    cr_assert_eq(write(g.in, "continue\n", 9), 9);
    json_decref(rt_reload_applied(d, rt_reload_params(d, 2, "gdb_patch.so", build_id, value)));
    int lines = rt_count_lines(d, "rt_gdb");
    cr_assert_not_null(rt_line_after(d, "rt_gdb", lines + 2, "v=4", T), "the new code does not run");
    kill(pid, SIGKILL);
    gdb_end(&g);
    rt_driver_free(d);
}
