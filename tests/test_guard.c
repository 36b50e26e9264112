/* Crashes (runtime/guard.c): under hot_guard, a crash in reloaded code
 * returns HOT_ECRASHED, the reload is rolled back so the previous code runs
 * again, and the server gets hot/crash; outside a guard the server is told
 * before the program dies of the signal. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "hot.h"
#include "rt_driver.h"

static json_t *risky_reload(struct rt_driver *d, const char *bid)
{
    return json_pack("{s:i, s:s, s:s, s:[{s:s, s:s}], s:[]}", "version", 1, "library",
                     rt_path(d, "crash.so"), "targetBuildId", bid, "functions", "name", "risky",
                     "symbol", "__hotc_f_risky", "statics");
}

static struct rt_driver *start(const char *mode, pid_t *pid, const char **bid)
{
    struct rt_driver *d = rt_driver_new();
    cr_assert_not_null(d);
    static const char *const sources[] = {"rt_guard.c", NULL};
    cr_assert_eq(rt_build_program(d, "rt_guard", sources), 0);
    const char *const args[] = {mode, NULL};
    *pid = rt_spawn(d, "rt_guard", args, NULL);
    json_t *attach = rt_driver_accept(d, 20000);
    cr_assert_not_null(attach, "%s", rt_output(d, "rt_guard"));
    *bid = json_string_value(json_object_get(attach, "buildId"));
    cr_assert_not_null(rt_line_after(d, "rt_guard", 0, "v=0 rc=0 r=42", 10000));
    cr_assert_eq(rt_build_patch(d, "crash.so", "rt_guard_patch.c", *bid, NULL), 0);
    return d;
}

Test(guard, crash_under_guard_rolls_back_and_is_reported)
{
    pid_t pid;
    const char *bid;
    struct rt_driver *d = start("guarded", &pid, &bid);
    json_t *r = rt_driver_request(d, "hot/reload", risky_reload(d, bid), 20000);
    cr_assert_not_null(r);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "result"), "status")), "applied");
    json_decref(r);

    json_t *crash = rt_driver_notification(d, "hot/crash", 10000);
    cr_assert_not_null(crash, "%s", rt_output(d, "rt_guard"));
    cr_assert_str_eq(json_string_value(json_object_get(crash, "signalName")), "SIGSEGV");
    cr_assert(json_is_true(json_object_get(crash, "guarded")));
    cr_assert(json_is_true(json_object_get(crash, "rolledBack")));
    cr_assert_eq(json_integer_value(json_object_get(crash, "version")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(crash, "function")), "__hotc_f_risky");
    json_decref(crash);

    cr_assert_not_null(rt_line_after(d, "rt_guard", 1, "v=0 rc=-1000", 10000), "%s", rt_output(d, "rt_guard"));
    /* The program survived, and the previous (original) code runs again. */
    cr_assert_not_null(rt_line_after(d, "rt_guard", 2, "v=0 rc=0 r=42", 10000), "%s", rt_output(d, "rt_guard"));
    kill(pid, SIGKILL);
    rt_wait_exit(pid, 10000);
    rt_driver_free(d);
}

Test(guard, unguarded_crash_is_reported_before_the_program_dies)
{
    pid_t pid;
    const char *bid;
    struct rt_driver *d = start("unguarded", &pid, &bid);
    json_t *r = rt_driver_request(d, "hot/reload", risky_reload(d, bid), 20000);
    cr_assert_not_null(r);
    json_decref(r);
    json_t *crash = rt_driver_notification(d, "hot/crash", 10000);
    cr_assert_not_null(crash, "%s", rt_output(d, "rt_guard"));
    cr_assert(json_is_false(json_object_get(crash, "guarded")));
    cr_assert_str_eq(json_string_value(json_object_get(crash, "function")), "__hotc_f_risky");
    cr_assert_eq(json_integer_value(json_object_get(crash, "version")), 1);
    json_decref(crash);
    int status = rt_wait_exit(pid, 10000);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "status %d", status);
    rt_driver_free(d);
}
