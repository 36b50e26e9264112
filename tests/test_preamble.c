/* The precompiled preamble's block (lsp/preamble.c, preamble_scan): where
 * the leading directives of a file end. Its use by the server is tested end
 * to end in tests/test_pipeline.c. */
#include <criterion/criterion.h>
#include <string.h>

#include "preamble.h"

struct scan_case {
    const char *text;
    const char *block; /* the block the scan must find */
    unsigned lines;
    bool includes;
};

static void expect_scan(const struct scan_case *c)
{
    unsigned lines = 99;
    bool includes = !c->includes;
    size_t n = preamble_scan(c->text, strlen(c->text), &lines, &includes);

    cr_assert_eq(n, strlen(c->block), "%s: block of %zu bytes, expected \"%s\"", c->text, n, c->block);
    cr_assert_eq(strncmp(c->text, c->block, n), 0);
    cr_assert_eq(lines, c->lines, "%s: %u lines", c->text, lines);
    cr_assert_eq(includes, c->includes, "%s", c->text);
}

Test(preamble, the_block_ends_before_the_first_c_token)
{
    static const struct scan_case cases[] = {
        { "#include <a.h>\n#define X 1\nint x;\n", "#include <a.h>\n#define X 1\n", 2, true },
        { "/* a\n b */\n#include <a.h>\n\n// x\nint y;\n", "/* a\n b */\n#include <a.h>\n", 3, true },
        { "#define M(a) \\\n  (a)\n#include <x.h>\nint q;\n", "#define M(a) \\\n  (a)\n#include <x.h>\n", 3, true },
        { "#define A 1\nint a;\n", "#define A 1\n", 1, false },
        { "int a;\n#include <a.h>\n", "", 0, false },
        { "#include <a.h>", "", 0, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_scan(&cases[i]);
}

Test(preamble, the_block_never_cuts_a_conditional_or_a_comment)
{
    static const struct scan_case cases[] = {
        /* a closed #if block is part of it */
        { "#ifdef A\n#include <b.h>\n#endif\nint z;\n", "#ifdef A\n#include <b.h>\n#endif\n", 3, true },
        /* a guard around the code: the block stops before it */
        { "#include <a.h>\n#ifndef G\n#define G\nint x;\n#endif\n", "#include <a.h>\n", 1, true },
        /* a comment opened on a directive line goes on */
        { "#include <a.h> /* one\n int not_code; */\n#include <b.h>\nint x;\n",
          "#include <a.h> /* one\n int not_code; */\n#include <b.h>\n", 3, true },
        /* #pragma (once, push) and #line act per file: not in the block */
        { "#include <a.h>\n#pragma once\n#include <b.h>\nint x;\n", "#include <a.h>\n", 1, true },
        /* an #include inside an unclosed #if does not count */
        { "#define A 1\n#if A\n#include <b.h>\nint x;\n#endif\n", "#define A 1\n", 1, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_scan(&cases[i]);
}
