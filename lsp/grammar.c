/* The one place that names the grammar symbol, so that a change of grammar
 * (or a second language) touches nothing else, and the corrections of its
 * reading that the analysis and the patch builder share. */
#include "grammar.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

const TSLanguage *tree_sitter_c(void);

const TSLanguage *grammar_language(void)
{
    return tree_sitter_c();
}

int grammar_check(char *err, size_t size)
{
    uint32_t abi = ts_language_version(grammar_language());

    if (abi >= TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION && abi <= TREE_SITTER_LANGUAGE_VERSION)
        return 0;
    snprintf(err, size,
             "cannot load the C grammar: it has ABI %u but this libtree-sitter accepts ABI %u to %u; "
             "rebuild hotc with the tree-sitter-c version pinned in lsp/grammar/package-lock.json (0.23.x)",
             (unsigned)abi, (unsigned)TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION,
             (unsigned)TREE_SITTER_LANGUAGE_VERSION);
    return -1;
}

TSNode grammar_misread_name(TSNode fdecl)
{
    TSNode none = { 0 };
    uint32_t n = ts_node_child_count(fdecl);

    for (uint32_t i = 0; i + 1 < n; i++) {
        TSNode k = ts_node_child(fdecl, i), next = ts_node_child(fdecl, i + 1);
        uint32_t m = ts_node_named_child_count(k);
        if (strcmp(ts_node_type(k), "ERROR") != 0 || strcmp(ts_node_type(next), "parameter_list") != 0 || m == 0)
            continue;
        TSNode last = ts_node_named_child(k, m - 1);
        if (strcmp(ts_node_type(last), "identifier") == 0 && ts_node_end_byte(last) == ts_node_end_byte(k))
            return last;
    }
    return none;
}

/* Blanks [a, b) of `text`: every byte but a newline or a space becomes a
 * space, so that offsets and line numbers stay. Returns whether it
 * changed a byte. */
static bool blank_range(char *text, size_t a, size_t b)
{
    bool changed = false;
    for (size_t i = a; i < b; i++)
        if (text[i] != '\n' && text[i] != ' ') {
            text[i] = ' ';
            changed = true;
        }
    return changed;
}

/* The end of a comment, string or character constant starting at `i`
 * (text[i] is its first character), or `i` when none starts there. */
static size_t skip_lexeme(const char *text, size_t len, size_t i)
{
    if (text[i] == '/' && i + 1 < len && text[i + 1] == '*') {
        for (i += 2; i + 1 < len && !(text[i] == '*' && text[i + 1] == '/'); i++)
            ;
        return i + 2 <= len ? i + 2 : len;
    }
    if (text[i] == '/' && i + 1 < len && text[i + 1] == '/') {
        for (; i < len && text[i] != '\n'; i++)
            if (text[i] == '\\' && i + 1 < len)
                i++;
        return i;
    }
    if (text[i] == '"' || text[i] == '\'') {
        char quote = text[i];
        for (i++; i < len && text[i] != quote && text[i] != '\n'; i++)
            if (text[i] == '\\' && i + 1 < len)
                i++;
        return i < len ? i + 1 : len;
    }
    return i;
}

bool grammar_mask_directive_comments(char *text, size_t len)
{
    bool changed = false, line_start = true;
    size_t i = 0;

    while (i < len) {
        size_t next = skip_lexeme(text, len, i);
        if (next != i) {
            i = next;
            line_start = false;
            continue;
        }
        if (text[i] == '#' && line_start) {
            while (i < len && text[i] != '\n') {
                next = skip_lexeme(text, len, i);
                bool block = next > i + 1 && text[i] == '/' && text[i + 1] == '*';
                size_t after = next;
                while (after < len && (text[after] == ' ' || text[after] == '\t' || text[after] == '\r'))
                    after++;
                /* one that ends the directive stays: tree-sitter reads it
                 * there, but not blanks before the newline */
                if (block && after < len && text[after] != '\n' && !memchr(text + i, '\n', next - i)) {
                    memset(text + i, ' ', next - i);
                    changed = true;
                }
                if (next != i) {
                    i = next;
                    continue;
                }
                if (text[i] == '\\' && i + 1 < len)
                    i++;
                i++;
            }
            continue;
        }
        if (text[i] == '\n')
            line_start = true;
        else if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r')
            line_start = false;
        i++;
    }
    return changed;
}

/* The end of the directive line starting at `i` (text[i] is '#'), past its
 * continuation lines and the comments on it, at its newline. */
static size_t directive_end(const char *text, size_t len, size_t i)
{
    while (i < len && text[i] != '\n') {
        size_t next = skip_lexeme(text, len, i);
        if (next != i) {
            i = next;
            continue;
        }
        if (text[i] == '\\' && i + 1 < len)
            i++;
        i++;
    }
    return i;
}

/* Whether `word` (not NUL-terminated, `n` bytes) is `want`. */
static bool word_is(const char *word, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(word, want, n) == 0;
}

/* The next word of a directive from `*i` (spaces, tabs and parentheses
 * before it skipped), moving `*i` past it; its length, 0 at the end. */
static size_t directive_word(const char *text, size_t end, size_t *i, const char **word)
{
    while (*i < end && (text[*i] == ' ' || text[*i] == '\t' || text[*i] == '(' || text[*i] == ')' || text[*i] == '#'))
        (*i)++;
    *word = text + *i;
    size_t start = *i;
    while (*i < end && (text[*i] == '_' || (text[*i] >= 'a' && text[*i] <= 'z') ||
                        (text[*i] >= 'A' && text[*i] <= 'Z') || (text[*i] >= '0' && text[*i] <= '9')))
        (*i)++;
    return *i - start;
}

/* Whether the directive [i, end) opens a branch only a C++ compiler takes:
 * #ifdef __cplusplus, #if defined __cplusplus, #if defined(__cplusplus). */
static bool opens_cplusplus(const char *text, size_t i, size_t end)
{
    const char *w;
    size_t n = directive_word(text, end, &i, &w);
    bool ifdef = word_is(w, n, "ifdef");
    if (!ifdef && !word_is(w, n, "if"))
        return false;
    n = directive_word(text, end, &i, &w);
    if (!ifdef) {
        if (!word_is(w, n, "defined"))
            return false;
        n = directive_word(text, end, &i, &w);
    }
    if (!word_is(w, n, "__cplusplus"))
        return false;
    while (i < end && (text[i] == ' ' || text[i] == '\t' || text[i] == ')' || text[i] == '\r'))
        i++;
    return i == end || text[i] == '/';
}

bool grammar_mask_cplusplus(char *text, size_t len)
{
    bool changed = false, line_start = true;
    int depth = 0, blank_depth = 0; /* blanking while blank_depth > 0 */
    size_t i = 0;

    while (i < len) {
        if (text[i] == '#' && line_start) {
            size_t end = directive_end(text, len, i), at = i;
            const char *w;
            size_t n = directive_word(text, end, &at, &w);
            bool opens = word_is(w, n, "if") || word_is(w, n, "ifdef") || word_is(w, n, "ifndef");
            bool closes = word_is(w, n, "endif");
            bool other_branch = n >= 4 && (word_is(w, n, "else") || memcmp(w, "elif", 4) == 0);
            bool keep = true;
            if (blank_depth) {
                keep = depth == blank_depth && (closes || other_branch);
                if (keep)
                    blank_depth = 0;
            } else if (opens && opens_cplusplus(text, i, end)) {
                blank_depth = depth + 1;
            }
            depth += opens ? 1 : closes && depth > 0 ? -1 : 0;
            if (!keep && blank_range(text, i, end))
                changed = true;
            i = end;
            continue;
        }
        size_t next = skip_lexeme(text, len, i);
        if (next == i)
            next = i + 1;
        if (text[i] == '\n')
            line_start = true;
        else if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r')
            line_start = false;
        if (blank_depth && blank_range(text, i, next))
            changed = true;
        i = next;
    }
    return changed;
}

/* What kind of directive the line at `i` (its '#') is, and where it ends
 * (the newline, continuations included) in *end. */
static enum grammar_directive directive_at(const char *text, size_t len, size_t i, size_t *end)
{
    size_t k = i + 1, w;
    while (k < len && (text[k] == ' ' || text[k] == '\t'))
        k++;
    for (w = k; w < len && text[w] >= 'a' && text[w] <= 'z'; w++)
        ;
    for (*end = i; *end < len && text[*end] != '\n'; (*end)++)
        if (text[*end] == '\\' && *end + 1 < len)
            (*end)++;
    size_t n = w - k;
    const char *word = text + k;
    if ((n == 2 && memcmp(word, "if", 2) == 0) || (n == 5 && memcmp(word, "ifdef", 5) == 0) ||
        (n == 6 && memcmp(word, "ifndef", 6) == 0))
        return DIR_IF;
    if ((n == 4 && memcmp(word, "elif", 4) == 0) || (n == 4 && memcmp(word, "else", 4) == 0) ||
        (n == 7 && (memcmp(word, "elifdef", 7) == 0)) || (n == 8 && memcmp(word, "elifndef", 8) == 0))
        return DIR_ELSE;
    if (n == 5 && memcmp(word, "endif", 5) == 0)
        return DIR_ENDIF;
    if ((n == 6 && memcmp(word, "define", 6) == 0) || (n == 5 && memcmp(word, "undef", 5) == 0))
        return DIR_MACRO;
    return DIR_OTHER;
}

/* The macro a conditional tests when it is `#ifdef X`, `#ifndef X`,
 * `#if defined X` or `#if !defined(X)` (the line [i, end), i at '#'):
 * its length (0 for any other condition), the name in *name and in *defined
 * whether the first branch is the one taken when X is defined. */
static size_t simple_condition(const char *text, size_t i, size_t end, const char **name, bool *defined)
{
    const char *w;
    size_t n = directive_word(text, end, &i, &w);
    bool ifdef = word_is(w, n, "ifdef"), ifndef = word_is(w, n, "ifndef");
    if (!ifdef && !ifndef && !word_is(w, n, "if"))
        return 0;
    *defined = !ifndef;
    if (!ifdef && !ifndef) {
        while (i < end && (text[i] == ' ' || text[i] == '\t'))
            i++;
        if (i < end && text[i] == '!') {
            *defined = false;
            i++;
        }
        n = directive_word(text, end, &i, &w);
        if (!word_is(w, n, "defined"))
            return 0;
    }
    n = directive_word(text, end, &i, name);
    while (i < end && (text[i] == ' ' || text[i] == '\t' || text[i] == ')' || text[i] == '\r'))
        i++;
    return i == end || text[i] == '/' ? n : 0;
}

/* A conditional group being read by grammar_mask_body_branches. */
struct body_group {
    bool chosen; /* one branch is read, by the macro's assumed state */
    int keep;    /* chosen: the branch read (0 first, 1 #else) */
    int branch;  /* the current branch */
};

/* Whether the branches of `groups` (innermost last) read the current text:
 * not in a branch left out, and for an unchosen group in its first one. */
static bool branch_read(const struct body_group *groups, int n, bool *counted)
{
    *counted = true;
    for (int k = 0; k < n; k++) {
        if (groups[k].chosen && groups[k].branch != groups[k].keep)
            return false;
        if (!groups[k].chosen && groups[k].branch != 0)
            *counted = false;
    }
    return true;
}

bool grammar_mask_body_branches(char *text, size_t len)
{
    struct body_group groups[64];
    struct assumption {
        char name[64]; /* a copy: the text's lines get blanked */
        size_t len;
        bool defined;
    } assumed[256];
    int ngroups = 0, nassumed = 0, depth = 0, overflow = 0;
    bool changed = false, line_start = true;
    size_t i = 0;

    while (i < len) {
        bool counted, read = branch_read(groups, ngroups, &counted);
        if (text[i] == '#' && line_start) {
            size_t end = directive_end(text, len, i), at = i;
            const char *w, *name;
            size_t n = directive_word(text, end, &at, &w), nlen;
            bool opens = word_is(w, n, "if") || word_is(w, n, "ifdef") || word_is(w, n, "ifndef");
            bool other = word_is(w, n, "else") || (n >= 4 && memcmp(w, "elif", 4) == 0);
            bool blank = !read;
            if (opens && (ngroups == 64 || overflow)) {
                overflow++;
            } else if (opens) {
                struct body_group *g = &groups[ngroups++];
                bool first_defined;
                *g = (struct body_group){ 0 };
                nlen = simple_condition(text, i, end, &name, &first_defined);
                if (read && depth > 0 && nlen && nlen < sizeof assumed[0].name) {
                    int k = 0;
                    while (k < nassumed && !(assumed[k].len == nlen && memcmp(assumed[k].name, name, nlen) == 0))
                        k++;
                    if (k == nassumed && nassumed < 256) {
                        memcpy(assumed[k].name, name, nlen);
                        assumed[k].len = nlen;
                        assumed[k].defined = first_defined;
                        nassumed++;
                    }
                    if (k < nassumed) {
                        g->chosen = true;
                        g->keep = assumed[k].defined == first_defined ? 0 : 1;
                        blank = true;
                    }
                }
            } else if (other && overflow == 0 && ngroups) {
                struct body_group *g = &groups[ngroups - 1];
                g->branch++;
                blank = blank || g->chosen;
            } else if (word_is(w, n, "endif") && overflow) {
                overflow--;
            } else if (word_is(w, n, "endif") && ngroups) {
                blank = blank || groups[ngroups - 1].chosen;
                ngroups--;
            }
            if (blank && blank_range(text, i, end))
                changed = true;
            i = end;
            continue;
        }
        size_t next = skip_lexeme(text, len, i);
        if (next == i)
            next = i + 1;
        if (text[i] == '\n')
            line_start = true;
        else if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r')
            line_start = false;
        if (read && counted && next == i + 1) {
            if (text[i] == '{')
                depth++;
            else if (text[i] == '}' && depth > 0)
                depth--;
        }
        if (!read && blank_range(text, i, next))
            changed = true;
        i = next;
    }
    return changed;
}

uint32_t grammar_function_end(TSNode def, const char *text, size_t len)
{
    TSNode body = ts_node_child_by_field_name(def, "body", 4);
    uint32_t end = ts_node_end_byte(def);
    size_t i;
    int depth = 0, level = 0, skip_from = -1;
    bool line_start = false;

    if (ts_node_is_null(body) || !ts_node_has_error(def) || !text)
        return end;
    i = ts_node_start_byte(body);
    if (i >= len || text[i] != '{')
        return end;
    while (i < len) {
        size_t next = skip_lexeme(text, len, i);
        char ch = text[i];
        if (next != i) {
            i = next;
            line_start = false;
            continue;
        }
        if (ch == '\n') {
            line_start = true;
        } else if (ch == '#' && line_start) {
            /* a directive line (and its continuations): a brace in a
             * #define is not the body's. Of the branches of a conditional
             * only the first counts: alternatives that each open a brace
             * (`#if A` `if (a) {` `#else` `if (b) {` `#endif`) would count
             * twice. An #else or #endif of a group opened before the body
             * (the function's head in two branches) counts at level 0. */
            switch (directive_at(text, len, i, &next)) {
            case DIR_IF:
                level++;
                break;
            case DIR_ELSE:
                if (skip_from < 0)
                    skip_from = level;
                break;
            case DIR_ENDIF:
                if (skip_from == level)
                    skip_from = -1;
                if (level > 0)
                    level--;
                break;
            default:
                break;
            }
            i = next;
            continue;
        } else if (skip_from >= 0) {
            /* an alternative branch */
        } else if (ch == '{') {
            depth++;
        } else if (ch == '}' && --depth == 0) {
            return i + 1 > end ? (uint32_t)(i + 1) : end;
        }
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
            line_start = false;
        i++;
    }
    return end; /* unbalanced: tree-sitter's */
}

/* A conditional group being read by grammar_mask_directives. */
struct group {
    int open_depth;      /* bracket depth at its #if */
    int branch_depth;    /* bracket depth at the start of the current branch */
    int branches;        /* branches seen before the current one */
    bool nested;         /* opened inside brackets */
    bool masking;        /* only one branch is read */
    bool keep_last;      /* that branch is the last one */
    size_t branch_start; /* where the current branch starts */
    size_t lines[8][2];  /* its directive lines so far (the first 8) */
    int nlines;
};

struct masker {
    const char *text;
    size_t len;
    char *out; /* the copy, made on the first blank */
    bool last; /* grammar_mask_directives' last_branch */
    bool oom;
};

/* Blanks [a, b) of the copy, newlines kept. */
static void mask(struct masker *m, size_t a, size_t b)
{
    if (!m->out) {
        if (!(m->out = malloc(m->len + 1))) {
            m->oom = true;
            return;
        }
        memcpy(m->out, m->text, m->len);
        m->out[m->len] = '\0';
    }
    blank_range(m->out, a, b < m->len ? b : m->len);
}

static void group_line(struct group *g, size_t a, size_t b)
{
    if (g->nlines < 8) {
        g->lines[g->nlines][0] = a;
        g->lines[g->nlines][1] = b;
        g->nlines++;
    }
}

/* The end of a branch of `g` at the directive [a, b): decides whether the
 * group is read with its first branch only, and blanks accordingly.
 * Returns true when the branches after this one are to be blanked. */
static bool branch_end(struct masker *m, struct group *g, int *depth, size_t a, size_t b, bool endif)
{
    bool unbalanced = *depth != g->branch_depth;
    if (g->keep_last && !endif) {
        mask(m, g->branch_start, a);
        *depth = g->branch_depth;
    } else if (!g->masking && g->branches == 0 && unbalanced && !g->nested && m->last && !endif) {
        /* a function's head in two branches, read with the last one */
        mask(m, g->branch_start, a);
        *depth = g->branch_depth;
        g->masking = g->keep_last = true;
    } else if (!g->masking && g->branches > 0 && unbalanced) {
        /* a later branch that opens or closes a bracket: it goes */
        mask(m, g->branch_start, a);
        *depth = g->branch_depth;
        g->masking = true;
    } else if (!g->masking && (g->nested || unbalanced)) {
        g->masking = true;
    }
    group_line(g, a, b);
    if (g->masking)
        for (int k = 0; k < g->nlines; k++)
            mask(m, g->lines[k][0], g->lines[k][1]);
    g->branches++;
    g->branch_depth = *depth;
    g->branch_start = b;
    return g->masking && !g->keep_last;
}

char *grammar_mask_directives(const char *text, size_t len, bool last_branch)
{
    struct masker m = { .text = text, .len = len, .last = last_branch };
    struct group *groups = NULL;
    size_t ngroups = 0, cap = 0;
    size_t i = 0;
    int depth = 0, skipping = 0; /* skipping: #if nesting inside a blanked branch, 1 its own */
    bool line_start = true;
    char last = ';';      /* the last character of code at file scope */
    bool in_init = false; /* after a file-scope `=`, before its `;` */

    while (i < len && !m.oom) {
        size_t next = skip_lexeme(text, len, i);
        char ch = text[i];
        if (next != i) {
            if (skipping)
                mask(&m, i, next);
            else if (depth == 0 && (ch == '"' || ch == '\''))
                last = ch;
            i = next;
            line_start = false;
            continue;
        }
        if (ch == '#' && line_start) {
            size_t end;
            enum grammar_directive kind = directive_at(text, len, i, &end);
            struct group *g = ngroups ? &groups[ngroups - 1] : NULL;
            if (skipping) {
                mask(&m, i, end);
                if (kind == DIR_IF)
                    skipping++;
                else if (kind == DIR_ENDIF && --skipping == 0 && ngroups)
                    ngroups--;
            } else if (kind == DIR_IF) {
                if (ngroups == cap) {
                    size_t ncap = cap ? cap * 2 : 16;
                    struct group *grown = realloc(groups, ncap * sizeof *groups);
                    if (!grown) {
                        m.oom = true;
                        break;
                    }
                    groups = grown;
                    cap = ncap;
                }
                g = &groups[ngroups++];
                memset(g, 0, sizeof *g);
                g->open_depth = g->branch_depth = depth;
                g->nested = depth > 0;
                g->branch_start = end;
                group_line(g, i, end);
                if (g->nested)
                    mask(&m, i, end);
            } else if (kind == DIR_ELSE && g) {
                if (branch_end(&m, g, &depth, i, end, false))
                    skipping = 1;
            } else if (kind == DIR_ENDIF && g) {
                branch_end(&m, g, &depth, i, end, true);
                ngroups--;
            } else if (depth > 0 || (in_init && kind != DIR_ELSE && kind != DIR_ENDIF)) {
                /* an #include or #define inside brackets, or inside a
                 * declaration at file scope (`static const char names[] =`
                 * `#define X(n) #n "\0"` `#include "names.h"` `;`): there
                 * an initializer that is all #include reads as a string
                 * the length of that line, so that the value's node
                 * covers it */
                mask(&m, i, end);
                if (depth == 0 && last == '=' && kind == DIR_OTHER && m.out && end - i >= 2 &&
                    !memchr(text + i, '\n', end - i)) {
                    m.out[i] = '"';
                    m.out[end - 1] = '"';
                    last = '"';
                }
            }
            i = end;
            continue;
        }
        if (skipping) {
            if (ch != '\n')
                mask(&m, i, i + 1);
        } else if (ch == '(' || ch == '[' || ch == '{') {
            depth++;
        } else if ((ch == ')' || ch == ']' || ch == '}') && depth > 0) {
            depth--;
            if (depth == 0)
                last = ch;
        } else if (depth == 0 && ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
            last = ch;
            if (ch == '=')
                in_init = true;
            else if (ch == ';')
                in_init = false;
        }
        if (ch == '\n')
            line_start = true;
        else if (ch != ' ' && ch != '\t' && ch != '\r')
            line_start = false;
        i++;
    }
    free(groups);
    if (m.oom) {
        free(m.out);
        return NULL;
    }
    return m.out;
}

enum grammar_directive grammar_next_structural(const char *text, size_t len, size_t end, size_t *pos, size_t *a,
                                               size_t *b)
{
    size_t i = *pos;
    if (end > len)
        end = len;
    while (i < end) {
        size_t next = skip_lexeme(text, len, i);
        if (next != i) {
            i = next;
            continue;
        }
        if (text[i] == '#') {
            size_t k = i;
            while (k > 0 && (text[k - 1] == ' ' || text[k - 1] == '\t'))
                k--;
            if (k == 0 || text[k - 1] == '\n') {
                size_t line_end;
                enum grammar_directive kind = directive_at(text, len, i, &line_end);
                if (kind != DIR_OTHER) {
                    *a = i;
                    *b = line_end;
                    *pos = line_end;
                    return kind;
                }
                i = line_end;
                continue;
            }
        }
        i++;
    }
    *pos = i;
    return DIR_OTHER;
}

bool grammar_is_container(TSNode n)
{
    const char *t = ts_node_type(n);
    return strcmp(t, "preproc_if") == 0 || strcmp(t, "preproc_ifdef") == 0 || strcmp(t, "preproc_else") == 0 ||
           strcmp(t, "preproc_elif") == 0 || strcmp(t, "preproc_elifdef") == 0;
}

/* How badly a tree read the top level (and top-level #if branches): the
 * bytes tree-sitter gave up on (ERROR nodes, where whole functions can
 * vanish), then the bytes of the nodes that hold an error (an unclosed
 * block holding the rest of the file is worse than a definition with an
 * unknown macro). Lower is better. */
static uint64_t top_errors_at(TSNode parent, unsigned depth)
{
    uint64_t bytes = 0, nodes = 0;
    if (depth > GRAMMAR_MAX_DEPTH)
        return 1; /* counted as an error: a reading is tried */
    TSTreeCursor cur = ts_tree_cursor_new(parent);
    if (ts_tree_cursor_goto_first_child(&cur)) {
        do {
            TSNode k = ts_tree_cursor_current_node(&cur);
            if (grammar_is_container(k)) {
                uint64_t inner = top_errors_at(k, depth + 1);
                bytes += inner >> 20;
                nodes += inner & 0xfffff;
            } else if (ts_node_has_error(k)) {
                nodes += ts_node_end_byte(k) - ts_node_start_byte(k);
                if (strcmp(ts_node_type(k), "ERROR") == 0)
                    bytes += ts_node_end_byte(k) - ts_node_start_byte(k);
            }
        } while (ts_tree_cursor_goto_next_sibling(&cur));
    }
    ts_tree_cursor_delete(&cur);
    return (bytes << 20) | (nodes < 0xfffff ? nodes : 0xfffff);
}

static uint64_t top_errors(TSNode parent)
{
    return top_errors_at(parent, 0);
}

/* Whether a top-level node read with an error holds a directive line (a
 * declaration whose initializer an #include writes). */
static bool directive_in_error(TSNode root, const char *text, size_t len)
{
    bool found = false;
    TSTreeCursor cur = ts_tree_cursor_new(root);
    if (ts_tree_cursor_goto_first_child(&cur)) {
        do {
            TSNode k = ts_tree_cursor_current_node(&cur);
            if (!ts_node_has_error(k) || grammar_is_container(k))
                continue;
            for (size_t i = ts_node_start_byte(k); !found && i + 1 < ts_node_end_byte(k) && i + 1 < len; i++)
                found = text[i] == '\n' && text[i + 1] == '#';
        } while (!found && ts_tree_cursor_goto_next_sibling(&cur));
    }
    ts_tree_cursor_delete(&cur);
    return found;
}

struct grammar_reading_cache {
    char *text[2];            /* the masked copy each reading parsed last */
    size_t len[2];
    TSTree *tree[2];          /* and its tree */
};

struct grammar_reading_cache *grammar_reading_cache_new(void)
{
    return calloc(1, sizeof(struct grammar_reading_cache));
}

void grammar_reading_cache_free(struct grammar_reading_cache *self)
{
    if (!self)
        return;
    for (int r = 0; r < 2; r++) {
        free(self->text[r]);
        if (self->tree[r])
            ts_tree_delete(self->tree[r]);
    }
    free(self);
}

/* Row and column of byte `n` of `s`. */
static TSPoint point_at(const char *s, size_t n)
{
    TSPoint pt = { 0, 0 };
    const char *line = s, *nl;

    while ((nl = memchr(line, '\n', n - (size_t)(line - s))) != NULL) {
        pt.row++;
        line = nl + 1;
    }
    pt.column = (uint32_t)(n - (size_t)(line - s));
    return pt;
}

/* Parses `copy` (`len` bytes) for reading `r`: incrementally from the
 * previous version's copy and tree when the cache has them (one edit: the
 * span between their common prefix and suffix), else from scratch. Then
 * the cache holds `copy` (taken) and a copy of the tree. */
static TSTree *parse_reading(TSParser *parser, struct grammar_reading_cache *cache, int r, char *copy, size_t len)
{
    TSTree *old = NULL, *tree;

    if (cache && cache->tree[r]) {
        const char *was = cache->text[r];
        size_t was_len = cache->len[r], pre = 0, suf = 0, most = was_len < len ? was_len : len;
        while (pre < most && was[pre] == copy[pre])
            pre++;
        while (suf < most - pre && was[was_len - 1 - suf] == copy[len - 1 - suf])
            suf++;
        old = ts_tree_copy(cache->tree[r]);
        if (old && (pre != was_len || was_len != len)) {
            TSInputEdit edit = {
                .start_byte = (uint32_t)pre,
                .old_end_byte = (uint32_t)(was_len - suf),
                .new_end_byte = (uint32_t)(len - suf),
                .start_point = point_at(copy, pre),
                .old_end_point = point_at(was, was_len - suf),
                .new_end_point = point_at(copy, len - suf),
            };
            ts_tree_edit(old, &edit);
        }
    }
    tree = ts_parser_parse_string(parser, old, copy, (uint32_t)len);
    if (old)
        ts_tree_delete(old);
    if (!cache) {
        free(copy);
        return tree;
    }
    free(cache->text[r]);
    if (cache->tree[r])
        ts_tree_delete(cache->tree[r]);
    cache->text[r] = copy;
    cache->len[r] = len;
    cache->tree[r] = tree ? ts_tree_copy(tree) : NULL;
    if (!cache->tree[r]) {
        free(cache->text[r]);
        cache->text[r] = NULL;
    }
    return tree;
}

TSTree *grammar_reading_cached(const char *text, size_t len, const TSTree *tree, bool last_branch,
                               struct grammar_reading_cache *cache)
{
    TSNode root = ts_tree_root_node(tree);
    uint64_t errors = ts_node_has_error(root) ? top_errors(root) : 0;
    if (!errors || len > UINT32_MAX)
        return NULL;
    /* tree-sitter misread the top level (this runs after every keystroke:
     * an error inside a definition, as an unknown HOT macro makes, costs a
     * scan of the text, and a parse only where the scan finds what to
     * blank): a comment inside a macro's body, an `extern "C" {` for C++
     * (the file reads as one unclosed block); and when it gave up on bytes
     * (ERROR nodes), the branches of a body that disagree with the others,
     * then directives inside an initializer or a call's arguments and
     * conditionals whose branches each open a brace (also where a node
     * read with an error holds a directive: an initializer an #include
     * writes). The reading with the fewest errors. A document's readings
     * are parsed incrementally from its previous version's (`cache`). */
    char *c_only = malloc(len + 1);
    if (c_only) {
        memcpy(c_only, text, len);
        c_only[len] = '\0';
        bool changed = grammar_mask_directive_comments(c_only, len);
        changed = grammar_mask_cplusplus(c_only, len) || changed;
        changed = ((errors >> 20) && grammar_mask_body_branches(c_only, len)) || changed;
        if (!changed) {
            free(c_only);
            c_only = NULL;
        }
    }
    bool directives = (errors >> 20) || directive_in_error(root, text, len);
    char *readings[2] = { c_only, directives ? grammar_mask_directives(c_only ? c_only : text, len, last_branch)
                                             : NULL };
    TSParser *parser = readings[0] || readings[1] ? ts_parser_new() : NULL;
    TSTree *best = NULL;
    for (int r = 0; r < 2; r++) {
        TSTree *other = NULL;
        if (readings[r] && parser && ts_parser_set_language(parser, grammar_language())) {
            other = parse_reading(parser, cache, r, readings[r], len); /* takes the copy */
            readings[r] = NULL;
        }
        free(readings[r]);
        uint64_t other_errors = other ? top_errors(ts_tree_root_node(other)) : errors;
        if (other && other_errors < errors) {
            if (best)
                ts_tree_delete(best);
            best = other;
            errors = other_errors;
        } else if (other) {
            ts_tree_delete(other);
        }
    }
    if (parser)
        ts_parser_delete(parser);
    return best;
}

TSTree *grammar_reading(const char *text, size_t len, const TSTree *tree, bool last_branch)
{
    return grammar_reading_cached(text, len, tree, last_branch, NULL);
}
