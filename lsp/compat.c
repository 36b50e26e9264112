/* Judging a compiled patch against the running executable (see compat.h).
 *
 * The walk starts from what the patch's compile unit names: its file-scope
 * variables and function declarations (references into the program), the
 * functions it defines (the redirected ones and their static helpers, with
 * the statics declared inside them) and the named types it uses. Each is
 * paired with what the executable resolves the same name to, and the two
 * types are compared structurally. A pair of types already being compared
 * is assumed equal, which ends the walk on recursive types (lists, trees).
 *
 * The first difference found deepest in a type is the one reported, since
 * it names what the user changed ("`struct inner` changed: field `b`
 * changed from 3 to 4 bits") rather than everything that contains it.
 *
 * Typed state (issue 13): a type the program keeps in HOT_STATE blocks may
 * change when the runtime can migrate its blocks: its pair is noted (with a
 * plan from lsp/migrate.c) and taken as equal, where the new code reaches
 * it as a named type (check_type) or through a pointer of a redirected
 * function's signature. Through a variable or a function that is not
 * redirected it is judged as any type. See same() and check_type(). */
#include "compat.h"
#include "migrate.h"

#include <dwarf.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 48
#define EQ_INITIAL 1024    /* slots of the set of pairs proven equal (grows) */

struct pair {
    Dwarf_Off a, b;
};

struct judge {
    struct debuginfo *exe;
    char **symbols;          /* per issue: "\nsym\nsym\n", what the new code refers to that disagrees */
    char msg[640];           /* the deepest difference found, "" while none */
    char anon[480];          /* the difference inside an unnamed struct or union, for its container to say */
    char file[512];          /* where the differing aggregate is declared in the new source */
    int line;
    struct pair stack[MAX_DEPTH + 2]; /* pairs being compared (assumed equal: recursive types) */
    size_t depth;
    struct pair *equal;      /* open addressing: pairs proven equal, kept across the whole check */
    size_t equal_cap, equal_n;
    struct compat_report *out;
    /* typed state: where the walk is, and the state types' pairs met */
    const struct compat_request *req;
    enum { AT_VARIABLE, AT_REDIRECTED, AT_CALLED, AT_TYPE } context;
    int pointers;            /* pointer types entered on the way down */
    struct state_pair {
        Dwarf_Off a, b;
        const char *type;
        bool changed;
    } states[32];
    size_t nstates;
    size_t accepted;         /* changed state pairs taken as equal so far: what contains them is not proven */
};

static void say(struct judge *j, Dwarf_Die *where, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void say(struct judge *j, Dwarf_Die *where, const char *f, ...)
{
    va_list ap;

    if (*j->msg)
        return;
    va_start(ap, f);
    vsnprintf(j->msg, sizeof j->msg, f, ap);
    va_end(ap);
    if (where) {
        const char *file = dwarf_decl_file(where);
        int line = 0;
        snprintf(j->file, sizeof j->file, "%s", file ? file : "");
        j->line = dwarf_decl_line(where, &line) == 0 ? line : 0;
    }
}

static bool has_flag(Dwarf_Die *die, unsigned name)
{
    Dwarf_Attribute attr;
    bool v = false;
    return dwarf_attr_integrate(die, name, &attr) && dwarf_formflag(&attr, &v) == 0 && v;
}

/* Appends `s` to the string in `buf` (`size` bytes), cut when full. */
static void cat(char *buf, size_t size, const char *s)
{
    size_t l = strlen(buf);
    while (*s && l + 1 < size)
        buf[l++] = *s++;
    buf[l] = '\0';
}

/* A C spelling of `type` (NULL: void) for messages. */
static void describe(Dwarf_Die *type, char *buf, size_t size)
{
    Dwarf_Die t, inner;
    const char *name;
    int tag;

    if (!type) {
        snprintf(buf, size, "void");
        return;
    }
    t = *type;
    tag = dwarf_tag(&t);
    name = dwarf_diename(&t);
    switch (tag) {
    case DW_TAG_structure_type:
        snprintf(buf, size, "struct %s", name ? name : "<anonymous>");
        return;
    case DW_TAG_union_type:
        snprintf(buf, size, "union %s", name ? name : "<anonymous>");
        return;
    case DW_TAG_enumeration_type:
        snprintf(buf, size, "enum %s", name ? name : "<anonymous>");
        return;
    case DW_TAG_const_type:
    case DW_TAG_volatile_type:
    case DW_TAG_restrict_type:
    case DW_TAG_atomic_type:
        if (debuginfo_type_of(&t, &inner))
            describe(&inner, buf, size);
        else
            snprintf(buf, size, "void");
        return;
    case DW_TAG_pointer_type:
        if (debuginfo_type_of(&t, &inner) && dwarf_tag(&inner) == DW_TAG_subroutine_type) {
            snprintf(buf, size, "function pointer");
            return;
        }
        describe(debuginfo_type_of(&t, &inner) ? &inner : NULL, buf, size);
        cat(buf, size, " *");
        return;
    case DW_TAG_array_type: {
        char count[32] = "[]";
        Dwarf_Word bytes = 0, elem = 0;
        Dwarf_Die et;
        describe(debuginfo_type_of(&t, &et) ? &et : NULL, buf, size);
        if (debuginfo_type_of(&t, &et) && dwarf_aggregate_size(&t, &bytes) == 0 && dwarf_aggregate_size(&et, &elem) == 0 &&
            elem)
            snprintf(count, sizeof count, "[%" PRIu64 "]", (uint64_t)(bytes / elem));
        cat(buf, size, count);
        return;
    }
    case DW_TAG_subroutine_type:
        snprintf(buf, size, "function");
        return;
    default:
        snprintf(buf, size, "%s", name ? name : "?");
    }
}

/* Spells `a` (the patch's) and `b` (the program's), quoted, for "changed
 * from <b> to <a>": when the names are the same (a typedef whose target
 * changed), each also says what it stands for: "`units_t` (`long int`)".
 * Either may be NULL (void). */
static void describe_pair(Dwarf_Die *a, Dwarf_Die *b, char *ta, char *tb, size_t size)
{
    char na[160], nb[160];

    describe(a, na, sizeof na);
    describe(b, nb, sizeof nb);
    snprintf(ta, size, "`%.*s`", (int)(size > 3 ? size - 3 : 0), na);
    snprintf(tb, size, "`%.*s`", (int)(size > 3 ? size - 3 : 0), nb);
    if (a && b && strcmp(na, nb) == 0) {
        Dwarf_Die pa, pb;
        char ia[96], ib[96];
        bool ha = debuginfo_peel(a, &pa), hb = debuginfo_peel(b, &pb);
        describe(ha ? &pa : NULL, ia, sizeof ia);
        describe(hb ? &pb : NULL, ib, sizeof ib);
        if (strcmp(ia, na) != 0 || strcmp(ib, nb) != 0) {
            cat(ta, size, " (`");
            cat(ta, size, ia);
            cat(ta, size, "`)");
            cat(tb, size, " (`");
            cat(tb, size, ib);
            cat(tb, size, "`)");
        }
    }
}

static Dwarf_Word size_of(Dwarf_Die *t)
{
    Dwarf_Word s = 0;
    return dwarf_aggregate_size(t, &s) == 0 ? s : 0;
}

static size_t slot_of(const struct judge *j, Dwarf_Off a, Dwarf_Off b)
{
    uint64_t h = (uint64_t)a * 0x9e3779b97f4a7c15ull ^ ((uint64_t)b + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull;
    return (size_t)(h ^ (h >> 29)) & (j->equal_cap - 1);
}

/* Whether the pair (a, b) is known equal. Offsets are never 0 for a DIE. */
static bool proven(const struct judge *j, Dwarf_Off a, Dwarf_Off b)
{
    if (!j->equal_cap)
        return false;
    for (size_t i = slot_of(j, a, b);; i = (i + 1) & (j->equal_cap - 1)) {
        if (j->equal[i].a == 0)
            return false;
        if (j->equal[i].a == a && j->equal[i].b == b)
            return true;
    }
}

static void prove(struct judge *j, Dwarf_Off a, Dwarf_Off b)
{
    if (j->equal_n * 2 >= j->equal_cap) {
        size_t cap = j->equal_cap ? j->equal_cap * 2 : EQ_INITIAL;
        struct pair *old = j->equal, *grown = calloc(cap, sizeof *grown);
        size_t old_cap = j->equal_cap;
        if (!grown)
            return;
        j->equal = grown;
        j->equal_cap = cap;
        j->equal_n = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].a)
                prove(j, old[i].a, old[i].b);
        free(old);
    }
    for (size_t i = slot_of(j, a, b);; i = (i + 1) & (j->equal_cap - 1)) {
        if (j->equal[i].a == a && j->equal[i].b == b)
            return;
        if (j->equal[i].a == 0) {
            j->equal[i].a = a;
            j->equal[i].b = b;
            j->equal_n++;
            return;
        }
    }
}

static bool in_progress(const struct judge *j, Dwarf_Off a, Dwarf_Off b)
{
    for (size_t i = 0; i < j->depth; i++)
        if (j->stack[i].a == a && j->stack[i].b == b)
            return true;
    return false;
}

static bool same(struct judge *j, Dwarf_Die *a, Dwarf_Die *b, int depth);

/* The members of a struct or union. */
struct member {
    const char *name;
    Dwarf_Word offset;       /* bytes */
    int64_t bit_size, bit_offset;
    Dwarf_Die die, type;
    bool has_type, matched;
};

static size_t members(Dwarf_Die *agg, struct member *m, size_t max)
{
    Dwarf_Die child;
    size_t n = 0;

    if (dwarf_child(agg, &child) != 0)
        return 0;
    do {
        Dwarf_Attribute attr;
        Dwarf_Word w = 0;
        if (dwarf_tag(&child) != DW_TAG_member || n == max)
            continue;
        memset(&m[n], 0, sizeof m[n]);
        m[n].name = dwarf_diename(&child);
        m[n].die = child;
        if (dwarf_attr(&child, DW_AT_data_member_location, &attr) && dwarf_formudata(&attr, &w) == 0)
            m[n].offset = w;
        m[n].bit_size = dwarf_hasattr(&child, DW_AT_bit_size) ? dwarf_bitsize(&child) : 0;
        if (dwarf_attr(&child, DW_AT_data_bit_offset, &attr) && dwarf_formudata(&attr, &w) == 0)
            m[n].bit_offset = (int64_t)w;
        else if (dwarf_hasattr(&child, DW_AT_bit_offset))
            m[n].bit_offset = dwarf_bitoffset(&child) + 1000000; /* big-endian style: still comparable */
        m[n].has_type = debuginfo_type_of(&child, &m[n].type);
        n++;
    } while (dwarf_siblingof(&child, &child) == 0);
    return n;
}

/* The member of `m` (n) that `x` corresponds to: same name, or the same
 * rank among unnamed members. */
static struct member *counterpart(struct member *m, size_t n, const struct member *all_x, const struct member *x)
{
    if (x->name) {
        for (size_t i = 0; i < n; i++)
            if (m[i].name && strcmp(m[i].name, x->name) == 0)
                return &m[i];
        return NULL;
    }
    size_t rank = 0;
    for (const struct member *p = all_x; p < x; p++)
        rank += p->name == NULL;
    for (size_t i = 0; i < n; i++)
        if (!m[i].name && rank-- == 0)
            return &m[i];
    return NULL;
}

static void append(char *buf, size_t size, int *parts, const char *f, ...) __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t size, int *parts, const char *f, ...)
{
    size_t len = strlen(buf);
    va_list ap;

    if (++*parts > 4) {
        if (*parts == 5 && len + 12 < size)
            strcat(buf, ", and more");
        return;
    }
    if (*parts > 1 && len + 2 < size) {
        strcat(buf, ", ");
        len += 2;
    }
    va_start(ap, f);
    vsnprintf(buf + len, size - len, f, ap);
    va_end(ap);
}

#define MAX_MEMBERS 512

static bool same_aggregate(struct judge *j, Dwarf_Die *a, Dwarf_Die *b, int depth, const char *alias)
{
    struct member *ma = malloc(MAX_MEMBERS * sizeof *ma), *mb = malloc(MAX_MEMBERS * sizeof *mb);
    char what[200], diff[480] = "", moves[480] = "";
    int parts = 0, moved = 0;
    bool ok = true;
    Dwarf_Word sa = size_of(a), sb = size_of(b);

    if (!ma || !mb) {
        free(ma);
        free(mb);
        return true;
    }
    size_t na = members(a, ma, MAX_MEMBERS), nb = members(b, mb, MAX_MEMBERS);
    for (size_t i = 0; i < na; i++) {
        struct member *x = &ma[i], *y = counterpart(mb, nb, ma, x);
        char field[160];
        snprintf(field, sizeof field, x->name ? "field `%s`" : "an unnamed member%s", x->name ? x->name : "");
        if (!y) {
            append(diff, sizeof diff, &parts, "%s added at offset %" PRIu64, field, (uint64_t)x->offset);
            ok = false;
            continue;
        }
        y->matched = true;
        if (x->offset != y->offset) {
            append(moves, sizeof moves, &moved, "%s moved from offset %" PRIu64 " to %" PRIu64, field,
                   (uint64_t)y->offset, (uint64_t)x->offset);
            ok = false;
        }
        if (x->bit_size != y->bit_size) {
            append(diff, sizeof diff, &parts, "%s changed from %" PRId64 " to %" PRId64 " bits", field, y->bit_size,
                   x->bit_size);
            ok = false;
        } else if (x->bit_offset != y->bit_offset) {
            append(moves, sizeof moves, &moved, "%s moved from bit %" PRId64 " to %" PRId64, field,
                   y->bit_offset % 1000000, x->bit_offset % 1000000);
            ok = false;
        }
        if (x->has_type != y->has_type ||
            (x->has_type && !same(j, &x->type, &y->type, depth + 1))) {
            if (*j->msg) { /* a deeper aggregate said what changed */
                free(ma);
                free(mb);
                return false;
            }
            if (*j->anon) { /* an unnamed one: said here, as part of this one */
                append(diff, sizeof diff, &parts, "%s (%s)", x->name ? field : "an unnamed member", j->anon);
                *j->anon = '\0';
                ok = false;
                continue;
            }
            char ta[160], tb[160];
            describe_pair(x->has_type ? &x->type : NULL, y->has_type ? &y->type : NULL, ta, tb, sizeof ta);
            append(diff, sizeof diff, &parts, "%s changed from %s to %s", field, tb, ta);
            ok = false;
        }
    }
    for (size_t i = 0; i < nb; i++)
        if (!mb[i].matched) {
            append(diff, sizeof diff, &parts, mb[i].name ? "field `%s` removed" : "an unnamed member removed%s",
                   mb[i].name ? mb[i].name : "");
            ok = false;
        }
    if (sa != sb)
        ok = false;
    /* fields that only moved follow from what was added, removed or
     * resized before them: said only when nothing else is (a reorder) */
    if (!*diff)
        snprintf(diff, sizeof diff, "%s", moves);
    if (!ok) {
        describe(a, what, sizeof what);
        if (!dwarf_diename(a) && alias)
            snprintf(what, sizeof what, "%s", alias);
        if (!dwarf_diename(a) && !alias) {
            /* nameless: the member or variable that holds it says it */
            if (sa != sb)
                snprintf(j->anon, sizeof j->anon, "%s%ssize %" PRIu64 " → %" PRIu64, diff, *diff ? ", " : "",
                         (uint64_t)sb, (uint64_t)sa);
            else
                snprintf(j->anon, sizeof j->anon, "%s", diff);
        } else if (sa != sb) {
            say(j, a, "`%s` changed: %s%ssize %" PRIu64 " → %" PRIu64, what, diff, *diff ? ", " : "",
                (uint64_t)sb, (uint64_t)sa);
        } else {
            say(j, a, "`%s` changed: %s", what, diff);
        }
    }
    free(ma);
    free(mb);
    return ok;
}

static bool same_enum(struct judge *j, Dwarf_Die *a, Dwarf_Die *b)
{
    Dwarf_Die ca, cb;
    char what[200];

    describe(a, what, sizeof what);
    if (size_of(a) != size_of(b)) {
        say(j, a, "`%s` changed: size %" PRIu64 " → %" PRIu64, what, (uint64_t)size_of(b), (uint64_t)size_of(a));
        return false;
    }
    if (dwarf_child(a, &ca) != 0)
        return true;
    do {
        const char *name = dwarf_diename(&ca);
        Dwarf_Attribute attr;
        Dwarf_Sword va = 0, vb = 0;
        if (dwarf_tag(&ca) != DW_TAG_enumerator || !name)
            continue;
        if (!dwarf_attr(&ca, DW_AT_const_value, &attr) || dwarf_formsdata(&attr, &va) != 0)
            continue;
        if (dwarf_child(b, &cb) != 0)
            break;
        do {
            const char *other = dwarf_diename(&cb);
            if (dwarf_tag(&cb) != DW_TAG_enumerator || !other || strcmp(other, name) != 0)
                continue;
            if (dwarf_attr(&cb, DW_AT_const_value, &attr) && dwarf_formsdata(&attr, &vb) == 0 && va != vb) {
                say(j, a, "`%s` changed: constant `%s` changed from %" PRId64 " to %" PRId64, what, name,
                    (int64_t)vb, (int64_t)va);
                return false;
            }
            break;
        } while (dwarf_siblingof(&cb, &cb) == 0);
    } while (dwarf_siblingof(&ca, &ca) == 0);
    return true;
}

static bool same_subroutine(struct judge *j, Dwarf_Die *a, Dwarf_Die *b, int depth);

/* Whether types `a` (the patch's) and `b` (the program's) lay out the same
 * data the same way. On a difference in an aggregate or enum, j->msg says
 * what; for scalars the caller phrases it. */
static bool same_peeled(struct judge *j, Dwarf_Die *pa, Dwarf_Die *pb, const char *alias, int depth);

/* The state type (as the request spells it) that the peeled aggregate `t`,
 * reached through typedef `alias`, is; NULL when none. */
static const char *state_type(const struct judge *j, Dwarf_Die *t, const char *alias)
{
    const char *name = dwarf_diename(t);
    int tag = dwarf_tag(t);
    char key[300];

    if (tag != DW_TAG_structure_type && tag != DW_TAG_union_type)
        return NULL;
    snprintf(key, sizeof key, "%s %s", tag == DW_TAG_structure_type ? "struct" : "union", name ? name : "");
    for (size_t i = 0; j->req && i < j->req->state_type_count; i++) {
        const char *st = j->req->state_types[i];
        if ((alias && strcmp(alias, st) == 0) || (name && strcmp(key, st) == 0))
            return st;
    }
    return NULL;
}

static void note_state(struct judge *j, Dwarf_Off a, Dwarf_Off b, const char *type, bool changed)
{
    for (size_t i = 0; i < j->nstates; i++)
        if (j->states[i].a == a && j->states[i].b == b) {
            j->states[i].changed |= changed;
            return;
        }
    if (j->nstates < sizeof j->states / sizeof j->states[0])
        j->states[j->nstates++] = (struct state_pair){ a, b, type, changed };
}

static bool same(struct judge *j, Dwarf_Die *a, Dwarf_Die *b, int depth)
{
    Dwarf_Die pa, pb, cur = *a;
    bool va = !debuginfo_peel(a, &pa), vb = !debuginfo_peel(b, &pb), equal;
    const char *alias = NULL;
    Dwarf_Off oa, ob;

    if (va || vb)
        return va == vb;
    /* the typedef that names an unnamed struct, for messages */
    for (int i = 0; i < 16 && dwarf_dieoffset(&cur) != dwarf_dieoffset(&pa); i++) {
        if (dwarf_tag(&cur) == DW_TAG_typedef)
            alias = dwarf_diename(&cur);
        if (!debuginfo_type_of(&cur, &cur))
            break;
    }
    oa = dwarf_dieoffset(&pa);
    ob = dwarf_dieoffset(&pb);
    if (depth > MAX_DEPTH || j->depth >= MAX_DEPTH + 1 || proven(j, oa, ob) || in_progress(j, oa, ob))
        return true;
    const char *st = state_type(j, &pa, alias);
    char saved[sizeof j->msg + sizeof j->anon + sizeof j->file];
    int saved_line = j->line;
    if (st) {
        memcpy(saved, j->msg, sizeof j->msg);
        memcpy(saved + sizeof j->msg, j->anon, sizeof j->anon);
        memcpy(saved + sizeof j->msg + sizeof j->anon, j->file, sizeof j->file);
    }
    size_t accepted = j->accepted;
    j->stack[j->depth].a = oa;
    j->stack[j->depth++].b = ob;
    equal = same_peeled(j, &pa, &pb, alias, depth);
    j->depth--;
    if (equal && j->accepted == accepted)
        prove(j, oa, ob);
    if (st && (equal || j->context == AT_TYPE || (j->context == AT_REDIRECTED && j->pointers > 0))) {
        /* a typed block's type: migrated at the reload (not proven equal,
         * so that a variable of it is still judged) */
        note_state(j, oa, ob, st, !equal);
        j->accepted += !equal;
        memcpy(j->msg, saved, sizeof j->msg);
        memcpy(j->anon, saved + sizeof j->msg, sizeof j->anon);
        memcpy(j->file, saved + sizeof j->msg + sizeof j->anon, sizeof j->file);
        j->line = saved_line;
        return true;
    }
    return equal;
}

/* same() on types stripped of typedefs and qualifiers. */
static bool same_peeled(struct judge *j, Dwarf_Die *pa_, Dwarf_Die *pb_, const char *alias, int depth)
{
    Dwarf_Die pa = *pa_, pb = *pb_, ta, tb;
    int tag;

    tag = dwarf_tag(&pa);
    if (tag != dwarf_tag(&pb))
        return false;
    switch (tag) {
    case DW_TAG_base_type: {
        Dwarf_Attribute attr;
        Dwarf_Word ea = 0, eb = 0;
        bool fa, fb;
        if (dwarf_attr(&pa, DW_AT_encoding, &attr))
            dwarf_formudata(&attr, &ea);
        if (dwarf_attr(&pb, DW_AT_encoding, &attr))
            dwarf_formudata(&attr, &eb);
        fa = ea == DW_ATE_float || ea == DW_ATE_complex_float;
        fb = eb == DW_ATE_float || eb == DW_ATE_complex_float;
        return size_of(&pa) == size_of(&pb) && fa == fb;
    }
    case DW_TAG_pointer_type:
    case DW_TAG_reference_type: {
        bool ha = debuginfo_type_of(&pa, &ta), hb = debuginfo_type_of(&pb, &tb), eq;
        if (!ha || !hb)
            return ha == hb;
        j->pointers++;
        eq = same(j, &ta, &tb, depth + 1);
        j->pointers--;
        return eq;
    }
    case DW_TAG_structure_type:
    case DW_TAG_union_type:
    case DW_TAG_class_type:
        /* an incomplete type on either side says nothing about the layout */
        if (has_flag(&pa, DW_AT_declaration) || has_flag(&pb, DW_AT_declaration))
            return true;
        return same_aggregate(j, &pa, &pb, depth, alias);
    case DW_TAG_enumeration_type:
        if (has_flag(&pa, DW_AT_declaration) || has_flag(&pb, DW_AT_declaration))
            return true;
        return same_enum(j, &pa, &pb);
    case DW_TAG_array_type: {
        /* an array of unknown bound (`extern char name[];`) says nothing
         * of the size: its elements still count */
        if (size_of(&pa) != size_of(&pb) && size_of(&pa) != 0 && size_of(&pb) != 0)
            return false;
        if (!debuginfo_type_of(&pa, &ta) || !debuginfo_type_of(&pb, &tb))
            return true;
        return same(j, &ta, &tb, depth + 1);
    }
    case DW_TAG_subroutine_type:
        return same_subroutine(j, &pa, &pb, depth);
    default:
        return size_of(&pa) == size_of(&pb);
    }
}

/* The formal parameters of a function or function type, at most `max`. */
static size_t params(Dwarf_Die *fn, Dwarf_Die *out, size_t max, bool *varargs)
{
    Dwarf_Die child;
    size_t n = 0;

    *varargs = false;
    if (dwarf_child(fn, &child) != 0)
        return 0;
    do {
        int tag = dwarf_tag(&child);
        if (tag == DW_TAG_formal_parameter && n < max)
            out[n++] = child;
        else if (tag == DW_TAG_unspecified_parameters)
            *varargs = true;
    } while (dwarf_siblingof(&child, &child) == 0);
    return n;
}

#define MAX_PARAMS 64

/* Compares two functions' (or function types') return and parameter
 * types. On a difference, writes a phrase into j->msg when none is there. */
static bool same_subroutine(struct judge *j, Dwarf_Die *a, Dwarf_Die *b, int depth)
{
    Dwarf_Die pa[MAX_PARAMS], pb[MAX_PARAMS], ra, rb;
    bool vara, varb, hra = debuginfo_type_of(a, &ra), hrb = debuginfo_type_of(b, &rb);
    size_t na = params(a, pa, MAX_PARAMS, &vara), nb = params(b, pb, MAX_PARAMS, &varb);
    char ta[160], tb[160];

    if (hra != hrb || (hra && !same(j, &ra, &rb, depth + 1))) {
        describe_pair(hra ? &ra : NULL, hrb ? &rb : NULL, ta, tb, sizeof ta);
        say(j, NULL, "return type changed from %s to %s", tb, ta);
        return false;
    }
    if (na != nb || vara != varb) {
        say(j, NULL, "takes %zu parameter%s%s instead of %zu%s", na, na == 1 ? "" : "s", vara ? " and more" : "", nb,
            varb ? " and more" : "");
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        Dwarf_Die xa, xb;
        bool hxa = debuginfo_type_of(&pa[i], &xa), hxb = debuginfo_type_of(&pb[i], &xb);
        if (hxa == hxb && (!hxa || same(j, &xa, &xb, depth + 1)))
            continue;
        if (*j->msg)
            return false;
        describe_pair(hxa ? &xa : NULL, hxb ? &xb : NULL, ta, tb, sizeof ta);
        const char *name = dwarf_diename(&pa[i]);
        if (name)
            say(j, NULL, "parameter %zu (`%s`) changed from %s to %s", i + 1, name, tb, ta);
        else
            say(j, NULL, "parameter %zu changed from %s to %s", i + 1, tb, ta);
        return false;
    }
    return true;
}

/* Adds `symbol` (may be NULL) to the issue's list. */
static void note_symbol(struct judge *j, size_t i, const char *symbol)
{
    char *cur = j->symbols[i], *next;
    size_t len = cur ? strlen(cur) : 1;

    if (!symbol)
        return;
    if (cur) {
        char key[300];
        snprintf(key, sizeof key, "\n%s\n", symbol);
        if (strstr(cur, key))
            return;
    }
    next = realloc(cur, len + strlen(symbol) + 2);
    if (!next)
        return;
    if (!cur)
        strcpy(next, "\n");
    strcat(next, symbol);
    strcat(next, "\n");
    j->symbols[i] = next;
}

static int add_issue(struct judge *j, const char *function, const char *message, const char *symbol)
{
    struct compat_report *r = j->out;
    struct compat_issue *grown;
    char **syms;

    for (size_t i = 0; i < r->count; i++)
        if (strcmp(r->issues[i].message, message) == 0 &&
            ((!function && !r->issues[i].function) ||
             (function && r->issues[i].function && strcmp(function, r->issues[i].function) == 0))) {
            note_symbol(j, i, symbol);
            return 0;
        }
    grown = realloc(r->issues, (r->count + 1) * sizeof *grown);
    if (!grown)
        return DEBUGINFO_ENOMEM;
    r->issues = grown;
    syms = realloc(j->symbols, (r->count + 1) * sizeof *syms);
    if (!syms)
        return DEBUGINFO_ENOMEM;
    j->symbols = syms;
    j->symbols[r->count] = NULL;
    memset(&r->issues[r->count], 0, sizeof *grown);
    r->issues[r->count].function = function ? strdup(function) : NULL;
    r->issues[r->count].message = strdup(message);
    r->issues[r->count].file = *j->file ? strdup(j->file) : NULL;
    r->issues[r->count].line = j->line;
    r->count++;
    note_symbol(j, r->count - 1, symbol);
    return 0;
}

static void reset(struct judge *j)
{
    *j->msg = '\0';
    *j->anon = '\0';
    *j->file = '\0';
    j->line = 0;
    j->depth = 0;
}

/* Compares the patch's variable DIE `var` (named `shown` in messages) with
 * the program's `entry`. */
static void check_variable(struct judge *j, Dwarf_Die *var, const char *shown, const char *symbol,
                           const struct debuginfo_entry *entry)
{
    Dwarf_Die other, ta, tb;
    bool ha, hb;

    if (!entry || !debuginfo_die(j->exe, entry, &other))
        return;
    j->out->compared++;
    reset(j);
    j->context = AT_VARIABLE;
    ha = debuginfo_type_of(var, &ta);
    hb = debuginfo_type_of(&other, &tb);
    if (ha == hb && (!ha || same(j, &ta, &tb, 0)))
        return;
    if (!*j->msg && !*j->anon) {
        char sa[160], sb[160];
        describe_pair(ha ? &ta : NULL, hb ? &tb : NULL, sa, sb, sizeof sa);
        if (strcmp(sa, sb) == 0)
            say(j, var, "`%s` changed: its type %s has another layout", shown, sa);
        else
            say(j, var, "`%s` changed from %s to %s", shown, sb, sa);
    }
    if (!*j->msg && *j->anon)
        say(j, var, "the type of `%s` (an unnamed struct) changed: %s", shown, j->anon);
    add_issue(j, NULL, j->msg, symbol);
}

static void check_function(struct judge *j, Dwarf_Die *fn, const char *name, const char *redirected,
                           const struct debuginfo_entry *entry)
{
    Dwarf_Die other;

    if (!entry || !debuginfo_die(j->exe, entry, &other))
        return;
    j->out->compared++;
    reset(j);
    j->context = redirected ? AT_REDIRECTED : AT_CALLED;
    if (same_subroutine(j, fn, &other, 0))
        return;
    char message[800];
    if (redirected || j->msg[0] == '`')
        snprintf(message, sizeof message, "%s", j->msg);
    else
        snprintf(message, sizeof message, "%s(), which it calls: %s", name, j->msg);
    add_issue(j, redirected ? redirected : NULL, message, redirected ? NULL : name);
}

static const struct compat_static *static_named(const struct compat_request *req, const char *name,
                                                const char *function, bool by_symbol)
{
    for (size_t i = 0; i < req->static_count; i++) {
        const struct compat_static *s = &req->statics[i];
        if (by_symbol ? strcmp(s->symbol, name) == 0
                      : (strcmp(s->name, name) == 0 &&
                         ((!function && !s->function) || (function && s->function && !strcmp(function, s->function)))))
            return s;
    }
    return NULL;
}

static bool redirected(const struct compat_request *req, const char *name)
{
    for (size_t i = 0; i < req->function_count; i++)
        if (strcmp(req->functions[i].name, name) == 0)
            return true;
    return false;
}

/* A function-local static of the patch that the program does not have
 * (added since it was built): its size, from the patch's own type, for the
 * runtime to make it (report.new_statics). */
static void note_new_static(struct judge *j, Dwarf_Die *var, const char *symbol)
{
    Dwarf_Die type;
    Dwarf_Word size = 0;

    if (!debuginfo_type_of(var, &type) || dwarf_aggregate_size(&type, &size) != 0 || size == 0)
        return;
    if (!j->out->new_statics)
        j->out->new_statics = json_object();
    json_object_set_new(j->out->new_statics, symbol, json_integer((json_int_t)size));
}

/* The variables declared inside a function of the patch: the renamed
 * function-local statics (`__hotc_s_N`) and block-scope externs. */
static void check_locals(struct judge *j, const struct compat_request *req, Dwarf_Die *die, int cu)
{
    Dwarf_Die child;

    if (dwarf_child(die, &child) != 0)
        return;
    do {
        int tag = dwarf_tag(&child);
        const char *name = dwarf_diename(&child);
        if (tag == DW_TAG_lexical_block) {
            check_locals(j, req, &child, cu);
        } else if (tag == DW_TAG_variable && name && has_flag(&child, DW_AT_declaration)) {
            const struct compat_static *s = static_named(req, name, NULL, true);
            if (s && s->function) {
                unsigned ordinal = 0;
                for (const struct compat_static *p = req->statics; p < s; p++)
                    ordinal += p->function && !strcmp(p->function, s->function) && !strcmp(p->name, s->name);
                char shown[256];
                snprintf(shown, sizeof shown, "%s() static %s", s->function, s->name);
                const struct debuginfo_entry *there = debuginfo_local(j->exe, cu, s->function, s->name, ordinal);
                if (!there && cu >= 0)
                    note_new_static(j, &child, s->symbol);
                check_variable(j, &child, shown, s->symbol, there);
            } else if (s) {
                check_variable(j, &child, s->name, s->symbol,
                               debuginfo_resolve(j->exe, DEBUGINFO_VARIABLE, s->name, cu));
            } else {
                check_variable(j, &child, name, name, debuginfo_resolve(j->exe, DEBUGINFO_VARIABLE, name, cu));
            }
        }
    } while (dwarf_siblingof(&child, &child) == 0);
}

/* Whether the patch's aggregate at `target` (peeled) is `outer` or lies
 * inside it by value (members, arrays). */
static bool holds(Dwarf_Die *outer, Dwarf_Off target, int depth)
{
    Dwarf_Die t, child, mt;
    if (depth > MAX_DEPTH || !debuginfo_peel(outer, &t))
        return false;
    if (dwarf_dieoffset(&t) == target)
        return true;
    if (dwarf_tag(&t) == DW_TAG_array_type)
        return debuginfo_type_of(&t, &mt) && holds(&mt, target, depth + 1);
    if ((dwarf_tag(&t) != DW_TAG_structure_type && dwarf_tag(&t) != DW_TAG_union_type) || dwarf_child(&t, &child) != 0)
        return false;
    do
        if (dwarf_tag(&child) == DW_TAG_member && debuginfo_type_of(&child, &mt) && holds(&mt, target, depth + 1))
            return true;
    while (dwarf_siblingof(&child, &child) == 0);
    return false;
}

/* Whether the patch's type `type` is, or lies by value inside, a state
 * type found changed (its blocks are migrated whole). */
static bool in_changed_state(struct judge *j, Dwarf_Die *type, Dwarf *patch)
{
    Dwarf_Die t, st;
    if (!debuginfo_peel(type, &t))
        return false;
    for (size_t i = 0; i < j->nstates; i++)
        if (j->states[i].changed && dwarf_offdie(patch, j->states[i].a, &st) &&
            holds(&st, dwarf_dieoffset(&t), 0))
            return true;
    return false;
}

/* The named types of the patch's unit that the program's unit for the same
 * file also has: the new code may share their data with the old. The state
 * types go first (`states_only`), so that the types inside a migrated one
 * are known when the others are judged; a state type the unit lacks is
 * looked up in the whole program. */
static void check_type(struct judge *j, Dwarf_Die *type, int cu, bool states_only, Dwarf *patch)
{
    const char *name = dwarf_diename(type);
    const char *prefix = "";
    char key[300];
    const struct debuginfo_entry *entry;
    Dwarf_Die other;

    if (!name || has_flag(type, DW_AT_declaration))
        return;
    switch (dwarf_tag(type)) {
    case DW_TAG_structure_type: prefix = "struct "; break;
    case DW_TAG_union_type: prefix = "union "; break;
    case DW_TAG_enumeration_type: prefix = "enum "; break;
    case DW_TAG_typedef: break;
    default: return;
    }
    snprintf(key, sizeof key, "%s%s", prefix, name);
    bool is_state = false;
    for (size_t i = 0; j->req && i < j->req->state_type_count; i++)
        is_state |= strcmp(j->req->state_types[i], key) == 0;
    if (is_state != states_only)
        return;
    if (dwarf_tag(type) == DW_TAG_typedef) {
        /* a scalar typedef only the new code's locals use holds no old data */
        Dwarf_Die target;
        int tag;
        if (!debuginfo_peel(type, &target))
            return;
        tag = dwarf_tag(&target);
        if (tag != DW_TAG_structure_type && tag != DW_TAG_union_type && tag != DW_TAG_enumeration_type)
            return;
    }
    entry = debuginfo_type(j->exe, cu, key);
    if (!entry && is_state) {
        size_t more = 0;
        for (entry = debuginfo_find(j->exe, DEBUGINFO_TYPE, key, &more); entry && entry->declaration && more > 1;
             entry++, more--)
            ;
        if (entry && entry->declaration)
            entry = NULL;
    }
    if (!entry || !debuginfo_die(j->exe, entry, &other))
        return;
    j->out->compared++;
    reset(j);
    j->context = AT_TYPE;
    if (same(j, type, &other, 0))
        return;
    if (!is_state && in_changed_state(j, type, patch))
        return;
    if (!*j->msg)
        say(j, type, "`%s` changed", key);
    /* already said through a variable or a signature that leads to it */
    char quoted[320];
    snprintf(quoted, sizeof quoted, "`%s`", key);
    for (size_t i = 0; i < j->out->count; i++)
        if (strcmp(j->out->issues[i].message, j->msg) == 0 || strstr(j->out->issues[i].message, quoted))
            return;
    add_issue(j, NULL, j->msg, NULL);
}

/* Who refers to what in the patch's code: edges "from\nto". */
struct edges {
    char **from, **to;
    size_t n, cap;
};

/* The C name of a patch symbol: the redirected function `f` is defined as
 * `__hotc_d_f` and exported as `__hotc_f_f` (lsp/patch.c); the program's
 * statics keep their `__hotc_s_N` names, which the issues list. */
static const char *c_name(const char *symbol)
{
    if (strncmp(symbol, "__hotc_f_", 9) == 0 || strncmp(symbol, "__hotc_d_", 9) == 0)
        return symbol + 9;
    return symbol;
}

static void on_reference(const char *from, const char *to, void *user)
{
    struct edges *e = user;

    from = c_name(from);
    to = c_name(to);
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        char **f = realloc(e->from, cap * sizeof *f), **t;
        if (!f)
            return;
        e->from = f;
        t = realloc(e->to, cap * sizeof *t);
        if (!t)
            return;
        e->to = t;
        e->cap = cap;
    }
    e->from[e->n] = strdup(from);
    e->to[e->n] = strdup(to);
    if (e->from[e->n] && e->to[e->n])
        e->n++;
}

/* Whether the code of `start` reaches `symbols` ("\nsym\n..."),
 * directly or through the functions it refers to. */
static bool reaches(const struct edges *e, const char *start, const char *symbols)
{
    const char **todo = malloc((e->n + 1) * sizeof *todo), **done = malloc((e->n + 2) * sizeof *done);
    size_t n_todo = 0, n_done = 0;
    bool hit = false;

    if (!todo || !done) {
        free(todo);
        free(done);
        return true;
    }
    todo[n_todo++] = start;
    done[n_done++] = start;
    while (n_todo && !hit) {
        const char *f = todo[--n_todo];
        for (size_t i = 0; i < e->n && !hit; i++) {
            char key[300];
            bool known = false;
            if (strcmp(e->from[i], f) != 0)
                continue;
            snprintf(key, sizeof key, "\n%s\n", e->to[i]);
            if (strstr(symbols, key)) {
                hit = true;
                break;
            }
            for (size_t k = 0; k < n_done; k++)
                known = known || strcmp(done[k], e->to[i]) == 0;
            if (!known && n_done <= e->n) {
                done[n_done++] = e->to[i];
                todo[n_todo++] = e->to[i];
            }
        }
    }
    free(todo);
    free(done);
    return hit;
}

/* The calls the DWARF of function `fn` records under `die`: functions
 * inlined into it (their code is in it, with no relocation left) and call
 * sites, as edges from `fn`. */
static void dwarf_calls(struct edges *e, const char *fn, Dwarf_Die *die, int depth)
{
    Dwarf_Die child, origin;
    Dwarf_Attribute attr;

    if (depth > 32 || dwarf_child(die, &child) != 0)
        return;
    do {
        int tag = dwarf_tag(&child);
        unsigned at = tag == DW_TAG_inlined_subroutine ? DW_AT_abstract_origin
                      : tag == DW_TAG_call_site || tag == DW_TAG_GNU_call_site ? DW_AT_call_origin
                                                                               : 0;
        if (at && dwarf_attr(&child, at, &attr) && dwarf_formref_die(&attr, &origin)) {
            Dwarf_Attribute name;
            const char *callee = dwarf_attr_integrate(&origin, DW_AT_name, &name) ? dwarf_formstring(&name) : NULL;
            if (callee)
                on_reference(fn, callee, e);
        }
        if (tag == DW_TAG_lexical_block || tag == DW_TAG_inlined_subroutine)
            dwarf_calls(e, fn, &child, depth + 1);
    } while (dwarf_siblingof(&child, &child) == 0);
}

/* Charges each patch-wide issue that names what the new code refers to to
 * the redirected functions whose code reaches it, and refuses with a
 * function that cannot be reloaded every other one that calls it (the call
 * would run its new code). `cudie` is the patch's unit. */
static void attribute(struct judge *j, struct debuginfo *patch, Dwarf_Die *cudie, const struct compat_request *req)
{
    struct compat_report *r = j->out;
    struct edges e = { 0 };
    size_t n = r->count;
    Dwarf_Die child;

    long nrefs = debuginfo_references(patch, on_reference, &e);

    if (dwarf_child(cudie, &child) == 0)
        do {
            Dwarf_Attribute name;
            const char *fn;
            if (dwarf_tag(&child) != DW_TAG_subprogram || has_flag(&child, DW_AT_declaration))
                continue;
            fn = dwarf_attr_integrate(&child, DW_AT_name, &name) ? dwarf_formstring(&name) : NULL;
            if (fn)
                dwarf_calls(&e, fn, &child, 0);
        } while (dwarf_siblingof(&child, &child) == 0);
    /* the callers of a function that cannot be reloaded */
    for (size_t i = 0; i < n; i++) {
        char target[300], message[800];
        if (!r->issues[i].function)
            continue;
        snprintf(target, sizeof target, "\n%s\n", r->issues[i].function);
        snprintf(message, sizeof message, "it calls %s(), which cannot be reloaded (%s)", r->issues[i].function,
                 r->issues[i].message);
        for (size_t k = 0; k < req->function_count; k++)
            if (strcmp(req->functions[k].name, r->issues[i].function) != 0 &&
                reaches(&e, req->functions[k].name, target)) {
                *j->file = '\0';
                j->line = 0;
                add_issue(j, req->functions[k].name, message, NULL);
            }
    }
    if (nrefs < 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        size_t charged = 0;
        if (r->issues[i].function || !j->symbols[i])
            continue;
        for (size_t k = 0; k < req->function_count; k++) {
            if (!reaches(&e, req->functions[k].name, j->symbols[i]))
                continue;
            int line = r->issues[i].line;
            char file[sizeof j->file];
            snprintf(file, sizeof file, "%s", r->issues[i].file ? r->issues[i].file : "");
            snprintf(j->file, sizeof j->file, "%s", file);
            j->line = line;
            add_issue(j, req->functions[k].name, r->issues[i].message, NULL);
            charged++;
        }
        /* charged to the functions that reach it; when none does, the
         * reference is dead code or data the check cannot follow: it stays
         * on the whole patch */
        if (charged) {
            free(r->issues[i].message);
            r->issues[i].message = NULL;
        }
    }
    /* drop the patch-wide issues that were charged */
    {
        size_t w = 0;
        for (size_t i = 0; i < r->count; i++) {
            if (!r->issues[i].message) {
                free(r->issues[i].function);
                free(r->issues[i].file);
                free(j->symbols[i]);
                continue;
            }
            j->symbols[w] = j->symbols[i];
            r->issues[w++] = r->issues[i];
        }
        r->count = w;
    }
done:
    for (size_t i = 0; i < e.n; i++) {
        free(e.from[i]);
        free(e.to[i]);
    }
    free(e.from);
    free(e.to);
}

int compat_check(struct debuginfo *exe, const char *patch, const struct compat_request *req,
                 struct compat_report *out, char *err, size_t errsize)
{
    struct debuginfo *pf = NULL;
    struct judge j = { .exe = exe, .out = out, .req = req };
    int rc, cu, pcu;
    Dwarf_Die cudie, child;
    const char *base;

    memset(out, 0, sizeof *out);
    rc = debuginfo_open(patch, &pf, err, errsize);
    if (rc != 0)
        return rc;
    /* the patch's own unit: the one that is not a start file (p3-x.c) */
    base = strrchr(req->source, '/') ? strrchr(req->source, '/') + 1 : req->source;
    pcu = -1;
    for (size_t i = 0; i < debuginfo_cu_count(pf); i++) {
        const char *p = debuginfo_cu_path(pf, (unsigned)i);
        size_t lp = strlen(p), lb = strlen(base);
        if (lp >= lb && strcmp(p + lp - lb, base) == 0)
            pcu = (int)i;
    }
    if (pcu < 0)
        pcu = 0;
    debuginfo_lock(exe);
    cu = debuginfo_cu_of(exe, req->source);
    if (cu < 0) {
        snprintf(err, errsize, "the running program's debug information has no unit for %s", base);
        rc = DEBUGINFO_ENOINFO;
        goto done;
    }
    {
        /* the unit's DIE: from the first entry of that unit, via libdw */
        Dwarf *pd = debuginfo_dwarf(pf);
        Dwarf_CU *u = NULL;
        uint8_t type;
        Dwarf_Half version;
        int k = 0;
        bool found = false;
        while (dwarf_get_units(pd, u, &u, &version, &type, &cudie, NULL) == 0)
            if ((type == DW_UT_compile || type == DW_UT_partial) && k++ == pcu) {
                found = true;
                break;
            }
        if (!found || dwarf_child(&cudie, &child) != 0)
            goto done;
    }
    do {
        const char *name = dwarf_diename(&child);
        int tag = dwarf_tag(&child);
        if (!name)
            continue;
        if (tag == DW_TAG_variable) {
            Dwarf_Attribute own;
            bool declaration = false;
            if (!dwarf_attr(&child, DW_AT_declaration, &own) || dwarf_formflag(&own, &declaration) != 0 ||
                !declaration)
                continue; /* the patch's own (a kept const table, the build-id) */
            const struct compat_static *s = static_named(req, name, NULL, false);
            if (s) {
                const struct debuginfo_entry *e = debuginfo_resolve(exe, DEBUGINFO_VARIABLE, name, cu);
                check_variable(&j, &child, name, s->symbol, e && e->cu == (unsigned)cu ? e : NULL);
            } else {
                check_variable(&j, &child, name, name, debuginfo_resolve(exe, DEBUGINFO_VARIABLE, name, cu));
            }
        } else if (tag == DW_TAG_subprogram) {
            if (has_flag(&child, DW_AT_declaration)) {
                if (!redirected(req, name))
                    check_function(&j, &child, name, NULL, debuginfo_resolve(exe, DEBUGINFO_FUNCTION, name, cu));
                continue;
            }
            if (redirected(req, name))
                check_function(&j, &child, name, name, debuginfo_resolve(exe, DEBUGINFO_FUNCTION, name, cu));
            check_locals(&j, req, &child, cu);
        }
    } while (dwarf_siblingof(&child, &child) == 0);
    /* then the named types no variable or signature led to: state types first */
    for (int pass = 0; pass < 2; pass++)
        if (dwarf_child(&cudie, &child) == 0)
            do
                check_type(&j, &child, cu, pass == 0, debuginfo_dwarf(pf));
            while (dwarf_siblingof(&child, &child) == 0);
    /* a plan for each state type met (lsp/migrate.c) */
    for (size_t i = 0; i < j.nstates; i++) {
        Dwarf_Die olddie, newdie;
        json_t *plan;
        if (!dwarf_offdie(debuginfo_dwarf(exe), j.states[i].b, &olddie) ||
            !dwarf_offdie(debuginfo_dwarf(pf), j.states[i].a, &newdie))
            continue;
        plan = migrate_plan(&olddie, &newdie, j.states[i].type);
        if (!plan)
            continue;
        if (!out->migrations)
            out->migrations = json_array();
        json_array_append_new(out->migrations, plan);
    }
done:
    debuginfo_unlock(exe);
    if (rc == 0 && out->count > 0)
        attribute(&j, pf, &cudie, req);
    for (size_t i = 0; i < out->count; i++)
        free(j.symbols[i]);
    free(j.symbols);
    free(j.equal);
    debuginfo_free(pf);
    return rc;
}

void compat_report_release(struct compat_report *self)
{
    for (size_t i = 0; i < self->count; i++) {
        free(self->issues[i].function);
        free(self->issues[i].message);
        free(self->issues[i].file);
    }
    free(self->issues);
    json_decref(self->migrations);
    json_decref(self->new_statics);
    memset(self, 0, sizeof *self);
}
