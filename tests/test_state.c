/* lsp/state: per-function reload state and the hotc/status payload. */
#include <criterion/criterion.h>
#include <string.h>

#include "state.h"

Test(state, reloads_and_stale_reasons)
{
    struct state s;
    struct state_function *f;

    state_init(&s);
    cr_assert_null(state_get(&s, "/a.c", "update"));
    state_set_running(&s, "/a.c", "update", 1);
    state_record(&s, "/a.c", "update", 2, "applied", NULL, 1800);
    f = state_get(&s, "/a.c", "update");
    cr_assert_eq(f->version, 2);
    cr_assert_eq(f->reloads, 1);
    cr_assert_eq(f->last_us, 1800);
    state_record(&s, "/a.c", "update", 3, "refused", "cannot bind static 'n'", 0);
    cr_assert_eq(f->version, 2);
    cr_assert_str_eq(f->stale, "cannot bind static 'n'");
    cr_assert_eq(f->n_history, 2);
    cr_assert_str_eq(f->history[1].result, "refused");
    for (int i = 0; i < 30; i++)
        state_record(&s, "/a.c", "update", 4 + i, "applied", NULL, 10);
    cr_assert_eq(f->n_history, STATE_HISTORY_MAX);
    cr_assert_eq(f->history[STATE_HISTORY_MAX - 1].version, 33);
    cr_assert_null(f->stale);
    state_reset_running(&s);
    cr_assert_eq(f->version, 0);
    state_release(&s);
}

Test(state, rollback_remembers_the_version_it_left)
{
    struct state s;
    struct state_function *f;

    state_init(&s);
    state_set_running(&s, "/a.c", "update", 0);
    state_record(&s, "/a.c", "update", 1, "applied", NULL, 900);
    state_record(&s, "/a.c", "update", 0, "compileError", "compile error", 0);
    f = state_get(&s, "/a.c", "update");
    cr_assert_eq(f->rolled_back_from, 0);
    state_record(&s, "/a.c", "update", 0, "rollback", "rolled back to v0", 0);
    cr_assert_eq(f->version, 0);
    cr_assert_eq(f->rolled_back_from, 1);
    cr_assert_null(f->stale, "the stale reason was about the code rolled away from");
    /* the same rollback answered by a second program */
    state_record(&s, "/a.c", "update", 0, "rollback", "rolled back to v0", 0);
    cr_assert_eq(f->rolled_back_from, 1);
    cr_assert_str_eq(f->history[f->n_history - 1].result, "rollback");
    state_record(&s, "/a.c", "update", 2, "applied", NULL, 700);
    cr_assert_eq(f->version, 2);
    cr_assert_eq(f->rolled_back_from, 0);
    state_release(&s);
}

Test(state, status_payload)
{
    struct state s;
    json_t *st;

    state_init(&s);
    s.reloads = 3;
    s.programs = 1;
    state_set_last(&s, json_pack("{s:s, s:s}", "result", "applied", "message", "update()"));
    st = state_status(&s);
    cr_assert_eq(json_integer_value(json_object_get(st, "reloads")), 3);
    cr_assert_eq(json_integer_value(json_object_get(st, "programs")), 1);
    cr_assert(json_is_false(json_object_get(st, "compiling")));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(st, "last"), "result")), "applied");
    json_decref(st);
    state_release(&s);
}
