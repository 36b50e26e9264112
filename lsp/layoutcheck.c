/* Layout checks off the loop (see layoutcheck.h).
 *
 * An image is shared by the programs of one build-id and by the checks
 * that use it; `users` counts both, and the image goes when it drops to
 * zero. Its load happens once, under its own mutex, on whichever worker
 * gets there first: the preload queued at attach, or a check queued before
 * the preload ran. */
#include "layoutcheck.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct image {
    struct image *next;
    struct layoutcheck *owner;
    char *build_id;
    char *paths[2];          /* /proc/<pid>/exe, the reported executable */
    pthread_mutex_t lock;    /* guards the load */
    bool loaded;
    int rc;
    char error[768];
    struct debuginfo *file;
    uint64_t load_us;
    int programs, users;     /* attached programs; programs + queued work */
};

struct layoutcheck {
    uv_loop_t *loop;
    layoutcheck_loaded_cb loaded;
    void *user;
    struct image *images;
    int pending;             /* queued work */
    bool closing;
};

/* One queued piece of work: a preload (no patch) or a check. */
struct work {
    uv_work_t req;
    struct image *image;
    char *patch;
    struct compat_request req_copy;
    struct compat_function *functions;
    struct compat_static *statics;
    char **state_types;
    struct compat_report report;
    int rc;
    char error[768];
    uint64_t us;
    layoutcheck_cb cb;
    layoutcheck_work_fn use;     /* layoutcheck_use */
    layoutcheck_done_fn used;
    void *user;
};

static uint64_t now_us(void)
{
    return uv_hrtime() / 1000;
}

static void image_free(struct image *im)
{
    debuginfo_free(im->file);
    free(im->build_id);
    free(im->paths[0]);
    free(im->paths[1]);
    pthread_mutex_destroy(&im->lock);
    free(im);
}

static void image_release(struct image *im)
{
    struct layoutcheck *self = im->owner;

    if (--im->users > 0)
        return;
    for (struct image **p = &self->images; *p; p = &(*p)->next)
        if (*p == im) {
            *p = im->next;
            break;
        }
    image_free(im);
}

/* On a worker: reads the image once. */
static void image_load(struct image *im)
{
    pthread_mutex_lock(&im->lock);
    if (!im->loaded) {
        uint64_t t0 = now_us();
        char why[2][512] = { "", "" };
        int rc = DEBUGINFO_EIO;

        for (int i = 0; i < 2 && !im->file; i++) {
            struct debuginfo *f = NULL;
            char id[256];
            if (!im->paths[i] || !*im->paths[i])
                continue;
            rc = debuginfo_open(im->paths[i], &f, why[i], sizeof why[i]);
            if (rc != 0)
                continue;
            if (*im->build_id && (!debuginfo_build_id(f, id, sizeof id) || strcmp(id, im->build_id) != 0)) {
                snprintf(why[i], sizeof why[i], "%s is not the running program's build (build-id differs)",
                         im->paths[i]);
                debuginfo_free(f);
                rc = DEBUGINFO_EIO;
                continue;
            }
            im->file = f;
        }
        im->rc = im->file ? 0 : rc;
        if (!im->file) {
            if (rc == DEBUGINFO_ENOINFO)
                snprintf(im->error, sizeof im->error,
                         "the running program has no debug information, so the layout of its data cannot be "
                         "checked; rebuild it with -g");
            else
                snprintf(im->error, sizeof im->error, "cannot read the running program's debug information: %s",
                         *why[0] ? why[0] : *why[1] ? why[1] : debuginfo_strerror(rc));
        }
        im->load_us = now_us() - t0;
        im->loaded = true;
    }
    pthread_mutex_unlock(&im->lock);
}

struct layoutcheck *layoutcheck_new(uv_loop_t *loop, layoutcheck_loaded_cb loaded, void *user)
{
    struct layoutcheck *self = calloc(1, sizeof *self);

    if (!self)
        return NULL;
    self->loop = loop;
    self->loaded = loaded;
    self->user = user;
    return self;
}

static void maybe_free(struct layoutcheck *self)
{
    if (!self->closing || self->pending > 0)
        return;
    while (self->images) {
        struct image *im = self->images;
        self->images = im->next;
        image_free(im);
    }
    free(self);
}

void layoutcheck_free(struct layoutcheck *self)
{
    if (!self)
        return;
    self->closing = true;
    maybe_free(self);
}

static struct image *image_get(struct layoutcheck *self, const char *build_id)
{
    for (struct image *im = self->images; im; im = im->next)
        if (strcmp(im->build_id, build_id) == 0)
            return im;
    return NULL;
}

static void work_free(struct work *w)
{
    free(w->patch);
    for (size_t i = 0; i < w->req_copy.function_count; i++) {
        free((char *)w->functions[i].name);
        free((char *)w->functions[i].symbol);
    }
    for (size_t i = 0; i < w->req_copy.static_count; i++) {
        free((char *)w->statics[i].symbol);
        free((char *)w->statics[i].name);
        free((char *)w->statics[i].function);
    }
    for (size_t i = 0; i < w->req_copy.state_type_count; i++)
        free(w->state_types[i]);
    free(w->state_types);
    free(w->functions);
    free(w->statics);
    free((char *)w->req_copy.source);
    compat_report_release(&w->report);
    free(w);
}

static void preload_work(uv_work_t *req)
{
    struct work *w = req->data;
    image_load(w->image);
}

static void on_preloaded(uv_work_t *req, int status)
{
    struct work *w = req->data;
    struct image *im = w->image;
    struct layoutcheck *self = im->owner;

    (void)status;
    self->pending--;
    if (!self->closing && self->loaded)
        self->loaded(im->build_id, im->rc, im->rc ? im->error : NULL,
                     im->file ? debuginfo_cu_count(im->file) : 0, im->load_us, self->user);
    image_release(im);
    work_free(w);
    maybe_free(self);
}

void layoutcheck_attach(struct layoutcheck *self, const char *build_id, long pid, const char *executable)
{
    struct image *im = image_get(self, build_id ? build_id : "");
    struct work *w;
    char proc[64];

    if (im) {
        im->programs++;
        im->users++;
        return;
    }
    im = calloc(1, sizeof *im);
    if (!im)
        return;
    snprintf(proc, sizeof proc, "/proc/%ld/exe", pid);
    im->owner = self;
    im->build_id = strdup(build_id ? build_id : "");
    im->paths[0] = pid > 0 ? strdup(proc) : NULL;
    im->paths[1] = executable ? strdup(executable) : NULL;
    pthread_mutex_init(&im->lock, NULL);
    im->programs = im->users = 1;
    im->next = self->images;
    self->images = im;
    if (!im->build_id)
        return;
    w = calloc(1, sizeof *w);
    if (!w)
        return;
    w->image = im;
    w->req.data = w;
    im->users++;
    if (uv_queue_work(self->loop, &w->req, preload_work, on_preloaded) != 0) {
        im->users--;
        free(w);
        return;
    }
    self->pending++;
}

void layoutcheck_detach(struct layoutcheck *self, const char *build_id)
{
    struct image *im = image_get(self, build_id ? build_id : "");

    if (!im)
        return;
    im->programs--;
    image_release(im);
}

static void check_work(uv_work_t *req)
{
    struct work *w = req->data;
    uint64_t t0;

    image_load(w->image);
    t0 = now_us();
    if (!w->image->file) {
        w->rc = w->image->rc ? w->image->rc : DEBUGINFO_EIO;
        snprintf(w->error, sizeof w->error, "%s", w->image->error);
    } else {
        w->rc = compat_check(w->image->file, w->patch, &w->req_copy, &w->report, w->error, sizeof w->error);
    }
    w->us = now_us() - t0;
}

static void on_checked(uv_work_t *req, int status)
{
    struct work *w = req->data;
    struct layoutcheck *self = w->image->owner;
    struct layoutcheck_result r = { .rc = w->rc, .error = w->rc ? w->error : NULL, .report = &w->report,
                                    .duration_us = w->us };

    (void)status;
    self->pending--;
    if (!self->closing)
        w->cb(&r, w->user);
    image_release(w->image);
    work_free(w);
    maybe_free(self);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A work item on the image of `build_id` (*rc: UV_ENOENT without one,
 * UV_ENOMEM), or NULL. */
static struct work *work_new(struct layoutcheck *self, const char *build_id, int *rc)
{
    struct image *im = image_get(self, build_id ? build_id : "");
    struct work *w = im ? calloc(1, sizeof *w) : NULL;

    *rc = !im ? UV_ENOENT : !w ? UV_ENOMEM : 0;
    if (w) {
        w->image = im;
        w->req.data = w;
    }
    return w;
}

/* Queues `w` on a worker, holding its image; frees it when it cannot. */
static int work_queue(struct layoutcheck *self, struct work *w, uv_work_cb work, uv_after_work_cb after)
{
    int rc;

    w->image->users++;
    rc = uv_queue_work(self->loop, &w->req, work, after);
    if (rc != 0) {
        w->image->users--;
        work_free(w);
        return rc;
    }
    self->pending++;
    return 0;
}

int layoutcheck_run(struct layoutcheck *self, const char *build_id, const char *patch,
                    const struct compat_request *req, layoutcheck_cb cb, void *user)
{
    int rc;
    struct work *w = work_new(self, build_id, &rc);

    if (!w)
        return rc;
    w->cb = cb;
    w->user = user;
    w->patch = strdup(patch);
    w->req_copy.source = strdup(req->source);
    w->functions = calloc(req->function_count + 1, sizeof *w->functions);
    w->statics = calloc(req->static_count + 1, sizeof *w->statics);
    if (!w->patch || !w->req_copy.source || !w->functions || !w->statics) {
        work_free(w);
        return UV_ENOMEM;
    }
    for (size_t i = 0; i < req->function_count; i++) {
        w->functions[i].name = strdup(req->functions[i].name);
        w->functions[i].symbol = dup_or_null(req->functions[i].symbol);
        w->functions[i].is_static = req->functions[i].is_static;
        w->req_copy.function_count++;
    }
    for (size_t i = 0; i < req->static_count; i++) {
        w->statics[i].symbol = dup_or_null(req->statics[i].symbol);
        w->statics[i].name = dup_or_null(req->statics[i].name);
        w->statics[i].function = dup_or_null(req->statics[i].function);
        w->req_copy.static_count++;
    }
    w->state_types = calloc(req->state_type_count + 1, sizeof *w->state_types);
    for (size_t i = 0; w->state_types && i < req->state_type_count; i++)
        if ((w->state_types[i] = strdup(req->state_types[i])) != NULL)
            w->req_copy.state_type_count++;
    w->req_copy.functions = w->functions;
    w->req_copy.statics = w->statics;
    w->req_copy.state_types = (const char *const *)w->state_types;
    return work_queue(self, w, check_work, on_checked);
}

static void use_work(uv_work_t *req)
{
    struct work *w = req->data;

    image_load(w->image);
    w->use(w->image->file, w->image->file ? NULL : w->image->error, w->user);
}

static void on_used(uv_work_t *req, int status)
{
    struct work *w = req->data;
    struct layoutcheck *self = w->image->owner;

    (void)status;
    self->pending--;
    if (!self->closing)
        w->used(w->user);
    image_release(w->image);
    work_free(w);
    maybe_free(self);
}

int layoutcheck_use(struct layoutcheck *self, const char *build_id, layoutcheck_work_fn work,
                    layoutcheck_done_fn done, void *user)
{
    int rc;
    struct work *w = work_new(self, build_id, &rc);

    if (!w)
        return rc;
    w->use = work;
    w->used = done;
    w->user = user;
    return work_queue(self, w, use_work, on_used);
}
