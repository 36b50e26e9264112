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
    for (size_t k = a; k < b && k < m->len; k++)
        if (m->text[k] != '\n')
            m->out[k] = ' ';
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
    char last = ';'; /* the last character of code at file scope */

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
            } else if (depth > 0 || (last != ';' && last != '}' && kind != DIR_ELSE && kind != DIR_ENDIF)) {
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

static bool is_container(TSNode n)
{
    const char *t = ts_node_type(n);
    return strcmp(t, "preproc_if") == 0 || strcmp(t, "preproc_ifdef") == 0 || strcmp(t, "preproc_else") == 0 ||
           strcmp(t, "preproc_elif") == 0 || strcmp(t, "preproc_elifdef") == 0;
}

/* How badly a tree read the top level (and top-level #if branches): the
 * bytes tree-sitter gave up on (ERROR nodes, where whole functions can
 * vanish), then how many nodes hold an error. Lower is better. */
static uint64_t top_errors(TSNode parent)
{
    uint64_t bytes = 0, nodes = 0;
    TSTreeCursor cur = ts_tree_cursor_new(parent);
    if (ts_tree_cursor_goto_first_child(&cur)) {
        do {
            TSNode k = ts_tree_cursor_current_node(&cur);
            if (is_container(k)) {
                uint64_t inner = top_errors(k);
                bytes += inner >> 20;
                nodes += inner & 0xfffff;
            } else if (ts_node_has_error(k)) {
                nodes++;
                if (strcmp(ts_node_type(k), "ERROR") == 0)
                    bytes += ts_node_end_byte(k) - ts_node_start_byte(k);
            }
        } while (ts_tree_cursor_goto_next_sibling(&cur));
    }
    ts_tree_cursor_delete(&cur);
    return (bytes << 20) | (nodes < 0xfffff ? nodes : 0xfffff);
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
            if (!ts_node_has_error(k) || is_container(k))
                continue;
            for (size_t i = ts_node_start_byte(k); !found && i + 1 < ts_node_end_byte(k) && i + 1 < len; i++)
                found = text[i] == '\n' && text[i + 1] == '#';
        } while (!found && ts_tree_cursor_goto_next_sibling(&cur));
    }
    ts_tree_cursor_delete(&cur);
    return found;
}

TSTree *grammar_reading(const char *text, size_t len, const TSTree *tree, bool last_branch)
{
    TSNode root = ts_tree_root_node(tree);
    uint64_t errors = ts_node_has_error(root) ? top_errors(root) : 0;
    if (!errors || len > UINT32_MAX || (!(errors >> 20) && !directive_in_error(root, text, len)))
        return NULL;
    /* tree-sitter gave up on bytes at the top level (this runs after
     * every keystroke: an error inside a definition, as an unknown HOT
     * macro makes, costs nothing more) */
    char *copy = grammar_mask_directives(text, len, last_branch);
    TSParser *parser = copy ? ts_parser_new() : NULL;
    TSTree *other = NULL;
    if (parser && ts_parser_set_language(parser, grammar_language()))
        other = ts_parser_parse_string(parser, NULL, copy, (uint32_t)len);
    free(copy);
    if (parser)
        ts_parser_delete(parser);
    if (other && top_errors(ts_tree_root_node(other)) >= errors) {
        ts_tree_delete(other);
        other = NULL;
    }
    return other;
}
