/* make bench: the time from didSave to the runtime's "applied", for
 * generated files of several sizes with one HOT function changed, split as
 * the server reports it (analysis, patch, compile, load, apply); compared
 * with compiling the whole file into a shared library and with rebuilding
 * and restarting the program.
 *
 *     bench HOTC_BUILD_DIR WORK_DIR SIZE...      (BENCH_RUNS=N, default 11)
 *
 * It drives the real `hotc lsp` over stdio (tests/support/lspclient) and a
 * real program built from bench/gen.py's output, linked with libhotc and
 * run in automatic mode (HOTC_MODE=auto, so that no time is spent waiting
 * for the program's hot_poll). Prints a Markdown table. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lspclient.h"
#include "run.h"

#define T 120000

static const char *build_dir;
static const char *work;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int sh(const char *cmd)
{
    char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
    char out[8192];
    int rc = test_run(argv, out, sizeof out, 600000);
    if (rc != 0)
        fprintf(stderr, "bench: '%s' failed:\n%s\n", cmd, out);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Reads until a message `method` (and, for hotc/status, a given program
 * count or last result). Returns its params (new) or NULL on timeout. */
static json_t *wait_msg(struct lspclient *c, const char *method, int programs, const char *result)
{
    for (;;) {
        json_t *m = lspclient_read(c, T), *p;
        const char *name;
        if (!m)
            return NULL;
        name = json_string_value(json_object_get(m, "method"));
        p = json_object_get(m, "params");
        const char *last = json_string_value(json_object_get(json_object_get(p, "last"), "result"));
        if (name && strcmp(name, method) == 0 &&
            (programs < 0 || json_integer_value(json_object_get(p, "programs")) == programs) &&
            (!result || (last && strcmp(last, result) == 0))) {
            json_incref(p);
            json_decref(m);
            return p;
        }
        json_decref(m);
    }
}

static pid_t spawn_program(const char *dir, const char *endpoint)
{
    pid_t pid = fork();
    if (pid == 0) {
        char exe[PATH_MAX];
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("HOTC_ENDPOINT", endpoint, 1);
        setenv("HOTC_MODE", "auto", 1);
        snprintf(exe, sizeof exe, "%s/gen", dir);
        execl(exe, exe, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void stop_program(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

struct row {
    double change, e2e, analysis, patch, compile, load, apply, server_total, overhead;
};

/* The line and character (ASCII: bytes) of byte `at` in `text`. */
static void position(const char *text, size_t at, int *line, int *character)
{
    size_t start = 0;

    *line = 0;
    for (size_t i = 0; i < at; i++)
        if (text[i] == '\n') {
            (*line)++;
            start = i + 1;
        }
    *character = (int)(at - start);
}

/* The didChange params that turn `old` into `new_` as one incremental
 * change of the region between their common prefix and suffix, as an
 * editor sends it (the server asks for incremental sync). New reference. */
static json_t *incremental_change(const char *uri, int version, const char *old, const char *new_)
{
    size_t lo = strlen(old), ln = strlen(new_), max = lo < ln ? lo : ln, pre = 0, suf = 0;
    int l0, c0, l1, c1;
    char *text;
    json_t *params;

    while (pre < max && old[pre] == new_[pre])
        pre++;
    while (suf < max - pre && old[lo - 1 - suf] == new_[ln - 1 - suf])
        suf++;
    position(old, pre, &l0, &c0);
    position(old, lo - suf, &l1, &c1);
    text = strndup(new_ + pre, ln - pre - suf);
    params = json_pack("{s:{s:s, s:i}, s:[{s:{s:{s:i, s:i}, s:{s:i, s:i}}, s:s}]}", "textDocument", "uri", uri,
                       "version", version, "contentChanges", "range", "start", "line", l0, "character", c0, "end",
                       "line", l1, "character", c1, "text", text);
    free(text);
    return params;
}

static json_t *config(const char *fast)
{
    return json_pack("{s:i, s:s, s:{}, s:{s:{s:s}}}", "processId", (int)getpid(), "rootUri", "", "capabilities",
                     "initializationOptions", "hotc", "fastCompiler", fast);
}

static const char *variant(const char *dir, int lines, int k)
{
    static char path[PATH_MAX + 32];
    char cmd[3 * PATH_MAX];
    snprintf(path, sizeof path, "%s/v%d.c", dir, k);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/bench/gen.py' %d '%s' --variant %d", HOTC_SOURCE_DIR, lines,
             path, k);
    return sh(cmd) == 0 ? path : NULL;
}

/* Median reload timings for one size and one fastCompiler setting. */
static int measure(const char *dir, int lines, const char *fast, int runs, struct row *out)
{
    char root[PATH_MAX + 8], uri[PATH_MAX + 16], xdg[PATH_MAX + 32], endpoint[PATH_MAX + 64];
    char logpath[PATH_MAX + 32];
    const char *env[] = { xdg, NULL };
    const char *args[] = { "--log", logpath, NULL };
    struct lspclient_options opt = { .env = env, .quiet_stderr = 1 };
    int tracing = getenv("HOTC_TRACE_TIMINGS") && *getenv("HOTC_TRACE_TIMINGS") &&
                  strcmp(getenv("HOTC_TRACE_TIMINGS"), "0") != 0;
    double ch[64], e2e[64], an[64], pa[64], co[64], lo[64], ap[64], to[64], ov[64];
    struct lspclient *c;
    json_t *init, *p;
    pid_t pid;
    char *text, *prev;
    int version = 1;

    if (runs > 64)
        runs = 64;
    snprintf(xdg, sizeof xdg, "XDG_RUNTIME_DIR=%s/run", dir);
    snprintf(root, sizeof root, "file://%s", dir);
    snprintf(uri, sizeof uri, "file://%s/gen.c", dir);
    /* HOTC_TRACE_TIMINGS=1: the server logs each save's steps (lsp/log.h)
     * to hotc-FAST.log, and the client's times go to stderr */
    snprintf(logpath, sizeof logpath, "%s/hotc-%s.log", dir, fast);
    if (tracing) {
        unlink(logpath);
        opt.args = args;
    }
    c = lspclient_start(&opt);
    if (!c)
        return -1;
    init = config(fast);
    json_object_set_new(init, "rootUri", json_string(root));
    json_decref(lspclient_initialize(c, init, T));
    snprintf(endpoint, sizeof endpoint, "unix:%s/run/hotc/%ld.sock", dir, (long)lspclient_pid(c));
    pid = spawn_program(dir, endpoint);
    p = wait_msg(c, "hotc/status", 1, NULL);
    if (!p) {
        fprintf(stderr, "bench: the program did not attach\n");
        stop_program(pid);
        lspclient_free(c);
        return -1;
    }
    json_decref(p);
    {
        char path[PATH_MAX + 8];
        snprintf(path, sizeof path, "%s/gen.c", dir);
        text = test_slurp(path, NULL);
    }
    lspclient_notify(c, "textDocument/didOpen",
                     json_pack("{s:{s:s, s:s, s:i, s:s}}", "textDocument", "uri", uri, "languageId", "c", "version",
                               version, "text", text));
    prev = text;
    /* one warm-up reload, then the measured ones */
    for (int i = -1; i < runs; i++) {
        const char *v = variant(dir, lines, i + 2);
        double t0, t1;
        json_t *timings;
        if (!v || !(text = test_slurp(v, NULL)))
            break;
        lspclient_notify(c, "textDocument/didChange", incremental_change(uri, ++version, prev, text));
        free(prev);
        prev = text;
        /* the edit is analysed as it is typed: wait for that (its
         * diagnostics) before the save, and time it on its own */
        t0 = now_us();
        p = wait_msg(c, "textDocument/publishDiagnostics", -1, NULL);
        json_decref(p);
        if (i >= 0)
            ch[i] = (now_us() - t0) / 1000;
        t0 = now_us();
        lspclient_notify(c, "textDocument/didSave", json_pack("{s:{s:s}}", "textDocument", "uri", uri));
        p = wait_msg(c, "hotc/reloaded", -1, NULL);
        t1 = now_us();
        if (!p) {
            fprintf(stderr, "bench: no reload\n");
            break;
        }
        if (tracing) {
            char *pt = json_dumps(json_object_get(json_array_get(json_object_get(p, "programs"), 0), "timings"),
                                  JSON_COMPACT);
            fprintf(stderr, "trace client %d %s run %d: didSave=%.3f ms reloaded=+%.1f us program %s\n", lines,
                    fast, i, t0 / 1000, t1 - t0, pt ? pt : "");
            free(pt);
        }
        json_decref(p);
        p = wait_msg(c, "hotc/status", -1, "applied");
        if (!p)
            break;
        timings = json_object_get(json_object_get(p, "last"), "timings");
        if (i >= 0) {
            e2e[i] = (t1 - t0) / 1000;
            an[i] = json_integer_value(json_object_get(timings, "analysisUs")) / 1000.0;
            pa[i] = json_integer_value(json_object_get(timings, "patchUs")) / 1000.0;
            co[i] = json_integer_value(json_object_get(timings, "compileUs")) / 1000.0;
            lo[i] = json_integer_value(json_object_get(timings, "loadUs")) / 1000.0;
            ap[i] = json_integer_value(json_object_get(timings, "applyUs")) / 1000.0;
            to[i] = json_integer_value(json_object_get(timings, "totalUs")) / 1000.0;
            ov[i] = e2e[i] - co[i];
        }
        json_decref(p);
        if (i == runs - 1) {
            out->e2e = median(e2e, runs);
            out->change = median(ch, runs);
            out->analysis = median(an, runs);
            out->patch = median(pa, runs);
            out->compile = median(co, runs);
            out->load = median(lo, runs);
            out->apply = median(ap, runs);
            out->server_total = median(to, runs);
            out->overhead = median(ov, runs);
            stop_program(pid);
            lspclient_shutdown(c, T);
            lspclient_free(c);
            free(prev);
            return 0;
        }
    }
    stop_program(pid);
    lspclient_free(c);
    free(prev);
    return -1;
}

/* Median wall time of a shell command, in ms. */
static double time_cmd(const char *cmd, int runs)
{
    double v[16];
    if (runs > 16)
        runs = 16;
    for (int i = 0; i < runs; i++) {
        double t0 = now_us();
        if (sh(cmd) != 0)
            return -1;
        v[i] = (now_us() - t0) / 1000;
    }
    return median(v, runs);
}

/* Rebuild the executable and start it until it has attached, in ms. */
static double restart(const char *dir, const char *build_cmd, int runs)
{
    char xdg[PATH_MAX + 32], endpoint[PATH_MAX + 64];
    const char *env[] = { xdg, NULL };
    struct lspclient_options opt = { .env = env, .quiet_stderr = 1 };
    struct lspclient *c;
    double v[16];

    snprintf(xdg, sizeof xdg, "XDG_RUNTIME_DIR=%s/run", dir);
    c = lspclient_start(&opt);
    if (!c)
        return -1;
    json_decref(lspclient_initialize(c, NULL, T));
    snprintf(endpoint, sizeof endpoint, "unix:%s/run/hotc/%ld.sock", dir, (long)lspclient_pid(c));
    if (runs > 16)
        runs = 16;
    for (int i = 0; i < runs; i++) {
        double t0 = now_us();
        pid_t pid;
        json_t *p;
        if (sh(build_cmd) != 0)
            break;
        pid = spawn_program(dir, endpoint);
        p = wait_msg(c, "hotc/status", 1, NULL);
        v[i] = (now_us() - t0) / 1000;
        json_decref(p);
        stop_program(pid);
        p = wait_msg(c, "hotc/status", 0, NULL);
        json_decref(p);
        if (i == runs - 1) {
            lspclient_shutdown(c, T);
            lspclient_free(c);
            return median(v, runs);
        }
    }
    lspclient_free(c);
    return -1;
}

int main(int argc, char **argv)
{
    int runs = getenv("BENCH_RUNS") ? atoi(getenv("BENCH_RUNS")) : 11;
    char flags[2 * PATH_MAX];

    if (argc < 4) {
        fprintf(stderr, "usage: bench HOTC_BUILD_DIR WORK_DIR SIZE...\n");
        return 2;
    }
    build_dir = argv[1];
    work = argv[2];
    setenv("HOTC_BUILD_DIR", build_dir, 1);
    signal(SIGPIPE, SIG_IGN);
    snprintf(flags, sizeof flags, "$(PKG_CONFIG_PATH='%s/pkgconfig' pkg-config --cflags --libs hotc)", build_dir);
    printf("| lines | compiler | didSave→applied (client) | analysis | patch | compile | load | apply | "
           "server+runtime overhead | whole file .so | rebuild + restart | didChange (incremental edit) |\n");
    printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int a = 3; a < argc; a++) {
        int lines = atoi(argv[a]);
        char dir[PATH_MAX], cmd[4 * PATH_MAX], build_cmd[4 * PATH_MAX];
        const char *v0;
        double whole_gcc, whole_tcc, rs;

        snprintf(dir, sizeof dir, "%s/n%d", work, lines);
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/run' && chmod 700 '%s/run'", dir, dir, dir);
        if (sh(cmd) != 0 || !(v0 = variant(dir, lines, 0)))
            return 1;
        snprintf(cmd, sizeof cmd, "cp '%s' '%s/gen.c'", v0, dir);
        sh(cmd);
        json_t *db = json_pack("[{s:s, s:s, s:s}]", "directory", dir, "file", "gen.c", "command", "");
        snprintf(cmd, sizeof cmd, "gcc -std=gnu11 -g -O1 -I%s/runtime -c gen.c -o gen.o", HOTC_SOURCE_DIR);
        json_object_set_new(json_array_get(db, 0), "command", json_string(cmd));
        snprintf(cmd, sizeof cmd, "%s/compile_commands.json", dir);
        json_dump_file(db, cmd, 0);
        json_decref(db);
        snprintf(build_cmd, sizeof build_cmd, "cd '%s' && gcc -std=gnu11 -g -O1 -o gen gen.c %s", dir, flags);
        if (sh(build_cmd) != 0)
            return 1;
        snprintf(cmd, sizeof cmd, "cd '%s' && gcc -std=gnu11 -g -O1 -fPIC -shared -I%s/runtime -o whole.so gen.c",
                 dir, HOTC_SOURCE_DIR);
        whole_gcc = time_cmd(cmd, 5);
        snprintf(cmd, sizeof cmd, "cd '%s' && tcc -shared -I%s/runtime -o whole-tcc.so gen.c", dir, HOTC_SOURCE_DIR);
        whole_tcc = access("/usr/bin/tcc", X_OK) == 0 ? time_cmd(cmd, 5) : -1;
        rs = restart(dir, build_cmd, 3);
        for (int k = 0; k < 2; k++) {
            const char *fast = k == 0 ? "off" : "tcc";
            struct row r;
            if (k == 1 && whole_tcc < 0)
                continue;
            if (measure(dir, lines, fast, runs, &r) != 0) {
                fprintf(stderr, "bench: %d lines with %s failed\n", lines, fast);
                return 1;
            }
            printf("| %d | %s | %.1f ms | %.3f | %.3f | %.1f | %.3f | %.3f | **%.2f ms** | %.1f ms | %.1f ms | %.1f ms |\n",
                   lines, k == 0 ? "gcc -O1" : "tcc", r.e2e, r.analysis, r.patch, r.compile, r.load, r.apply,
                   r.overhead, k == 0 ? whole_gcc : whole_tcc, rs, r.change);
            fflush(stdout);
        }
    }
    printf("\nmedians of %d reloads each (after one warm-up); times in ms; overhead = median over the reloads of "
           "(didSave→applied measured by the client minus the compile column: the compiler process, from the "
           "server's spawn to its exit)\n",
           runs);
    return 0;
}
