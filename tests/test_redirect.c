/* Redirection (runtime/redirect.c, through the whole runtime): after a
 * reload, direct calls, calls through a pointer taken before the reload and
 * calls from another translation unit all run the new code. */
#include <criterion/criterion.h>
#include <string.h>

#include "rt_fixture.h"

Test(redirect, direct_pointer_and_other_unit_calls_run_the_new_code)
{
    struct rt_driver *d = rt_new();
    struct rt_prog p = rt_start(d, "rt_basic", NULL, NULL);
    cr_assert(strlen(p.build_id) >= 16, "no build-id");
    cr_assert_not_null(rt_line_after(d, "rt_basic", 0, "v=0 direct=100 ptr=100 other=100", 10000));

    rt_patch(d, "p1.so", "rt_basic_patch.c", p.build_id, NULL);
    json_t *res = rt_reload_applied(d, rt_basic_reload(d, 1, "p1.so", p.build_id));
    cr_assert_eq(json_integer_value(json_object_get(res, "redirected")), 1);
    json_decref(res);
    const char *line = rt_line_after(d, "rt_basic", 1, "v=1 ", 10000);
    cr_assert_not_null(line, "%s", rt_output(d, "rt_basic"));
    cr_assert(strstr(line, "direct=200 ptr=200 other=200"), "%s", line);

    rt_terminate(p.pid);
    rt_driver_free(d);
}
