/* make bench-layout (part of make bench): what the layout check costs.
 *
 *   - a generated 4,000-line header (structs with nested members, unions,
 *     bit-fields, enums, typedefs, macros) included by a .c file whose HOT
 *     function reaches a global through a macro; the program built with
 *     gcc -g -O1, the patch with the server's flags:
 *       - the patch compile with the flags the check needs (-g
 *         -ffunction-sections -Wl,--emit-relocs) against the same compile
 *         without them, side by side, medians;
 *       - compat_check of that patch against the program (the check's own
 *         cost per reload, on the worker), median and p90;
 *   - the first attach: debuginfo_open of a generated executable of about
 *     5 MB (many translation units with -g), median.
 *
 *     layout WORKDIR [RUNS]          a Markdown table on stdout */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "compat.h"
#include "debuginfo.h"
#include "run.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[(int)(p * (n - 1) + 0.5)];
}

static void sh_or_die(const char *cmd)
{
    char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
    static char out[16384];
    if (test_run(argv, out, sizeof out, 900000) != 0) {
        fprintf(stderr, "layout bench: failed: %s\n%s\n", cmd, out);
        exit(1);
    }
}

/* A header of about `lines` lines: `n` groups of an enum, a nested struct
 * with a union and bit-fields, a typedef'd anonymous struct and macros. */
static void write_header(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fprintf(f, "#ifndef BIG_H\n#define BIG_H\n#include <stddef.h>\n#include <stdint.h>\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "enum kind%d { K%d_NONE, K%d_ONE, K%d_TWO = 7, K%d_LAST };\n", i, i, i, i, i);
        fprintf(f, "struct inner%d {\n    int a;\n    unsigned flag : 3, mode : 5;\n    union {\n"
                   "        long l;\n        double d;\n    };\n    char tag[12];\n};\n",
                i);
        fprintf(f, "typedef struct {\n    struct inner%d in;\n    enum kind%d kind;\n    void *owner;\n"
                   "    uint16_t port;\n    int items[8];\n} rec%d_t;\n",
                i, i, i);
        fprintf(f, "struct node%d {\n    rec%d_t rec;\n    struct node%d *next, *prev;\n    size_t size;\n};\n", i,
                i, i);
        fprintf(f, "#define REC%d_KIND(r) ((r)->kind)\n#define NODE%d_NEXT(n) ((n)->next)\n", i, i);
        fprintf(f, "int fn%d(struct node%d *n, rec%d_t *r);\n", i, i, i);
    }
    fprintf(f, "struct world {\n");
    for (int i = 0; i < n; i += 10)
        fprintf(f, "    struct node%d n%d;\n", i, i);
    fprintf(f, "    long ticks;\n};\nextern struct world world;\n#define W(field) (world.field)\n#endif\n");
    fclose(f);
}

static void write_sources(const char *dir, int n)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/app.c", dir);
    f = fopen(path, "w");
    fprintf(f, "#include \"big.h\"\nstruct world world;\nstatic long frames;\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "int fn%d(struct node%d *n, rec%d_t *r) { return (int)n->size + r->items[1] + REC%d_KIND(r); }\n",
                i, i, i, i);
    fprintf(f, "long step(long x) { frames++; return W(ticks) + x + W(n0).rec.in.mode + frames; }\n"
               "int main(void) { return (int)step(1); }\n");
    fclose(f);
    snprintf(path, sizeof path, "%s/patch.c", dir);
    f = fopen(path, "w");
    fprintf(f, "#line 1 \"app.c\"\n#include \"big.h\"\n"
               "extern long frames __asm__(\"__hotc_s_0\") __attribute((weak));\n"
               "long step(long x) __asm__(\"__hotc_f_step\") __attribute((visibility(\"default\")));\n"
               "long step(long x) { frames++; return W(ticks) * 2 + x + W(n0).rec.in.mode + frames + "
               "REC0_KIND(&W(n0).rec); }\n");
    fclose(f);
}

int main(int argc, char **argv)
{
    char dir[2048], cmd[16384], err[512], path[4096];
    int runs = argc > 2 ? atoi(argv[2]) : 11, groups = 160;
    double *with = calloc((size_t)runs, sizeof *with), *without = calloc((size_t)runs, sizeof *without);
    double *check = calloc((size_t)runs * 5, sizeof *check), *open_big = calloc((size_t)runs, sizeof *open_big);
    struct debuginfo *exe;
    struct compat_function fn = { "step", "__hotc_f_step", false };
    struct compat_static st = { "__hotc_s_0", "frames", NULL };
    struct compat_request req = { NULL, &fn, 1, &st, 1 };
    struct stat sb;

    if (argc < 2 || runs < 1) {
        fprintf(stderr, "usage: layout WORKDIR [RUNS]\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s/layout-work", argv[1]);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    sh_or_die(cmd);
    snprintf(path, sizeof path, "%s/big.h", dir);
    write_header(path, groups);
    write_sources(dir, groups);
    snprintf(cmd, sizeof cmd, "cd '%s' && wc -l < big.h > big.lines && gcc -std=c11 -g -O1 -o app app.c", dir);
    sh_or_die(cmd);

    for (int i = 0; i < runs; i++) {
        double t0 = now_ms();
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && gcc -std=c11 -O1 -g -fPIC -shared -ffunction-sections -Wl,--emit-relocs "
                 "-o patch.so patch.c",
                 dir);
        sh_or_die(cmd);
        with[i] = now_ms() - t0;
        t0 = now_ms();
        snprintf(cmd, sizeof cmd, "cd '%s' && gcc -std=c11 -O1 -fPIC -shared -o plain.so patch.c", dir);
        sh_or_die(cmd);
        without[i] = now_ms() - t0;
    }
    snprintf(path, sizeof path, "%s/app", dir);
    if (debuginfo_open(path, &exe, err, sizeof err) != 0) {
        fprintf(stderr, "layout bench: %s\n", err);
        return 1;
    }
    snprintf(path, sizeof path, "%s/app.c", dir);
    req.source = path;
    char patch[4096];
    snprintf(patch, sizeof patch, "%s/patch.so", dir);
    size_t compared = 0, issues = 0;
    for (int i = 0; i < runs * 5; i++) {
        struct compat_report r;
        double t0 = now_ms();
        if (compat_check(exe, patch, &req, &r, err, sizeof err) != 0) {
            fprintf(stderr, "layout bench: %s\n", err);
            return 1;
        }
        check[i] = now_ms() - t0;
        compared = r.compared;
        issues = r.count;
        compat_report_release(&r);
    }
    debuginfo_free(exe);

    /* the first attach: a program of many units, about 5 MB with -g */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && mkdir -p many && for i in $(seq 1 72); do "
             "sed \"s/^int fn\\([0-9]*\\)(/int u${i}_fn\\1(/; s/^struct world world;//; "
             "s/^int main(void).*//; s/^long step(long x)/long step$i(long x)/\" app.c > many/u$i.c; done && "
             "printf '#include \"big.h\"\\nstruct world world;\\nint main(void){return 0;}\\n' > many/main.c && "
             "gcc -std=c11 -g -O1 -I. -o many/prog many/*.c",
             dir);
    sh_or_die(cmd);
    snprintf(path, sizeof path, "%s/many/prog", dir);
    stat(path, &sb);
    size_t units = 0, entries = 0;
    for (int i = 0; i < runs; i++) {
        struct debuginfo *big;
        double t0 = now_ms();
        if (debuginfo_open(path, &big, err, sizeof err) != 0) {
            fprintf(stderr, "layout bench: %s\n", err);
            return 1;
        }
        open_big[i] = now_ms() - t0;
        units = debuginfo_cu_count(big);
        entries = debuginfo_entry_count(big);
        debuginfo_free(big);
    }

    snprintf(path, sizeof path, "%s/big.lines", dir);
    char *lines = test_slurp(path, NULL);
    double mw = pct(with, runs, 0.5), mo = pct(without, runs, 0.5);
    printf("## Layout check (bench/layout.c, %d runs)\n\n", runs);
    printf("| what | median | p90 | note |\n|---|---|---|---|\n");
    printf("| patch compile, flags the check needs (-g -ffunction-sections --emit-relocs) | %.1f ms | %.1f ms | "
           "header of %ld lines |\n",
           mw, pct(with, runs, 0.9), lines ? atol(lines) : 0L);
    printf("| patch compile without them | %.1f ms | %.1f ms | ratio %.2f× |\n", mo, pct(without, runs, 0.9),
           mo > 0 ? mw / mo : 0);
    printf("| compat_check per reload (worker) | %.2f ms | %.2f ms | %zu compared, %zu issues |\n",
           pct(check, runs * 5, 0.5), pct(check, runs * 5, 0.9), compared, issues);
    printf("| first attach: debuginfo_open | %.1f ms | %.1f ms | %.1f MB executable, %zu units, %zu entries |\n",
           pct(open_big, runs, 0.5), pct(open_big, runs, 0.9), sb.st_size / 1e6, units, entries);
    free(lines);
    free(with);
    free(without);
    free(check);
    free(open_big);
    return 0;
}
