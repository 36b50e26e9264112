/* Transcript tests against the real `hotc lsp`: lifecycle, errors, malformed
 * input (the server must answer afterwards), text sync with positions in
 * UTF-16 and UTF-8, diagnostics, lenses, hover, commands, cancellation. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lspclient.h"
#include "run.h"

#define T 20000 /* generous: the machine is shared */

static struct lspclient *start(void)
{
    struct lspclient_options opt = { .quiet_stderr = 1 };
    struct lspclient *c = lspclient_start(&opt);

    cr_assert(c, "cannot start hotc lsp");
    return c;
}

static struct lspclient *start_initialized(json_t *params)
{
    struct lspclient *c = start();
    json_t *r = lspclient_initialize(c, params, T);

    cr_assert(r, "no initialize result");
    json_decref(r);
    return c;
}

static void finish(struct lspclient *c)
{
    cr_assert_eq(lspclient_shutdown(c, T), 0);
    cr_assert_eq(lspclient_garbage(c), 0, "stdout must carry protocol only");
    lspclient_free(c);
}

static int error_code(json_t *resp)
{
    json_t *code = json_object_get(json_object_get(resp, "error"), "code");
    return code ? (int)json_integer_value(code) : 0;
}

/* The server still answers: a codeLens request for a document not open. */
static void assert_alive(struct lspclient *c)
{
    json_t *r = lspclient_request(c, "textDocument/codeLens",
                                  json_pack("{s:{s:s}}", "textDocument", "uri", "file:///nowhere.c"), T);
    cr_assert(r, "the server stopped answering");
    cr_assert(json_is_array(json_object_get(r, "result")));
    json_decref(r);
}

static void open_doc(struct lspclient *c, const char *uri, const char *text)
{
    lspclient_notify(c, "textDocument/didOpen",
                     json_pack("{s:{s:s, s:s, s:i, s:s}}", "textDocument", "uri", uri, "languageId", "c", "version",
                               1, "text", text));
}

static json_t *wait_diagnostics(struct lspclient *c, const char *uri)
{
    for (;;) {
        json_t *n = lspclient_wait_notification(c, "textDocument/publishDiagnostics", T);
        const char *u;

        cr_assert(n, "no diagnostics for %s", uri);
        u = json_string_value(json_object_get(json_object_get(n, "params"), "uri"));
        if (u && !strcmp(u, uri)) {
            json_t *d = json_incref(json_object_get(json_object_get(n, "params"), "diagnostics"));
            json_decref(n);
            return d;
        }
        json_decref(n);
    }
}

/* ---------------------------------------------------------------- lifecycle */

Test(lsp, initialize_announces_capabilities)
{
    struct lspclient *c = start();
    json_t *r = lspclient_initialize(c, NULL, T);
    json_t *caps = json_object_get(r, "capabilities");
    json_t *cmds = json_object_get(json_object_get(caps, "executeCommandProvider"), "commands");

    cr_assert(caps);
    cr_assert_str_eq(json_string_value(json_object_get(caps, "positionEncoding")), "utf-16");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(caps, "textDocumentSync"), "change")), 2);
    cr_assert(json_is_true(json_object_get(caps, "hoverProvider")));
    cr_assert(json_object_get(caps, "codeLensProvider"));
    cr_assert_eq(json_array_size(cmds), 5);
    cr_assert_str_eq(json_string_value(json_array_get(cmds, 0)), "hotc.server.run");
    cr_assert_str_eq(json_string_value(json_array_get(cmds, 1)), "hotc.server.reload");
    cr_assert_str_eq(json_string_value(json_array_get(cmds, 2)), "hotc.server.rollback");
    cr_assert_str_eq(json_string_value(json_array_get(cmds, 3)), "hotc.server.restart");
    cr_assert_str_eq(json_string_value(json_array_get(cmds, 4)), "hotc.server.forgetState");
    json_decref(r);
    finish(c);
}

Test(lsp, utf8_is_chosen_when_offered)
{
    struct lspclient *c = start();
    json_t *r = lspclient_initialize(
        c, json_pack("{s:{s:{s:[s,s]}}}", "capabilities", "general", "positionEncodings", "utf-16", "utf-8"), T);

    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "capabilities"), "positionEncoding")),
                     "utf-8");
    json_decref(r);
    finish(c);
}

Test(lsp, exit_without_shutdown_is_code_1)
{
    struct lspclient *c = start_initialized(NULL);

    lspclient_notify(c, "exit", NULL);
    cr_assert_eq(lspclient_wait_exit(c, T), 1);
    lspclient_free(c);
}

Test(lsp, end_of_input_without_shutdown_is_code_1)
{
    struct lspclient *c = start_initialized(NULL);

    lspclient_close_stdin(c);
    cr_assert_eq(lspclient_wait_exit(c, T), 1);
    lspclient_free(c);
}

Test(lsp, stdio_flag_and_log_file)
{
    char log[] = "/tmp/hotc-test-log-XXXXXX";
    int fd = mkstemp(log);
    const char *args[] = { "--stdio", "--log", log, NULL };
    struct lspclient_options opt = { .args = args, .quiet_stderr = 1 };
    struct lspclient *c = lspclient_start(&opt);
    json_t *r = lspclient_initialize(c, NULL, T);
    char buf[4096] = "";

    cr_assert(r);
    json_decref(r);
    finish(c);
    cr_assert(read(fd, buf, sizeof buf - 1) > 0);
    cr_assert(strstr(buf, "exiting with code 0") != NULL, "%s", buf);
    close(fd);
    unlink(log);
}

Test(lsp, requests_before_initialize_are_refused)
{
    struct lspclient *c = start();
    json_t *r = lspclient_request(c, "textDocument/codeLens",
                                  json_pack("{s:{s:s}}", "textDocument", "uri", "file:///a.c"), T);

    cr_assert_eq(error_code(r), -32002);
    json_decref(r);
    /* A notification before initialize is dropped, and initialize still works. */
    open_doc(c, "file:///a.c", "int x;");
    json_decref(lspclient_initialize(c, NULL, T));
    assert_alive(c);
    finish(c);
}

Test(lsp, second_initialize_and_requests_after_shutdown_are_invalid)
{
    struct lspclient *c = start_initialized(NULL);
    json_t *r = lspclient_request(c, "initialize", json_pack("{s:{}}", "capabilities"), T);

    cr_assert_eq(error_code(r), -32600);
    json_decref(r);
    r = lspclient_request(c, "shutdown", NULL, T);
    cr_assert(json_object_get(r, "result"));
    json_decref(r);
    r = lspclient_request(c, "textDocument/hover", json_object(), T);
    cr_assert_eq(error_code(r), -32600);
    json_decref(r);
    lspclient_notify(c, "exit", NULL);
    cr_assert_eq(lspclient_wait_exit(c, T), 0);
    lspclient_free(c);
}

/* A second `initialized` must not set up a second socket and patch folder
 * (after which the server never exited): the log says the socket opened
 * once, and shutdown + exit end the server with code 0. */
Test(lsp, a_second_initialized_is_ignored, .timeout = 60)
{
    char log[] = "/tmp/hotc-test-log-XXXXXX";
    int fd = mkstemp(log);
    const char *args[] = { "--log", log, NULL };
    struct lspclient_options opt = { .args = args, .quiet_stderr = 1 };
    struct lspclient *c = lspclient_start(&opt);
    char buf[16384] = "";

    cr_assert(c);
    json_decref(lspclient_initialize(c, NULL, T));
    lspclient_notify(c, "initialized", json_object());
    assert_alive(c);
    cr_assert_eq(lspclient_shutdown(c, T), 0);
    lspclient_notify(c, "exit", NULL);
    cr_assert_eq(lspclient_wait_exit(c, T), 0, "the server did not exit after a second initialized");
    lspclient_free(c);
    cr_assert(read(fd, buf, sizeof buf - 1) > 0);
    const char *first = strstr(buf, "runtimes attach at");
    cr_assert(first, "%s", buf);
    cr_assert_null(strstr(first + 1, "runtimes attach at"), "set up twice:\n%s", buf);
    cr_assert(strstr(buf, "ignored a second initialized"), "%s", buf);
    close(fd);
    unlink(log);
}

/* `"params": null` on shutdown and exit is no params (other servers accept
 * it): shutdown is answered with a result, and exit ends the server. */
Test(lsp, null_params_on_shutdown_and_exit)
{
    struct lspclient *c = start_initialized(NULL);
    static const char shutdown[] = "{\"jsonrpc\":\"2.0\",\"id\":900,\"method\":\"shutdown\",\"params\":null}";
    static const char bye[] = "{\"jsonrpc\":\"2.0\",\"method\":\"exit\",\"params\":null}";
    char framed[256];
    int n = snprintf(framed, sizeof framed, "Content-Length: %zu\r\n\r\n%s", strlen(shutdown), shutdown);

    lspclient_send_raw(c, framed, (size_t)n);
    json_t *r = lspclient_wait_response(c, 900, T);
    cr_assert(r && json_object_get(r, "result") && !json_object_get(r, "error"), "%s",
              r ? json_dumps(r, 0) : "no answer");
    json_decref(r);
    n = snprintf(framed, sizeof framed, "Content-Length: %zu\r\n\r\n%s", strlen(bye), bye);
    lspclient_send_raw(c, framed, (size_t)n);
    cr_assert_eq(lspclient_wait_exit(c, T), 0);
    lspclient_free(c);
}

Test(lsp, unknown_methods)
{
    struct lspclient *c = start_initialized(NULL);
    json_t *r;

    lspclient_notify(c, "$/unknownNotification", json_object());
    lspclient_notify(c, "custom/whatever", NULL);
    r = lspclient_request(c, "custom/unknownRequest", json_object(), T);
    cr_assert_eq(error_code(r), -32601);
    json_decref(r);
    assert_alive(c);
    finish(c);
}

/* ---------------------------------------------------------------- malformed input */

static void expect_null_id_error(struct lspclient *c, int code)
{
    json_t *r = lspclient_wait_response(c, -1, T);

    cr_assert(r, "no error response with id null");
    cr_assert_eq(error_code(r), code, "%s", json_dumps(r, 0));
    json_decref(r);
}

/* A fresh server is sent each of `raw` (NULL-terminated), bytes as they
 * are; each is answered with a parse error (id null), and the server still
 * answers afterwards. */
static void expect_parse_errors(const char *const *raw)
{
    struct lspclient *c = start_initialized(NULL);

    for (size_t i = 0; raw[i]; i++) {
        lspclient_send_raw(c, raw[i], strlen(raw[i]));
        expect_null_id_error(c, -32700);
    }
    assert_alive(c);
    finish(c);
}

Test(lsp, bad_header_is_a_parse_error)
{
    static const char *const bad[] = { "Content-Lenght: 2\r\n\r\n{}", "Content-Length: twelve\r\n\r\n", NULL };

    expect_parse_errors(bad);
}

Test(lsp, invalid_json_is_a_parse_error)
{
    static const char *const bad[] = { "Content-Length: 13\r\n\r\n{\"jsonrpc\":2,", NULL };

    expect_parse_errors(bad);
}

Test(lsp, invalid_utf8_is_a_parse_error)
{
    const char body[] = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"x\xff\xfe\"}";
    char msg[256];
    const char *const bad[] = { msg, NULL };

    snprintf(msg, sizeof msg, "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    expect_parse_errors(bad);
}

Test(lsp, invalid_requests)
{
    struct lspclient *c = start_initialized(NULL);
    json_t *r;

    lspclient_send(c, json_pack("{s:i, s:s}", "id", 5, "method", "shutdown")); /* no "jsonrpc" */
    r = lspclient_wait_response(c, 5, T);
    cr_assert_eq(error_code(r), -32600);
    json_decref(r);
    lspclient_send(c, json_pack("{s:s, s:b, s:s}", "jsonrpc", "2.0", "id", 1, "method", "shutdown"));
    expect_null_id_error(c, -32600);
    lspclient_send(c, json_pack("[i]", 1));
    expect_null_id_error(c, -32600);
    assert_alive(c);
    finish(c);
}

Test(lsp, content_length_larger_than_the_body)
{
    struct lspclient *c = start_initialized(NULL);
    const char *bad = "Content-Length: 300\r\n\r\n{}";
    json_t *r = NULL;

    lspclient_send_raw(c, bad, strlen(bad));
    /* The next messages are swallowed until 300 bytes have come; the
     * server reports the damage and then answers again. */
    for (int i = 0; i < 20 && !r; i++) {
        json_int_t id = lspclient_send_request(c, "textDocument/codeLens",
                                               json_pack("{s:{s:s}}", "textDocument", "uri", "file:///x.c"));
        r = lspclient_wait_response(c, id, 2000);
    }
    cr_assert(r, "the server never answered again");
    json_decref(r);
    r = lspclient_wait_response(c, -1, T);
    cr_assert(r, "the damaged message was not reported");
    json_decref(r);
    finish(c);
}

Test(lsp, fifty_megabyte_message_is_refused, .timeout = 120)
{
    struct lspclient *c = start_initialized(NULL);
    size_t n = (size_t)50 << 20;
    char head[64];
    char *body = malloc(n);
    int hl = snprintf(head, sizeof head, "Content-Length: %zu\r\n\r\n", n);

    memset(body, ' ', n);
    memcpy(body, "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"s\":\"", 45);
    body[n - 2] = '"';
    body[n - 1] = '}';
    lspclient_send_raw(c, head, (size_t)hl);
    lspclient_send_raw(c, body, n);
    free(body);
    expect_null_id_error(c, -32600);
    assert_alive(c);
    finish(c);
}

/* ---------------------------------------------------------------- documents */

static const char *game_c = "#include <hot.h>\n"
                            "struct game { float x; };\n"
                            "/* é → 😀 */ HOT void update(struct game *g, float dt) { g->x += dt; }\n"
                            "int main(void) { return 0; }\n";

Test(lsp, code_lenses_on_hot_functions_and_main)
{
    struct lspclient *c = start_initialized(NULL);
    json_t *r, *lenses;

    open_doc(c, "file:///tmp/game.c", game_c);
    r = lspclient_request(c, "textDocument/codeLens",
                          json_pack("{s:{s:s}}", "textDocument", "uri", "file:///tmp/game.c"), T);
    lenses = json_object_get(r, "result");
    cr_assert_eq(json_array_size(lenses), 2, "%s", json_dumps(r, 0));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(lenses, 0), "command"), "title")),
                     "not yet running");
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(json_object_get(json_array_get(lenses, 0), "range"), "start"), "line")),
                 2);
    {
        json_t *cmd = json_object_get(json_array_get(lenses, 1), "command");
        cr_assert_str_eq(json_string_value(json_object_get(cmd, "title")), "▶ Run with hot reload");
        cr_assert_str_eq(json_string_value(json_object_get(cmd, "command")), "hotc.server.run");
        cr_assert_str_eq(json_string_value(json_array_get(json_object_get(cmd, "arguments"), 0)),
                         "file:///tmp/game.c");
    }
    json_decref(r);
    finish(c);
}

/* Hover over `update` on the line with multi-byte characters: in UTF-16,
 * the name starts at unit 22 (byte 27). */
static void hover_update(json_t *init, int column, int expected_end)
{
    struct lspclient *c = start_initialized(init);
    json_t *r, *range;

    open_doc(c, "file:///tmp/game.c", game_c);
    r = lspclient_request(c, "textDocument/hover",
                          json_pack("{s:{s:s}, s:{s:i, s:i}}", "textDocument", "uri", "file:///tmp/game.c", "position",
                                    "line", 2, "character", column),
                          T);
    range = json_object_get(json_object_get(r, "result"), "range");
    cr_assert(range, "%s", json_dumps(r, 0));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(range, "end"), "character")), expected_end);
    cr_assert(strstr(json_string_value(json_object_get(json_object_get(json_object_get(r, "result"), "contents"),
                                                       "value")),
                     "`void update(struct game *, float)`"));
    json_decref(r);
    finish(c);
}

Test(lsp, hover_positions_in_utf16)
{
    hover_update(NULL, 24, 28);
}

Test(lsp, hover_positions_in_utf8)
{
    hover_update(json_pack("{s:{s:{s:[s]}}}", "capabilities", "general", "positionEncodings", "utf-8"), 30, 33);
}

Test(lsp, misplaced_marker_is_an_error_at_the_right_column)
{
    struct lspclient *c = start_initialized(NULL);
    json_t *d;

    open_doc(c, "file:///tmp/m.c", "/* 😀 */ HOT int counter;\n");
    d = wait_diagnostics(c, "file:///tmp/m.c");
    cr_assert_eq(json_array_size(d), 1, "%s", json_dumps(d, 0));
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(d, 0), "severity")), 1);
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(json_object_get(json_array_get(d, 0), "range"), "start"), "character")),
                 9);
    json_decref(d);
    finish(c);
}

static void change(struct lspclient *c, const char *uri, int version, int line, int from, int to, const char *text)
{
    lspclient_notify(c, "textDocument/didChange",
                     json_pack("{s:{s:s, s:i}, s:[{s:{s:{s:i, s:i}, s:{s:i, s:i}}, s:s}]}", "textDocument", "uri",
                               uri, "version", version, "contentChanges", "range", "start", "line", line,
                               "character", from, "end", "line", line, "character", to, "text", text));
}

Test(lsp, incremental_changes_give_signature_and_layout_warnings)
{
    struct lspclient *c = start_initialized(NULL);
    json_t *d;
    const char *uri = "file:///tmp/game.c";

    open_doc(c, uri, game_c);
    d = wait_diagnostics(c, uri);
    cr_assert_eq(json_array_size(d), 0);
    json_decref(d);

    /* float dt -> double dt: "float" is at UTF-16 column 45 (byte 50) on line 2. */
    change(c, uri, 2, 2, 45, 50, "double");
    d = wait_diagnostics(c, uri);
    cr_assert_eq(json_array_size(d), 1, "%s", json_dumps(d, 0));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "message")),
                     "cannot reload update(): parameter 2 changed from `float` to `double`; restart the program "
                     "to apply");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(d, 0), "severity")), 2);
    json_decref(d);

    /* Back to float: no diagnostics; then a field added to the struct. */
    change(c, uri, 3, 2, 45, 51, "float");
    d = wait_diagnostics(c, uri);
    cr_assert_eq(json_array_size(d), 0, "%s", json_dumps(d, 0));
    json_decref(d);
    change(c, uri, 4, 1, 22, 22, " float vx;");
    d = wait_diagnostics(c, uri);
    cr_assert_eq(json_array_size(d), 1, "%s", json_dumps(d, 0));
    /* the text's reading of a layout is a hint; the save's compiled patch
     * is what the running program's layouts are held against */
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "message")),
                     "update() may not reload: field `vx` added to `struct game`, size 4 → 8; saving checks it "
                     "against the running program");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(d, 0), "severity")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "code")), "layout-hint");
    json_decref(d);
    finish(c);
}

/* A large document (past the server's 16 KB) is analysed on a worker after
 * each keystroke: the server's log says so (HOTC_TRACE_TIMINGS); the
 * diagnostics follow the last edit, at the right place; a request right
 * after a burst of edits sees them all (it waits in the queue for the
 * worker, the loop never waits: no "waited for" in the log); a small
 * document is still analysed on the loop. */
Test(lsp, keystrokes_in_a_large_file_are_analysed_on_a_worker, .timeout = 120)
{
    char dir[] = "/tmp/hotc-test-keys-XXXXXX", logpath[64], *big, *logtext;
    const char *env[] = { "HOTC_TRACE_TIMINGS=1", NULL };
    const char *args[] = { "--log", logpath, NULL };
    struct lspclient_options opt = { .env = env, .args = args, .quiet_stderr = 1 };
    const char *uri = "file:///tmp/big.c", *small = "file:///tmp/small.c";
    size_t cap = 64 * 1024, at = 0;
    struct lspclient *c;
    json_t *d, *r, *lenses;
    int fillers = 600, line_update, found = 0;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(logpath, sizeof logpath, "%s/hotc.log", dir);
    big = malloc(cap);
    at += (size_t)snprintf(big + at, cap - at, "#include <hot.h>\nstruct game { float x; };\n");
    for (int i = 0; i < fillers; i++)
        at += (size_t)snprintf(big + at, cap - at, "int filler_%d(int a) { return a + %d; }\n", i, i);
    line_update = 2 + fillers;
    at += (size_t)snprintf(big + at, cap - at, "HOT void update(struct game *g, float dt) { g->x += dt; }\n");
    cr_assert_gt(at, 16 * 1024);
    c = lspclient_start(&opt);
    cr_assert(c);
    json_decref(lspclient_initialize(c, NULL, T));
    open_doc(c, uri, big);
    d = wait_diagnostics(c, uri);
    cr_assert_eq(json_array_size(d), 0, "%s", json_dumps(d, 0));
    json_decref(d);

    /* float dt -> double dt in update(): a signature warning on its line */
    change(c, uri, 2, line_update, 32, 37, "double");
    d = wait_diagnostics(c, uri);
    cr_assert_eq(json_array_size(d), 1, "%s", json_dumps(d, 0));
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(json_object_get(json_array_get(d, 0), "range"), "start"), "line")),
                 line_update);
    cr_assert(strstr(json_string_value(json_object_get(json_array_get(d, 0), "message")), "cannot reload update()"));
    json_decref(d);

    /* a burst: back to float, then filler_5 and filler_7 marked, and the
     * lenses asked for at once */
    change(c, uri, 3, line_update, 32, 38, "float");
    change(c, uri, 4, 2 + 5, 0, 0, "HOT ");
    change(c, uri, 5, 2 + 7, 0, 0, "HOT ");
    r = lspclient_request(c, "textDocument/codeLens", json_pack("{s:{s:s}}", "textDocument", "uri", uri), T);
    lenses = json_object_get(r, "result");
    cr_assert_eq(json_array_size(lenses), 3, "%s", json_dumps(r, 0));
    cr_assert_eq(json_integer_value(json_object_get(
                     json_object_get(json_object_get(json_array_get(lenses, 0), "range"), "start"), "line")),
                 2 + 5);
    json_decref(r);
    d = wait_diagnostics(c, uri);
    cr_assert_eq(json_array_size(d), 0, "%s", json_dumps(d, 0));
    json_decref(d);

    open_doc(c, small, game_c);
    json_decref(wait_diagnostics(c, small));
    change(c, small, 2, 2, 45, 50, "double");
    json_decref(wait_diagnostics(c, small));
    finish(c);

    logtext = test_slurp(logpath, NULL);
    cr_assert_not_null(logtext);
    for (const char *l = logtext; (l = strstr(l, "loop: didChange of ")) != NULL; l++) {
        const char *end = strchr(l, '\n');
        int worker = strstr(l, "(analysis on a worker)") && strstr(l, "(analysis on a worker)") < end;
        if (!strncmp(l + strlen("loop: didChange of "), uri, strlen(uri)))
            cr_assert(worker, "a keystroke in the large file was analysed on the loop: %.*s", (int)(end - l), l);
        else
            cr_assert_not(worker, "a keystroke in the small file went to a worker: %.*s", (int)(end - l), l);
        found++;
    }
    cr_assert_geq(found, 3, "%s", logtext);
    cr_assert_null(strstr(logtext, "waited for"), "the loop waited for a worker:\n%s", logtext); /* the burst may be read at once: one update */
    free(logtext);
    free(big);
    unlink(logpath);
    rmdir(dir);
}

Test(lsp, save_with_text_replaces_the_document)
{
    struct lspclient *c = start_initialized(NULL);
    const char *uri = "file:///tmp/s.c";
    json_t *d;

    open_doc(c, uri, "HOT void f(int a) { }\n");
    json_decref(wait_diagnostics(c, uri));
    lspclient_notify(c, "textDocument/didSave",
                     json_pack("{s:{s:s}, s:s}", "textDocument", "uri", uri, "text", "HOT void f(long a) { }\n"));
    d = wait_diagnostics(c, uri);
    cr_assert_eq(json_array_size(d), 1, "%s", json_dumps(d, 0));
    json_decref(d);
    finish(c);
}

Test(lsp, marker_from_initialization_options)
{
    struct lspclient *c = start_initialized(
        json_pack("{s:{}, s:{s:s}}", "capabilities", "initializationOptions", "marker", "RELOADABLE"));
    json_t *r;

    open_doc(c, "file:///tmp/r.c", "RELOADABLE void f(void) { }\nHOT void g(void) { }\n");
    r = lspclient_request(c, "textDocument/codeLens",
                          json_pack("{s:{s:s}}", "textDocument", "uri", "file:///tmp/r.c"), T);
    cr_assert_eq(json_array_size(json_object_get(r, "result")), 1, "%s", json_dumps(r, 0));
    json_decref(r);
    finish(c);
}

/* ---------------------------------------------------------------- commands, cancel */

Test(lsp, commands_without_a_program)
{
    struct lspclient *c = start_initialized(NULL);
    json_t *r = lspclient_request(c, "workspace/executeCommand",
                                  json_pack("{s:s, s:[]}", "command", "hotc.server.reload", "arguments"), T);

    cr_assert_eq(error_code(r), -32803, "%s", json_dumps(r, 0));
    cr_assert(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
                     "no program attached"));
    json_decref(r);
    r = lspclient_request(c, "workspace/executeCommand", json_pack("{s:s}", "command", "nope"), T);
    cr_assert_eq(error_code(r), -32602);
    json_decref(r);
    finish(c);
}

Test(lsp, cancel_a_queued_request)
{
    struct lspclient *c = start_initialized(NULL);
    const char *a = "{\"jsonrpc\":\"2.0\",\"id\":900,\"method\":\"textDocument/codeLens\","
                    "\"params\":{\"textDocument\":{\"uri\":\"file:///x.c\"}}}";
    const char *b = "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":900}}";
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "Content-Length: %zu\r\n\r\n%sContent-Length: %zu\r\n\r\n%s", strlen(a), a,
                     strlen(b), b);
    json_t *r;

    /* One write, so that both arrive in one read. */
    lspclient_send_raw(c, buf, (size_t)n);
    r = lspclient_wait_response(c, 900, T);
    cr_assert_eq(error_code(r), -32800, "%s", json_dumps(r, 0));
    json_decref(r);
    assert_alive(c);
    finish(c);
}
