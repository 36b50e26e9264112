/* hooks: hot_on_reload and hot_state. See hooks.h and hot.h. */
#include "hooks.h"

#include "hot.h"

#include <pthread.h>
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
    void *data;
    size_t size;
    int version;
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
