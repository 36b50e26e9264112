/* End to end: layout safety as the compiler sees it. The real `hotc lsp`,
 * the real examples/ledger program (six files, types two headers deep, a
 * global reached only through LG(), a file-scope static struct, bit-fields
 * in an anonymous typedef'd struct, an enum, -D alternatives), built by the
 * test with the example's own Makefile (and so its own
 * compile_commands.json) in a temporary directory, and an LSP client that
 * saves as an editor does (didOpen, didChange, didSave, the file on disk).
 *
 * Each kind of layout change a running program cannot take is refused:
 * a layout-changed warning that names the type, the field and the sizes,
 * a hotc/status that does not say "applied", and the program goes on with
 * its old code and its counters. Put back, the same edit applies. The
 * compatible changes (bodies, the #if branch the build does not compile, a
 * struct nothing uses, moved code, unedited saves) apply without a warning
 * or a "not HOT" information. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lspclient.h"
#include "e2e.h"
#include "run.h"

#define T 60000 /* ms; generous: the machine is shared and compiles are slow under load */
#define SETTLE_TICKS 25 /* ticks (20 ms each) a refused change is watched for */

#if defined(__SANITIZE_ADDRESS__)
#define LAYOUT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LAYOUT_SANITIZED 1
#endif
#endif

/* The example's files; each may be open in the "editor". */
static const char *const files[] = { "core.h",    "types.h",  "ledger.h", "main.c", "stock.c",
                                     "orders.c",  "audit.c",  "pricing.c", "report.c", NULL };
#define N_FILES 9

struct doc {
    char uri[PATH_MAX + 8];
    char path[PATH_MAX];
    char *text; /* as on disk */
    int open;
};

struct env {
    char dir[64];
    char out[PATH_MAX];
    struct doc docs[N_FILES];
    struct lspclient *c;
    pid_t pid;
    json_t *history; /* every message read, in order */
    int version;     /* of the documents, one counter for all */
    size_t saved_at; /* the history's length at the last save */
};

static struct doc *doc_of(struct env *e, const char *name)
{
    for (int i = 0; files[i]; i++)
        if (strcmp(files[i], name) == 0)
            return &e->docs[i];
    cr_assert_fail("no file %s in the example", name);
    return NULL;
}

/* ------------------------------------------------------------ the project */

/* Make's variables that link with libhotc: none (the example's own
 * pkg-config) or, when the tests run under sanitizers, a plain libhotc
 * built once (the program runs without them). */
static const char *link_overrides(void)
{
#ifdef LAYOUT_SANITIZED
    static char vars[3 * PATH_MAX + 256];
    char dir[PATH_MAX], cmd[4 * PATH_MAX + 1024];

    snprintf(dir, sizeof dir, "%s", test_build_path("tests/layout-plain"));
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && cd '%s' && exec 9>lock && flock 9 && "
             "if [ ! -f libhotc.a ] || [ -n \"$(find '%s/runtime' -newer libhotc.a -name '*.[ch]')\" ]; then "
             "gcc -std=c11 -O2 -g -fPIC -fvisibility=hidden -D_GNU_SOURCE -DHOTC_VERSION='\"%s\"' "
             "-c '%s'/runtime/*.c && rm -f libhotc.a && ar rcs libhotc.a *.o; fi",
             dir, dir, HOTC_SOURCE_DIR, HOTC_VERSION, HOTC_SOURCE_DIR);
    cr_assert_eq(test_sh(cmd, NULL, 0), 0, "cannot build a plain libhotc");
    snprintf(vars, sizeof vars, "PKG_CFLAGS='-I%s/runtime' PKG_LIBS='-rdynamic %s/libhotc.a -ljansson -ldl -lpthread'",
             HOTC_SOURCE_DIR, dir);
    return vars;
#else
    return "";
#endif
}

/* A temporary copy of examples/ledger, built with its own Makefile (which
 * writes compile_commands.json with the build's -D flags). */
static void setup_project(struct env *e)
{
    char cmd[8 * PATH_MAX], out[8192], build[PATH_MAX];

    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/hotc-layout-XXXXXX");
    cr_assert(mkdtemp(e->dir));
    e->history = json_array();
    for (int i = 0; files[i]; i++) {
        char src[PATH_MAX];
        struct doc *d = &e->docs[i];
        snprintf(src, sizeof src, "examples/ledger/%s", files[i]);
        d->text = test_slurp(test_source_path(src), NULL);
        cr_assert(d->text, "no %s", src);
        /* through a local copy: gcc under sanitizers cannot tell that
         * e->dir and d->path do not overlap (-Werror=restrict) */
        char dir[sizeof e->dir], path[sizeof d->path];
        memcpy(dir, e->dir, sizeof dir);
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        memcpy(d->path, path, sizeof path);
        snprintf(d->uri, sizeof d->uri, "file://%s", path);
        test_spit(d->path, d->text);
    }
    snprintf(e->out, sizeof e->out, "%s/ledger.out", e->dir);
    snprintf(build, sizeof build, "%s", test_build_path(""));
    snprintf(cmd, sizeof cmd, "make -s -j2 -C '%s' -f '%s' HOTC_BUILD='%s' %s", e->dir,
             test_source_path("examples/ledger/Makefile"), build, link_overrides());
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "cannot build the example: %s", out);
    snprintf(cmd, sizeof cmd, "%s/compile_commands.json", e->dir);
    {
        char *db = test_slurp(cmd, NULL);
        cr_assert(db && strstr(db, "-DLEDGER_WIDE_MONEY=1"), "compile_commands.json lacks the build's -D flag");
        free(db);
    }
    snprintf(cmd, sizeof cmd, "%s/run", e->dir);
    cr_assert_eq(mkdir(cmd, 0700), 0);
}

static void start_server(struct env *e)
{
    char xdg[PATH_MAX + 32], log[PATH_MAX], root[PATH_MAX + 8];
    const char *env[] = { xdg, NULL };
    const char *args[] = { "--log", log, NULL };
    struct lspclient_options opt = { .env = env, .args = args, .quiet_stderr = 1 };
    json_t *r;

    snprintf(xdg, sizeof xdg, "XDG_RUNTIME_DIR=%s/run", e->dir);
    snprintf(log, sizeof log, "%s/server.log", e->dir);
    snprintf(root, sizeof root, "file://%s", e->dir);
    e->c = lspclient_start(&opt);
    cr_assert(e->c, "cannot start hotc lsp");
    r = lspclient_initialize(e->c,
                             json_pack("{s:i, s:s, s:{s:{s:b}, s:{s:{s:b}}}, s:{s:{}}}", "processId", (int)getpid(),
                                       "rootUri", root, "capabilities", "window", "workDoneProgress", 1, "workspace",
                                       "codeLens", "refreshSupport", 1, "initializationOptions", "hotc"),
                             T);
    cr_assert(r, "no initialize result");
    json_decref(r);
}

static void start_program(struct env *e)
{
    char endpoint[PATH_MAX + 64], prog[PATH_MAX];
    pid_t test = getpid();

    snprintf(endpoint, sizeof endpoint, "unix:%s/run/hotc/%ld.sock", e->dir, (long)lspclient_pid(e->c));
    snprintf(prog, sizeof prog, "%s/ledger", e->dir);

    e->pid = fork();
    cr_assert(e->pid >= 0);
    if (e->pid == 0) {
        int fd = open(e->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("HOTC_ENDPOINT", endpoint, 1);
        /* never outlive the test, even one that failed an assertion; and
         * a safety net of about ten minutes */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != test)
            _exit(127);
        execl(prog, prog, "--period", "20", "--ticks", "30000", (char *)NULL);
        _exit(127);
    }
}

static void teardown(struct env *e)
{
    if (e->c) {
        cr_assert_eq(lspclient_shutdown(e->c, T), 0);
        cr_assert_eq(lspclient_garbage(e->c), 0, "stdout must carry protocol only");
        lspclient_free(e->c);
        e->c = NULL;
    }
    if (e->pid > 0) {
        kill(e->pid, SIGTERM);
        waitpid(e->pid, NULL, 0);
        e->pid = 0;
    }
}

static void remove_project(struct env *e)
{
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
    test_sh(cmd, NULL, 0);
    json_decref(e->history);
    for (int i = 0; i < N_FILES; i++)
        free(e->docs[i].text);
}

/* ------------------------------------------------------------ the editor */

static void open_doc(struct env *e, const char *name)
{
    struct doc *d = doc_of(e, name);
    if (d->open)
        return;
    d->open = 1;
    lspclient_notify(e->c, "textDocument/didOpen",
                     json_pack("{s:{s:s, s:s, s:i, s:s}}", "textDocument", "uri", d->uri, "languageId", "c",
                               "version", ++e->version, "text", d->text));
}

/* As an editor saves: the new text as a change, on disk, then didSave. The
 * file is opened first when it is not. Takes a copy of `text`. */
static void save(struct env *e, const char *name, const char *text)
{
    struct doc *d = doc_of(e, name);
    char *copy = strdup(text);

    open_doc(e, name);
    e->saved_at = json_array_size(e->history);
    lspclient_notify(e->c, "textDocument/didChange",
                     json_pack("{s:{s:s, s:i}, s:[{s:s}]}", "textDocument", "uri", d->uri, "version", ++e->version,
                               "contentChanges", "text", copy));
    test_spit(d->path, copy);
    free(d->text);
    d->text = copy;
    lspclient_notify(e->c, "textDocument/didSave", json_pack("{s:{s:s}}", "textDocument", "uri", d->uri));
}

/* A file changed on disk behind the editor's back (a checkout, another
 * tool): not open, nothing sent. */
static void write_behind(struct env *e, const char *name, const char *text)
{
    struct doc *d = doc_of(e, name);
    char *copy = strdup(text);

    cr_assert(!d->open, "%s is open in the editor", name);
    test_spit(d->path, copy);
    free(d->text);
    d->text = copy;
}

typedef int (*match_fn)(json_t *params, const void *arg);

/* Reads messages until one with `method` whose params satisfy `match`
 * (NULL: any); returns its params (new reference), or NULL at the
 * deadline. Every message read goes to the history. */
static json_t *try_wait(struct env *e, const char *method, match_fn match, const void *arg, int timeout_ms)
{
    long long deadline = test_now_ms() + timeout_ms;

    for (;;) {
        long long left = deadline - test_now_ms();
        json_t *msg = left > 0 ? lspclient_read(e->c, (int)left) : NULL;
        const char *m;

        if (!msg)
            return NULL;
        json_array_append(e->history, msg);
        m = json_string_value(json_object_get(msg, "method"));
        if (m && strcmp(m, method) == 0 && (!match || match(json_object_get(msg, "params"), arg))) {
            json_t *params = json_incref(json_object_get(msg, "params"));
            json_decref(msg);
            return params;
        }
        json_decref(msg);
    }
}

static json_t *wait_for(struct env *e, const char *method, match_fn match, const void *arg, int timeout_ms)
{
    json_t *p = try_wait(e, method, match, arg, timeout_ms);
    cr_assert(p, "timed out waiting for %s", method);
    return p;
}

static int programs_is(json_t *params, const void *arg)
{
    return json_integer_value(json_object_get(params, "programs")) == *(const int *)arg;
}

/* A hotc/status with a result (not the compiling:true one). */
static int status_done(json_t *params, const void *arg)
{
    (void)arg;
    return !json_is_true(json_object_get(params, "compiling")) && json_object_get(params, "last");
}

static const char *last_result(json_t *status)
{
    const char *r = json_string_value(json_object_get(json_object_get(status, "last"), "result"));
    return r ? r : "(none)";
}

static int has_function(json_t *list, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach(list, i, f)
        if (json_is_string(f) && strcmp(json_string_value(f), name) == 0)
            return 1;
    return 0;
}

/* ------------------------------------------------------------ the program */

static void describe_since(struct env *e, size_t mark, char *buf, size_t size);

/* The last status line of the program (a copy), or NULL. */
static char *last_line(struct env *e)
{
    char *out = test_slurp(e->out, NULL), *hit = NULL;
    for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n"))
        if (strncmp(line, "tick=", 5) == 0) {
            free(hit);
            hit = strdup(line);
        }
    free(out);
    return hit;
}

static long field(const char *line, const char *name)
{
    char key[64];
    const char *at;
    snprintf(key, sizeof key, " %s=", name);
    if (strncmp(line, key + 1, strlen(key + 1)) == 0)
        return atol(line + strlen(key + 1));
    at = strstr(line, key);
    cr_assert(at, "no %s in '%s'", name, line);
    return atol(at + strlen(key));
}

/* Waits for a status line containing `text` with a tick after
 * `after_tick`; returns it (a copy). Fails with `why` at the deadline. */
static char *expect_line(struct env *e, const char *text, long after_tick, const char *why)
{
    long long deadline = test_now_ms() + T;

    for (;;) {
        char *out = test_slurp(e->out, NULL), *hit = NULL;
        for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n"))
            if (strncmp(line, "tick=", 5) == 0 && strstr(line, text) && field(line, "tick") > after_tick) {
                hit = strdup(line);
                break;
            }
        free(out);
        if (hit)
            return hit;
        if (test_now_ms() > deadline) {
            char *last = last_line(e), what[16384];
            for (json_t *msg; e->c && (msg = lspclient_read(e->c, 1000)) != NULL;)
                json_array_append_new(e->history, msg);
            describe_since(e, e->saved_at, what, sizeof what);
            cr_assert_fail("%s (waited for '%s' after tick %ld; the program last printed: %s)\n"
                           "  the server said since the last save:%s",
                           why, text, after_tick, last ? last : "nothing", *what ? what : " nothing");
        }
        usleep(50000);
    }
}

/* The program keeps running its old code: from `from` (a status line
 * before the save) until SETTLE_TICKS ticks after now (the refusal is
 * known), every line still has `old` and none has `new`, and the counters
 * keep growing. Returns the last line seen (a copy). */
static char *expect_unchanged(struct env *e, const char *from, const char *old, const char *new)
{
    long tick0 = field(from, "tick"), filled0 = field(from, "filled");
    char *now = last_line(e);
    long until = (now ? field(now, "tick") : tick0) + SETTLE_TICKS;
    char *last = expect_line(e, "tick=", until, "the program stopped after a refused change");
    char *out = test_slurp(e->out, NULL);

    free(now);

    for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "tick=", 5) != 0 || field(line, "tick") <= tick0)
            continue;
        if (!strstr(line, new) && strstr(line, old))
            continue;
        char what[16384];
        for (json_t *msg; (msg = lspclient_read(e->c, 2000)) != NULL;)
            json_array_append_new(e->history, msg);
        describe_since(e, e->saved_at, what, sizeof what);
        cr_assert_fail("the program does not run its old code (\"%s\") after a refused save: %s\n"
                       "  the server said since the save:%s", old, line, *what ? what : " nothing");
    }
    free(out);
    cr_assert_gt(field(last, "filled"), filled0, "the program's state was reset: %s", last);
    cr_assert(kill(e->pid, 0) == 0, "the program died");
    return last;
}

/* Waits until the program is attached and prints its first lines, with
 * the .c files open; returns the first status line (a copy). */
static char *start(struct env *e)
{
    int one = 1;
    json_t *p;

    setup_project(e);
    start_server(e);
    start_program(e);
    p = wait_for(e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    /* an editor has the project's .c files open well before the first
     * save (the headers are opened when saved) */
    for (int i = 0; files[i]; i++)
        if (strstr(files[i], ".c"))
            open_doc(e, files[i]);
    return expect_line(e, "tag=a version=0", 0, "the program did not start");
}

/* ------------------------------------------------------------ diagnostics */

/* The diagnostics of `params` with `code` (NULL: any) and `severity` (0:
 * any), their messages joined in `buf`. Returns how many. */
static int diags_with(json_t *params, const char *code, int severity, char *buf, size_t size)
{
    json_t *d;
    size_t i;
    int n = 0;

    if (buf && size)
        *buf = '\0';
    json_array_foreach(json_object_get(params, "diagnostics"), i, d) {
        const char *c = json_string_value(json_object_get(d, "code"));
        int sev = (int)json_integer_value(json_object_get(d, "severity"));
        if ((severity && sev != severity) || (code && (!c || strcmp(c, code) != 0)))
            continue;
        n++;
        if (buf) {
            size_t used = strlen(buf);
            snprintf(buf + used, size - used, "%s[%s] %s", used ? " | " : "", c ? c : "-",
                     json_string_value(json_object_get(d, "message")));
        }
    }
    return n;
}

/* Everything the test learnt about a save, for failure messages. */
static void describe_since(struct env *e, size_t mark, char *buf, size_t size)
{
    json_t *msg;
    size_t i;

    *buf = '\0';
    for (i = mark; i < json_array_size(e->history); i++) {
        size_t used = strlen(buf);
        const char *m;
        json_t *params;
        char *s;

        msg = json_array_get(e->history, i);
        m = json_string_value(json_object_get(msg, "method"));
        params = json_object_get(msg, "params");
        if (!m || used + 64 > size)
            continue;
        if (strcmp(m, "textDocument/publishDiagnostics") == 0) {
            char list[2048];
            const char *uri = json_string_value(json_object_get(params, "uri"));
            if (diags_with(params, NULL, 0, list, sizeof list) == 0)
                continue;
            snprintf(buf + used, size - used, "\n  diagnostics %s: %s", strrchr(uri, '/') + 1, list);
        } else if (strcmp(m, "hotc/reloaded") == 0 || strcmp(m, "window/showMessage") == 0 ||
                   (strcmp(m, "hotc/status") == 0 && status_done(params, NULL))) {
            s = json_dumps(params, JSON_COMPACT);
            snprintf(buf + used, size - used, "\n  %s %.600s", m, s);
            free(s);
        }
    }
}

/* Reads until the diagnostics of `name` (the last ones published before
 * `mark`, or any published since) carry a layout-changed (or `code`)
 * warning whose message contains every one of `needles`. Fails, saying what the
 * editor got instead and what the program runs, at the deadline. */
static void expect_layout_warning(struct env *e, size_t mark, const char *name, const char *const *needles,
                                  const char *code)
{
    struct doc *d = doc_of(e, name);
    long long deadline = test_now_ms() + T;
    size_t seen = mark;

    /* the diagnostics the file has when the save is sent count too: a
     * refusal that holds need not be published again */
    while (seen > 0) {
        json_t *msg = json_array_get(e->history, seen - 1), *params = json_object_get(msg, "params");
        const char *m = json_string_value(json_object_get(msg, "method"));
        if (m && strcmp(m, "textDocument/publishDiagnostics") == 0 &&
            strcmp(json_string_value(json_object_get(params, "uri")), d->uri) == 0)
            break;
        seen--;
    }
    seen = seen > 0 ? seen - 1 : mark;

    for (;;) {
        for (; seen < json_array_size(e->history); seen++) {
            json_t *msg = json_array_get(e->history, seen), *params = json_object_get(msg, "params");
            const char *m = json_string_value(json_object_get(msg, "method"));
            json_t *diag;
            size_t i;

            if (!m || strcmp(m, "textDocument/publishDiagnostics") != 0 ||
                strcmp(json_string_value(json_object_get(params, "uri")), d->uri) != 0)
                continue;
            json_array_foreach(json_object_get(params, "diagnostics"), i, diag) {
                const char *c = json_string_value(json_object_get(diag, "code"));
                const char *text = json_string_value(json_object_get(diag, "message"));
                int all = text && json_integer_value(json_object_get(diag, "severity")) == 2 && c &&
                          (strcmp(c, code) == 0 || strcmp(c, "layout-changed") == 0);
                for (size_t k = 0; all && needles[k]; k++)
                    all = strstr(text, needles[k]) != NULL;
                if (all)
                    return;
            }
        }
        json_t *msg = test_now_ms() < deadline ? lspclient_read(e->c, (int)(deadline - test_now_ms())) : NULL;
        if (!msg) {
            char what[16384], wanted[512] = "", *last = last_line(e);
            for (size_t k = 0; needles[k]; k++)
                snprintf(wanted + strlen(wanted), sizeof wanted - strlen(wanted), " \"%s\"", needles[k]);
            describe_since(e, mark, what, sizeof what);
            cr_assert_fail("no %s warning on %s naming%s; the server said:%s\n  the program prints: %s", code, name,
                           wanted, *what ? what : " nothing", last ? last : "nothing");
        }
        json_array_append_new(e->history, msg);
    }
}

/* After a refused save: the first finished hotc/status since `mark` does
 * not report `function` as applied. */
static void expect_not_applied(struct env *e, size_t mark, const char *function)
{
    json_t *msg, *p = NULL;
    size_t i;

    for (i = mark; i < json_array_size(e->history) && !p; i++) {
        msg = json_array_get(e->history, i);
        const char *m = json_string_value(json_object_get(msg, "method"));
        if (m && strcmp(m, "hotc/status") == 0 && status_done(json_object_get(msg, "params"), NULL))
            p = json_incref(json_object_get(msg, "params"));
    }
    if (!p)
        p = try_wait(e, "hotc/status", status_done, NULL, 15000);
    if (p) {
        json_t *last = json_object_get(p, "last");
        cr_assert(strcmp(last_result(p), "applied") != 0 || !has_function(json_object_get(last, "functions"), function),
                  "hotc/status reports %s() applied: %s", function, json_dumps(p, JSON_COMPACT));
        json_decref(p);
    }
    /* and no hotc/reloaded carried it as applied */
    for (i = mark; i < json_array_size(e->history); i++) {
        msg = json_array_get(e->history, i);
        const char *m = json_string_value(json_object_get(msg, "method"));
        json_t *params = json_object_get(msg, "params");
        if (!m || strcmp(m, "hotc/reloaded") != 0 || !has_function(json_object_get(params, "functions"), function))
            continue;
        json_t *prog = json_array_get(json_object_get(params, "programs"), 0);
        cr_assert_str_neq(json_string_value(json_object_get(prog, "status")), "applied",
                          "%s() was reloaded after its layout changed: %s", function,
                          json_dumps(params, JSON_COMPACT));
    }
}

/* Since `mark`, no layout-changed or signature-changed warning for any
 * file and, when `infos`, no "not HOT" (or other) information either. */
static void expect_no_warnings(struct env *e, size_t mark, const char *why, int infos)
{
    for (size_t i = mark; i < json_array_size(e->history); i++) {
        json_t *msg = json_array_get(e->history, i), *params = json_object_get(msg, "params");
        const char *m = json_string_value(json_object_get(msg, "method"));
        char list[4096];

        if (!m || strcmp(m, "textDocument/publishDiagnostics") != 0)
            continue;
        int n = diags_with(params, "layout-changed", 0, list, sizeof list);
        cr_assert_eq(n, 0, "%s: a false layout warning on %s: %s", why,
                     json_string_value(json_object_get(params, "uri")), list);
        n = diags_with(params, "signature-changed", 0, list, sizeof list);
        cr_assert_eq(n, 0, "%s: a false signature warning on %s: %s", why,
                     json_string_value(json_object_get(params, "uri")), list);
        if (!infos)
            continue;
        n = diags_with(params, "not-hot", 0, list, sizeof list) + diags_with(params, NULL, 3, NULL, 0);
        cr_assert_eq(n, 0, "%s: a false information on %s: %s", why,
                     json_string_value(json_object_get(params, "uri")), list);
    }
}

/* Whether the last diagnostics published for `uri` since `mark` (none
 * counts as clean) carry no layout-changed or signature-changed warning;
 * the warnings in `buf`. */
static int clean_now(struct env *e, size_t mark, const char *uri, char *buf, size_t size)
{
    json_t *last = NULL;

    *buf = '\0';
    for (size_t i = mark; i < json_array_size(e->history); i++) {
        json_t *msg = json_array_get(e->history, i), *params = json_object_get(msg, "params");
        const char *m = json_string_value(json_object_get(msg, "method"));
        if (m && strcmp(m, "textDocument/publishDiagnostics") == 0 &&
            strcmp(json_string_value(json_object_get(params, "uri")), uri) == 0)
            last = params;
    }
    if (!last)
        return 1;
    size_t used = (size_t)diags_with(last, "layout-changed", 0, buf, size);
    used = used ? strlen(buf) : 0;
    return used + (size_t)diags_with(last, "signature-changed", 0, buf + used, size - used) == 0;
}

/* A save that brought a file back to what it may run: its stale layout and
 * signature warnings are cleared (the last diagnostics published for it
 * since `mark` have none), within the deadline. */
static void expect_cleared(struct env *e, size_t mark, const char *name, const char *why)
{
    const char *uri = doc_of(e, name)->uri;
    long long deadline = test_now_ms() + T;
    char list[4096];

    while (!clean_now(e, mark, uri, list, sizeof list)) {
        json_t *msg = test_now_ms() < deadline ? lspclient_read(e->c, (int)(deadline - test_now_ms())) : NULL;
        cr_assert(msg, "%s: %s keeps a stale warning: %s", why, name, list);
        json_array_append_new(e->history, msg);
    }
}

/* Saves `name` as `text` and expects the change to run: a status line with
 * `text_out` after `from`'s tick, the counters going on, and no layout
 * or signature warning left on it.
 * Returns that line (a copy). */
static char *save_applied(struct env *e, const char *name, const char *text, const char *text_out, const char *from,
                          const char *why)
{
    size_t mark = json_array_size(e->history);
    char *line;

    save(e, name, text);
    line = expect_line(e, text_out, field(from, "tick"), why);
    cr_assert_gt(field(line, "filled"), field(from, "filled"), "the program's state was reset: %s", line);
    cr_assert_gt(field(line, "version"), field(from, "version"), "%s", line);
    /* the status of that reload arrived: the whole save is answered */
    json_decref(try_wait(e, "hotc/status", status_done, NULL, 5000));
    expect_cleared(e, mark, name, why);
    return line;
}

/* One refused save of `name`: the warning with `needles` on `warn_on` (the
 * saved file or the file of the refused function), `function` not
 * applied, the program still printing `old` and never `new`. Returns the
 * last line seen (a copy). */
static char *save_refused(struct env *e, const char *name, const char *text, const char *warn_on,
                          const char *const *needles, const char *code, const char *function, const char *old,
                          const char *new, const char *from)
{
    size_t mark = json_array_size(e->history);

    save(e, name, text);
    expect_layout_warning(e, mark, warn_on, needles, code);
    expect_not_applied(e, mark, function);
    return expect_unchanged(e, from, old, new);
}

/* ------------------------------------------------------------ refused */

Test(layout, a_field_added_to_the_global_behind_a_macro_is_refused_then_applies_when_put_back)
{
    struct env e;
    char *line0 = start(&e), *line1, *line2;
    char *core = strdup(doc_of(&e, "core.h")->text), *stock = strdup(doc_of(&e, "stock.c")->text);
    char *core2 = test_edit(core, (const char *const[]){ "struct ledger {\n", "struct ledger {\n    long pad;\n", NULL });
    char *stock2 = test_edit(stock, (const char *const[]){ "int lot = 3;", "int lot = 4;", NULL });

    open_doc(&e, "stock.c");
    /* the header first (nothing includes it directly), then the .c file
     * whose HOT function reaches the struct only through LG() */
    save(&e, "core.h", core2);
    line1 = save_refused(&e, "stock.c", stock2, "stock.c",
                         (const char *const[]){ "struct ledger", "pad", "48", "56", NULL }, "layout-changed",
                         "stock_tick", "in=3 ", "in=4 ", line0);
    /* put back: the same body edit applies, the counters go on */
    save(&e, "core.h", core);
    line2 = save_applied(&e, "stock.c", stock2, "in=4 ", line1, "the edit did not apply once the header was put back");
    teardown(&e);
    free(core);
    free(core2);
    free(stock);
    free(stock2);
    free(line0);
    free(line1);
    free(line2);
    remove_project(&e);
}

Test(layout, a_field_added_to_a_file_scope_static_struct_is_refused_then_applies_when_put_back)
{
    struct env e;
    char *line0 = start(&e), *line1, *line2;
    char *orders = strdup(doc_of(&e, "orders.c")->text);
    char *body = test_edit(orders, (const char *const[]){ "int n = fill(demand);", "int n = fill(demand) - 1;", NULL });
    char *both = test_edit(body, (const char *const[]){ "struct order_book {\n", "struct order_book {\n    long pad;\n", NULL });

    line1 = save_refused(&e, "orders.c", both, "orders.c",
                         (const char *const[]){ "struct order_book", "pad", "40", "48", NULL }, "layout-changed",
                         "orders_tick", "out=2 ", "out=1 ", line0);
    line2 = save_applied(&e, "orders.c", body, "out=1 ", line1, "the edit did not apply once the struct was put back");
    teardown(&e);
    free(orders);
    free(body);
    free(both);
    free(line0);
    free(line1);
    free(line2);
    remove_project(&e);
}

Test(layout, a_bit_field_width_change_in_an_anonymous_typedef_is_refused_then_applies_when_put_back)
{
    struct env e;
    char *line0 = start(&e), *line1, *line2;
    char *types = strdup(doc_of(&e, "types.h")->text), *audit = strdup(doc_of(&e, "audit.c")->text);
    char *types2 = test_edit(types, (const char *const[]){ "unsigned restock : 3;", "unsigned restock : 4;", NULL });
    char *audit2 = test_edit(audit, (const char *const[]){ "* 10 +", "* 100 +", NULL });

    open_doc(&e, "audit.c");
    save(&e, "types.h", types2);
    line1 = save_refused(&e, "audit.c", audit2, "audit.c", (const char *const[]){ "flags_t", "restock", NULL },
                         "layout-changed", "audit_check", "audit=25 ", "audit=205 ", line0);
    save(&e, "types.h", types);
    line2 = save_applied(&e, "audit.c", audit2, "audit=205 ", line1,
                         "the edit did not apply once the bit-field was put back");
    teardown(&e);
    free(types);
    free(types2);
    free(audit);
    free(audit2);
    free(line0);
    free(line1);
    free(line2);
    remove_project(&e);
}

Test(layout, an_enum_constant_whose_value_changed_is_refused_then_applies_when_put_back)
{
    struct env e;
    char *line0 = start(&e), *line1, *line2;
    char *types = strdup(doc_of(&e, "types.h")->text), *stock = strdup(doc_of(&e, "stock.c")->text);
    char *types2 = test_edit(types, (const char *const[]){ "    MOVE_RECEIVE,\n", "    MOVE_HOLD,\n    MOVE_RECEIVE,\n",
                                                      NULL });
    char *stock2 = test_edit(stock, (const char *const[]){ "int lot = 3;", "int lot = 4;", NULL });

    open_doc(&e, "stock.c");
    save(&e, "types.h", types2);
    line1 = save_refused(&e, "stock.c", stock2, "stock.c", (const char *const[]){ "enum movement", "MOVE_RECEIVE", NULL },
                         "layout-changed", "stock_tick", "in=3 ", "in=4 ", line0);
    save(&e, "types.h", types);
    line2 = save_applied(&e, "stock.c", stock2, "in=4 ", line1, "the edit did not apply once the enum was put back");
    cr_assert(strstr(line2, "last=receive"), "%s", line2);
    teardown(&e);
    free(types);
    free(types2);
    free(stock);
    free(stock2);
    free(line0);
    free(line1);
    free(line2);
    remove_project(&e);
}

Test(layout, an_array_bound_change_is_refused_then_applies_when_put_back)
{
    struct env e;
    char *line0 = start(&e), *line1, *line2;
    char *report = strdup(doc_of(&e, "report.c")->text);
    char *body = test_edit(report, (const char *const[]){ "tag=a", "tag=b", NULL });
    char *both = test_edit(body, (const char *const[]){ "static int recent[8];", "static int recent[12];",
                                                   "recent[LG(tick) % 8]", "recent[LG(tick) % 12]",
                                                   "i < 8;", "i < 12;", NULL });

    line1 = save_refused(&e, "report.c", both, "report.c", (const char *const[]){ "recent", "int[8]", "int[12]", NULL },
                         "layout-changed", "report_line", "tag=a ", "tag=b ", line0);
    line2 = save_applied(&e, "report.c", body, "tag=b ", line1, "the edit did not apply once the array was put back");
    teardown(&e);
    free(report);
    free(body);
    free(both);
    free(line0);
    free(line1);
    free(line2);
    remove_project(&e);
}

Test(layout, a_parameter_type_change_of_a_hot_function_is_refused_then_applies_when_put_back)
{
    struct env e;
    char *line0 = start(&e), *line1, *line2;
    char *header = strdup(doc_of(&e, "ledger.h")->text), *pricing = strdup(doc_of(&e, "pricing.c")->text);
    char *header2 = test_edit(header, (const char *const[]){ "money_t price_of(units_t qty);", "money_t price_of(long qty);",
                                                        NULL });
    char *body = test_edit(pricing, (const char *const[]){ "list.cents;", "list.cents + 50;", NULL });
    char *both = test_edit(body, (const char *const[]){ "HOT money_t price_of(units_t qty)", "HOT money_t price_of(long qty)",
                                                   NULL });

    /* the prototype and the definition changed together (main.c, which is
     * not recompiled, still passes an int) */
    open_doc(&e, "pricing.c");
    save(&e, "ledger.h", header2);
    line1 = save_refused(&e, "pricing.c", both, "pricing.c", (const char *const[]){ "price_of", "long", NULL },
                         "signature-changed", "price_of", "price=374 ", "price=500 ", line0);
    save(&e, "ledger.h", header);
    line2 = save_applied(&e, "pricing.c", body, "price=500 ", line1,
                         "the edit did not apply once the parameter was put back");
    teardown(&e);
    free(header);
    free(header2);
    free(pricing);
    free(body);
    free(both);
    free(line0);
    free(line1);
    free(line2);
    remove_project(&e);
}

/* A static HOT function whose parameter changed cannot be redirected (the
 * running callers pass an int); its reloaded caller would run its new code
 * (compiled into the patch), so the caller is not reloaded either, and the
 * status says why. */
Test(layout, the_caller_of_a_static_hot_function_whose_parameter_changed_is_not_reloaded_either)
{
    struct env e;
    char *line0 = start(&e), *line1, *line2;
    char *orders = strdup(doc_of(&e, "orders.c")->text);
    char *body = test_edit(orders, (const char *const[]){ "units_t cap = 2;", "units_t cap = 1;", NULL });
    /* orders_tick() changes too (to no effect on its output), so that it
     * is a candidate that must be left out */
    char *both = test_edit(body, (const char *const[]){ "static HOT units_t fill(units_t want)",
                                                   "static HOT units_t fill(long want)", "book.open += demand;",
                                                   "book.open += demand + 0;", NULL });
    size_t mark;
    json_t *status;
    const char *message;

    open_doc(&e, "orders.c");
    mark = json_array_size(e.history);
    save(&e, "orders.c", both);
    status = wait_for(&e, "hotc/status", status_done, NULL, T);
    message = json_string_value(json_object_get(json_object_get(status, "last"), "message"));
    cr_assert(message && strstr(message, "orders_tick") && strstr(message, "it calls fill()"),
              "the status does not say why orders_tick() was left out: %s", json_dumps(status, JSON_COMPACT));
    json_decref(status);
    expect_not_applied(&e, mark, "fill");
    expect_not_applied(&e, mark, "orders_tick");
    line1 = expect_unchanged(&e, line0, "out=2 ", "out=1 ");
    line2 = save_applied(&e, "orders.c", body, "out=1 ", line1, "the edit did not apply once the parameter was put back");
    teardown(&e);
    free(orders);
    free(body);
    free(both);
    free(line0);
    free(line1);
    free(line2);
    remove_project(&e);
}

Test(layout, a_parameter_type_changed_through_a_typedef_in_a_header_is_refused_then_applies_when_put_back)
{
    struct env e;
    char *line0 = start(&e), *line1, *line2;
    char *types = strdup(doc_of(&e, "types.h")->text), *pricing = strdup(doc_of(&e, "pricing.c")->text);
    char *types2 = test_edit(types, (const char *const[]){ "typedef int units_t;", "typedef long units_t;", NULL });
    char *pricing2 = test_edit(pricing, (const char *const[]){ "list.cents;", "list.cents + 50;", NULL });

    /* price_of()'s text is the same before and after: only the compiler
     * sees that its parameter became a long */
    open_doc(&e, "pricing.c");
    save(&e, "types.h", types2);
    line1 = save_refused(&e, "pricing.c", pricing2, "pricing.c", (const char *const[]){ "price_of", "long", NULL },
                         "signature-changed", "price_of", "price=374 ", "price=500 ", line0);
    save(&e, "types.h", types);
    line2 = save_applied(&e, "pricing.c", pricing2, "price=500 ", line1,
                         "the edit did not apply once the typedef was put back");
    teardown(&e);
    free(types);
    free(types2);
    free(pricing);
    free(pricing2);
    free(line0);
    free(line1);
    free(line2);
    remove_project(&e);
}

Test(layout, a_header_changed_behind_the_editor_refuses_the_next_c_save_then_applies_when_put_back)
{
    struct env e;
    char *line0 = start(&e), *line1, *line2;
    char *core = strdup(doc_of(&e, "core.h")->text), *pricing = strdup(doc_of(&e, "pricing.c")->text);
    char *core2 = test_edit(core, (const char *const[]){ "    int sku;\n    int qty;\n", "    int sku;\n    int batch;\n    int qty;\n",
                                                    NULL });
    char *pricing2 = test_edit(pricing, (const char *const[]){ "list.cents;", "list.cents + 50;", NULL });

    open_doc(&e, "pricing.c");
    /* core.h (two includes deep, never open) changes on disk, as after a
     * checkout; the user then edits a HOT function that uses struct lot */
    write_behind(&e, "core.h", core2);
    line1 = save_refused(&e, "pricing.c", pricing2, "pricing.c",
                         (const char *const[]){ "struct lot", "batch", "16", "24", NULL }, "layout-changed",
                         "price_of", "price=374 ", "price=500 ", line0);
    /* a second save is refused as well: the refusal holds (its warning,
     * unchanged, stays on the file: the status says the save was refused) */
    {
        char *pricing3 = test_edit(pricing2, (const char *const[]){ "list.cents + 50;", "list.cents + 60;", NULL });
        size_t mark = json_array_size(e.history);
        json_t *status;
        const char *message;
        char *line;
        save(&e, "pricing.c", pricing3);
        status = wait_for(&e, "hotc/status", status_done, NULL, T);
        message = json_string_value(json_object_get(json_object_get(status, "last"), "message"));
        cr_assert_str_eq(last_result(status), "refused", "%s", json_dumps(status, JSON_COMPACT));
        cr_assert(message && strstr(message, "struct lot") && strstr(message, "batch"), "%s", message);
        json_decref(status);
        expect_not_applied(&e, mark, "price_of");
        line = expect_unchanged(&e, line0, "price=374 ", "price=524 ");
        free(line1);
        line1 = line;
        free(pricing3);
    }
    write_behind(&e, "core.h", core);
    line2 = save_applied(&e, "pricing.c", pricing2, "price=500 ", line1,
                         "the edit did not apply once the header was put back");
    teardown(&e);
    free(core);
    free(core2);
    free(pricing);
    free(pricing2);
    free(line0);
    free(line1);
    free(line2);
    remove_project(&e);
}

/* A header save that a HOT function of another file cannot take (its
 * struct grew) is refused there; saving the header back as it was takes
 * the warning away, with no other save: nothing is left to refuse. */
Test(layout, a_refused_header_save_put_back_clears_its_warning)
{
    struct env e;
    char *line0 = start(&e), *line1, *line2;
    char *core = strdup(doc_of(&e, "core.h")->text);
    char *core2 = test_edit(core, (const char *const[]){ "    int sku;\n    int qty;\n", "    int sku;\n    int batch;\n    int qty;\n",
                                                    NULL });
    size_t mark;

    /* pricing.c saved as it is first: the server knows what the program
     * runs of it (its preprocessed unit, read in the background after
     * start-up) and so that it includes core.h */
    save(&e, "pricing.c", doc_of(&e, "pricing.c")->text);
    json_decref(wait_for(&e, "hotc/status", status_done, NULL, T));
    mark = json_array_size(e.history);
    line1 = save_refused(&e, "core.h", core2, "pricing.c",
                         (const char *const[]){ "struct lot", "batch", "16", "24", NULL }, "layout-changed",
                         "price_of", "price=374 ", "price=500 ", line0);
    save(&e, "core.h", core);
    expect_cleared(&e, mark, "pricing.c", "the header was put back");
    /* and the program ran on, untouched */
    line2 = expect_unchanged(&e, line1, "price=374 ", "price=500 ");
    teardown(&e);
    free(core);
    free(core2);
    free(line0);
    free(line1);
    free(line2);
    remove_project(&e);
}

/* ------------------------------------------------------------ applied */

Test(layout, unedited_files_saved_give_no_warning_and_no_information)
{
    struct env e;
    char *line = start(&e), *next;
    size_t mark = json_array_size(e.history);

    /* every file opened and saved unedited, as "save all" would */
    for (int i = 0; files[i]; i++)
        open_doc(&e, files[i]);
    for (int i = 0; files[i]; i++) {
        char *same = strdup(doc_of(&e, files[i])->text);
        save(&e, files[i], same);
        free(same);
    }
    /* then one real edit: once it runs, the server has answered them all */
    char *report = test_edit(doc_of(&e, "report.c")->text, (const char *const[]){ "tag=a", "tag=b", NULL });
    next = save_applied(&e, "report.c", report, "tag=b ", line, "report_line() was not reloaded");
    expect_no_warnings(&e, mark, "unedited saves", 1);
    teardown(&e);
    free(report);
    free(line);
    free(next);
    remove_project(&e);
}

Test(layout, a_body_edit_of_each_hot_function_applies)
{
    struct env e;
    char *line = start(&e), *next;
    static const struct {
        const char *file, *from, *to, *shows, *why;
    } steps[] = {
        { "report.c", "tag=a", "tag=b", "tag=b ", "report_line() was not reloaded" },
        { "pricing.c", "list.cents;", "list.cents + 50;", "price=500 ", "price_of() was not reloaded" },
        { "stock.c", "int lot = 3;", "int lot = 4;", "in=4 ", "stock_tick() was not reloaded" },
        { "audit.c", "* 10 +", "* 100 +", "audit=205 ", "audit_check() was not reloaded" },
        { "orders.c", "units_t cap = 2;", "units_t cap = 1;", "out=1 ", "fill() was not reloaded" },
        { "orders.c", "int n = fill(demand);", "int n = fill(demand) + 1;", "out=2 ",
          "orders_tick() was not reloaded" },
    };

    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        char *text = test_edit(doc_of(&e, steps[i].file)->text, (const char *const[]){ steps[i].from, steps[i].to, NULL });
        next = save_applied(&e, steps[i].file, text, steps[i].shows, line, steps[i].why);
        free(text);
        free(line);
        line = next;
    }
    cr_assert(strstr(line, "tag=b ") && strstr(line, "in=4 ") && strstr(line, "audit=205 "),
              "an earlier reload was lost: %s", line);
    teardown(&e);
    free(line);
    remove_project(&e);
}

Test(layout, a_change_in_the_if_branch_the_build_leaves_out_applies_without_a_warning)
{
    struct env e;
    char *line = start(&e), *next;
    size_t mark = json_array_size(e.history);

    /* -DLEDGER_WIDE_MONEY=1: the #else branches of core.h and pricing.c are
     * not compiled; a field added to their struct price and their margin()
     * changed must not count, beside a real edit of price_of() */
    char *core = test_edit(doc_of(&e, "core.h")->text,
                      (const char *const[]){ "struct price {\n    money_t cents;\n};",
                                             "struct price {\n    money_t cents;\n    int currency;\n};", NULL });
    open_doc(&e, "pricing.c");
    save(&e, "core.h", core);
    char *pricing = test_edit(doc_of(&e, "pricing.c")->text, (const char *const[]){ "return cost + cost / 4;",
                                                                               "return cost + cost / 3;",
                                                                               "list.cents;", "list.cents + 50;", NULL });
    next = save_applied(&e, "pricing.c", pricing, "price=500 ", line,
                        "an edit beside a change in the #if branch the build leaves out was not applied");
    expect_no_warnings(&e, mark, "a change in the #if branch the build leaves out", 1);
    teardown(&e);
    free(core);
    free(pricing);
    free(line);
    free(next);
    remove_project(&e);
}

Test(layout, a_field_added_to_a_struct_nothing_uses_applies_without_a_warning)
{
    struct env e;
    char *line = start(&e), *next;
    size_t mark = json_array_size(e.history);

    char *types = test_edit(doc_of(&e, "types.h")->text,
                       (const char *const[]){ "char name[16];", "char name[16];\n    int rating;", NULL });
    open_doc(&e, "stock.c");
    save(&e, "types.h", types);
    char *stock = test_edit(doc_of(&e, "stock.c")->text, (const char *const[]){ "int lot = 3;", "int lot = 4;", NULL });
    next = save_applied(&e, "stock.c", stock, "in=4 ", line, "an edit after a change to an unused struct was not applied");
    expect_no_warnings(&e, mark, "a field added to a struct nothing uses", 1);
    teardown(&e);
    free(types);
    free(stock);
    free(line);
    free(next);
    remove_project(&e);
}

Test(layout, code_moved_around_a_body_edit_applies_without_a_warning)
{
    struct env e;
    char *line = start(&e), *next;
    size_t mark = json_array_size(e.history);

    /* two file-scope variables swapped (the running program keeps its own,
     * found by name), beside a body edit */
    char *audit = test_edit(doc_of(&e, "audit.c")->text,
                       (const char *const[]){ "flags_t policy = { .restock = 2, .priority = 5, .reorder_at = 40 };\n"
                                              "static long alarms; /* ticks spent under the reorder level */\n",
                                              "static long alarms; /* ticks spent under the reorder level */\n"
                                              "flags_t policy = { .restock = 2, .priority = 5, .reorder_at = 40 };\n",
                                              "* 10 +", "* 100 +", NULL });
    next = save_applied(&e, "audit.c", audit, "audit=205 ", line, "an edit beside moved variables was not applied");
    free(line);
    line = next;

    /* a function that is not HOT moved above the HOT ones, beside a body edit */
    const char *getter = "long orders_filled(void)\n{\n    return book.filled;\n}\n";
    char *without = test_edit(doc_of(&e, "orders.c")->text, (const char *const[]){ getter, "", NULL });
    const char *at = strstr(without, "/* How many of `want`");
    cr_assert(at);
    char *moved = malloc(strlen(without) + strlen(getter) + 2);
    sprintf(moved, "%.*s%s\n%s", (int)(at - without), without, getter, at);
    char *orders = test_edit(moved, (const char *const[]){ "units_t cap = 2;", "units_t cap = 1;", NULL });
    next = save_applied(&e, "orders.c", orders, "out=1 ", line, "an edit beside a moved function was not applied");
    expect_no_warnings(&e, mark, "moved code", 1);
    cr_assert(strstr(next, "audit=205 "), "the earlier reload was lost: %s", next);
    teardown(&e);
    free(audit);
    free(without);
    free(moved);
    free(orders);
    free(line);
    free(next);
    remove_project(&e);
}

/* ------------------------------------------------------------ no debug information */

static int message_has(json_t *params, const void *arg)
{
    const char *m = json_string_value(json_object_get(params, "message"));
    return m && strstr(m, (const char *)arg) != NULL;
}

static int status_refused(json_t *params, const void *arg)
{
    (void)arg;
    return status_done(params, NULL) && strcmp(last_result(params), "refused") == 0;
}

/* A program whose DWARF sections were removed (its .symtab kept): the editor is told
 * once, a save is refused with why and what to do, and the program keeps
 * its code; with layoutCheck "off" the same save applies. */
Test(layout, a_program_without_debug_information_is_said_once_and_its_reloads_are_refused)
{
    struct env e;
    char cmd[PATH_MAX * 2], *line0, *line1;
    int one = 1;
    json_t *p;

    setup_project(&e);
    snprintf(cmd, sizeof cmd, "objcopy --wildcard --remove-section='.debug*' '%s/ledger'", e.dir);
    cr_assert_eq(test_sh(cmd, NULL, 0), 0, "cannot strip the program's DWARF");
    start_server(&e);
    start_program(&e);
    json_decref(wait_for(&e, "hotc/status", programs_is, &one, T));
    line0 = expect_line(&e, "tag=a version=0", 0, "the program did not start");
    p = wait_for(&e, "window/showMessage", message_has, "no debug information", T);
    cr_assert(strstr(json_string_value(json_object_get(p, "message")), "-g"), "the message says how to fix it");
    json_decref(p);

    char *report = test_edit(doc_of(&e, "report.c")->text, (const char *const[]){ "tag=a", "tag=b", NULL });
    open_doc(&e, "report.c");
    size_t mark = json_array_size(e.history);
    save(&e, "report.c", report);
    p = wait_for(&e, "hotc/status", status_refused, NULL, T);
    cr_assert(strstr(json_string_value(json_object_get(json_object_get(p, "last"), "message")),
                     "no debug information"),
              "%s", json_dumps(p, JSON_COMPACT));
    json_decref(p);
    expect_not_applied(&e, mark, "report_line");
    line1 = expect_unchanged(&e, line0, "tag=a", "tag=b");
    {
        /* said once: no second message for the same program */
        size_t said = 0, i;
        json_t *msg;
        json_array_foreach(e.history, i, msg) {
            const char *m = json_string_value(json_object_get(msg, "method"));
            if (m && !strcmp(m, "window/showMessage") &&
                message_has(json_object_get(msg, "params"), "has no debug information"))
                said++;
        }
        cr_assert_eq(said, 1, "the missing debug information was said %zu times", said);
    }

    /* the documented way out: reload without the check */
    lspclient_notify(e.c, "workspace/didChangeConfiguration",
                     json_pack("{s:{s:{s:s}}}", "settings", "hotc", "layoutCheck", "off"));
    save(&e, "report.c", report);
    free(expect_line(&e, "tag=b", field(line1, "tick"), "with layoutCheck off the save did not apply"));
    teardown(&e);
    free(report);
    free(line0);
    free(line1);
    remove_project(&e);
}
