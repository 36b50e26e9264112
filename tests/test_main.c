/* The hotc command line: --version, --help, and unknown commands. */
#include <criterion/criterion.h>

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
