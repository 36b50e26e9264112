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
