/* rt_fixture: asserted steps for the runtime's tests. See rt_fixture.h. */
#include "rt_fixture.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define ATTACH_MS 20000
#define ANSWER_MS 30000
#define TERM_MS 10000
#define FINISH_MS 60000

/* The output of the program the driver started last. */
static const char *output(struct rt_driver *d)
{
    return rt_output(d, rt_driver_program(d));
}

struct rt_driver *rt_new(void)
{
    struct rt_driver *d = rt_driver_new();
    cr_assert_not_null(d, "cannot start a test driver");
    return d;
}

void rt_build(struct rt_driver *d, const char *name)
{
    char main_source[128];
    snprintf(main_source, sizeof main_source, "%s.c", name);
    static const char *const basic[] = {"rt_basic_main.c", "rt_basic_other.c", NULL};
    const char *const single[] = {main_source, NULL};
    cr_assert_eq(rt_build_program(d, name, strcmp(name, "rt_basic") == 0 ? basic : single), 0,
                 "cannot build %s", name);
}

struct rt_prog rt_start(struct rt_driver *d, const char *name, const char *const *args,
                        const char *const *env)
{
    rt_build(d, name);
    struct rt_prog p = {.pid = rt_spawn(d, name, args, env)};
    cr_assert_gt(p.pid, 0, "cannot start %s", name);
    p.attach = rt_driver_accept(d, ATTACH_MS);
    cr_assert_not_null(p.attach, "%s did not attach: %s", name, output(d));
    p.build_id = json_string_value(json_object_get(p.attach, "buildId"));
    cr_assert_not_null(p.build_id, "no buildId in hot/attach");
    return p;
}

void rt_patch(struct rt_driver *d, const char *lib, const char *source, const char *build_id,
              const char *const *defines)
{
    cr_assert_eq(rt_build_patch(d, lib, source, build_id, defines), 0, "cannot build %s", lib);
}

json_t *rt_reload_params(struct rt_driver *d, int version, const char *lib, const char *build_id,
                         const char *const *functions)
{
    json_t *fns = json_array();
    for (size_t i = 0; functions[i]; i++) {
        char symbol[128];
        snprintf(symbol, sizeof symbol, "__hotc_f_%s", functions[i]);
        json_array_append_new(fns, json_pack("{s:s, s:s}", "name", functions[i], "symbol", symbol));
    }
    return json_pack("{s:i, s:s, s:s, s:o, s:[]}", "version", version, "library", rt_path(d, lib),
                     "targetBuildId", build_id, "functions", fns, "statics");
}

json_t *rt_basic_reload(struct rt_driver *d, int version, const char *lib, const char *build_id)
{
    static const char *const step[] = {"step", NULL};
    json_t *p = rt_reload_params(d, version, lib, build_id, step);
    json_object_set_new(p, "statics",
                        json_pack("[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s}]",
                                  "symbol", "__hotc_s_0", "name", "f_count", "file", "rt_basic_main.c",
                                  "kind", "object",
                                  "symbol", "__hotc_s_1", "name", "l_count", "file", "rt_basic_main.c",
                                  "function", "step", "kind", "object"));
    return p;
}

json_t *rt_reload(struct rt_driver *d, json_t *params)
{
    int version = (int)json_integer_value(json_object_get(params, "version"));
    json_t *r = rt_driver_request(d, "hot/reload", params, ANSWER_MS);
    cr_assert_not_null(r, "no answer to reload %d: %s", version, output(d));
    json_t *result = json_incref(json_object_get(r, "result"));
    char *text = result ? NULL : json_dumps(r, 0);
    json_decref(r);
    cr_assert_not_null(result, "reload %d: %s", version, text);
    return result;
}

json_t *rt_reload_applied(struct rt_driver *d, json_t *params)
{
    json_t *result = rt_reload(d, params);
    char *text = json_dumps(result, 0);
    cr_assert_str_eq(rt_status(result), "applied", "%s\n%s", text, output(d));
    free(text);
    return result;
}

const char *rt_status(const json_t *result)
{
    const char *status = json_string_value(json_object_get(result, "status"));
    return status ? status : "";
}

void rt_terminate(pid_t pid)
{
    kill(pid, SIGTERM);
    int status = rt_wait_exit(pid, TERM_MS);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d after SIGTERM", status);
}

const char *rt_finished(struct rt_driver *d, pid_t pid)
{
    int status = rt_wait_exit(pid, FINISH_MS);
    const char *out = output(d);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d: %s", status, out);
    return out;
}
