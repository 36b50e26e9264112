/* A thread that blocks every signal (Mesa's llvmpipe workers do) must not
 * make reloading impossible (runtime/stopworld.c, runtime/reload.c): with
 * one such thread spinning outside HOT code, reloads that change two
 * functions at once (so other threads are stopped) are applied, in poll
 * mode and in automatic mode, and the new code runs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rt_driver.h"

#define RELOADS 30

static void reload_both(const char *mode)
{
    struct rt_driver *d = rt_driver_new();
    cr_assert_not_null(d);
    static const char *const sources[] = {"rt_sigblock.c", NULL};
    cr_assert_eq(rt_build_program(d, "rt_sigblock", sources), 0);
    char target[16];
    snprintf(target, sizeof target, "%d", RELOADS);
    const char *const args[] = {mode, target, NULL};
    pid_t pid = rt_spawn(d, "rt_sigblock", args, NULL);
    json_t *attach = rt_driver_accept(d, 20000);
    cr_assert_not_null(attach, "%s", rt_output(d, "rt_sigblock"));
    cr_assert_str_eq(json_string_value(json_object_get(attach, "mode")), mode);
    const char *bid = json_string_value(json_object_get(attach, "buildId"));
    cr_assert_eq(rt_build_patch(d, "both.so", "rt_blocked_patch.c", bid, NULL), 0);

    for (int v = 1; v <= RELOADS; v++) {
        char lib[32];
        snprintf(lib, sizeof lib, "s%d.so", v);
        cr_assert_eq(rt_copy_tagged(d, "both.so", lib, v), 0);
        json_t *p = json_pack("{s:i, s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}], s:[]}", "version", v,
                              "library", rt_path(d, lib), "targetBuildId", bid, "functions", "name",
                              "work", "symbol", "__hotc_f_work", "name", "other", "symbol",
                              "__hotc_f_other", "statics");
        json_t *r = rt_driver_request(d, "hot/reload", p, 30000);
        cr_assert_not_null(r, "no answer to reload %d: %s", v, rt_output(d, "rt_sigblock"));
        json_t *res = json_object_get(r, "result");
        cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "applied", "%s",
                         json_dumps(r, 0));
        cr_assert_eq(json_integer_value(json_object_get(res, "version")), v);
        cr_assert_eq(json_integer_value(json_object_get(res, "redirected")), 2);
        json_decref(r);
        unlink(rt_path(d, lib)); /* the mapping stays */
    }
    int status = rt_wait_exit(pid, 60000);
    const char *out = rt_output(d, "rt_sigblock");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, out);
    char want[128];
    snprintf(want, sizeof want, "version=%d work=%d other=%d ", RELOADS, RELOADS, RELOADS);
    cr_assert(strstr(out, want), "the newest code does not run: %s", out);
    cr_assert(strstr(out, "mismatched=0 spins=yes"), "%s", out);
    if (strcmp(mode, "poll") == 0) {
        snprintf(want, sizeof want, "polled=%d ", 2 * RELOADS);
        cr_assert(strstr(out, want), "hot_poll did not apply every reload: %s", out);
    }
    rt_driver_free(d);
}

Test(sigblock, two_function_reloads_in_poll_mode_with_a_thread_blocking_signals)
{
    reload_both("poll");
}

Test(sigblock, two_function_reloads_in_auto_mode_with_a_thread_blocking_signals)
{
    reload_both("auto");
}

/* odd() (x86-64) cannot be rewritten while a thread runs through it: the
 * reload needs every thread stopped, and one blocks the signal. Refused at
 * once, naming that thread; nothing applied; a later reload still works. */
Test(sigblock, unaligned_entry_and_a_thread_blocking_signals_is_refused_with_its_id)
{
#if !defined(__x86_64__)
    cr_skip_test("the unaligned entry is built for x86-64");
#endif
    struct rt_driver *d = rt_driver_new();
    cr_assert_not_null(d);
    static const char *const sources[] = {"rt_sigblock.c", NULL};
    cr_assert_eq(rt_build_program(d, "rt_sigblock", sources), 0);
    const char *const args[] = {"auto", "1", NULL};
    pid_t pid = rt_spawn(d, "rt_sigblock", args, NULL);
    json_t *attach = rt_driver_accept(d, 20000);
    cr_assert_not_null(attach, "%s", rt_output(d, "rt_sigblock"));
    const char *bid = json_string_value(json_object_get(attach, "buildId"));
    const char *line = rt_line_after(d, "rt_sigblock", 0, "spinner tid=", 20000);
    cr_assert_not_null(line, "%s", rt_output(d, "rt_sigblock"));
    char tid[48];
    snprintf(tid, sizeof tid, "thread %s (spinner) blocks signal", line + strlen("spinner tid="));
    cr_assert_eq(rt_build_patch(d, "odd.so", "rt_sigblock_patch.c", bid, NULL), 0);
    cr_assert_eq(rt_build_patch(d, "both.so", "rt_blocked_patch.c", bid, NULL), 0);
    cr_assert_eq(rt_copy_tagged(d, "both.so", "both1.so", 1), 0);

    json_t *p = json_pack("{s:i, s:s, s:s, s:[{s:s, s:s}], s:[]}", "version", 1, "library",
                          rt_path(d, "odd.so"), "targetBuildId", bid, "functions", "name", "odd",
                          "symbol", "__hotc_f_odd", "statics");
    json_t *r = rt_driver_request(d, "hot/reload", p, 30000);
    cr_assert_not_null(r, "%s", rt_output(d, "rt_sigblock"));
    json_t *res = json_object_get(r, "result");
    const char *reason = json_string_value(json_object_get(res, "reason"));
    cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "refused", "%s",
                     json_dumps(r, 0));
    cr_assert(reason && strstr(reason, tid) && strstr(reason, "odd()"), "%s", json_dumps(r, 0));
    cr_log_info("%s", reason);
    json_decref(r);

    p = json_pack("{s:i, s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}], s:[]}", "version", 1, "library",
                  rt_path(d, "both1.so"), "targetBuildId", bid, "functions", "name", "work",
                  "symbol", "__hotc_f_work", "name", "other", "symbol", "__hotc_f_other",
                  "statics");
    r = rt_driver_request(d, "hot/reload", p, 30000);
    cr_assert_not_null(r, "%s", rt_output(d, "rt_sigblock"));
    res = json_object_get(r, "result");
    cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "applied", "%s",
                     json_dumps(r, 0));
    json_decref(r);
    int status = rt_wait_exit(pid, 60000);
    const char *out = rt_output(d, "rt_sigblock");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, out);
    cr_assert(strstr(out, "version=1 work=1 other=1 ") && strstr(out, " odd=0\n"), "%s", out);
    rt_driver_free(d);
}
