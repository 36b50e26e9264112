/* End to end: state across a clean exit and a restart (runtime/hot.h,
 * HOT_PERSIST; lsp/handover.c, lsp/statestore.c). The real `hotc lsp`, a
 * real program linked with the real runtime (tests/fixtures/persist/
 * persist.c), an LSP client. A program that exits cleanly hands its typed
 * block, its untyped block and its HOT_PERSIST variable to the server,
 * which keeps them in a private file; its next start gets them back before
 * main goes on, pointers reset. A restart from the editor rebuilds the
 * program with new layouts and hands the state back migrated: a field
 * added, a number widened, one that no longer fits and one that cannot be
 * migrated defaulted with a warning each. hotc.server.forgetState removes
 * it. Every server <-> runtime message is validated against schema/. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "lspclient.h"
#include "run.h"

#define T 60000 /* ms; generous: the machine is shared and builds are slow under load */

struct env {
    char dir[64];
    char prog[PATH_MAX], out[PATH_MAX], states[PATH_MAX];
    struct lspclient *c;
    json_t *history;  /* every message read */
};

/* Writes the project's build (a Makefile that runs build.sh, so that a
 * restart finds it) with `defines`, and builds. */
static void build(struct env *e, const char *defines)
{
    char path[PATH_MAX + 16], script[4 * PATH_MAX], out[8192];
    snprintf(path, sizeof path, "%s/build.sh", e->dir);
    snprintf(script, sizeof script, "cd '%s' && gcc -std=gnu11 -g -O1 -Wall %s -o persist persist.c %s\n", e->dir,
             defines, test_hotc_flags());
    test_spit(path, script);
    snprintf(path, sizeof path, "%s/Makefile", e->dir);
    test_spit(path, "all:\n\tsh build.sh\n");
    snprintf(script, sizeof script, "sh '%s/build.sh'", e->dir);
    cr_assert_eq(test_sh(script, out, sizeof out), 0, "cannot build the program: %s", out);
}

static void setup(struct env *e)
{
    char path[PATH_MAX + 16];
    char *text = test_slurp(test_source_path("tests/fixtures/persist/persist.c"), NULL);

    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/hotc-persist-XXXXXX");
    cr_assert(mkdtemp(e->dir));
    cr_assert(text);
    snprintf(path, sizeof path, "%s/persist.c", e->dir);
    test_spit(path, text);
    free(text);
    snprintf(e->prog, sizeof e->prog, "%s/persist", e->dir);
    snprintf(e->out, sizeof e->out, "%s/persist.out", e->dir);
    snprintf(e->states, sizeof e->states, "%s/state/hotc", e->dir);
    snprintf(path, sizeof path, "%s/run", e->dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    e->history = json_array();
    build(e, "");
}

static void start_server(struct env *e, json_t *settings)
{
    char xdg[PATH_MAX + 32], state[PATH_MAX + 32], trace[PATH_MAX + 32], log[PATH_MAX], root[PATH_MAX + 8];
    /* hot_init's wait made long enough for a loaded machine (the default,
     * 200 ms, is what programs get) */
    const char *env[] = { xdg, state, trace, "HOTC_STATE_WAIT_MS=20000", NULL };
    const char *args[] = { "--log", log, NULL };
    struct lspclient_options opt = { .env = env, .args = args, .quiet_stderr = 1 };
    json_t *r;

    snprintf(xdg, sizeof xdg, "XDG_RUNTIME_DIR=%s/run", e->dir);
    snprintf(state, sizeof state, "XDG_STATE_HOME=%s/state", e->dir);
    snprintf(trace, sizeof trace, "HOTC_LINK_TRACE=%s/link.jsonl", e->dir);
    snprintf(log, sizeof log, "%s/server.log", e->dir);
    snprintf(root, sizeof root, "file://%s", e->dir);
    e->c = lspclient_start(&opt);
    cr_assert(e->c, "cannot start hotc lsp");
    r = lspclient_initialize(e->c,
                             json_pack("{s:i, s:s, s:{}, s:{s:o}}", "processId", (int)getpid(), "rootUri", root,
                                       "capabilities", "initializationOptions", "hotc",
                                       settings ? settings : json_object()),
                             T);
    cr_assert(r, "no initialize result");
    json_decref(r);
    /* the socket is made at `initialized`: a program started before it
     * would run its few frames unattached */
    char sock[PATH_MAX + 64];
    snprintf(sock, sizeof sock, "%s/run/hotc/%ld.sock", e->dir, (long)lspclient_pid(e->c));
    long long deadline = test_now_ms() + T;
    while (access(sock, F_OK) != 0) {
        cr_assert(test_now_ms() < deadline, "the server made no socket");
        usleep(10000);
    }
}

/* Runs the program for `frames` frames attached to the server and waits
 * for it to exit (cleanly). */
static void run_program(struct env *e, const char *frames)
{
    char endpoint[PATH_MAX + 64];
    int status;
    pid_t pid;

    snprintf(endpoint, sizeof endpoint, "unix:%s/run/hotc/%ld.sock", e->dir, (long)lspclient_pid(e->c));
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        setenv("HOTC_ENDPOINT", endpoint, 1);
        setenv("HOTC_STATE_WAIT_MS", "20000", 1);
        execl(e->prog, e->prog, frames, e->out, (char *)NULL);
        _exit(127);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the program did not exit cleanly (%d)", status);
}

/* The last line of the program's output that starts with `prefix` and
 * names a pid other than `not_pid`, waiting for one (a copy). */
static char *wait_line(struct env *e, const char *prefix, long not_pid)
{
    long long deadline = test_now_ms() + T;
    for (;;) {
        char *out = test_slurp(e->out, NULL), *hit = NULL;
        for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n")) {
            const char *pid = strstr(line, "pid=");
            if (strncmp(line, prefix, strlen(prefix)) == 0 && (!pid || atol(pid + 4) != not_pid)) {
                free(hit);
                hit = strdup(line);
            }
        }
        free(out);
        if (hit)
            return hit;
        cr_assert(test_now_ms() < deadline, "no output line `%s` from the program", prefix);
        usleep(20000);
    }
}

static long field(const char *line, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, " %s=", name);
    const char *at = strstr(line, key);
    cr_assert(at, "no %s in: %s", name, line);
    return atol(at + strlen(key));
}

/* Reads messages until a window/showMessage or window/logMessage whose
 * text contains `text` (also one read before). */
static void wait_message(struct env *e, const char *text)
{
    long long deadline = test_now_ms() + T;
    size_t i;
    json_t *msg;

    json_array_foreach(e->history, i, msg) {
        const char *m = json_string_value(json_object_get(json_object_get(msg, "params"), "message"));
        if (m && strstr(m, text))
            return;
    }
    for (;;) {
        long long left = deadline - test_now_ms();
        msg = left > 0 ? lspclient_read(e->c, (int)left) : NULL;
        cr_assert(msg, "timed out waiting for a message saying `%s`", text);
        json_array_append_new(e->history, msg);
        const char *m = json_string_value(json_object_get(json_object_get(msg, "params"), "message"));
        if (m && strstr(m, text))
            return;
    }
}

/* The saved state file (there is one), waiting for it. */
static void state_file(struct env *e, char *path, size_t size)
{
    long long deadline = test_now_ms() + T;
    for (;;) {
        DIR *d = opendir(e->states);
        struct dirent *de;
        *path = '\0';
        while (d && (de = readdir(d)) != NULL)
            if (strstr(de->d_name, "persist-") == de->d_name && strstr(de->d_name, ".json"))
                snprintf(path, size, "%s/%s", e->states, de->d_name);
        if (d)
            closedir(d);
        if (*path)
            return;
        cr_assert(test_now_ms() < deadline, "no state was saved in %s", e->states);
        usleep(20000);
    }
}

static json_t *command(struct env *e, const char *name, json_t *args)
{
    json_t *r = lspclient_request(e->c, "workspace/executeCommand",
                                  json_pack("{s:s, s:o}", "command", name, "arguments", args ? args : json_array()),
                                  T);
    cr_assert(r, "no answer to %s", name);
    return r;
}

/* Every traced server <-> runtime message against its schema; `required`
 * kinds must be there. */
static void validate_traffic(struct env *e, const char *const *required)
{
    char path[PATH_MAX + 32], cmd[4 * PATH_MAX], out[8192];
    char *trace;
    json_t *kinds = json_object(), *list;
    const char *kind;

    snprintf(path, sizeof path, "%s/link.jsonl", e->dir);
    trace = test_slurp(path, NULL);
    cr_assert(trace, "no runtime traffic was traced");
    for (char *line = strtok(trace, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *entry = json_loads(line, 0, NULL);
        const char *k = json_string_value(json_object_get(entry, "kind"));
        cr_assert(k, "bad trace line %s", line);
        if (!(list = json_object_get(kinds, k)))
            json_object_set_new(kinds, k, list = json_array());
        json_array_append(list, json_object_get(entry, "message"));
        json_decref(entry);
    }
    free(trace);
    for (size_t i = 0; required[i]; i++)
        cr_assert(json_object_get(kinds, required[i]), "no %s message was seen", required[i]);
    json_object_foreach(kinds, kind, list) {
        char lines[PATH_MAX + 64];
        FILE *f;
        size_t i;
        json_t *v;
        snprintf(lines, sizeof lines, "%s/traffic-%s.jsonl", e->dir, kind);
        f = fopen(lines, "w");
        cr_assert(f);
        json_array_foreach(list, i, v) {
            char *s = json_dumps(v, JSON_COMPACT);
            fprintf(f, "%s\n", s);
            free(s);
        }
        fclose(f);
        char tool[PATH_MAX];
        snprintf(tool, sizeof tool, "%s", test_source_path("tools/schema_check.py"));
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s/%s.schema.json' < '%s'", tool,
                 test_source_path("schema/runtime"), kind, lines);
        cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "%s does not match its schema:\n%s", kind, out);
    }
    json_decref(kinds);
}

static void teardown(struct env *e)
{
    char cmd[PATH_MAX];
    if (e->c) {
        cr_assert_eq(lspclient_shutdown(e->c, T), 0);
        cr_assert_eq(lspclient_garbage(e->c), 0, "stdout must carry protocol only");
        lspclient_free(e->c);
        e->c = NULL;
    }
    json_decref(e->history);
    if (!getenv("KEEP_PERSIST_DIR")) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
        test_sh(cmd, NULL, 0);
    }
}

Test(persist, a_clean_exit_hands_the_state_over_and_the_next_start_gets_it_back)
{
    struct env e;
    char path[PATH_MAX + 300];
    struct stat st;
    char *first, *second;

    setup(&e);
    start_server(&e, NULL);
    run_program(&e, "30");
    first = wait_line(&e, "start", 0);
    cr_assert(strstr(first, "frame=0 score=0 big=0 kind=0 ptr=null best=10 level=1 runs=0"), "%s", first);
    free(first);

    /* kept in a private file of the user's state folder */
    state_file(&e, path, sizeof path);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "the state file is %o", st.st_mode & 0777);
    cr_assert_eq(stat(e.states, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700, "the state folder is %o", st.st_mode & 0777);
    cr_assert_eq(st.st_uid, getuid());

    /* the next start: before main goes on, the block, the untyped block
     * and the variable are back; the pointer is not */
    char *end = wait_line(&e, "end", 0);
    long pid1 = field(end, "pid");
    free(end);
    run_program(&e, "30");
    second = wait_line(&e, "start", pid1);
    cr_assert(strstr(second, " v1 frame=30 score=60 big=300 kind=4 ptr=null best=40 level=1 runs=1"),
              "the state did not come back: %s", second);
    free(second);
    wait_message(&e, "state restored from its last run: ");
    wait_message(&e, "pointer `ptr` reset to NULL");
    validate_traffic(&e, (const char *const[]){ "hot-attach", "hot-attach.result", "hot-save", "hot-restore",
                                                "hot-restore.result", NULL });
    teardown(&e);
}

/* The editor forgets the state: the next start begins from scratch. */
/* The markers beside the server's socket (`state-<key>`) that tell a
 * starting program the server keeps state for it. */
static size_t markers(struct env *e)
{
    char pattern[PATH_MAX + 64];
    glob_t g;
    size_t n;

    snprintf(pattern, sizeof pattern, "%s/run/hotc/state-*", e->dir);
    if (glob(pattern, 0, NULL, &g) != 0)
        return 0;
    n = g.gl_pathc;
    globfree(&g);
    return n;
}

Test(persist, forgetting_the_state_starts_the_next_run_fresh)
{
    struct env e;
    char path[PATH_MAX + 300];
    json_t *r;

    setup(&e);
    start_server(&e, NULL);
    run_program(&e, "30");
    state_file(&e, path, sizeof path);
    for (long long until = test_now_ms() + T; markers(&e) != 1 && test_now_ms() < until;)
        usleep(20000);
    cr_assert_eq(markers(&e), 1, "no marker tells the next start to wait for its state");
    /* a new server finds the saved state at start-up (it is on disk) */
    cr_assert_eq(lspclient_shutdown(e.c, T), 0);
    lspclient_free(e.c);
    start_server(&e, NULL);
    char *end = wait_line(&e, "end", 0);
    long pid1 = field(end, "pid");
    free(end);
    run_program(&e, "30");
    char *back = wait_line(&e, "start", pid1);
    cr_assert(strstr(back, " v1 frame=30 "), "the state did not survive a restart of the server: %s", back);
    free(back);
    wait_message(&e, "was saved (exit)"); /* this run's state, kept */
    r = command(&e, "hotc.server.forgetState", NULL);
    json_t *forgotten = json_object_get(json_object_get(r, "result"), "forgotten");
    cr_assert_eq(json_array_size(forgotten), 1, "%s", json_dumps(r, 0));
    cr_assert_str_eq(json_string_value(json_array_get(forgotten, 0)), e.prog);
    json_decref(r);
    cr_assert_neq(access(path, F_OK), 0, "the state file is still there");
    for (long long until = test_now_ms() + T; markers(&e) != 0 && test_now_ms() < until;)
        usleep(20000);
    cr_assert_eq(markers(&e), 0, "the marker of a forgotten state is still there");
    end = wait_line(&e, "end", 0);
    long pid2 = field(end, "pid");
    free(end);
    run_program(&e, "30");
    char *again = wait_line(&e, "start", pid2);
    cr_assert(strstr(again, " v1 frame=0 score=0 big=0 kind=0 ptr=null best=10 level=1 runs=0"),
              "the forgotten state came back: %s", again);
    free(again);
    teardown(&e);
}

static int has_message(struct env *e, const char *a, const char *b)
{
    size_t i;
    json_t *msg;
    json_array_foreach(e->history, i, msg) {
        const char *m = json_string_value(json_object_get(json_object_get(msg, "params"), "message"));
        if (m && strstr(m, a) && (!b || strstr(m, b)))
            return 1;
    }
    return 0;
}

/* Restart from the editor: the program the server started hands its state
 * over, the build changes its layouts, the new program gets it migrated. */
Test(persist, a_restart_rebuilds_and_hands_the_state_back_migrated)
{
    struct env e;
    json_t *r;

    setup(&e);
    start_server(&e, json_pack("{s:{s:s, s:[s, s]}}", "program", "path", e.prog, "args", "0", e.out));
    r = command(&e, "hotc.server.run", NULL);
    long pid1 = (long)json_integer_value(json_object_get(json_object_get(r, "result"), "pid"));
    cr_assert_gt(pid1, 0, "%s", json_dumps(r, 0));
    json_decref(r);
    char *start = wait_line(&e, "start", 0);
    cr_assert(strstr(start, " v1 frame=0 "), "%s", start);
    free(start);
    long long deadline = test_now_ms() + T;
    for (;;) { /* some frames and persistent points to keep */
        char *tick = wait_line(&e, "tick", 0);
        long frame = field(tick, "frame");
        free(tick);
        if (frame >= 40)
            break;
        cr_assert(test_now_ms() < deadline, "the program does not run");
        usleep(50000);
    }

    /* the next build: new layouts */
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/build.sh", e.dir);
    char *script = test_slurp(path, NULL);
    char *at = strstr(script, "-Wall ");
    cr_assert(at);
    char changed[8 * PATH_MAX];
    snprintf(changed, sizeof changed, "%.*s-Wall -DV2 %s", (int)(at - script), script, at + 6);
    test_spit(path, changed);
    free(script);
    r = command(&e, "hotc.server.restart", NULL);
    long pid2 = (long)json_integer_value(json_object_get(json_object_get(r, "result"), "pid"));
    cr_assert_gt(pid2, 0, "%s", json_dumps(r, 0));
    cr_assert_neq(pid1, pid2);
    json_decref(r);

    char *v2 = wait_line(&e, "start", pid1);
    cr_assert(strstr(v2, " v2 "), "the restart did not rebuild: %s", v2);
    cr_assert_gt(field(v2, "frame"), 39, "the frame counter was not handed back: %s", v2);
    cr_assert_eq(field(v2, "score"), 2 * field(v2, "frame"), "%s", v2);
    cr_assert_gt(field(v2, "best"), 49, "the persistent variable was not handed back (int -> long): %s", v2);
    cr_assert(strstr(v2, " big=0 kind=0 lives=0 ptr=null "), "%s", v2);
    cr_assert_eq(field(v2, "level"), 1, "%s", v2);
    cr_assert_eq(field(v2, "runs"), 1, "%s", v2);
    free(v2);
    /* the editor is told: what was migrated, and a warning naming each
     * field left at its default */
    wait_message(&e, "state restored from its last run: ");
    cr_assert(has_message(&e, "field `lives` added (0)", NULL));
    cr_assert(has_message(&e, "`points` int → long int", NULL));
    wait_message(&e, "field `kind`");
    cr_assert(has_message(&e, "field `kind`", "cannot be migrated, defaulted"));
    wait_message(&e, "field `game.big` did not fit");
    validate_traffic(&e, (const char *const[]){ "hot-handover", "hot-handover.result", "hot-restore", "hot-restore.result",
                                                NULL });
    teardown(&e);
}

/* A program that cannot answer the hand-over (stopped, here by SIGSTOP, as
 * in a debugger) does not hold the restart: after the wait it is restarted
 * without its state, and the log says why. */
Test(persist, a_restart_does_not_wait_forever_for_a_program_that_cannot_answer)
{
    struct env e;
    json_t *r;

    setup(&e);
    start_server(&e, json_pack("{s:{s:s, s:[s, s]}}", "program", "path", e.prog, "args", "0", e.out));
    r = command(&e, "hotc.server.run", NULL);
    long pid1 = (long)json_integer_value(json_object_get(json_object_get(r, "result"), "pid"));
    cr_assert_gt(pid1, 0, "%s", json_dumps(r, 0));
    json_decref(r);
    free(wait_line(&e, "start", 0));
    wait_message(&e, "attached"); /* hot_init does not wait for it without saved state */
    cr_assert_eq(kill((pid_t)pid1, SIGSTOP), 0);
    r = command(&e, "hotc.server.restart", NULL);
    long pid2 = (long)json_integer_value(json_object_get(json_object_get(r, "result"), "pid"));
    cr_assert_gt(pid2, 0, "the restart did not go on: %s", json_dumps(r, 0));
    cr_assert_neq(pid1, pid2);
    json_decref(r);
    wait_message(&e, "did not hand its state over");
    free(wait_line(&e, "start", pid1));
    teardown(&e);
}

/* A block a live reload migrated is handed over in its new layout: the
 * server describes it from the patch that gave it (the executable has the
 * old one), and the next start, of the unchanged executable, migrates it
 * back. */
Test(persist, a_block_migrated_live_is_saved_in_its_new_layout)
{
    struct env e;
    char path[PATH_MAX + 64], endpoint[PATH_MAX + 64], uri[PATH_MAX + 80];
    json_t *db, *p;

    setup(&e);
    snprintf(path, sizeof path, "%s/compile_commands.json", e.dir);
    db = json_pack("[{s:s, s:s, s:[s,s,s,s,s,s,s,s,s,s]}]", "directory", e.dir, "file", "persist.c", "arguments",
                   "gcc", "-std=gnu11", "-g", "-O1", "-I", test_source_path("runtime"), "-o", "persist",
                   "persist.c", "-Wall");
    cr_assert_eq(json_dump_file(db, path, 0), 0);
    json_decref(db);
    start_server(&e, NULL);
    snprintf(endpoint, sizeof endpoint, "unix:%s/run/hotc/%ld.sock", e.dir, (long)lspclient_pid(e.c));
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        setenv("HOTC_ENDPOINT", endpoint, 1);
        execl(e.prog, e.prog, "0", e.out, "term", (char *)NULL);
        _exit(127);
    }
    free(wait_line(&e, "tick", 0));

    /* a field added live: the block is migrated */
    snprintf(path, sizeof path, "%s/persist.c", e.dir);
    snprintf(uri, sizeof uri, "file://%s", path);
    char *text = test_slurp(path, NULL);
    lspclient_notify(e.c, "textDocument/didOpen",
                     json_pack("{s:{s:s, s:s, s:i, s:s}}", "textDocument", "uri", uri, "languageId", "c", "version", 1,
                               "text", text));
    char *at = strstr(text, "    long kind;\n#endif\n");
    cr_assert(at);
    char *changed = malloc(strlen(text) + 64);
    sprintf(changed, "%.*s    long kind;\n    long extra;\n%s", (int)(at - text), text, at + strlen("    long kind;\n"));
    lspclient_notify(e.c, "textDocument/didChange",
                     json_pack("{s:{s:s, s:i}, s:[{s:s}]}", "textDocument", "uri", uri, "version", 2,
                               "contentChanges", "text", changed));
    test_spit(path, changed);
    lspclient_notify(e.c, "textDocument/didSave", json_pack("{s:{s:s}}", "textDocument", "uri", uri));
    long long deadline = test_now_ms() + T;
    for (;;) {
        json_t *msg = lspclient_read(e.c, (int)(deadline - test_now_ms()));
        cr_assert(msg, "no hotc/reloaded");
        json_array_append(e.history, msg);
        const char *m = json_string_value(json_object_get(msg, "method"));
        p = m && strcmp(m, "hotc/reloaded") == 0 ? json_object_get(msg, "params") : NULL;
        if (p) {
            json_t *r = json_array_get(json_object_get(p, "programs"), 0);
            cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "applied", "%s",
                             json_string_value(json_object_get(r, "reason")));
            cr_assert(strstr(json_string_value(json_object_get(p, "state")), "field `extra` added (0)"));
            json_decref(msg);
            break;
        }
        json_decref(msg);
    }
    free(changed);
    free(text);

    /* a clean exit; then the unchanged executable starts again */
    kill(pid, SIGTERM);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the program did not exit cleanly (%d)", status);
    wait_message(&e, "was saved (exit)");
    char *end = wait_line(&e, "end", 0);
    long frames = field(end, "frame");
    free(end);
    run_program(&e, "30");
    char *again = wait_line(&e, "start", pid);
    cr_assert(strstr(again, " v1 "), "%s", again);
    cr_assert_eq(field(again, "frame"), frames, "the migrated block did not come back: %s", again);
    cr_assert_eq(field(again, "score"), 2 * frames, "%s", again);
    cr_assert_eq(field(again, "kind"), 4, "%s", again);
    free(again);
    wait_message(&e, "field `extra` removed");
    teardown(&e);
}
