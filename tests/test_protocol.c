/* lsp/protocol: position encodings on multi-byte lines, URIs, edits. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "docstore.h"
#include "protocol.h"

/* "a" (1 byte), "é" (2), "→" (3), "😀" (4, two UTF-16 units), "b". */
static const char line[] = "a\xc3\xa9\xe2\x86\x92\xf0\x9f\x98\x80" "b";

Test(protocol, utf16_units_to_bytes)
{
    size_t n = strlen(line);

    cr_assert_eq(protocol_units_to_bytes(line, n, 0, PROTOCOL_UTF16), 0);
    cr_assert_eq(protocol_units_to_bytes(line, n, 1, PROTOCOL_UTF16), 1);
    cr_assert_eq(protocol_units_to_bytes(line, n, 2, PROTOCOL_UTF16), 3);
    cr_assert_eq(protocol_units_to_bytes(line, n, 3, PROTOCOL_UTF16), 6);
    cr_assert_eq(protocol_units_to_bytes(line, n, 4, PROTOCOL_UTF16), 6); /* inside the surrogate pair */
    cr_assert_eq(protocol_units_to_bytes(line, n, 5, PROTOCOL_UTF16), 10);
    cr_assert_eq(protocol_units_to_bytes(line, n, 99, PROTOCOL_UTF16), 11);
    cr_assert_eq(protocol_units_to_bytes(line, n, 5, PROTOCOL_UTF8), 5);
    cr_assert_eq(protocol_units_to_bytes(line, n, 4, PROTOCOL_UTF32), 10);
}

Test(protocol, bytes_to_utf16_units)
{
    size_t n = strlen(line);

    cr_assert_eq(protocol_bytes_to_units(line, n, 10, PROTOCOL_UTF16), 5);
    cr_assert_eq(protocol_bytes_to_units(line, n, 11, PROTOCOL_UTF16), 6);
    cr_assert_eq(protocol_bytes_to_units(line, n, 6, PROTOCOL_UTF32), 3);
    cr_assert_eq(protocol_bytes_to_units(line, n, 6, PROTOCOL_UTF8), 6);
}

Test(protocol, invalid_utf8_counts_one_unit_per_byte)
{
    const char bad[] = "\xff\xfe" "x";

    cr_assert_eq(protocol_bytes_to_units(bad, 3, 3, PROTOCOL_UTF16), 3);
    cr_assert_eq(protocol_units_to_bytes(bad, 3, 2, PROTOCOL_UTF16), 2);
}

Test(protocol, uris_and_paths)
{
    char *p = protocol_uri_to_path("file:///home/me/my%20game/a%2Bb.c");
    char *u = protocol_path_to_uri("/home/me/my game/a+b.c");

    cr_assert_str_eq(p, "/home/me/my game/a+b.c");
    cr_assert_str_eq(u, "file:///home/me/my%20game/a+b.c");
    cr_assert_null(protocol_uri_to_path("untitled:Untitled-1"));
    free(p);
    free(u);
}

Test(protocol, edit_positions_use_the_encoding)
{
    struct docstore *ds = docstore_new("HOT");
    char text[64];
    struct document *doc;
    struct text_edit e;
    json_t *change;

    snprintf(text, sizeof text, "x\n%s\n", line);
    doc = docstore_open(ds, "file:///t.c", "/t.c", text, strlen(text), 1);
    change = json_pack("{s:{s:{s:i, s:i}, s:{s:i, s:i}}, s:s}", "range", "start", "line", 1, "character", 5, "end",
                       "line", 1, "character", 6, "text", "B");
    cr_assert_eq(protocol_text_edit(doc, change, PROTOCOL_UTF16, &e), 1);
    cr_assert_eq(e.start, 2 + 10);
    cr_assert_eq(e.end, 2 + 11);
    docstore_edit(ds, doc, &e);
    docstore_update(ds, doc);
    cr_assert_eq(doc->text[12], 'B');
    json_decref(change);
    docstore_free(ds);
}

Test(protocol, client_capabilities)
{
    json_t *caps = json_pack("{s:{s:{s:b}}}", "workspace", "codeLens", "refreshSupport", 1);

    cr_assert(protocol_client_supports(caps, "workspace.codeLens.refreshSupport"));
    cr_assert_not(protocol_client_supports(caps, "workspace.codeLens"));
    cr_assert_not(protocol_client_supports(caps, "window.workDoneProgress"));
    json_decref(caps);
}
