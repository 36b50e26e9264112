/* Hooks (runtime/hooks.c), in process: hot_state keeps a block across calls
 * and migrates it when its version changes; hot_on_reload callbacks run
 * with the phase and version; errors have texts. */
#include <criterion/criterion.h>
#include <string.h>

#include "hooks.h"
#include "hot.h"

struct v1 {
    int a, b;
};
struct v2 {
    int b, a, c;
};

static void migrate(void *new_block, size_t new_size, const void *old_block, size_t old_size,
                    int old_version)
{
    cr_assert_eq(old_version, 1);
    cr_assert_eq(old_size, sizeof(struct v1));
    cr_assert_eq(new_size, sizeof(struct v2));
    const struct v1 *o = old_block;
    struct v2 *n = new_block;
    n->a = o->a;
    n->b = o->b;
    n->c = 7;
}

Test(hooks, state_survives_and_migrates)
{
    struct v1 *s = hot_state("game", sizeof *s, 1, NULL);
    cr_assert_not_null(s);
    cr_assert_eq(s->a + s->b, 0);
    s->a = 3;
    s->b = 4;
    cr_assert_eq(hot_state("game", sizeof *s, 1, NULL), s);
    struct v2 *t = hot_state("game", sizeof *t, 2, migrate);
    cr_assert(t->a == 3 && t->b == 4 && t->c == 7);
    /* without migrate: the common prefix is kept */
    int *u = hot_state("game", 2 * sizeof(int), 3, NULL);
    cr_assert(u[0] == 4 && u[1] == 3);
    cr_assert_null(hot_state(NULL, 4, 1, NULL));
}

static int calls[2], last_version;

static void on_reload(enum hot_phase phase, int version, void *user)
{
    cr_assert_eq(user, calls);
    calls[phase]++;
    last_version = version;
}

Test(hooks, callbacks_run_with_phase_and_version)
{
    cr_assert_eq(hot_on_reload(on_reload, calls), 0);
    cr_assert_eq(hot_on_reload(NULL, NULL), HOT_EINVAL);
    hooks_run(HOT_BEFORE, 5);
    hooks_run(HOT_AFTER, 5);
    cr_assert(calls[HOT_BEFORE] == 1 && calls[HOT_AFTER] == 1 && last_version == 5);
    for (int i = 1; i < 16; i++)
        cr_assert_eq(hot_on_reload(on_reload, calls), 0);
    cr_assert_eq(hot_on_reload(on_reload, calls), HOT_ETOOMANY);
}

Test(hooks, errors_have_texts_and_nothing_runs_before_a_reload)
{
    cr_assert_str_eq(hot_strerror(HOT_ENOROLLBACK), "nothing to roll back to");
    cr_assert(strstr(hot_strerror(HOT_ECRASHED), "rolled back"));
    cr_assert_str_eq(hot_strerror(12345), "unknown error");
    cr_assert_eq(hot_version(), 0);
    cr_assert_eq(hot_poll(), 0);
}
