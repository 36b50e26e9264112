/* A thread that blocks every signal (Mesa's llvmpipe workers do) must not
 * make reloading impossible (runtime/stopworld.c, runtime/reload.c): with
 * one such thread spinning outside HOT code, reloads that change two
 * functions at once (so other threads are stopped) are applied, in poll
 * mode and in automatic mode, and the new code runs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_fixture.h"

#define RELOADS 30

static const char *const both[] = {"work", "other", NULL};

static void reload_both(const char *mode)
{
    struct rt_driver *d = rt_new();
    char target[16];
    snprintf(target, sizeof target, "%d", RELOADS);
    const char *const args[] = {mode, target, NULL};
    struct rt_prog p = rt_start(d, "rt_sigblock", args, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(p.attach, "mode")), mode);
    rt_patch(d, "both.so", "rt_blocked_patch.c", p.build_id, NULL);

    for (int v = 1; v <= RELOADS; v++) {
        char lib[32];
        snprintf(lib, sizeof lib, "s%d.so", v);
        cr_assert_eq(rt_copy_tagged(d, "both.so", lib, v), 0);
        json_t *res = rt_reload_applied(d, rt_reload_params(d, v, lib, p.build_id, both));
        cr_assert_eq(json_integer_value(json_object_get(res, "version")), v);
        cr_assert_eq(json_integer_value(json_object_get(res, "redirected")), 2);
        json_decref(res);
        unlink(rt_path(d, lib)); /* the mapping stays */
    }
    const char *out = rt_finished(d, p.pid);
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
    struct rt_driver *d = rt_new();
    const char *const args[] = {"auto", "1", NULL};
    struct rt_prog p = rt_start(d, "rt_sigblock", args, NULL);
    const char *line = rt_line_after(d, "rt_sigblock", 0, "spinner tid=", 20000);
    cr_assert_not_null(line, "%s", rt_output(d, "rt_sigblock"));
    char tid[48];
    snprintf(tid, sizeof tid, "thread %s (spinner) blocks signal", line + strlen("spinner tid="));
    rt_patch(d, "odd.so", "rt_sigblock_patch.c", p.build_id, NULL);
    rt_patch(d, "both.so", "rt_blocked_patch.c", p.build_id, NULL);
    cr_assert_eq(rt_copy_tagged(d, "both.so", "both1.so", 1), 0);

    static const char *const odd[] = {"odd", NULL};
    json_t *res = rt_reload(d, rt_reload_params(d, 1, "odd.so", p.build_id, odd));
    const char *reason = json_string_value(json_object_get(res, "reason"));
    char *text = json_dumps(res, 0);
    cr_assert_str_eq(rt_status(res), "refused", "%s", text);
    cr_assert(reason && strstr(reason, tid) && strstr(reason, "odd()"), "%s", text);
    cr_log_info("%s", reason);
    free(text);
    json_decref(res);

    json_decref(rt_reload_applied(d, rt_reload_params(d, 1, "both1.so", p.build_id, both)));
    const char *out = rt_finished(d, p.pid);
    cr_assert(strstr(out, "version=1 work=1 other=1 ") && strstr(out, " odd=0\n"), "%s", out);
    rt_driver_free(d);
}
