/* Reload (runtime/reload.c): all or nothing. A patch with an undefined
 * symbol, built for another executable, naming a function the program does
 * not have, or a static that cannot be bound is refused whole with a reason
 * naming the problem, and the old code keeps running; rollback returns to
 * the previous version, then to the original code. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_fixture.h"

static struct rt_driver *d;
static struct rt_prog prog;
static const char *bid;

static void start(void)
{
    d = rt_new();
    prog = rt_start(d, "rt_basic", NULL, NULL);
    bid = prog.build_id;
}

static void stop(void)
{
    rt_terminate(prog.pid);
    rt_driver_free(d);
}

/* Reload params for step() with its two statics (rt_basic_reload); `fname`
 * and `sname` replace the function's and the file-scope static's names. */
static json_t *params(int version, const char *lib, const char *build_id, const char *fname,
                      const char *sname)
{
    json_t *p = rt_basic_reload(d, version, lib, build_id);
    json_object_set_new(json_array_get(json_object_get(p, "functions"), 0), "name", json_string(fname));
    json_object_set_new(json_array_get(json_object_get(p, "statics"), 0), "name", json_string(sname));
    return p;
}

/* Sends a reload and returns its result's status; `reason` gets the reason. */
static const char *reload(json_t *p, char *reason, size_t size)
{
    static char status[32];
    json_t *res = rt_reload(d, p);
    snprintf(status, sizeof status, "%s", rt_status(res));
    const char *why = json_string_value(json_object_get(res, "reason"));
    snprintf(reason, size, "%s", why ? why : "");
    json_decref(res);
    return status;
}

static void assert_still_original(void)
{
    int n = rt_count_lines(d, "rt_basic");
    cr_assert_eq(n, 1, "the output changed: %s", rt_output(d, "rt_basic"));
    cr_assert(strstr(rt_output(d, "rt_basic"), "v=0 direct=100 ptr=100 other=100"));
}

Test(reload, refusals_are_whole_and_name_the_problem)
{
    start();
    char reason[512];
    static const char *const undefined[] = {"UNDEFINED", NULL};
    rt_patch(d, "good.so", "rt_basic_patch.c", bid, NULL);
    rt_patch(d, "undef.so", "rt_basic_patch.c", bid, undefined);
    rt_patch(d, "other.so", "rt_basic_patch.c", "00112233445566778899aabbccddeeff00112233", NULL);
    cr_assert_not_null(rt_line_after(d, "rt_basic", 0, "v=0 ", 10000));

    cr_assert_str_eq(reload(params(1, "undef.so", bid, "step", "f_count"), reason, sizeof reason), "refused");
    cr_assert(strstr(reason, "missing_function_xyz"), "%s", reason);

    /* The message claims the right build-id; the library says otherwise. */
    cr_assert_eq(rt_copy_tagged(d, "other.so", "other2.so", -1), 0);
    cr_assert_str_eq(reload(params(1, "other.so", bid, "step", "f_count"), reason, sizeof reason), "refused");
    cr_assert(strstr(reason, "another executable") && strstr(reason, "00112233"), "%s", reason);
    cr_assert_str_eq(reload(params(1, "other2.so", "00112233445566778899aabbccddeeff00112233", "step",
                                   "f_count"), reason, sizeof reason), "refused");
    cr_assert(strstr(reason, "another executable"), "%s", reason);

    cr_assert_eq(rt_copy_tagged(d, "good.so", "g1.so", -1), 0);
    cr_assert_str_eq(reload(params(1, "g1.so", bid, "no_such_function", "f_count"), reason, sizeof reason), "refused");
    cr_assert(strstr(reason, "no_such_function"), "%s", reason);

    cr_assert_eq(rt_copy_tagged(d, "good.so", "g2.so", -1), 0);
    cr_assert_str_eq(reload(params(1, "g2.so", bid, "step", "no_such_static"), reason, sizeof reason), "refused");
    cr_assert(strstr(reason, "no_such_static") && strstr(reason, "rt_basic_main.c"), "%s", reason);

    /* Two functions, the second one not HOT: the first is not applied either. */
    cr_assert_eq(rt_copy_tagged(d, "good.so", "g3.so", -1), 0);
    json_t *p = params(1, "g3.so", bid, "step", "f_count");
    json_array_append_new(json_object_get(p, "functions"),
                          json_pack("{s:s, s:s}", "name", "main", "symbol", "__hotc_f_step"));
    cr_assert_str_eq(reload(p, reason, sizeof reason), "refused");
    cr_assert(strstr(reason, "main") && strstr(reason, "not HOT"), "%s", reason);

    usleep(50000);
    assert_still_original();

    /* After all that, a good patch still applies. */
    cr_assert_eq(rt_copy_tagged(d, "good.so", "g4.so", -1), 0);
    cr_assert_str_eq(reload(params(1, "g4.so", bid, "step", "f_count"), reason, sizeof reason), "applied",
                     "%s", reason);
    cr_assert_not_null(rt_line_after(d, "rt_basic", 1, "v=1 direct=200 ptr=200 other=200", 10000));
    stop();
}

Test(reload, rollback_returns_to_the_previous_version)
{
    start();
    char reason[512];
    static const char *const tag_b[] = {"TAG=300", NULL};
    rt_patch(d, "a.so", "rt_basic_patch.c", bid, NULL);
    rt_patch(d, "b.so", "rt_basic_patch.c", bid, tag_b);
    cr_assert_str_eq(reload(params(1, "a.so", bid, "step", "f_count"), reason, sizeof reason), "applied");
    cr_assert_str_eq(reload(params(2, "b.so", bid, "step", "f_count"), reason, sizeof reason), "applied");
    cr_assert_not_null(rt_line_after(d, "rt_basic", 0, "v=2 direct=300 ptr=300 other=300", 10000));

    int before = rt_count_lines(d, "rt_basic");
    json_t *r = rt_driver_request(d, "hot/rollback", json_object(), 20000);
    cr_assert_not_null(r);
    json_t *res = json_object_get(r, "result");
    cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "rolledBack");
    cr_assert_eq(json_integer_value(json_object_get(res, "version")), 1);
    json_decref(r);
    cr_assert_not_null(rt_line_after(d, "rt_basic", before, "v=1 direct=200 ptr=200 other=200", 10000),
                       "%s", rt_output(d, "rt_basic"));

    before = rt_count_lines(d, "rt_basic");
    r = rt_driver_request(d, "hot/rollback", json_object(), 20000);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "result"), "version")), 0);
    json_decref(r);
    const char *line = rt_line_after(d, "rt_basic", before, "v=0 direct=100 ptr=100 other=100", 10000);
    cr_assert_not_null(line, "%s", rt_output(d, "rt_basic"));
    int g, f, l;
    cr_assert_eq(sscanf(strstr(line, "g="), "g=%d f=%d l=%d", &g, &f, &l), 3);
    cr_assert(g == f && f == l && g > 3, "%s", line);

    r = rt_driver_request(d, "hot/rollback", json_object(), 20000);
    res = json_object_get(r, "result");
    cr_assert_str_eq(json_string_value(json_object_get(res, "status")), "refused");
    cr_assert(strstr(json_string_value(json_object_get(res, "reason")), "nothing to roll back"));
    json_decref(r);

    /* Reapplying a rolled-back version's code works: its library is still
     * loaded, a new copy is a new library. */
    cr_assert_eq(rt_copy_tagged(d, "b.so", "b2.so", -1), 0);
    cr_assert_str_eq(reload(params(3, "b2.so", bid, "step", "f_count"), reason, sizeof reason), "applied");
    cr_assert_not_null(rt_line_after(d, "rt_basic", before, "v=3 direct=300", 10000));
    stop();
}

/* The program's open descriptors (/proc/<pid>/fd). */
static int open_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *dir = opendir(path);
    cr_assert_not_null(dir, "%s", path);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

/* A library sent as bytes (libraryBase64, the TCP way) lives in an
 * anonymous file: nothing of it may stay open once the reload was applied
 * or refused, or a long session runs out of descriptors. Different bytes
 * each time (two patches alternating) must each load as themselves. */
Test(reload, patches_sent_as_bytes_leave_no_descriptor_open, .timeout = 240)
{
    start();
    static const char *const tag300[] = {"TAG=300", NULL};
    rt_patch(d, "b200.so", "rt_basic_patch.c", bid, NULL);
    rt_patch(d, "b300.so", "rt_basic_patch.c", bid, tag300);
    char *bytes[2] = {rt_base64_file(rt_path(d, "b200.so")), rt_base64_file(rt_path(d, "b300.so"))};
    cr_assert(bytes[0] && bytes[1]);
    cr_assert_not_null(rt_line_after(d, "rt_basic", 0, "v=0 ", 10000));
    int before = open_fds(prog.pid);
    char reason[512];
    int version = 0;
    for (int i = 0; i < 40; i++) {
        json_t *p = params(version + 1, "b200.so", bid, "step", "f_count");
        json_object_del(p, "library");
        json_object_set_new(p, "libraryBase64", json_string(bytes[i % 2]));
        if (i % 4 == 3) /* refused after loading: a function the patch does not define */
            json_object_set_new(json_array_get(json_object_get(p, "functions"), 0), "symbol",
                                json_string("__hotc_f_none"));
        const char *status = reload(p, reason, sizeof reason);
        if (i % 4 == 3) {
            cr_assert_str_eq(status, "refused");
            continue;
        }
        cr_assert_str_eq(status, "applied", "reload %d: %s", i, reason);
        version++;
        char want[64];
        snprintf(want, sizeof want, "v=%d direct=%d", version, i % 2 ? 300 : 200);
        cr_assert_not_null(rt_line_after(d, "rt_basic", 0, want, 10000), "%s: %s", want,
                           rt_output(d, "rt_basic"));
    }
    int after = open_fds(prog.pid);
    cr_assert_eq(after, before, "%d descriptors open before 40 reloads sent as bytes, %d after", before,
                 after);
    free(bytes[0]);
    free(bytes[1]);
    stop();
}

/* A patch cut short (a full disk, a compiler killed mid-write) is refused
 * with a reason, not loaded: dlopen would map past the end of the file and
 * the program would die of SIGBUS. */
Test(reload, a_truncated_patch_is_refused_and_the_program_lives)
{
    start();
    char reason[512];
    rt_patch(d, "whole.so", "rt_basic_patch.c", bid, NULL);
    cr_assert_not_null(rt_line_after(d, "rt_basic", 0, "v=0 ", 10000));
    struct stat st;
    cr_assert_eq(stat(rt_path(d, "whole.so"), &st), 0);
    static const int cuts[] = {2, 3, 5, 9}; /* keep 1/2, 2/3, 4/5, 8/9 of it */
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        char name[32];
        snprintf(name, sizeof name, "cut%zu.so", i);
        cr_assert_eq(rt_copy_tagged(d, "whole.so", name, -1), 0);
        cr_assert_eq(truncate(rt_path(d, name), st.st_size - st.st_size / cuts[i]), 0);
        cr_assert_str_eq(reload(params(1, name, bid, "step", "f_count"), reason, sizeof reason), "refused");
        cr_assert(strstr(reason, "truncated"), "%s", reason);
    }
    usleep(50000);
    assert_still_original();
    cr_assert_str_eq(reload(params(1, "whole.so", bid, "step", "f_count"), reason, sizeof reason), "applied",
                     "%s", reason);
    stop();
}

/* All or nothing, proven by a write that fails: with the second write of
 * the process made to fail (HOTC_TEST_WRITE_FAIL, a test hook in
 * runtime/reload.c), a reload of first() and second() writes first(), then
 * fails on second(): first() must be put back, the reload refused, and the
 * program run the old code of both. The next reload applies whole. */
Test(reload, a_write_failing_midway_undoes_the_earlier_ones, .timeout = 120)
{
    struct rt_driver *dd = rt_new();
    static const char *const env[] = {"HOTC_TEST_WRITE_FAIL=2", NULL};
    struct rt_prog p = rt_start(dd, "rt_pair", NULL, env);
    rt_patch(dd, "pair.so", "rt_pair_patch.c", p.build_id, NULL);
    static const char *const both[] = {"first", "second", NULL};
    cr_assert_not_null(rt_line_after(dd, "rt_pair", 0, "first=0 second=0 v=0", 10000));

    cr_assert_eq(rt_copy_tagged(dd, "pair.so", "p1.so", 7), 0);
    json_t *res = rt_reload(dd, rt_reload_params(dd, 1, "p1.so", p.build_id, both));
    cr_assert_str_eq(rt_status(res), "refused", "the failed write did not refuse the reload");
    const char *why = json_string_value(json_object_get(res, "reason"));
    cr_assert(why && strstr(why, "nothing was changed"), "%s", why ? why : "(none)");
    json_decref(res);
    usleep(100 * 1000);
    cr_assert(!strstr(rt_output(dd, "rt_pair"), "first=7"),
              "first() kept the new code after the reload failed on second(): %s", rt_output(dd, "rt_pair"));

    cr_assert_eq(rt_copy_tagged(dd, "pair.so", "p2.so", 8), 0);
    json_decref(rt_reload_applied(dd, rt_reload_params(dd, 1, "p2.so", p.build_id, both)));
    cr_assert_not_null(rt_line_after(dd, "rt_pair", 0, "first=8 second=8 v=1", 10000), "%s",
                       rt_output(dd, "rt_pair"));
    rt_terminate(p.pid);
    rt_driver_free(dd);
}
