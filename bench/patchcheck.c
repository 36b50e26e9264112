/* make patchcheck DB=path/to/compile_commands.json: does every patch
 * compile whenever its file does? For each file of a real project's
 * compile_commands.json, the file itself is compiled the way a patch is
 * (its own flags, build_patch_argv: -fPIC -shared); when it compiles, every
 * function it defines is taken in turn as the one function to reload, its
 * patch is built (patch_build) and compiled with the same command. A patch
 * that fails where its file compiles is a bug of the patch builder; so is
 * a warning the patch shows that the file's own compile does not (after
 * the filter the server applies, build_patch_noise). A function whose
 * name is nowhere in the preprocessor's output for the file's flags
 * (defined in a branch it skips, `#ifdef _WIN32`) is not in the program:
 * it is counted apart, not taken.
 *
 *     patchcheck [--only SUBSTRING] [--every N] COMPILE_COMMANDS.json
 *
 * --every N takes one function in N of each file (the first, then every
 * Nth), for files too big to take every function of (each patch of a
 * 55,000-line file compiles for seconds).
 *
 * Prints each failure (file, function, the compiler's first lines) and a
 * summary line: files, files that compile, functions, patches that fail,
 * patches with extra warnings. Exit status 1 when a patch fails. Nothing
 * of the project is kept: patches go to a temporary directory. */
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analysis.h"
#include "build.h"
#include "patch.h"
#include "run.h"

struct tally {
    size_t files, compiling, functions, failed, warned, inactive;
};

static size_t every = 1;

static bool ident_char(char ch)
{
    return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* Whether `name` is a word of the preprocessor's output `pre`: a function
 * defined only in a branch the preprocessor skips (`#ifdef _WIN32`) is
 * not. (Line markers would say which rows are kept, but a generated
 * parser's #line directives move them.) */
static bool appears(const char *pre, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(pre, name); p; p = strstr(p + 1, name))
        if ((p == pre || !ident_char(p[-1])) && !ident_char(p[n]))
            return true;
    return false;
}

/* Runs `argv` in `cwd`; its output (stdout and stderr) in a new string.
 * Returns the exit status (-1 when it could not run). */
static int run_in(char **argv, const char *cwd, char **output)
{
    int pipefd[2];
    pid_t pid;
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    int status = -1;

    *output = NULL;
    if (!out || pipe(pipefd) != 0) {
        free(out);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        if (cwd && chdir(cwd) != 0)
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    for (;;) {
        if (len + 1024 > cap) {
            char *grown = realloc(out, cap *= 2);
            if (!grown)
                break;
            out = grown;
        }
        ssize_t n = read(pipefd[0], out + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    close(pipefd[0]);
    if (pid > 0 && waitpid(pid, &status, 0) == pid)
        status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    *output = out;
    return status;
}

/* The warnings of `output`, one message a line (without its line: a
 * warning the file gives at its first use of a name, the patch gives at
 * another), after the server's filter. New string. */
static char *warnings_of(const char *output)
{
    struct build_diags diags = { 0 };
    size_t size = 0;
    char *text = NULL;
    FILE *f = open_memstream(&text, &size);

    if (!f)
        return strdup("");
    if (build_parse_messages(&diags, output, strlen(output)) == 0)
        for (size_t i = 0; i < diags.count; i++) {
            const struct build_diag *d = &diags.items[i];
            if (d->severity == BUILD_WARNING && !build_patch_noise(d))
                fprintf(f, "%s\n", d->message);
        }
    build_diags_release(&diags);
    fclose(f);
    return text;
}

/* Whether every line of `patch` is among the lines of `file`. */
static int warnings_within(const char *patch, const char *file)
{
    for (const char *line = patch; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        int found = 0;
        for (const char *at = strstr(file, line); at && !found; at = strstr(at + 1, line))
            found = (at == file || at[-1] == '\n') && strncmp(at, line, n) == 0 && at[n] == '\n';
        if (!found)
            return 0;
        line += n + (nl ? 1 : 0);
    }
    return 1;
}

/* Prints the error lines of `text` first, then the others, `count` in all. */
static void first_lines(const char *text, int count)
{
    for (const char *line = text; *line && count > 0;) {
        const char *nl = strchr(line, '\n');
        int n = nl ? (int)(nl - line) : (int)strlen(line);
        const char *err = strstr(line, "error");
        if (err && err < line + n) {
            printf("    %.*s\n", n > 300 ? 300 : n, line);
            count--;
        }
        line += n + (nl ? 1 : 0);
    }
    for (const char *line = text; *line && count > 0;) {
        const char *nl = strchr(line, '\n');
        int n = nl ? (int)(nl - line) : (int)strlen(line);
        const char *err = strstr(line, "error");
        if (!err || err >= line + n) {
            printf("    %.*s\n", n > 300 ? 300 : n, line);
            count--;
        }
        line += n + (nl ? 1 : 0);
    }
}

static void check_file(const struct build_command *entry, const char *tmp, struct tally *t)
{
    size_t len;
    char *text = test_slurp(entry->file, &len), *cwd = NULL, *output = NULL, *file_warnings;
    char so[PATH_MAX], c_path[PATH_MAX];
    struct analysis *a;
    char **argv;

    t->files++;
    if (!text) {
        printf("skip %s: cannot read it\n", entry->file);
        return;
    }
    snprintf(so, sizeof so, "%s/file.so", tmp);
    argv = build_patch_argv(entry, NULL, NULL, entry->file, entry->file, so, &cwd);
    if (!argv || run_in(argv, cwd, &output) != 0) {
        printf("skip %s: the file itself does not compile this way\n", entry->file);
        if (output)
            first_lines(output, 3);
        build_argv_free(argv);
        free(cwd);
        free(output);
        free(text);
        return;
    }
    t->compiling++;
    file_warnings = warnings_of(output);
    build_argv_free(argv);
    free(cwd);
    free(output);
    /* the file as the preprocessor reads it: a function defined in a branch
     * it skips (`#ifdef _WIN32`) is not in the program and not taken */
    snprintf(so, sizeof so, "%s/file.i", tmp);
    argv = build_patch_argv(entry, NULL, NULL, entry->file, entry->file, so, &cwd);
    char **pre_argv = NULL;
    size_t argc = 0;
    while (argv && argv[argc])
        argc++;
    if (argv && (pre_argv = calloc(argc + 2, sizeof *pre_argv))) {
        pre_argv[0] = argv[0];
        pre_argv[1] = "-E";
        memcpy(pre_argv + 2, argv + 1, (argc - 1) * sizeof *argv);
    }
    char *pre = NULL;
    if (!pre_argv || run_in(pre_argv, cwd, &output) != 0 || !(pre = test_slurp(so, NULL))) {
        printf("skip %s: the preprocessor does not run on it\n", entry->file);
        free(output);
        output = NULL;
        free(pre_argv);
        build_argv_free(argv);
        free(cwd);
        free(file_warnings);
        free(text);
        return;
    }
    free(output);
    output = NULL;
    free(pre_argv);
    build_argv_free(argv);
    free(cwd);
    a = analysis_of_text(text, len, "HOT");
    size_t seen = 0;
    for (size_t i = 0; a && i < a->n_functions; i++) {
        const char *name = a->functions[i].name;
        const char *fns[] = { name };
        struct patch_input in = { text, len, entry->file, fns, 1, "", NULL };
        struct patch p;
        int dup = 0, rc;
        FILE *f;

        for (size_t k = 0; k < i; k++)
            dup |= strcmp(a->functions[k].name, name) == 0;
        if (!dup && !appears(pre, name)) {
            printf("inactive %s: %s()\n", entry->file, name);
            t->inactive++;
            continue;
        }
        if (dup || seen++ % every != 0)
            continue;
        t->functions++;
        patch_init(&p);
        if ((rc = patch_build(&p, &in)) != 0) {
            printf("FAIL %s: %s(): no patch: %s\n", entry->file, name, p.error);
            t->failed++;
            patch_release(&p);
            continue;
        }
        snprintf(c_path, sizeof c_path, "%s/p-%s", tmp, strrchr(entry->file, '/') + 1);
        f = fopen(c_path, "w");
        if (!f || fwrite(p.source, 1, p.length, f) != p.length) {
            fprintf(stderr, "cannot write %s\n", c_path);
            exit(2);
        }
        fclose(f);
        snprintf(so, sizeof so, "%s/p.so", tmp);
        argv = build_patch_argv(entry, NULL, NULL, entry->file, c_path, so, &cwd);
        rc = argv ? run_in(argv, cwd, &output) : -1;
        if (rc != 0) {
            printf("FAIL %s: %s(): the patch does not compile\n", entry->file, name);
            first_lines(output ? output : "", 6);
            t->failed++;
        } else {
            char *w = warnings_of(output);
            if (!warnings_within(w, file_warnings)) {
                printf("WARN %s: %s(): the patch warns where the file does not\n", entry->file, name);
                first_lines(w, 4);
                t->warned++;
            }
            free(w);
        }
        build_argv_free(argv);
        free(cwd);
        free(output);
        output = NULL;
        patch_release(&p);
    }
    analysis_free(a);
    free(pre);
    free(file_warnings);
    free(text);
}

int main(int argc, char **argv)
{
    const char *db_path = NULL, *only = NULL;
    struct build_db *db = NULL;
    struct tally t = { 0 };
    char err[512], tmp[] = "/tmp/hotc-patchcheck-XXXXXX", cmd[PATH_MAX + 16];
    const struct build_command *entry;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--every") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0)
            every = (size_t)atoi(argv[++i]);
        else if (argv[i][0] != '-' && !db_path)
            db_path = argv[i];
        else {
            db_path = NULL; /* an unknown option, or two files */
            break;
        }
    }
    if (!db_path) {
        fprintf(stderr, "usage: patchcheck [--only SUBSTRING] [--every N] COMPILE_COMMANDS.json\n");
        return 2;
    }
    if (build_db_load(&db, db_path, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 2;
    }
    for (size_t i = 0; (entry = build_db_at(db, i)) != NULL; i++)
        if (!only || strstr(entry->file, only))
            check_file(entry, tmp, &t);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmp);
    printf("patchcheck %s: %zu files, %zu compile, %zu functions, %zu patches fail, %zu patches warn beyond the "
           "file (%zu functions in branches the preprocessor skips, not taken)\n",
           db_path, t.files, t.compiling, t.functions, t.failed, t.warned, t.inactive);
    build_db_free(db);
    return t.failed ? 1 : 0;
}
