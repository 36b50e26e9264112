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

#include "rt_driver.h"

#define RELOADS 200

Test(stopworld, blocked_system_calls_are_not_interrupted_by_reloads)
{
    struct rt_driver *d = rt_driver_new();
    cr_assert_not_null(d);
    static const char *const sources[] = {"rt_blocked.c", NULL};
    cr_assert_eq(rt_build_program(d, "rt_blocked", sources), 0);
    char target[16];
    snprintf(target, sizeof target, "%d", RELOADS);
    const char *const args[] = {target, "1500", NULL};
    pid_t pid = rt_spawn(d, "rt_blocked", args, NULL);
    json_t *attach = rt_driver_accept(d, 20000);
    cr_assert_not_null(attach, "%s", rt_output(d, "rt_blocked"));
    cr_assert_str_eq(json_string_value(json_object_get(attach, "mode")), "auto");
    const char *bid = json_string_value(json_object_get(attach, "buildId"));
    cr_assert_eq(rt_build_patch(d, "both.so", "rt_blocked_patch.c", bid, NULL), 0);

    for (int v = 1; v <= RELOADS; v++) {
        char lib[32];
        snprintf(lib, sizeof lib, "b%d.so", v);
        cr_assert_eq(rt_copy_tagged(d, "both.so", lib, v), 0);
        json_t *p = v % 2 ? json_pack("{s:i, s:s, s:s, s:[{s:s, s:s}], s:[]}", "version", v,
                                      "library", rt_path(d, lib), "targetBuildId", bid,
                                      "functions", "name", "work", "symbol", "__hotc_f_work",
                                      "statics")
                          : json_pack("{s:i, s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}], s:[]}",
                                      "version", v, "library", rt_path(d, lib), "targetBuildId",
                                      bid, "functions", "name", "work", "symbol", "__hotc_f_work",
                                      "name", "other", "symbol", "__hotc_f_other", "statics");
        json_t *r = rt_driver_request(d, "hot/reload", p, 30000);
        cr_assert_not_null(r, "no answer to reload %d: %s", v, rt_output(d, "rt_blocked"));
        json_t *res = json_object_get(r, "result");
        cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "applied", "%s",
                         json_dumps(r, 0));
        json_decref(r);
        unlink(rt_path(d, lib)); /* the mapping stays */
    }
    int status = rt_wait_exit(pid, 60000);
    const char *out = rt_output(d, "rt_blocked");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, out);
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
