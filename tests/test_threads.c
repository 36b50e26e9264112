/* Automatic mode (runtime/stopworld.c): with 4 threads calling a HOT
 * function in a tight loop, 1000 reloads applied by stopping every thread
 * complete without a crash, no thread ever goes back to older code, each
 * ends up running the newest, and a read() blocked throughout is not
 * failed with EINTR. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rt_driver.h"

#define RELOADS 1000

Test(threads, four_threads_1000_reloads_in_automatic_mode)
{
    struct rt_driver *d = rt_driver_new();
    cr_assert_not_null(d);
    static const char *const sources[] = {"rt_threads.c", NULL};
    cr_assert_eq(rt_build_program(d, "rt_threads", sources), 0);
    static const char *const args[] = {"1000", NULL};
    pid_t pid = rt_spawn(d, "rt_threads", args, NULL);
    json_t *attach = rt_driver_accept(d, 20000);
    cr_assert_not_null(attach, "%s", rt_output(d, "rt_threads"));
    cr_assert_str_eq(json_string_value(json_object_get(attach, "mode")), "auto");
    const char *bid = json_string_value(json_object_get(attach, "buildId"));
    cr_assert_eq(rt_build_patch(d, "work.so", "rt_threads_patch.c", bid, NULL), 0);

    long long total_apply = 0;
    for (int v = 1; v <= RELOADS; v++) {
        char lib[32];
        snprintf(lib, sizeof lib, "w%d.so", v);
        cr_assert_eq(rt_copy_tagged(d, "work.so", lib, v), 0);
        json_t *p = json_pack("{s:i, s:s, s:s, s:[{s:s, s:s}], s:[]}", "version", v, "library",
                              rt_path(d, lib), "targetBuildId", bid, "functions", "name", "work",
                              "symbol", "__hotc_f_work", "statics");
        json_t *r = rt_driver_request(d, "hot/reload", p, 30000);
        cr_assert_not_null(r, "no answer to reload %d: %s", v, rt_output(d, "rt_threads"));
        json_t *res = json_object_get(r, "result");
        cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "applied", "%s",
                         json_dumps(r, 0));
        total_apply += json_integer_value(json_object_get(json_object_get(res, "timings"), "applyUs"));
        json_decref(r);
        if (v % 100 == 0)
            unlink(rt_path(d, lib)); /* keep /tmp small; the mapping stays */
    }
    int status = rt_wait_exit(pid, 60000);
    const char *out = rt_output(d, "rt_threads");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, out);
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
