/* rt_fixture: the steps the runtime's tests share, over rt_driver, each one
 * asserted with Criterion: a step that fails ends the test with a message
 * that shows the program's output (rt_driver_program). With them a test
 * reads as what it checks: start a program, build a patch, reload, look at
 * what the program prints.
 *
 * Every wait has a generous limit (20 s for an attach, 30 s for an answer,
 * 10 s for SIGTERM, 60 s for a program to finish); none of them is a
 * timing check. */
#ifndef HOTC_RT_FIXTURE_H
#define HOTC_RT_FIXTURE_H

#include <jansson.h>
#include <sys/types.h>

#include "rt_driver.h"

/* A new driver on a Unix socket (rt_driver_new), asserted. */
struct rt_driver *rt_new(void);

/* Builds test program `name` into the driver's directory, linked with
 * libhotc: rt_basic from rt_basic_main.c and rt_basic_other.c, any other
 * from tests/programs/<name>.c. */
void rt_build(struct rt_driver *d, const char *name);

/* A program started by rt_start. */
struct rt_prog {
    pid_t pid;
    json_t *attach;       /* its hot/attach params: the driver's, until its next accept */
    const char *build_id; /* the attach's buildId (inside `attach`) */
};

/* rt_build, then starts the program with `args` and `env` (as rt_spawn) and
 * waits for it to attach; asserts that it attached with a buildId. */
struct rt_prog rt_start(struct rt_driver *d, const char *name, const char *const *args,
                        const char *const *env);

/* rt_build_patch, asserted: tests/programs/<source> built into <dir>/<lib>
 * for `build_id`, with `defines` (NULL-terminated, may be NULL). */
void rt_patch(struct rt_driver *d, const char *lib, const char *source, const char *build_id,
              const char *const *defines);

/* hot/reload params: <dir>/<lib> as `version`, for `build_id`, replacing
 * the functions named in `functions` (NULL-terminated) by the patch's
 * __hotc_f_<name>, and no statics. New reference. */
json_t *rt_reload_params(struct rt_driver *d, int version, const char *lib, const char *build_id,
                         const char *const *functions);

/* hot/reload params for a patch built from rt_basic_patch.c: step() and the
 * statics it uses, f_count (file scope) and l_count (local to step), both
 * of rt_basic_main.c. New reference. */
json_t *rt_basic_reload(struct rt_driver *d, int version, const char *lib, const char *build_id);

/* Sends hot/reload with `params` (stolen); asserts that it is answered with
 * a result. Returns the result (new reference). */
json_t *rt_reload(struct rt_driver *d, json_t *params);

/* rt_reload, asserting that the result's status is "applied". */
json_t *rt_reload_applied(struct rt_driver *d, json_t *params);

/* A result's "status" ("" when it has none). */
const char *rt_status(const json_t *result);

/* Sends SIGTERM; asserts that the program exits with status 0. */
void rt_terminate(pid_t pid);

/* Waits for the driver's program to end by itself; asserts that it exits
 * with status 0. Returns its output (rt_output's static buffer). */
const char *rt_finished(struct rt_driver *d, pid_t pid);

#endif
