/* The end-to-end environment of tests/test_pipeline.c and
 * tests/test_saves.c: a temporary project (a fixture program built with the
 * real runtime and a compile_commands.json), the real `hotc lsp` over stdio
 * (tests/support/lspclient.h) and the program it reloads; waits on the
 * server's messages and the program's output; the runtime's and the
 * editor's traffic validated against schema/. */
#ifndef HOTC_TEST_PIPELINE_ENV_H
#define HOTC_TEST_PIPELINE_ENV_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "lspclient.h"

#define T 60000 /* ms; generous: the machine is shared and compiles are slow under load */

struct env {
    char dir[64];
    char src[PATH_MAX];
    char uri[PATH_MAX + 8];
    char prog[PATH_MAX];
    char out[PATH_MAX];
    char *text;              /* the fixture's text */
    struct lspclient *c;
    pid_t pid;               /* the program started by the test */
    json_t *editor;          /* kind -> [params] of hotc/ notifications */
    json_t *history;         /* every message read, in order */
    int version;             /* of the document */
    char tmp[PATH_MAX];      /* the server's TMPDIR, when not empty */
};

typedef int (*match_fn)(json_t *params, const void *arg);

struct diag_match {
    const char *uri;
    const char *code;    /* a diagnostic with this code, or NULL */
    int severity;        /* with this severity (0: any) */
    int none;            /* match when there is no diagnostic with `severity` at all */
};

void record(struct env *e, json_t *msg);

json_t *wait_for(struct env *e, const char *method, match_fn match, const void *arg, int timeout_ms);

json_t *wait_seen(struct env *e, const char *method, match_fn match, const void *arg, int timeout_ms);

int programs_is(json_t *params, const void *arg);

int last_result_is(json_t *params, const void *arg);

int progress_is(json_t *params, const void *arg);

int log_contains(json_t *params, const void *arg);

int diags_match(json_t *params, const void *arg);

char *wait_output(struct env *e, const char *text, int timeout_ms);

long field(const char *line, const char *name);

void expect_output(struct env *e, const char *text, const char *after, const char *why);

void setup_project(struct env *e);

void setup_files(struct env *e, const char *const *names);

void start_server(struct env *e, json_t *settings);

void start_program_at(struct env *e, const char *endpoint, const char *token, const char *arg);

void start_program(struct env *e);

void open_doc(struct env *e);

void save(struct env *e, const char *text);

void frame_save(struct env *e, char *buf, size_t size, const char *uri, const char *text);

void open_file(struct env *e, const char *name, char *uri, size_t size, char **text);

json_t *command(struct env *e, const char *name, json_t *args);

void validate(struct env *e, const char *schema, json_t *lines, const char *kind);

void validate_traffic(struct env *e, const char *const *required);

void teardown(struct env *e);

void remove_project(struct env *e);

void expect_clean_order(struct env *e, size_t mark, int reloads);

char *lens_title(struct env *e, int line);

const char *last_message(json_t *status);

#endif
