/* make bench-micro: the server's own work on one file, without the editor,
 * the compiler or a program: median times of
 *   - analysis_run on an up-to-date tree (what a didChange or a rebase costs
 *     besides the parse),
 *   - a one-character edit in the body of the last HOT function, applied
 *     with docstore_edit and docstore_update (incremental reparse and
 *     analysis and patch index: what the server does for a keystroke),
 *   - patch_index_new (what the docstore adds to each change so that a save
 *     finds the file indexed), and patch_build for the file's HOT functions,
 *     with the tree, without and with that index,
 *   - analysis_diff_hot between the file and the edited one (what a save
 *     computes first: the reload diff).
 *
 *     micro [-n RUNS] FILE...          a Markdown table, times in ms
 *     micro --dump FILE...             the full analysis and patch, as text
 *     micro --check FILE...            whether the docstore's analysis after
 *                                      edits (analysis_run_cached) is
 *                                      analysis_run's, at many places
 *
 * --dump prints every field the analysis computes and the generated patch
 * source with its tables, so that two builds can be compared byte for byte
 * on any corpus of C files (docs/performance.md, "How to reproduce"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis.h"
#include "docstore.h"
#include "grammar.h"
#include "patch.h"
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

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* where dump_analysis writes (stdout, or a buffer for --check) */
static FILE *dump_out;

static void dump_range(const char *what, struct text_range r)
{
    fprintf(dump_out, " %s %u:%u-%u:%u", what, r.start.row, r.start.column, r.end.row, r.end.column);
}

static void dump_analysis(const struct analysis *a)
{
    for (size_t i = 0; i < a->n_functions; i++) {
        const struct analysis_function *f = &a->functions[i];

        fprintf(dump_out, "function %s hot %d static %d variadic %d bytes %u-%u name@%u", f->name, f->hot, f->is_static,
               f->variadic, f->start_byte, f->end_byte, f->name_byte);
        dump_range("range", f->range);
        dump_range("name", f->name_range);
        fprintf(dump_out, " ret `%s` hash %016llx params", f->ret, (unsigned long long)f->body_hash);
        for (size_t k = 0; k < f->n_params; k++)
            fprintf(dump_out, " `%s`", f->params[k]);
        fprintf(dump_out, " types");
        for (size_t k = 0; k < f->n_types; k++)
            fprintf(dump_out, " `%s`", f->types[k]);
        fprintf(dump_out, "\n");
    }
    for (size_t i = 0; i < a->n_types; i++) {
        const struct analysis_type *t = &a->types[i];

        fprintf(dump_out, "type %s kind %s target `%s` base `%s` indirect %d size %ld align %ld", t->name, t->kind,
               t->target ? t->target : "-", t->base ? t->base : "-", t->indirect, t->size, t->align);
        dump_range("range", t->range);
        fprintf(dump_out, "\n");
        for (size_t k = 0; k < t->n_fields; k++) {
            const struct analysis_field *fd = &t->fields[k];
            fprintf(dump_out, "  field %s `%s` base `%s` indirect %d offset %ld size %ld bit %d width %d\n", fd->name, fd->type,
                   fd->base ? fd->base : "-", fd->indirect, fd->offset, fd->size, fd->bit, fd->width);
        }
    }
    for (size_t i = 0; i < a->n_problems; i++) {
        fprintf(dump_out, "problem");
        dump_range("at", a->problems[i].range);
        fprintf(dump_out, " %s\n", a->problems[i].message);
    }
}

/* The names of the HOT functions of `a` (borrowed), at most `max`. */
static size_t hot_names(const struct analysis *a, const char **out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < a->n_functions && n < max; i++)
        if (a->functions[i].hot)
            out[n++] = a->functions[i].name;
    return n;
}

static void dump_diff(const struct analysis *old, const struct analysis *new_)
{
    struct analysis_diff *d = analysis_diff(old, new_);

    for (size_t i = 0; d && i < d->n_changes; i++)
        printf("change %s hot %d kind %d: %s\n", d->changes[i].name, d->changes[i].hot, (int)d->changes[i].kind,
               d->changes[i].message);
    for (size_t i = 0; d && i < d->n_types; i++)
        printf("type change %s: %s\n", d->types[i].name, d->types[i].message);
    analysis_diff_free(d);
}

/* Dumps the analysis and the patch of `path`, and the diff from the
 * previous file's analysis (kept in *prev, which this replaces). */
static int dump(const char *path, struct analysis **prev)
{
    size_t len;
    char *text = test_slurp(path, &len);
    TSParser *parser = ts_parser_new();
    TSTree *tree;
    struct analysis *a;
    const char *names[64];
    struct patch p;
    struct patch_input in;
    struct patch_index *index;
    int rc;

    if (!text) {
        fprintf(stderr, "micro: cannot read %s\n", path);
        return 1;
    }
    ts_parser_set_language(parser, grammar_language());
    tree = ts_parser_parse_string(parser, NULL, text, (uint32_t)len);
    a = analysis_run(text, len, tree, "HOT");
    printf("== %s\n", path);
    dump_analysis(a);
    if (*prev)
        dump_diff(*prev, a);
    memset(&in, 0, sizeof in);
    in.text = text;
    in.length = len;
    in.path = path;
    in.functions = names;
    in.build_id = "abc";
    in.tree = tree;
    index = patch_index_new(text, len, tree); /* as the docstore keeps it */
    /* the HOT functions; then, to exercise the patch builder on more than
     * the marked functions, the first, a middle and the last function alone,
     * and the first 64 together */
    for (int round = 0; round < 5; round++) {
        size_t nf = a->n_functions, pick = round == 1 ? 0 : round == 2 ? nf / 2 : nf - 1;

        if (round == 0) {
            in.function_count = hot_names(a, names, 64);
        } else if (round == 4) {
            in.function_count = 0;
            for (size_t i = 0; i < nf && in.function_count < 64; i++)
                names[in.function_count++] = a->functions[i].name;
        } else {
            if (nf == 0)
                continue;
            names[0] = a->functions[pick].name;
            in.function_count = 1;
        }
        patch_init(&p);
        rc = patch_build_indexed(&p, &in, index);
        printf("-- patch %d %s\n", rc, rc ? p.error : "");
        if (rc == 0) {
            fwrite(p.source, 1, p.length, stdout);
            for (size_t i = 0; i < p.function_count; i++)
                printf("-- function %s %s %d\n", p.functions[i].name, p.functions[i].symbol,
                       p.functions[i].is_static);
            for (size_t i = 0; i < p.static_count; i++)
                printf("-- static %s %s %s\n", p.statics[i].symbol, p.statics[i].name,
                       p.statics[i].function ? p.statics[i].function : "-");
        }
        patch_release(&p);
    }
    patch_index_free(index);
    analysis_free(*prev);
    *prev = a;
    ts_tree_delete(tree);
    ts_parser_delete(parser);
    free(text);
    return 0;
}

/* dump_analysis of `a`, as a new string. */
static char *dump_string(const struct analysis *a)
{
    char *s = NULL;
    size_t n = 0;

    dump_out = open_memstream(&s, &n);
    if (!dump_out)
        return NULL;
    dump_analysis(a);
    fclose(dump_out);
    dump_out = stdout;
    return s;
}

/* Whether the document's analysis is analysis_run's on its text and tree. */
static int same_as_full(const char *path, const char *what, struct document *doc)
{
    struct analysis *full = analysis_run(doc->text, doc->len, doc->tree, "HOT");
    char *x = dump_string(doc->analysis), *y = dump_string(full);
    int same = x && y && !strcmp(x, y);

    if (!same && x && y) {
        size_t i = 0, l = 0;

        while (x[i] && x[i] == y[i])
            l = x[i++] == '\n' ? i : l;
        fprintf(stderr, "micro: %s: %s: the cached analysis differs from analysis_run:\n  cached: %.*s\n  full:   %.*s\n",
                path, what, (int)strcspn(x + l, "\n"), x + l, (int)strcspn(y + l, "\n"), y + l);
    }
    free(x);
    free(y);
    analysis_free(full);
    return same;
}

/* --check: edits at 64 places of `path` (a character typed, the marker,
 * braces that break the parse), each one analysed by the docstore then
 * undone, compared with a full analysis after each step. */
static int check(const char *path)
{
    static const char *const typed[] = { "x", "HOT ", "}", "{", ";", "\n", "/* c */" };
    size_t len;
    char *text = test_slurp(path, &len);
    struct docstore *store = docstore_new("HOT");
    struct document *doc;
    int ok;

    if (!text) {
        fprintf(stderr, "micro: cannot read %s\n", path);
        docstore_free(store);
        return 1;
    }
    doc = docstore_open(store, "file:///check.c", path, text, len, 1);
    ok = same_as_full(path, "open", doc);
    for (int k = 0; k < 64 && ok; k++) {
        uint32_t at = (uint32_t)(len * (size_t)k / 64);
        const char *t = typed[k % (int)(sizeof typed / sizeof *typed)];
        struct text_edit add = { at, at, t, strlen(t) }, del = { at, at + (uint32_t)strlen(t), "", 0 };
        char what[64];

        docstore_edit(store, doc, &add);
        docstore_update(store, doc);
        snprintf(what, sizeof what, "\"%s\" typed at %u", t, at);
        ok = same_as_full(path, what, doc);
        docstore_edit(store, doc, &del);
        docstore_update(store, doc);
        snprintf(what, sizeof what, "\"%s\" deleted at %u", t, at);
        ok = ok && same_as_full(path, what, doc);
    }
    docstore_free(store);
    free(text);
    return !ok;
}

static int measure(const char *path, int runs)
{
    size_t len, lines = 0;
    char *text = test_slurp(path, &len);
    TSParser *parser = ts_parser_new();
    TSTree *tree;
    struct analysis *a;
    const char *names[64];
    struct patch_input in;
    struct patch_index *index;
    struct docstore *store;
    struct document *doc;
    double *an = calloc((size_t)runs, sizeof *an), *ed = calloc((size_t)runs, sizeof *ed),
           *pa = calloc((size_t)runs, sizeof *pa), *px = calloc((size_t)runs, sizeof *px),
           *pi = calloc((size_t)runs, sizeof *pi), *rd = calloc((size_t)runs, sizeof *rd), parse;
    uint32_t at = 0;

    if (!text) {
        fprintf(stderr, "micro: cannot read %s\n", path);
        return 1;
    }
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    ts_parser_set_language(parser, grammar_language());
    parse = now_ms();
    tree = ts_parser_parse_string(parser, NULL, text, (uint32_t)len);
    parse = now_ms() - parse;
    a = analysis_run(text, len, tree, "HOT");
    memset(&in, 0, sizeof in);
    in.text = text;
    in.length = len;
    in.path = path;
    in.functions = names;
    in.function_count = hot_names(a, names, 64);
    in.build_id = "";
    in.tree = tree;
    for (size_t i = 0; i < a->n_functions; i++)
        if (a->functions[i].hot)
            at = a->functions[i].end_byte - 1; /* just before the closing brace */

    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        struct analysis *again = analysis_run(text, len, tree, "HOT");
        an[r] = now_ms() - t0;
        analysis_free(again);
    }
    for (int r = 0; r < runs; r++) {
        struct patch p;
        double t0;

        /* without an index, as patch_build indexes for itself */
        patch_init(&p);
        t0 = now_ms();
        if (patch_build(&p, &in) != 0)
            fprintf(stderr, "micro: %s: %s\n", path, p.error);
        pa[r] = now_ms() - t0;
        patch_release(&p);

        /* indexing, as the docstore does after each change */
        t0 = now_ms();
        index = patch_index_new(text, len, tree);
        pi[r] = now_ms() - t0;

        /* with the document's index, as on a save */
        patch_init(&p);
        t0 = now_ms();
        if (patch_build_indexed(&p, &in, index) != 0)
            fprintf(stderr, "micro: %s: %s\n", path, p.error);
        px[r] = now_ms() - t0;
        patch_release(&p);
        patch_index_free(index);
    }
    store = docstore_new("HOT");
    doc = docstore_open(store, "file:///micro.c", path, text, len, 1);
    for (int r = 0; r < runs; r++) {
        /* type a space, then delete it: two keystrokes, two updates */
        struct text_edit add = { at, at, " ", 1 }, del = { at, at + 1, "", 0 };
        double t0 = now_ms();

        docstore_edit(store, doc, r % 2 ? &del : &add);
        docstore_update(store, doc);
        ed[r] = now_ms() - t0;

        /* the reload diff of a save: HOT functions against the baseline */
        {
            int others = 0;
            struct analysis_diff *d;

            t0 = now_ms();
            d = analysis_diff_hot(a, doc->analysis, &others);
            rd[r] = now_ms() - t0;
            analysis_diff_free(d);
        }
    }
    printf("| %s | %zu | %.2f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", path, lines, parse, median(an, runs),
           median(ed, runs), median(pi, runs), median(pa, runs), median(px, runs), median(rd, runs));
    docstore_free(store);
    analysis_free(a);
    ts_tree_delete(tree);
    ts_parser_delete(parser);
    free(text);
    free(an);
    free(ed);
    free(pa);
    free(pi);
    free(px);
    free(rd);
    return 0;
}

int main(int argc, char **argv)
{
    int runs = 21, do_dump = 0, do_check = 0, rc = 0, a = 1;
    struct analysis *prev = NULL;

    dump_out = stdout;

    for (; a < argc && argv[a][0] == '-'; a++) {
        if (!strcmp(argv[a], "--dump"))
            do_dump = 1;
        else if (!strcmp(argv[a], "--check"))
            do_check = 1;
        else if (!strcmp(argv[a], "-n") && a + 1 < argc)
            runs = atoi(argv[++a]);
        else
            break;
    }
    if (a >= argc || runs < 1) {
        fprintf(stderr, "usage: micro [-n RUNS] [--dump | --check] FILE...\n");
        return 2;
    }
    if (!do_dump && !do_check) {
        printf("| file | lines | full parse | analysis_run | keystroke (edit + reparse + analysis + index) | "
               "patch_index_new | patch_build, no index | patch_build with the index | reload diff |\n");
        printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    }
    for (; a < argc; a++)
        rc |= do_check ? check(argv[a]) : do_dump ? dump(argv[a], &prev) : measure(argv[a], runs);
    analysis_free(prev);
    return rc;
}
