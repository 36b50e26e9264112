/* migrate: see migrate.h. */
#include "migrate.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int num_size_ok(enum migrate_num num, unsigned size)
{
    if (num == MIGRATE_FLOAT)
        return size == 4 || size == 8 || size == 16;
    return size == 1 || size == 2 || size == 4 || size == 8;
}

/* Checks `ops` run `times` with strides into [0, old) and [0, new). */
static int validate_ops(const struct migrate_op *ops, size_t n, size_t old_size, size_t new_size, int depth,
                        char *why, size_t whysz)
{
    if (depth > 16) {
        snprintf(why, whysz, "the plan nests too deep");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct migrate_op *op = &ops[i];
        const char *field = op->field ? op->field : "?";
        switch (op->kind) {
        case MIGRATE_COPY:
            if (op->from > old_size || op->size > old_size - op->from || op->to > new_size ||
                op->size > new_size - op->to)
                goto out_of_bounds;
            break;
        case MIGRATE_CONVERT:
            if (!num_size_ok(op->from_num, op->from_size) || !num_size_ok(op->to_num, op->to_size)) {
                snprintf(why, whysz, "field `%s`: a number of %u or %u bytes cannot be converted", field,
                         op->from_size, op->to_size);
                return -1;
            }
            if (op->from > old_size || op->from_size > old_size - op->from || op->to > new_size ||
                op->to_size > new_size - op->to)
                goto out_of_bounds;
            break;
        case MIGRATE_REPEAT: {
            if (op->count == 0)
                break;
            /* the last repetition must fit: its window starts at from + (count-1) * stride */
            size_t last = op->count - 1;
            if ((op->from_stride && last > (SIZE_MAX - op->from) / op->from_stride) ||
                (op->to_stride && last > (SIZE_MAX - op->to) / op->to_stride))
                goto out_of_bounds;
            size_t from_end = op->from + last * op->from_stride, to_end = op->to + last * op->to_stride;
            if (from_end > old_size || to_end > new_size)
                goto out_of_bounds;
            if (validate_ops(op->ops, op->nops, old_size - from_end, new_size - to_end, depth + 1, why, whysz) != 0)
                return -1;
            break;
        }
        default:
            snprintf(why, whysz, "field `%s`: unknown operation", field);
            return -1;
        }
        continue;
    out_of_bounds:
        snprintf(why, whysz, "field `%s` lies outside the block (%zu → %zu bytes)", field, old_size, new_size);
        return -1;
    }
    return 0;
}

int migrate_validate(const struct migrate_plan *plan, char *why, size_t whysz)
{
    return validate_ops(plan->ops, plan->nops, plan->old_size, plan->new_size, 0, why, whysz);
}

/* The value read: exactly one of i, u, f meaningful per `kind`. */
struct value {
    enum migrate_num kind;
    int64_t i;
    uint64_t u;
    long double f;
};

static struct value load(const unsigned char *p, enum migrate_num num, unsigned size)
{
    struct value v = { .kind = num };
    if (num == MIGRATE_FLOAT) {
        if (size == 4) {
            float x;
            memcpy(&x, p, 4);
            v.f = x;
        } else if (size == 8) {
            double x;
            memcpy(&x, p, 8);
            v.f = x;
        } else {
            long double x;
            memcpy(&x, p, sizeof x < 16 ? sizeof x : 16);
            v.f = x;
        }
        return v;
    }
    uint64_t raw = 0;
    switch (size) {
    case 1: { uint8_t x; memcpy(&x, p, 1); raw = x; break; }
    case 2: { uint16_t x; memcpy(&x, p, 2); raw = x; break; }
    case 4: { uint32_t x; memcpy(&x, p, 4); raw = x; break; }
    default: memcpy(&raw, p, 8);
    }
    if (num == MIGRATE_SIGNED && size < 8 && (raw >> (size * 8 - 1)) & 1)
        raw |= ~0ull << (size * 8); /* sign-extend */
    if (num == MIGRATE_BOOL) {
        v.kind = MIGRATE_UNSIGNED;
        raw = raw != 0;
    }
    v.u = raw;
    v.i = (int64_t)raw;
    return v;
}

static void put_unsigned(unsigned char *p, uint64_t raw, unsigned size)
{
    switch (size) {
    case 1: { uint8_t x = (uint8_t)raw; memcpy(p, &x, 1); break; }
    case 2: { uint16_t x = (uint16_t)raw; memcpy(p, &x, 2); break; }
    case 4: { uint32_t x = (uint32_t)raw; memcpy(p, &x, 4); break; }
    default: memcpy(p, &raw, 8);
    }
}

/* Writes `v` as `num`/`size` at `p` when it fits; returns 0, or -1 (p untouched). */
static int store(unsigned char *p, struct value v, enum migrate_num num, unsigned size)
{
    if (num == MIGRATE_FLOAT) {
        long double x = v.kind == MIGRATE_FLOAT ? v.f : v.kind == MIGRATE_SIGNED ? (long double)v.i : (long double)v.u;
        if (size == 4) {
            if (isfinite(x) && (x < -(long double)FLT_MAX || x > (long double)FLT_MAX))
                return -1;
            float f = (float)x;
            memcpy(p, &f, 4);
        } else if (size == 8) {
            if (isfinite(x) && (x < -(long double)DBL_MAX || x > (long double)DBL_MAX))
                return -1;
            double d = (double)x;
            memcpy(p, &d, 8);
        } else {
            memcpy(p, &x, sizeof x < 16 ? sizeof x : 16);
        }
        return 0;
    }
    if (num == MIGRATE_BOOL) {
        int nonzero = v.kind == MIGRATE_FLOAT ? v.f != 0 : v.u != 0;
        put_unsigned(p, (uint64_t)nonzero, size);
        return 0;
    }
    /* integers: the value in range of the new type, fractions dropped */
    unsigned bits = size * 8;
    if (v.kind == MIGRATE_FLOAT) {
        if (!isfinite(v.f))
            return -1;
        long double t = v.f, half = 1; /* half: 2^(bits-1); casts below drop the fraction */
        for (unsigned k = 1; k < bits; k++)
            half *= 2;
        if (num == MIGRATE_SIGNED) {
            if (t <= -half - 1 || t >= half)
                return -1;
            put_unsigned(p, (uint64_t)(int64_t)t, size);
        } else {
            if (t <= -1 || t >= 2 * half)
                return -1;
            put_unsigned(p, (uint64_t)t, size);
        }
        return 0;
    }
    if (num == MIGRATE_SIGNED) {
        int64_t lo = bits == 64 ? INT64_MIN : -(int64_t)(1ull << (bits - 1));
        int64_t hi = bits == 64 ? INT64_MAX : (int64_t)((1ull << (bits - 1)) - 1);
        if (v.kind == MIGRATE_UNSIGNED ? v.u > (uint64_t)hi : (v.i < lo || v.i > hi))
            return -1;
        put_unsigned(p, (uint64_t)v.i, size);
    } else {
        uint64_t hi = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
        if ((v.kind == MIGRATE_SIGNED && v.i < 0) || v.u > hi)
            return -1;
        put_unsigned(p, v.u, size);
    }
    return 0;
}

static void run_ops(const struct migrate_op *ops, size_t n, const unsigned char *from, unsigned char *to,
                    migrate_defaulted_fn defaulted, void *user)
{
    for (size_t i = 0; i < n; i++) {
        const struct migrate_op *op = &ops[i];
        switch (op->kind) {
        case MIGRATE_COPY:
            memcpy(to + op->to, from + op->from, op->size);
            break;
        case MIGRATE_CONVERT:
            if (store(to + op->to, load(from + op->from, op->from_num, op->from_size), op->to_num, op->to_size) != 0 &&
                defaulted)
                defaulted(op->field ? op->field : "?", user);
            break;
        case MIGRATE_REPEAT:
            for (size_t k = 0; k < op->count; k++)
                run_ops(op->ops, op->nops, from + op->from + k * op->from_stride, to + op->to + k * op->to_stride,
                        defaulted, user);
            break;
        }
    }
}

void migrate_run(const struct migrate_plan *plan, const void *from, void *to, migrate_defaulted_fn defaulted,
                 void *user)
{
    run_ops(plan->ops, plan->nops, from, to, defaulted, user);
}
