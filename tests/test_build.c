/* The compiler driver: compile_commands.json discovery and both entry forms,
 * the patch's argument vector, real gcc/clang/tcc runs through libuv and
 * their messages, the timeout (a "compiler" that hangs), cancellation by a
 * newer compile of the same file, and the fast-compiler fallback. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "build.h"
#include "patch.h"
#include "run.h"

static char dir[1024];

/* A fresh scratch directory under the build tree for this test. */
static const char *scratch(const char *name)
{
    snprintf(dir, sizeof dir, "%sbuild-test-%s-%d", test_build_path(""), name, (int)getpid());
    mkdir(dir, 0755);
    return dir;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static bool has_arg(char **argv, const char *a)
{
    for (; *argv; argv++)
        if (strcmp(*argv, a) == 0)
            return true;
    return false;
}

static bool has_pair(char **argv, const char *a, const char *b)
{
    for (; argv[0] && argv[1]; argv++)
        if (strcmp(argv[0], a) == 0 && strcmp(argv[1], b) == 0)
            return true;
    return false;
}

Test(build, split_command_handles_quotes_and_escapes)
{
    size_t n;
    char **v = build_split_command("gcc  -DNAME=\"a b\" '-DX=it'\\''s' -I\\ dir -c x.c", &n);

    cr_assert_not_null(v);
    cr_assert_eq(n, 6);
    cr_expect_str_eq(v[0], "gcc");
    cr_expect_str_eq(v[1], "-DNAME=a b");
    cr_expect_str_eq(v[2], "-DX=it's");
    cr_expect_str_eq(v[3], "-I dir");
    cr_expect_str_eq(v[5], "x.c");
    cr_expect_null(v[6]);
    build_argv_free(v);
}

Test(build, database_is_found_at_root_then_build_then_where_configured)
{
    char buf[2048], path[1400], sub[1200];
    const char *root = scratch("find");

    cr_expect_null(build_db_find(root, NULL, buf, sizeof buf));
    snprintf(sub, sizeof sub, "%s/build", root);
    mkdir(sub, 0755);
    snprintf(path, sizeof path, "%s/compile_commands.json", sub);
    write_file(path, "[]");
    cr_expect_str_eq(build_db_find(root, NULL, buf, sizeof buf), path);
    snprintf(path, sizeof path, "%s/compile_commands.json", root);
    write_file(path, "[]");
    cr_expect_str_eq(build_db_find(root, NULL, buf, sizeof buf), path);
    /* configured: a directory relative to the root, or a file */
    snprintf(sub, sizeof sub, "%s/out", root);
    mkdir(sub, 0755);
    snprintf(path, sizeof path, "%s/out/compile_commands.json", root);
    write_file(path, "[]");
    cr_expect_str_eq(build_db_find(root, "out", buf, sizeof buf), path);
    cr_expect_str_eq(build_db_find(root, path, buf, sizeof buf), path);
    cr_expect_null(build_db_find(root, "missing", buf, sizeof buf));
}

Test(build, database_reads_command_and_arguments_forms)
{
    char path[1200], json[4096], err[256], file[1200];
    struct build_db *db;
    const char *root = scratch("db");

    snprintf(json, sizeof json,
             "[{\"directory\": \"%s/obj\", \"file\": \"../src/a.c\","
             "  \"command\": \"cc -Iinc -DMSG=\\\"hi there\\\" -c ../src/a.c -o a.o\"},"
             " {\"directory\": \"%s\", \"file\": \"%s/src/b.c\","
             "  \"arguments\": [\"clang\", \"-O2\", \"-c\", \"src/b.c\", \"-o\", \"b.o\"]}]",
             root, root, root);
    snprintf(path, sizeof path, "%s/compile_commands.json", root);
    write_file(path, json);
    cr_assert_eq(build_db_load(&db, path, err, sizeof err), 0, "%s", err);

    snprintf(file, sizeof file, "%s/src/a.c", root);
    const struct build_command *a = build_db_lookup(db, file);
    cr_assert_not_null(a);
    cr_expect_str_eq(a->argv[0], "cc");
    cr_expect_str_eq(a->argv[2], "-DMSG=hi there", "split as the shell does");
    snprintf(file, sizeof file, "%s/obj/../src/b.c", root);
    const struct build_command *b = build_db_lookup(db, file);
    cr_assert_not_null(b, "lookup normalizes the path");
    cr_expect_str_eq(b->argv[0], "clang");
    cr_expect_eq(b->argc, 6);
    cr_expect_null(build_db_lookup(db, "/nowhere/c.c"));
    build_db_free(db);

    write_file(path, "{\"not\": \"an array\"}");
    cr_expect_eq(build_db_load(&db, path, err, sizeof err), BUILD_EJSON);
    cr_expect(strstr(err, "not a JSON array"), "%s", err);
    write_file(path, "[{\"directory\": \"/\"}]");
    cr_expect_eq(build_db_load(&db, path, err, sizeof err), BUILD_EJSON);
    cr_expect(strstr(err, "entry 0"), "%s", err);
}

Test(build, patch_argv_drops_output_and_dependency_flags)
{
    char *entry_argv[] = { "gcc", "-c", "-o", "obj/main.o", "-MD", "-MF", "obj/main.d", "-MT", "x",
                           "-Werror", "-Wall", "-I", "include", "-Iother", "-DX=1", "-flto", "-O2",
                           "src/main.c", NULL };
    struct build_command entry = { "/proj", "/proj/src/main.c", entry_argv, 18 };
    char *cwd = NULL;
    char **v = build_patch_argv(&entry, NULL, NULL, "/proj/src/main.c", "/tmp/p.c", "/tmp/p.so", &cwd);

    cr_assert_not_null(v);
    cr_expect_str_eq(v[0], "gcc");
    cr_expect_str_eq(cwd, "/proj");
    cr_expect_not(has_arg(v, "-c"));
    cr_expect_not(has_arg(v, "obj/main.o"));
    cr_expect_not(has_arg(v, "-MD"));
    cr_expect_not(has_arg(v, "obj/main.d"));
    cr_expect_not(has_arg(v, "-Werror"));
    cr_expect_not(has_arg(v, "-flto"));
    cr_expect_not(has_arg(v, "src/main.c"));
    cr_expect(has_arg(v, "-Wall"));
    cr_expect(has_pair(v, "-I", "include"));
    cr_expect(has_arg(v, "-Iother"));
    cr_expect(has_arg(v, "-DX=1"));
    cr_expect(has_arg(v, "-fPIC"));
    cr_expect(has_arg(v, "-shared"));
    cr_expect(has_pair(v, "-o", "/tmp/p.so"));
    cr_expect(has_pair(v, "-iquote", "/proj/src"));
    cr_expect(has_arg(v, "-fdiagnostics-column-unit=byte"));
    int last = 0;
    while (v[last + 1])
        last++;
    cr_expect_str_eq(v[last], "/tmp/p.c");
    build_argv_free(v);
    free(cwd);

    /* for tcc only the flags it understands */
    v = build_patch_argv(&entry, NULL, "tcc", "/proj/src/main.c", "/tmp/p.c", "/tmp/p.so", NULL);
    cr_expect_str_eq(v[0], "tcc");
    cr_expect_not(has_arg(v, "-Wall"));
    cr_expect_not(has_arg(v, "-O2"));
    cr_expect(has_pair(v, "-I", "include"));
    cr_expect(has_arg(v, "-DX=1"));
    cr_expect(has_pair(v, "-I", "/proj/src"));
    build_argv_free(v);

    /* no entry: configured flags, or defaults */
    const char *flags[] = { "-std=gnu11", "-DCONF", NULL };
    const char *incs[] = { "/opt/hotc/include", NULL };
    struct build_options opts = { "clang", flags, incs };
    v = build_patch_argv(NULL, &opts, NULL, "/w/x.c", "/tmp/p.c", "/tmp/p.so", &cwd);
    cr_expect_str_eq(v[0], "clang");
    cr_expect(has_arg(v, "-DCONF"));
    cr_expect(has_pair(v, "-I", "/opt/hotc/include"));
    cr_expect(has_arg(v, "-fno-color-diagnostics"));
    cr_expect_str_eq(cwd, "/w");
    build_argv_free(v);
    free(cwd);
    v = build_patch_argv(NULL, NULL, NULL, "/w/x.c", "/tmp/p.c", "/tmp/p.so", NULL);
    cr_expect_str_eq(v[0], "cc");
    cr_expect(has_arg(v, "-O1"));
    build_argv_free(v);
}

Test(build, messages_of_gcc_clang_and_tcc_parse)
{
    static const char gcc[] =
        "main.c: In function 'update':\n"
        "main.c:17:21: error: 'nope' undeclared (first use in this function)\n"
        "   17 |     return v + nope;\n"
        "      |                ^~~~\n"
        "main.c:17:21: note: each undeclared identifier is reported only once\n"
        "/usr/include/x.h:3:5: warning: unused variable 'k' [-Wunused-variable]\n"
        "cc1: fatal error: y.c: No such file or directory\n";
    static const char tcc[] = "/a/b.c:4: error: ';' expected (got \"}\")\n";
    struct build_diags d;

    cr_assert_eq(build_parse_messages(&d, gcc, sizeof gcc - 1), 0);
    cr_assert_eq(d.count, 3);
    cr_expect_str_eq(d.items[0].file, "main.c");
    cr_expect_eq(d.items[0].line, 16);
    cr_expect_eq(d.items[0].column, 20);
    cr_expect_eq(d.items[0].severity, BUILD_ERROR);
    cr_expect_str_eq(d.items[0].message, "'nope' undeclared (first use in this function)");
    cr_assert_eq(d.items[0].nrelated, 1);
    cr_expect_eq(d.items[0].related[0].severity, BUILD_NOTE);
    cr_expect_eq(d.items[1].severity, BUILD_WARNING);
    cr_expect_str_eq(d.items[1].file, "/usr/include/x.h");
    cr_expect_null(d.items[2].file);
    cr_expect_eq(d.items[2].line, -1);
    build_diags_release(&d);

    cr_assert_eq(build_parse_messages(&d, tcc, sizeof tcc - 1), 0);
    cr_assert_eq(d.count, 1);
    cr_expect_str_eq(d.items[0].file, "/a/b.c");
    cr_expect_eq(d.items[0].line, 3);
    cr_expect_eq(d.items[0].column, -1);
    build_diags_release(&d);
}

/* ------------------------------------------------------------ running */

struct outcome {
    int calls;
    int status;
    bool used_fallback;
    char output[8192];
    size_t ndiags;
    int line, column;
    char file[1024];
};

static void on_done(const struct build_result *r, void *user)
{
    struct outcome *o = user;
    o->calls++;
    o->status = r->status;
    o->used_fallback = r->used_fallback;
    snprintf(o->output, sizeof o->output, "%.*s", (int)r->output_len, r->output);
    o->ndiags = r->diags.count;
    if (r->diags.count) {
        o->line = r->diags.items[0].line;
        o->column = r->diags.items[0].column;
        snprintf(o->file, sizeof o->file, "%s", r->diags.items[0].file ? r->diags.items[0].file : "");
    }
}

static void run_loop(uv_loop_t *loop)
{
    cr_assert_eq(uv_run(loop, UV_RUN_DEFAULT), 0);
}

/* Builds a patch for `src` (reloading update) and compiles it with `cc`. */
static void compile_patch(const char *cc, const char *src, struct outcome *o, char *so, size_t sosize)
{
    char source[1200], patch_c[1200], *cwd = NULL;
    const char *fns[] = { "update" };
    const char *incs[] = { test_source_path("runtime"), NULL };
    struct build_options opts = { cc, NULL, incs };
    struct patch p;
    uv_loop_t loop;
    struct build_runner runner;

    scratch(cc);
    snprintf(source, sizeof source, "%s/main.c", dir);
    snprintf(patch_c, sizeof patch_c, "%s/patch.c", dir);
    snprintf(so, sosize, "%s/patch.so", dir);
    write_file(source, src);
    struct patch_input in = { src, strlen(src), source, fns, 1, "ab", NULL };
    patch_init(&p);
    cr_assert_eq(patch_build(&p, &in), 0, "%s", p.error);
    write_file(patch_c, p.source);
    patch_release(&p);

    char **argv = build_patch_argv(NULL, &opts, NULL, source, patch_c, so, &cwd);
    cr_assert_not_null(argv);
    uv_loop_init(&loop);
    build_runner_init(&runner, &loop);
    memset(o, 0, sizeof *o);
    cr_assert_eq(build_run(&runner, source, argv, NULL, cwd, 60000, on_done, o), 0);
    run_loop(&loop);
    build_runner_close(&runner);
    uv_loop_close(&loop);
    build_argv_free(argv);
    free(cwd);
    cr_assert_eq(o->calls, 1);
}

static const char good_src[] = "#include \"hot.h\"\n"
                               "static int n;\n"
                               "HOT int update(int v)\n"
                               "{\n"
                               "    return v + n++;\n"
                               "}\n";
static const char bad_src[] = "#include \"hot.h\"\n"
                              "int helper(void) { return 1; }\n"
                              "HOT int update(int v)\n"
                              "{\n"
                              "    return v + nope;\n"
                              "}\n";

static void check_compiler(const char *cc)
{
    struct outcome o;
    char so[1200];

    if (!test_have(cc)) {
        cr_log_warn("%s not installed; skipped", cc);
        return;
    }
    compile_patch(cc, good_src, &o, so, sizeof so);
    cr_expect_eq(o.status, 0, "%s: %s", cc, o.output);
    cr_expect_eq(access(so, R_OK), 0, "%s: no library", cc);

    compile_patch(cc, bad_src, &o, so, sizeof so);
    cr_expect_eq(o.status, BUILD_ECOMPILE, "%s", cc);
    cr_assert_geq(o.ndiags, 1, "%s: no messages in:\n%s", cc, o.output);
    cr_expect(strstr(o.file, "/main.c") != NULL, "%s: message on %s, not the user's file", cc, o.file);
    cr_expect_eq(o.line, 4, "%s: line %d:\n%s", cc, o.line, o.output);
    if (strcmp(cc, "tcc") != 0)
        cr_expect_eq(o.column, 15, "%s: column %d:\n%s", cc, o.column, o.output);
}

Test(build, gcc_builds_a_patch_and_reports_errors_at_the_users_line, .timeout = 120)
{
    check_compiler("gcc");
}

Test(build, clang_builds_a_patch_and_reports_errors_at_the_users_line, .timeout = 120)
{
    check_compiler("clang");
}

Test(build, tcc_builds_a_patch_and_reports_errors_at_the_users_line, .timeout = 120)
{
    check_compiler("tcc");
}

static char *hang_script(void)
{
    static char path[1200];
    scratch("hang");
    snprintf(path, sizeof path, "%s/hang.sh", dir);
    write_file(path, "#!/bin/sh\necho compiling\nexec sleep 60\n");
    chmod(path, 0755);
    return path;
}

Test(build, a_hanging_compiler_is_killed_after_the_timeout, .timeout = 60)
{
    uv_loop_t loop;
    struct build_runner runner;
    struct outcome o = { 0 };
    char *argv[] = { hang_script(), NULL };

    uv_loop_init(&loop);
    build_runner_init(&runner, &loop);
    uint64_t t0 = uv_hrtime();
    cr_assert_eq(build_run(&runner, "f.c", argv, NULL, NULL, 300, on_done, &o), 0);
    run_loop(&loop);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    cr_expect_eq(o.calls, 1);
    cr_expect_eq(o.status, BUILD_ETIMEOUT);
    cr_expect(strstr(o.output, "compiling"), "output kept: %s", o.output);
    cr_expect_lt(ms, 30000, "killed, not waited for");
    build_runner_close(&runner);
    uv_loop_close(&loop);
}

/* A "compiler" that is a wrapper: it starts a child that keeps its output
 * open and sleeps (as a script or ccache would), writes the child's pid to
 * `pidfile`, then sleeps itself. */
static char *wrapper_script(const char *name, char *pidfile, size_t size)
{
    static char path[1200];
    char text[1600];
    scratch(name);
    snprintf(path, sizeof path, "%s/wrapper.sh", dir);
    snprintf(pidfile, size, "%s/child.pid", dir);
    unlink(pidfile);
    snprintf(text, sizeof text, "#!/bin/sh\necho compiling\nsleep 300 &\necho $! > '%s'\nexec sleep 300\n",
             pidfile);
    write_file(path, text);
    chmod(path, 0755);
    return path;
}

/* Whether `pid` (read from `pidfile`) is still a live process (a zombie
 * waiting for its reaper counts as gone). */
static bool child_alive(const char *pidfile)
{
    char stat[64], buf[256] = "";
    FILE *f = fopen(pidfile, "r");
    int pid = 0;
    cr_assert_not_null(f, "the wrapper wrote no %s", pidfile);
    cr_assert_eq(fscanf(f, "%d", &pid), 1);
    fclose(f);
    snprintf(stat, sizeof stat, "/proc/%d/stat", pid);
    f = fopen(stat, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] != 'Z';
}

/* Timeout and cancel kill the compiler's whole process group: its child,
 * holding the output pipe, would otherwise keep the job (and the editor's
 * status) waiting for minutes, then stay behind as an orphan. */
Test(build, timeout_and_cancel_kill_the_compilers_children, .timeout = 90)
{
    uv_loop_t loop;
    struct build_runner runner;
    struct outcome timed = { 0 }, older = { 0 }, newer = { 0 };
    char pid_timed[1200], pid_older[1200];
    char *argv1[] = { strdup(wrapper_script("pg-timeout", pid_timed, sizeof pid_timed)), NULL };
    char *argv2[] = { strdup(wrapper_script("pg-cancel", pid_older, sizeof pid_older)), NULL };
    char *ok[] = { "true", NULL };

    uv_loop_init(&loop);
    build_runner_init(&runner, &loop);
    cr_assert_eq(build_run(&runner, "t.c", argv1, NULL, NULL, 500, on_done, &timed), 0);
    cr_assert_eq(build_run(&runner, "c.c", argv2, NULL, NULL, 60000, on_done, &older), 0);
    /* cancel once the wrapper has started its child */
    for (int i = 0; i < 1000 && access(pid_older, R_OK) != 0; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    usleep(50000);
    cr_assert_eq(build_run(&runner, "c.c", ok, NULL, NULL, 60000, on_done, &newer), 0);
    run_loop(&loop);
    cr_expect_eq(timed.calls, 1);
    cr_expect_eq(timed.status, BUILD_ETIMEOUT);
    cr_expect_eq(older.calls, 1);
    cr_expect_eq(older.status, BUILD_ECANCELED);
    cr_expect_eq(newer.status, 0);
    for (int i = 0; i < 200 && (child_alive(pid_timed) || child_alive(pid_older)); i++)
        usleep(10000);
    cr_expect_not(child_alive(pid_timed), "the timed-out compiler's child still runs");
    cr_expect_not(child_alive(pid_older), "the cancelled compiler's child still runs");
    build_runner_close(&runner);
    uv_loop_close(&loop);
    free(argv1[0]);
    free(argv2[0]);
}

Test(build, a_newer_compile_of_the_same_file_cancels_the_older, .timeout = 60)
{
    uv_loop_t loop;
    struct build_runner runner;
    struct outcome older = { 0 }, newer = { 0 }, other = { 0 };
    char *hang[] = { hang_script(), NULL };
    char *ok[] = { "true", NULL };

    uv_loop_init(&loop);
    build_runner_init(&runner, &loop);
    cr_assert_eq(build_run(&runner, "a.c", hang, NULL, NULL, 50000, on_done, &older), 0);
    cr_assert_eq(build_run(&runner, "b.c", ok, NULL, NULL, 50000, on_done, &other), 0);
    cr_assert_eq(build_run(&runner, "a.c", ok, NULL, NULL, 50000, on_done, &newer), 0);
    run_loop(&loop);
    cr_expect_eq(older.calls, 1);
    cr_expect_eq(older.status, BUILD_ECANCELED);
    cr_expect_eq(newer.calls, 1);
    cr_expect_eq(newer.status, 0);
    cr_expect_eq(other.status, 0, "another file's compile is not touched");
    cr_expect_not(build_cancel(&runner, "a.c"), "nothing left to cancel");
    build_runner_close(&runner);
    uv_loop_close(&loop);
}

Test(build, a_failing_fast_compiler_falls_back, .timeout = 60)
{
    uv_loop_t loop;
    struct build_runner runner;
    struct outcome o = { 0 }, missing = { 0 };
    char *fail[] = { "false", NULL };
    char *ok[] = { "sh", "-c", "echo fallback ran", NULL };
    char *nosuch[] = { "/nonexistent/tcc", NULL };

    uv_loop_init(&loop);
    build_runner_init(&runner, &loop);
    cr_assert_eq(build_run(&runner, "a.c", fail, ok, NULL, 50000, on_done, &o), 0);
    cr_assert_eq(build_run(&runner, "b.c", nosuch, ok, NULL, 50000, on_done, &missing), 0);
    run_loop(&loop);
    cr_expect_eq(o.status, 0);
    cr_expect(o.used_fallback);
    cr_expect(strstr(o.output, "fallback ran"), "%s", o.output);
    cr_expect_eq(missing.status, 0);
    cr_expect(missing.used_fallback);
    build_runner_close(&runner);
    uv_loop_close(&loop);
}

Test(build, a_compiler_that_cannot_start_is_reported, .timeout = 60)
{
    uv_loop_t loop;
    struct build_runner runner;
    struct outcome o = { 0 };
    char *nosuch[] = { "/nonexistent/cc", NULL };

    uv_loop_init(&loop);
    build_runner_init(&runner, &loop);
    cr_assert_eq(build_run(&runner, "a.c", nosuch, NULL, NULL, 50000, on_done, &o), 0);
    run_loop(&loop);
    cr_expect_eq(o.calls, 1);
    cr_expect_eq(o.status, BUILD_ESPAWN);
    cr_expect_str_eq(build_strerror(BUILD_ESPAWN), "cannot start the compiler");
    build_runner_close(&runner);
    uv_loop_close(&loop);
}
