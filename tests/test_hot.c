/* runtime/hot.h as the user's compiler sees it: on x86-64 every HOT
 * function's 14 bytes of padding start on a 16-byte boundary, whatever the
 * optimisation level and compiler, so that its entry and its jump target
 * can each be rewritten with one atomic store while other threads run. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

static const char program[] =
    "#include <hot.h>\n"
    "#include <stdio.h>\n"
    "static HOT int f(int x) { return x + 1; }\n"
    "HOT int g(int x) { return x * 3; }\n"
    "HOT char h(char x) { return (char)(x - 3); }\n"
    "int main(void)\n"
    "{\n"
    "    printf(\"%lu %lu %lu\\n\", (unsigned long)(size_t)f % 16, (unsigned long)(size_t)g % 16,\n"
    "           (unsigned long)(size_t)h % 16);\n"
    "    return f(1) + g(2) + h(3) == 0;\n"
    "}\n";

static void check_entries(const char *cc, const char *opt)
{
    char dir[] = "/tmp/hotc-test-hot-XXXXXX";
    char src[64], exe[64], out[4096], cmd[1024];

    cr_assert_not_null(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/p.c", dir);
    snprintf(exe, sizeof exe, "%s/p", dir);
    FILE *f = fopen(src, "w");
    cr_assert_not_null(f);
    fputs(program, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s %s -std=c11 -Wall -Werror -I%s -o %s %s && %s; rm -rf %s", cc, opt,
             test_source_path("runtime"), exe, src, exe, dir);
    char *argv[] = { "sh", "-c", cmd, NULL };
    cr_assert_eq(test_run(argv, out, sizeof out, 60000), 0, "%s %s: %s", cc, opt, out);
    cr_assert_str_eq(out, "14 14 14\n", "%s %s: entries not 14 bytes past a 16-byte boundary: %s", cc, opt,
                     out);
}

#if defined(__x86_64__)
Test(hot, entries_are_aligned_with_gcc_at_every_level)
{
    const char *levels[] = { "-O0", "-O1", "-Os", "-O2", "-O3" };
    for (size_t i = 0; i < sizeof levels / sizeof *levels; i++)
        check_entries("gcc", levels[i]);
}

Test(hot, entries_are_aligned_with_clang_at_every_level)
{
    const char *levels[] = { "-O0", "-O1", "-Os", "-O2" };
    if (access("/usr/bin/clang", X_OK) != 0)
        cr_skip_test("clang is not installed");
    for (size_t i = 0; i < sizeof levels / sizeof *levels; i++)
        check_entries("clang", levels[i]);
}
#endif
