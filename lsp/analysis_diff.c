/* The differences between two analyses of a document (part of
 * lsp/analysis.h): how each function and type changed, in words, with
 * layout changes carried to the functions that reach a changed type
 * (analysis_diff), the same over HOT functions only for a reload
 * (analysis_diff_hot), and lookups in a diff. Values in, values out: no
 * tree here. */
#include "analysis_impl.h"

/* ---------------------------------------------------------------- diff */

static const struct analysis_field *find_field(const struct analysis_type *t, const char *name)
{
    for (size_t i = 0; i < t->n_fields; i++)
        if (!strcmp(t->fields[i].name, name))
            return &t->fields[i];
    return NULL;
}

/* ", size 24 → 32" when both sizes are known and differ, else "". */
static void add_size_change(struct sbuf *s, const struct analysis_type *a, const struct analysis_type *b)
{
    if (a->size >= 0 && b->size >= 0 && a->size != b->size)
        sbuf_printf(s, ", size %ld → %ld", a->size, b->size);
}

/* Describes how type `a` became `b`, or returns NULL when the layout is the same. */
static char *type_change(const struct analysis_type *a, const struct analysis_type *b)
{
    struct sbuf s = { 0 };
    const char *member = !strcmp(a->kind, "enum") ? "enumerator" : "field";
    int same_order = a->n_fields == b->n_fields;

    if (strcmp(a->kind, b->kind)) {
        sbuf_printf(&s, "`%s` changed from a %s to a %s", a->name, a->kind, b->kind);
        add_size_change(&s, a, b);
        return sbuf_take(&s);
    }
    if (a->target && b->target && strcmp(a->target, b->target))
        sbuf_printf(&s, "typedef `%s` changed from `%s` to `%s`", a->name, a->target, b->target);
    for (size_t i = 0; i < b->n_fields; i++) {
        const struct analysis_field *old = find_field(a, b->fields[i].name);
        if (!old)
            sbuf_printf(&s, "%s%s `%s` added to `%s`", s.len ? "; " : "", member, b->fields[i].name, a->name);
        else if (strcmp(old->type, b->fields[i].type)) {
            if (!strcmp(member, "enumerator"))
                sbuf_printf(&s, "%senumerator `%s` of `%s` changed value from `%s` to `%s`", s.len ? "; " : "",
                            old->name, a->name, *old->type ? old->type : "(implicit)",
                            *b->fields[i].type ? b->fields[i].type : "(implicit)");
            else
                sbuf_printf(&s, "%sfield `%s` of `%s` changed from `%s` to `%s`", s.len ? "; " : "", old->name,
                            a->name, old->type, b->fields[i].type);
        }
    }
    for (size_t i = 0; i < a->n_fields; i++)
        if (!find_field(b, a->fields[i].name))
            sbuf_printf(&s, "%s%s `%s` removed from `%s`", s.len ? "; " : "", member, a->fields[i].name, a->name);
    for (size_t i = 0; same_order && i < a->n_fields; i++)
        same_order = !strcmp(a->fields[i].name, b->fields[i].name);
    if (!s.len && !same_order)
        sbuf_printf(&s, "%ss of `%s` reordered", member, a->name);
    if (s.len)
        add_size_change(&s, a, b);
    return s.len ? sbuf_take(&s) : NULL;
}

/* Describes how the layout of `a` changed in `b` when the words are the
 * same but the numbers are not: an array bound, an enumeration constant
 * (`char name[N]`), an attribute. NULL when they are the same too. */
static char *numbers_change(const struct analysis_type *a, const struct analysis_type *b)
{
    struct sbuf s = { 0 };

    for (size_t i = 0; !s.len && i < b->n_fields; i++) {
        const struct analysis_field *old = find_field(a, b->fields[i].name);
        const struct analysis_field *f = &b->fields[i];

        if (old && old->size >= 0 && f->size >= 0 && old->size != f->size)
            sbuf_printf(&s, "field `%s` of `%s` (`%s`) changed from %ld to %ld bytes", f->name, a->name, f->type,
                        old->size, f->size);
    }
    for (size_t i = 0; !s.len && i < b->n_fields; i++) {
        const struct analysis_field *old = find_field(a, b->fields[i].name);
        const struct analysis_field *f = &b->fields[i];

        if (old && old->offset >= 0 && f->offset >= 0 && (old->offset != f->offset || old->bit != f->bit))
            sbuf_printf(&s, "field `%s` of `%s` moved from offset %ld to %ld", f->name, a->name, old->offset,
                        f->offset);
    }
    if (!s.len && a->size >= 0 && b->size >= 0 && a->size != b->size)
        sbuf_printf(&s, "layout of `%s` changed", a->name);
    if (!s.len && a->size >= 0 && b->size >= 0 && a->align != b->align)
        sbuf_printf(&s, "alignment of `%s` changed from %ld to %ld", a->name, a->align, b->align);
    if (s.len)
        add_size_change(&s, a, b);
    return s.len ? sbuf_take(&s) : NULL;
}

static char *signature_change(const struct analysis_function *a, const struct analysis_function *b)
{
    struct sbuf s = { 0 };
    size_t n = a->n_params > b->n_params ? a->n_params : b->n_params;

    if (strcmp(a->ret, b->ret))
        sbuf_printf(&s, "return type changed from `%s` to `%s`", a->ret, b->ret);
    for (size_t i = 0; i < n; i++) {
        if (i >= a->n_params)
            sbuf_printf(&s, "%sparameter %zu `%s` added", s.len ? "; " : "", i + 1, b->params[i]);
        else if (i >= b->n_params)
            sbuf_printf(&s, "%sparameter %zu `%s` removed", s.len ? "; " : "", i + 1, a->params[i]);
        else if (strcmp(a->params[i], b->params[i]))
            sbuf_printf(&s, "%sparameter %zu changed from `%s` to `%s`", s.len ? "; " : "", i + 1, a->params[i],
                        b->params[i]);
    }
    if (a->variadic != b->variadic)
        sbuf_printf(&s, "%s%s", s.len ? "; " : "", b->variadic ? "became variadic" : "is no longer variadic");
    return s.len ? sbuf_take(&s) : NULL;
}

static void add_change(struct analysis_diff *d, const char *name, int hot, enum analysis_change_kind kind, char *msg)
{
    struct analysis_change ch = { strdup(name), hot, kind, msg ? msg : strdup("") };
    PUSH(d->changes, d->n_changes, ch);
}

static const struct analysis_type_change *changed_type(const struct analysis_diff *d, const char *name)
{
    for (size_t i = 0; i < d->n_types; i++)
        if (!strcmp(d->types[i].name, name))
            return &d->types[i];
    return NULL;
}

/* Marks as changed the types of `new_` that hold a changed type by value
 * (a field of that type or an array of it, or a typedef of it); a pointer
 * to a changed type changes nothing. Returns how many it marked. */
static int propagate_once(struct analysis_diff *d, const struct analysis *old, const struct analysis *new_)
{
    int added = 0;

    for (size_t i = 0; i < new_->n_types; i++) {
        const struct analysis_type *t = &new_->types[i];
        const struct analysis_type *was = analysis_find_type(old, t->name);
        const struct analysis_type_change *via = NULL;
        struct sbuf s = { 0 };

        if (changed_type(d, t->name) || !was)
            continue;
        if (t->target) {
            via = t->base && !t->indirect ? changed_type(d, t->base) : NULL;
            if (via)
                sbuf_add(&s, via->message);
        } else {
            for (size_t k = 0; k < t->n_fields && !via; k++) {
                const struct analysis_field *f = &t->fields[k];

                via = f->base && !f->indirect ? changed_type(d, f->base) : NULL;
                if (via) {
                    sbuf_printf(&s, "`%s` changed: its field `%s` of type `%s` changed layout", t->name, f->name,
                                f->type);
                    add_size_change(&s, was, t);
                }
            }
        }
        if (via) {
            struct analysis_type_change tc = { strdup(t->name), sbuf_take(&s) };
            PUSH(d->types, d->n_types, tc);
            added++;
        }
    }
    return added;
}

/* Marks as changed the types whose words are the same but whose numbers
 * are not. Returns how many it marked. */
static int numbers_once(struct analysis_diff *d, const struct analysis *old, const struct analysis *new_)
{
    int added = 0;

    for (size_t i = 0; i < new_->n_types; i++) {
        const struct analysis_type *t = &new_->types[i];
        const struct analysis_type *was = analysis_find_type(old, t->name);
        char *msg = was && !changed_type(d, t->name) ? numbers_change(was, t) : NULL;

        if (msg) {
            struct analysis_type_change tc = { strdup(t->name), msg };
            PUSH(d->types, d->n_types, tc);
            added++;
        }
    }
    return added;
}

/* Spreads the changes found in the words of the types: to the types that
 * hold them by value first (their message names the field), and only when
 * that finds nothing more, to types whose sizes or offsets moved anyway. */
static void propagate_changes(struct analysis_diff *d, const struct analysis *old, const struct analysis *new_)
{
    while (propagate_once(d, old, new_) || numbers_once(d, old, new_))
        ;
}

/* Names to indexes, sorted for bsearch. */
struct name_index {
    struct named {
        const char *name;     /* borrowed */
        size_t i;
    } *v;
    size_t n;
};

static int named_cmp(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int d = strcmp(x->name, y->name);

    return d ? d : (x->i > y->i) - (x->i < y->i);
}

static void name_index_add(struct name_index *x, const char *name, size_t i)
{
    struct named e = { name, i };
    PUSH(x->v, x->n, e);
}

static void name_index_sort(struct name_index *x)
{
    if (x->n)
        qsort(x->v, x->n, sizeof *x->v, named_cmp);
}

/* The smallest index stored under `name` (the first of several
 * definitions, as analysis_find_* finds it), or (size_t)-1. */
static size_t name_index_get(const struct name_index *x, const char *name)
{
    size_t lo = 0, hi = x->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(x->v[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < x->n && !strcmp(x->v[lo].name, name) ? x->v[lo].i : (size_t)-1;
}

/* Alternatives of one function (`#if A ... #else ...`, each branch
 * defining it) pair up in order: the rank of definition `i` among those
 * named `name` in `x`, and the index of the definition of that rank (the
 * last one when there are fewer), or (size_t)-1. */
static size_t name_index_rank(const struct name_index *x, const char *name, size_t i)
{
    size_t lo = 0, hi = x->n, rank = 0;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(x->v[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t p = lo; p < x->n && !strcmp(x->v[p].name, name) && x->v[p].i != i; p++)
        rank++;
    return rank;
}

static size_t name_index_get_nth(const struct name_index *x, const char *name, size_t nth)
{
    size_t lo = 0, hi = x->n, found = (size_t)-1;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(x->v[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t p = lo; p < x->n && !strcmp(x->v[p].name, name); p++) {
        found = x->v[p].i;
        if (p - lo == nth)
            break;
    }
    return found;
}

/* Indexes the functions (or the types) of `a` by name. */
static void name_index_functions(struct name_index *x, const struct analysis *a)
{
    memset(x, 0, sizeof *x);
    for (size_t i = 0; i < a->n_functions; i++)
        name_index_add(x, a->functions[i].name, i);
    name_index_sort(x);
}

static void name_index_types(struct name_index *x, const struct analysis *a)
{
    memset(x, 0, sizeof *x);
    for (size_t i = 0; i < a->n_types; i++)
        name_index_add(x, a->types[i].name, i);
    name_index_sort(x);
}

/* For every type of `new_`, the message of a changed type it reaches
 * through its fields or its typedef target, by value or through pointers
 * (`w->p->x` depends on `struct particle`), or NULL. One breadth-first walk
 * from the changed types along "is used by" edges, for the whole diff. */
struct reach {
    const struct analysis_diff *d;
    struct name_index types, changed;
    const char **why;         /* per type of new_: borrowed message or NULL */
};

static const char *reach_changed(const struct reach *r, const char *name)
{
    size_t i = name_index_get(&r->changed, name);
    return i == (size_t)-1 ? NULL : r->d->types[i].message;
}

static void reach_init(struct reach *r, const struct analysis_diff *d, const struct analysis *new_)
{
    size_t n = new_->n_types, *queue, head = 0, tail = 0, *start, *edges = NULL, n_edges = 0;

    memset(r, 0, sizeof *r);
    r->d = d;
    for (size_t i = 0; i < n; i++)
        name_index_add(&r->types, new_->types[i].name, i);
    name_index_sort(&r->types);
    for (size_t i = 0; i < d->n_types; i++)
        name_index_add(&r->changed, d->types[i].name, i);
    name_index_sort(&r->changed);
    r->why = calloc(n + 1, sizeof *r->why);
    queue = calloc(n + 1, sizeof *queue);
    start = calloc(n + 2, sizeof *start);
    /* Edges b -> t where t names b: counted, then laid out by b. */
    for (int pass = 0; pass < 2; pass++) {
        size_t *fill = pass ? calloc(n + 1, sizeof *fill) : NULL;

        for (size_t t = 0; t < n; t++) {
            const struct analysis_type *ty = &new_->types[t];

            for (size_t k = 0; k <= ty->n_fields; k++) {
                const char *base = k < ty->n_fields ? ty->fields[k].base : ty->base;
                size_t b = base ? name_index_get(&r->types, base) : (size_t)-1;

                if (b == (size_t)-1)
                    continue;
                if (pass == 0)
                    start[b + 1]++;
                else
                    edges[start[b] + fill[b]++] = t;
            }
        }
        if (pass == 0) {
            for (size_t b = 0; b < n; b++)
                start[b + 1] += start[b];
            n_edges = start[n];
            edges = calloc(n_edges + 1, sizeof *edges);
        }
        free(fill);
    }
    for (size_t t = 0; t < n; t++) {
        const struct analysis_type *ty = &new_->types[t];

        r->why[t] = reach_changed(r, ty->name);
        /* A changed type that is not defined any more still counts. */
        for (size_t k = 0; !r->why[t] && k <= ty->n_fields; k++) {
            const char *base = k < ty->n_fields ? ty->fields[k].base : ty->base;
            r->why[t] = base ? reach_changed(r, base) : NULL;
        }
        if (r->why[t])
            queue[tail++] = t;
    }
    while (head < tail) {
        size_t b = queue[head++];

        for (size_t e = start[b]; e < start[b + 1]; e++)
            if (!r->why[edges[e]]) {
                r->why[edges[e]] = r->why[b];
                queue[tail++] = edges[e];
            }
    }
    free(queue);
    free(start);
    free(edges);
}

static void reach_release(struct reach *r)
{
    free(r->types.v);
    free(r->changed.v);
    free(r->why);
}

/* Why function `f` cannot run with the new types: the first changed type
 * it names, else the first type it names that reaches one. New string or
 * NULL. */
static char *uses_changed_type(const struct reach *r, const struct analysis_function *f)
{
    struct sbuf s = { 0 };

    for (size_t k = 0; k < f->n_types; k++) {
        const char *why = reach_changed(r, f->types[k]);
        if (why) {
            sbuf_add(&s, why);
            return sbuf_take(&s);
        }
    }
    for (size_t k = 0; k < f->n_types; k++) {
        size_t t = name_index_get(&r->types, f->types[k]);
        if (t != (size_t)-1 && r->why[t]) {
            sbuf_printf(&s, "%s (reached through `%s`)", r->why[t], f->types[k]);
            return sbuf_take(&s);
        }
    }
    return NULL;
}

/* Whether two arrays of records (functions or types, `size` bytes each,
 * a `char *name` first) have the same names in the same order. */
static int same_names(const void *a, size_t na, const void *b, size_t nb, size_t size)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++) {
        const char *x = *(char *const *)((const char *)a + i * size), *y = *(char *const *)((const char *)b + i * size);
        if (x != y && strcmp(x, y) != 0)
            return 0;
    }
    return 1;
}

struct analysis_diff *analysis_diff(const struct analysis *old, const struct analysis *new_)
{
    struct analysis_diff *d = calloc(1, sizeof *d);
    struct reach reach;
    struct name_index old_fns, new_fns, old_types, new_types;
    size_t k;
    int same_fns, same_types;

    if (!d)
        return NULL;
    /* By name, sorted: a file has thousands of functions. When both
     * versions have the same names in the same order (an edit inside
     * bodies, as typed), the n-th definition of a name is at the same place
     * in both, which is what the pairing by rank finds: no index needed. */
    same_fns = same_names(old->functions, old->n_functions, new_->functions, new_->n_functions,
                          sizeof *old->functions);
    same_types = same_names(old->types, old->n_types, new_->types, new_->n_types, sizeof *old->types);
    if (!same_fns) {
        name_index_functions(&old_fns, old);
        name_index_functions(&new_fns, new_);
    }
    if (!same_types) {
        name_index_types(&old_types, old);
        name_index_types(&new_types, new_);
    }
    for (size_t i = 0; i < old->n_types; i++) {
        size_t nth = same_types ? 0 : name_index_rank(&old_types, old->types[i].name, i);
        const struct analysis_type *b =
            (k = same_types ? i : name_index_get_nth(&new_types, old->types[i].name, nth)) != (size_t)-1
                ? &new_->types[k]
                : NULL;
        char *msg;

        if (!b) {
            struct sbuf s = { 0 };
            sbuf_printf(&s, "type `%s` removed", old->types[i].name);
            msg = sbuf_take(&s);
        } else {
            msg = type_change(&old->types[i], b);
        }
        if (msg) {
            struct analysis_type_change tc = { strdup(old->types[i].name), msg };
            PUSH(d->types, d->n_types, tc);
        }
    }
    propagate_changes(d, old, new_);
    reach_init(&reach, d, new_);
    for (size_t i = 0; i < new_->n_functions; i++) {
        const struct analysis_function *b = &new_->functions[i];
        size_t nth = same_fns ? 0 : name_index_rank(&new_fns, b->name, i);
        const struct analysis_function *a =
            (k = same_fns ? i : name_index_get_nth(&old_fns, b->name, nth)) != (size_t)-1 ? &old->functions[k]
                                                                                           : NULL;
        char *msg;

        if (!a) {
            add_change(d, b->name, b->hot, ANALYSIS_ADDED, NULL);
            continue;
        }
        msg = signature_change(a, b);
        if (msg) {
            add_change(d, b->name, b->hot, ANALYSIS_SIGNATURE, msg);
            continue;
        }
        msg = uses_changed_type(&reach, b);
        if (msg)
            add_change(d, b->name, b->hot, ANALYSIS_LAYOUT, msg);
        else if (a->body_hash != b->body_hash)
            add_change(d, b->name, b->hot, ANALYSIS_BODY, NULL);
    }
    reach_release(&reach);
    for (size_t i = 0; !same_fns && i < old->n_functions; i++)
        if (name_index_get(&new_fns, old->functions[i].name) == (size_t)-1)
            add_change(d, old->functions[i].name, old->functions[i].hot, ANALYSIS_REMOVED, NULL);
    if (!same_fns) {
        free(old_fns.v);
        free(new_fns.v);
    }
    if (!same_types) {
        free(old_types.v);
        free(new_types.v);
    }
    return d;
}

static int same_signature(const struct analysis_function *a, const struct analysis_function *b)
{
    if (strcmp(a->ret ? a->ret : "", b->ret ? b->ret : "") != 0 || a->n_params != b->n_params ||
        a->variadic != b->variadic)
        return 0;
    for (size_t i = 0; i < a->n_params; i++)
        if (strcmp(a->params[i] ? a->params[i] : "", b->params[i] ? b->params[i] : "") != 0)
            return 0;
    return 1;
}

static int plain_changed(const struct analysis_function *a, const struct analysis_function *b)
{
    return a->body_hash != b->body_hash || !same_signature(a, b);
}

/* The next function of `a` from `i` on that is not HOT, or a->n_functions. */
static size_t next_plain(const struct analysis *a, size_t i)
{
    while (i < a->n_functions && a->functions[i].hot)
        i++;
    return i;
}

/* Whether a non-HOT function of `old` and one of `new_` with the same name
 * differ. In document order while both list the same names in the same
 * order; else a merge of the two sorted by name. */
static int others_differ(const struct analysis *old, const struct analysis *new_)
{
    struct name_index x, y;
    size_t i = next_plain(old, 0), k = next_plain(new_, 0);
    int changed = 0;

    while (i < old->n_functions && k < new_->n_functions &&
           !strcmp(old->functions[i].name, new_->functions[k].name)) {
        if (plain_changed(&old->functions[i], &new_->functions[k]))
            return 1;
        i = next_plain(old, i + 1);
        k = next_plain(new_, k + 1);
    }
    if (i == old->n_functions && k == new_->n_functions)
        return 0;
    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    for (size_t j = 0; j < old->n_functions; j++)
        if (!old->functions[j].hot)
            name_index_add(&x, old->functions[j].name, j);
    for (size_t j = 0; j < new_->n_functions; j++)
        if (!new_->functions[j].hot)
            name_index_add(&y, new_->functions[j].name, j);
    name_index_sort(&x);
    name_index_sort(&y);
    for (i = 0, k = 0; i < x.n && k < y.n && !changed;) {
        int c = strcmp(x.v[i].name, y.v[k].name);

        if (c == 0)
            changed = plain_changed(&old->functions[x.v[i].i], &new_->functions[y.v[k].i]);
        i += c <= 0;
        k += c >= 0;
    }
    free(x.v);
    free(y.v);
    return changed;
}

struct analysis_diff *analysis_diff_hot(const struct analysis *old, const struct analysis *new_, int *others_changed)
{
    struct analysis o = *old, n = *new_;
    struct analysis_function *of, *nf;
    struct analysis_diff *diff = NULL;
    size_t n_old = 0, n_new = 0;

    /* only the HOT ones are copied: a few of thousands */
    for (size_t j = 0; j < old->n_functions; j++)
        n_old += old->functions[j].hot != 0;
    for (size_t j = 0; j < new_->n_functions; j++)
        n_new += new_->functions[j].hot != 0;
    of = malloc((n_old + 1) * sizeof *of);
    nf = malloc((n_new + 1) * sizeof *nf);
    *others_changed = 0;
    if (of && nf) {
        o.functions = of;
        o.n_functions = 0;
        n.functions = nf;
        n.n_functions = 0;
        for (size_t j = 0; j < old->n_functions; j++)
            if (old->functions[j].hot)
                of[o.n_functions++] = old->functions[j];
        for (size_t j = 0; j < new_->n_functions; j++)
            if (new_->functions[j].hot)
                nf[n.n_functions++] = new_->functions[j];
        diff = analysis_diff(&o, &n);
        if (diff)
            *others_changed = others_differ(old, new_);
    }
    free(of);
    free(nf);
    return diff;
}

void analysis_diff_free(struct analysis_diff *self)
{
    if (!self)
        return;
    for (size_t i = 0; i < self->n_changes; i++) {
        free(self->changes[i].name);
        free(self->changes[i].message);
    }
    free(self->changes);
    for (size_t i = 0; i < self->n_types; i++) {
        free(self->types[i].name);
        free(self->types[i].message);
    }
    free(self->types);
    free(self);
}

const struct analysis_change *analysis_diff_find(const struct analysis_diff *diff, const char *name)
{
    for (size_t i = 0; diff && i < diff->n_changes; i++)
        if (!strcmp(diff->changes[i].name, name))
            return &diff->changes[i];
    return NULL;
}
