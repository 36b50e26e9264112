/* Crashes (runtime/guard.c): under hot_guard, a crash in reloaded code
 * returns HOT_ECRASHED, the reload is rolled back so the previous code runs
 * again, and the server gets hot/crash; outside a guard the server is told
 * before the program dies of the signal. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hot.h"
#include "rt_fixture.h"

/* Starts rt_guard in `mode` ("guarded" or "unguarded"), running the
 * original risky(), and applies a patch whose risky() crashes. Returns the
 * hot/crash notification's params (new reference), asserted to name that
 * function and version 1. */
static json_t *crash_in(struct rt_driver *d, const char *mode, pid_t *pid)
{
    const char *const args[] = {mode, NULL};
    struct rt_prog p = rt_start(d, "rt_guard", args, NULL);
    *pid = p.pid;
    cr_assert_not_null(rt_line_after(d, "rt_guard", 0, "v=0 rc=0 r=42", 10000));
    rt_patch(d, "crash.so", "rt_guard_patch.c", p.build_id, NULL);
    static const char *const risky[] = {"risky", NULL};
    json_decref(rt_reload_applied(d, rt_reload_params(d, 1, "crash.so", p.build_id, risky)));

    json_t *crash = rt_driver_notification(d, "hot/crash", 10000);
    cr_assert_not_null(crash, "%s", rt_output(d, "rt_guard"));
    cr_assert_str_eq(json_string_value(json_object_get(crash, "function")), "__hotc_f_risky");
    cr_assert_eq(json_integer_value(json_object_get(crash, "version")), 1);
    return crash;
}

Test(guard, crash_under_guard_rolls_back_and_is_reported)
{
    struct rt_driver *d = rt_new();
    pid_t pid;
    json_t *crash = crash_in(d, "guarded", &pid);
    cr_assert_str_eq(json_string_value(json_object_get(crash, "signalName")), "SIGSEGV");
    cr_assert(json_is_true(json_object_get(crash, "guarded")));
    cr_assert(json_is_true(json_object_get(crash, "rolledBack")));
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
    struct rt_driver *d = rt_new();
    pid_t pid;
    json_t *crash = crash_in(d, "unguarded", &pid);
    cr_assert(json_is_false(json_object_get(crash, "guarded")));
    json_decref(crash);
    int status = rt_wait_exit(pid, 10000);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "status %d", status);
    rt_driver_free(d);
}

/* A program that installs its own SIGSEGV handler after hot_init (`mode`,
 * see rt_guard.c), then crashes: the runtime's handler stayed in front (the
 * program's sigaction and signal record its handler instead of replacing
 * the runtime's), so the crash reaches the server at once, and then the
 * program's handler runs (it exits with status 3, with SA_SIGINFO only when
 * the kernel's siginfo reached it). */
static void own_handler_runs_after_the_report(const char *mode)
{
    struct rt_driver *d = rt_new();
    const char *const args[] = {mode, NULL};
    struct rt_prog p = rt_start(d, "rt_guard", args, NULL);
    if (strcmp(mode, "own") == 0)
        cr_assert_not_null(rt_line_after(d, "rt_guard", 0, "own handler", 10000));
    cr_assert_not_null(rt_line_after(d, "rt_guard", 0, "v=0 rc=0 r=42", 10000));
    rt_patch(d, "crash.so", "rt_guard_patch.c", p.build_id, NULL);
    static const char *const risky[] = {"risky", NULL};
    json_decref(rt_reload_applied(d, rt_reload_params(d, 1, "crash.so", p.build_id, risky)));
    json_t *crash = rt_driver_notification(d, "hot/crash", 10000);
    cr_assert_not_null(crash, "%s: no crash report: %s", mode, rt_output(d, "rt_guard"));
    cr_assert_str_eq(json_string_value(json_object_get(crash, "function")), "__hotc_f_risky");
    cr_assert(json_string_value(json_object_get(crash, "module")), "the report names the module");
    json_decref(crash);
    int status = rt_wait_exit(p.pid, 10000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3, "%s: the program's own handler did not run: %d", mode,
              status);
    if (strcmp(mode, "own") != 0)
        cr_assert_not_null(rt_line_after(d, "rt_guard", 0, "own handler, old=default", 10000),
                           "%s: the program saw another handler than its own previous one: %s", mode,
                           rt_output(d, "rt_guard"));
    cr_assert_null(rt_driver_notification(d, "hot/crash", 300), "%s: the crash was reported twice", mode);
    rt_driver_free(d);
}

Test(guard, a_crash_is_reported_when_the_program_installed_its_own_handler)
{
    own_handler_runs_after_the_report("own");
}

Test(guard, a_handler_installed_just_before_the_crash_gets_it_after_the_report)
{
    own_handler_runs_after_the_report("own-late");
}

Test(guard, a_handler_set_with_signal_gets_the_crash_after_the_report)
{
    own_handler_runs_after_the_report("own-signal");
}
