/* The only module that knows LSP's JSON shapes, URIs and position
 * encodings. Everything else works in bytes (TSPoint: 0-based row, byte
 * column) and C structs; this file converts at the edge. */
#ifndef HOTC_PROTOCOL_H
#define HOTC_PROTOCOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis.h"
#include "docstore.h"

enum protocol_encoding { PROTOCOL_UTF16, PROTOCOL_UTF8, PROTOCOL_UTF32 };

const char *protocol_encoding_name(enum protocol_encoding enc);

/* Converts between a column in code units of `enc` and a byte column on one
 * line (`line`, `len` bytes, no line end). Out-of-range values clamp to the
 * line's end; a unit inside a character maps to that character's start. */
uint32_t protocol_units_to_bytes(const char *line, size_t len, uint32_t units, enum protocol_encoding enc);
uint32_t protocol_bytes_to_units(const char *line, size_t len, uint32_t bytes, enum protocol_encoding enc);

/* An LSP Position object in `doc` to a byte offset in its text. Returns 0,
 * or -1 when `pos` is not a Position. Lines past the end clamp to the end. */
int protocol_offset(const struct document *doc, json_t *pos, enum protocol_encoding enc, uint32_t *offset);

/* A byte point to an LSP Position (new reference). With `doc` NULL (a file
 * that is not open) byte columns are sent as they are. */
json_t *protocol_position(const struct document *doc, TSPoint p, enum protocol_encoding enc);
json_t *protocol_range(const struct document *doc, struct text_range r, enum protocol_encoding enc);

/* file:// URIs to paths and back (percent-decoding/-encoding). New strings
 * (free), NULL for another scheme or out of memory. */
char *protocol_uri_to_path(const char *uri);
char *protocol_path_to_uri(const char *path);

/* Reads one TextDocumentContentChangeEvent into `edit` (bytes of `doc`'s
 * current text; `edit->new_text` is borrowed from `change`). Returns 1 for
 * a ranged edit, 0 for a whole-text replacement (start = 0, end = len), -1
 * when malformed. */
int protocol_text_edit(const struct document *doc, json_t *change, enum protocol_encoding enc,
                       struct text_edit *edit);

/* The InitializeResult: capabilities for `enc`, `commands` (n of them) for
 * executeCommandProvider, and serverInfo. New reference. */
json_t *protocol_initialize_result(enum protocol_encoding enc, const char *const *commands, size_t n);

/* A Diagnostic (new reference). `source`: who says it ("hotc",
 * "compiler", "crash"; docs/protocol.md). `severity`: 1 error, 2 warning, 3
 * information, 4 hint. `code` may be NULL. */
json_t *protocol_diagnostic(const struct document *doc, struct text_range r, enum protocol_encoding enc,
                            const char *source, int severity, const char *code, const char *message);

/* Appends a DiagnosticRelatedInformation to `diagnostic` (borrowed). */
void protocol_diagnostic_add_related(json_t *diagnostic, const char *uri, const struct document *doc,
                                     struct text_range r, enum protocol_encoding enc, const char *message);

/* PublishDiagnosticsParams; `diagnostics` stolen. New reference. */
json_t *protocol_publish_diagnostics(const char *uri, int version, json_t *diagnostics);

/* A CodeLens with its Command. `command` may be "" (a label only);
 * `argument`, when not NULL, is the command's one (string) argument. New
 * reference. */
json_t *protocol_code_lens(const struct document *doc, struct text_range r, enum protocol_encoding enc,
                           const char *title, const char *command, const char *argument);

/* A Hover with Markdown contents. New reference. */
json_t *protocol_hover(const struct document *doc, struct text_range r, enum protocol_encoding enc,
                       const char *markdown);

/* LogMessageParams. New reference. */
json_t *protocol_log_message(int type, const char *message);

/* ShowMessageParams (same shape as LogMessageParams). New reference. */
json_t *protocol_show_message(int type, const char *message);

/* WorkDoneProgressCreateParams for `token`. New reference. */
json_t *protocol_progress_create(const char *token);

/* ProgressParams of a work-done progress: `kind` "begin" (with `text` as
 * the title), "report" or "end" (with `text` as the message; may be NULL).
 * New reference. */
json_t *protocol_progress(const char *token, const char *kind, const char *text);

/* ---- the client's params as C values
 *
 * Each reader takes the `params` of one message (any JSON, possibly NULL)
 * and fills a struct whose strings and JSON values are borrowed from
 * `params`: valid while the message is handled. None of them fails on
 * missing optional fields; the ones returning int return -1 when a field
 * the method cannot do without is missing or has the wrong type. */

/* What the server needs to know of the client. */
struct protocol_client {
    enum protocol_encoding encoding;  /* UTF-8 when offered (general.positionEncodings), else UTF-16 */
    bool code_lens_refresh;           /* workspace.codeLens.refreshSupport */
    bool work_done_progress;          /* window.workDoneProgress */
};

/* InitializeParams. */
struct protocol_initialize {
    struct protocol_client client;
    char *root;          /* rootUri, else the first workspace folder, else rootPath: new string (free), or NULL */
    json_t *settings;    /* the "hotc" settings: initializationOptions.hotc, else initializationOptions
                          * itself when an object; borrowed, or NULL */
};

/* Reads InitializeParams. Returns -1 (and sets nothing to free) when
 * `params` is not an object. */
int protocol_read_initialize(json_t *params, struct protocol_initialize *out);

/* DidChangeConfigurationParams: settings.hotc (borrowed object), or NULL. */
json_t *protocol_read_configuration(json_t *params);

/* A TextDocumentItem (didOpen), or the identifier and text of didSave. */
struct protocol_document {
    const char *uri;
    const char *text;    /* didOpen: always; didSave: NULL unless the client included it */
    size_t len;
    int version;         /* didOpen: 0 when absent */
};

/* DidOpenTextDocumentParams: -1 without textDocument.uri and text (or with
 * a version that is not an integer). */
int protocol_read_did_open(json_t *params, struct protocol_document *out);

/* DidSaveTextDocumentParams: -1 without textDocument.uri. */
int protocol_read_did_save(json_t *params, struct protocol_document *out);

/* DidChangeTextDocumentParams. The changes stay JSON until
 * protocol_change_at() turns each into bytes: each change's positions are
 * in the text left by the ones before it. */
struct protocol_changes {
    const char *uri;     /* NULL when absent */
    int version;         /* -1 when absent */
    size_t count;
    json_t *list;        /* borrowed contentChanges; only for protocol_change_at() */
};

void protocol_read_did_change(json_t *params, struct protocol_changes *out);

/* Change `i` of `changes` against `doc`'s current text; as
 * protocol_text_edit(). */
int protocol_change_at(const struct protocol_changes *changes, size_t i, const struct document *doc,
                       enum protocol_encoding enc, struct text_edit *edit);

/* params.textDocument.uri, borrowed, or NULL. */
const char *protocol_document_uri(json_t *params);

/* params.position (TextDocumentPositionParams) as a byte offset in `doc`.
 * 0, or -1 when there is no valid position. */
int protocol_document_offset(const struct document *doc, json_t *params, enum protocol_encoding enc,
                             uint32_t *offset);

/* ExecuteCommandParams. */
struct protocol_command {
    const char *command;  /* NULL when absent or not a string */
    json_t *arguments;    /* borrowed array, or NULL when absent or not an array */
};

void protocol_read_execute_command(json_t *params, struct protocol_command *out);

/* CancelParams: the id (borrowed), or NULL. */
json_t *protocol_read_cancel(json_t *params);

#endif
