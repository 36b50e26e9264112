/* The compiler driver: where a file's flags come from (compile_commands.json),
 * the argument vector that compiles a patch source into a shared library,
 * running it through uv_spawn with a timeout and cancellation (a newer
 * compile of the same file kills the older), an optional tcc fast path with
 * fallback, and the compiler's messages as plain structs.
 *
 * Positions in messages are 0-based lines and 0-based byte columns; turning
 * them into LSP ranges (UTF-16) is lsp/protocol.c's business. */
#ifndef HOTC_BUILD_H
#define HOTC_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define BUILD_ERRNO_MAP(X)                                                     \
    X(NOMEM, -1, "out of memory")                                              \
    X(IO, -2, "cannot read the file")                                          \
    X(JSON, -3, "invalid compile_commands.json")                               \
    X(NOENTRY, -4, "no entry for the file in compile_commands.json")           \
    X(SPAWN, -5, "cannot start the compiler")                                  \
    X(COMPILE, -6, "the compiler reported errors")                             \
    X(TIMEOUT, -7, "the compiler took too long and was stopped")               \
    X(CANCELED, -8, "the compile was superseded by a newer one")               \
    X(INVAL, -9, "invalid argument")

enum build_error {
#define BUILD__ENUM(name, value, text) BUILD_E##name = (value),
    BUILD_ERRNO_MAP(BUILD__ENUM)
#undef BUILD__ENUM
};

const char *build_strerror(int err);

/* ------------------------------------------------------------ flags */

/* One compile_commands.json entry, its command split into words. */
struct build_command {
    char *directory; /* absolute */
    char *file;      /* absolute */
    char **argv;     /* NULL-terminated; argv[0] is the compiler */
    size_t argc;
};

/* A loaded compile_commands.json. Opaque; build_db_free releases it. */
struct build_db;

/* Finds compile_commands.json: `configured` (a file or a directory; relative
 * to `root`) when given, else `root`, else `root`/build. Writes the path
 * into `buf` and returns it, or NULL when there is none. Small synchronous
 * stat calls: for start-up and configuration changes only. */
const char *build_db_find(const char *root, const char *configured, char *buf, size_t size);

/* Loads and parses the database at `path` (both `command` and `arguments`
 * forms). Returns 0 and a new database in *out, or a negative BUILD_E* with a
 * user-readable reason in `err` (of `errsize` bytes). */
int build_db_load(struct build_db **out, const char *path, char *err, size_t errsize);

/* The entry for `file` (absolute path), or NULL. Borrowed from `db`. */
const struct build_command *build_db_lookup(const struct build_db *db, const char *file);

/* The i-th entry, NULL past the end. Borrowed from `db`. */
const struct build_command *build_db_at(const struct build_db *db, size_t i);

void build_db_free(struct build_db *db);

/* Splits a shell-like command line (quotes, backslashes) into words.
 * Returns a NULL-terminated vector (free with build_argv_free), NULL when
 * out of memory. */
char **build_split_command(const char *command, size_t *argc);
void build_argv_free(char **argv);

enum build_family { BUILD_GCC, BUILD_CLANG, BUILD_TCC };

/* The compiler family from its name (gcc for `cc`, as on Debian). */
enum build_family build_family_of(const char *compiler);

/* What is known about compiling a file without its entry. */
struct build_options {
    const char *compiler;           /* overrides the entry's; NULL: the entry's, else "cc" */
    const char *const *flags;       /* used when there is no entry (NULL-terminated or NULL) */
    const char *const *include_dirs; /* added to every compile (where hot.h is), may be NULL */
};

/* The argument vector that compiles `patch_c` into `out_so` for the user's
 * file `source` (absolute), and the directory to run it in (`*cwd`, new
 * string). From the entry when given: its flags minus -c, -o X, the
 * dependency-file flags (-M*), -Werror*, -flto*, -fvisibility=*, the
 * source; plus -fPIC -shared, -iquote <dir of source> (the patch lives
 * elsewhere but includes what the source includes), byte columns in
 * messages, no warnings about what the patch's own rewriting causes
 * (-Wno-redundant-decls, -Wno-nested-externs; gcc: -Wno-missing-attributes
 * for the exported alias), and every spelled
 * visibility attribute made `__unused__` (gcc, clang: the program's hidden
 * symbols are reached through the patch's GOT, which the runtime binds).
 * Without an entry:
 * the configured flags, else `-g -O1`. With `family == BUILD_TCC` only the
 * flags tcc understands (-I -D -U -include -std) are kept.
 * Returns a new NULL-terminated vector (build_argv_free) or NULL. */
char **build_patch_argv(const struct build_command *entry, const struct build_options *opts,
                        const char *compiler, const char *source, const char *patch_c,
                        const char *out_so, char **cwd);

/* The argument vector that preprocesses `input_c` (a copy of the user's
 * `source`, or the source itself) into `out_i` with the file's own flags,
 * as build_patch_argv would compile it (same -D, -I, -std, -iquote), line
 * markers included: what the compiler sees of each function (macros
 * expanded, the live #if branch) and every file it includes, at any depth.
 * `__LINE__` expands to a name there (`-D__LINE__=__hotc_line__`), so that
 * moving a function is no change of its code (tcc keeps the numbers).
 * Returns a new vector (build_argv_free) and `*cwd`, or NULL. */
char **build_preprocess_argv(const struct build_command *entry, const struct build_options *opts,
                             const char *source, const char *input_c, const char *out_i, char **cwd);

/* ------------------------------------------------------------ messages */

enum build_severity { BUILD_ERROR = 1, BUILD_WARNING = 2, BUILD_NOTE = 3 };

struct build_diag {
    char *file;           /* as the compiler printed it; NULL for messages about no file */
    int line;             /* 0-based; -1 when unknown */
    int column;           /* 0-based byte column; -1 when unknown */
    enum build_severity severity;
    char *message;
    struct build_diag *related; /* the notes that follow it */
    size_t nrelated;
};

struct build_diags {
    struct build_diag *items;
    size_t count;
};

/* Parses gcc, clang and tcc output (`file:line[:col]: error|warning|note:
 * message`; notes become related information of the message before them).
 * Lines that are not messages (source excerpts, carets, "In function") are
 * skipped. Returns 0 or BUILD_ENOMEM. */
int build_parse_messages(struct build_diags *out, const char *text, size_t len);
void build_diags_release(struct build_diags *d);

/* Whether `d` is a message a patch causes and the user's file does not (a
 * static function the patch reduced to a prototype, one it keeps unused):
 * never shown to the user. */
bool build_patch_noise(const struct build_diag *d);

/* ------------------------------------------------------------ running */

struct build_result {
    int status;             /* 0, BUILD_ECOMPILE, BUILD_ETIMEOUT, BUILD_ECANCELED, BUILD_ESPAWN */
    int exit_code;
    char *output;           /* stdout and stderr of the compiler that decided */
    size_t output_len;
    struct build_diags diags;
    bool used_fallback;     /* the fast compiler failed and the fallback ran */
    const char *failed_first; /* then its first error line ("" when it printed none) */
    uint64_t duration_us;   /* of the whole job */
};

typedef void (*build_done_cb)(const struct build_result *result, void *user);

/* Runs compilers on a libuv loop. Caller-owned: build_runner_init, then
 * build_runner_close (which kills what still runs; their callbacks get
 * BUILD_ECANCELED as the loop runs on) before the loop ends. */
struct build_runner {
    uv_loop_t *loop;
    struct build_job *jobs;
};

void build_runner_init(struct build_runner *self, uv_loop_t *loop);
void build_runner_close(struct build_runner *self);

/* Frees the jobs that never reported, after the loop ended (their handles
 * closed by then): no callback is called. */
void build_runner_free_jobs(struct build_runner *self);

/* Starts `argv` in `cwd`; when it fails (not timeout, not cancel) and
 * `fallback` is given, starts `fallback` instead. `key` (e.g. the file's
 * path) identifies the compile: a running compile with the same key is
 * canceled. `cb` is called exactly once with the result (borrowed for the
 * call): from the loop, or before build_run returns when no compiler could
 * be started at all (BUILD_ESPAWN). Vectors are copied. Returns 0, or
 * BUILD_ENOMEM / BUILD_EINVAL without calling `cb`. */
int build_run(struct build_runner *self, const char *key, char *const *argv, char *const *fallback,
              const char *cwd, int timeout_ms, build_done_cb cb, void *user);

/* build_run, but the fallback runs only when the failed compiler's output
 * contains `when` (NULL: whenever it fails). */
int build_run_when(struct build_runner *self, const char *key, char *const *argv, char *const *fallback,
                   const char *when, const char *cwd, int timeout_ms, build_done_cb cb, void *user);

/* Cancels the compile with `key`, if any. Returns whether there was one. */
bool build_cancel(struct build_runner *self, const char *key);

#endif
