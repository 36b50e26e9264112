/* Implements tests/support/e2e.h. */
#include "e2e.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "run.h"

#if defined(__SANITIZE_ADDRESS__)
#define E2E_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define E2E_SANITIZED 1
#endif
#endif

long long test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int test_sh(const char *cmd, char *out, size_t size)
{
    char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
    return test_run(argv, out, size, 300000);
}

void test_spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0, "cannot write %s", path);
}

char *test_edit(const char *text, const char *const *pairs)
{
    char *s = strdup(text);
    for (size_t i = 0; pairs[i]; i += 2) {
        char *at = strstr(s, pairs[i]), *n;
        cr_assert(at, "the text lacks '%s'", pairs[i]);
        n = malloc(strlen(s) - strlen(pairs[i]) + strlen(pairs[i + 1]) + 1);
        sprintf(n, "%.*s%s%s", (int)(at - s), s, pairs[i + 1], at + strlen(pairs[i]));
        free(s);
        s = n;
    }
    return s;
}

int test_line_of(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    int line = 0;
    cr_assert(at, "the text lacks '%s'", needle);
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    return line;
}

const char *test_hotc_flags(void)
{
    static char flags[2 * PATH_MAX + 256];
    char cmd[4 * PATH_MAX + 1024], dir[PATH_MAX];

#ifdef E2E_SANITIZED
    snprintf(dir, sizeof dir, "%s", test_build_path("tests/pipe-plain"));
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && cd '%s' && exec 9>lock && flock 9 && "
             "if [ ! -f libhotc.a ] || [ -n \"$(find '%s/runtime' -newer libhotc.a -name '*.[ch]')\" ]; then "
             "gcc -std=c11 -O2 -g -fPIC -fvisibility=hidden -D_GNU_SOURCE -DHOTC_VERSION='\"%s\"' "
             "-c '%s'/runtime/*.c && rm -f libhotc.a && ar rcs libhotc.a *.o; fi",
             dir, dir, HOTC_SOURCE_DIR, HOTC_VERSION, HOTC_SOURCE_DIR);
    cr_assert_eq(test_sh(cmd, NULL, 0), 0, "cannot build a plain libhotc");
    snprintf(flags, sizeof flags, "-I'%s/runtime' -rdynamic '%s/libhotc.a' -ljansson -ldl -lpthread",
             HOTC_SOURCE_DIR, dir);
#else
    (void)dir;
    (void)cmd;
    snprintf(flags, sizeof flags, "$(PKG_CONFIG_PATH='%s' pkg-config --cflags --libs hotc) -ljansson -ldl -lpthread",
             test_build_path("pkgconfig"));
#endif
    return flags;
}
