/* Stopping the world (runtime/stopworld.c, runtime/reload.c) in automatic
 * mode leaves the program's own system calls alone: threads sleeping in
 * poll(), nanosleep(), read(), epoll_wait() and select() while 200 reloads
 * are applied (half of one function, applied without stopping anyone, half
 * of two functions, applied with the running thread stopped) never see
 * EINTR, and afterwards run the newest code. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rt_fixture.h"

#define RELOADS 200

Test(stopworld, blocked_system_calls_are_not_interrupted_by_reloads)
{
    struct rt_driver *d = rt_new();
    char target[16];
    snprintf(target, sizeof target, "%d", RELOADS);
    const char *const args[] = {target, "1500", NULL};
    struct rt_prog p = rt_start(d, "rt_blocked", args, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(p.attach, "mode")), "auto");
    rt_patch(d, "both.so", "rt_blocked_patch.c", p.build_id, NULL);

    static const char *const work[] = {"work", NULL}, *const both[] = {"work", "other", NULL};
    for (int v = 1; v <= RELOADS; v++) {
        char lib[32];
        snprintf(lib, sizeof lib, "b%d.so", v);
        cr_assert_eq(rt_copy_tagged(d, "both.so", lib, v), 0);
        json_decref(rt_reload_applied(d, rt_reload_params(d, v, lib, p.build_id, v % 2 ? work : both)));
        unlink(rt_path(d, lib)); /* the mapping stays */
    }
    const char *out = rt_finished(d, p.pid);
    cr_assert(!strstr(out, "EINTR"), "a blocked system call failed with EINTR: %s", out);
    static const char *const calls[] = {"poll", "nanosleep", "read", "epoll_wait", "select"};
    char want[128];
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
        snprintf(want, sizeof want, "%s eintr=0 errors=0 ", calls[i]);
        const char *line = strstr(out, want);
        cr_assert_not_null(line, "%s: %s", calls[i], out);
        snprintf(want, sizeof want, "work=%d other=%d\n", RELOADS, RELOADS);
        cr_assert(strncmp(strstr(line, "work="), want, strlen(want)) == 0,
                  "%s does not run the newest code: %s", calls[i], out);
    }
    snprintf(want, sizeof want, "worker work=%d other=%d\n", RELOADS, RELOADS);
    cr_assert(strstr(out, want), "%s", out);
    rt_driver_free(d);
}

/* A change of two functions stops the threads that run code: three
 * workers call first() then second() in a tight loop while 20 reloads of
 * both are applied, with 3 ms between the two writes of each
 * (HOTC_TEST_WRITE_PAUSE_US, a test hook in runtime/reload.c). A worker
 * left running would get the new first() and the old second() in one
 * iteration during those pauses; a stopped one never can. */
Test(stopworld, a_two_function_change_stops_the_running_threads, .timeout = 120)
{
    struct rt_driver *d = rt_new();
    static const char *const env[] = {"HOTC_MODE=auto", "HOTC_TEST_WRITE_PAUSE_US=3000", NULL};
    static const char *const args[] = {"20", NULL};
    struct rt_prog p = rt_start(d, "rt_pair", args, env);
    cr_assert_str_eq(json_string_value(json_object_get(p.attach, "mode")), "auto");
    rt_patch(d, "pair.so", "rt_pair_patch.c", p.build_id, NULL);
    static const char *const both[] = {"first", "second", NULL};
    for (int v = 1; v <= 20; v++) {
        char lib[32];
        snprintf(lib, sizeof lib, "p%d.so", v);
        cr_assert_eq(rt_copy_tagged(d, "pair.so", lib, v), 0);
        json_decref(rt_reload_applied(d, rt_reload_params(d, v, lib, p.build_id, both)));
        usleep(5000); /* the workers run between reloads */
    }
    const char *out = rt_finished(d, p.pid);
    cr_assert(strstr(out, "first=20 second=20 v=20"), "%s", out);
    const char *line = strstr(out, "torn=");
    cr_assert_not_null(line, "%s", out);
    long torn = -1, calls = 0;
    cr_assert_eq(sscanf(line, "torn=%ld calls=%ld", &torn, &calls), 2);
    cr_assert_gt(calls, 0);
    cr_assert_eq(torn, 0, "%ld times a worker ran between the writes of one reload: threads were not stopped",
                 torn);
    rt_driver_free(d);
}
