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

/* A growable list of identifier ids. */
struct ids {
    uint32_t *v;
    size_t n, cap;
};

/* One file-scope declaration of the preprocessed text (a statement ended
 * by `;` at file scope, or a function definition of a header): its hash,
 * the identifiers it names, and the ones it declares. */
struct decl {
    uint64_t hash;
    struct ids names;
};

/* The declaration being read, token by token. */
struct statement {
    uint64_t hash;
    struct ids names, declares;
    int braces, parens;
    int enum_body;            /* brace depth of an enum's enumerators, 0 none */
    bool function_body;       /* a `{` after `)` at file scope: a definition */
    int tag_pending;          /* the previous token was struct/union/enum (2: enum) */
    uint32_t tag;             /* the tag just named (+1), 0 none */
    bool tag_is_enum;
    char before_ident;        /* the last character of the token before the previous identifier */
    uint32_t last_ident;      /* the previous token, when an identifier (+1) */
    char last;                /* the previous token's last character */
};

struct reader {
    struct expand *out;
    struct span *spans;       /* sorted by first row */
    size_t n_spans;
    const char **names;       /* the file's function names, sorted, for refs */
    size_t n_names;
    /* identifiers, interned (open addressing) */
    char **idents;
    size_t n_idents;
    uint32_t *table;          /* id + 1, 0 empty */
    size_t table_size;
    /* declarations and who declares what: (identifier, decl) pairs */
    struct decl *decls;
    size_t n_decls, cap_decls;
    uint32_t (*declared)[2];
    size_t n_declared, cap_declared;
    struct statement st;
    struct ids *uses;         /* per function entry: the identifiers its expansion names */
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

static void ids_add(struct reader *r, struct ids *x, uint32_t id)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        uint32_t *v = realloc(x->v, cap * sizeof *v);
        if (!v) {
            r->oom = true;
            return;
        }
        x->v = v;
        x->cap = cap;
    }
    x->v[x->n++] = id;
}

static bool is_keyword(const char *s, size_t n)
{
    static const char *const words[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
        "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
        "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
        "_Bool", "_Alignas", "_Alignof", "_Atomic", "_Noreturn", "_Static_assert", "_Thread_local", "__attribute__",
        "__asm__", "__extension__", "__restrict", "__inline", "__const", "__volatile__", "__inline__", "asm",
        "__typeof__", "typeof", "__signed__", "__builtin_va_list", "__int128", NULL };
    for (size_t i = 0; words[i]; i++)
        if (strlen(words[i]) == n && memcmp(words[i], s, n) == 0)
            return true;
    return false;
}

/* The id of identifier `s` (`n` bytes), interned; UINT32_MAX when out of
 * memory. */
static uint32_t intern(struct reader *r, const char *s, size_t n)
{
    uint64_t h = FNV_OFFSET;
    size_t slot;

    if (r->n_idents * 2 >= r->table_size) {
        size_t size = r->table_size ? r->table_size * 2 : 1024;
        uint32_t *t = calloc(size, sizeof *t);
        if (!t) {
            r->oom = true;
            return UINT32_MAX;
        }
        for (size_t i = 0; i < r->n_idents; i++) {
            uint64_t g = FNV_OFFSET;
            for (const char *c = r->idents[i]; *c; c++)
                hash_byte(&g, (unsigned char)*c);
            for (slot = g & (size - 1); t[slot]; slot = (slot + 1) & (size - 1))
                ;
            t[slot] = (uint32_t)i + 1;
        }
        free(r->table);
        r->table = t;
        r->table_size = size;
    }
    for (size_t i = 0; i < n; i++)
        hash_byte(&h, (unsigned char)s[i]);
    for (slot = h & (r->table_size - 1); r->table[slot]; slot = (slot + 1) & (r->table_size - 1)) {
        const char *known = r->idents[r->table[slot] - 1];
        if (strncmp(known, s, n) == 0 && known[n] == '\0')
            return r->table[slot] - 1;
    }
    if ((r->n_idents & (r->n_idents - 1)) == 0 || r->n_idents == 0) {
        char **grown = realloc(r->idents, (r->n_idents ? r->n_idents * 2 : 1) * sizeof *grown);
        if (!grown) {
            r->oom = true;
            return UINT32_MAX;
        }
        r->idents = grown;
    }
    if (!(r->idents[r->n_idents] = strndup(s, n))) {
        r->oom = true;
        return UINT32_MAX;
    }
    r->table[slot] = (uint32_t)r->n_idents + 1;
    return (uint32_t)r->n_idents++;
}

/* The statement read so far declares `id`. */
static void declare(struct reader *r, uint32_t id)
{
    ids_add(r, &r->st.declares, id);
}

/* The statement ended: it becomes a declaration. */
static void statement_end(struct reader *r)
{
    struct statement *st = &r->st;

    if (st->names.n > 0 && st->declares.n > 0) {
        if (r->n_decls == r->cap_decls) {
            size_t cap = r->cap_decls ? r->cap_decls * 2 : 256;
            struct decl *d = realloc(r->decls, cap * sizeof *d);
            if (!d) {
                r->oom = true;
                goto reset;
            }
            r->decls = d;
            r->cap_decls = cap;
        }
        for (size_t i = 0; i < st->declares.n; i++) {
            if (r->n_declared == r->cap_declared) {
                size_t cap = r->cap_declared ? r->cap_declared * 2 : 256;
                uint32_t(*d)[2] = realloc(r->declared, cap * sizeof *d);
                if (!d) {
                    r->oom = true;
                    goto reset;
                }
                r->declared = d;
                r->cap_declared = cap;
            }
            r->declared[r->n_declared][0] = st->declares.v[i];
            r->declared[r->n_declared++][1] = (uint32_t)r->n_decls;
        }
        r->decls[r->n_decls].hash = st->hash;
        r->decls[r->n_decls++].names = st->names;
        st->names = (struct ids){ 0 };
    }
reset:
    free(st->names.v);
    free(st->declares.v);
    memset(st, 0, sizeof *st);
    st->hash = FNV_OFFSET;
}

/* One token of a file-scope statement: `s`, `n` bytes; `ident` when it is
 * an identifier (not a keyword). What a declaration declares is guessed
 * from where its names stand: before `(`, `;`, `,`, `=`, `[` or `)` at
 * file scope, a struct, union or enum tag before `{`, an enumerator. A
 * guess too many only makes a function depend on one more declaration. */
static void statement_token(struct reader *r, const char *s, size_t n, bool ident)
{
    struct statement *st = &r->st;
    char c = s[0];

    if (st->hash == 0)
        st->hash = FNV_OFFSET;
    for (size_t i = 0; i < n; i++)
        hash_byte(&st->hash, (unsigned char)s[i]);
    hash_byte(&st->hash, ' ');
    if (st->last_ident && !ident && st->braces == 0 &&
        ((st->parens == 0 && (c == '(' || c == ';' || c == ',' || c == '=' || c == '[')) ||
         (c == ')' && st->before_ident == '*')))
        declare(r, st->last_ident - 1);
    if (st->last_ident && !ident && st->enum_body && st->braces == st->enum_body &&
        (c == ',' || c == '=' || c == '}'))
        declare(r, st->last_ident - 1);
    if (!ident && c == '{' && st->tag)
        declare(r, st->tag - 1);
    if (!ident && c == '{' && (st->tag_pending == 2 || (st->tag && st->tag_is_enum)))
        st->enum_body = st->braces + 1;
    if (ident) {
        uint32_t id = intern(r, s, n);
        if (id == UINT32_MAX)
            return;
        ids_add(r, &st->names, id);
        st->tag = st->tag_pending ? id + 1 : 0;
        st->tag_is_enum = st->tag_pending == 2;
        st->tag_pending = 0;
        st->before_ident = st->last;
        st->last_ident = id + 1;
        st->last = 'a';
        return;
    }
    st->last_ident = 0;
    if (n == 6 && (memcmp(s, "struct", 6) == 0)) {
        st->tag_pending = 1;
        return;
    }
    if (n == 5 && memcmp(s, "union", 5) == 0) {
        st->tag_pending = 1;
        return;
    }
    if (n == 4 && memcmp(s, "enum", 4) == 0) {
        st->tag_pending = 2;
        return;
    }
    if (c != '{')
        st->tag_pending = 0;
    if (c != '{')
        st->tag = 0;
    if (c == '(')
        st->parens++;
    else if (c == ')')
        st->parens--;
    else if (c == '{') {
        if (st->braces == 0 && st->last == ')')
            st->function_body = true;
        st->braces++;
        st->tag_pending = 0;
    } else if (c == '}') {
        if (st->braces > 0)
            st->braces--;
        if (st->enum_body > st->braces)
            st->enum_body = 0;
        if (st->braces == 0 && st->function_body) {
            statement_end(r);
            return;
        }
    } else if (c == ';' && st->braces == 0) {
        statement_end(r);
        return;
    }
    st->last = s[n - 1];
}

/* Splits a preprocessed line outside the file's functions into tokens for
 * the statement machine (keywords count as punctuation: they declare
 * nothing). */
static void statement_line(struct reader *r, const char *s, size_t n)
{
    for (size_t i = 0; i < n && !r->oom;) {
        char c = s[i];
        size_t start = i;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            i++;
            continue;
        }
        if (c == '"' || c == '\'') {
            for (i++; i < n && s[i] != c; i++)
                if (s[i] == '\\')
                    i++;
            i = i < n ? i + 1 : n;
            statement_token(r, s + start, i - start, false);
            continue;
        }
        if (is_ident(c)) {
            while (i < n && is_ident(s[i]))
                i++;
            bool number = c >= '0' && c <= '9';
            statement_token(r, s + start, i - start, !number && !is_keyword(s + start, i - start));
            continue;
        }
        statement_token(r, s + start, 1, false);
        i++;
    }
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
static void feed(struct reader *r, size_t entry, const char *s, size_t n)
{
    struct expand_function *f = &r->out->functions[entry];
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
            if (!(s[ident] >= '0' && s[ident] <= '9')) {
                add_ref(r, f, s + ident, ident_len);
                if (!is_keyword(s + ident, ident_len)) {
                    uint32_t id = intern(r, s + ident, ident_len);
                    if (id != UINT32_MAX)
                        ids_add(r, &r->uses[entry], id);
                }
            }
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

/* The flags of a line marker: entering an included file, returning to one. */
enum { MARK_ENTER = 1, MARK_RETURN = 2 };

/* Parses a line marker `# N "file" flags...` (`#line N "file"` too):
 * the line number of the next line, the file name (new string) and the
 * flags (MARK_*). */
static bool parse_marker(const char *s, size_t n, unsigned long *line, char **file, int *flags)
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
    *flags = 0;
    for (i++; i < n; i++)
        if (s[i] == '1' && s[i - 1] == ' ')
            *flags |= MARK_ENTER;
        else if (s[i] == '2' && s[i - 1] == ' ')
            *flags |= MARK_RETURN;
    *line = v;
    *file = name;
    return true;
}

/* A `#line` directive of the source text (`#line N "name"`, `# N "name"`
 * or `#line N`): the row it stands on, the number it gives the next line,
 * and the name (NULL: unchanged). */
struct line_directive {
    uint32_t row;
    unsigned long line;
    char *name;
};

/* Every `#line` directive of `text` that stands outside comments, in
 * row order, into `*out` (`*n` of them). False when out of memory. */
static bool find_line_directives(const char *text, size_t len, struct line_directive **out, size_t *n)
{
    bool comment = false, line_start = true;
    uint32_t row = 0;
    size_t cap = 0;

    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '\n') {
            line_start = !(i > 0 && text[i - 1] == '\\');
            row++;
            continue;
        }
        if (comment) {
            if (c == '*' && i + 1 < len && text[i + 1] == '/')
                comment = false, i++;
            continue;
        }
        if (c == '/' && i + 1 < len && text[i + 1] == '*') {
            comment = true, i++;
            continue;
        }
        if (c == ' ' || c == '\t')
            continue;
        if (!line_start || c != '#') {
            /* the rest of the line, for a comment that opens in it */
            bool quote = false;
            char q = 0;
            for (; i < len && text[i] != '\n'; i++) {
                if (quote) {
                    if (text[i] == '\\')
                        i++;
                    else if (text[i] == q)
                        quote = false;
                } else if (text[i] == '"' || text[i] == '\'') {
                    quote = true, q = text[i];
                } else if (text[i] == '/' && i + 1 < len && text[i + 1] == '/') {
                    while (i + 1 < len && text[i + 1] != '\n')
                        i++;
                } else if (text[i] == '/' && i + 1 < len && text[i + 1] == '*') {
                    comment = true, i++;
                    break;
                }
            }
            if (i < len && text[i] == '\n')
                i--;
            line_start = false;
            continue;
        }
        /* a directive: `#`, blanks, `line`? blanks, digits, blanks, "name"? */
        size_t j = i + 1, end = i;
        while (end < len && text[end] != '\n')
            end++;
        while (j < end && (text[j] == ' ' || text[j] == '\t'))
            j++;
        if (end - j > 4 && strncmp(text + j, "line", 4) == 0 && (text[j + 4] == ' ' || text[j + 4] == '\t'))
            j += 4;
        while (j < end && (text[j] == ' ' || text[j] == '\t'))
            j++;
        if (j < end && text[j] >= '0' && text[j] <= '9') {
            struct line_directive d = { row, 0, NULL };
            while (j < end && text[j] >= '0' && text[j] <= '9')
                d.line = d.line * 10 + (unsigned long)(text[j++] - '0');
            while (j < end && (text[j] == ' ' || text[j] == '\t'))
                j++;
            if (j < end && text[j] == '"') {
                char *o = d.name = malloc(end - j);
                if (!o)
                    return false;
                for (j++; j < end && text[j] != '"'; j++) {
                    if (text[j] == '\\' && j + 1 < end)
                        j++;
                    *o++ = text[j];
                }
                *o = '\0';
            }
            if (*n == cap) {
                struct line_directive *grown = realloc(*out, (cap = cap ? cap * 2 : 8) * sizeof *grown);
                if (!grown) {
                    free(d.name);
                    return false;
                }
                *out = grown;
            }
            (*out)[(*n)++] = d;
        }
        i = end - 1;
        line_start = false;
    }
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
    r->uses = calloc(a->n_functions + 1, sizeof *r->uses);
    r->st.hash = FNV_OFFSET;
    if (!e->functions || !r->spans || !r->names || !r->uses)
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
            e->functions[k].is_static = f->is_static && !f->hot;
            r->names[r->n_names++] = e->functions[k].name;
            e->n_functions++;
        }
        e->functions[k].is_static |= f->is_static && !f->hot;
        r->spans[r->n_spans].first = f->range.start.row;
        r->spans[r->n_spans].last = f->range.end.row;
        r->spans[r->n_spans++].entry = k;
    }
    qsort(r->spans, r->n_spans, sizeof *r->spans, span_cmp);
    qsort(r->names, r->n_names, sizeof *r->names, name_cmp);
    return true;
}

static int declared_cmp(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

/* Mixes into each function's hash the declarations it depends on: those
 * that declare a name its expansion uses, and, in turn, those that declare
 * a name they use (a struct's field types, a typedef's target, a called
 * function's prototype), in file order: a changed type or prototype
 * changes the code the compiler makes of the function even where its own
 * tokens are the same. */
static bool depend_on_declarations(struct reader *r)
{
    struct expand *e = r->out;
    bool *seen_decl = calloc(r->n_decls + 1, sizeof *seen_decl);
    bool *seen_id = calloc(r->n_idents + 1, sizeof *seen_id);
    uint32_t *queue = calloc(r->n_idents + 1, sizeof *queue);
    bool ok = seen_decl && seen_id && queue;

    if (r->n_declared > 0)
        qsort(r->declared, r->n_declared, sizeof *r->declared, declared_cmp);
    for (size_t f = 0; ok && f < e->n_functions; f++) {
        size_t head = 0, tail = 0;
        memset(seen_decl, 0, (r->n_decls + 1) * sizeof *seen_decl);
        memset(seen_id, 0, (r->n_idents + 1) * sizeof *seen_id);
        for (size_t i = 0; i < r->uses[f].n; i++)
            if (!seen_id[r->uses[f].v[i]]) {
                seen_id[r->uses[f].v[i]] = true;
                queue[tail++] = r->uses[f].v[i];
            }
        while (head < tail) {
            uint32_t id = queue[head++];
            size_t lo = 0, hi = r->n_declared;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (r->declared[mid][0] < id)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            for (; lo < r->n_declared && r->declared[lo][0] == id; lo++) {
                uint32_t d = r->declared[lo][1];
                if (seen_decl[d])
                    continue;
                seen_decl[d] = true;
                for (size_t k = 0; k < r->decls[d].names.n; k++) {
                    uint32_t next = r->decls[d].names.v[k];
                    if (!seen_id[next]) {
                        seen_id[next] = true;
                        queue[tail++] = next;
                    }
                }
            }
        }
        for (size_t d = 0; d < r->n_decls; d++)
            if (seen_decl[d])
                for (int b = 0; b < 8; b++)
                    hash_byte(&e->functions[f].hash, (unsigned char)(r->decls[d].hash >> (8 * b)));
    }
    free(seen_decl);
    free(seen_id);
    free(queue);
    return ok;
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

/* At a marker of the main file that is no include's entry or return: the
 * `#line` directive of the text it comes from, when it is one, else -1
 * (the preprocessor skipping blank lines). That is the first unused
 * directive that gives the marker's name, where the name changed (and a
 * number up to the marker's: tcc prints newlines for the first lines after
 * a directive and names a later one), or, where it did not, that gives its
 * number too and stands between the current row and the one the marker
 * names. */
static long match_directive(const struct line_directive *dirs, size_t n_dirs, size_t from, long row,
                            unsigned long line, const char *name, const char *current, long delta)
{
    bool renamed = !current || strcmp(current, name) != 0;
    long named_row = (long)line - 1 + delta;

    for (size_t k = from; k < n_dirs; k++) {
        if (dirs[k].name ? strcmp(dirs[k].name, name) != 0 : renamed)
            continue;
        if (renamed ? dirs[k].line <= line
                    : dirs[k].line == line && (long)dirs[k].row + 1 >= row && (long)dirs[k].row < named_row)
            return (long)k;
    }
    return -1;
}

int expand_read(struct expand *out, const char *pp, size_t len, const struct analysis *source,
                const char *text, size_t text_len, const char *main_file, const char *skip_file)
{
    struct reader r = { 0 };
    struct line_directive *dirs = NULL;
    size_t n_dirs = 0, next_dir = 0;
    bool in_main = false, seen_main = false;
    unsigned long line = 1;
    /* in the main file at include depth 0, a line's row is line - 1 + delta:
     * a `#line` directive of the text renumbers the lines after it */
    long delta = 0;
    int depth = 0;
    char *name0 = NULL;       /* the name the markers give the main file now */
    size_t next_span = 0;
    int rc = 0;

    r.out = out;
    if (!index_functions(&r, source) || !find_line_directives(text, text_len, &dirs, &n_dirs)) {
        rc = -1;
        goto done;
    }
    for (size_t at = 0; at < len && !r.oom;) {
        const char *s = pp + at, *nl = memchr(s, '\n', len - at);
        size_t n = nl ? (size_t)(nl - s) : len - at;
        unsigned long marker_line;
        char *file;
        int flags;

        at += n + 1;
        if (n > 1 && s[0] == '#' && parse_marker(s, n, &marker_line, &file, &flags)) {
            bool pseudo = file[0] == '<';
            if (flags & MARK_ENTER)
                depth++;
            else if ((flags & MARK_RETURN) && depth > 0)
                depth--;
            if (depth == 0 && !pseudo) {
                if (!(flags & (MARK_ENTER | MARK_RETURN))) {
                    long k = match_directive(dirs, n_dirs, next_dir, (long)line - 1 + delta, marker_line, file,
                                             name0, delta);
                    if (k >= 0) {
                        delta = (long)dirs[k].row + 1 - ((long)dirs[k].line - 1);
                        next_dir = (size_t)k + 1;
                    }
                }
                seen_main = seen_main || strcmp(file, main_file) == 0 || (skip_file && strcmp(file, skip_file) == 0);
                free(name0);
                name0 = file;
                file = NULL;
                in_main = true;
            } else {
                /* a file the main file includes itself is read for its lines */
                in_main = depth > 0 && strcmp(file, main_file) == 0;
                if (!pseudo && depth > 0 && !in_main)
                    add_include(&r, file);
                free(file);
            }
            line = marker_line;
            continue;
        }
        bool in_function = false;
        if (in_main && n > 0) {
            long at_row = (long)line - 1 + (depth == 0 ? delta : 0);
            uint32_t row = at_row > 0 ? (uint32_t)at_row : 0;
            /* rows only grow within the main file: spans are visited once */
            while (next_span < r.n_spans && r.spans[next_span].last < row)
                next_span++;
            for (size_t k = next_span; k < r.n_spans && r.spans[k].first <= row; k++)
                if (r.spans[k].last >= row) {
                    feed(&r, r.spans[k].entry, s, n);
                    in_function = true;
                }
        }
        if (!in_function && n > 0 && s[0] != '#')
            statement_line(&r, s, n);
        line++;
    }
    statement_end(&r);
    if (!seen_main)
        rc = -1;
    else if (!r.oom && (!depend_on_declarations(&r) || !close_over_statics(out)))
        r.oom = true;
done:
    if (r.oom)
        rc = -1;
    for (size_t i = 0; i < n_dirs; i++)
        free(dirs[i].name);
    free(dirs);
    free(name0);
    for (size_t i = 0; i < r.n_decls; i++)
        free(r.decls[i].names.v);
    free(r.decls);
    free(r.declared);
    for (size_t i = 0; i < r.n_idents; i++)
        free(r.idents[i]);
    free(r.idents);
    free(r.table);
    free(r.st.names.v);
    free(r.st.declares.v);
    for (size_t i = 0; r.uses && i < out->n_functions; i++)
        free(r.uses[i].v);
    free(r.uses);
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
