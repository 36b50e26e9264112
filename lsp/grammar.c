/* The one place that names the grammar symbol, so that a change of grammar
 * (or a second language) touches nothing else, and the corrections of its
 * reading that the analysis and the patch builder share. */
#include "grammar.h"

#include <stdbool.h>
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
            for (; !keep && i < end; i++)
                if (text[i] != '\n' && text[i] != ' ') {
                    text[i] = ' ';
                    changed = true;
                }
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
        for (; blank_depth && i < next; i++)
            if (text[i] != '\n' && text[i] != ' ') {
                text[i] = ' ';
                changed = true;
            }
        i = next;
    }
    return changed;
}

uint32_t grammar_function_end(TSNode def, const char *text, size_t len)
{
    TSNode body = ts_node_child_by_field_name(def, "body", 4);
    uint32_t end = ts_node_end_byte(def);
    size_t i;
    int depth = 0;
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
             * #define is not the body's */
            for (; i < len && text[i] != '\n'; i++)
                if (text[i] == '\\' && i + 1 < len)
                    i++;
            continue;
        } else if (ch == '{') {
            depth++;
        } else if (ch == '}' && --depth == 0) {
            return i + 1 > end ? (uint32_t)(i + 1) : end;
        }
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
            line_start = false;
        i++;
    }
    return end; /* unbalanced (braces split across #if branches): tree-sitter's */
}

char *grammar_mask_nested_directives(const char *text, size_t len)
{
    char *out = NULL;
    size_t i = 0;
    int depth = 0;
    bool line_start = true;

    while (i < len) {
        size_t next = skip_lexeme(text, len, i);
        char ch = text[i];
        if (next != i) {
            i = next;
            line_start = false;
            continue;
        }
        if (ch == '#' && line_start) {
            size_t start = i;
            for (; i < len && text[i] != '\n'; i++)
                if (text[i] == '\\' && i + 1 < len)
                    i++;
            if (depth > 0) {
                if (!out) {
                    if (!(out = malloc(len + 1)))
                        return NULL;
                    memcpy(out, text, len);
                    out[len] = '\0';
                }
                for (size_t k = start; k < i; k++)
                    if (text[k] != '\n')
                        out[k] = ' ';
            }
            continue;
        }
        if (ch == '\n')
            line_start = true;
        else if (ch != ' ' && ch != '\t' && ch != '\r')
            line_start = false;
        if (ch == '(' || ch == '[' || ch == '{')
            depth++;
        else if ((ch == ')' || ch == ']' || ch == '}') && depth > 0)
            depth--;
        i++;
    }
    return out;
}
