/* migrate: turning a state block of an old layout into one of a new layout,
 * following a plan the server built from the compiler's description of both
 * (docs/protocol.md, hot/reload `migrations`). No JSON, no locks, no
 * allocation: bytes in, bytes out, every offset checked first. */
#ifndef HOTC_MIGRATE_H
#define HOTC_MIGRATE_H

#include <stddef.h>

enum migrate_kind {
    MIGRATE_COPY,    /* `size` bytes from `from` to `to` */
    MIGRATE_CONVERT, /* one number: read as from_num/from_size, written as to_num/to_size */
    MIGRATE_REPEAT   /* `ops` run `count` times, strides added to both sides */
};

enum migrate_num { MIGRATE_SIGNED, MIGRATE_UNSIGNED, MIGRATE_FLOAT, MIGRATE_BOOL };

struct migrate_op {
    enum migrate_kind kind;
    size_t from, to, size;
    enum migrate_num from_num, to_num;
    unsigned from_size, to_size;           /* 1, 2, 4, 8 (16: long double, floats only) */
    size_t count, from_stride, to_stride;  /* MIGRATE_REPEAT */
    struct migrate_op *ops;
    size_t nops;
    const char *field;                     /* for warnings: "speed", "ships[].hp" */
};

/* One type's plan: blocks of `type` that are `old_size` bytes become
 * `new_size` bytes. */
struct migrate_plan {
    const char *type;
    const char *from_layout, *to_layout; /* fingerprints of the layouts (the server's); equal: unchanged */
    size_t old_size, new_size;
    struct migrate_op *ops;
    size_t nops;
};

/* Whether every op of `plan` stays inside old_size (reads) and new_size
 * (writes) and every number has a size the runtime converts. Returns 0, or
 * -1 with the first bad op's field in `why`. */
int migrate_validate(const struct migrate_plan *plan, char *why, size_t whysz);

/* Called for a number that does not fit its new type (left zero). */
typedef void (*migrate_defaulted_fn)(const char *field, void *user);

/* Runs a validated plan: `to` (new_size bytes) must be zeroed, `from` is
 * old_size bytes. */
void migrate_run(const struct migrate_plan *plan, const void *from, void *to, migrate_defaulted_fn defaulted,
                 void *user);

#endif
