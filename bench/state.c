/* make bench-state (part of make bench): the pause a program sees when a
 * reload migrates its typed state blocks (runtime/hooks.c hooks_migrate,
 * run on the program's thread at the safe point, after the new code is in
 * place): 10 MB of blocks, as ten blocks of 1 MB and as one of 10 MB.
 *
 * The plans are the ones lsp/migrate.c builds for these changes (written
 * out here, so that the bench measures the runtime alone):
 *   convert: struct p { float x, y; int alive; } -> { double x, y; int alive; int age; }
 *            (a repeat over the array: two float -> double conversions and a copy per element)
 *   append:  a field added at the end of a struct of one big array (one copy)
 *   same:    the type did not change (fromLayout == toLayout: nothing to do)
 * Each case runs `runs` times on fresh blocks; the median and the worst
 * are printed, with the new blocks allocated ahead by the runtime's thread
 * (hooks_migrate_prepare, as the runtime does) and, for comparison,
 * allocated at the safe point. Usage: state RUNS */
#include <hot.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hooks.h"
#include "migrate.h"

#define MB (1u << 20)

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

struct old_p {
    float x, y;
    int alive;
};
struct new_p {
    double x, y;
    int alive;
    int age;
};

static size_t migrated;

static void on_migrated(const char *name, const char *type, const char *how, const char *const *defaulted,
                        size_t ndefaulted, void *user)
{
    (void)name;
    (void)type;
    (void)how;
    (void)defaulted;
    (void)ndefaulted;
    (void)user;
    migrated++;
}

/* One run: `blocks` blocks of `size` bytes of a fresh type, filled, then
 * migrated by `plan` (its type set here). Returns the nanoseconds of
 * hooks_migrate. */
static int64_t run_once(struct migrate_plan *plan, int blocks, size_t size, int serial, const char *tag, int prepared)
{
    char type[64], name[64];
    snprintf(type, sizeof type, "struct bench_%s_%d", tag, serial);
    for (int i = 0; i < blocks; i++) {
        snprintf(name, sizeof name, "%s-%d-%d", tag, serial, i);
        unsigned char *b = hot_state_typed(name, size, type, NULL);
        if (!b) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        for (size_t k = 0; k < size; k += sizeof(struct old_p)) {
            struct old_p v = { (float)k, 1.0f, 1 };
            if (k + sizeof v <= size)
                memcpy(b + k, &v, sizeof v);
        }
    }
    plan->type = type;
    migrated = 0;
    /* as the runtime's thread does when the reload arrives */
    struct hooks_prepared *pre = prepared ? hooks_migrate_prepare(plan, 1) : NULL;
    int64_t t0 = now_ns();
    hooks_migrate(plan, 1, pre, on_migrated, NULL);
    int64_t t = now_ns() - t0;
    hooks_prepared_free(pre);
    if (strcmp(plan->from_layout, plan->to_layout) != 0 && migrated != (size_t)blocks) {
        fprintf(stderr, "%s: %zu of %d blocks migrated\n", tag, migrated, blocks);
        exit(1);
    }
    return t;
}

static void report(const char *what, int64_t *t, int runs, size_t bytes)
{
    qsort(t, (size_t)runs, sizeof *t, cmp);
    double med = t[runs / 2] / 1e6, worst = t[runs - 1] / 1e6;
    printf("| %-44s | %8.2f | %8.2f | %7.0f |\n", what, med, worst, med > 0 ? bytes / (double)MB / (med / 1e3) : 0);
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    int64_t *t = calloc((size_t)runs, sizeof *t);
    if (runs < 1 || !t)
        return 2;

    /* convert: the per-element plan */
    struct migrate_op elem[] = {
        { .kind = MIGRATE_CONVERT, .from = 0, .to = 0, .from_num = MIGRATE_FLOAT, .from_size = 4,
          .to_num = MIGRATE_FLOAT, .to_size = 8, .field = "v[].x" },
        { .kind = MIGRATE_CONVERT, .from = 4, .to = 8, .from_num = MIGRATE_FLOAT, .from_size = 4,
          .to_num = MIGRATE_FLOAT, .to_size = 8, .field = "v[].y" },
        { .kind = MIGRATE_COPY, .from = 8, .to = 16, .size = 4, .field = "v[].alive" },
    };
    size_t small = MB / sizeof(struct old_p) * sizeof(struct old_p), big = 10 * small;
    struct migrate_op conv1 = { .kind = MIGRATE_REPEAT, .count = small / sizeof(struct old_p),
                                .from_stride = sizeof(struct old_p), .to_stride = sizeof(struct new_p), .ops = elem,
                                .nops = 3, .field = "v[]" };
    struct migrate_op conv10 = conv1;
    conv10.count = big / sizeof(struct old_p);
    struct migrate_plan p_conv1 = { .from_layout = "a", .to_layout = "b", .old_size = small,
                                    .new_size = conv1.count * sizeof(struct new_p), .ops = &conv1, .nops = 1 };
    struct migrate_plan p_conv10 = { .from_layout = "a", .to_layout = "b", .old_size = big,
                                     .new_size = conv10.count * sizeof(struct new_p), .ops = &conv10, .nops = 1 };
    struct migrate_op app1 = { .kind = MIGRATE_COPY, .size = small, .field = "v" };
    struct migrate_op app10 = { .kind = MIGRATE_COPY, .size = big, .field = "v" };
    struct migrate_plan p_app1 = { .from_layout = "a", .to_layout = "b", .old_size = small, .new_size = small + 8,
                                   .ops = &app1, .nops = 1 };
    struct migrate_plan p_app10 = { .from_layout = "a", .to_layout = "b", .old_size = big, .new_size = big + 8,
                                    .ops = &app10, .nops = 1 };
    struct migrate_plan p_same = { .from_layout = "a", .to_layout = "a", .old_size = big, .new_size = big,
                                   .ops = &app10, .nops = 1 };
    char why[200];
    struct migrate_plan *all[] = { &p_conv1, &p_conv10, &p_app1, &p_app10, &p_same };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (migrate_validate(all[i], why, sizeof why) != 0) {
            fprintf(stderr, "bad plan %zu: %s\n", i, why);
            return 1;
        }

    printf("Typed state migration at the safe point: 10 MB of blocks (hooks_migrate; %d runs, fresh blocks "
           "each)\n\n",
           runs);
    struct {
        const char *what, *tag;
        struct migrate_plan *plan;
        int blocks;
        size_t size;
    } cases[] = {
        { "10 x 1 MB, float -> double per element", "conv1", &p_conv1, 10, small },
        { "1 x 10 MB, float -> double per element", "conv10", &p_conv10, 1, big },
        { "10 x 1 MB, a field added at the end", "app1", &p_app1, 10, small },
        { "1 x 10 MB, a field added at the end", "app10", &p_app10, 1, big },
        { "1 x 10 MB, type unchanged (kept as it is)", "same", &p_same, 1, big },
    };
    for (int prepared = 1; prepared >= 0; prepared--) {
        printf("%s| %-44s | %8s | %8s | %7s |\n", prepared ? "" : "\n",
               prepared ? "new blocks allocated ahead (the runtime)" : "new blocks allocated at the safe point",
               "ms med", "ms worst", "MB/s");
        printf("|%s|%s|%s|%s|\n", "----------------------------------------------", "----------", "----------",
               "---------");
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            char tag[32];
            snprintf(tag, sizeof tag, "%s%d", cases[c].tag, prepared);
            for (int r = 0; r < runs; r++)
                t[r] = run_once(cases[c].plan, cases[c].blocks, cases[c].size, r, tag, prepared);
            report(cases[c].what, t, runs, (size_t)cases[c].blocks * cases[c].size);
        }
    }
    free(t);
    return 0;
}
