/* Per-function expansions from the preprocessor's output (see expand.h). */
#include "expand.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

/* A function definition's lines, pointing at its name's entry. */
struct span {
    uint32_t first, last;     /* 0-based source rows */
    size_t entry;             /* index into expand.functions */
};

struct reader {
    struct expand *out;
    struct span *spans;       /* sorted by first row */
    size_t n_spans;
    const char **names;       /* the file's function names, sorted, for refs */
    size_t n_names;
    bool oom;
};

static void hash_byte(uint64_t *h, unsigned char c)
{
    *h ^= c;
    *h *= FNV_PRIME;
}

static bool is_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (unsigned char)c >= 0x80;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

static void add_ref(struct reader *r, struct expand_function *f, const char *name, size_t len)
{
    const char *key;
    char buf[256];
    const char **hit;
    char **grown;

    if (len == 0 || len >= sizeof buf)
        return;
    memcpy(buf, name, len);
    buf[len] = '\0';
    key = buf;
    hit = bsearch(&key, r->names, r->n_names, sizeof *r->names, name_cmp);
    if (!hit || strcmp(*hit, f->name) == 0)
        return;
    for (size_t i = 0; i < f->n_refs; i++)
        if (strcmp(f->refs[i], *hit) == 0)
            return;
    grown = realloc(f->refs, (f->n_refs + 1) * sizeof *f->refs);
    if (!grown || !(grown[f->n_refs] = strdup(*hit))) {
        if (grown)
            f->refs = grown;
        r->oom = true;
        return;
    }
    f->refs = grown;
    f->n_refs++;
}

/* Feeds one preprocessed line to `f`: its tokens into the hash (runs of
 * blanks count as one, and only between two identifier characters; string
 * and character literals byte for byte), its identifiers into the refs. */
static void feed(struct reader *r, struct expand_function *f, const char *s, size_t n)
{
    char quote = 0, prev = 0;
    bool blank = false;
    size_t ident = 0, ident_len = 0;

    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? s[i] : ' ';
        if (!quote && is_ident(c)) {
            if (ident_len == 0)
                ident = i;
            ident_len++;
        } else if (ident_len) {
            if (!(s[ident] >= '0' && s[ident] <= '9'))
                add_ref(r, f, s + ident, ident_len);
            ident_len = 0;
        }
        if (i == n)
            break;
        if (quote) {
            hash_byte(&f->hash, (unsigned char)c);
            if (c == '\\' && i + 1 < n)
                hash_byte(&f->hash, (unsigned char)s[++i]);
            else if (c == quote)
                quote = 0;
            prev = c;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            blank = true;
            continue;
        }
        if (blank && is_ident(prev) && is_ident(c))
            hash_byte(&f->hash, ' ');
        blank = false;
        if (c == '"' || c == '\'')
            quote = c;
        hash_byte(&f->hash, (unsigned char)c);
        prev = c;
    }
    /* a line end separates tokens as a blank does */
    if (is_ident(prev))
        hash_byte(&f->hash, '\n');
}

/* Parses a line marker `# N "file" flags...` (`#line N "file"` too):
 * the line number of the next line and the file name (new string). */
static bool parse_marker(const char *s, size_t n, unsigned long *line, char **file)
{
    size_t i = 1;
    unsigned long v = 0;
    char *name, *o;

    while (i < n && s[i] == ' ')
        i++;
    if (i + 4 < n && strncmp(s + i, "line", 4) == 0)
        i += 4;
    while (i < n && s[i] == ' ')
        i++;
    if (i >= n || s[i] < '0' || s[i] > '9')
        return false;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        v = v * 10 + (unsigned long)(s[i++] - '0');
    while (i < n && s[i] == ' ')
        i++;
    if (i >= n || s[i] != '"')
        return false;
    name = o = malloc(n - i + 1);
    if (!name)
        return false;
    for (i++; i < n && s[i] != '"'; i++) {
        if (s[i] == '\\' && i + 1 < n)
            i++;
        *o++ = s[i];
    }
    *o = '\0';
    *line = v;
    *file = name;
    return true;
}

static void add_include(struct reader *r, const char *file)
{
    struct expand *e = r->out;
    char **grown;

    if (file[0] == '<')
        return;
    for (size_t i = 0; i < e->n_includes; i++)
        if (strcmp(e->includes[i], file) == 0)
            return;
    grown = realloc(e->includes, (e->n_includes + 1) * sizeof *e->includes);
    if (!grown || !(grown[e->n_includes] = strdup(file))) {
        if (grown)
            e->includes = grown;
        r->oom = true;
        return;
    }
    e->includes = grown;
    e->n_includes++;
}

/* Sets up one entry per function name and the spans of every definition. */
static bool index_functions(struct reader *r, const struct analysis *a)
{
    struct expand *e = r->out;

    e->functions = calloc(a->n_functions + 1, sizeof *e->functions);
    r->spans = calloc(a->n_functions + 1, sizeof *r->spans);
    r->names = calloc(a->n_functions + 1, sizeof *r->names);
    if (!e->functions || !r->spans || !r->names)
        return false;
    for (size_t i = 0; i < a->n_functions; i++) {
        const struct analysis_function *f = &a->functions[i];
        size_t k;
        for (k = 0; k < e->n_functions; k++)
            if (strcmp(e->functions[k].name, f->name) == 0)
                break;
        if (k == e->n_functions) {
            if (!(e->functions[k].name = strdup(f->name)))
                return false;
            e->functions[k].hash = FNV_OFFSET;
            e->functions[k].is_static = f->is_static;
            r->names[r->n_names++] = e->functions[k].name;
            e->n_functions++;
        }
        e->functions[k].is_static |= f->is_static;
        r->spans[r->n_spans].first = f->range.start.row;
        r->spans[r->n_spans].last = f->range.end.row;
        r->spans[r->n_spans++].entry = k;
    }
    qsort(r->spans, r->n_spans, sizeof *r->spans, span_cmp);
    qsort(r->names, r->n_names, sizeof *r->names, name_cmp);
    return true;
}

/* Every function's closure: its hash, then the hashes of the static
 * functions reachable through refs, in a fixed (entry) order. */
static bool close_over_statics(struct expand *e)
{
    bool *seen = calloc(e->n_functions + 1, sizeof *seen);
    size_t *stack = calloc(e->n_functions + 1, sizeof *stack);

    if (!seen || !stack) {
        free(seen);
        free(stack);
        return false;
    }
    for (size_t i = 0; i < e->n_functions; i++) {
        size_t top = 0;
        uint64_t h = e->functions[i].hash;
        memset(seen, 0, (e->n_functions + 1) * sizeof *seen);
        seen[i] = true;
        stack[top++] = i;
        while (top > 0) {
            const struct expand_function *f = &e->functions[stack[--top]];
            for (size_t k = 0; k < f->n_refs; k++) {
                size_t j;
                for (j = 0; j < e->n_functions; j++)
                    if (strcmp(e->functions[j].name, f->refs[k]) == 0)
                        break;
                if (j < e->n_functions && !seen[j] && e->functions[j].is_static) {
                    seen[j] = true;
                    stack[top++] = j;
                }
            }
        }
        for (size_t j = 0; j < e->n_functions; j++)
            if (seen[j] && j != i)
                for (int b = 0; b < 8; b++)
                    hash_byte(&h, (unsigned char)(e->functions[j].hash >> (8 * b)));
        e->functions[i].closure = h;
    }
    free(seen);
    free(stack);
    return true;
}

int expand_read(struct expand *out, const char *pp, size_t len, const struct analysis *source,
                const char *main_file, const char *skip_file)
{
    struct reader r = { 0 };
    bool in_main = false, seen_main = false;
    unsigned long line = 1;
    size_t next_span = 0;
    int rc = 0;

    r.out = out;
    if (!index_functions(&r, source)) {
        rc = -1;
        goto done;
    }
    for (size_t at = 0; at < len && !r.oom;) {
        const char *s = pp + at, *nl = memchr(s, '\n', len - at);
        size_t n = nl ? (size_t)(nl - s) : len - at;
        unsigned long marker_line;
        char *file;

        at += n + 1;
        if (n > 1 && s[0] == '#' && parse_marker(s, n, &marker_line, &file)) {
            in_main = strcmp(file, main_file) == 0;
            seen_main = seen_main || in_main;
            if (!in_main && !(skip_file && strcmp(file, skip_file) == 0))
                add_include(&r, file);
            free(file);
            line = marker_line;
            continue;
        }
        if (in_main && n > 0) {
            uint32_t row = line > 0 ? (uint32_t)(line - 1) : 0;
            /* rows only grow within the main file: spans are visited once */
            while (next_span < r.n_spans && r.spans[next_span].last < row)
                next_span++;
            for (size_t k = next_span; k < r.n_spans && r.spans[k].first <= row; k++)
                if (r.spans[k].last >= row)
                    feed(&r, &out->functions[r.spans[k].entry], s, n);
        }
        line++;
    }
    if (!seen_main)
        rc = -1;
    else if (!r.oom && !close_over_statics(out))
        r.oom = true;
done:
    if (r.oom)
        rc = -1;
    free(r.spans);
    free(r.names);
    return rc;
}

void expand_release(struct expand *self)
{
    for (size_t i = 0; i < self->n_functions; i++) {
        free(self->functions[i].name);
        for (size_t k = 0; k < self->functions[i].n_refs; k++)
            free(self->functions[i].refs[k]);
        free(self->functions[i].refs);
    }
    free(self->functions);
    for (size_t i = 0; i < self->n_includes; i++)
        free(self->includes[i]);
    free(self->includes);
    memset(self, 0, sizeof *self);
}

const struct expand_function *expand_find(const struct expand *self, const char *name)
{
    for (size_t i = 0; i < self->n_functions; i++)
        if (strcmp(self->functions[i].name, name) == 0)
            return &self->functions[i];
    return NULL;
}
