/* Redirection (runtime/redirect.c, through the whole runtime): after a
 * reload, direct calls, calls through a pointer taken before the reload and
 * calls from another translation unit all run the new code. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include "rt_driver.h"

static const char *const basic_sources[] = {"rt_basic_main.c", "rt_basic_other.c", NULL};

static json_t *basic_reload(struct rt_driver *d, int version, const char *lib, const char *bid)
{
    return json_pack("{s:i, s:s, s:s, s:[{s:s, s:s}], s:[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s}]}",
                     "version", version, "library", rt_path(d, lib), "targetBuildId", bid,
                     "functions", "name", "step", "symbol", "__hotc_f_step",
                     "statics", "symbol", "__hotc_s_0", "name", "f_count", "file", "rt_basic_main.c",
                     "kind", "object",
                     "symbol", "__hotc_s_1", "name", "l_count", "file", "rt_basic_main.c",
                     "function", "step", "kind", "object");
}

Test(redirect, direct_pointer_and_other_unit_calls_run_the_new_code)
{
    struct rt_driver *d = rt_driver_new();
    cr_assert_not_null(d);
    cr_assert_eq(rt_build_program(d, "rt_basic", basic_sources), 0);
    pid_t pid = rt_spawn(d, "rt_basic", NULL, NULL);
    json_t *attach = rt_driver_accept(d, 20000);
    cr_assert_not_null(attach, "the program did not attach: %s", rt_output(d, "rt_basic"));
    const char *bid = json_string_value(json_object_get(attach, "buildId"));
    cr_assert(bid && strlen(bid) >= 16, "no build-id");
    cr_assert_not_null(rt_line_after(d, "rt_basic", 0, "v=0 direct=100 ptr=100 other=100", 10000));

    cr_assert_eq(rt_build_patch(d, "p1.so", "rt_basic_patch.c", bid, NULL), 0);
    json_t *r = rt_driver_request(d, "hot/reload", basic_reload(d, 1, "p1.so", bid), 20000);
    cr_assert_not_null(r);
    json_t *res = json_object_get(r, "result");
    cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "applied", "%s",
                     json_dumps(r, 0));
    cr_assert_eq(json_integer_value(json_object_get(res, "redirected")), 1);
    json_decref(r);
    const char *line = rt_line_after(d, "rt_basic", 1, "v=1 ", 10000);
    cr_assert_not_null(line, "%s", rt_output(d, "rt_basic"));
    cr_assert(strstr(line, "direct=200 ptr=200 other=200"), "%s", line);

    kill(pid, SIGTERM);
    int status = rt_wait_exit(pid, 10000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    rt_driver_free(d);
}
