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

/* ---------------------------------------------------------------- descriptions */

/* The element count of an array type (its dimensions multiplied) and its
 * dimensions, outermost first, into `dims` (may be NULL). */
static uint64_t elements(Dwarf_Die *array, json_t *dims)
{
    Dwarf_Die child;
    uint64_t total = 1;
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
        if (dims)
            json_array_append_new(dims, json_integer((json_int_t)count));
    } while (dwarf_siblingof(&child, &child) == 0);
    return total;
}

static void fingerprint_hex(Dwarf_Die *type, char out[17]);

static json_t *describe(Dwarf_Die *in, int depth)
{
    Dwarf_Die t, child;
    char spelled[160] = "", fp[17];
    json_t *d;

    spell(in, spelled, sizeof spelled);
    if (!debuginfo_peel(in, &t))
        return json_pack("{s:s, s:I, s:s}", "kind", "void", "size", (json_int_t)0, "spell", spelled);
    fingerprint_hex(&t, fp);
    const char *num = number_kind(&t);
    int tag = dwarf_tag(&t);
    const char *kind = num ? "number"
                       : tag == DW_TAG_pointer_type   ? "pointer"
                       : tag == DW_TAG_structure_type ? "struct"
                       : tag == DW_TAG_array_type     ? "array"
                       : tag == DW_TAG_union_type     ? "union"
                                                      : "other";
    d = json_pack("{s:s, s:I, s:s, s:s}", "kind", kind, "size", (json_int_t)size_of(&t), "spell", spelled, "fp", fp);
    if (!d)
        return NULL;
    if (num)
        json_object_set_new(d, "num", json_string(num));
    if (tag == DW_TAG_pointer_type)
        json_object_set_new(d, "pointers", json_true());
    if (depth > MAX_DEPTH) {
        json_object_set_new(d, "kind", json_string("other"));
        return d;
    }
    if ((tag == DW_TAG_structure_type || tag == DW_TAG_union_type) && dwarf_child(&t, &child) == 0) {
        json_t *members = json_array();
        do {
            Dwarf_Die mt;
            if (dwarf_tag(&child) != DW_TAG_member || !debuginfo_type_of(&child, &mt))
                continue;
            const char *name = dwarf_diename(&child);
            json_t *sub = describe(&mt, depth + 1);
            json_t *m = json_pack("{s:I, s:o}", "offset", (json_int_t)udata(&child, DW_AT_data_member_location),
                                  "type", sub ? sub : json_null());
            if (!m)
                continue;
            if (name)
                json_object_set_new(m, "name", json_string(name));
            if (dwarf_hasattr(&child, DW_AT_bit_size))
                json_object_set_new(m, "bits",
                                    json_pack("[I, I, I]", (json_int_t)udata(&child, DW_AT_bit_size),
                                              (json_int_t)udata(&child, DW_AT_data_bit_offset),
                                              (json_int_t)udata(&child, DW_AT_bit_offset)));
            if (sub && json_is_true(json_object_get(sub, "pointers")))
                json_object_set_new(d, "pointers", json_true());
            json_array_append_new(members, m);
        } while (dwarf_siblingof(&child, &child) == 0);
        json_object_set_new(d, "members", members);
    }
    if (tag == DW_TAG_array_type) {
        json_t *dims = json_array();
        uint64_t n = elements(&t, dims);
        json_t *elem = debuginfo_type_of(&t, &child) ? describe(&child, depth + 1) : NULL;
        json_object_set_new(d, "count", json_integer((json_int_t)n));
        json_object_set_new(d, "dims", dims);
        if (elem && json_is_true(json_object_get(elem, "pointers")))
            json_object_set_new(d, "pointers", json_true());
        if (elem)
            json_object_set_new(d, "element", elem);
    }
    return d;
}

json_t *migrate_describe(Dwarf_Die *type)
{
    return describe(type, 0);
}

/* ---------------------------------------------------------------- plans */

struct planner {
    json_t *notes;
    bool restart;            /* across a process: pointers are not carried */
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

static const char *str(json_t *d, const char *key)
{
    const char *s = json_string_value(json_object_get(d, key));
    return s ? s : "";
}

static uint64_t num(json_t *d, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(d, key));
}

/* Appends a copy, merged with the previous op when they are adjacent on
 * both sides. */
static void add_copy(json_t *ops, uint64_t from, uint64_t to, uint64_t size)
{
    size_t n = json_array_size(ops);
    json_t *last = n ? json_array_get(ops, n - 1) : NULL;
    if (!size)
        return;
    if (last && strcmp(str(last, "op"), "copy") == 0) {
        uint64_t lf = num(last, "from"), lt = num(last, "to"), ls = num(last, "size");
        if (from >= lf + ls && to >= lt + ls && from - (lf + ls) == to - (lt + ls) && from - (lf + ls) <= MERGE_GAP) {
            json_object_set_new(last, "size", json_integer((json_int_t)(from + size - lf)));
            return;
        }
    }
    json_array_append_new(ops, json_pack("{s:s, s:I, s:I, s:I}", "op", "copy", "from", (json_int_t)from, "to",
                                         (json_int_t)to, "size", (json_int_t)size));
}

static void plan_value(struct planner *pl, json_t *ops, json_t *od, json_t *nd, uint64_t from, uint64_t to,
                       const char *path, int depth);

static void plan_array(struct planner *pl, json_t *ops, json_t *od, json_t *nd, uint64_t from, uint64_t to,
                       const char *path, int depth)
{
    json_t *oe = json_object_get(od, "element"), *ne = json_object_get(nd, "element");
    json_t *odims = json_object_get(od, "dims"), *ndims = json_object_get(nd, "dims");
    uint64_t on = num(od, "count"), nn = num(nd, "count");
    if (!oe || !ne || ((json_array_size(odims) > 1 || json_array_size(ndims) > 1) && !json_equal(odims, ndims))) {
        note(pl, "field `%s`: an array whose dimensions changed cannot be migrated, defaulted (0)", path);
        return;
    }
    uint64_t os = num(oe, "size"), ns = num(ne, "size"), n = on < nn ? on : nn;
    if (on != nn)
        note(pl, "`%s` %" PRIu64 " → %" PRIu64 " elements%s", path, on, nn, nn < on ? " (the last dropped)" : "");
    if (!n || !os || !ns)
        return;
    char elem_path[300];
    snprintf(elem_path, sizeof elem_path, "%s[]", path);
    json_t *sub = json_array();
    /* the notes of one element stand for all; an unchanged element makes
     * one copy of the whole array */
    plan_value(pl, sub, oe, ne, 0, 0, elem_path, depth + 1);
    if (json_array_size(sub) == 1 && os == ns) {
        json_t *op = json_array_get(sub, 0);
        if (strcmp(str(op, "op"), "copy") == 0 && num(op, "size") == os) {
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

/* The member of `members` that stands for `x` of `all`: the same name, or
 * for unnamed members the same rank among the unnamed ones. */
static json_t *counterpart(json_t *members, json_t *all, size_t x)
{
    const char *name = json_string_value(json_object_get(json_array_get(all, x), "name"));
    size_t rank = 0, i;
    json_t *m;
    if (name) {
        json_array_foreach(members, i, m)
            if (strcmp(str(m, "name"), name) == 0)
                return m;
        return NULL;
    }
    for (i = 0; i < x; i++)
        rank += json_object_get(json_array_get(all, i), "name") == NULL;
    json_array_foreach(members, i, m)
        if (!json_object_get(m, "name") && rank-- == 0)
            return m;
    return NULL;
}

static void plan_struct(struct planner *pl, json_t *ops, json_t *od, json_t *nd, uint64_t from, uint64_t to,
                        const char *path, int depth)
{
    json_t *om = json_object_get(od, "members"), *nm = json_object_get(nd, "members"), *y;
    json_t *matched = json_object();
    size_t i;

    json_array_foreach(nm, i, y) {
        json_t *x = counterpart(om, nm, i);
        const char *name = json_string_value(json_object_get(y, "name"));
        char sub[300], key[32];
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", name ? name : "(unnamed)");
        if (!x) {
            note(pl, "field `%s` added (0)", sub);
            continue;
        }
        snprintf(key, sizeof key, "%p", (void *)x);
        json_object_set_new(matched, key, json_true());
        uint64_t xo = num(x, "offset"), yo = num(y, "offset");
        json_t *xb = json_object_get(x, "bits"), *yb = json_object_get(y, "bits");
        if (xb || yb) {
            if (xb && yb && xo == yo && json_equal(xb, yb) && from == to) {
                /* unmoved bit-field in an unmoved struct: its storage bytes copied */
                uint64_t size = num(json_object_get(y, "type"), "size");
                add_copy(ops, from + xo, to + yo, size ? size : 1);
                continue;
            }
            note(pl, "field `%s`: a bit-field that changed cannot be migrated, defaulted (0)", sub);
            continue;
        }
        plan_value(pl, ops, json_object_get(x, "type"), json_object_get(y, "type"), from + xo, to + yo, sub,
                   depth + 1);
    }
    json_array_foreach(om, i, y) {
        char key[32];
        const char *name = json_string_value(json_object_get(y, "name"));
        snprintf(key, sizeof key, "%p", (void *)y);
        if (!json_object_get(matched, key))
            note(pl, "field `%s%s%s` removed", path, *path ? "." : "", name ? name : "(unnamed)");
    }
    json_decref(matched);
}

static void plan_value(struct planner *pl, json_t *ops, json_t *od, json_t *nd, uint64_t from, uint64_t to,
                       const char *path, int depth)
{
    const char *okind = str(od, "kind"), *nkind = str(nd, "kind");
    const char *os = str(od, "spell"), *ns = str(nd, "spell");
    uint64_t osz = num(od, "size"), nsz = num(nd, "size");
    const char *shown = *path ? path : "(the block)";

    if (!od || !nd || strcmp(okind, "void") == 0 || strcmp(nkind, "void") == 0 || depth > MAX_DEPTH) {
        note(pl, "field `%s` cannot be migrated, defaulted (0)", shown);
        return;
    }
    if (strcmp(okind, "number") == 0 && strcmp(nkind, "number") == 0) {
        const char *ok = str(od, "num"), *nk = str(nd, "num");
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
            note(pl, "field `%s` `%s` → `%s` cannot be migrated, defaulted (0)", shown, os, ns);
            return;
        }
        json_array_append_new(ops, json_pack("{s:s, s:I, s:I, s:s, s:I, s:s, s:I, s:s}", "op", "convert", "from",
                                             (json_int_t)from, "to", (json_int_t)to, "fromKind", ok, "fromSize",
                                             (json_int_t)osz, "toKind", nk, "toSize", (json_int_t)nsz, "field",
                                             path));
        note(pl, "`%s` %s → %s", path, os, ns);
        return;
    }
    if (strcmp(okind, "pointer") == 0 && strcmp(nkind, "pointer") == 0 && osz == nsz) {
        if (pl->restart)
            note(pl, "pointer `%s` reset to NULL", shown);
        else
            add_copy(ops, from, to, osz);
        return;
    }
    bool pointers = json_is_true(json_object_get(nd, "pointers"));
    if (strcmp(okind, nkind) == 0 && osz == nsz && strcmp(str(od, "fp"), str(nd, "fp")) == 0 &&
        (!pl->restart || !pointers)) { /* laid out the same: one copy */
        add_copy(ops, from, to, osz);
        return;
    }
    if (strcmp(okind, "struct") == 0 && strcmp(nkind, "struct") == 0) {
        plan_struct(pl, ops, od, nd, from, to, path, depth);
        return;
    }
    if (strcmp(okind, "array") == 0 && strcmp(nkind, "array") == 0) {
        plan_array(pl, ops, od, nd, from, to, path, depth);
        return;
    }
    if (pl->restart && pointers && strcmp(str(od, "fp"), str(nd, "fp")) == 0)
        note(pl, "field `%s` holds a pointer and cannot cross a restart, defaulted (0)", shown);
    else
        note(pl, "field `%s` `%s` → `%s` cannot be migrated, defaulted (0)", shown, os, ns);
}

json_t *migrate_plan_from(json_t *old_desc, json_t *new_desc, const char *type, bool restart)
{
    struct planner pl = { .notes = json_array(), .restart = restart };
    json_t *ops = json_array();
    const char *fa = str(old_desc, "fp"), *fb = str(new_desc, "fp");

    if (old_desc && new_desc && strcmp(str(old_desc, "kind"), "void") != 0 &&
        strcmp(str(new_desc, "kind"), "void") != 0) {
        if (strcmp(fa, fb) == 0 && (!restart || !json_is_true(json_object_get(new_desc, "pointers"))))
            add_copy(ops, 0, 0, num(old_desc, "size"));
        else
            plan_value(&pl, ops, old_desc, new_desc, 0, 0, "", 0);
    }
    return json_pack("{s:s, s:I, s:I, s:s, s:s, s:o, s:o}", "type", type, "oldSize", (json_int_t)num(old_desc, "size"),
                     "newSize", (json_int_t)num(new_desc, "size"), "fromLayout", fa, "toLayout", fb, "ops", ops,
                     "notes", pl.notes);
}

json_t *migrate_plan(Dwarf_Die *old_type, Dwarf_Die *new_type, const char *type)
{
    json_t *od = migrate_describe(old_type), *nd = migrate_describe(new_type);
    json_t *plan = od && nd ? migrate_plan_from(od, nd, type, false) : NULL;
    json_decref(od);
    json_decref(nd);
    return plan;
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
        h = mix_num(h, elements(&t, NULL));
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

static void fingerprint_hex(Dwarf_Die *type, char out[17])
{
    migrate_fingerprint(type, out);
}
