/* Statics (runtime/statics.c): a global, a file-scope static and a
 * function-local static keep counting across 100 consecutive reloads of the
 * function that uses them: the patches use the program's variables, never
 * fresh copies. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
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

Test(statics, three_kinds_keep_counting_across_100_reloads)
{
    struct rt_driver *d = rt_driver_new();
    cr_assert_not_null(d);
    cr_assert_eq(rt_build_program(d, "rt_basic", basic_sources), 0);
    pid_t pid = rt_spawn(d, "rt_basic", NULL, NULL);
    json_t *attach = rt_driver_accept(d, 20000);
    cr_assert_not_null(attach, "%s", rt_output(d, "rt_basic"));
    const char *bid = json_string_value(json_object_get(attach, "buildId"));
    static const char *const tag_a[] = {"TAG=200", NULL}, *const tag_b[] = {"TAG=300", NULL};
    cr_assert_eq(rt_build_patch(d, "a.so", "rt_basic_patch.c", bid, tag_a), 0);
    cr_assert_eq(rt_build_patch(d, "b.so", "rt_basic_patch.c", bid, tag_b), 0);

    int last_g = 0;
    for (int v = 1; v <= 100; v++) {
        char lib[32], prefix[32];
        snprintf(lib, sizeof lib, "p%d.so", v);
        cr_assert_eq(rt_copy_tagged(d, v % 2 ? "a.so" : "b.so", lib, -1), 0);
        int before = rt_count_lines(d, "rt_basic");
        json_t *r = rt_driver_request(d, "hot/reload", basic_reload(d, v, lib, bid), 20000);
        cr_assert_not_null(r, "no answer to reload %d", v);
        const char *status = json_string_value(json_object_get(json_object_get(r, "result"), "status"));
        cr_assert_str_eq(status ? status : "?", "applied", "%s", json_dumps(r, 0));
        json_decref(r);

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
    kill(pid, SIGTERM);
    cr_assert_eq(rt_wait_exit(pid, 10000), 0);
    rt_driver_free(d);
}
