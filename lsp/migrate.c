/* Migration plans from two DWARF types (see migrate.h). */
#include "migrate.h"

#include <dwarf.h>

#include "debuginfo.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 24
#define MERGE_GAP 16 /* copies this close on both sides are merged (padding copied along) */

static uint64_t size_of(Dwarf_Die *t)
{
    Dwarf_Word s = 0;
    return dwarf_aggregate_size(t, &s) == 0 ? (uint64_t)s : 0;
}

static uint64_t udata(Dwarf_Die *die, unsigned name)
{
    Dwarf_Attribute attr;
    Dwarf_Word w = 0;
    if (dwarf_attr(die, name, &attr) && dwarf_formudata(&attr, &w) == 0)
        return (uint64_t)w;
    return 0;
}

/* A short C spelling of a (peeled or not) type for notes. */
static void spell(Dwarf_Die *type, char *buf, size_t size)
{
    Dwarf_Die t;
    const char *name = dwarf_diename(type);
    switch (dwarf_tag(type)) {
    case DW_TAG_structure_type: snprintf(buf, size, "struct %s", name ? name : "<anonymous>"); return;
    case DW_TAG_union_type: snprintf(buf, size, "union %s", name ? name : "<anonymous>"); return;
    case DW_TAG_enumeration_type: snprintf(buf, size, "enum %s", name ? name : "<anonymous>"); return;
    case DW_TAG_pointer_type:
        if (debuginfo_type_of(type, &t)) {
            spell(&t, buf, size);
            if (strlen(buf) + 3 < size)
                strcat(buf, " *");
        } else {
            snprintf(buf, size, "void *");
        }
        return;
    case DW_TAG_array_type:
        if (debuginfo_type_of(type, &t))
            spell(&t, buf, size);
        if (strlen(buf) + 3 < size)
            strcat(buf, "[]");
        return;
    case DW_TAG_const_type:
    case DW_TAG_volatile_type:
    case DW_TAG_atomic_type:
    case DW_TAG_restrict_type:
        if (debuginfo_type_of(type, &t))
            spell(&t, buf, size);
        else
            snprintf(buf, size, "void");
        return;
    default: snprintf(buf, size, "%s", name ? name : "?");
    }
}

/* A number's kind for the runtime, or NULL when `t` (peeled) is not one. */
static const char *number_kind(Dwarf_Die *t)
{
    Dwarf_Die under;
    switch (dwarf_tag(t)) {
    case DW_TAG_enumeration_type:
        if (debuginfo_type_of(t, &under) && debuginfo_peel(&under, &under) && dwarf_tag(&under) == DW_TAG_base_type)
            return number_kind(&under);
        return "signed";
    case DW_TAG_base_type:
        switch (udata(t, DW_AT_encoding)) {
        case DW_ATE_signed:
        case DW_ATE_signed_char: return "signed";
        case DW_ATE_unsigned:
        case DW_ATE_unsigned_char:
        case DW_ATE_UTF: return "unsigned";
        case DW_ATE_boolean: return "bool";
        case DW_ATE_float: return "float";
        default: return NULL;
        }
    default: return NULL;
    }
}

struct planner {
    json_t *notes;
    int n_notes;
};

static void note(struct planner *pl, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void note(struct planner *pl, const char *f, ...)
{
    char buf[300];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    json_array_append_new(pl->notes, json_string(buf));
}

/* Appends a copy, merged with the previous op when they are adjacent on
 * both sides. */
static void add_copy(json_t *ops, uint64_t from, uint64_t to, uint64_t size)
{
    size_t n = json_array_size(ops);
    json_t *last = n ? json_array_get(ops, n - 1) : NULL;
    if (!size)
        return;
    if (last && strcmp(json_string_value(json_object_get(last, "op")), "copy") == 0) {
        uint64_t lf = (uint64_t)json_integer_value(json_object_get(last, "from"));
        uint64_t lt = (uint64_t)json_integer_value(json_object_get(last, "to"));
        uint64_t ls = (uint64_t)json_integer_value(json_object_get(last, "size"));
        if (from >= lf + ls && to >= lt + ls && from - (lf + ls) == to - (lt + ls) && from - (lf + ls) <= MERGE_GAP) {
            json_object_set_new(last, "size", json_integer((json_int_t)(from + size - lf)));
            return;
        }
    }
    json_array_append_new(ops, json_pack("{s:s, s:I, s:I, s:I}", "op", "copy", "from", (json_int_t)from, "to",
                                         (json_int_t)to, "size", (json_int_t)size));
}

static void plan_value(struct planner *pl, json_t *ops, Dwarf_Die *old_t, Dwarf_Die *new_t, uint64_t from, uint64_t to,
                       const char *path, int depth);

/* The element count of an array type (its dimensions multiplied), and
 * whether it has more than one dimension. */
static uint64_t elements(Dwarf_Die *array, int *dims)
{
    Dwarf_Die child;
    uint64_t total = 1;
    *dims = 0;
    if (dwarf_child(array, &child) != 0)
        return 0;
    do {
        if (dwarf_tag(&child) != DW_TAG_subrange_type)
            continue;
        Dwarf_Word count = 0;
        if (dwarf_hasattr(&child, DW_AT_count))
            count = udata(&child, DW_AT_count);
        else if (dwarf_hasattr(&child, DW_AT_upper_bound))
            count = udata(&child, DW_AT_upper_bound) + 1;
        total *= count;
        (*dims)++;
    } while (dwarf_siblingof(&child, &child) == 0);
    return total;
}

static bool same_dims(Dwarf_Die *a, Dwarf_Die *b)
{
    Dwarf_Die ca, cb;
    if (dwarf_child(a, &ca) != 0 || dwarf_child(b, &cb) != 0)
        return false;
    for (;;) {
        if (udata(&ca, DW_AT_upper_bound) != udata(&cb, DW_AT_upper_bound) ||
            udata(&ca, DW_AT_count) != udata(&cb, DW_AT_count))
            return false;
        int ea = dwarf_siblingof(&ca, &ca), eb = dwarf_siblingof(&cb, &cb);
        if (ea != 0 || eb != 0)
            return ea == eb;
    }
}

static void plan_array(struct planner *pl, json_t *ops, Dwarf_Die *old_t, Dwarf_Die *new_t, uint64_t from,
                       uint64_t to, const char *path, int depth)
{
    Dwarf_Die oe, ne;
    int odims, ndims;
    uint64_t on = elements(old_t, &odims), nn = elements(new_t, &ndims);
    if (!debuginfo_type_of(old_t, &oe) || !debuginfo_type_of(new_t, &ne) || !debuginfo_peel(&oe, &oe) || !debuginfo_peel(&ne, &ne) ||
        ((odims > 1 || ndims > 1) && !same_dims(old_t, new_t))) {
        note(pl, "field `%s`: an array whose dimensions changed cannot be migrated, defaulted (0)", path);
        return;
    }
    uint64_t os = size_of(&oe), ns = size_of(&ne), n = on < nn ? on : nn;
    if (on != nn)
        note(pl, "`%s` %" PRIu64 " → %" PRIu64 " elements%s", path, on, nn, nn < on ? " (the last dropped)" : "");
    if (!n || !os || !ns)
        return;
    char elem_path[300];
    snprintf(elem_path, sizeof elem_path, "%s[]", path);
    json_t *sub = json_array();
    /* the notes of one element stand for all; an unchanged element makes
     * one copy of the whole array */
    plan_value(pl, sub, &oe, &ne, 0, 0, elem_path, depth + 1);
    if (json_array_size(sub) == 1 && os == ns) {
        json_t *op = json_array_get(sub, 0);
        if (strcmp(json_string_value(json_object_get(op, "op")), "copy") == 0 &&
            json_integer_value(json_object_get(op, "size")) == (json_int_t)os) {
            add_copy(ops, from, to, n * os);
            json_decref(sub);
            return;
        }
    }
    if (json_array_size(sub) == 0) {
        json_decref(sub);
        return;
    }
    json_array_append_new(ops, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:o}", "op", "repeat", "from",
                                         (json_int_t)from, "to", (json_int_t)to, "count", (json_int_t)n,
                                         "fromStride", (json_int_t)os, "toStride", (json_int_t)ns, "field",
                                         elem_path, "ops", sub));
}

/* The members of a struct, in order. */
#define MAX_MEMBERS 512

struct member {
    const char *name;
    Dwarf_Die die, type;
    uint64_t offset;
    bool bitfield, matched;
};

static size_t members(Dwarf_Die *agg, struct member *m, size_t max)
{
    Dwarf_Die child;
    size_t n = 0;
    if (dwarf_child(agg, &child) != 0)
        return 0;
    do {
        if (dwarf_tag(&child) != DW_TAG_member || n == max)
            continue;
        memset(&m[n], 0, sizeof m[n]);
        m[n].name = dwarf_diename(&child);
        m[n].die = child;
        m[n].offset = udata(&child, DW_AT_data_member_location);
        m[n].bitfield = dwarf_hasattr(&child, DW_AT_bit_size);
        if (!debuginfo_type_of(&child, &m[n].type))
            continue;
        n++;
    } while (dwarf_siblingof(&child, &child) == 0);
    return n;
}

static struct member *counterpart(struct member *m, size_t n, const struct member *all, const struct member *x)
{
    size_t rank = 0;
    if (x->name) {
        for (size_t i = 0; i < n; i++)
            if (m[i].name && strcmp(m[i].name, x->name) == 0)
                return &m[i];
        return NULL;
    }
    for (const struct member *p = all; p < x; p++)
        rank += p->name == NULL;
    for (size_t i = 0; i < n; i++)
        if (!m[i].name && rank-- == 0)
            return &m[i];
    return NULL;
}

static void plan_struct(struct planner *pl, json_t *ops, Dwarf_Die *old_t, Dwarf_Die *new_t, uint64_t from,
                        uint64_t to, const char *path, int depth)
{
    struct member *om = calloc(MAX_MEMBERS, sizeof *om), *nm = calloc(MAX_MEMBERS, sizeof *nm);
    if (!om || !nm) {
        free(om);
        free(nm);
        return;
    }
    size_t on = members(old_t, om, MAX_MEMBERS), nn = members(new_t, nm, MAX_MEMBERS);
    for (size_t i = 0; i < nn; i++) {
        struct member *y = &nm[i], *x = counterpart(om, on, nm, y);
        char sub[300];
        if (y->name)
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", y->name);
        else
            snprintf(sub, sizeof sub, "%s%s(unnamed)", path, *path ? "." : "");
        if (!x) {
            note(pl, "field `%s` added (0)", sub);
            continue;
        }
        x->matched = true;
        if (x->bitfield || y->bitfield) {
            if (x->bitfield && y->bitfield && x->offset == y->offset &&
                udata(&x->die, DW_AT_bit_size) == udata(&y->die, DW_AT_bit_size) &&
                udata(&x->die, DW_AT_data_bit_offset) == udata(&y->die, DW_AT_data_bit_offset) &&
                udata(&x->die, DW_AT_bit_offset) == udata(&y->die, DW_AT_bit_offset) && x->offset == y->offset &&
                from == to) {
                /* unmoved bit-field in an unmoved struct: its storage bytes copied */
                Dwarf_Die t;
                if (debuginfo_peel(&y->type, &t))
                    add_copy(ops, from + x->offset, to + y->offset, size_of(&t) ? size_of(&t) : 1);
                continue;
            }
            note(pl, "field `%s`: a bit-field that changed cannot be migrated, defaulted (0)", sub);
            continue;
        }
        plan_value(pl, ops, &x->type, &y->type, from + x->offset, to + y->offset, sub, depth + 1);
    }
    for (size_t i = 0; i < on; i++)
        if (!om[i].matched)
            note(pl, "field `%s%s%s` removed", path, *path ? "." : "", om[i].name ? om[i].name : "(unnamed)");
    free(om);
    free(nm);
}

static void plan_value(struct planner *pl, json_t *ops, Dwarf_Die *old_in, Dwarf_Die *new_in, uint64_t from,
                       uint64_t to, const char *path, int depth)
{
    Dwarf_Die ot, nt;
    char os[120] = "", ns[120] = "";
    if (!debuginfo_peel(old_in, &ot) || !debuginfo_peel(new_in, &nt) || depth > MAX_DEPTH) {
        note(pl, "field `%s` cannot be migrated, defaulted (0)", path);
        return;
    }
    int otag = dwarf_tag(&ot), ntag = dwarf_tag(&nt);
    uint64_t osz = size_of(&ot), nsz = size_of(&nt);
    const char *ok = number_kind(&ot), *nk = number_kind(&nt);
    spell(old_in, os, sizeof os);
    spell(new_in, ns, sizeof ns);
    if (ok && nk) {
        bool float_ok = strcmp(ok, "float") != 0 || osz == 4 || osz == 8 || osz == 16;
        bool float_nk = strcmp(nk, "float") != 0 || nsz == 4 || nsz == 8 || nsz == 16;
        if (strcmp(ok, nk) == 0 && osz == nsz) {
            add_copy(ops, from, to, osz);
            return;
        }
        if (osz > 8 && strcmp(ok, "float") != 0) /* __int128 */
            float_ok = false;
        if (nsz > 8 && strcmp(nk, "float") != 0)
            float_nk = false;
        if (!float_ok || !float_nk) {
            note(pl, "field `%s` `%s` → `%s` cannot be migrated, defaulted (0)", path, os, ns);
            return;
        }
        json_array_append_new(ops, json_pack("{s:s, s:I, s:I, s:s, s:I, s:s, s:I, s:s}", "op", "convert", "from",
                                             (json_int_t)from, "to", (json_int_t)to, "fromKind", ok, "fromSize",
                                             (json_int_t)osz, "toKind", nk, "toSize", (json_int_t)nsz, "field",
                                             path));
        note(pl, "`%s` %s → %s", path, os, ns);
        return;
    }
    if (otag == DW_TAG_pointer_type && ntag == DW_TAG_pointer_type && osz == nsz) {
        add_copy(ops, from, to, osz);
        return;
    }
    if (otag == ntag && osz == nsz) {
        char fa[17], fb[17];
        migrate_fingerprint(&ot, fa);
        migrate_fingerprint(&nt, fb);
        if (strcmp(fa, fb) == 0) { /* laid out the same: one copy */
            add_copy(ops, from, to, osz);
            return;
        }
    }
    if (otag == DW_TAG_structure_type && ntag == DW_TAG_structure_type) {
        plan_struct(pl, ops, &ot, &nt, from, to, path, depth);
        return;
    }
    if (otag == DW_TAG_array_type && ntag == DW_TAG_array_type) {
        plan_array(pl, ops, &ot, &nt, from, to, path, depth);
        return;
    }
    note(pl, "field `%s` `%s` → `%s` cannot be migrated, defaulted (0)", *path ? path : "(the block)", os, ns);
}

json_t *migrate_plan(Dwarf_Die *old_type, Dwarf_Die *new_type, const char *type)
{
    struct planner pl = { .notes = json_array() };
    json_t *ops = json_array();
    Dwarf_Die ot, nt;
    char fa[17] = "", fb[17] = "";
    uint64_t osz = 0, nsz = 0;

    if (debuginfo_peel(old_type, &ot) && debuginfo_peel(new_type, &nt)) {
        migrate_fingerprint(&ot, fa);
        migrate_fingerprint(&nt, fb);
        osz = size_of(&ot);
        nsz = size_of(&nt);
        if (strcmp(fa, fb) == 0)
            add_copy(ops, 0, 0, osz);
        else
            plan_value(&pl, ops, &ot, &nt, 0, 0, "", 0);
    }
    return json_pack("{s:s, s:I, s:I, s:s, s:s, s:o, s:o}", "type", type, "oldSize", (json_int_t)osz, "newSize",
                     (json_int_t)nsz, "fromLayout", fa, "toLayout", fb, "ops", ops, "notes", pl.notes);
}

static uint64_t mix(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t mix_num(uint64_t h, uint64_t v)
{
    return mix(h, &v, sizeof v);
}

static uint64_t fingerprint(Dwarf_Die *in, uint64_t h, int depth)
{
    Dwarf_Die t, child;
    if (!debuginfo_peel(in, &t))
        return mix_num(h, 0x766f6964); /* void */
    int tag = dwarf_tag(&t);
    h = mix_num(h, (uint64_t)tag);
    h = mix_num(h, size_of(&t));
    if (depth > MAX_DEPTH)
        return h;
    switch (tag) {
    case DW_TAG_base_type:
        return mix_num(h, udata(&t, DW_AT_encoding));
    case DW_TAG_enumeration_type:
        if (dwarf_child(&t, &child) == 0)
            do {
                Dwarf_Attribute attr;
                Dwarf_Sword v = 0;
                const char *name = dwarf_diename(&child);
                if (name)
                    h = mix(h, name, strlen(name) + 1);
                if (dwarf_attr(&child, DW_AT_const_value, &attr) && dwarf_formsdata(&attr, &v) == 0)
                    h = mix_num(h, (uint64_t)v);
            } while (dwarf_siblingof(&child, &child) == 0);
        return h;
    case DW_TAG_structure_type:
    case DW_TAG_union_type:
        if (dwarf_child(&t, &child) == 0)
            do {
                Dwarf_Die mt;
                const char *name = dwarf_diename(&child);
                if (dwarf_tag(&child) != DW_TAG_member)
                    continue;
                h = mix(h, name ? name : "", name ? strlen(name) + 1 : 1);
                h = mix_num(h, udata(&child, DW_AT_data_member_location));
                h = mix_num(h, udata(&child, DW_AT_bit_size));
                h = mix_num(h, udata(&child, DW_AT_data_bit_offset) + (udata(&child, DW_AT_bit_offset) << 20));
                if (debuginfo_type_of(&child, &mt))
                    h = fingerprint(&mt, h, depth + 1);
            } while (dwarf_siblingof(&child, &child) == 0);
        return h;
    case DW_TAG_array_type: {
        int dims;
        h = mix_num(h, elements(&t, &dims));
        if (debuginfo_type_of(&t, &child))
            h = fingerprint(&child, h, depth + 1);
        return h;
    }
    default: /* pointers and the rest: kind and size */
        return h;
    }
}

void migrate_fingerprint(Dwarf_Die *type, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, fingerprint(type, 0xcbf29ce484222325ull, 0));
}
