/* make bench: the time from didSave to the runtime's "applied", for
 * generated files of several sizes with one HOT function changed, split as
 * the server reports it (analysis, patch, compile, load, apply); compared
 * with compiling the whole file into a shared library and with rebuilding
 * and restarting the program. SIZE "real" is the real-looking case
 * (bench/gen_real.py: a 4,100-line header of macros and types included by
 * a 1,500-line .c). Each row also gives the patch compile over the compile
 * of an empty file with the same flags, measured in the same run.
 *
 * Then the server's memory: its RSS over BENCH_RELOADS reloads (default
 * 1,000) of a 300 KB file, and with 100 open files of 20 KB.
 *
 * Then keystrokes: the server's loop time per didChange in files of 200,
 * 2,000 and 20,000 lines (BENCH_KEYS keystrokes, default 41).
 *
 *     bench HOTC_BUILD_DIR WORK_DIR SIZE...      (BENCH_RUNS=N, default 11)
 *     bench HOTC_BUILD_DIR WORK_DIR keys         the keystroke table alone
 *     bench HOTC_BUILD_DIR WORK_DIR memory       the memory tables alone
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

/* tcc writes no DWARF, so its rows run with the layout check off (the
 * server uses tcc only then); gcc rows keep it on, as users do. */
static json_t *config(const char *fast)
{
    return json_pack("{s:i, s:s, s:{}, s:{s:{s:s, s:s}}}", "processId", (int)getpid(), "rootUri", "",
                     "capabilities", "initializationOptions", "hotc", "fastCompiler", fast, "layoutCheck",
                     strcmp(fast, "tcc") == 0 ? "off" : "on");
}

/* lines == 0: the real-looking case */
static const char *variant(const char *dir, int lines, int k)
{
    static char path[PATH_MAX + 32];
    char cmd[3 * PATH_MAX];
    snprintf(path, sizeof path, "%s/v%d.c", dir, k);
    if (lines == 0)
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/bench/gen_real.py' '%s' --c-out '%s' --variant %d",
                 HOTC_SOURCE_DIR, dir, path, k);
    else
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/bench/gen.py' %d '%s' --variant %d", HOTC_SOURCE_DIR,
                 lines, path, k);
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

/* Median wall time of compiling an empty file into a shared library with
 * the flags the server gives the patch (gcc -std=gnu11 -g -O1, the
 * include directories, -fPIC -shared), spawned directly as the server
 * does, in ms. */
static double empty_compile(const char *dir, const char *cc, int runs)
{
    char src[PATH_MAX + 16], so[PATH_MAX + 16], inc[PATH_MAX], out[4096];
    double v[64];
    FILE *f;

    snprintf(src, sizeof src, "%s/empty.c", dir);
    snprintf(so, sizeof so, "%s/empty.so", dir);
    snprintf(inc, sizeof inc, "%s/runtime", HOTC_SOURCE_DIR);
    if (!(f = fopen(src, "w")))
        return -1;
    fputs("int hotc_bench_empty;\n", f);
    fclose(f);
    char *gcc[] = { "gcc", "-std=gnu11", "-g", "-O1", "-I", inc, "-iquote", (char *)dir,
                    "-fdiagnostics-color=never", "-fdiagnostics-column-unit=byte", "-fPIC", "-shared", "-o", so,
                    src, NULL };
    char *tcc[] = { "tcc", "-I", inc, "-I", (char *)dir, "-fPIC", "-shared", "-o", so, src, NULL };
    if (runs > 64)
        runs = 64;
    for (int i = 0; i < runs; i++) {
        double t0 = now_us();
        if (test_run(strcmp(cc, "tcc") == 0 ? tcc : gcc, out, sizeof out, 60000) != 0)
            return -1;
        v[i] = (now_us() - t0) / 1000;
    }
    return median(v, runs);
}

/* The resident set of process `pid`, in kB (VmRSS), or -1. */
static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    fclose(f);
    return kb;
}

/* `text` with the constant in update()'s `dt + K;` set to `k`. New string. */
static char *with_constant(const char *text, int k)
{
    const char *at = strstr(text, "p->vy * dt + ");
    const char *semi = at ? strchr(at, ';') : NULL;
    size_t head = at ? (size_t)(at - text) + strlen("p->vy * dt + ") : 0;
    char *out;

    if (!semi)
        return NULL;
    out = malloc(strlen(text) + 32);
    if (out)
        sprintf(out, "%.*s%d%s", (int)head, text, k, semi);
    return out;
}

/* The server's RSS over `reloads` reloads of a 300 KB file (tcc when
 * installed, the reload itself is not what is measured here), and with
 * 100 open files of 20 KB. Prints a table. 0, or -1 when it failed. */
static int memory(int runs)
{
    int reloads = getenv("BENCH_RELOADS") ? atoi(getenv("BENCH_RELOADS")) : 1000;
    char dir[PATH_MAX], cmd[8 * PATH_MAX], build_cmd[4 * PATH_MAX], uri[PATH_MAX + 16], root[PATH_MAX + 8];
    char xdg[PATH_MAX + 32], endpoint[PATH_MAX + 64], path[PATH_MAX + 16];
    const char *env[] = { xdg, NULL };
    struct lspclient_options opt = { .env = env, .quiet_stderr = 1 };
    /* BENCH_MEMORY_COMPILER=gcc: the default settings (gcc, the layout
     * check on) instead of tcc */
    const char *compiler = getenv("BENCH_MEMORY_COMPILER");
    const char *fast = compiler && strcmp(compiler, "gcc") == 0 ? "off"
                       : access("/usr/bin/tcc", X_OK) == 0 ? "tcc" : "off";
    int trace_memory = getenv("BENCH_TRACE_MEMORY") != NULL; /* the RSS every 50 reloads, on stderr */
    long rss[4] = { 0 };
    int version = 1, done = 0;
    struct lspclient *c;
    json_t *init, *p;
    char *text, *prev;
    pid_t pid;

    (void)runs;
    snprintf(dir, sizeof dir, "%s/memory", work);
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && mkdir -p '%s/run' && chmod 700 '%s/run' && /usr/bin/python3 '%s/bench/gen.py' 16500 "
             "'%s/gen.c' --loops 6000000 && /usr/bin/python3 '%s/bench/gen.py' 1130 '%s/small.c'",
             dir, dir, dir, HOTC_SOURCE_DIR, dir, HOTC_SOURCE_DIR, dir);
    if (sh(cmd) != 0)
        return -1;
    snprintf(build_cmd, sizeof build_cmd,
             "cd '%s' && gcc -std=gnu11 -g -O1 -o gen gen.c $(PKG_CONFIG_PATH='%s/pkgconfig' pkg-config --cflags "
             "--libs hotc)",
             dir, build_dir);
    if (sh(build_cmd) != 0)
        return -1;
    {
        json_t *db = json_pack("[{s:s, s:s, s:s}]", "directory", dir, "file", "gen.c", "command", "");
        snprintf(cmd, sizeof cmd, "gcc -std=gnu11 -g -O1 -I%s/runtime -c gen.c -o gen.o", HOTC_SOURCE_DIR);
        json_object_set_new(json_array_get(db, 0), "command", json_string(cmd));
        snprintf(cmd, sizeof cmd, "%s/compile_commands.json", dir);
        json_dump_file(db, cmd, 0);
        json_decref(db);
    }
    snprintf(xdg, sizeof xdg, "XDG_RUNTIME_DIR=%s/run", dir);
    snprintf(root, sizeof root, "file://%s", dir);
    snprintf(uri, sizeof uri, "file://%s/gen.c", dir);
    if (getenv("HOTC_TRACE_TIMINGS")) {
        static const char *args[3];
        static char logpath[PATH_MAX + 32];
        snprintf(logpath, sizeof logpath, "%s/hotc.log", dir);
        args[0] = "--log";
        args[1] = logpath;
        opt.args = args;
    }
    opt.hotc = getenv("BENCH_HOTC"); /* e.g. a wrapper running it under valgrind --tool=massif */
    if (!(c = lspclient_start(&opt)))
        return -1;
    opt.hotc = NULL;
    init = config(fast);
    json_object_set_new(init, "rootUri", json_string(root));
    json_decref(lspclient_initialize(c, init, T));
    snprintf(endpoint, sizeof endpoint, "unix:%s/run/hotc/%ld.sock", dir, (long)lspclient_pid(c));
    pid = spawn_program(dir, endpoint);
    json_decref(wait_msg(c, "hotc/status", 1, NULL));
    snprintf(path, sizeof path, "%s/gen.c", dir);
    text = test_slurp(path, NULL);
    lspclient_notify(c, "textDocument/didOpen", json_pack("{s:{s:s, s:s, s:i, s:s}}", "textDocument", "uri", uri,
                                                          "languageId", "c", "version", version, "text", text));
    prev = text;
    for (int i = 1; i <= reloads; i++) {
        if (!(text = with_constant(prev, i)))
            break;
        lspclient_notify(c, "textDocument/didChange", incremental_change(uri, ++version, prev, text));
        free(prev);
        prev = text;
        lspclient_notify(c, "textDocument/didSave", json_pack("{s:{s:s}}", "textDocument", "uri", uri));
        for (;;) {
            p = wait_msg(c, "hotc/status", -1, NULL);
            if (!p || (json_object_get(p, "last") && json_is_false(json_object_get(p, "compiling"))))
                break;
            json_decref(p);
        }
        const char *result = json_string_value(json_object_get(json_object_get(p, "last"), "result"));
        if (!result || strcmp(result, "applied") != 0) {
            fprintf(stderr, "bench: reload %d of the memory run: %s\n", i, result ? result : "no answer");
            json_decref(p);
            break;
        }
        json_decref(p);
        done = i;
        /* the RSS once the save's background work (the baseline's scan, the
         * heap's trim) is over: the server at rest between saves */
        if (i == 1 || i == 10 || i == 100 || i == reloads)
            usleep(1500 * 1000);
        if (i == 1)
            rss[3] = rss_kb(lspclient_pid(c));
        if (i == 10)
            rss[0] = rss_kb(lspclient_pid(c));
        if (i == 100)
            rss[1] = rss_kb(lspclient_pid(c));
        if (trace_memory && (i % 50 == 0 || i <= 10))
            fprintf(stderr, "bench: memory: reload %d: RSS %.1f MB\n", i, rss_kb(lspclient_pid(c)) / 1024.0);
    }
    rss[2] = rss_kb(lspclient_pid(c));
    free(prev);
    stop_program(pid);
    lspclient_shutdown(c, T);
    lspclient_free(c);
    printf("\n| server memory | RSS | growth from reload 1 | growth from reload 10 |\n|---|---:|---:|---:|\n");
    printf("| after 1 reload of a %zu KB file (%s) | %.1f MB | | |\n", (size_t)300,
           strcmp(fast, "tcc") == 0 ? "tcc" : "gcc, layout check on", rss[3] / 1024.0);
    printf("| after 10 | %.1f MB | %+.1f MB | |\n", rss[0] / 1024.0, (rss[0] - rss[3]) / 1024.0);
    printf("| after 100 | %.1f MB | %+.1f MB | %+.1f MB |\n", rss[1] / 1024.0, (rss[1] - rss[3]) / 1024.0,
           (rss[1] - rss[0]) / 1024.0);
    printf("| after %d | %.1f MB | **%+.1f MB** | **%+.1f MB** |\n", done, rss[2] / 1024.0,
           (rss[2] - rss[3]) / 1024.0, (rss[2] - rss[0]) / 1024.0);
    fflush(stdout);
    if (done < reloads)
        return -1;

    /* 100 open files of 20 KB */
    opt.hotc = getenv("BENCH_HOTC");
    if (!(c = lspclient_start(&opt)))
        return -1;
    json_decref(lspclient_initialize(c, config("off"), T));
    rss[0] = rss_kb(lspclient_pid(c));
    snprintf(path, sizeof path, "%s/small.c", dir);
    text = test_slurp(path, NULL);
    for (int i = 0; i < 100; i++) {
        char *t = malloc(strlen(text) + 64);
        sprintf(t, "/* copy %d */\n%s", i, text);
        snprintf(uri, sizeof uri, "file://%s/f%d.c", dir, i);
        lspclient_notify(c, "textDocument/didOpen", json_pack("{s:{s:s, s:s, s:i, s:s}}", "textDocument", "uri",
                                                              uri, "languageId", "c", "version", 1, "text", t));
        free(t);
        json_decref(wait_msg(c, "textDocument/publishDiagnostics", -1, NULL));
    }
    usleep(1500 * 1000); /* at rest */
    rss[1] = rss_kb(lspclient_pid(c));
    printf("| empty server | %.1f MB | |\n", rss[0] / 1024.0);
    printf("| 100 open files of %zu KB | %.1f MB | **%+.1f MB** |\n", strlen(text) / 1024, rss[1] / 1024.0,
           (rss[1] - rss[0]) / 1024.0);
    free(text);
    lspclient_shutdown(c, T);
    lspclient_free(c);
    return 0;
}

/* The server's log at `path`, read from `*at` on: copies the first new
 * line containing `needle` to `out` and returns 1, or returns 0 when there
 * is none yet (*at is then left before any incomplete line). */
static int log_line(const char *path, long *at, const char *needle, char *out, size_t size)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int found = 0;

    if (!f)
        return 0;
    fseek(f, *at, SEEK_SET);
    while (!found && fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n'))
            break; /* still being written */
        *at = ftell(f);
        if (strstr(line, needle)) {
            snprintf(out, size, "%s", line);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* The number after `key` in `line`, or 0. */
static double number_after(const char *line, const char *key)
{
    const char *k = strstr(line, key);

    return k ? atof(k + strlen(key)) : 0;
}

/* Waits (up to T ms from `t0`) for a line of the log with `needle`. */
static int wait_line(const char *path, long *at, const char *needle, char *out, size_t size, double t0)
{
    while (!log_line(path, at, needle, out, size))
        if (now_us() - t0 > T * 1e3)
            return 0;
        else
            usleep(100);
    return 1;
}

/* Keystrokes: one character typed in the body of a function in the middle
 * of a generated file of `lines` lines, then deleted, `keys` times, each
 * sent as its own didChange once the previous one is analysed. The server
 * (HOTC_TRACE_TIMINGS) logs how long its loop spent on each, wall and CPU
 * time of the loop's thread: the didChange handler, and for a large file
 * the worker's analysis installed and published once it is back. Prints
 * one row: medians and the 90th percentile of the loop's time per
 * keystroke, and the median from sending the change to its analysis being
 * published (what the client waits; the loop is free meanwhile). */
static int keystrokes(int lines, int keys, int on_loop, double *loop_p50)
{
    char dir[PATH_MAX], cmd[4 * PATH_MAX], path[PATH_MAX + 16], uri[PATH_MAX + 16], logpath[PATH_MAX + 32];
    const char *env[] = { "HOTC_TRACE_TIMINGS=1", on_loop ? "HOTC_BACKGROUND_BYTES=1000000000000" : NULL, NULL };
    const char *args[] = { "--log", logpath, NULL };
    struct lspclient_options opt = { .env = env, .args = args, .quiet_stderr = 1 };
    double *loop = calloc((size_t)keys, sizeof *loop), *cpu = calloc((size_t)keys, sizeof *cpu),
           *wait = calloc((size_t)keys, sizeof *wait), *sorted = calloc((size_t)keys, sizeof *sorted);
    struct lspclient *c;
    char *text;
    const char *mid;
    long at = 0;
    int line, character, ok = 0, background = 0;

    snprintf(dir, sizeof dir, "%s/keys%d", work, lines);
    snprintf(path, sizeof path, "%s/gen.c", dir);
    snprintf(logpath, sizeof logpath, "%s/hotc.log", dir);
    snprintf(uri, sizeof uri, "file://%s", path);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && /usr/bin/python3 '%s/bench/gen.py' %d '%s'", dir,
             dir, HOTC_SOURCE_DIR, lines, path);
    if (!loop || !cpu || !wait || !sorted || sh(cmd) != 0 || !(text = test_slurp(path, NULL)))
        return -1;
    /* the start of the line `return acc % 1000;` of a function in the middle */
    mid = strstr(text + strlen(text) / 2, "return acc % 1000;");
    if (!mid || !(c = lspclient_start(&opt))) {
        free(text);
        return -1;
    }
    position(text, (size_t)(mid - text), &line, &character);
    json_decref(lspclient_initialize(c, NULL, T));
    lspclient_notify(c, "textDocument/didOpen", json_pack("{s:{s:s, s:s, s:i, s:s}}", "textDocument", "uri", uri,
                                                          "languageId", "c", "version", 1, "text", text));
    json_decref(wait_msg(c, "textDocument/publishDiagnostics", -1, NULL));
    for (int k = 0; k < keys; k++) {
        char needle[64], l[4096];
        double t0 = now_us();
        int typed = k % 2 == 0;

        lspclient_notify(c, "textDocument/didChange",
                         json_pack("{s:{s:s, s:i}, s:[{s:{s:{s:i, s:i}, s:{s:i, s:i}}, s:s}]}", "textDocument", "uri",
                                   uri, "version", k + 2, "contentChanges", "range", "start", "line", line,
                                   "character", character, "end", "line", line, "character",
                                   character + (typed ? 0 : 1), "text", typed ? "x" : ""));
        snprintf(needle, sizeof needle, "version %d handled", k + 2);
        if (!wait_line(logpath, &at, needle, l, sizeof l, t0))
            goto out;
        loop[k] = number_after(l, "loop time ");
        cpu[k] = number_after(l, "(cpu ");
        if (strstr(l, "on a worker")) {
            background = 1;
            snprintf(needle, sizeof needle, "version %d ready", k + 2);
            if (!wait_line(logpath, &at, needle, l, sizeof l, t0))
                goto out;
            loop[k] += number_after(l, "loop time ");
            cpu[k] += number_after(l, "(cpu ");
        }
        wait[k] = (now_us() - t0) / 1000;
    }
    ok = 1;
    memcpy(sorted, loop, (size_t)keys * sizeof *sorted);
    qsort(sorted, (size_t)keys, sizeof *sorted, cmp_double);
    *loop_p50 = median(loop, keys);
    printf("| %d | %s | **%.2f ms** | %.2f ms | %.2f ms | %.1f ms |", lines,
           background ? "a worker" : on_loop ? "the loop (forced)" : "the loop", *loop_p50,
           sorted[keys * 9 / 10], median(cpu, keys), median(wait, keys));
out:
    if (!ok)
        fprintf(stderr, "bench: keystrokes at %d lines: no answer in the server's log %s\n", lines, logpath);
    lspclient_shutdown(c, T);
    lspclient_free(c);
    free(text);
    free(loop);
    free(cpu);
    free(wait);
    free(sorted);
    return ok ? 0 : -1;
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

/* The keystroke table: 200, 2,000 and 20,000 lines. */
static int keystroke_table(void)
{
    int keys = getenv("BENCH_KEYS") ? atoi(getenv("BENCH_KEYS")) : 41;
    static const int sizes[] = { 200, 2000, 20000 };

    if (keys < 1)
        keys = 1;
    printf("\n| lines | analysis of a keystroke on | **loop per keystroke** (p50) | loop p90 | loop CPU (p50) | "
           "change → analysis published (p50) | loop: before / now |\n|---:|---|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        double before, now;

        /* as before this round (every analysis on the loop), then as now */
        if (keystrokes(sizes[i], keys, 1, &before) != 0)
            return -1;
        printf(" |\n");
        if (keystrokes(sizes[i], keys, 0, &now) != 0)
            return -1;
        printf(" **%.1f×** |\n", before / now);
        fflush(stdout);
    }
    printf("\n%d keystrokes each (one character typed in a function body, then deleted), each size first with "
           "every analysis on the loop (HOTC_BACKGROUND_BYTES set huge), then as shipped; "
           "loop = the didChange handler plus, with a worker, the installation and publication of its analysis (the server's own "
           "timing, HOTC_TRACE_TIMINGS): wall time and the loop thread's CPU time\n", keys);
    return 0;
}

int main(int argc, char **argv)
{
    int runs = getenv("BENCH_RUNS") ? atoi(getenv("BENCH_RUNS")) : 11;
    char flags[2 * PATH_MAX];

    if (argc == 4 && strcmp(argv[3], "keys") == 0) {
        build_dir = argv[1];
        work = argv[2];
        setenv("HOTC_BUILD_DIR", build_dir, 1);
        signal(SIGPIPE, SIG_IGN);
        return keystroke_table() == 0 ? 0 : 1;
    }
    if (argc == 4 && strcmp(argv[3], "memory") == 0) {
        build_dir = argv[1];
        work = argv[2];
        setenv("HOTC_BUILD_DIR", build_dir, 1);
        signal(SIGPIPE, SIG_IGN);
        return memory(runs) == 0 ? 0 : 1;
    }

    if (argc < 4) {
        fprintf(stderr, "usage: bench HOTC_BUILD_DIR WORK_DIR SIZE...\n");
        return 2;
    }
    build_dir = argv[1];
    work = argv[2];
    setenv("HOTC_BUILD_DIR", build_dir, 1);
    signal(SIGPIPE, SIG_IGN);
    snprintf(flags, sizeof flags, "$(PKG_CONFIG_PATH='%s/pkgconfig' pkg-config --cflags --libs hotc)", build_dir);
    printf("| lines | compiler | didSave→applied (client) | analysis | patch | compile | empty file | compile / empty | load | apply | "
           "server+runtime overhead | whole file .so | rebuild + restart | didChange (incremental edit) |\n");
    printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int a = 3; a < argc; a++) {
        int lines = strcmp(argv[a], "real") == 0 ? 0 : atoi(argv[a]);
        char dir[PATH_MAX], cmd[4 * PATH_MAX], build_cmd[4 * PATH_MAX];
        const char *v0;
        double whole_gcc, whole_tcc, rs;

        snprintf(dir, sizeof dir, "%s/n%s", work, argv[a]);
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/run' && chmod 700 '%s/run'", dir, dir, dir);
        if (sh(cmd) != 0)
            return 1;
        if (lines == 0) {
            snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/bench/gen_real.py' '%s'", HOTC_SOURCE_DIR, dir);
            if (sh(cmd) != 0)
                return 1;
        }
        if (!(v0 = variant(dir, lines, 0)))
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
                fprintf(stderr, "bench: %s lines with %s failed\n", argv[a], fast);
                return 1;
            }
            double empty = empty_compile(dir, k == 0 ? "gcc" : "tcc", runs);
            printf("| %s | %s | %.1f ms | %.3f | %.3f | %.1f | %.1f | **%.2f×** | %.3f | %.3f | **%.2f ms** | %.1f ms | "
                   "%.1f ms | %.1f ms |\n",
                   lines ? argv[a] : "real (4,100-line header, 1,500-line .c)", k == 0 ? "gcc -O1" : "tcc", r.e2e,
                   r.analysis, r.patch, r.compile, empty, r.compile / empty, r.load, r.apply, r.overhead,
                   k == 0 ? whole_gcc : whole_tcc, rs, r.change);
            fflush(stdout);
        }
    }
    printf("\nmedians of %d reloads each (after one warm-up); times in ms; overhead = median over the reloads of "
           "(didSave→applied measured by the client minus the compile column: the compiler process, from the "
           "server's spawn to its exit)\n",
           runs);
    if (keystroke_table() != 0)
        return 1;
    return memory(runs) == 0 ? 0 : 1;
}
