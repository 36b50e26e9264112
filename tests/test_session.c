/* Session (runtime/session.c): what the runtime says and accepts on the
 * wire. The traffic of a whole conversation (attach, reloads applied and
 * refused, a malformed request, rollback, a guarded crash, detach) is
 * captured by the test driver and validated against schema/runtime/ with
 * tools/schema_check.py; attach describes the program; only hot_* is
 * exported; without a server the program runs undisturbed. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
                          strncmp(line, "__odr_asan", 10) == 0,
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
