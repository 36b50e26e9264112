/* Session (runtime/session.c): what the runtime says and accepts on the
 * wire. The traffic of a whole conversation (attach, reloads applied and
 * refused, a malformed request, rollback, a guarded crash, detach) is
 * captured by the test driver and validated against schema/runtime/ with
 * tools/schema_check.py; attach describes the program; only hot_* is
 * exported; without a server the program runs undisturbed. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt_fixture.h"
#include "run.h"

static json_t *find_function(json_t *functions, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach(functions, i, f)
        if (strcmp(json_string_value(json_object_get(f, "name")), name) == 0)
            return f;
    return NULL;
}

/* Validates <dir>/<kind>.jsonl against schema/runtime/<schema>.schema.json. */
static void validate(struct rt_driver *d, const char *kind, const char *schema)
{
    char cmd[2048], out[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tools/schema_check.py' '%s/schema/runtime/%s.schema.json' < '%s/%s.jsonl'",
             HOTC_SOURCE_DIR, HOTC_SOURCE_DIR, schema, rt_driver_dir(d), kind);
    char *argv[] = {"sh", "-c", cmd, NULL};
    int rc = test_run(argv, out, sizeof out, 30000);
    cr_assert_eq(rc, 0, "%s.jsonl does not validate against %s: %s", kind, schema, out);
}

Test(session, traffic_validates_against_the_schemas)
{
    struct rt_driver *d = rt_new();
    struct rt_prog p = rt_start(d, "rt_basic", NULL, NULL);
    pid_t pid = p.pid;
    json_t *attach = p.attach;

    /* attach describes the program */
    cr_assert_eq(json_integer_value(json_object_get(attach, "pid")), pid);
    cr_assert_str_eq(json_string_value(json_object_get(attach, "mode")), "poll");
    cr_assert_str_eq(json_string_value(json_object_get(attach, "arch")), "x86_64");
    cr_assert(strstr(json_string_value(json_object_get(attach, "executable")), "rt_basic"));
    json_t *functions = json_object_get(attach, "functions");
    json_t *step = find_function(functions, "step"), *twice = find_function(functions, "twice");
    cr_assert(step && !json_object_get(step, "file"), "%s", json_dumps(functions, 0));
    cr_assert(twice, "%s", json_dumps(functions, 0));
    cr_assert_str_eq(json_string_value(json_object_get(twice, "file")), "rt_basic_main.c");
    cr_assert_null(find_function(functions, "main"));
    const char *bid = p.build_id;
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd, "readelf -n '%s' | grep 'Build ID'", rt_path(d, "rt_basic"));
    char *argv[] = {"sh", "-c", cmd, NULL};
    cr_assert_eq(test_run(argv, out, sizeof out, 10000), 0);
    cr_assert(strstr(out, bid), "attach buildId %s, readelf: %s", bid, out);

    /* applied, refused, malformed, rolled back, refused rollback */
    rt_patch(d, "a.so", "rt_basic_patch.c", bid, NULL);
    json_decref(rt_driver_request(d, "hot/reload", rt_basic_reload(d, 1, "a.so", bid), 20000));
    json_decref(rt_driver_request(d, "hot/reload", rt_basic_reload(d, 2, "a.so", bid), 20000));
    json_decref(rt_driver_request(d, "hot/reload", json_pack("{s:s}", "version", "x"), 20000));
    json_decref(rt_driver_request(d, "hot/rollback", json_object(), 20000));
    json_decref(rt_driver_request(d, "hot/rollback", json_object(), 20000));
    kill(pid, SIGTERM);
    cr_assert_eq(rt_driver_wait_closed(d, 10000), 0);
    cr_assert_eq(rt_wait_exit(pid, 10000), 0);

    /* a guarded crash, from another program on the same socket */
    p = rt_start(d, "rt_guard", NULL, NULL);
    pid = p.pid;
    rt_patch(d, "crash.so", "rt_guard_patch.c", p.build_id, NULL);
    static const char *const risky[] = {"risky", NULL};
    json_decref(rt_driver_request(d, "hot/reload", rt_reload_params(d, 1, "crash.so", p.build_id, risky),
                                  20000));
    json_t *crash = rt_driver_notification(d, "hot/crash", 10000);
    cr_assert_not_null(crash);
    json_decref(crash);
    kill(pid, SIGKILL);
    rt_wait_exit(pid, 10000);

    static const char *const kinds[][2] = {
        {"hot-attach", "hot-attach"},         {"hot-attach.result", "hot-attach.result"},
        {"hot-reload", "hot-reload"},         {"hot-reload.result", "hot-reload.result"},
        {"hot-reload.error", "error"},        {"hot-rollback", "hot-rollback"},
        {"hot-rollback.result", "hot-rollback.result"}, {"hot-crash", "hot-crash"},
        {"hot-detach", "hot-detach"},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        if (strcmp(kinds[i][0], "hot-reload") == 0)
            continue; /* one of them is malformed on purpose */
        validate(d, kinds[i][0], kinds[i][1]);
    }
    /* the well-formed reload requests validate; the malformed one does not */
    snprintf(cmd, sizeof cmd, "head -n 2 '%s/hot-reload.jsonl' > '%s/hot-reload-good.jsonl' && "
             "tail -n +3 '%s/hot-reload.jsonl' | head -n 1 > '%s/hot-reload-bad.jsonl'",
             rt_driver_dir(d), rt_driver_dir(d), rt_driver_dir(d), rt_driver_dir(d));
    cr_assert_eq(test_run(argv, out, sizeof out, 10000), 0);
    validate(d, "hot-reload-good", "hot-reload");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tools/schema_check.py' '%s/schema/runtime/hot-reload.schema.json' < '%s/hot-reload-bad.jsonl'",
             HOTC_SOURCE_DIR, HOTC_SOURCE_DIR, rt_driver_dir(d));
    cr_assert_eq(test_run(argv, out, sizeof out, 30000), 1, "%s", out);
    rt_driver_free(d);
}

Test(session, only_hot_symbols_are_exported)
{
    char cmd[1024], out[16384];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s' | awk '{print $3}'", test_build_path("libhotc.so"));
    char *argv[] = {"sh", "-c", cmd, NULL};
    cr_assert_eq(test_run(argv, out, sizeof out, 10000), 0);
    int hot = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "hot_", 4) == 0)
            hot++;
        else
            cr_assert(strncmp(line, "_init", 5) == 0 || strncmp(line, "_fini", 5) == 0 ||
                          strncmp(line, "__odr_asan", 10) == 0 || test_libhotc_interposer(line),
                      "libhotc exports %s", line);
    }
    cr_assert_geq(hot, 10);
}

Test(session, without_a_server_the_program_runs_undisturbed)
{
    struct rt_driver *d = rt_new();
    rt_build(d, "rt_basic");
    static const char *const env[] = {"HOTC_ENDPOINT=unix:/nonexistent/hotc.sock", NULL};
    static const char *const args[] = {"1500", NULL}; /* runs about 1.5 s */
    pid_t pid = rt_spawn(d, "rt_basic", args, env);
    cr_assert_not_null(rt_line_after(d, "rt_basic", 0, "v=0 direct=100", 5000), "%s", rt_output(d, "rt_basic"));
    int status = rt_wait_exit(pid, 30000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    cr_assert(strstr(rt_output(d, "rt_basic"), "bye g="), "%s", rt_output(d, "rt_basic"));
    rt_driver_free(d);
}

Test(session, tcp_with_token_and_library_in_the_message)
{
    struct rt_driver *d = rt_driver_new_tcp();
    cr_assert_not_null(d);
    cr_assert(strncmp(rt_driver_endpoint(d), "tcp:127.0.0.1:", 14) == 0, "%s", rt_driver_endpoint(d));
    static const char *const env[] = {"HOTC_TOKEN=tok-7f3a9c", NULL};
    struct rt_prog prog = rt_start(d, "rt_basic", NULL, env);
    cr_assert_str_eq(json_string_value(json_object_get(prog.attach, "token")), "tok-7f3a9c");
    const char *bid = prog.build_id;
    rt_patch(d, "t1.so", "rt_basic_patch.c", bid, NULL);
    char *b64 = rt_base64_file(rt_path(d, "t1.so"));
    cr_assert_not_null(b64);
    unlink(rt_path(d, "t1.so")); /* the bytes travel in the message only */
    json_t *p = rt_basic_reload(d, 1, "t1.so", bid);
    json_object_del(p, "library");
    json_object_set_new(p, "libraryBase64", json_string(b64));
    free(b64);
    json_decref(rt_reload_applied(d, p));
    const char *line = rt_line_after(d, "rt_basic", 1, "v=1 ", 10000);
    cr_assert_not_null(line, "%s", rt_output(d, "rt_basic"));
    cr_assert(strstr(line, "direct=200 ptr=200 other=200"), "%s", line);
    kill(prog.pid, SIGTERM);
    cr_assert_eq(rt_driver_wait_closed(d, 10000), 0);
    int status = rt_wait_exit(prog.pid, 10000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    validate(d, "hot-attach", "hot-attach");
    validate(d, "hot-reload", "hot-reload");
    validate(d, "hot-reload.result", "hot-reload.result");
    rt_driver_free(d);
}

/* Points the endpoint file under `xdg` (the program's XDG_RUNTIME_DIR) at
 * `endpoint`, atomically as the server does. */
static void write_endpoint_file(const char *xdg, const char *endpoint)
{
    char path[512], tmp[520];
    snprintf(path, sizeof path, "%s/hotc", xdg);
    mkdir(path, 0700);
    snprintf(tmp, sizeof tmp, "%s/hotc/endpoint.tmp", xdg);
    snprintf(path, sizeof path, "%s/hotc/endpoint", xdg);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", endpoint);
    fclose(f);
    cr_assert_eq(rename(tmp, path), 0);
}

Test(session, reattaches_to_a_restarted_server_keeping_its_version)
{
    struct rt_driver *d1 = rt_new();
    rt_build(d1, "rt_basic");
    static char xdg[256], xdg_env[300];
    snprintf(xdg, sizeof xdg, "%s/xdg", rt_driver_dir(d1));
    cr_assert_eq(mkdir(xdg, 0700), 0);
    snprintf(xdg_env, sizeof xdg_env, "XDG_RUNTIME_DIR=%s", xdg);
    write_endpoint_file(xdg, rt_driver_endpoint(d1));
    /* no HOTC_ENDPOINT: the program finds the server through the file */
    const char *const env[] = {"HOTC_ENDPOINT=", xdg_env, NULL};
    pid_t pid = rt_spawn(d1, "rt_basic", NULL, env);
    json_t *attach = rt_driver_accept(d1, 20000);
    cr_assert_not_null(attach, "%s", rt_output(d1, "rt_basic"));
    cr_assert_eq(json_integer_value(json_object_get(attach, "version")), 0);
    char *bid = strdup(json_string_value(json_object_get(attach, "buildId")));
    rt_patch(d1, "r1.so", "rt_basic_patch.c", bid, NULL);
    json_decref(rt_reload_applied(d1, rt_basic_reload(d1, 1, "r1.so", bid)));
    cr_assert_not_null(rt_line_after(d1, "rt_basic", 1, "v=1 direct=200", 10000), "%s",
                       rt_output(d1, "rt_basic"));

    /* the server goes away; the program keeps running version 1 */
    rt_driver_close(d1);
    int lines = rt_count_lines(d1, "rt_basic");
    usleep(200 * 1000);
    cr_assert(!strstr(rt_output(d1, "rt_basic"), "bye"), "%s", rt_output(d1, "rt_basic"));

    /* a new server, a new endpoint in the file: the program comes back */
    struct rt_driver *d2 = rt_new();
    write_endpoint_file(xdg, rt_driver_endpoint(d2));
    attach = rt_driver_accept(d2, 20000);
    cr_assert_not_null(attach, "the program did not reattach: %s", rt_output(d1, "rt_basic"));
    cr_assert_eq(json_integer_value(json_object_get(attach, "version")), 1);
    cr_assert_eq(json_integer_value(json_object_get(attach, "pid")), pid);
    static const char *const tag300[] = {"TAG=300", NULL};
    rt_patch(d1, "r2.so", "rt_basic_patch.c", bid, tag300);
    json_decref(rt_reload_applied(d2, rt_basic_reload(d1, 2, "r2.so", bid)));
    const char *line = rt_line_after(d1, "rt_basic", lines, "v=2 ", 10000);
    cr_assert_not_null(line, "%s", rt_output(d1, "rt_basic"));
    cr_assert(strstr(line, "direct=300 ptr=300 other=300"), "%s", line);
    rt_terminate(pid);
    free(bid);
    rt_driver_free(d2);
    rt_driver_free(d1);
}

/* ------------------------------------------------------------ trust
 *
 * Nothing the runtime loads may come from another user. The tests run as
 * root, so "another user" is real: files chowned to nobody (65534), and a
 * server process that has dropped to nobody. */

#define NOBODY 65534

/* Waits up to `ms` for the driver to see an attach; the attach params
 * (borrowed) or NULL. */
static json_t *attach_within(struct rt_driver *d, int ms)
{
    return rt_driver_accept(d, ms);
}

Test(session, refuses_an_endpoint_file_another_user_could_have_planted, .timeout = 90)
{
    if (geteuid() != 0)
        cr_skip_test("needs root, to act as another user (uid %d)", NOBODY);
    struct rt_driver *d = rt_new();
    rt_build(d, "rt_basic");
    static char xdg[256], xdg_env[300], dir[300], file[320];
    snprintf(xdg, sizeof xdg, "%s/xdg", rt_driver_dir(d));
    cr_assert_eq(mkdir(xdg, 0700), 0);
    snprintf(xdg_env, sizeof xdg_env, "XDG_RUNTIME_DIR=%s", xdg);
    snprintf(dir, sizeof dir, "%s/hotc", xdg);
    snprintf(file, sizeof file, "%s/endpoint", dir);
    write_endpoint_file(xdg, rt_driver_endpoint(d));
    chmod(file, 0600);

    /* 1. the file belongs to another user */
    cr_assert_eq(chown(file, NOBODY, NOBODY), 0);
    const char *const env[] = {"HOTC_ENDPOINT=", xdg_env, NULL};
    pid_t pid = rt_spawn(d, "rt_basic", NULL, env);
    cr_assert_null(attach_within(d, 1500), "attached through an endpoint file owned by uid %d", NOBODY);
    /* 2. ours, but in a folder others may enter and write */
    cr_assert_eq(chown(file, 0, 0), 0);
    cr_assert_eq(chmod(dir, 0777), 0);
    cr_assert_null(attach_within(d, 1500), "attached through a folder of mode 0777");
    /* 3. ours, private folder, but a file anyone may write */
    cr_assert_eq(chmod(dir, 0700), 0);
    cr_assert_eq(chmod(file, 0666), 0);
    cr_assert_null(attach_within(d, 1500), "attached through an endpoint file of mode 0666");
    /* 4. set right: it attaches, and the server learns why it did not before */
    cr_assert_eq(chmod(file, 0600), 0);
    json_t *attach = attach_within(d, 20000);
    cr_assert_not_null(attach, "%s", rt_output(d, "rt_basic"));
    json_t *log = rt_driver_notification(d, "hot/log", 10000);
    cr_assert_not_null(log, "no hot/log about the refused endpoint");
    const char *message = json_string_value(json_object_get(log, "message"));
    cr_assert(message && strstr(message, "refused endpoint") && strstr(message, "mode 666"), "%s",
              message ? message : "(none)");
    json_decref(log);
    rt_terminate(pid);
    rt_driver_free(d);
}

/* A server run by another user: listens on `path` (in a folder that user
 * owns) as uid NOBODY, accepts one connection and writes to `report` how
 * many bytes came before the client hung up ("-1" when nobody connected
 * within 20 s). Never returns. */
static void foreign_server(const char *path, int report)
{
    char line[32];
    int got = -1;
    if (setgroups(0, NULL) != 0 || setresgid(NOBODY, NOBODY, NOBODY) != 0 ||
        setresuid(NOBODY, NOBODY, NOBODY) != 0)
        _exit(2);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 4) != 0)
        _exit(3);
    chmod(path, 0666);
    struct pollfd pl = {.fd = l, .events = POLLIN};
    if (poll(&pl, 1, 20000) == 1) {
        int c = accept(l, NULL, NULL);
        char buf[4096];
        got = 0;
        struct pollfd pc = {.fd = c, .events = POLLIN};
        /* the first read tells: 0 is a hang-up without a byte */
        if (poll(&pc, 1, 10000) == 1) {
            ssize_t n = read(c, buf, sizeof buf);
            got = n > 0 ? (int)n : 0;
        }
    }
    int n = snprintf(line, sizeof line, "%d\n", got);
    ssize_t w = write(report, line, (size_t)n);
    (void)w;
    _exit(0);
}

Test(session, sends_nothing_to_a_server_run_by_another_user, .timeout = 90)
{
    if (geteuid() != 0)
        cr_skip_test("needs root, to act as another user (uid %d)", NOBODY);
    struct rt_driver *d = rt_new();
    rt_build(d, "rt_basic");
    static char xdg[256], xdg_env[300], evil_dir[64], evil_sock[96], evil_ep[110];
    snprintf(xdg, sizeof xdg, "%s/xdg", rt_driver_dir(d));
    cr_assert_eq(mkdir(xdg, 0700), 0);
    snprintf(xdg_env, sizeof xdg_env, "XDG_RUNTIME_DIR=%s", xdg);
    snprintf(evil_dir, sizeof evil_dir, "/tmp/hotc-nobody-XXXXXX");
    cr_assert_not_null(mkdtemp(evil_dir));
    cr_assert_eq(chown(evil_dir, NOBODY, NOBODY), 0);
    snprintf(evil_sock, sizeof evil_sock, "%s/hotc.sock", evil_dir);
    snprintf(evil_ep, sizeof evil_ep, "unix:%s", evil_sock);

    int report[2];
    cr_assert_eq(pipe(report), 0);
    pid_t server = fork();
    cr_assert_geq(server, 0);
    if (server == 0) {
        close(report[0]);
        foreign_server(evil_sock, report[1]);
    }
    close(report[1]);
    for (int i = 0; i < 200 && access(evil_sock, F_OK) != 0; i++)
        usleep(10 * 1000);
    cr_assert_eq(access(evil_sock, F_OK), 0, "the foreign server did not start");

    /* our own endpoint file, correctly private, names the foreign socket */
    write_endpoint_file(xdg, evil_ep);
    const char *const env[] = {"HOTC_ENDPOINT=", xdg_env, NULL};
    pid_t pid = rt_spawn(d, "rt_basic", NULL, env);
    char line[32] = "";
    struct pollfd pr = {.fd = report[0], .events = POLLIN};
    cr_assert_eq(poll(&pr, 1, 40000), 1, "no report from the foreign server");
    ssize_t n = read(report[0], line, sizeof line - 1);
    line[n > 0 ? n : 0] = 0;
    close(report[0]);
    rt_wait_exit(server, 10000);
    cr_assert_eq(atoi(line), 0, "the program sent %s bytes to a server run by uid %d (-1: never connected)",
                 line, NOBODY);

    /* then our own server: the program attaches and says why it refused */
    write_endpoint_file(xdg, rt_driver_endpoint(d));
    cr_assert_not_null(attach_within(d, 20000), "%s", rt_output(d, "rt_basic"));
    json_t *log = rt_driver_notification(d, "hot/log", 10000);
    cr_assert_not_null(log);
    const char *message = json_string_value(json_object_get(log, "message"));
    cr_assert(message && strstr(message, "runs as uid 65534"), "%s", message ? message : "(none)");
    json_decref(log);
    rt_terminate(pid);
    unlink(evil_sock);
    rmdir(evil_dir);
    rt_driver_free(d);
}

/* A program started by hand with HOTC_ENDPOINT naming the server's socket
 * (<dir>/<pid>.sock, gone with that server) reattaches to the server that
 * replaced it, through the endpoint file in the same folder. */
Test(session, a_named_endpoint_follows_the_restarted_server, .timeout = 90)
{
    struct rt_driver *d1 = rt_new();
    struct rt_prog p = rt_start(d1, "rt_basic", NULL, NULL); /* HOTC_ENDPOINT=unix:<d1>/hotc.sock */
    rt_driver_close(d1);
    usleep(200 * 1000);

    struct rt_driver *d2 = rt_new();
    char path[600];
    snprintf(path, sizeof path, "%s/endpoint", rt_driver_dir(d1));
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", rt_driver_endpoint(d2));
    fclose(f);
    chmod(path, 0600);
    json_t *attach = rt_driver_accept(d2, 20000);
    cr_assert_not_null(attach, "the program did not follow the endpoint file beside its dead socket: %s",
                       rt_output(d1, "rt_basic"));
    cr_assert_eq(json_integer_value(json_object_get(attach, "pid")), p.pid);
    rt_terminate(p.pid);
    rt_driver_free(d2);
    rt_driver_free(d1);
}
