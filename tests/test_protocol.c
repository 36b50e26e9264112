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

Test(protocol, initialize_params_become_c_values)
{
    json_t *params = json_pack("{s:{s:{s:{s:b}}, s:{s:[ss]}}, s:s, s:{s:{s:s}}}", "capabilities", "workspace",
                               "codeLens", "refreshSupport", 1, "general", "positionEncodings", "utf-32", "utf-8",
                               "rootUri", "file:///home/me/my%20game", "initializationOptions", "hotc", "marker",
                               "LIVE");
    struct protocol_initialize init;

    cr_assert_eq(protocol_read_initialize(params, &init), 0);
    cr_assert_eq(init.client.encoding, PROTOCOL_UTF8);
    cr_assert(init.client.code_lens_refresh);
    cr_assert_not(init.client.work_done_progress);
    cr_assert_str_eq(init.root, "/home/me/my game");
    cr_assert_str_eq(json_string_value(json_object_get(init.settings, "marker")), "LIVE");
    free(init.root);
    json_decref(params);

    /* settings given without the "hotc" wrapper; root from the folders */
    params = json_pack("{s:{s:{s:b}}, s:[{s:s}], s:{s:s}}", "capabilities", "workspace", "codeLens", 1,
                       "workspaceFolders", "uri", "file:///w", "initializationOptions", "marker", "X");
    cr_assert_eq(protocol_read_initialize(params, &init), 0);
    cr_assert_eq(init.client.encoding, PROTOCOL_UTF16);
    cr_assert_not(init.client.code_lens_refresh); /* "workspace.codeLens" is not the capability */
    cr_assert_str_eq(init.root, "/w");
    cr_assert_str_eq(json_string_value(json_object_get(init.settings, "marker")), "X");
    free(init.root);
    json_decref(params);

    params = json_array();
    cr_assert_eq(protocol_read_initialize(params, &init), -1);
    json_decref(params);
}

Test(protocol, text_sync_params_become_c_values)
{
    json_t *open = json_pack("{s:{s:s, s:s, s:i}}", "textDocument", "uri", "file:///a.c", "text", "int x;", "version", 3);
    json_t *bad = json_pack("{s:{s:s}}", "textDocument", "uri", "file:///a.c");
    json_t *save = json_pack("{s:{s:s}, s:s}", "textDocument", "uri", "file:///a.c", "text", "int y;");
    json_t *change = json_pack("{s:{s:s, s:i}, s:[{s:s}]}", "textDocument", "uri", "file:///a.c", "version", 4,
                               "contentChanges", "text", "int z;");
    struct protocol_document d;
    struct protocol_changes c;

    cr_assert_eq(protocol_read_did_open(open, &d), 0);
    cr_assert_str_eq(d.uri, "file:///a.c");
    cr_assert_eq(d.len, 6);
    cr_assert_eq(d.version, 3);
    cr_assert_eq(protocol_read_did_open(bad, &d), -1);
    cr_assert_eq(protocol_read_did_save(bad, &d), 0);
    cr_assert_null(d.text);
    cr_assert_eq(protocol_read_did_save(save, &d), 0);
    cr_assert_str_eq(d.text, "int y;");
    protocol_read_did_change(change, &c);
    cr_assert_str_eq(c.uri, "file:///a.c");
    cr_assert_eq(c.version, 4);
    cr_assert_eq(c.count, 1);
    protocol_read_did_change(bad, &c);
    cr_assert_eq(c.version, -1);
    cr_assert_eq(c.count, 0);
    json_decref(open);
    json_decref(bad);
    json_decref(save);
    json_decref(change);
}

Test(protocol, command_configuration_and_cancel_params)
{
    json_t *exec = json_pack("{s:s, s:[s]}", "command", "hotc.server.run", "arguments", "file:///a.c");
    json_t *conf = json_pack("{s:{s:{s:s}}}", "settings", "hotc", "marker", "M");
    json_t *cancel = json_pack("{s:i}", "id", 7);
    struct protocol_command cmd;

    protocol_read_execute_command(exec, &cmd);
    cr_assert_str_eq(cmd.command, "hotc.server.run");
    cr_assert_eq(json_array_size(cmd.arguments), 1);
    protocol_read_execute_command(conf, &cmd);
    cr_assert_null(cmd.command);
    cr_assert_null(cmd.arguments);
    cr_assert_str_eq(json_string_value(json_object_get(protocol_read_configuration(conf), "marker")), "M");
    cr_assert_null(protocol_read_configuration(exec));
    cr_assert_eq(json_integer_value(protocol_read_cancel(cancel)), 7);
    json_decref(exec);
    json_decref(conf);
    json_decref(cancel);
}

Test(protocol, code_lens_with_one_argument)
{
    struct text_range r = {{0, 0}, {0, 0}};
    json_t *lens = protocol_code_lens(NULL, r, PROTOCOL_UTF16, "Run", "hotc.server.run", "file:///a.c");
    json_t *label = protocol_code_lens(NULL, r, PROTOCOL_UTF16, "v1", "", NULL);
    const char *arg = NULL;

    cr_assert_eq(json_unpack(lens, "{s:{s:[s]}}", "command", "arguments", &arg), 0);
    cr_assert_str_eq(arg, "file:///a.c");
    cr_assert_null(json_object_get(json_object_get(label, "command"), "arguments"));
    json_decref(lens);
    json_decref(label);
}
