/* The documentation against the tree it describes. Each test fails when the
 * docs drift from the code, and says exactly what is missing where:
 *
 *   - docs/architecture.md has a code-map line for every source file, and
 *     every file it names exists; the invariants it states that a grep can
 *     check hold in the code;
 *   - every hot/... and hotc/... method named in docs/protocol.md has a schema
 *     (requests a result schema too), every schema a method in the doc, and
 *     the doc's {params} shapes have the schemas' fields;
 *   - every schema file is valid JSON Schema 2020-12
 *     (tools/schema_check.py --check-schemas, Debian's python3-jsonschema);
 *   - the configuration table of docs/protocol.md has exactly the keys (and
 *     the defaults) of schema/config.schema.json;
 *   - links, repository paths and `make` targets named in README.md and
 *     docs/ exist. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <glob.h>
#include <jansson.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "run.h"

/* ---------------------------------------------------------------- helpers */

/* A growable list of strings (owned). */
struct list {
    char **v;
    size_t n, cap;
};

static void list_addn(struct list *l, const char *s, size_t n)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        cr_assert_not_null(l->v);
    }
    l->v[l->n] = strndup(s, n);
    cr_assert_not_null(l->v[l->n]);
    l->n++;
}

static void list_add(struct list *l, const char *s)
{
    list_addn(l, s, strlen(s));
}

static int list_has(const struct list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

static void list_release(struct list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* The problems one test found: one line each, reported all at once. */
struct report {
    char *buf;
    size_t len, cap;
    size_t count;
};

__attribute__((format(printf, 2, 3))) static void report_add(struct report *r, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t n = strlen(line);
    if (r->len + n + 8 > r->cap) {
        r->cap = (r->len + n + 8) * 2;
        r->buf = realloc(r->buf, r->cap);
        cr_assert_not_null(r->buf);
    }
    r->len += (size_t)sprintf(r->buf + r->len, "\n  - %s", line);
    r->count++;
}

/* Frees the report, then fails with every problem in it (if any). */
static void report_finish(struct report *r, const char *what)
{
    static char msg[32768];
    snprintf(msg, sizeof msg, "%s (%zu):%s", what, r->count, r->buf ? r->buf : "");
    size_t count = r->count;
    free(r->buf);
    memset(r, 0, sizeof *r);
    cr_assert_eq(count, 0, "%s", msg);
}

/* The whole content of a file of the source tree (malloc'd), or NULL. */
static char *slurp(const char *rel)
{
    return test_slurp(test_source_path(rel), NULL);
}

static char *must_slurp(const char *rel)
{
    char *text = slurp(rel);
    cr_assert_not_null(text, "cannot read %s", test_source_path(rel));
    return text;
}

/* Adds the source-tree paths matching `pattern` (glob(3) with braces),
 * relative to the source directory, to `out`. Returns how many matched. */
static size_t expand(const char *pattern, struct list *out)
{
    char root[4096];
    snprintf(root, sizeof root, "%s", test_source_path(""));
    size_t rootlen = strlen(root);
    char full[4096];
    snprintf(full, sizeof full, "%s%s", root, pattern);
    glob_t g;
    if (glob(full, GLOB_BRACE, NULL, &g) != 0)
        return 0;
    size_t n = g.gl_pathc;
    for (size_t i = 0; i < g.gl_pathc; i++)
        if (out)
            list_add(out, g.gl_pathv[i] + rootlen);
    globfree(&g);
    return n;
}

static int line_of(const char *text, const char *at)
{
    int line = 1;
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    return line;
}

/* ------------------------------------------------------- markdown scanning */

/* Calls fn on every inline code span of a Markdown text (outside fenced
 * blocks; spans may cross a line break but not a blank line) and, with
 * fenced = 1, on every fenced code block's content. */
typedef void (*code_fn)(const char *text, const char *span, size_t len, int fenced, void *data);

static int blank_line_at(const char *p)
{
    /* p is just after a '\n' */
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\n' || *p == 0;
}

static void each_code(const char *text, code_fn fn, void *data)
{
    const char *p = text;
    while (*p) {
        int at_line_start = p == text || p[-1] == '\n';
        if (at_line_start && strncmp(p, "```", 3) == 0) {
            const char *body = strchr(p, '\n');
            if (!body)
                return;
            body++;
            const char *end = body;
            while (*end && !(strncmp(end, "```", 3) == 0 && (end == body || end[-1] == '\n')))
                end++;
            fn(text, body, (size_t)(end - body), 1, data);
            p = *end ? end + 3 : end;
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (*p != '`') {
            p++;
            continue;
        }
        size_t ticks = 0;
        while (p[ticks] == '`')
            ticks++;
        const char *start = p + ticks, *q = start;
        const char *close = NULL;
        while (*q) {
            if (*q == '\n' && blank_line_at(q + 1))
                break;
            if (*q == '`') {
                size_t k = 0;
                while (q[k] == '`')
                    k++;
                if (k == ticks) {
                    close = q;
                    break;
                }
                q += k;
                continue;
            }
            q++;
        }
        if (!close) {
            p = start;
            continue;
        }
        fn(text, start, (size_t)(close - start), 0, data);
        p = close + ticks;
    }
}

/* The Markdown files whose links, paths and make targets are checked. */
static void doc_files(struct list *out)
{
    list_add(out, "README.md");
    expand("docs/*.md", out);
    expand("editors/vscode/README.md", out);
}

/* ------------------------------------------------------------ source text */

/* `src` with C comments replaced by spaces (strings and characters kept),
 * so that a grep of the code does not trip over prose. malloc'd. */
static char *strip_comments(const char *src)
{
    char *out = strdup(src);
    cr_assert_not_null(out);
    char *p = out;
    while (*p) {
        if (*p == '"' || *p == '\'') {
            char q = *p++;
            while (*p && *p != q) {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
            if (*p)
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            char *end = strstr(p + 2, "*/");
            char *stop = end ? end + 2 : p + strlen(p);
            for (; p < stop; p++)
                if (*p != '\n')
                    *p = ' ';
        } else if (p[0] == '/' && p[1] == '/') {
            for (; *p && *p != '\n'; p++)
                *p = ' ';
        } else {
            p++;
        }
    }
    return out;
}

/* Reports each match of the extended regex `re` in the code (comments
 * stripped) of the files matching `pattern`, except the files in `allowed`
 * (NULL-terminated), as "FILE:LINE: `match` <why>". */
static void forbid(struct report *r, const char *pattern, const char *const *allowed, const char *re,
                   int icase, const char *why)
{
    struct list files = {0};
    regex_t rx;
    cr_assert_eq(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE | (icase ? REG_ICASE : 0)), 0, "bad regex %s", re);
    expand(pattern, &files);
    for (size_t i = 0; i < files.n; i++) {
        int skip = 0;
        for (size_t a = 0; allowed && allowed[a]; a++)
            skip |= strcmp(files.v[i], allowed[a]) == 0;
        if (skip)
            continue;
        char *raw = must_slurp(files.v[i]);
        char *code = strip_comments(raw);
        regmatch_t m;
        const char *p = code;
        while (regexec(&rx, p, 1, &m, p == code ? 0 : REG_NOTBOL) == 0) {
            report_add(r, "%s:%d: `%.*s` %s", files.v[i], line_of(code, p + m.rm_so), (int)(m.rm_eo - m.rm_so),
                       p + m.rm_so, why);
            p += m.rm_eo > 0 ? m.rm_eo : 1;
        }
        free(code);
        free(raw);
    }
    regfree(&rx);
    list_release(&files);
}

/* ------------------------------------------------------------ architecture */

static int path_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '/' || c == '.' || c == '-';
}

/* Whether `doc` names `path`: literally (`lsp/server.c`), or with its
 * extension in braces (`lsp/server.{c,h}`). */
static int names_file(const char *doc, const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - path) : strlen(path);
    const char *ext = path + stem + (path[stem] == '.');
    for (const char *p = strstr(doc, path); p; p = strstr(p + 1, path)) {
        char after = p[strlen(path)];
        if ((p == doc || !path_char(p[-1])) && !isalnum((unsigned char)after) && after != '_')
            return 1;
    }
    if (!path[stem])
        return 0;
    for (const char *brace = doc; (brace = strstr(brace, ".{")) != NULL; brace++) {
        const char *p = brace - stem;
        if ((size_t)(brace - doc) < stem || strncmp(p, path, stem) != 0 || (p > doc && path_char(p[-1])))
            continue;
        const char *q = brace + 2, *end = strchr(q, '}');
        while (end && q < end) {
            size_t n = strcspn(q, ",}");
            if (n == strlen(ext) && strncmp(q, ext, n) == 0)
                return 1;
            q += n + 1;
        }
    }
    return 0;
}

/* What the code map must cover: every file of these patterns. */
static const char *const code_map_patterns[] = {
    "Makefile",          "lsp/*.[ch]",         "lsp/grammar/package.json", "runtime/*.[ch]",
    "runtime/*.in",      "tests/support/*.[ch]", "demo/*.c",               "bench/*",
    "tools/*",           "mk/*.mk",            "editors/vscode/src/*.ts", "editors/vscode/package.json",
    "editors/nvim/lua/hotc/*.lua", "editors/nvim/plugin/*.lua", "editors/nvim/doc/*.txt",
    "examples/*/*.c",    "examples/common.mk", ".ci/run",            "fuzz/*.c",
};

Test(docs, architecture_code_map_has_a_line_for_every_file)
{
    char *doc = must_slurp("docs/architecture.md");
    struct report r = {0};
    struct list files = {0};
    for (size_t i = 0; i < sizeof code_map_patterns / sizeof *code_map_patterns; i++)
        expand(code_map_patterns[i], &files);
    for (size_t i = 0; i < files.n; i++)
        if (!names_file(doc, files.v[i]))
            report_add(&r, "docs/architecture.md has no code-map line for %s: add one saying what it owns",
                       files.v[i]);
    list_release(&files);
    free(doc);
    report_finish(&r, "files missing from the code map");
}

Test(docs, architecture_code_map_names_only_files_that_exist)
{
    char *doc = must_slurp("docs/architecture.md");
    struct report r = {0};
    for (const char *p = doc; (p = strstr(p, "\n- `")) != NULL; p++) {
        const char *start = p + 4, *end = strchr(start, '`');
        if (!end || strcspn(start, "\n <") < (size_t)(end - start))
            continue; /* not one path: a placeholder such as tests/test_<module>.c */
        char name[512];
        snprintf(name, sizeof name, "%.*s", (int)(end - start), start);
        if (expand(name, NULL) == 0)
            report_add(&r, "docs/architecture.md:%d names `%s`, which is not in the repository",
                       line_of(doc, start), name);
    }
    free(doc);
    report_finish(&r, "code-map lines for files that do not exist");
}

/* The name of the function whose definition `at` is in (or on the first
 * line of), in `code` with comments stripped: the identifier before the
 * first '(' of the last line before `at` that starts in column 0 with a
 * letter and has a '('. Bodies are indented, so that is the definition. */
static void enclosing_function(const char *code, const char *at, char *name, size_t size)
{
    const char *line = at;
    *name = '\0';
    for (;;) {
        while (line > code && line[-1] != '\n')
            line--;
        const char *eol = strchr(line, '\n');
        const char *paren = strchr(line, '(');
        if ((isalpha((unsigned char)*line) || *line == '_') && paren && (!eol || paren < eol)) {
            const char *e = paren;
            while (e > line && isspace((unsigned char)e[-1]))
                e--;
            const char *b = e;
            while (b > line && (isalnum((unsigned char)b[-1]) || b[-1] == '_'))
                b--;
            snprintf(name, size, "%.*s", (int)(e - b), b);
            return;
        }
        if (line == code)
            return;
        line--;
    }
}

static int in_list(const char *const *list, const char *name)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

/* Reports each match of `re` in `file` (comments stripped) that is not in
 * the body of one of the functions `allowed` (NULL-terminated). */
static void confine(struct report *r, const char *file, const char *const *allowed, const char *re, const char *why)
{
    regex_t rx;
    cr_assert_eq(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE), 0, "bad regex %s", re);
    char *raw = must_slurp(file);
    char *code = strip_comments(raw);
    regmatch_t m;
    const char *p = code;
    while (regexec(&rx, p, 1, &m, p == code ? 0 : REG_NOTBOL) == 0) {
        char fn[128];
        enclosing_function(code, p + m.rm_eo - 1, fn, sizeof fn);
        if (!in_list(allowed, fn))
            report_add(r, "%s:%d: `%.*s` in %s() %s", file, line_of(code, p + m.rm_so), (int)(m.rm_eo - m.rm_so),
                       p + m.rm_so, *fn ? fn : "?", why);
        p += m.rm_eo > 0 ? m.rm_eo : 1;
    }
    free(code);
    free(raw);
    regfree(&rx);
}

/* File system calls that block the calling thread. */
#define BLOCKING_FS                                                                                              \
    "(^|[^A-Za-z0-9_.>])((f?open|creat|f?read|f?write|fgets|getline|p(read|write)|f?stat|lstat|access|unlink|"   \
    "rmdir|mkdir|mkdtemp|rename|realpath|opendir|json_load_file|json_dump_file|build_db_load|build_db_find)"     \
    "[ \t]*\\(|uv_fs_[a-z_]+[ \t]*\\([ \t]*NULL)"

/* The invariants of docs/architecture.md that a grep of the code can check. */
Test(docs, architecture_invariants_hold_in_the_code)
{
    struct report r = {0};
    static const char *const main_only[] = {"lsp/main.c", NULL};
    static const char *const protocol_only[] = {"lsp/protocol.c", NULL};
    static const char *const session_only[] = {"runtime/session.c", "runtime/session_requests.c",
                                                "runtime/session_impl.h", "runtime/handover.c", NULL};

    forbid(&r, "lsp/{analysis,analysis_*,expand,patch,patch_*}.[ch]", NULL,
           "(^|[^A-Za-z0-9_])(f?open|f?read|f?write|f?printf|puts|fputs|putchar|f?close|stat|getenv|"
           "popen|system|uv_[a-z_]+|log_[a-z_]+|opendir|unlink|mkdir)[ \t]*\\(",
           0, "is I/O; the invariant says analysis, expand and patch do no I/O (pure: text in, text out)");
    forbid(&r, "lsp/*.c", main_only,
           "(^|[^A-Za-z0-9_])(printf|puts|putchar|perror)[ \t]*\\(|[^A-Za-z0-9_](stdout|STDOUT_FILENO)[^A-Za-z0-9_]",
           0, "may write to stdout; the invariant says the stdout of hotc lsp carries protocol only");
    forbid(&r, "lsp/*.c", NULL, "UV_INHERIT_(FD|STREAM)", 0,
           "lets a child process inherit a descriptor (its stdout would corrupt the protocol stream)");
    forbid(&r, "lsp/*.c", protocol_only, "file://|utf-?16", 1,
           "knows URIs or UTF-16; the invariant says only lsp/protocol.c does");
    /* LSP's own field names; hotc's shapes (settings, command arguments,
     * hotc/... and hot/... messages) do not use these. build.c reads
     * compile_commands.json ("command", "arguments"), analysis.c and
     * analysis_types.c name tree-sitter fields. */
    static const char *const lsp_json_owners[] = {"lsp/protocol.c", "lsp/build.c", "lsp/analysis.c",
                                                  "lsp/analysis_types.c", NULL};
    forbid(&r, "lsp/*.c", lsp_json_owners,
           "\"(textDocument|contentChanges|capabilities|initializationOptions|rootUri|rootPath|workspaceFolders|"
           "positionEncodings?|position|range|arguments|command|settings|relatedInformation|diagnostics|severity|"
           "contents|workDoneProgress|refreshSupport)\"",
           0, "is an LSP field; the invariant says only lsp/protocol.c reads or builds LSP JSON shapes");
    forbid(&r, "lsp/server.c", NULL, "json_unpack|json_pack", 0,
           "reads or builds JSON shapes; the invariant says lsp/server.c deals in the C values of lsp/protocol.h");
    /* The loop never blocks on a file: only libuv workers, start-up, exit
     * and the opt-in trace do blocking file calls. */
    forbid(&r, "lsp/{server,protocol,jsonrpc,state,docstore,analysis,analysis_*,expand,patch,patch_*,frame}.c",
           NULL, BLOCKING_FS, 0,
           "blocks the loop on a file; the invariant says files go through uv_fs_* or libuv workers");
    /* the pipeline's files (lsp/pipeline_impl.h); its shared internals
     * carry the pipeline__ prefix */
    static const char *const pipeline_files[] = {"lsp/pipeline.c", "lsp/jobs.c", "lsp/refusals.c", "lsp/saves.c",
                                                 "lsp/programs.c", "lsp/handover.c", NULL};
    static const char *const pipeline_blocking[] = {
        "encode_library", "prepare_work",                    /* uv_queue_work entry points */
        "scan_prepare_work", "scan_read_work", "scan_cleanup_work",
        "sweep_work",                                        /* start-up: other servers' stale patch folders */
        "write_file", "on_path", "pipeline__compile_probe_run", "pipeline__slurp", /* called only from those */
        "hotc_runs", "other_hotc_runs",
        "hook_initialized",                                   /* start-up: the private temporary directory */
        "remove_tmpdir",                                      /* exit: after the loop ended */
        NULL};
    static const char *const worker_callers[] = {"encode_library", "prepare_work", "write_file", "on_path",
                                                 "pipeline__compile_probe_run", "scan_prepare_work", "scan_read_work",
                                                 "pipeline__slurp", "sweep_work", "hotc_runs", "other_hotc_runs",
                                                 NULL};
    for (const char *const *f = pipeline_files; *f; f++) {
        confine(&r, *f, pipeline_blocking, BLOCKING_FS,
                "blocks the loop on a file; the invariant says files go through uv_fs_* or libuv workers");
        confine(&r, *f, worker_callers,
                "(^|[^A-Za-z0-9_])(write_file|on_path|pipeline__compile_probe_run|encode_library|prepare_work|"
                "pipeline__slurp|hotc_runs|other_hotc_runs)"
                "[ \t]*\\(",
                "does blocking file I/O and is called outside a libuv worker; the invariant says the loop never "
                "blocks on a file");
    }
    static const char *const preamble_blocking[] = {
        "write_header_work", "read_deps_work", /* uv_queue_work entry points */
        "preamble_plan_work",                  /* called from the pipeline's prepare_work */
        "write_all",                           /* called only from it */
        NULL};
    confine(&r, "lsp/preamble.c", preamble_blocking, BLOCKING_FS,
            "blocks the loop on a file; the invariant says files go through uv_fs_* or libuv workers");
    static const char *const launcher_blocking[] = {"run_lookup_work", "rebuild_work", /* uv_queue_work entry points */
                                                    "scan_dir", "hot_executable",  /* called only from those */
                                                    NULL};
    confine(&r, "lsp/launcher.c", launcher_blocking, BLOCKING_FS,
            "blocks the loop on a file; the invariant says files go through uv_fs_* or libuv workers");
    static const char *const scan_callers[] = {"run_lookup_work", "scan_dir", "hot_executable", NULL};
    confine(&r, "lsp/launcher.c", scan_callers, "(^|[^A-Za-z0-9_])(scan_dir|hot_executable)[ \t]*\\(",
            "reads files and is called outside a libuv worker; the invariant says the loop never blocks on a file");
    static const char *const symbolize_callers[] = {"crash_lookup_work", NULL}; /* reads ELF and DWARF */
    for (const char *const *f = pipeline_files; *f; f++)
        confine(&r, *f, symbolize_callers, "(^|[^A-Za-z0-9_])symbolize[ \t]*\\(",
                "reads a file and is called outside a libuv worker; the invariant says the loop never blocks on a "
                "file");
    static const char *const remove_tmpdir_callers[] = {"remove_tmpdir", "pipeline_free", NULL};
    confine(&r, "lsp/pipeline.c", remove_tmpdir_callers, "(^|[^A-Za-z0-9_])remove_tmpdir[ \t]*\\(",
            "removes files on the loop; the invariant allows it only after the loop ended (pipeline_free)");
    static const char *const link_blocking[] = {
        "private_dir", "write_endpoint", "link_open", /* start-up (initialized) */
        "make_token",                                 /* the first TCP listen: 16 bytes of /dev/urandom */
        "link_close",                                 /* exit: the endpoint file and socket */
        NULL};
    confine(&r, "lsp/link.c", link_blocking, BLOCKING_FS,
            "blocks the loop on a file; the invariant says files go through uv_fs_* or libuv workers");
    forbid(&r, "lsp/frame.[ch]", NULL, "#include[ \t]*[<\"](jansson|uv|protocol|jsonrpc|server)\\.h|json_[a-z_]+\\(",
           0, "in the framing; the invariant says frame knows nothing of JSON, LSP or libuv");
    forbid(&r, "runtime/*.c", NULL,
           "(^|[^A-Za-z0-9_])(printf|puts|putchar|perror|fprintf)[ \t]*\\(|[^A-Za-z0-9_](stdout|stderr|STDOUT_FILENO|"
           "STDERR_FILENO)[^A-Za-z0-9_]",
           0, "writes to the program's terminal; the invariant says libhotc reports to the server (hot/log), never "
              "to the program's stdout or stderr");
    forbid(&r, "runtime/*.[ch]", session_only, "#include[ \t]*<jansson\\.h>|json_[a-z_]+\\(", 0,
           "uses JSON; the invariant says only the session (runtime/session.c, session_requests.c, "
           "session_impl.h; and runtime/handover.c, for the state it "
           "hands over) knows the server's messages");
    /* HOT_API marks what libhotc exports (-fvisibility=hidden otherwise) */
    struct list rt = {0};
    expand("runtime/*.c", &rt);
    for (size_t i = 0; i < rt.n; i++) {
        char *raw = must_slurp(rt.v[i]), *code = strip_comments(raw);
        for (const char *p = code; (p = strstr(p, "HOT_API")) != NULL; p += 7) {
            const char *paren = strchr(p, '('), *e = paren;
            if (!paren)
                break;
            while (e > p && isspace((unsigned char)e[-1]))
                e--;
            const char *b = e;
            while (b > p && (isalnum((unsigned char)b[-1]) || b[-1] == '_'))
                b--;
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(e - b), b);
            if (strncmp(b, "hot_", 4) != 0 && !test_libhotc_interposer(name))
                report_add(&r, "%s:%d: `%s` is exported (HOT_API) but not hot_*; the invariant says libhotc "
                           "exports only hot_* and the crash signals' sigaction/signal", rt.v[i],
                           line_of(code, p), name);
        }
        free(code);
        free(raw);
    }
    list_release(&rt);
    report_finish(&r, "invariants of docs/architecture.md broken");
}

/* ------------------------------------------------------ protocol and schema */

/* The method of a schema file: "schema/runtime/hot-attach.result.schema.json"
 * gives "hot/attach" and result = 1; NULL for a file that is not per method
 * (error.schema.json). malloc'd. */
static char *schema_method(const char *file, int *result)
{
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    size_t n = strlen(base);
    const char *suffix = ".schema.json";
    *result = 0;
    if (n <= strlen(suffix) || strcmp(base + n - strlen(suffix), suffix) != 0)
        return NULL;
    n -= strlen(suffix);
    if (n > 7 && strncmp(base + n - 7, ".result", 7) == 0) {
        n -= 7;
        *result = 1;
    }
    char *m = strndup(base, n);
    char *dash = strchr(m, '-');
    if (!dash) {
        free(m);
        return NULL;
    }
    *dash = '/';
    return m;
}

/* The schema file of a method: hot/x in schema/runtime, hotc/x in
 * schema/editor. */
static void method_schema(const char *method, int result, char *out, size_t size)
{
    const char *slash = strchr(method, '/');
    int editor = strncmp(method, "hotc/", 5) == 0;
    snprintf(out, size, "schema/%s/%.*s-%s%s.schema.json", editor ? "editor" : "runtime", (int)(slash - method),
             method, slash + 1, result ? ".result" : "");
}

struct methods {
    struct list names;    /* every hot/... or hotc/... named in the doc */
    struct list requests; /* those the table calls requests */
    struct list shapes;   /* "method\tresult?\t{shape}" from the doc */
};

static int is_method(const char *s, size_t n)
{
    size_t p = n > 4 && strncmp(s, "hot/", 4) == 0 ? 4 : n > 5 && strncmp(s, "hotc/", 5) == 0 ? 5 : 0;
    if (!p)
        return 0;
    for (size_t i = p; i < n; i++)
        if (!isalpha((unsigned char)s[i]))
            return 0;
    return 1;
}

static void collect_method(const char *text, const char *span, size_t len, int fenced, void *data)
{
    struct methods *m = data;
    (void)text;
    if (fenced || !is_method(span, len))
        return;
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)len, span);
    if (!list_has(&m->names, name))
        list_add(&m->names, name);
}

/* The first code span in [p, end) that starts with '{', or NULL. */
static const char *shape_span(const char *p, const char *end, size_t *len)
{
    for (; p && p < end; p++) {
        if (*p != '`')
            continue;
        const char *close = memchr(p + 1, '`', (size_t)(end - p - 1));
        if (!close)
            return NULL;
        if (p[1] == '{') {
            *len = (size_t)(close - p - 1);
            return p + 1;
        }
        p = close;
    }
    return NULL;
}

/* Reads the protocol doc: the methods, which are requests (the tables'
 * "kind" column), and the {params} -> {result} shapes given for them (the
 * tables' rows; the bullets "notification `hotc/x` ...: `{...}`"). */
static void read_methods(const char *doc, struct methods *m)
{
    each_code(doc, collect_method, m);
    for (const char *line = doc; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *eol = strchr(line, '\n') ? strchr(line, '\n') : line + strlen(line);
        /* a table row whose first cell is one method */
        if (strncmp(line, "| `", 3) == 0) {
            const char *s = line + 3, *e = memchr(s, '`', (size_t)(eol - s));
            if (!e || !is_method(s, (size_t)(e - s)))
                continue;
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(e - s), s);
            const char *kind = strstr(line, "| request |");
            if (kind && kind < eol && !list_has(&m->requests, name))
                list_add(&m->requests, name);
            size_t n1 = 0, n2 = 0;
            const char *params = shape_span(e + 1, eol, &n1);
            const char *arrow = params ? strstr(params + n1, "→") : NULL;
            const char *result = arrow && arrow < eol ? shape_span(arrow, eol, &n2) : NULL;
            if (result && memchr(params + n1, '|', (size_t)(result - params - n1)))
                result = NULL; /* in another cell */
            char buf[1024];
            if (params) {
                snprintf(buf, sizeof buf, "%s\t\t%.*s", name, (int)n1, params);
                list_add(&m->shapes, buf);
            }
            if (result) {
                snprintf(buf, sizeof buf, "%s\tresult\t%.*s", name, (int)n2, result);
                list_add(&m->shapes, buf);
            }
            continue;
        }
        /* a bullet about a notification: "- Custom notification `hotc/x` ...: `{...}`" */
        if (strncmp(line, "- ", 2) == 0 && strstr(line, "notification `") && strstr(line, "notification `") < eol) {
            const char *s = strstr(line, "notification `") + 14, *e = strchr(s, '`');
            if (!e || !is_method(s, (size_t)(e - s)))
                continue;
            const char *end = line + 2;
            while (*end && !(end[0] == '\n' && (end[1] == '-' || end[1] == '\n' || end[1] == '#')))
                end++;
            size_t n = 0;
            const char *params = shape_span(e + 1, end, &n);
            if (params) {
                char buf[1024];
                snprintf(buf, sizeof buf, "%.*s\t\t%.*s", (int)(e - s), s, (int)n, params);
                list_add(&m->shapes, buf);
            }
        }
    }
}

static void methods_release(struct methods *m)
{
    list_release(&m->names);
    list_release(&m->requests);
    list_release(&m->shapes);
}

static json_t *load_schema(const char *rel)
{
    json_error_t err;
    json_t *s = json_load_file(test_source_path(rel), 0, &err);
    return s;
}

Test(docs, every_method_in_protocol_md_has_a_schema_and_every_schema_a_method)
{
    char *doc = must_slurp("docs/protocol.md");
    struct methods m = {0};
    struct report r = {0};
    struct list files = {0};
    read_methods(doc, &m);
    cr_assert_gt(m.names.n, 0, "docs/protocol.md names no hot/... or hotc/... method");

    for (size_t i = 0; i < m.names.n; i++) {
        char path[512];
        for (int result = 0; result <= list_has(&m.requests, m.names.v[i]); result++) {
            method_schema(m.names.v[i], result, path, sizeof path);
            if (expand(path, NULL) == 0)
                report_add(&r, "docs/protocol.md names %s%s, but %s does not exist", m.names.v[i],
                           result ? " (a request)" : "", path);
        }
    }

    expand("schema/{runtime,editor}/*.json", &files);
    for (size_t i = 0; i < files.n; i++) {
        int result = 0;
        char *method = schema_method(files.v[i], &result);
        if (!method) {
            if (!strstr(doc, files.v[i]))
                report_add(&r, "%s is not a per-method schema and docs/protocol.md does not mention it", files.v[i]);
            continue;
        }
        if (!list_has(&m.names, method))
            report_add(&r, "%s: its method %s is not in docs/protocol.md", files.v[i], method);
        else if (result && !list_has(&m.requests, method))
            report_add(&r, "%s: a result schema, but docs/protocol.md's table does not list %s as a request",
                       files.v[i], method);
        /* runtime schemas are whole messages: check method and id against the doc */
        json_t *s = load_schema(files.v[i]);
        json_t *props = json_object_get(s, "properties");
        const char *constant = json_string_value(json_object_get(json_object_get(props, "method"), "const"));
        if (!result && json_object_get(props, "method") && (!constant || strcmp(constant, method) != 0))
            report_add(&r, "%s: \"method\" is not the constant \"%s\"", files.v[i], method);
        if (!result && json_object_get(props, "method") && list_has(&m.names, method)) {
            int has_id = json_object_get(props, "id") != NULL;
            int request = list_has(&m.requests, method);
            if (has_id != request)
                report_add(&r, "%s: docs/protocol.md says %s is a %s, the schema %s an \"id\"", files.v[i], method,
                           request ? "request" : "notification", has_id ? "has" : "has no");
        }
        json_decref(s);
        free(method);
    }
    list_release(&files);
    methods_release(&m);
    free(doc);
    report_finish(&r, "docs/protocol.md and schema/ disagree");
}

/* The top-level keys of a shape "{a, b?, c:[{...}], d?: {...}}" as
 * "a", "b?", ... in `out`. */
static void shape_keys(const char *shape, size_t len, struct list *out)
{
    const char *p = shape + 1, *end = shape + len;
    int depth = 0;
    const char *item = p;
    for (; p <= end; p++) {
        char c = p < end ? *p : ',';
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && depth > 0)
            depth--;
        else if ((c == ',' || c == '}') && depth == 0) {
            while (item < p && isspace((unsigned char)*item))
                item++;
            size_t k = 0;
            while (item + k < p && (isalnum((unsigned char)item[k]) || item[k] == '_'))
                k++;
            if (k > 0) {
                char key[128];
                snprintf(key, sizeof key, "%.*s%s", (int)k, item, item[k] == '?' ? "?" : "");
                list_add(out, key);
            }
            item = p + 1;
            if (c == '}')
                break;
        }
    }
}

static int names_has(json_t *names, const char *key)
{
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v) if (json_is_string(v) && strcmp(json_string_value(v), key) == 0) return 1;
    return 0;
}

/* The fields of an object schema, alternatives (oneOf, anyOf) included:
 * every property of any of them into `props`; into `required` the names
 * required by the schema itself or by every alternative. */
static void body_fields(json_t *body, json_t *props, json_t *required)
{
    json_object_update(props, json_object_get(body, "properties"));
    json_array_extend(required, json_object_get(body, "required"));
    static const char *const combinators[] = {"oneOf", "anyOf"};
    for (size_t c = 0; c < 2; c++) {
        json_t *alts = json_object_get(body, combinators[c]), *alt;
        size_t i;
        json_t *common = NULL;
        json_array_foreach(alts, i, alt) {
            json_t *p = json_object(), *r = json_array();
            body_fields(alt, p, r);
            json_object_update(props, p);
            if (!common) {
                common = json_copy(r);
            } else {
                json_t *kept = json_array(), *v;
                size_t j;
                json_array_foreach(common, j, v) if (names_has(r, json_string_value(v)))
                    json_array_append(kept, v);
                json_decref(common);
                common = kept;
            }
            json_decref(p);
            json_decref(r);
        }
        if (common)
            json_array_extend(required, common);
        json_decref(common);
    }
}

Test(docs, shapes_in_protocol_md_have_the_fields_of_the_schemas)
{
    char *doc = must_slurp("docs/protocol.md");
    struct methods m = {0};
    struct report r = {0};
    read_methods(doc, &m);
    for (size_t i = 0; i < m.shapes.n; i++) {
        char *method = m.shapes.v[i], *tab = strchr(method, '\t');
        *tab = 0;
        int result = tab[1] != '\t';
        char *shape = strchr(tab + 1, '\t') + 1;
        char path[512];
        method_schema(method, result, path, sizeof path);
        json_t *s = load_schema(path);
        if (!s)
            continue; /* reported by the test above */
        /* whole messages (runtime) have params/result; editor schemas are the params */
        json_t *body = json_object_get(json_object_get(s, "properties"), result ? "result" : "params");
        if (!body)
            body = s;
        json_t *props = json_object(), *required = json_array();
        body_fields(body, props, required);
        struct list keys = {0};
        shape_keys(shape, strlen(shape), &keys);
        const char *what = result ? "result" : "params";
        for (size_t k = 0; k < keys.n; k++) {
            char *key = keys.v[k];
            size_t n = strlen(key);
            int optional = key[n - 1] == '?';
            if (optional)
                key[n - 1] = 0;
            if (!json_object_get(props, key)) {
                report_add(&r, "docs/protocol.md: %s %s has `%s`; %s has no such property", method, what, key, path);
                continue;
            }
            int req = names_has(required, key);
            if (optional && req)
                report_add(&r, "docs/protocol.md: %s %s marks `%s?` optional; %s requires it", method, what, key, path);
            else if (!optional && !req && json_array_size(required) > 0)
                report_add(&r, "docs/protocol.md: %s %s gives `%s` as always present; %s does not require it "
                           "(write `%s?`)", method, what, key, path, key);
        }
        const char *name;
        json_t *v;
        json_object_foreach(props, name, v)
        {
            char opt[160];
            snprintf(opt, sizeof opt, "%s?", name);
            if (!list_has(&keys, name) && !list_has(&keys, opt))
                report_add(&r, "docs/protocol.md: %s %s does not mention `%s`, a property in %s", method, what, name,
                           path);
        }
        list_release(&keys);
        json_decref(props);
        json_decref(required);
        json_decref(s);
    }
    methods_release(&m);
    free(doc);
    report_finish(&r, "message shapes in docs/protocol.md and schema/ disagree");
}

Test(docs, every_schema_is_valid_json_schema_2020_12)
{
    struct list files = {0};
    expand("schema/*.json", &files);
    expand("schema/*/*.json", &files);
    cr_assert_gt(files.n, 0, "no schema files under schema/");
    char **argv = calloc(files.n + 4, sizeof *argv);
    cr_assert_not_null(argv);
    argv[0] = "/usr/bin/python3";
    char script[4096];
    snprintf(script, sizeof script, "%s", test_source_path("tools/schema_check.py"));
    argv[1] = script;
    argv[2] = "--check-schemas";
    for (size_t i = 0; i < files.n; i++) {
        char *full = strdup(test_source_path(files.v[i]));
        cr_assert_not_null(full);
        argv[3 + i] = full;
    }
    static char out[16384];
    int rc = test_run(argv, out, sizeof out, 60000);
    for (size_t i = 0; i < files.n; i++)
        free(argv[3 + i]);
    free(argv);
    list_release(&files);
    cr_assert_eq(rc, 0, "tools/schema_check.py --check-schemas failed (exit %d; needs /usr/bin/python3 and "
                        "python3-jsonschema):\n%s", rc, out);
}

/* ------------------------------------------------------------ configuration */

Test(docs, configuration_table_matches_config_schema)
{
    char *doc = must_slurp("docs/protocol.md");
    struct report r = {0};
    json_t *schema = load_schema("schema/config.schema.json");
    cr_assert_not_null(schema, "schema/config.schema.json is not readable JSON");
    json_t *props = json_object_get(schema, "properties");
    const char *section = strstr(doc, "### Configuration");
    cr_assert_not_null(section, "docs/protocol.md has no \"### Configuration\" section");
    const char *end = strstr(section + 1, "\n#");
    if (!end)
        end = section + strlen(section);

    struct list keys = {0};
    for (const char *line = section; line && line < end; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, "| `", 3) != 0)
            continue;
        const char *k = line + 3, *ke = strchr(k, '`');
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(ke - k), k);
        list_add(&keys, key);
        json_t *prop = json_object_get(props, key);
        if (!prop) {
            report_add(&r, "docs/protocol.md:%d: configuration key `%s` is not in schema/config.schema.json",
                       line_of(doc, line), key);
            continue;
        }
        /* the default cell, when it is one JSON value in backticks */
        const char *cell = strchr(ke, '|');
        const char *cell_end = cell ? strchr(cell + 1, '|') : NULL;
        if (!cell || !cell_end)
            continue;
        cell++;
        while (*cell == ' ')
            cell++;
        const char *last = cell_end;
        while (last > cell && last[-1] == ' ')
            last--;
        if (last - cell < 3 || *cell != '`' || last[-1] != '`' || memchr(cell + 1, '`', (size_t)(last - cell - 2)))
            continue;
        json_error_t err;
        json_t *given = json_loadb(cell + 1, (size_t)(last - cell - 2), JSON_DECODE_ANY, &err);
        if (!given)
            continue; /* prose or a sketch, not JSON */
        json_t *def = json_object_get(prop, "default");
        if (!def)
            report_add(&r, "docs/protocol.md:%d: `%s` defaults to %.*s, schema/config.schema.json gives no default",
                       line_of(doc, line), key, (int)(last - cell - 2), cell + 1);
        else if (!json_equal(given, def)) {
            char *want = json_dumps(def, JSON_ENCODE_ANY | JSON_COMPACT);
            report_add(&r, "docs/protocol.md:%d: `%s` defaults to %.*s, schema/config.schema.json says %s",
                       line_of(doc, line), key, (int)(last - cell - 2), cell + 1, want ? want : "?");
            free(want);
        }
        json_decref(given);
    }
    const char *name;
    json_t *v;
    json_object_foreach(props, name, v)
    {
        if (!list_has(&keys, name))
            report_add(&r, "schema/config.schema.json has `%s`, missing from docs/protocol.md's configuration table",
                       name);
    }
    list_release(&keys);
    json_decref(schema);
    free(doc);
    report_finish(&r, "docs/protocol.md's configuration and schema/config.schema.json disagree");
}

/* ------------------------------------------------------- links and mentions */

/* GitHub's anchor of a heading: lowercase, spaces to '-', punctuation
 * dropped except '-' and '_'. */
static void slug(const char *heading, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < size; i++) {
        unsigned char c = (unsigned char)heading[i];
        if (isalnum(c) || c == '-' || c == '_' || c >= 0x80)
            out[o++] = (char)tolower(c);
        else if (c == ' ')
            out[o++] = '-';
    }
    out[o] = 0;
}

static int has_anchor(const char *md, const char *anchor)
{
    for (const char *line = md; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (*line != '#')
            continue;
        const char *h = line;
        while (*h == '#')
            h++;
        while (*h == ' ')
            h++;
        const char *eol = strchr(h, '\n') ? strchr(h, '\n') : h + strlen(h);
        char s[512];
        slug(h, (size_t)(eol - h), s, sizeof s);
        if (strcmp(s, anchor) == 0)
            return 1;
    }
    return 0;
}

Test(docs, links_in_readme_and_docs_resolve)
{
    struct list mds = {0};
    struct report r = {0};
    doc_files(&mds);
    char *readme = must_slurp("README.md");
    for (size_t i = 0; i < mds.n; i++) {
        char *md = slurp(mds.v[i]);
        if (!md)
            continue;
        char dir[512];
        snprintf(dir, sizeof dir, "%s", mds.v[i]);
        char *slash = strrchr(dir, '/');
        if (slash)
            slash[1] = 0;
        else
            dir[0] = 0;
        for (const char *p = md; (p = strstr(p, "](")) != NULL; p += 2) {
            const char *t = p + 2, *e = t;
            while (*e && *e != ')' && !isspace((unsigned char)*e))
                e++;
            if (*e != ')' || e == t || strncmp(t, "http", 4) == 0 || strncmp(t, "mailto:", 7) == 0)
                continue;
            char target[512], file[1024];
            snprintf(target, sizeof target, "%.*s", (int)(e - t), t);
            char *hash = strchr(target, '#');
            if (hash)
                *hash++ = 0;
            snprintf(file, sizeof file, "%s%s", target[0] ? dir : "", target[0] ? target : mds.v[i]);
            struct stat st;
            if (stat(test_source_path(file), &st) != 0) {
                report_add(&r, "%s:%d links to %s, which does not exist", mds.v[i], line_of(md, p), file);
                continue;
            }
            if (hash && *hash && strstr(file, ".md")) {
                char *linked = slurp(file);
                if (linked && !has_anchor(linked, hash))
                    report_add(&r, "%s:%d links to %s#%s, but %s has no heading with that anchor", mds.v[i],
                               line_of(md, p), file, hash, file);
                free(linked);
            }
        }
        /* every page of docs/ is reachable from the README */
        if (strncmp(mds.v[i], "docs/", 5) == 0) {
            char link[600];
            snprintf(link, sizeof link, "](%s)", mds.v[i]);
            if (!strstr(readme, link))
                report_add(&r, "README.md does not link to %s", mds.v[i]);
        }
        free(md);
    }
    free(readme);
    list_release(&mds);
    report_finish(&r, "broken links in README.md and docs/");
}

struct mentions {
    const char *file;
    struct report *r;
    struct list *targets;
};

static const char *const repo_dirs[] = {"lsp/",      "runtime/", "tests/", "tools/", "mk/",   "schema/",
                                        "editors/", "examples/", "demo/",  "bench/", "docs/", ".ci/"};

/* A code span that is a path into the repository must exist. */
static void check_path_span(const char *text, const char *span, size_t len, int fenced, void *data)
{
    struct mentions *m = data;
    if (fenced || len == 0 || len > 300)
        return;
    int repo = 0;
    for (size_t i = 0; i < sizeof repo_dirs / sizeof *repo_dirs; i++)
        repo |= len >= strlen(repo_dirs[i]) && strncmp(span, repo_dirs[i], strlen(repo_dirs[i])) == 0;
    if (!repo)
        return;
    for (size_t i = 0; i < len; i++)
        if (!(isalnum((unsigned char)span[i]) || strchr("_./-{},*", span[i])))
            return; /* a placeholder (<name>, …), a command, prose */
    char path[512];
    snprintf(path, sizeof path, "%.*s", (int)len, span);
    if (expand(path, NULL) == 0)
        report_add(m->r, "%s:%d names `%s`, which is not in the repository", m->file, line_of(text, span), path);
}

Test(docs, paths_named_in_readme_and_docs_exist)
{
    struct list mds = {0};
    struct report r = {0};
    doc_files(&mds);
    for (size_t i = 0; i < mds.n; i++) {
        char *md = slurp(mds.v[i]);
        if (!md)
            continue;
        struct mentions m = {mds.v[i], &r, NULL};
        each_code(md, check_path_span, &m);
        free(md);
    }
    list_release(&mds);
    report_finish(&r, "paths in README.md and docs/ that do not exist");
}

/* Every `make TARGET` in a code span or block must be a target of the
 * Makefile or an mk fragment (`make -C dir ...` is another Makefile: skipped). */
static void check_make_span(const char *text, const char *span, size_t len, int fenced, void *data)
{
    struct mentions *m = data;
    (void)fenced;
    char *code = strndup(span, len);
    cr_assert_not_null(code);
    for (char *p = code; (p = strstr(p, "make")) != NULL; p += 4) {
        if ((p > code && !strchr(" \t\n;&|(`$", p[-1])) || !(p[4] == ' ' || p[4] == '\t'))
            continue;
        if (p > code && p[-1] == '$')
            continue; /* $(MAKE) and the like */
        char *q = p + 4;
        int other = 0;
        for (;;) {
            while (*q == ' ' || *q == '\t')
                q++;
            size_t n = strcspn(q, " \t\n;&|)`#");
            if (n == 0)
                break;
            if (*q == '-') {
                other |= (n == 2 && (q[1] == 'C' || q[1] == 'f')) || strncmp(q, "--directory", 11) == 0 ||
                         strncmp(q, "--file", 6) == 0;
                if (n == 2 && strchr("Cfo", q[1])) { /* the option's argument */
                    q += n;
                    while (*q == ' ')
                        q++;
                    n = strcspn(q, " \t\n;&|)`#");
                }
                q += n;
                continue;
            }
            if (memchr(q, '=', n)) {
                q += n;
                continue;
            }
            char target[128];
            snprintf(target, sizeof target, "%.*s", (int)n, q);
            int word = isalpha((unsigned char)target[0]);
            for (size_t i = 0; word && target[i]; i++)
                word = isalnum((unsigned char)target[i]) || target[i] == '-' || target[i] == '_';
            if (word && !other && !list_has(m->targets, target))
                report_add(m->r, "%s:%d: `make %s`, but the Makefile (and mk/*.mk) has no target %s", m->file,
                           line_of(text, span), target, target);
            if (!word)
                break;
            q += n;
        }
    }
    free(code);
}

static void make_targets(struct list *out)
{
    struct list mks = {0};
    list_add(&mks, "Makefile");
    expand("mk/*.mk", &mks);
    regex_t rx;
    cr_assert_eq(regcomp(&rx, "^([A-Za-z0-9_. -]+):([^=]|$)", REG_EXTENDED | REG_NEWLINE), 0);
    for (size_t i = 0; i < mks.n; i++) {
        char *text = must_slurp(mks.v[i]);
        regmatch_t g[2];
        for (const char *p = text; regexec(&rx, p, 2, g, p == text ? 0 : REG_NOTBOL) == 0; p += g[0].rm_eo) {
            const char *t = p + g[1].rm_so, *e = p + g[1].rm_eo;
            while (t < e) {
                size_t n = strcspn(t, " ");
                if (n > (size_t)(e - t))
                    n = (size_t)(e - t);
                if (n)
                    list_addn(out, t, n);
                t += n + 1;
            }
        }
        free(text);
    }
    regfree(&rx);
    list_release(&mks);
}

Test(docs, make_targets_named_in_readme_and_docs_exist)
{
    struct list mds = {0}, targets = {0};
    struct report r = {0};
    make_targets(&targets);
    cr_assert(list_has(&targets, "check"), "no `check` target found in the Makefile: the parser is broken");
    doc_files(&mds);
    for (size_t i = 0; i < mds.n; i++) {
        char *md = slurp(mds.v[i]);
        if (!md)
            continue;
        struct mentions m = {mds.v[i], &r, &targets};
        each_code(md, check_make_span, &m);
        free(md);
    }
    list_release(&mds);
    list_release(&targets);
    report_finish(&r, "make targets named in README.md and docs/ that do not exist");
}
