/* Statics (runtime/statics.c): a global, a file-scope static and a
 * function-local static keep counting across 100 consecutive reloads of the
 * function that uses them: the patches use the program's variables, never
 * fresh copies. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rt_fixture.h"

Test(statics, three_kinds_keep_counting_across_100_reloads)
{
    struct rt_driver *d = rt_new();
    struct rt_prog p = rt_start(d, "rt_basic", NULL, NULL);
    static const char *const tag_a[] = {"TAG=200", NULL}, *const tag_b[] = {"TAG=300", NULL};
    rt_patch(d, "a.so", "rt_basic_patch.c", p.build_id, tag_a);
    rt_patch(d, "b.so", "rt_basic_patch.c", p.build_id, tag_b);

    int last_g = 0;
    for (int v = 1; v <= 100; v++) {
        char lib[32], prefix[32];
        snprintf(lib, sizeof lib, "p%d.so", v);
        cr_assert_eq(rt_copy_tagged(d, v % 2 ? "a.so" : "b.so", lib, -1), 0);
        int before = rt_count_lines(d, "rt_basic");
        json_decref(rt_reload_applied(d, rt_basic_reload(d, v, lib, p.build_id)));

        snprintf(prefix, sizeof prefix, "v=%d ", v);
        const char *line = rt_line_after(d, "rt_basic", before, prefix, 10000);
        cr_assert_not_null(line, "no output for version %d: %s", v, rt_output(d, "rt_basic"));
        int lv, a, b, c, g, f, l;
        cr_assert_eq(sscanf(line, "v=%d direct=%d ptr=%d other=%d g=%d f=%d l=%d", &lv, &a, &b, &c, &g,
                            &f, &l), 7, "%s", line);
        int want = v % 2 ? 200 : 300;
        cr_assert(a == want && b == want && c == want, "version %d runs old code: %s", v, line);
        /* All three are incremented together by every version of step():
         * a fresh copy in a patch would restart from 1. */
        cr_assert(g == f && f == l, "a counter was reset or copied: %s", line);
        cr_assert_gt(g, last_g, "%s", line);
        last_g = g;
    }
    rt_terminate(p.pid);
    rt_driver_free(d);
}
