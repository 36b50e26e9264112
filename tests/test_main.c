/* The hotc command line: --version, --help, exec, and unknown commands. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "run.h"

Test(main, version_prints_the_version)
{
    char out[256];
    char *argv[] = { (char *)test_build_path("hotc"), "--version", NULL };

    cr_assert_eq(test_run(argv, out, sizeof out, 5000), 0);
    cr_assert_str_eq(out, "hotc " HOTC_VERSION "\n");
}

Test(main, help_lists_the_lsp_command)
{
    char out[2048];
    char *argv[] = { (char *)test_build_path("hotc"), "--help", NULL };

    cr_assert_eq(test_run(argv, out, sizeof out, 5000), 0);
    cr_assert(strstr(out, "usage: hotc") != NULL, "%s", out);
    cr_assert(strstr(out, "lsp") != NULL, "%s", out);
}

Test(main, unknown_command_fails_with_a_message)
{
    char out[2048];
    char *argv[] = { (char *)test_build_path("hotc"), "frobnicate", NULL };

    cr_assert_eq(test_run(argv, out, sizeof out, 5000), 2);
    cr_assert(strstr(out, "unknown command 'frobnicate'") != NULL, "%s", out);
}

/* hotc exec (lsp/exec.c) ends the way its program ended: its exit status,
 * or its signal (the shell sees 128 + SIGTERM); without a program, usage.
 * What it tells the server is checked in test_pipeline. */
Test(main, exec_ends_the_way_its_program_ended)
{
    char out[2048], cmd[4096];

    snprintf(cmd, sizeof cmd,
             "unset HOTC_ENDPOINT; '%s' exec -- sh -c 'exit 7'; echo status=$?; "
             "'%s' exec sh -c 'kill -TERM $$'; echo status=$?",
             test_build_path("hotc"), test_build_path("hotc"));
    char *argv[] = { "sh", "-c", cmd, NULL };
    cr_assert_eq(test_run(argv, out, sizeof out, 10000), 0, "%s", out);
    cr_assert(strstr(out, "status=7\n") != NULL && strstr(out, "status=143\n") != NULL, "%s", out);

    char *none[] = { (char *)test_build_path("hotc"), "exec", NULL };
    cr_assert_eq(test_run(none, out, sizeof out, 5000), 2);
    cr_assert(strstr(out, "no program given") != NULL, "%s", out);
}
