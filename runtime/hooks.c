/* hooks: hot_on_reload, hot_state and typed state (hot_state_typed, the
 * migration of typed blocks at a reload). See hooks.h and hot.h. */
#include "hooks.h"

#include "hot.h"
#include "session.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CALLBACKS 16

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    hot_reload_fn fn;
    void *user;
} callbacks[MAX_CALLBACKS];
static int ncallbacks;

struct state_block {
    char *name;
    char *type;              /* typed blocks: the C type as spelled in HOT_STATE; else NULL */
    void *data;
    size_t size;
    int version;
    hot_migrate_fn migrate;  /* typed blocks: HOT_STATE_MIGRATE's, the latest given */
    char *layout;            /* typed blocks: the layout's fingerprint since a migration; NULL: the executable's */
    struct state_block *next;
};
static struct state_block *blocks;

/* Blocks replaced by a newer version, kept (and reachable) for old code. */
struct retired {
    void *data;
    struct retired *next;
};
static struct retired *retired;

HOT_API int hot_on_reload(hot_reload_fn callback, void *user)
{
    if (!callback)
        return HOT_EINVAL;
    pthread_mutex_lock(&lock);
    int rc = 0;
    if (ncallbacks == MAX_CALLBACKS) {
        rc = HOT_ETOOMANY;
    } else {
        callbacks[ncallbacks].fn = callback;
        callbacks[ncallbacks].user = user;
        ncallbacks++;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

/* The callbacks run without the lock: one may call hot_on_reload or
 * hot_state. Registrations are never removed, so the first n stay valid. */
void hooks_run(int phase, int version)
{
    pthread_mutex_lock(&lock);
    int n = ncallbacks;
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++)
        callbacks[i].fn((enum hot_phase)phase, version, callbacks[i].user);
}

/* Old blocks are never freed, only moved to `retired`: code that is still
 * running (old code on another thread's stack) may hold them. Out of
 * memory, nothing changes and NULL is returned. */
HOT_API void *hot_state(const char *name, size_t size, int version, hot_migrate_fn migrate)
{
    if (!name)
        return NULL;
    pthread_mutex_lock(&lock);
    struct state_block *b = blocks;
    while (b && strcmp(b->name, name) != 0)
        b = b->next;
    void *result = NULL;
    if (b && b->version == version && b->size >= size) {
        result = b->data;
        goto done;
    }
    void *data = calloc(1, size ? size : 1);
    struct retired *r = b ? malloc(sizeof *r) : NULL;
    if (!data || (b && !r)) {
        free(data);
        free(r);
        goto done;
    }
    if (r) {
        r->data = b->data;
        r->next = retired;
        retired = r;
    }
    if (!b) {
        b = calloc(1, sizeof *b);
        char *copy = strdup(name);
        if (!b || !copy) {
            free(b);
            free(copy);
            free(data);
            goto done;
        }
        b->name = copy;
        b->next = blocks;
        blocks = b;
    } else if (migrate && b->version != version) {
        migrate(data, size, b->data, b->size, b->version);
    } else {
        memcpy(data, b->data, b->size < size ? b->size : size);
    }
    b->data = data;
    b->size = size;
    b->version = version;
    result = data;
done:
    pthread_mutex_unlock(&lock);
    return result;
}

/* Collapses runs of blanks in a type's spelling ("struct  game" and
 * "struct game" are one type) into `out`. */
static void spelling(const char *type, char *out, size_t size)
{
    size_t n = 0;
    int blank = 0;
    for (const char *p = type; *p && n + 1 < size; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n') {
            blank = n > 0;
            continue;
        }
        if (blank && n + 2 < size)
            out[n++] = ' ';
        blank = 0;
        out[n++] = *p;
    }
    out[n] = '\0';
}

/* The layout each migrated type was last given (type "\0" layout), so
 * that a block created afterwards is known to be in it. */
struct layout_seen {
    char *type, *layout;
    struct layout_seen *next;
};
static struct layout_seen *layouts;

/* Under the lock. */
static const char *latest_layout(const char *type)
{
    for (struct layout_seen *l = layouts; l; l = l->next)
        if (strcmp(l->type, type) == 0)
            return l->layout;
    return NULL;
}

/* Under the lock. */
static void remember_layout(const char *type, const char *layout)
{
    struct layout_seen *l = layouts;
    while (l && strcmp(l->type, type) != 0)
        l = l->next;
    char *copy = strdup(layout);
    if (!copy)
        return;
    if (!l) {
        l = calloc(1, sizeof *l);
        if (!l || !(l->type = strdup(type))) {
            free(l);
            free(copy);
            return;
        }
        l->next = layouts;
        layouts = l;
    }
    free(l->layout);
    l->layout = copy;
}

/* Whether block `b` (typed, of the plan's type) is in the plan's old
 * layout: its size is, and no migration put it in another one. */
static int in_old_layout(const struct state_block *b, const struct migrate_plan *plan)
{
    return b->size == plan->old_size && (!b->layout || strcmp(b->layout, plan->from_layout) == 0);
}

int hooks_migration_conflict(const struct migrate_plan *plans, size_t nplans, char *why, size_t whysz)
{
    int rc = 0;
    pthread_mutex_lock(&lock);
    for (size_t k = 0; k < nplans && rc == 0; k++)
        for (struct state_block *b = blocks; b && rc == 0; b = b->next)
            if (b->type && strcmp(b->type, plans[k].type) == 0 && b->layout &&
                strcmp(b->layout, plans[k].from_layout) != 0 && strcmp(b->layout, plans[k].to_layout) != 0) {
                snprintf(why, whysz,
                         "state `%s` (%s) has the layout an earlier reload gave it, which this patch does not "
                         "migrate from; restart the program to apply",
                         b->name, b->type);
                rc = -1;
            }
    pthread_mutex_unlock(&lock);
    return rc;
}

HOT_API void *hot_state_typed(const char *name, size_t size, const char *type, hot_migrate_fn migrate)
{
    char spelled[256];
    if (!name || !type)
        return NULL;
    spelling(type, spelled, sizeof spelled);
    pthread_mutex_lock(&lock);
    struct state_block *b = blocks;
    while (b && strcmp(b->name, name) != 0)
        b = b->next;
    if (b && b->size >= size) {
        if (migrate)
            b->migrate = migrate;
        void *data = b->data;
        pthread_mutex_unlock(&lock);
        return data;
    }
    pthread_mutex_unlock(&lock);
    /* new, or asked bigger without a migration (then as hot_state: the
     * common prefix kept) */
    int created = !b;
    void *data = hot_state(name, size, 0, NULL);
    if (!data)
        return NULL;
    pthread_mutex_lock(&lock);
    for (b = blocks; b && strcmp(b->name, name) != 0; b = b->next)
        ;
    if (b && !b->type) {
        b->type = strdup(spelled);
        /* made after its type was migrated: by the new code, so in the new layout */
        const char *latest = latest_layout(spelled);
        b->layout = latest ? strdup(latest) : NULL;
    }
    if (b && migrate)
        b->migrate = migrate;
    pthread_mutex_unlock(&lock);
    if (created)
        session_state(name, spelled, size);
    return data;
}

void hooks_state_each(hooks_state_cb cb, void *user)
{
    pthread_mutex_lock(&lock);
    for (struct state_block *b = blocks; b; b = b->next)
        if (b->type)
            cb(b->name, b->type, b->size, user);
    pthread_mutex_unlock(&lock);
}

/* What one block's migration found, for its report. */
struct defaults {
    const char *fields[HOOKS_MAX_DEFAULTED];
    size_t n, more;
};

static void on_defaulted(const char *field, void *user)
{
    struct defaults *d = user;
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->fields[i], field) == 0)
            return;
    if (d->n < HOOKS_MAX_DEFAULTED)
        d->fields[d->n++] = field;
    else
        d->more++;
}

struct hooks_prepared {
    size_t n;
    struct {
        const struct state_block *block;
        size_t plan, size;
        void *data;
    } items[];
};

struct hooks_prepared *hooks_migrate_prepare(const struct migrate_plan *plans, size_t nplans)
{
    size_t n = 0;
    pthread_mutex_lock(&lock);
    for (size_t k = 0; k < nplans; k++)
        for (struct state_block *b = blocks; b; b = b->next)
            n += b->type && strcmp(plans[k].from_layout, plans[k].to_layout) != 0 &&
                 strcmp(b->type, plans[k].type) == 0 && in_old_layout(b, &plans[k]);
    struct hooks_prepared *pre = n ? calloc(1, sizeof *pre + n * sizeof pre->items[0]) : NULL;
    for (size_t k = 0; pre && k < nplans; k++)
        for (struct state_block *b = blocks; b && pre->n < n; b = b->next)
            if (b->type && strcmp(plans[k].from_layout, plans[k].to_layout) != 0 &&
                strcmp(b->type, plans[k].type) == 0 && in_old_layout(b, &plans[k])) {
                pre->items[pre->n].block = b;
                pre->items[pre->n].plan = k;
                pre->items[pre->n++].size = plans[k].new_size;
            }
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; pre && i < pre->n; i++) {
        size_t size = pre->items[i].size ? pre->items[i].size : 1;
        volatile char *data = calloc(1, size);
        /* each page written once, so that it is faulted in here, not at the
         * safe point (a memset of zeros would be folded into the calloc) */
        for (size_t at = 0; data && at < size; at += 4096)
            data[at] = 0;
        pre->items[i].data = (void *)data;
    }
    return pre;
}

void hooks_prepared_free(struct hooks_prepared *pre)
{
    for (size_t i = 0; pre && i < pre->n; i++)
        free(pre->items[i].data);
    free(pre);
}

/* The prepared new data for block `b` of plan `k`, taken; NULL when none. */
static void *take_prepared(struct hooks_prepared *pre, const struct state_block *b, size_t k, size_t size)
{
    for (size_t i = 0; pre && i < pre->n; i++)
        if (pre->items[i].block == b && pre->items[i].plan == k && pre->items[i].size == size &&
            pre->items[i].data) {
            void *data = pre->items[i].data;
            pre->items[i].data = NULL;
            return data;
        }
    return NULL;
}

/* The blocks migrated at one reload: old data retired, new data in place. */
size_t hooks_migrate(const struct migrate_plan *plans, size_t nplans, struct hooks_prepared *pre,
                     hooks_migrated_cb report, void *user)
{
    size_t done = 0;
    for (size_t k = 0; k < nplans; k++) {
        const struct migrate_plan *plan = &plans[k];
        for (;;) {
            /* one block at a time, the lock not held across the user's
             * function (it may call hot_state) */
            pthread_mutex_lock(&lock);
            struct state_block *b = blocks;
            if (strcmp(plan->from_layout, plan->to_layout) == 0) /* unchanged: kept as it is */
                b = NULL;
            while (b && !(b->type && strcmp(b->type, plan->type) == 0 && in_old_layout(b, plan) &&
                          b->version != -1 - (int)k))
                b = b->next;
            if (!b && strcmp(plan->from_layout, plan->to_layout) != 0)
                remember_layout(plan->type, plan->to_layout);
            if (!b) {
                pthread_mutex_unlock(&lock);
                break;
            }
            b->version = -1 - (int)k; /* seen by this plan: not twice */
            void *old = b->data;
            size_t old_size = b->size;
            hot_migrate_fn fn = b->migrate;
            char *name = strdup(b->name);
            pthread_mutex_unlock(&lock);
            void *data = take_prepared(pre, b, k, plan->new_size);
            if (!data)
                data = calloc(1, plan->new_size ? plan->new_size : 1);
            struct retired *r = malloc(sizeof *r);
            if (!data || !r || !name) {
                free(data);
                free(r);
                if (report)
                    report(name ? name : "?", plan->type, "out of memory: the block was kept as it was", NULL, 0,
                           user);
                free(name);
                continue;
            }
            struct defaults d = { .n = 0 };
            if (fn)
                fn(data, plan->new_size, old, old_size, 0);
            else
                migrate_run(plan, old, data, on_defaulted, &d);
            pthread_mutex_lock(&lock);
            r->data = old;
            r->next = retired;
            retired = r;
            b->data = data;
            b->size = plan->new_size;
            free(b->layout);
            b->layout = strdup(plan->to_layout);
            pthread_mutex_unlock(&lock);
            if (report)
                report(name, plan->type, fn ? "function" : "plan", d.fields, d.n, user);
            free(name);
            done++;
        }
    }
    pthread_mutex_lock(&lock);
    for (struct state_block *b = blocks; b; b = b->next)
        if (b->type && b->version < 0)
            b->version = 0;
    pthread_mutex_unlock(&lock);
    return done;
}

/* ---------------------------------------------------------------- across restarts */

void hooks_blocks_each(hooks_block_cb cb, void *user)
{
    pthread_mutex_lock(&lock);
    for (struct state_block *b = blocks; b; b = b->next)
        cb(b->name, b->type, b->type ? 0 : b->version, b->layout, b->data, b->size, user);
    pthread_mutex_unlock(&lock);
}

int hooks_restore_block(const char *name, const char *type, int version, void *data, size_t size)
{
    struct state_block *b = calloc(1, sizeof *b);
    char *n = strdup(name), *t = type ? strdup(type) : NULL;
    int rc = -1;
    if (!b || !n || (type && !t))
        goto fail;
    pthread_mutex_lock(&lock);
    struct state_block *q = blocks;
    while (q && strcmp(q->name, name) != 0)
        q = q->next;
    if (!q) {
        b->name = n;
        b->type = t;
        b->data = data;
        b->size = size;
        b->version = type ? 0 : version;
        b->next = blocks;
        blocks = b;
        rc = 0;
    }
    pthread_mutex_unlock(&lock);
    if (rc == 0)
        return 0;
fail:
    free(b);
    free(n);
    free(t);
    return -1;
}

/* The variables HOT_PERSIST registered (from constructors, before main). */
struct persisted {
    void *addr;
    size_t size;
    const char *name, *file; /* string literals of the program */
    struct persisted *next;
};
static struct persisted *persisted;

HOT_API int hot_persist(void *addr, size_t size, const char *name, const char *file)
{
    if (!addr || !size || !name)
        return HOT_EINVAL;
    struct persisted *v = calloc(1, sizeof *v);
    if (!v)
        return HOT_ENOMEM;
    v->addr = addr;
    v->size = size;
    v->name = name;
    v->file = file ? file : "";
    pthread_mutex_lock(&lock);
    for (struct persisted *q = persisted; q; q = q->next)
        if (q->addr == addr) {
            pthread_mutex_unlock(&lock);
            free(v);
            return 0;
        }
    v->next = persisted;
    persisted = v;
    pthread_mutex_unlock(&lock);
    return 0;
}

void hooks_persist_each(hooks_persist_cb cb, void *user)
{
    pthread_mutex_lock(&lock);
    for (struct persisted *v = persisted; v; v = v->next)
        cb(v->name, v->file, v->addr, v->size, user);
    pthread_mutex_unlock(&lock);
}
