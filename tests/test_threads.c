/* Automatic mode (runtime/stopworld.c): with 4 threads calling a HOT
 * function in a tight loop, 1000 reloads applied by stopping every thread
 * complete without a crash, no thread ever goes back to older code, each
 * ends up running the newest, and a read() blocked throughout is not
 * failed with EINTR. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rt_fixture.h"

#define RELOADS 1000

Test(threads, four_threads_1000_reloads_in_automatic_mode)
{
    struct rt_driver *d = rt_new();
    static const char *const args[] = {"1000", NULL};
    struct rt_prog p = rt_start(d, "rt_threads", args, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(p.attach, "mode")), "auto");
    rt_patch(d, "work.so", "rt_threads_patch.c", p.build_id, NULL);

    static const char *const work[] = {"work", NULL};
    long long total_apply = 0;
    for (int v = 1; v <= RELOADS; v++) {
        char lib[32];
        snprintf(lib, sizeof lib, "w%d.so", v);
        cr_assert_eq(rt_copy_tagged(d, "work.so", lib, v), 0);
        json_t *res = rt_reload_applied(d, rt_reload_params(d, v, lib, p.build_id, work));
        total_apply += json_integer_value(json_object_get(json_object_get(res, "timings"), "applyUs"));
        json_decref(res);
        if (v % 100 == 0)
            unlink(rt_path(d, lib)); /* keep /tmp small; the mapping stays */
    }
    const char *out = rt_finished(d, p.pid);
    for (int i = 0; i < 4; i++) {
        char want[64];
        snprintf(want, sizeof want, "thread %d last=%d ", i, RELOADS);
        cr_assert(strstr(out, want), "thread %d does not run the newest code: %s", i, out);
    }
    cr_assert(!strstr(out, "regressions=1") && strstr(out, "regressions=0"), "%s", out);
    cr_assert(strstr(out, "read=1 errno=0"), "a blocked read() was disturbed: %s", out);
    cr_log_info("1000 reloads, mean apply %.1f us", total_apply / (double)RELOADS);
    rt_driver_free(d);
}
