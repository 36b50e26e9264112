/* The compiler driver (see build.h): compile_commands.json, the patch's
 * argument vector, running compilers on libuv, and their messages. */
#include "build.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

const char *build_strerror(int err)
{
    switch (err) {
#define BUILD__CASE(name, value, text)                                         \
    case value:                                                                \
        return text;
        BUILD_ERRNO_MAP(BUILD__CASE)
#undef BUILD__CASE
    }
    return "unknown error";
}

/* ------------------------------------------------------------ vectors */

struct vec {
    char **v;
    size_t n, cap;
    bool oom;
};

static void vec_push_n(struct vec *v, const char *s, size_t len)
{
    if (v->oom)
        return;
    if (v->n + 2 > v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        char **p = realloc(v->v, cap * sizeof *p);
        if (!p) {
            v->oom = true;
            return;
        }
        v->v = p;
        v->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        v->oom = true;
        return;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    v->v[v->n++] = copy;
    v->v[v->n] = NULL;
}

static void vec_push(struct vec *v, const char *s)
{
    vec_push_n(v, s, strlen(s));
}

void build_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

/* Returns the vector (NULL-terminated, never empty-without-terminator), or
 * NULL after freeing it when an allocation failed. */
static char **vec_finish(struct vec *v)
{
    if (!v->oom && !v->v) {
        v->v = calloc(1, sizeof *v->v);
        if (!v->v)
            v->oom = true;
    }
    if (v->oom) {
        for (size_t i = 0; i < v->n; i++)
            free(v->v[i]);
        free(v->v);
        return NULL;
    }
    return v->v;
}

char **build_split_command(const char *command, size_t *argc)
{
    struct vec v = { 0 };
    char *word = malloc(strlen(command) + 1);
    const char *p = command;

    if (!word)
        return NULL;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        size_t n = 0;
        char quote = 0;
        for (; *p; p++) {
            if (quote == '\'') {
                if (*p == '\'')
                    quote = 0;
                else
                    word[n++] = *p;
            } else if (quote == '"') {
                if (*p == '"')
                    quote = 0;
                else if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$' || p[1] == '`'))
                    word[n++] = *++p;
                else
                    word[n++] = *p;
            } else if (*p == '\'' || *p == '"') {
                quote = *p;
            } else if (*p == '\\' && p[1]) {
                word[n++] = *++p;
            } else if (*p == ' ' || *p == '\t' || *p == '\n') {
                break;
            } else {
                word[n++] = *p;
            }
        }
        vec_push_n(&v, word, n);
    }
    free(word);
    if (argc)
        *argc = v.n;
    return vec_finish(&v);
}

/* ------------------------------------------------------------ the database */

struct build_db {
    struct build_command *entries;
    size_t count;
};

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *build_db_find(const char *root, const char *configured, char *buf, size_t size)
{
    if (configured && *configured) {
        char base[PATH_MAX];
        if (configured[0] == '/' || !root)
            snprintf(base, sizeof base, "%s", configured);
        else
            snprintf(base, sizeof base, "%s/%s", root, configured);
        if (is_dir(base))
            snprintf(buf, size, "%s/compile_commands.json", base);
        else
            snprintf(buf, size, "%s", base);
        return is_file(buf) ? buf : NULL;
    }
    if (!root)
        return NULL;
    snprintf(buf, size, "%s/compile_commands.json", root);
    if (is_file(buf))
        return buf;
    snprintf(buf, size, "%s/build/compile_commands.json", root);
    if (is_file(buf))
        return buf;
    return NULL;
}

/* `path` made absolute against `dir` and normalized lexically (. and ..). */
static char *absolute(const char *dir, const char *path)
{
    size_t n = strlen(path) + (dir ? strlen(dir) : 0) + 2;
    char *joined = malloc(n), *out = malloc(n);
    if (!joined || !out) {
        free(joined);
        free(out);
        return NULL;
    }
    if (path[0] == '/' || !dir)
        snprintf(joined, n, "%s", path);
    else
        snprintf(joined, n, "%s/%s", dir, path);
    size_t len = 0;
    const char *p = joined;
    while (*p) {
        while (*p == '/')
            p++;
        const char *q = p;
        while (*q && *q != '/')
            q++;
        size_t seg = (size_t)(q - p);
        if (seg == 0 || (seg == 1 && p[0] == '.')) {
            /* nothing */
        } else if (seg == 2 && p[0] == '.' && p[1] == '.') {
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
        } else {
            out[len++] = '/';
            memcpy(out + len, p, seg);
            len += seg;
        }
        p = q;
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = '\0';
    free(joined);
    return out;
}

void build_db_free(struct build_db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->count; i++) {
        free(db->entries[i].directory);
        free(db->entries[i].file);
        build_argv_free(db->entries[i].argv);
    }
    free(db->entries);
    free(db);
}

int build_db_load(struct build_db **out, const char *path, char *err, size_t errsize)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    struct build_db *db = NULL;
    int rc = 0;

    *out = NULL;
    if (!root) {
        snprintf(err, errsize, "cannot read %s: %s (line %d)", path, jerr.text, jerr.line);
        return is_file(path) ? BUILD_EJSON : BUILD_EIO;
    }
    if (!json_is_array(root)) {
        snprintf(err, errsize, "cannot use %s: it is not a JSON array", path);
        rc = BUILD_EJSON;
        goto fail;
    }
    db = calloc(1, sizeof *db);
    if (!db || !(db->entries = calloc(json_array_size(root) + 1, sizeof *db->entries)))
        goto oom;
    size_t i;
    json_t *e;
    json_array_foreach(root, i, e) {
        const char *dir = NULL, *file = NULL, *command = NULL;
        json_t *arguments = NULL;
        if (json_unpack(e, "{s:s, s:s, s?s, s?o}", "directory", &dir, "file", &file, "command", &command,
                        "arguments", &arguments) != 0 ||
            (!command && !json_is_array(arguments))) {
            snprintf(err, errsize,
                     "cannot use %s: entry %zu needs \"directory\", \"file\" and \"command\" or \"arguments\"",
                     path, i);
            rc = BUILD_EJSON;
            goto fail;
        }
        struct build_command *c = &db->entries[db->count++];
        c->directory = absolute(NULL, dir);
        c->file = absolute(c->directory ? c->directory : dir, file);
        if (json_is_array(arguments)) {
            struct vec v = { 0 };
            size_t k;
            json_t *a;
            json_array_foreach(arguments, k, a) {
                if (json_is_string(a))
                    vec_push(&v, json_string_value(a));
            }
            c->argc = v.n;
            c->argv = vec_finish(&v);
        } else {
            c->argv = build_split_command(command, &c->argc);
        }
        if (!c->directory || !c->file || !c->argv)
            goto oom;
    }
    json_decref(root);
    *out = db;
    return 0;
oom:
    snprintf(err, errsize, "cannot read %s: out of memory", path);
    rc = BUILD_ENOMEM;
fail:
    json_decref(root);
    build_db_free(db);
    return rc;
}

const struct build_command *build_db_lookup(const struct build_db *db, const char *file)
{
    if (!db)
        return NULL;
    char *want = absolute(NULL, file);
    const struct build_command *found = NULL;
    if (!want)
        return NULL;
    for (size_t i = 0; i < db->count && !found; i++)
        if (strcmp(db->entries[i].file, want) == 0)
            found = &db->entries[i];
    free(want);
    return found;
}

const struct build_command *build_db_at(const struct build_db *db, size_t i)
{
    return db && i < db->count ? &db->entries[i] : NULL;
}

/* ------------------------------------------------------------ flags */

enum build_family build_family_of(const char *compiler)
{
    const char *base = strrchr(compiler, '/');
    base = base ? base + 1 : compiler;
    if (strstr(base, "clang"))
        return BUILD_CLANG;
    if (strstr(base, "tcc"))
        return BUILD_TCC;
    return BUILD_GCC;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whether an entry's argument is the source file it compiles. */
static bool is_source(const struct build_command *entry, const char *arg)
{
    if (strcmp(arg, entry->file) == 0)
        return true;
    char *abs = absolute(entry->directory, arg);
    bool same = abs && strcmp(abs, entry->file) == 0;
    free(abs);
    return same;
}

/* The flags tcc understands among a project's (with the value of the flags
 * that take one as the next argument). */
static bool tcc_keeps(const char *a)
{
    return starts(a, "-I") || starts(a, "-D") || starts(a, "-U") || starts(a, "-std=") ||
           strcmp(a, "-include") == 0 || strcmp(a, "-isystem") == 0 || strcmp(a, "-w") == 0;
}

char **build_patch_argv(const struct build_command *entry, const struct build_options *opts,
                        const char *compiler, const char *source, const char *patch_c,
                        const char *out_so, char **cwd)
{
    struct vec v = { 0 };
    static const struct build_options none = { 0 };

    if (!opts)
        opts = &none;
    if (!compiler)
        compiler = opts->compiler ? opts->compiler : entry && entry->argc ? entry->argv[0] : "cc";
    enum build_family family = build_family_of(compiler);
    vec_push(&v, compiler);
    if (entry) {
        for (size_t i = 1; i < entry->argc; i++) {
            const char *a = entry->argv[i];
            bool has_value = strcmp(a, "-o") == 0 || strcmp(a, "-MF") == 0 || strcmp(a, "-MT") == 0 ||
                             strcmp(a, "-MQ") == 0 || strcmp(a, "-include") == 0 ||
                             strcmp(a, "-isystem") == 0 || strcmp(a, "-I") == 0 || strcmp(a, "-D") == 0 ||
                             strcmp(a, "-U") == 0 || strcmp(a, "-iquote") == 0 || strcmp(a, "-x") == 0;
            const char *value = has_value && i + 1 < entry->argc ? entry->argv[i + 1] : NULL;
            if (has_value)
                i++;
            bool drop = strcmp(a, "-c") == 0 || strcmp(a, "-o") == 0 || starts(a, "-o") ||
                        starts(a, "-M") || starts(a, "-Werror") || starts(a, "-flto") ||
                        strcmp(a, "-S") == 0 || strcmp(a, "-E") == 0 || strcmp(a, "-fsyntax-only") == 0 ||
                        strcmp(a, "-x") == 0 || starts(a, "-fdiagnostics-color") || starts(a, "-fvisibility=") ||
                        is_source(entry, a) || strcmp(a, "-gsplit-dwarf") == 0 || strcmp(a, "-g1") == 0 ||
                        strcmp(a, "-ggdb1") == 0;
            if (family == BUILD_TCC && !tcc_keeps(a))
                drop = true;
            if (drop)
                continue;
            vec_push(&v, a);
            if (value)
                vec_push(&v, value);
        }
    } else if (opts->flags) {
        for (const char *const *f = opts->flags; *f; f++)
            if (family != BUILD_TCC || tcc_keeps(*f))
                vec_push(&v, *f);
    } else if (family != BUILD_TCC) {
        vec_push(&v, "-g");
        vec_push(&v, "-O1");
    }
    /* the layout check reads the patch's DWARF (lsp/compat.c): gcc and
     * clang patches always carry it, whatever the project's flags */
    if (family != BUILD_TCC) {
        bool debug = false;
        for (size_t i = 1; i < v.n; i++)
            if (starts(v.v[i], "-g"))
                debug = strcmp(v.v[i], "-g0") != 0;
        if (!debug)
            vec_push(&v, "-g");
        /* one section per function and the relocations kept in the
         * library: the check tells which function refers to what */
        vec_push(&v, "-ffunction-sections");
        vec_push(&v, "-Wl,--emit-relocs");
    }
    if (opts->include_dirs)
        for (const char *const *d = opts->include_dirs; *d; d++) {
            vec_push(&v, "-I");
            vec_push(&v, *d);
        }
    /* the patch is compiled from elsewhere but must find the source's own
     * quoted includes */
    const char *slash = strrchr(source, '/');
    if (slash) {
        vec_push(&v, family == BUILD_TCC ? "-I" : "-iquote");
        vec_push_n(&v, source, slash == source ? 1 : (size_t)(slash - source));
    }
    if (family == BUILD_GCC) {
        vec_push(&v, "-fdiagnostics-color=never");
        vec_push(&v, "-fdiagnostics-column-unit=byte");
        /* the patch's exported alias of a noreturn (cold, ...) function
         * does not repeat its attributes */
        vec_push(&v, "-Wno-missing-attributes");
    } else if (family == BUILD_CLANG) {
        vec_push(&v, "-fno-color-diagnostics");
    }
    /* what the patch's own rewriting causes (a prototype before each
     * reloaded definition, block-scope externs for function-local statics)
     * must not warn where the user's build does not */
    if (family != BUILD_TCC) {
        vec_push(&v, "-Wno-redundant-decls");
        vec_push(&v, "-Wno-nested-externs");
        /* the program's hidden and internal functions and variables are
         * reached through the patch's GOT (the runtime binds them like
         * statics): a reference the compiler believes local would be a
         * direct one the linker refuses in a shared object, so every
         * visibility the code spells is neutralised, and -fvisibility is
         * dropped above (the patch's own symbols must be visible) */
        vec_push(&v, "-Dvisibility(v)=__unused__");
        vec_push(&v, "-D__visibility__(v)=__unused__");
    }
    vec_push(&v, "-fPIC");
    vec_push(&v, "-shared");
    vec_push(&v, "-o");
    vec_push(&v, out_so);
    vec_push(&v, patch_c);
    char **argv = vec_finish(&v);
    if (argv && cwd) {
        *cwd = strdup(entry ? entry->directory : slash ? "/" : ".");
        if (entry == NULL && slash) {
            free(*cwd);
            *cwd = malloc((size_t)(slash - source) + 2);
            if (*cwd)
                snprintf(*cwd, (size_t)(slash - source) + 2, "%.*s", (int)(slash == source ? 1 : slash - source),
                         source);
        }
        if (!*cwd) {
            build_argv_free(argv);
            return NULL;
        }
    }
    return argv;
}

char **build_preprocess_argv(const struct build_command *entry, const struct build_options *opts,
                             const char *source, const char *input_c, const char *out_i, char **cwd)
{
    char **argv = build_patch_argv(entry, opts, NULL, source, input_c, out_i, cwd);

    for (size_t i = 0; argv && argv[i]; i++)
        if (strcmp(argv[i], "-shared") == 0) {
            char *e = strdup("-E");
            if (!e) {
                build_argv_free(argv);
                if (cwd) {
                    free(*cwd);
                    *cwd = NULL;
                }
                return NULL;
            }
            free(argv[i]);
            argv[i] = e;
        }
    /* __LINE__ as a name, not a number: a line added above a function
     * leaves what it compiles to the same (the logging macros of real code
     * print __LINE__: every function below an edit looked changed). The
     * patch itself is compiled with the real one. gcc and clang take the
     * redefinition (silenced); tcc ignores it and keeps the numbers. */
    size_t n = 0;
    while (argv && argv[n])
        n++;
    char **grown = argv ? realloc(argv, (n + 3) * sizeof *argv) : NULL;
    if (argv && !grown) {
        build_argv_free(argv);
        if (cwd) {
            free(*cwd);
            *cwd = NULL;
        }
        return NULL;
    }
    if (grown) {
        argv = grown;
        argv[n] = strdup("-D__LINE__=__hotc_line__");
        argv[n + 1] = argv[n] ? strdup("-Wno-builtin-macro-redefined") : NULL;
        argv[n + 2] = NULL;
        if (!argv[n] || !argv[n + 1]) {
            build_argv_free(argv);
            if (cwd) {
                free(*cwd);
                *cwd = NULL;
            }
            return NULL;
        }
    }
    return argv;
}

/* ------------------------------------------------------------ messages */

bool build_patch_noise(const struct build_diag *d)
{
    return d->severity != BUILD_ERROR && d->message &&
           (strstr(d->message, "declared 'static' but never defined") ||
            strstr(d->message, "declared ‘static’ but never defined") ||
            strstr(d->message, "has internal linkage but is not defined") ||
            strstr(d->message, "defined but not used") || strstr(d->message, "declared but never defined") ||
            strstr(d->message, "used but never defined"));
}

void build_diags_release(struct build_diags *d)
{
    for (size_t i = 0; i < d->count; i++) {
        struct build_diag *g = &d->items[i];
        for (size_t k = 0; k < g->nrelated; k++) {
            free(g->related[k].file);
            free(g->related[k].message);
        }
        free(g->related);
        free(g->file);
        free(g->message);
    }
    free(d->items);
    d->items = NULL;
    d->count = 0;
}

static bool parse_int(const char **p, int *out)
{
    const char *s = *p;
    long v = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9' && v < 100000000)
        v = v * 10 + (*s++ - '0');
    *out = (int)v;
    *p = s;
    return true;
}

/* Parses one line; returns false when it is not a message. */
static bool parse_line(const char *line, size_t len, struct build_diag *d)
{
    static const struct {
        const char *word;
        enum build_severity sev;
    } kinds[] = {
        { " fatal error: ", BUILD_ERROR }, { " error: ", BUILD_ERROR }, { " warning: ", BUILD_WARNING },
        { " note: ", BUILD_NOTE },
    };
    char *copy = malloc(len + 1);
    if (!copy)
        return false;
    memcpy(copy, line, len);
    copy[len] = '\0';
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        char *at = strstr(copy, kinds[k].word);
        if (!at || at == copy || at[-1] != ':')
            continue;
        /* before ":" + word: "file:line:col" or "file:line" or "cc1" */
        at[-1] = '\0';
        const char *msg = at + strlen(kinds[k].word);
        int lineno = -1, col = -1;
        char *file = copy;
        char *c1 = strrchr(copy, ':');
        if (c1) {
            const char *p = c1 + 1;
            int n;
            if (parse_int(&p, &n) && *p == '\0') {
                *c1 = '\0';
                char *c2 = strrchr(copy, ':');
                const char *q = c2 ? c2 + 1 : NULL;
                int m;
                if (q && parse_int(&q, &m) && *q == '\0') {
                    *c2 = '\0';
                    lineno = m;
                    col = n;
                } else {
                    lineno = n;
                }
            }
        }
        d->file = lineno >= 0 ? strdup(file) : NULL;
        d->line = lineno > 0 ? lineno - 1 : -1;
        d->column = col > 0 ? col - 1 : -1;
        d->severity = kinds[k].sev;
        d->message = strdup(msg);
        d->related = NULL;
        d->nrelated = 0;
        free(copy);
        return true;
    }
    free(copy);
    return false;
}

int build_parse_messages(struct build_diags *out, const char *text, size_t len)
{
    size_t cap = 0;
    const char *end = text + len;

    out->items = NULL;
    out->count = 0;
    while (text < end) {
        const char *nl = memchr(text, '\n', (size_t)(end - text));
        size_t n = nl ? (size_t)(nl - text) : (size_t)(end - text);
        struct build_diag d;
        if (parse_line(text, n, &d)) {
            if (!d.message || (d.line >= 0 && !d.file))
                goto oom_one;
            if (d.severity == BUILD_NOTE && out->count > 0) {
                struct build_diag *prev = &out->items[out->count - 1];
                struct build_diag *r = realloc(prev->related, (prev->nrelated + 1) * sizeof *r);
                if (!r)
                    goto oom_one;
                prev->related = r;
                r[prev->nrelated++] = d;
            } else {
                if (out->count == cap) {
                    cap = cap ? cap * 2 : 8;
                    struct build_diag *items = realloc(out->items, cap * sizeof *items);
                    if (!items)
                        goto oom_one;
                    out->items = items;
                }
                out->items[out->count++] = d;
            }
        }
        text += n + 1;
        continue;
    oom_one:
        free(d.file);
        free(d.message);
        build_diags_release(out);
        return BUILD_ENOMEM;
    }
    return 0;
}

/* ------------------------------------------------------------ running */

struct build_job {
    struct build_runner *runner;
    struct build_job *next;
    char *key;
    char **argv, **fallback;
    char *when;             /* run the fallback only when the output has it */
    char *failed_first;     /* the first error line of the compiler that failed before the fallback */
    char *cwd;
    int timeout_ms;
    build_done_cb cb;
    void *user;

    /* one process and pipe per run (0: the compiler, 1: the fallback), as a
     * closing handle's memory must stay untouched until its close callback */
    uv_process_t process[2];
    /* or, where the kernel has pidfd_open (see spawn_fast), the process as
     * a pid and a pidfd polled for its exit */
    bool fast[2];
    pid_t pid[2];
    int pidfd[2];
    uv_poll_t exit_poll[2];
    uv_pipe_t out[2][2]; /* stdout, stderr */
    int eofs;
    int run;
    uv_timer_t timer;
    int open_handles;
    bool exited, eof, reported, canceled, timed_out, used_fallback;
    int64_t exit_status;
    char *buf;
    size_t len, cap;
    uint64_t started;
};

void build_runner_init(struct build_runner *self, uv_loop_t *loop)
{
    self->loop = loop;
    self->jobs = NULL;
}

static void job_unlink(struct build_job *job)
{
    struct build_job **p = &job->runner->jobs;
    while (*p && *p != job)
        p = &(*p)->next;
    if (*p)
        *p = job->next;
}

static void job_free(struct build_job *job)
{
    free(job->key);
    build_argv_free(job->argv);
    build_argv_free(job->fallback);
    free(job->when);
    free(job->failed_first);
    free(job->cwd);
    free(job->buf);
    free(job);
}

static void on_close(uv_handle_t *h)
{
    struct build_job *job = h->data;
    if (--job->open_handles == 0)
        job_free(job);
}

static int job_start(struct build_job *job, char **argv);

/* The first line of `buf` that reads as an error message (else the first
 * line), at most 300 bytes. New string, or NULL. */
static char *first_error(const char *buf, size_t len)
{
    const char *line = NULL, *p = buf, *end = buf + len;

    while (buf && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!line && n > 0)
            line = p;
        if (memmem(p, n, "error", 5)) {
            line = p;
            break;
        }
        p += n + 1;
    }
    if (!line)
        return strdup("");
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
    return strndup(line, n > 300 ? 300 : n);
}

static void job_report(struct build_job *job, int status)
{
    struct build_result r = { 0 };
    r.status = status;
    r.exit_code = (int)job->exit_status;
    r.output = job->buf ? job->buf : "";
    r.output_len = job->len;
    r.used_fallback = job->used_fallback;
    r.failed_first = job->failed_first ? job->failed_first : "";
    r.duration_us = (uv_hrtime() - job->started) / 1000;
    if (status == 0 || status == BUILD_ECOMPILE)
        build_parse_messages(&r.diags, r.output, r.output_len);
    job->reported = true;
    job_unlink(job);
    job->cb(&r, job->user);
    build_diags_release(&r.diags);
}

/* Called when the process has exited and its output is drained: report, or
 * run the fallback. Closes the process's handles. */
static void job_finish(struct build_job *job)
{
    if (!job->exited || !job->eof || job->reported)
        return;
    uv_timer_stop(&job->timer);
    if (job->fast[job->run]) {
        uv_close((uv_handle_t *)&job->exit_poll[job->run], on_close);
        close(job->pidfd[job->run]);
        job->pidfd[job->run] = -1;
    } else {
        uv_close((uv_handle_t *)&job->process[job->run], on_close);
    }
    uv_close((uv_handle_t *)&job->out[job->run][0], on_close);
    uv_close((uv_handle_t *)&job->out[job->run][1], on_close);
    int status = job->canceled ? BUILD_ECANCELED : job->timed_out ? BUILD_ETIMEOUT
                 : job->exit_status == 0 ? 0 : BUILD_ECOMPILE;
    if (status == BUILD_ECOMPILE && job->fallback && !job->used_fallback &&
        (!job->when || (job->buf && strstr(job->buf, job->when)))) {
        job->used_fallback = true;
        job->failed_first = first_error(job->buf, job->len);
        job->exited = job->eof = false;
        job->eofs = 0;
        job->len = 0;
        job->run = 1;
        if (job_start(job, job->fallback) == 0)
            return;
        status = BUILD_ESPAWN;
    }
    job_report(job, status);
    uv_close((uv_handle_t *)&job->timer, on_close);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int signal)
{
    struct build_job *job = p->data;
    log_trace("cc.exited");
    job->exited = true;
    job->exit_status = signal ? 128 + signal : status;
    job_finish(job);
}

/* The pidfd of a process started by spawn_fast() is readable: it ended. */
static void on_exit_poll(uv_poll_t *h, int status, int events)
{
    struct build_job *job = h->data;
    int run = h == &job->exit_poll[1], ws = 0;
    pid_t r;

    (void)status;
    (void)events;
    do
        r = waitpid(job->pid[run], &ws, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return;
    uv_poll_stop(h);
    log_trace("cc.exited");
    job->exited = true;
    job->exit_status = r < 0 ? 128 + SIGKILL : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : WEXITSTATUS(ws);
    job_finish(job);
}

/* Kills the running compiler of `job` and everything it started: it runs
 * in its own process group (job_start), so that a wrapper's children (a
 * script, ccache) die with it instead of holding its output pipes open. The
 * group outlives its leader while a child still runs, so it is killed until
 * the pipes are closed too. */
static void job_kill(struct build_job *job)
{
    if (job->exited && job->eof)
        return;
    pid_t pid = job->fast[job->run] ? job->pid[job->run] : job->process[job->run].pid;
    if (pid > 0)
        kill(-pid, SIGKILL);
    if (job->exited)
        return;
    if (job->fast[job->run])
        kill(job->pid[job->run], SIGKILL);
    else
        uv_process_kill(&job->process[job->run], SIGKILL);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct build_job *job = h->data;
    if (job->cap - job->len < suggested + 1) {
        size_t cap = job->cap ? job->cap * 2 : 8192;
        while (cap - job->len < suggested + 1)
            cap *= 2;
        char *p = realloc(job->buf, cap);
        if (!p) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        job->buf = p;
        job->cap = cap;
    }
    *buf = uv_buf_init(job->buf + job->len, (unsigned)(job->cap - job->len - 1));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct build_job *job = s->data;
    (void)buf;
    if (n > 0) {
        job->len += (size_t)n;
        job->buf[job->len] = '\0';
        return;
    }
    if (n < 0) {
        uv_read_stop(s);
        log_trace("cc.eof");
        if (++job->eofs == 2) {
            job->eof = true;
            job_finish(job);
        }
    }
}

static void on_timeout(uv_timer_t *t)
{
    struct build_job *job = t->data;
    job->timed_out = true;
    job_kill(job);
}

/* Starts `argv` with posix_spawn (glibc: clone(CLONE_VM | CLONE_VFORK), so
 * the cost does not grow with the server's memory, unlike libuv 1.44's
 * fork(), which took ~2.5 ms with a 20,000-line file open), its stdout and
 * stderr into job->out[run], its exit seen on a pidfd. As uv_spawn: stdin
 * from /dev/null, signals unblocked and at their defaults, PATH searched.
 * Returns 0, a positive errno when the program cannot be started, or -1
 * when this kernel has no pidfd_open (the caller uses uv_spawn). */
static int spawn_fast(struct build_job *job, char **argv)
{
    static int no_pidfd;
    uv_loop_t *loop = job->runner->loop;
    int run = job->run, fds[2][2] = { { -1, -1 }, { -1, -1 } }, rc = 0, pidfd = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t all, none;
    pid_t pid = -1;

    if (no_pidfd)
        return -1;
    if (pipe2(fds[0], O_CLOEXEC) != 0 || pipe2(fds[1], O_CLOEXEC) != 0) {
        rc = errno;
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < 2; k++)
                if (fds[i][k] >= 0)
                    close(fds[i][k]);
        return rc;
    }
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    /* its own process group: job_kill kills its children with it */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[0][1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1][1], 2);
    if (job->cwd)
        posix_spawn_file_actions_addchdir_np(&fa, job->cwd);
    log_trace("spawn");
    rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
    log_trace("spawned");
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(fds[0][1]);
    close(fds[1][1]);
    if (rc == 0) {
        pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) {
            /* no pidfd_open (Linux < 5.3): never again, uv_spawn instead */
            no_pidfd = 1;
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
            rc = -1;
        } else {
            fcntl(pidfd, F_SETFD, FD_CLOEXEC);
        }
    }
    if (rc != 0) {
        close(fds[0][0]);
        close(fds[1][0]);
        return rc;
    }
    job->fast[run] = true;
    job->pid[run] = pid;
    job->pidfd[run] = pidfd;
    uv_poll_init(loop, &job->exit_poll[run], pidfd);
    job->exit_poll[run].data = job;
    job->open_handles++;
    for (int i = 0; i < 2; i++) {
        uv_pipe_t *out = &job->out[run][i];
        uv_pipe_init(loop, out, 0);
        out->data = job;
        job->open_handles++;
        uv_pipe_open(out, fds[i][0]);
        uv_read_start((uv_stream_t *)out, on_alloc, on_read);
    }
    uv_poll_start(&job->exit_poll[run], UV_READABLE, on_exit_poll);
    return 0;
}

static int job_start(struct build_job *job, char **argv)
{
    uv_loop_t *loop = job->runner->loop;
    uv_stdio_container_t stdio[3];
    uv_process_options_t opts = { 0 };

    uv_pipe_t *out = job->out[job->run];
    uv_process_t *process = &job->process[job->run];
    int fast = spawn_fast(job, argv);

    if (fast >= 0) {
        if (fast > 0)
            return BUILD_ESPAWN;
        if (job->timeout_ms > 0)
            uv_timer_start(&job->timer, on_timeout, (uint64_t)job->timeout_ms, 0);
        return 0;
    }
    job->fast[job->run] = false;
    stdio[0].flags = UV_IGNORE;
    for (int i = 0; i < 2; i++) {
        uv_pipe_init(loop, &out[i], 0);
        out[i].data = job;
        job->open_handles++;
        stdio[1 + i].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[1 + i].data.stream = (uv_stream_t *)&out[i];
    }
    opts.file = argv[0];
    opts.args = argv;
    opts.cwd = job->cwd;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    opts.exit_cb = on_exit_cb;
    opts.flags = UV_PROCESS_DETACHED; /* its own process group, as in spawn_fast */
    process->data = job;
    log_trace("spawn");
    int rc = uv_spawn(loop, process, &opts);
    log_trace("spawned");
    if (rc != 0) {
        /* libuv wants the failed process handle closed too */
        job->open_handles++;
        uv_close((uv_handle_t *)process, on_close);
        uv_close((uv_handle_t *)&out[0], on_close);
        uv_close((uv_handle_t *)&out[1], on_close);
        return BUILD_ESPAWN;
    }
    job->open_handles++;
    uv_read_start((uv_stream_t *)&out[0], on_alloc, on_read);
    uv_read_start((uv_stream_t *)&out[1], on_alloc, on_read);
    if (job->timeout_ms > 0)
        uv_timer_start(&job->timer, on_timeout, (uint64_t)job->timeout_ms, 0);
    return 0;
}

static char **copy_argv(char *const *argv)
{
    struct vec v = { 0 };
    for (; argv && *argv; argv++)
        vec_push(&v, *argv);
    return vec_finish(&v);
}

int build_run(struct build_runner *self, const char *key, char *const *argv, char *const *fallback,
              const char *cwd, int timeout_ms, build_done_cb cb, void *user)
{
    return build_run_when(self, key, argv, fallback, NULL, cwd, timeout_ms, cb, user);
}

int build_run_when(struct build_runner *self, const char *key, char *const *argv, char *const *fallback,
                   const char *when, const char *cwd, int timeout_ms, build_done_cb cb, void *user)
{
    struct build_job *job = calloc(1, sizeof *job);
    if (!job)
        return BUILD_ENOMEM;
    job->runner = self;
    job->when = when ? strdup(when) : NULL;
    job->key = strdup(key ? key : "");
    job->argv = copy_argv(argv);
    job->fallback = fallback ? copy_argv(fallback) : NULL;
    job->cwd = cwd ? strdup(cwd) : NULL;
    if (!job->key || !job->argv || (fallback && !job->fallback) || (cwd && !job->cwd) || (when && !job->when) ||
        !argv || !argv[0]) {
        job_free(job);
        return argv && argv[0] ? BUILD_ENOMEM : BUILD_EINVAL;
    }
    job->timeout_ms = timeout_ms;
    job->cb = cb;
    job->user = user;
    job->started = uv_hrtime();
    build_cancel(self, key);
    uv_timer_init(self->loop, &job->timer);
    job->timer.data = job;
    job->open_handles = 1;
    job->next = self->jobs;
    self->jobs = job;
    int rc = job_start(job, job->argv);
    if (rc != 0 && job->fallback) {
        job->used_fallback = true;
        job->run = 1;
        rc = job_start(job, job->fallback);
    }
    if (rc != 0) {
        job->exited = job->eof = true;
        job_report(job, BUILD_ESPAWN);
        uv_close((uv_handle_t *)&job->timer, on_close);
    }
    return 0;
}

bool build_cancel(struct build_runner *self, const char *key)
{
    for (struct build_job *job = self->jobs; job; job = job->next) {
        if (strcmp(job->key, key ? key : "") == 0 && !job->reported) {
            job->canceled = true;
            job_kill(job);
            return true;
        }
    }
    return false;
}

void build_runner_free_jobs(struct build_runner *self)
{
    while (self->jobs) {
        struct build_job *job = self->jobs;
        self->jobs = job->next;
        job_free(job);
    }
}

void build_runner_close(struct build_runner *self)
{
    for (struct build_job *job = self->jobs; job; job = job->next) {
        job->canceled = true;
        job_kill(job);
    }
}
