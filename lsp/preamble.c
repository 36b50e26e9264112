/* The precompiled preamble (see preamble.h): finding the block, one cache
 * entry per translation unit, its build in the background (write the
 * header on a worker, compile it through the build runner, read the
 * compiler's depfile on a worker), and each save's use of it. */
#include "preamble.h"
#include "build.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Ready entries kept (each is a few MB on disk with -g); the least
 * recently used one beyond that is dropped. */
#define PREAMBLE_MAX_READY 8
/* A header whose mtime is this close to the start of the build may have
 * been written during it (file times come from a coarse clock). */
#define PREAMBLE_MTIME_MARGIN_NS 50000000ll
/* A failed build is tried again for the same text and flags after this. */
#define PREAMBLE_RETRY_NS 60000000000ull

uint64_t preamble_hash(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* ------------------------------------------------------------ the block */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Whether the directive at `p` (after '#' and blanks) is `word`. */
static bool directive_is(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 &&
           (p + n == end || !((p[n] >= 'a' && p[n] <= 'z') || p[n] == '_'));
}

size_t preamble_scan(const char *text, size_t len, unsigned *lines, bool *includes)
{
    const char *p = text, *end = text + len;
    size_t cut = 0;
    unsigned line = 0, cut_lines = 0;
    int depth = 0;
    bool in_comment = false, inc = false;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break; /* a last line without its newline stays out */
        const char *q = p;
        bool directive = false;
        if (!in_comment) {
            while (q < eol && is_space(*q))
                q++;
            if (q < eol && *q == '#') {
                directive = true;
                const char *d = q + 1;
                while (d < eol && is_space(*d))
                    d++;
                if (directive_is(d, eol, "if") || directive_is(d, eol, "ifdef") || directive_is(d, eol, "ifndef"))
                    depth++;
                else if (directive_is(d, eol, "endif"))
                    depth--;
                else if (directive_is(d, eol, "include") || directive_is(d, eol, "include_next") ||
                         directive_is(d, eol, "import"))
                    inc = true;
                else if (directive_is(d, eol, "line") || directive_is(d, eol, "pragma"))
                    break; /* #line would move the mapping; #pragma once and friends act per file */
                /* continuation lines belong to the directive */
                while (eol > p && eol[-1] == '\\' && eol + 1 < end) {
                    const char *next = memchr(eol + 1, '\n', (size_t)(end - eol - 1));
                    if (!next)
                        goto done;
                    line++;
                    eol = next;
                }
                q = eol; /* a comment opened on a directive line is seen below */
                for (const char *c = p; c + 1 < eol; c++) {
                    if (*c == '"') {
                        for (c++; c < eol && *c != '"'; c++)
                            if (*c == '\\')
                                c++;
                    } else if (c[0] == '/' && c[1] == '/') {
                        break;
                    } else if (c[0] == '/' && c[1] == '*') {
                        const char *close = NULL;
                        for (const char *k = c + 2; k + 1 < eol; k++)
                            if (k[0] == '*' && k[1] == '/') {
                                close = k;
                                break;
                            }
                        if (!close) {
                            in_comment = true;
                            break;
                        }
                        c = close + 1;
                    }
                }
            }
        }
        if (!directive) {
            /* blank, comment, or the first C token */
            for (q = p; q < eol; q++) {
                if (in_comment) {
                    if (q + 1 < eol && q[0] == '*' && q[1] == '/') {
                        in_comment = false;
                        q++;
                    }
                } else if (is_space(*q)) {
                    continue;
                } else if (q + 1 < eol && q[0] == '/' && q[1] == '/') {
                    break;
                } else if (q + 1 < eol && q[0] == '/' && q[1] == '*') {
                    in_comment = true;
                    q++;
                } else {
                    goto done;
                }
            }
        }
        line++;
        p = eol + 1;
        if (depth == 0 && !in_comment && directive) {
            cut = (size_t)(p - text);
            cut_lines = line;
        }
        if (depth < 0)
            break;
    }
done:
    *lines = cut_lines;
    /* an #include counts only when it is inside the cut */
    if (includes) {
        *includes = false;
        if (inc) {
            unsigned l;
            bool again;
            if (cut < len)
                *includes = preamble_scan(text, cut, &l, &again) == cut && again;
            else
                *includes = true;
        }
    }
    return cut;
}

/* ------------------------------------------------------------ entries */

enum entry_state { ENTRY_WRITING, ENTRY_BUILDING, ENTRY_READING, ENTRY_READY, ENTRY_FAILED };

struct entry {
    struct entry *next;
    struct entry *all_prev, *all_next; /* every live entry, current or not */
    struct preamble_cache *cache;
    int refs;                 /* the cache's (while current), each plan's, each step in flight */
    bool current;             /* in the cache's list */
    char *path;               /* the translation unit */
    uint64_t text_hash, flags_hash;
    char *header_text;        /* `#line 1 "path"` + the block */
    size_t header_len;
    char **argv, *cwd;        /* the build's */
    int timeout_ms;
    enum entry_state state;
    char *reason;             /* why it failed */
    char header[PATH_MAX + 300], pch[PATH_MAX + 308], dep[PATH_MAX + 308];
    struct timespec started;  /* wall clock when the compiler started */
    uint64_t started_ns;      /* uv_hrtime() then, for the log and retries */
    uint64_t used;            /* uv_hrtime() of the last use, for eviction */
    char **deps;              /* the headers it was built from (immutable once ready) */
    size_t n_deps;
    uv_work_t work;
    int work_errno;
};

struct preamble_cache {
    uv_loop_t *loop;
    struct build_runner *runner;
    char tmpdir[PATH_MAX];
    struct entry *entries;    /* the current entry of each translation unit */
    struct entry *all;        /* every entry still alive (for the exit) */
    unsigned next_id;
    bool closing;
};

struct preamble_cache *preamble_cache_new(uv_loop_t *loop, struct build_runner *runner, const char *tmpdir)
{
    struct preamble_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    c->runner = runner;
    snprintf(c->tmpdir, sizeof c->tmpdir, "%s", tmpdir);
    return c;
}

static void on_unlinked(uv_fs_t *req)
{
    uv_fs_req_cleanup(req);
    free(req);
}

static void unlink_async(uv_loop_t *loop, const char *path)
{
    uv_fs_t *req = malloc(sizeof *req);
    if (req && uv_fs_unlink(loop, req, path, on_unlinked) != 0)
        free(req);
}

static void entry_free(struct entry *e);

static void entry_unref(struct entry *e)
{
    if (--e->refs > 0)
        return;
    entry_free(e);
}

static void entry_free(struct entry *e)
{
    if (e->cache && !e->cache->closing && e->state != ENTRY_WRITING) {
        unlink_async(e->cache->loop, e->header);
        unlink_async(e->cache->loop, e->pch);
        unlink_async(e->cache->loop, e->dep);
    }
    if (e->cache) {
        if (e->all_prev)
            e->all_prev->all_next = e->all_next;
        else
            e->cache->all = e->all_next;
        if (e->all_next)
            e->all_next->all_prev = e->all_prev;
    }
    free(e->path);
    free(e->header_text);
    build_argv_free(e->argv);
    free(e->cwd);
    free(e->reason);
    for (size_t i = 0; i < e->n_deps; i++)
        free(e->deps[i]);
    free(e->deps);
    free(e);
}

/* Takes `e` out of the cache's list (it is no longer the current entry of
 * its file); freed when nothing else holds it. */
static void entry_drop(struct entry *e)
{
    struct entry **p = &e->cache->entries;
    while (*p && *p != e)
        p = &(*p)->next;
    if (*p)
        *p = e->next;
    e->current = false;
    entry_unref(e);
}

void preamble_cache_close(struct preamble_cache *self)
{
    if (self)
        self->closing = true;
}

void preamble_cache_free(struct preamble_cache *self)
{
    if (!self)
        return;
    self->closing = true;
    /* The loop has ended: no work request is pending, and the build
     * runner's unreported jobs are freed without their callbacks. So every
     * entry still alive, current or not, is freed here whatever holds it. */
    self->entries = NULL;
    while (self->all) {
        struct entry *e = self->all;
        self->all = e->all_next;
        e->cache = NULL;
        entry_free(e);
    }
    free(self);
}

static struct entry *entry_of(struct preamble_cache *c, const char *path)
{
    for (struct entry *e = c->entries; e; e = e->next)
        if (strcmp(e->path, path) == 0)
            return e;
    return NULL;
}

/* Drops the least recently used ready entries beyond the limit that no
 * save is using. */
static void evict(struct preamble_cache *c)
{
    for (;;) {
        size_t ready = 0;
        struct entry *oldest = NULL;
        for (struct entry *e = c->entries; e; e = e->next)
            if (e->state == ENTRY_READY) {
                ready++;
                if (e->refs == 1 && (!oldest || e->used < oldest->used))
                    oldest = e;
            }
        if (ready <= PREAMBLE_MAX_READY || !oldest)
            return;
        log_debug("dropped the precompiled preamble of %s (more than %d kept)", oldest->path, PREAMBLE_MAX_READY);
        entry_drop(oldest);
    }
}

/* On a worker: writes the header. */
static void write_header_work(uv_work_t *req)
{
    struct entry *e = req->data;
    int fd = open(e->header, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t done = 0;

    e->work_errno = 0;
    if (fd < 0) {
        e->work_errno = errno;
        return;
    }
    while (done < e->header_len) {
        ssize_t n = write(fd, e->header_text + done, e->header_len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            e->work_errno = n < 0 ? errno : EIO;
            break;
        }
        done += (size_t)n;
    }
    if (close(fd) != 0 && !e->work_errno)
        e->work_errno = errno;
}

/* Splits a make-style depfile (`target: dep dep \` lines, `\ ` for a
 * space) into the paths after the first colon. */
static int parse_depfile(const char *text, size_t len, char ***out, size_t *n_out)
{
    const char *p = text, *end = text + len;
    char **v = NULL, *word = malloc(len + 1);
    size_t n = 0, cap = 0;

    if (!word)
        return -1;
    while (p < end && !(*p == ':' && (p + 1 == end || p[1] == ' ' || p[1] == '\n' || p[1] == '\\')))
        p++;
    if (p < end)
        p++;
    while (p < end) {
        size_t w = 0;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || (*p == '\\' && p + 1 < end && p[1] == '\n')))
            p += *p == '\\' ? 2 : 1;
        while (p < end && *p != ' ' && *p != '\t' && *p != '\n') {
            if (*p == '\\' && p + 1 < end && p[1] == '\n')
                break;
            if (*p == '\\' && p + 1 < end && (p[1] == ' ' || p[1] == '#'))
                p++;
            else if (*p == '$' && p + 1 < end && p[1] == '$')
                p++;
            word[w++] = *p++;
        }
        if (w == 0)
            continue;
        if (w == 1 && word[0] == ':')
            break; /* a second rule (-MP phony targets) */
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv)
                goto fail;
            v = nv;
        }
        if (!(v[n] = strndup(word, w)))
            goto fail;
        n++;
    }
    free(word);
    *out = v;
    *n_out = n;
    return 0;
fail:
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    free(word);
    return -1;
}

/* On a worker: reads the depfile the build wrote into the entry's deps. */
static void read_deps_work(uv_work_t *req)
{
    struct entry *e = req->data;
    int fd = open(e->dep, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    size_t got = 0;

    e->work_errno = EIO;
    if (fd < 0) {
        e->work_errno = errno;
        return;
    }
    if (fstat(fd, &st) == 0 && (buf = malloc((size_t)st.st_size + 1)) != NULL) {
        while (got < (size_t)st.st_size) {
            ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got == (size_t)st.st_size && parse_depfile(buf, got, &e->deps, &e->n_deps) == 0)
            e->work_errno = 0;
    }
    free(buf);
    close(fd);
}

static void on_deps_read(uv_work_t *req, int status)
{
    struct entry *e = req->data;

    (void)status;
    if (e->cache && !e->cache->closing && e->current) {
        if (e->work_errno) {
            e->state = ENTRY_FAILED;
            e->reason = strdup("cannot read the compiler's list of headers");
            log_warn("cannot use the precompiled preamble of %s: %s", e->path, e->reason);
        } else {
            e->state = ENTRY_READY;
            e->used = uv_hrtime();
            log_info("precompiled the preamble of %s (%zu headers) in %.0f ms", e->path, e->n_deps,
                     (double)(uv_hrtime() - e->started_ns) / 1e6);
            evict(e->cache);
        }
    }
    entry_unref(e);
}

static void on_built(const struct build_result *r, void *user)
{
    struct entry *e = user;

    if (!e->cache || e->cache->closing || !e->current || r->status == BUILD_ECANCELED) {
        entry_unref(e);
        return;
    }
    if (r->status != 0) {
        const char *out = r->output ? r->output : "";
        const char *nl = strchr(out, '\n');
        e->state = ENTRY_FAILED;
        if (r->diags.count > 0 && r->diags.items[0].message)
            e->reason = strdup(r->diags.items[0].message);
        else
            e->reason = strndup(out, nl ? (size_t)(nl - out) : strlen(out));
        if (!e->reason || !*e->reason) {
            free(e->reason);
            e->reason = strdup(build_strerror(r->status));
        }
        log_warn("cannot precompile the preamble of %s: %s; its patches compile without it", e->path,
                 e->reason ? e->reason : "");
        entry_unref(e);
        return;
    }
    e->state = ENTRY_READING;
    e->work.data = e;
    if (uv_queue_work(e->cache->loop, &e->work, read_deps_work, on_deps_read) != 0) {
        e->state = ENTRY_FAILED;
        entry_unref(e);
    }
}

static void on_header_written(uv_work_t *req, int status)
{
    struct entry *e = req->data;
    char key[PATH_MAX + 8];

    (void)status;
    if (!e->cache || e->cache->closing || !e->current) {
        entry_unref(e);
        return;
    }
    if (e->work_errno) {
        e->state = ENTRY_FAILED;
        e->reason = strdup(strerror(e->work_errno));
        log_warn("cannot write %s: %s; patches of %s compile without a precompiled preamble", e->header,
                 e->reason ? e->reason : "", e->path);
        entry_unref(e);
        return;
    }
    e->state = ENTRY_BUILDING;
    clock_gettime(CLOCK_REALTIME, &e->started);
    e->started_ns = uv_hrtime();
    snprintf(key, sizeof key, "preamble\n%s", e->path);
    if (build_run(e->cache->runner, key, e->argv, NULL, e->cwd, e->timeout_ms, on_built, e) != 0) {
        e->state = ENTRY_FAILED;
        e->reason = strdup("out of memory");
        entry_unref(e);
    }
    /* BUILD_ESPAWN calls on_built before build_run returns: nothing more here */
}

/* ------------------------------------------------------------ argument vectors */

static bool is_depfile_flag(const char *a)
{
    return strcmp(a, "-MD") == 0 || strcmp(a, "-MMD") == 0 || strcmp(a, "-MP") == 0;
}

static bool depfile_flag_has_value(const char *a)
{
    return strcmp(a, "-MF") == 0 || strcmp(a, "-MT") == 0 || strcmp(a, "-MQ") == 0;
}

uint64_t preamble_flags_hash(char *const *argv, const char *patch_c, const char *out_so)
{
    uint64_t h = PREAMBLE_HASH_INIT;
    for (char *const *a = argv; *a; a++) {
        if (strcmp(*a, patch_c) == 0 || strcmp(*a, out_so) == 0 || is_depfile_flag(*a))
            continue;
        if (depfile_flag_has_value(*a)) {
            if (a[1])
                a++;
            continue;
        }
        h = preamble_hash(h, *a, strlen(*a) + 1);
    }
    return h;
}

static int push(char ***v, size_t *n, size_t *cap, const char *s)
{
    if (*n + 2 > *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        char **nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return -1;
        *v = nv;
        *cap = nc;
    }
    if (!((*v)[*n] = strdup(s)))
        return -1;
    (*v)[++*n] = NULL;
    return 0;
}

/* Whether `a` is for the link only (with it the driver would link the
 * precompiled header). */
static bool is_link_flag(const char *a)
{
    return strcmp(a, "-shared") == 0 || strncmp(a, "-Wl,", 4) == 0 || strcmp(a, "-rdynamic") == 0 ||
           (a[0] == '-' && (a[1] == 'l' || a[1] == 'L')) || strcmp(a, "-pie") == 0 || strcmp(a, "-static") == 0;
}

/* The vector that compiles the header into the precompiled preamble: the
 * patch's own flags (the same -g, -O, -D, -f...), `-x c-header HEADER -o
 * PCH`, none of the link's, and a depfile. New vector or NULL. */
static char **pch_argv(char *const *argv, const char *patch_c, const char *out_so, const struct entry *e)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    int bad = 0;

    for (char *const *a = argv; *a && !bad; a++) {
        if (strcmp(*a, patch_c) == 0 || is_depfile_flag(*a) || is_link_flag(*a))
            continue;
        if (strcmp(*a, "-Xlinker") == 0) {
            if (a[1])
                a++;
            continue;
        }
        if (strcmp(*a, "-o") == 0 && a[1] && strcmp(a[1], out_so) == 0) {
            a++;
            continue;
        }
        if (depfile_flag_has_value(*a)) {
            if (a[1])
                a++;
            continue;
        }
        bad |= push(&v, &n, &cap, *a);
    }
    const char *tail[] = { "-MD", "-MF", e->dep, "-o", e->pch, "-x", "c-header", e->header };
    for (size_t i = 0; i < sizeof tail / sizeof tail[0] && !bad; i++)
        bad |= push(&v, &n, &cap, tail[i]);
    if (bad) {
        build_argv_free(v);
        return NULL;
    }
    return v;
}

/* `argv` with the patch source replaced by `stripped` preceded by
 * `-include header`. New vector or NULL. */
static char **use_argv(char *const *argv, const char *patch_c, const char *stripped, const char *header)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    int bad = 0;

    for (char *const *a = argv; *a && !bad; a++) {
        if (strcmp(*a, patch_c) == 0) {
            bad |= push(&v, &n, &cap, "-include");
            bad |= !bad && push(&v, &n, &cap, header);
            bad |= !bad && push(&v, &n, &cap, stripped);
        } else {
            bad |= push(&v, &n, &cap, *a);
        }
    }
    if (bad || !v) {
        build_argv_free(v);
        return NULL;
    }
    return v;
}

/* ------------------------------------------------------------ plans */

struct preamble_plan {
    struct preamble_cache *cache;
    char *path;
    char *block;              /* the block's text (a copy) */
    size_t block_len;
    unsigned block_lines;
    uint64_t text_hash;
    size_t patch_head;        /* bytes of the patch before its `#line 1` line */
    size_t patch_block;       /* where the block starts in the patch */
    char *line_directive;     /* the patch's `#line 1 "..."` line, with its newline */
    struct entry *entry;      /* ready when the plan was made, held */
    char stripped[PATH_MAX];
    bool fresh;               /* worker: no header changed since the build */
    bool written;             /* worker: the stripped source is written */
    char *stale_header;       /* worker: the header that changed */
    const char *state;
    char state_buf[400];
};

struct preamble_plan *preamble_plan_new(struct preamble_cache *cache, const char *path, const char *text,
                                        size_t len, const char *patch_src, size_t patch_len,
                                        const char *stripped_path)
{
    unsigned lines;
    bool includes;
    size_t block = cache ? preamble_scan(text, len, &lines, &includes) : 0;
    const char *at, *eol;
    struct preamble_plan *plan;

    if (block == 0 || !includes)
        return NULL;
    /* the patch is `<head>#line 1 "file"\n<the file from its start>...` */
    at = patch_src;
    for (;;) {
        at = memmem(at, patch_len - (size_t)(at - patch_src), "#line 1 ", 8);
        if (!at || at == patch_src || at[-1] == '\n')
            break;
        at++;
    }
    if (!at)
        return NULL;
    eol = memchr(at, '\n', patch_len - (size_t)(at - patch_src));
    if (!eol || (size_t)(patch_src + patch_len - (eol + 1)) < block || memcmp(eol + 1, text, block) != 0)
        return NULL;
    plan = calloc(1, sizeof *plan);
    if (!plan)
        return NULL;
    plan->cache = cache;
    plan->path = strdup(path);
    plan->block = malloc(block);
    plan->line_directive = strndup(at, (size_t)(eol + 1 - at));
    if (!plan->path || !plan->block || !plan->line_directive) {
        preamble_plan_free(plan);
        return NULL;
    }
    memcpy(plan->block, text, block);
    plan->block_len = block;
    plan->block_lines = lines;
    plan->text_hash = preamble_hash(PREAMBLE_HASH_INIT, text, block);
    plan->patch_head = (size_t)(at - patch_src);
    plan->patch_block = (size_t)(eol + 1 - patch_src);
    snprintf(plan->stripped, sizeof plan->stripped, "%s", stripped_path);
    plan->state = "building";
    struct entry *e = entry_of(cache, path);
    if (e && e->state == ENTRY_READY && e->text_hash == plan->text_hash) {
        plan->entry = e;
        e->refs++;
    }
    return plan;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

void preamble_plan_work(struct preamble_plan *plan, const char *patch_src, size_t patch_len)
{
    const struct entry *e = plan ? plan->entry : NULL;
    long long started, margin = PREAMBLE_MTIME_MARGIN_NS;
    char line[64];
    int fd;

    if (!e)
        return;
    started = (long long)e->started.tv_sec * 1000000000ll + e->started.tv_nsec;
    for (size_t i = 0; i < e->n_deps; i++) {
        struct stat st;
        if (strcmp(e->deps[i], e->header) == 0)
            continue; /* written by the cache itself just before the build */
        if (stat(e->deps[i], &st) != 0 ||
            (long long)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec + margin >= started) {
            plan->stale_header = strdup(e->deps[i]);
            return;
        }
    }
    plan->fresh = true;
    /* `#line N+1 "file"` in place of the patch's `#line 1 "file"` */
    snprintf(line, sizeof line, "#line %u ", plan->block_lines + 1);
    fd = open(plan->stripped, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (write_all(fd, patch_src, plan->patch_head) == 0 && write_all(fd, line, strlen(line)) == 0 &&
        write_all(fd, plan->line_directive + 8, strlen(plan->line_directive) - 8) == 0 &&
        write_all(fd, patch_src + plan->patch_block + plan->block_len,
                  patch_len - plan->patch_block - plan->block_len) == 0)
        plan->written = true;
    if (close(fd) != 0)
        plan->written = false;
}

/* Starts building the precompiled preamble of the plan's block with the
 * flags of `argv`, replacing the file's current entry. */
static void start_build(struct preamble_plan *plan, char *const *argv, uint64_t fh, const char *patch_c,
                        const char *out_so, const char *cwd, int timeout_ms)
{
    struct preamble_cache *c = plan->cache;
    struct entry *old = entry_of(c, plan->path), *e;
    const char *base = strrchr(plan->path, '/');
    bool clang = build_family_of(argv[0]) == BUILD_CLANG;
    int n;

    if (old)
        entry_drop(old);
    e = calloc(1, sizeof *e);
    if (!e)
        return;
    e->cache = c;
    e->all_next = c->all;
    if (c->all)
        c->all->all_prev = e;
    c->all = e;
    e->refs = 2; /* the cache's and the write's */
    e->current = true;
    e->text_hash = plan->text_hash;
    e->flags_hash = fh;
    e->timeout_ms = timeout_ms;
    e->state = ENTRY_WRITING;
    base = base ? base + 1 : plan->path;
    snprintf(e->header, sizeof e->header, "%s/pre%u-%s.h", c->tmpdir, ++c->next_id, base);
    snprintf(e->pch, sizeof e->pch, "%s.%s", e->header, clang ? "pch" : "gch");
    snprintf(e->dep, sizeof e->dep, "%s.d", e->header);
    /* the patch's own `#line 1 "file"`, so that messages name the file */
    e->header_len = strlen(plan->line_directive) + plan->block_len;
    e->header_text = malloc(e->header_len + 1);
    e->path = strdup(plan->path);
    e->argv = pch_argv(argv, patch_c, out_so, e);
    e->cwd = cwd ? strdup(cwd) : NULL;
    if (!e->header_text || !e->path || !e->argv || (cwd && !e->cwd)) {
        e->refs = 1;
        e->state = ENTRY_FAILED;
        entry_unref(e);
        return;
    }
    n = snprintf(e->header_text, e->header_len + 1, "%s", plan->line_directive);
    memcpy(e->header_text + n, plan->block, plan->block_len);
    e->next = c->entries;
    c->entries = e;
    e->work.data = e;
    if (uv_queue_work(c->loop, &e->work, write_header_work, on_header_written) != 0) {
        e->refs--;
        e->state = ENTRY_FAILED;
        e->reason = strdup("cannot queue the write of its header");
    }
}

int preamble_plan_use(struct preamble_plan *plan, char ***argv, char ***retry, const char *patch_c,
                      const char *out_so, const char *cwd, int timeout_ms)
{
    enum build_family family;
    uint64_t fh;
    struct entry *cur;

    *retry = NULL;
    if (!plan || !*argv || !(*argv)[0])
        return 0;
    family = build_family_of((*argv)[0]);
    if (family == BUILD_TCC) {
        plan->state = "not for tcc";
        return 0;
    }
    fh = preamble_flags_hash(*argv, patch_c, out_so);
    if (plan->entry && plan->entry->flags_hash == fh) {
        if (plan->fresh && plan->written) {
            char **v = use_argv(*argv, patch_c, plan->stripped, plan->entry->header);
            if (v) {
                if (family == BUILD_CLANG)
                    *retry = *argv;
                else
                    build_argv_free(*argv);
                *argv = v;
                plan->entry->used = uv_hrtime();
                plan->state = "precompiled";
                return 1;
            }
        }
        if (plan->stale_header) {
            snprintf(plan->state_buf, sizeof plan->state_buf, "stale: %s changed", plan->stale_header);
            plan->state = plan->state_buf;
            log_info("the precompiled preamble of %s is stale (%s changed); rebuilding it", plan->path,
                     plan->stale_header);
            if (plan->entry->current)
                entry_drop(plan->entry);
        }
    }
    cur = entry_of(plan->cache, plan->path);
    if (cur && cur->text_hash == plan->text_hash && cur->flags_hash == fh) {
        if (cur->state != ENTRY_FAILED)
            return 0; /* building, or ready for the next save */
        snprintf(plan->state_buf, sizeof plan->state_buf, "failed: %s", cur->reason ? cur->reason : "");
        plan->state = plan->state_buf;
        if (uv_hrtime() - cur->started_ns < PREAMBLE_RETRY_NS)
            return 0;
    }
    start_build(plan, *argv, fh, patch_c, out_so, cwd, timeout_ms);
    return 0;
}

const char *preamble_plan_state(const struct preamble_plan *plan)
{
    return plan ? plan->state : "none";
}

uint64_t preamble_plan_hash(const struct preamble_plan *plan)
{
    return plan ? plan->text_hash : 0;
}

void preamble_plan_free(struct preamble_plan *plan)
{
    if (!plan)
        return;
    if (plan->entry)
        entry_unref(plan->entry);
    free(plan->path);
    free(plan->block);
    free(plan->line_directive);
    free(plan->stale_header);
    free(plan);
}
