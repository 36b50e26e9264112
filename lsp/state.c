/* Implements lsp/state.h. A flat array: a project has few HOT functions. */
#include "state.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void state_init(struct state *self)
{
    memset(self, 0, sizeof *self);
}

static void free_record(struct state_record *r)
{
    free(r->result);
    free(r->message);
}

void state_release(struct state *self)
{
    for (size_t i = 0; i < self->n_fns; i++) {
        struct state_function *f = self->fns[i];
        for (size_t k = 0; k < f->n_history; k++)
            free_record(&f->history[k]);
        free(f->path);
        free(f->name);
        free(f->stale);
        free(f);
    }
    free(self->fns);
    json_decref(self->last);
    json_decref(self->run);
    memset(self, 0, sizeof *self);
}

struct state_function *state_get(struct state *self, const char *path, const char *name)
{
    for (size_t i = 0; i < self->n_fns; i++)
        if (!strcmp(self->fns[i]->path, path ? path : "") && !strcmp(self->fns[i]->name, name))
            return self->fns[i];
    return NULL;
}

struct state_function *state_ensure(struct state *self, const char *path, const char *name)
{
    struct state_function *f = state_get(self, path, name), **fns;

    if (f)
        return f;
    f = calloc(1, sizeof *f);
    fns = realloc(self->fns, (self->n_fns + 1) * sizeof *fns);
    if (!f || !fns) {
        free(f);
        if (fns)
            self->fns = fns;
        return NULL;
    }
    self->fns = fns;
    f->path = strdup(path ? path : "");
    f->name = strdup(name);
    self->fns[self->n_fns++] = f;
    return f;
}

void state_set_stale(struct state *self, const char *path, const char *name, const char *reason)
{
    struct state_function *f = reason ? state_ensure(self, path, name) : state_get(self, path, name);

    if (!f)
        return;
    free(f->stale);
    f->stale = reason ? strdup(reason) : NULL;
}

void state_set_running(struct state *self, const char *path, const char *name, int version)
{
    struct state_function *f = state_ensure(self, path, name);

    if (!f)
        return;
    f->running = 1;
    f->version = version;
    f->rolled_back_from = 0;
    free(f->stale);
    f->stale = NULL;
}

void state_record(struct state *self, const char *path, const char *name, int version, const char *result,
                  const char *message, uint64_t total_us)
{
    struct state_function *f = state_ensure(self, path, name);
    struct state_record *r;
    struct timespec ts;

    if (!f)
        return;
    if (!strcmp(result, "applied")) {
        f->running = 1;
        f->version = version;
        f->reloads++;
        f->rolled_back_from = 0;
        f->last_us = total_us;
        free(f->stale);
        f->stale = NULL;
    } else if (strcmp(result, "rollback") == 0) {
        /* several records of one rollback (one per program) keep the first */
        if (f->version != version)
            f->rolled_back_from = f->version;
        f->running = 1;
        f->version = version;
        free(f->stale);
        f->stale = NULL;
    } else {
        free(f->stale);
        f->stale = strdup(message && *message ? message : result);
    }
    if (f->n_history == STATE_HISTORY_MAX) {
        free_record(&f->history[0]);
        memmove(f->history, f->history + 1, (STATE_HISTORY_MAX - 1) * sizeof *f->history);
        f->n_history--;
    }
    r = &f->history[f->n_history++];
    clock_gettime(CLOCK_REALTIME, &ts);
    r->when_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    r->version = version;
    r->result = strdup(result);
    r->message = strdup(message ? message : "");
    r->total_us = total_us;
}

void state_reset_running(struct state *self)
{
    for (size_t i = 0; i < self->n_fns; i++) {
        self->fns[i]->version = 0;
        self->fns[i]->rolled_back_from = 0;
        self->fns[i]->running = 0;
        free(self->fns[i]->stale);
        self->fns[i]->stale = NULL;
    }
}

void state_set_last(struct state *self, json_t *last)
{
    json_decref(self->last);
    self->last = last;
}

void state_set_run(struct state *self, json_t *run)
{
    json_decref(self->run);
    self->run = run;
}

json_t *state_status(const struct state *self)
{
    json_t *s = json_pack("{s:i, s:i, s:b}", "reloads", self->reloads, "programs", self->programs, "compiling",
                          self->compiling > 0);

    if (self->last)
        json_object_set(s, "last", self->last);
    if (self->run)
        json_object_set(s, "run", self->run);
    return s;
}
