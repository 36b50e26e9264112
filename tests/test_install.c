/* The build system as a user meets it: `make install PREFIX=...` gives a
 * pkg-config file with which a program using HOT builds, links and runs;
 * libhotc exports only hot_* symbols; a second build does nothing; and the
 * dependency check tells a non-root user the exact command to run. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

#if defined(__SANITIZE_ADDRESS__)
#define RUN_ENV "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 "
#else
#define RUN_ENV ""
#endif

/* The make variables the tree under test was built with, read back from
 * its flags stamp (<build>/.flags, which holds CFLAGS_BASE): make run with
 * other ones would rebuild that tree, under the running tests. SANITIZE and
 * WERROR are read; OPT and CC are taken to be the defaults. */
static const char *make_flavour(void)
{
    static char flavour[64];
    char *flags = test_slurp(test_build_path(".flags"), NULL);

    cr_assert_not_null(flags, "no flags stamp in %s", test_build_path(""));
    snprintf(flavour, sizeof flavour, "SANITIZE=%d WERROR=%d", strstr(flags, "-fsanitize") != NULL,
             strstr(flags, "-Werror") != NULL);
    free(flags);
    return flavour;
}

/* The tests run two at a time, each suite's .init installing again: one
 * make at a time in the build directory (the command starts there), or two
 * would rebuild the same file at once when a source has changed. */
#define MAKE_LOCKED "flock .install-test.lock "

static char prefix[256];

/* Runs the shell command line made from `fmt` as test_run() runs a command:
 * its output in `out` (when not NULL), its exit status returned. */
static int sh(char *out, size_t size, int timeout_ms, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int sh(char *out, size_t size, int timeout_ms, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0 && (size_t)n < sizeof cmd, "command line too long: %s", cmd);
    char *argv[] = { "sh", "-c", cmd, NULL };
    return test_run(argv, out, size, timeout_ms);
}

static void install_to_temp(void)
{
    char out[16384];
    const char *flavour = make_flavour(); /* before test_build_path: one buffer */

    snprintf(prefix, sizeof prefix, "/tmp/hotc-install-test-%d", (int)getpid());
    int rc = sh(out, sizeof out, 300000, "cd %s && " MAKE_LOCKED "make -s -C %s %s BUILD=%s install PREFIX=%s",
                test_build_path(""), HOTC_SOURCE_DIR, flavour, test_build_path(""), prefix);
    cr_assert_eq(rc, 0, "make install failed:\n%s", out);
}

static void remove_temp(void)
{
    sh(NULL, 0, 30000, "rm -rf %s", prefix);
}

TestSuite(install, .init = install_to_temp, .fini = remove_temp, .timeout = 600);

Test(install, installs_binary_library_header_and_pc)
{
    const char *files[] = { "bin/hotc", "lib/libhotc.a", "lib/libhotc.so", "include/hot.h",
                            "lib/pkgconfig/hotc.pc" };
    char path[512];

    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", prefix, files[i]);
        cr_assert_eq(access(path, F_OK), 0, "%s not installed", path);
    }
}

Test(install, pkg_config_gives_rdynamic_and_the_library)
{
    char out[4096];

    cr_assert_eq(sh(out, sizeof out, 30000, "PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config --cflags --libs hotc", prefix),
                 0, "%s", out);
    cr_assert(strstr(out, "-rdynamic") != NULL, "%s", out);
    cr_assert(strstr(out, "-lhotc") != NULL, "%s", out);
    cr_assert(strstr(out, "/include") != NULL, "%s", out);
}

/* A HOT program compiled and linked only with what pkg-config says runs and
 * reaches the installed shared library. */
Test(install, a_program_builds_with_pkg_config_and_runs)
{
    char out[8192];
    char src[300], exe[300];

    snprintf(src, sizeof src, "%s/prog.c", prefix);
    snprintf(exe, sizeof exe, "%s/prog", prefix);
    FILE *f = fopen(src, "w");
    cr_assert_not_null(f);
    fputs("#include <hot.h>\n#include <stdio.h>\n"
          "HOT int twice(int x) { return 2 * x; }\n"
          "int main(void) { printf(\"twice=%d version=%d\\n\", twice(21), hot_version()); return 0; }\n",
          f);
    fclose(f);
    cr_assert_eq(sh(out, sizeof out, 60000,
                    "cc -std=c11 -Wall -Werror -o %s %s $(PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config --cflags --libs "
                    "hotc) && " RUN_ENV "HOTC_ENDPOINT=unix:/nonexistent/hotc.sock %s",
                    exe, src, prefix, exe),
                 0, "%s", out);
    cr_assert(strstr(out, "twice=42 version=0") != NULL, "%s", out);
}

Test(install, shared_library_exports_only_hot_symbols)
{
    char out[16384];

    cr_assert_eq(sh(out, sizeof out, 30000, "nm -D --defined-only %s/lib/libhotc.so | awk '{print $3}'", prefix), 0,
                 "%s", out);
    cr_assert(strstr(out, "hot_version") != NULL, "%s", out);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (*line == '\0' || strncmp(line, "_init", 5) == 0 || strncmp(line, "_fini", 5) == 0)
            continue;
        cr_assert(strncmp(line, "hot_", 4) == 0 || test_libhotc_interposer(line), "libhotc.so exports '%s'", line);
    }
}

/* After the install, building again with the same variables runs nothing:
 * make prints no command (compiler, archiver, link), only its own messages
 * if any. The exit status alone would not tell. */
Test(install, a_second_build_does_nothing)
{
    static char out[65536];
    const char *flavour = make_flavour();

    cr_assert_eq(sh(out, sizeof out, 300000, "cd %s && " MAKE_LOCKED "make --no-print-directory -C %s %s BUILD=%s all",
                    test_build_path(""), HOTC_SOURCE_DIR, flavour, test_build_path("")),
                 0, "%s", out);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
        cr_assert(strncmp(line, "make", 4) == 0, "the second build ran a command: %s", line);
}

/* Not root and a package missing: the check stops and prints the exact
 * command, naming the package. */
Test(deps, non_root_gets_the_install_command)
{
    char out[4096];
    int rc = sh(out, sizeof out, 60000,
                "HOTC_DEPS_EXTRA=hotc-no-such-package setpriv --reuid=65534 --regid=65534 --clear-groups "
                "%s/tools/deps.sh base",
                HOTC_SOURCE_DIR);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "missing packages: hotc-no-such-package") != NULL, "%s", out);
    cr_assert(strstr(out, "apt-get install -y --no-install-recommends hotc-no-such-package") != NULL, "%s",
              out);
}

Test(deps, nothing_missing_is_silent)
{
    char out[4096];
    char *argv[] = { (char *)test_source_path("tools/deps.sh"), "base", NULL };

    cr_assert_eq(test_run(argv, out, sizeof out, 60000), 0, "%s", out);
    cr_assert_str_eq(out, "");
}
