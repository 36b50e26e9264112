/* Hooks (runtime/hooks.c), in process: hot_state keeps a block across calls
 * and migrates it when its version changes; hot_on_reload callbacks run
 * with the phase and version; errors have texts. */
#include <criterion/criterion.h>
#include <stdio.h>
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

/* Typed blocks (hot_state_typed) and a migration plan as the server sends
 * it (runtime/migrate.c): numbers converted when they fit and defaulted
 * (named) when not, an array repeated, a block of an unchanged type kept,
 * a block's own migrate function preferred, plans that would reach outside
 * a block refused. */
struct t_old {
    int small;        /* 0 */
    unsigned big;     /* 4 */
    double ratio;     /* 8 */
    short arr[3];     /* 16 */
};
struct t_new {
    long long small;  /* 0: widened */
    signed char big;  /* 8: narrowed (300 does not fit) */
    int ratio;        /* 12: double -> int */
    int arr[4];       /* 16: element widened, one more */
};

static size_t n_reports;
static char last_defaulted[64];
static char last_how[32];

static void on_report(const char *name, const char *type, const char *how, const char *const *defaulted, size_t n,
                      void *user)
{
    (void)name;
    (void)type;
    (void)user;
    n_reports++;
    snprintf(last_how, sizeof last_how, "%s", how);
    snprintf(last_defaulted, sizeof last_defaulted, "%s", n ? defaulted[0] : "");
}

static void custom(void *new_block, size_t new_size, const void *old_block, size_t old_size, int old_version)
{
    (void)new_size;
    (void)old_size;
    cr_assert_eq(old_version, 0);
    ((struct t_new *)new_block)->small = ((const struct t_old *)old_block)->small + 1000;
}

Test(hooks, typed_blocks_are_migrated_by_a_plan)
{
    struct t_old *o = HOT_STATE(struct t_old, "typed-a");
    struct t_old *k = HOT_STATE(struct  t_old, "typed-kept");
    cr_assert(o && k);
    o->small = -5;
    o->big = 300;
    o->ratio = 2.75;
    o->arr[0] = -1;
    o->arr[2] = 9;
    k->small = 77;
    cr_assert_eq(HOT_STATE(struct t_old, "typed-a"), o, "the same block for the same name");

    struct migrate_op elem = { .kind = MIGRATE_CONVERT, .from_num = MIGRATE_SIGNED, .from_size = 2,
                               .to_num = MIGRATE_SIGNED, .to_size = 4, .field = "arr[]" };
    struct migrate_op ops[] = {
        { .kind = MIGRATE_CONVERT, .from = 0, .to = 0, .from_num = MIGRATE_SIGNED, .from_size = 4,
          .to_num = MIGRATE_SIGNED, .to_size = 8, .field = "small" },
        { .kind = MIGRATE_CONVERT, .from = 4, .to = 8, .from_num = MIGRATE_UNSIGNED, .from_size = 4,
          .to_num = MIGRATE_SIGNED, .to_size = 1, .field = "big" },
        { .kind = MIGRATE_CONVERT, .from = 8, .to = 12, .from_num = MIGRATE_FLOAT, .from_size = 8,
          .to_num = MIGRATE_SIGNED, .to_size = 4, .field = "ratio" },
        { .kind = MIGRATE_REPEAT, .from = 16, .to = 16, .count = 3, .from_stride = 2, .to_stride = 4, .ops = &elem,
          .nops = 1, .field = "arr[]" },
    };
    struct migrate_plan plan = { .type = "struct t_old", .from_layout = "0000000000000001",
                                 .to_layout = "0000000000000002", .old_size = sizeof(struct t_old),
                                 .new_size = sizeof(struct t_new), .ops = ops, .nops = 4 };
    char why[200];
    cr_assert_eq(migrate_validate(&plan, why, sizeof why), 0, "%s", why);
    cr_assert_eq(hooks_migration_conflict(&plan, 1, why, sizeof why), 0);

    /* "typed-kept" gets its own function: it wins over the plan */
    cr_assert_eq(HOT_STATE_MIGRATE(struct t_old, "typed-kept", custom), k);
    n_reports = 0;
    cr_assert_eq(hooks_migrate(&plan, 1, NULL, on_report, NULL), 2);
    cr_assert_eq(n_reports, 2);

    struct t_new *n = HOT_STATE(struct t_new, "typed-a");
    cr_assert_neq((void *)n, (void *)o, "a new block");
    cr_assert_eq(n->small, -5);
    cr_assert_eq(n->big, 0, "300 does not fit a signed char: defaulted");
    cr_assert_eq(n->ratio, 2, "a double that fits an int, its fraction dropped");
    cr_assert_eq(n->arr[0], -1);
    cr_assert_eq(n->arr[2], 9);
    cr_assert_eq(n->arr[3], 0, "a new element is zero");
    cr_assert_eq(o->small, -5, "the old block stays as it was");
    struct t_new *kn = HOT_STATE(struct t_new, "typed-kept");
    cr_assert_eq(kn->small, 1077, "the block's own migrate function ran");

    /* the same plan again finds no block in its old layout */
    cr_assert_eq(hooks_migrate(&plan, 1, NULL, on_report, NULL), 0);
    cr_assert_eq(HOT_STATE(struct t_new, "typed-a"), n);
    /* a plan from a third layout is a conflict */
    struct migrate_plan other = plan;
    other.from_layout = "0000000000000003";
    other.to_layout = "0000000000000004";
    cr_assert_eq(hooks_migration_conflict(&other, 1, why, sizeof why), -1);
    cr_assert(strstr(why, "state `typed-") && strstr(why, "restart"), "%s", why);
    /* an unchanged layout keeps the block as it is */
    struct migrate_plan same = plan;
    same.from_layout = same.to_layout = "0000000000000002";
    cr_assert_eq(hooks_migrate(&same, 1, NULL, on_report, NULL), 0);
    cr_assert_eq(HOT_STATE(struct t_new, "typed-a"), n);
}

Test(hooks, a_defaulted_field_is_named_and_bad_plans_are_refused)
{
    struct t_old *o = HOT_STATE(struct t_old, "typed-b");
    o->big = 4000000000u;
    struct migrate_op op = { .kind = MIGRATE_CONVERT, .from = 4, .to = 0, .from_num = MIGRATE_UNSIGNED,
                             .from_size = 4, .to_num = MIGRATE_SIGNED, .to_size = 4, .field = "big" };
    struct migrate_plan plan = { .type = "struct t_old", .from_layout = "00000000000000aa",
                                 .to_layout = "00000000000000bb", .old_size = sizeof(struct t_old), .new_size = 4,
                                 .ops = &op, .nops = 1 };
    char why[200];
    cr_assert_eq(migrate_validate(&plan, why, sizeof why), 0, "%s", why);
    last_defaulted[0] = '\0';
    cr_assert_eq(hooks_migrate(&plan, 1, NULL, on_report, NULL), 1);
    cr_assert_str_eq(last_how, "plan");
    cr_assert_str_eq(last_defaulted, "big", "4000000000 does not fit an int");

    struct migrate_op outside = { .kind = MIGRATE_COPY, .from = 20, .to = 0, .size = 16, .field = "x" };
    struct migrate_plan bad = { .type = "t", .from_layout = "a", .to_layout = "b", .old_size = 24, .new_size = 64,
                                .ops = &outside, .nops = 1 };
    cr_assert_eq(migrate_validate(&bad, why, sizeof why), -1);
    cr_assert(strstr(why, "`x`"), "%s", why);
    struct migrate_op wide = { .kind = MIGRATE_CONVERT, .from_num = MIGRATE_SIGNED, .from_size = 3,
                               .to_num = MIGRATE_SIGNED, .to_size = 4, .field = "y" };
    bad.ops = &wide;
    cr_assert_eq(migrate_validate(&bad, why, sizeof why), -1);
    struct migrate_op rep = { .kind = MIGRATE_REPEAT, .count = 1000, .from_stride = 8, .to_stride = 8, .ops = &wide,
                              .nops = 0, .field = "z" };
    bad.ops = &rep;
    cr_assert_eq(migrate_validate(&bad, why, sizeof why), -1, "a repeat past the block");
}
