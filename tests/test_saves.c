/* End to end, as tests/test_pipeline.c (tests/support/pipeline_env.h):
 * what a save changed and what the editor is told of it. A function marked
 * HOT or a static added since the build; an amalgamated source renamed by
 * #line directives; a unity build (a .c file another one includes); a
 * line added above a function that logs __LINE__; compile errors on the
 * user's line; the precompiled preamble of gcc patches; tcc failing on a
 * file; patch folders bounded; state blocks migrated by a save. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "lspclient.h"
#include "e2e.h"
#include "run.h"
#include "pipeline_env.h"

/* The fixture program rebuilt from `text` (e->text, taken), before the
 * server starts: a project whose source differs from prog.c. */
static void rebuild_with(struct env *e, char *text)
{
    char cmd[16384], out[8192];

    free(e->text);
    e->text = text;
    test_spit(e->src, e->text);
    snprintf(cmd, sizeof cmd, "cd '%s' && gcc -std=gnu11 -g -O1 -Wall -o prog prog.c %s", e->dir, test_hotc_flags());
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "cannot build the program: %s", out);
}

/* The server, the program attached, the document open, and its first
 * line printed (a copy). */
static char *start_attached(struct env *e)
{
    int one = 1;
    json_t *p;

    start_server(e, NULL);
    start_program(e);
    p = wait_for(e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(e);
    char *started = wait_output(e, "value=101 step=1", T);
    cr_assert(started, "the program did not start");
    return started;
}

/* `broken` saved: an error diagnostic on the line that holds `at`. */
static void expect_error_at(struct env *e, const char *broken, const char *at)
{
    struct diag_match err = { e->uri, NULL, 1, 0 };
    json_t *p, *d = NULL;
    size_t i;

    save(e, broken);
    p = wait_for(e, "textDocument/publishDiagnostics", diags_match, &err, T);
    json_array_foreach(json_object_get(p, "diagnostics"), i, d)
        if (json_integer_value(json_object_get(d, "severity")) == 1)
            break;
    cr_assert_not_null(d, "no error diagnostic");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(d, "range"), "start"), "line")),
                 test_line_of(broken, at), "%s", json_dumps(d, 0));
    json_decref(p);
}

/* A function marked HOT after the program was built has no entry to
 * redirect: the save says so (not "nothing to reload"), and the text is
 * not taken for what the program runs: taking the mark away again is
 * nothing to reload, with no note about that function. */
Test(saves, a_function_marked_hot_after_the_build_asks_for_a_restart)
{
    struct env e;
    int one = 1;
    json_t *p;

    setup_project(&e);
    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    char *started = wait_output(&e, "value=101 step=1", T);
    cr_assert(started, "the program did not start");
    free(started);
    char *marked = test_edit(e.text, (const char *const[]){ "static void on_term(int sig)", "static HOT void on_term(int sig)", NULL });
    save(&e, marked);
    p = wait_for(&e, "hotc/status", last_result_is, "notApplied", T);
    cr_assert(p, "no notApplied status for the newly marked function");
    cr_assert(strstr(last_message(p), "on_term() is not HOT in the running program (marked since it was built)"), "%s",
              last_message(p));
    json_decref(p);
    /* the mark taken away: the text is what the program runs again */
    save(&e, e.text);
    p = wait_for(&e, "hotc/status", last_result_is, "nothing", T);
    cr_assert(p, "putting the text back is not \"nothing to reload\"");
    cr_assert_null(strstr(last_message(p), "on_term"), "%s", last_message(p));
    json_decref(p);
    free(marked);
    teardown(&e);
    remove_project(&e);
}

/* A function-local static that starts at zero, added since the program was
 * built (a counter for a debug print): the runtime makes it, zeroed, and
 * every later reload keeps it; the other statics keep their values too.
 * One with another initializer is refused by name (its value is not known
 * to the runtime). */
Test(saves, a_zeroed_local_static_added_since_the_build_is_made_once_and_kept)
{
    struct env e;
    int one = 1;
    json_t *p;

    setup_project(&e);
    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    char *started = wait_output(&e, "value=101 step=1", T);
    cr_assert(started, "the program did not start");
    char *added = test_edit(e.text, (const char *const[]){ "    static int calls;\n",
                                                      "    static int calls;\n    static int added_later;\n",
                                                      "return x + 100;",
                                                      "if (added_later < 5)\n        added_later++;\n"
                                                      "    return x + 300 + added_later;",
                                                      NULL });
    save(&e, added);
    p = wait_for(&e, "hotc/status", last_result_is, "applied", T);
    cr_assert(p, "a zeroed static added to value() was not applied");
    json_decref(p);
    char *counted = wait_output(&e, "value=306 ", T);
    cr_assert(counted, "the added static did not count from zero to 5");
    cr_assert_gt(field(counted, "calls"), field(started, "calls"), "value()'s own static was not kept: %s", counted);
    char *first = wait_output(&e, "value=302 ", T);
    cr_assert(first, "the added static did not start at zero");
    free(first);
    /* a second reload binds to the same storage: 5 already */
    char *again = test_edit(added, (const char *const[]){ "return x + 300 + added_later;",
                                                      "return x + 400 + added_later;", NULL });
    save(&e, again);
    p = wait_for(&e, "hotc/status", last_result_is, "applied", T);
    json_decref(p);
    char *kept = wait_output(&e, "value=406 ", T);
    cr_assert(kept, "the second reload did not run");
    {
        char *out = test_slurp(e.out, NULL);
        cr_assert(out && !strstr(out, "value=402 "), "the added static started again from zero:\n%s", out);
        free(out);
    }
    /* another initializer: refused, by name */
    char *seeded = test_edit(again, (const char *const[]){ "    static int added_later;\n",
                                                       "    static int added_later;\n    static int seeded = 7;\n",
                                                       "return x + 400 + added_later;",
                                                       "return x + 500 + added_later + seeded;", NULL });
    save(&e, seeded);
    p = wait_for(&e, "hotc/status", last_result_is, "refused", T);
    cr_assert(p, "a static added with an initializer other than zero was not refused");
    cr_assert(strstr(last_message(p), "seeded"), "%s", last_message(p));
    json_decref(p);
    free(seeded);
    free(kept);
    free(again);
    free(counted);
    free(added);
    free(started);
    teardown(&e);
    validate_traffic(&e, (const char *const[]){ "hot-reload", "hot-reload.result", NULL });
    remove_project(&e);
}

/* A file-scope static variable added since the program was built is not
 * in it: the reload is refused, naming the variable and saying why, and the
 * program keeps running the old code (only a function-local one that
 * starts at zero is made, above). */
Test(saves, a_static_added_since_the_build_is_refused_by_name)
{
    struct env e;
    int one = 1;
    json_t *p;

    setup_project(&e);
    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    char *started = wait_output(&e, "value=101 step=1", T);
    cr_assert(started, "the program did not start");
    free(started);
    char *added = test_edit(e.text, (const char *const[]){ "HOT int value(int x)\n", "static int added_later;\nHOT int value(int x)\n",
                                                      "return x + 100;", "added_later++;\n    return x + 300;", NULL });
    save(&e, added);
    p = wait_for(&e, "hotc/status", last_result_is, "refused", T);
    cr_assert(p, "the reload was not refused");
    cr_assert(strstr(last_message(p), "added_later") && strstr(last_message(p), "added since it was built"), "%s",
              last_message(p));
    json_decref(p);
    usleep(300000);
    char *line = wait_output(&e, "value=", T); /* the program's last line */
    cr_assert(line && strstr(line, "value=101"), "the program does not run the old code: %s", line);
    free(line);
    free(added);
    teardown(&e);
    remove_project(&e);
}

/* An amalgamated source (one .c made of many, as SQLite's or Mongoose's
 * with MG_ENABLE_LINES): a `#line` directive renames the lines that follow.
 * The preprocessor's markers then name "src/value.c", yet value() is the
 * file's own: a save of its body reloads it, keeping its statics, and a
 * compile error lands on the user's line of prog.c. */
Test(saves, a_function_after_a_line_directive_reloads_and_keeps_its_state)
{
    struct env e;
    json_t *p;

    setup_project(&e);
    rebuild_with(&e, test_edit(e.text, (const char *const[]){ "HOT int value(int x)\n",
                                                            "#line 1 \"src/value.c\"\nHOT int value(int x)\n", NULL }));
    free(start_attached(&e));
    char *broken = test_edit(e.text, (const char *const[]){ "return x + 100;", "return x + ;", NULL });
    expect_error_at(&e, broken, "return x + ;");
    char *changed = test_edit(e.text, (const char *const[]){ "return x + 100;", "return x + 300;", NULL });
    save(&e, changed);
    p = wait_for(&e, "hotc/status", last_result_is, "applied", T);
    cr_assert(p, "a body change after a #line directive was not reloaded");
    json_decref(p);
    char *line = wait_output(&e, "value=301 step=1", T);
    cr_assert(line, "the program does not run the new value()");
    int calls = 0, seen = 0;
    cr_assert_eq(sscanf(strstr(line, "calls="), "calls=%d seen=%d", &calls, &seen), 2, "%s", line);
    cr_assert(calls > 1 && seen > 1, "value()'s statics were not kept: %s", line);
    free(line);
    free(changed);
    free(broken);
    teardown(&e);
    remove_project(&e);
}

/* A unity build: unity_main.c includes unity_game.c, which
 * compile_commands.json does not compile. A save of unity_game.c is read
 * like a header's: a macro of it that a HOT function of unity_main.c uses
 * reloads that function; its own HOT function is not reloaded (the patch
 * builder does not assemble one translation unit from two files) and the
 * status says so, instead of a compile error of the file built alone. */
Test(saves, a_c_file_another_includes_is_read_like_a_header)
{
    struct env e;
    int one = 1;
    json_t *p;
    char cmd[16384], out[8192], main_uri[PATH_MAX + 8];
    char *main_text;

    memset(&e, 0, sizeof e);
    snprintf(e.dir, sizeof e.dir, "/tmp/hotc-pipe-XXXXXX");
    cr_assert(mkdtemp(e.dir));
    e.editor = json_object();
    e.history = json_array();
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "unity_game.c" : "unity_main.c";
        char fixture[PATH_MAX], path[PATH_MAX];
        snprintf(fixture, sizeof fixture, "tests/fixtures/pipeline/%s", name);
        char *text = test_slurp(test_source_path(fixture), NULL);
        cr_assert(text);
        snprintf(path, sizeof path, "%s/%s", e.dir, name);
        test_spit(path, text);
        free(text);
    }
    snprintf(e.src, sizeof e.src, "%s/unity_game.c", e.dir);
    snprintf(e.uri, sizeof e.uri, "file://%s", e.src);
    e.text = test_slurp(e.src, NULL);
    snprintf(e.prog, sizeof e.prog, "%s/prog", e.dir);
    snprintf(e.out, sizeof e.out, "%s/prog.out", e.dir);
    snprintf(cmd, sizeof cmd, "%s/compile_commands.json", e.dir);
    json_t *db = json_pack("[{s:s, s:s, s:[s,s,s,s,s,s,s,s,s,s]}]", "directory", e.dir, "file", "unity_main.c",
                           "arguments", "gcc", "-std=gnu11", "-g", "-O1", "-I", test_source_path("runtime"), "-o",
                           "prog", "unity_main.c", "-Wall");
    cr_assert_eq(json_dump_file(db, cmd, 0), 0);
    json_decref(db);
    snprintf(cmd, sizeof cmd, "cd '%s' && gcc -std=gnu11 -g -O1 -Wall -o prog unity_main.c %s", e.dir,
             test_hotc_flags());
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "cannot build the program: %s", out);
    snprintf(cmd, sizeof cmd, "%s/run", e.dir);
    cr_assert_eq(mkdir(cmd, 0700), 0);

    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_file(&e, "unity_main.c", main_uri, sizeof main_uri, &main_text);
    open_doc(&e);
    char *line = wait_output(&e, "shown=111", T);
    cr_assert(line, "the program did not start");
    free(line);

    /* its own HOT function: said, not attempted */
    char *own = test_edit(e.text, (const char *const[]){ "x * 10 + GAME_STEP", "x * 20 + GAME_STEP", NULL });
    save(&e, own);
    p = wait_for(&e, "hotc/status", last_result_is, "notApplied", T);
    cr_assert(p, "no notApplied status for the included file's own HOT function");
    cr_assert(strstr(last_message(p), "game_value() is in unity_game.c, which unity_main.c includes"), "%s",
              last_message(p));
    json_decref(p);
    {
        struct diag_match err = { e.uri, NULL, 1, 0 };
        json_t *msg;
        size_t i;
        json_array_foreach(e.history, i, msg) {
            const char *m = json_string_value(json_object_get(msg, "method"));
            cr_assert(!m || strcmp(m, "textDocument/publishDiagnostics") != 0 ||
                          !diags_match(json_object_get(msg, "params"), &err),
                      "an error on unity_game.c (built alone?): %s", json_dumps(msg, JSON_COMPACT));
        }
    }

    /* a macro of it that the includer's HOT function uses: reloaded there */
    save(&e, e.text);
    char *macro = test_edit(e.text, (const char *const[]){ "#define GAME_STEP 1", "#define GAME_STEP 5", NULL });
    save(&e, macro);
    line = wait_output(&e, "shown=511", T);
    cr_assert(line, "a macro of the included file did not reach the includer's HOT function");
    free(line);
    free(macro);
    free(own);
    free(main_text);
    teardown(&e);
    remove_project(&e);
}

/* Real code logs __LINE__ (a LOG macro): a line added above a function
 * that is not HOT changes the number it prints, not its code. A save that
 * adds one above it (and changes value()) reloads value() and says nothing
 * about the other function. */
Test(saves, a_line_added_above_a_function_that_logs_its_line_is_no_change_of_it)
{
    struct env e;
    json_t *p;

    setup_project(&e);
    rebuild_with(&e, test_edit(e.text, (const char *const[]){ "static void on_term(int sig)\n",
                                                        "#define WHERE() (__LINE__ + 0)\n"
                                                        "int where_logged(void)\n{\n    return WHERE();\n}\n\n"
                                                        "static void on_term(int sig)\n", NULL }));
    free(start_attached(&e));
    char *moved = test_edit(e.text, (const char *const[]){ "HOT int value(int x)\n", "\n\nHOT int value(int x)\n",
                                                      "return x + 100;", "return x + 300;", NULL });
    save(&e, moved);
    p = wait_for(&e, "hotc/status", last_result_is, "applied", T);
    cr_assert(p, "value() was not reloaded");
    cr_assert_null(strstr(last_message(p), "where_logged"), "%s", last_message(p));
    json_decref(p);
    {
        struct diag_match note = { e.uri, "not-hot", 3, 0 };
        json_t *msg;
        size_t i;
        json_array_foreach(e.history, i, msg) {
            const char *m = json_string_value(json_object_get(msg, "method"));
            cr_assert(!m || strcmp(m, "textDocument/publishDiagnostics") != 0 ||
                          !diags_match(json_object_get(msg, "params"), &note),
                      "a note on a function whose code did not change: %s", json_dumps(msg, JSON_COMPACT));
        }
    }
    free(moved);
    teardown(&e);
    remove_project(&e);
}

/* The line a compile error lands on, on its own and fast: one program,
 * one broken save, the error diagnostic at the user's line (not the
 * generated patch's), and the program never runs the broken code. */
Test(saves, a_compile_error_lands_on_the_users_line)
{
    struct env e;
    json_t *p, *d;
    size_t i;

    setup_project(&e);
    free(start_attached(&e));
    char *broken = test_edit(e.text, (const char *const[]){ "return x + 100;", "return x + ;", NULL });
    expect_error_at(&e, broken, "return x + ;");
    p = wait_for(&e, "hotc/status", last_result_is, "compileError", T);
    json_decref(p);
    /* an error in a macro's body, expanded twice: said once, at the
     * #define (the compiler says it once per expansion) */
    char *twice = test_edit(e.text, (const char *const[]){ "HOT int value(int x)\n", "#define TWICE(v) ((v) * )\nHOT int value(int x)\n",
                                                      "return x + 100;", "int a = TWICE(x);\n    int b = TWICE(x);\n    return a + b;", NULL });
    save(&e, twice);
    struct diag_match err2 = { e.uri, NULL, 1, 0 };
    for (;;) {
        p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &err2, T);
        int at_define = 0, other = 0;
        json_array_foreach(json_object_get(p, "diagnostics"), i, d) {
            if (json_integer_value(json_object_get(d, "severity")) != 1)
                continue;
            if (json_integer_value(json_object_get(json_object_get(json_object_get(d, "range"), "start"), "line")) ==
                test_line_of(twice, "#define TWICE"))
                at_define++;
            else
                other++;
        }
        char *all = json_dumps(p, JSON_COMPACT);
        json_decref(p);
        if (at_define == 0 && other > 0) { /* the previous save's error, still being replaced */
            free(all);
            continue;
        }
        cr_assert_eq(at_define, 1, "the macro's error, said %d times: %s", at_define, all);
        free(all);
        break;
    }
    free(twice);
    free(broken);
    teardown(&e);
    remove_project(&e);
}

/* A status that ends a save (compiling:false) with the result `arg`. */
static int ended_with(json_t *params, const void *arg)
{
    return json_is_false(json_object_get(params, "compiling")) && last_result_is(params, arg);
}

static int build_preamble_is(json_t *params, const void *arg)
{
    json_t *last = json_object_get(params, "last");
    const char *pre = json_string_value(json_object_get(json_object_get(last, "build"), "preamble"));
    return json_object_get(last, "result") && pre && strncmp(pre, arg, strlen(arg)) == 0;
}

/* The number of files in `dir` whose name ends with `suffix`. */
static int count_files(const char *dir, const char *suffix)
{
    char cmd[PATH_MAX + 128], out[64];
    snprintf(cmd, sizeof cmd, "ls -1 '%s' | grep -c -- '%s$'", dir, suffix);
    test_sh(cmd, out, sizeof out);
    return atoi(out);
}

/* gcc patches (fastCompiler off) use a precompiled preamble from the second
 * save on; messages stay on the user's lines; a header changed on disk
 * makes it stale (the patch sees the new header), and a new one is built. */
Test(saves, gcc_patches_use_a_precompiled_preamble_that_follows_its_headers)
{
    struct env e;
    int one = 1;
    json_t *p;
    char path[PATH_MAX + 16];

    setup_project(&e);
    snprintf(path, sizeof path, "%s/extra.h", e.dir);
    test_spit(path, "#define BONUS 0\n");
    start_server(&e, json_pack("{s:s}", "fastCompiler", "off"));
    start_program(&e);
    json_decref(wait_for(&e, "hotc/status", programs_is, &one, T));
    open_doc(&e);
    free(wait_output(&e, "value=101 step=1", T));

    /* 1. the first save of this #include block builds it in the background */
    char *v200 = test_edit(e.text, (const char *const[]){ "#include <unistd.h>\n", "#include <unistd.h>\n#include \"extra.h\"\n",
                                                     "return x + 100;", "return x + 200 + BONUS;", NULL });
    save(&e, v200);
    p = wait_for(&e, "hotc/status", ended_with, "applied", T);
    cr_assert(build_preamble_is(p, "building"), "%s", json_dumps(p, 0));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "last"), "result")), "applied");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(p, "last"), "build"),
                                                       "compiler")),
                     "gcc");
    json_decref(p);
    free(wait_output(&e, "value=201 step=1", T));
    json_decref(wait_seen(&e, "window/logMessage", log_contains, "precompiled the preamble", T));

    /* 2. the next save uses it */
    char *v300 = test_edit(v200, (const char *const[]){ "return x + 200 + BONUS;", "return x + 300 + BONUS;", NULL });
    save(&e, v300);
    p = wait_for(&e, "hotc/status", ended_with, "applied", T);
    cr_assert(build_preamble_is(p, "precompiled"), "%s", json_dumps(p, 0));
    json_decref(p);
    free(wait_output(&e, "value=301 step=1", T));

    /* 3. an error after the block lands on the user's line, in the user's file */
    char *broken = test_edit(v300, (const char *const[]){ "return x + 300 + BONUS;", "return x + ;", NULL });
    save(&e, broken);
    struct diag_match err = { e.uri, NULL, 1, 0 };
    p = wait_for(&e, "textDocument/publishDiagnostics", diags_match, &err, T);
    {
        json_t *d;
        size_t i;
        int found = 0;
        json_array_foreach(json_object_get(p, "diagnostics"), i, d)
            if (json_integer_value(json_object_get(d, "severity")) == 1 &&
                json_integer_value(json_object_get(json_object_get(json_object_get(d, "range"), "start"), "line")) ==
                    test_line_of(broken, "return x + ;"))
                found = 1;
        cr_assert(found, "no error at the user's line: %s", json_dumps(p, 0));
    }
    json_decref(p);
    p = wait_seen(&e, "hotc/status", ended_with, "compileError", T);
    cr_assert(build_preamble_is(p, "precompiled"), "%s", json_dumps(p, 0));
    json_decref(p);

    /* 4. the header changes on disk: not used stale, the patch sees the new value */
    usleep(100000);
    test_spit(path, "#define BONUS 5\n");
    char *v400 = test_edit(v300, (const char *const[]){ "return x + 300 + BONUS;", "return x + 400 + BONUS;", NULL });
    save(&e, v400);
    p = wait_for(&e, "hotc/status", ended_with, "applied", T);
    cr_assert(build_preamble_is(p, "stale"), "%s", json_dumps(p, 0));
    json_decref(p);
    free(wait_output(&e, "value=406 step=1", T));
    free(v400);

    teardown(&e);
    validate_traffic(&e, (const char *const[]){ "hotc-status", NULL });
    free(v200);
    free(v300);
    free(broken);
    remove_project(&e);
}

/* A file tcc cannot compile: the first save falls back to gcc and says
 * why; the next saves go straight to gcc (no second failed try). */
Test(saves, tcc_failing_on_a_file_is_remembered)
{
    struct env e;
    int one = 1;
    json_t *p, *build;
    char cmd[PATH_MAX + 64];

    snprintf(cmd, sizeof cmd, "command -v tcc >/dev/null");
    if (test_sh(cmd, NULL, 0) != 0)
        cr_skip_test("tcc is not installed");
    setup_project(&e);
    start_server(&e, json_pack("{s:s, s:s}", "fastCompiler", "tcc", "layoutCheck", "off"));
    start_program(&e);
    json_decref(wait_for(&e, "hotc/status", programs_is, &one, T));
    open_doc(&e);
    free(wait_output(&e, "value=101 step=1", T));

    char *v200 = test_edit(e.text, (const char *const[]){ "#include <unistd.h>\n",
                                                     "#include <unistd.h>\n#ifdef __TINYC__\n#error this project "
                                                     "needs gcc\n#endif\n",
                                                     "return x + 100;", "return x + 200;", NULL });
    save(&e, v200);
    p = wait_for(&e, "hotc/status", ended_with, "applied", T);
    build = json_object_get(json_object_get(p, "last"), "build");
    cr_assert_str_eq(json_string_value(json_object_get(build, "compiler")), "gcc", "%s", json_dumps(p, 0));
    cr_assert(strstr(json_string_value(json_object_get(build, "fastCompiler")), "tcc failed:") &&
                  strstr(json_string_value(json_object_get(build, "fastCompiler")), "needs gcc"),
              "%s", json_dumps(p, 0));
    json_decref(p);
    json_decref(wait_seen(&e, "window/logMessage", log_contains, "tcc cannot compile prog.c", T));
    free(wait_output(&e, "value=201 step=1", T));

    char *v300 = test_edit(v200, (const char *const[]){ "return x + 200;", "return x + 300;", NULL });
    save(&e, v300);
    p = wait_for(&e, "hotc/status", ended_with, "applied", T);
    build = json_object_get(json_object_get(p, "last"), "build");
    cr_assert_str_eq(json_string_value(json_object_get(build, "compiler")), "gcc", "%s", json_dumps(p, 0));
    cr_assert(strstr(json_string_value(json_object_get(build, "fastCompiler")), "tcc skipped:"), "%s",
              json_dumps(p, 0));
    json_decref(p);
    free(wait_output(&e, "value=301 step=1", T));

    teardown(&e);
    free(v200);
    free(v300);
    remove_project(&e);
}

/* At start-up the server removes the patch folders of servers that no
 * longer run, and keeps those of live ones; while it runs, the patch
 * libraries on disk are those of the programs' applied stacks. */
Test(saves, stale_patch_folders_are_removed_and_patch_files_bounded)
{
    struct env e;
    int one = 1;
    json_t *p, *r;
    char dead[PATH_MAX + 64], live[PATH_MAX + 64], own[PATH_MAX + 64], cmd[2 * PATH_MAX], out[PATH_MAX];
    pid_t gone = fork();

    if (gone == 0)
        _exit(0);
    waitpid(gone, NULL, 0);
    setup_project(&e);
    snprintf(e.tmp, sizeof e.tmp, "%s/tmp", e.dir);
    cr_assert_eq(mkdir(e.tmp, 0700), 0);
    snprintf(dead, sizeof dead, "%s/hotc-patches-%ld-abcdef", e.tmp, (long)gone);
    snprintf(live, sizeof live, "%s/hotc-patches-%ld-ghijkl", e.tmp, (long)getpid());
    cr_assert_eq(mkdir(dead, 0700), 0);
    cr_assert_eq(mkdir(live, 0700), 0);
    snprintf(cmd, sizeof cmd, "%s/p1.so", dead);
    test_spit(cmd, "x");
    start_server(&e, json_pack("{s:s}", "fastCompiler", "off"));
    json_decref(wait_seen(&e, "window/logMessage", log_contains, "removed 1 patch folder", T));
    cr_assert_neq(access(dead, F_OK), 0, "the folder of a dead server stays");
    cr_assert_eq(access(live, F_OK), 0, "the folder of a live process was removed");
    snprintf(cmd, sizeof cmd, "ls -d '%s'/hotc-patches-%ld-*", e.tmp, (long)lspclient_pid(e.c));
    cr_assert_eq(test_sh(cmd, out, sizeof out), 0, "the server's folder has no pid in its name");
    snprintf(own, sizeof own, "%.*s", (int)strcspn(out, "\n"), out);

    start_program(&e);
    json_decref(wait_for(&e, "hotc/status", programs_is, &one, T));
    open_doc(&e);
    free(wait_output(&e, "value=101 step=1", T));
    char *v[3];
    const char *from = "return x + 100;";
    char *prev = e.text;
    for (int i = 0; i < 3; i++) {
        char to[64];
        snprintf(to, sizeof to, "return x + %d;", 200 + 100 * i);
        v[i] = test_edit(prev, (const char *const[]){ from, to, NULL });
        save(&e, v[i]);
        json_decref(wait_for(&e, "hotc/status", ended_with, "applied", T));
        prev = v[i];
        from = i == 0 ? "return x + 200;" : i == 1 ? "return x + 300;" : from;
    }
    cr_assert_eq(count_files(own, ".so"), 3, "three applied versions, three libraries");
    /* a compile error leaves no library */
    char *broken = test_edit(v[2], (const char *const[]){ "return x + 400;", "return x + ;", NULL });
    save(&e, broken);
    json_decref(wait_seen(&e, "hotc/status", ended_with, "compileError", T));
    cr_assert_eq(count_files(own, ".so"), 3);
    /* a rolled back version no longer runs: its library goes */
    r = command(&e, "hotc.server.rollback", NULL);
    json_decref(r);
    p = wait_for(&e, "hotc/status", ended_with, "rolledBack", T);
    json_decref(p);
    for (int i = 0; i < 100 && count_files(own, ".so") != 2; i++)
        usleep(20000);
    cr_assert_eq(count_files(own, ".so"), 2, "the rolled back library stays");

    teardown(&e);
    cr_assert_neq(access(own, F_OK), 0, "the server's folder stays after its exit");
    for (int i = 0; i < 3; i++)
        free(v[i]);
    free(broken);
    remove_project(&e);
}

/* Typed state (issue 13): a save that changes the types of HOT_STATE
 * blocks is applied with the blocks migrated at the safe point: a field
 * added (zero), a float that became a double, an int that became a char
 * (its value 300 does not fit: zero, named), a nested struct that grew
 * inside an array that grew, a field removed, a pointer kept live; a block
 * whose type did not change is kept as it is; a block with its own
 * migrate function gets the function's (new) result, not the plan's. */
Test(state, a_save_that_changes_state_types_migrates_the_blocks)
{
    struct env e;
    int one = 1;
    json_t *p, *r;
    char *before, *after;

    setup_files(&e, (const char *const[]){ "state.c", NULL });
    start_server(&e, NULL);
    start_program(&e);
    p = wait_for(&e, "hotc/status", programs_is, &one, T);
    json_decref(p);
    open_doc(&e);
    before = wait_output(&e, "old score=", T);
    cr_assert(before, "the program did not start");
    cr_assert(strstr(before, "speed=1.5 big=300 at1y=7 ptr=42 plain=5/"), "%s", before);

    char *changed = test_edit(e.text, (const char *const[]){
        "    int x, y;\n", "    int x, y, z;\n",
        "    float speed;\n    long frames;\n    int big;\n    struct pos at[2];\n    int *ptr;\n    short gone;\n",
        "    double speed;\n    long frames;\n    int lives;\n    char big;\n    struct pos at[3];\n    int *ptr;\n",
        "struct custom {\n    int v;\n};", "struct custom {\n    long v;\n    int extra;\n};\nstruct custom_v1 {\n    int v;\n};",
        "((struct custom *)new_block)->v = ((const struct custom *)old_block)->v;",
        "((struct custom *)new_block)->v = ((const struct custom_v1 *)old_block)->v * 1000L;",
        "        g->gone = 3;\n", "",
        "printf(\"old score=%d speed=%g big=%d at1y=%d ptr=%d plain=%d/%d custom=%d calls=%ld version=%d\\n\", g->score,\n"
        "               (double)g->speed, g->big, g->at[1].y, *g->ptr, p->a, p->b, c->v, g->frames, hot_version());",
        "printf(\"new score=%d speed=%g big=%d at1y=%d at2z=%d lives=%d ptr=%d plain=%d/%d custom=%ld calls=%ld \"\n"
        "                   \"version=%d\\n\", g->score, g->speed, g->big, g->at[1].y, g->at[2].z, g->lives, *g->ptr, p->a,\n"
        "                   p->b, c->v, g->frames, hot_version());",
        NULL });
    save(&e, changed);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    r = json_array_get(json_object_get(p, "programs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "applied", "%s",
                     json_string_value(json_object_get(r, "reason")));
    const char *said = json_string_value(json_object_get(p, "state"));
    cr_assert(said, "hotc/reloaded says what was migrated");
    cr_assert(strstr(said, "state `game` migrated:"), "%s", said);
    cr_assert(strstr(said, "field `lives` added (0)"), "%s", said);
    cr_assert(strstr(said, "`speed` float → double"), "%s", said);
    cr_assert(strstr(said, "`big` int → char"), "%s", said);
    cr_assert(strstr(said, "`big` did not fit its new type, defaulted (0)"), "%s", said);
    cr_assert(strstr(said, "field `at[].z` added (0)"), "%s", said);
    cr_assert(strstr(said, "field `gone` removed"), "%s", said);
    cr_assert(strstr(said, "state `custom` migrated by its migrate function"), "%s", said);
    cr_assert(!strstr(said, "`plain`"), "an unchanged block is not migrated: %s", said);
    json_decref(p);
    after = wait_output(&e, "new score=", T);
    cr_assert(after, "the program does not run the new code");
    cr_assert_gt(field(after, "calls"), field(before, "calls"), "the frame counter was reset: %s", after);
    cr_assert_gt(field(after, "score"), field(before, "score"), "the score was reset: %s", after);
    cr_assert(strstr(after, "speed=1.5 big=0 at1y=7 at2z=0 lives=0 ptr=42 plain=5/"), "%s", after);
    cr_assert_gt(atol(strstr(after, "plain=5/") + 8), atol(strstr(before, "plain=5/") + 8),
                 "the unchanged block was kept: %s", after);
    cr_assert(strstr(after, "custom=9000 "), "the migrate function wins: %s", after);
    cr_assert_eq(field(after, "version"), 1);
    p = wait_for(&e, "hotc/status", last_result_is, "applied", T);
    json_decref(p);

    /* a body change with the same new layout: the blocks are already in it */
    char *again = test_edit(changed, (const char *const[]){ "printf(\"new score=", "printf(\"again score=",
                                                      "    p->b++;\n", "    p->b++;\n    HOT_STATE(struct plain, \"later\")->a++;\n",
                                                      NULL });
    save(&e, again);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    r = json_array_get(json_object_get(p, "programs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "applied", "%s",
                     json_string_value(json_object_get(r, "reason")));
    cr_assert_null(json_object_get(p, "state"), "nothing to migrate: %s",
                   json_string_value(json_object_get(p, "state")));
    json_decref(p);
    char *third = wait_output(&e, "again score=", T);
    cr_assert(third, "the program does not run the new code");
    cr_assert(strstr(third, "speed=1.5 big=0 at1y=7 at2z=0 lives=0 ptr=42 plain=5/"), "%s", third);
    cr_assert(strstr(third, "custom=9000 "), "%s", third);
    cr_assert_gt(field(third, "score"), field(after, "score"), "%s", third);
    free(third);

    /* a third layout: the server plans from the executable's, which the
     * blocks are no longer in: refused, nothing changed */
    char *layout3 = test_edit(again, (const char *const[]){ "    int lives;\n", "    int lives;\n    int level;\n",
                                                       "    g->score++;\n", "    g->score++;\n    g->level = 1;\n", NULL });
    save(&e, layout3);
    p = wait_for(&e, "hotc/reloaded", NULL, NULL, T);
    r = json_array_get(json_object_get(p, "programs"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r, "status")), "refused");
    cr_assert(strstr(json_string_value(json_object_get(r, "reason")), "restart the program to apply"), "%s",
              json_string_value(json_object_get(r, "reason")));
    json_decref(p);
    third = wait_output(&e, "again score=", T);
    cr_assert(third && strstr(third, "lives=0 ptr=42"), "the program goes on: %s", third ? third : "");
    free(third);
    free(layout3);
    free(again);
    teardown(&e);
    /* the block made by the new code was reported (hot/state) */
    validate_traffic(&e, (const char *const[]){ "hot-attach", "hot-state", "hot-reload", "hot-reload.result",
                                                "hotc-reloaded", NULL });
    free(before);
    free(after);
    free(changed);
    remove_project(&e);
}
