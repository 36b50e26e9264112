/* The only module that knows LSP's JSON shapes, URIs and position
 * encodings. Everything else works in bytes (TSPoint: 0-based row, byte
 * column) and C structs; this file converts at the edge. */
#ifndef HOTC_PROTOCOL_H
#define HOTC_PROTOCOL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis.h"
#include "docstore.h"

enum protocol_encoding { PROTOCOL_UTF16, PROTOCOL_UTF8, PROTOCOL_UTF32 };

/* UTF-8 when the client offers it (general.positionEncodings), else UTF-16
 * (LSP's default, and the only one a client must support). */
enum protocol_encoding protocol_negotiate_encoding(json_t *initialize_params);
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

/* A Diagnostic (new reference). `severity`: 1 error, 2 warning, 3
 * information, 4 hint. `code` may be NULL. */
json_t *protocol_diagnostic(const struct document *doc, struct text_range r, enum protocol_encoding enc,
                            int severity, const char *code, const char *message);

/* Appends a DiagnosticRelatedInformation to `diagnostic` (borrowed). */
void protocol_diagnostic_add_related(json_t *diagnostic, const char *uri, const struct document *doc,
                                     struct text_range r, enum protocol_encoding enc, const char *message);

/* PublishDiagnosticsParams; `diagnostics` stolen. New reference. */
json_t *protocol_publish_diagnostics(const char *uri, int version, json_t *diagnostics);

/* A CodeLens with its Command. `command` may be "" (a label only); `args`
 * stolen, may be NULL. New reference. */
json_t *protocol_code_lens(const struct document *doc, struct text_range r, enum protocol_encoding enc,
                           const char *title, const char *command, json_t *args);

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

/* The workspace root from InitializeParams (rootUri, else the first
 * workspace folder, else rootPath): a new path string, or NULL. */
char *protocol_root_path(json_t *initialize_params);

/* params.textDocument.uri, borrowed, or NULL. */
const char *protocol_document_uri(json_t *params);

/* Whether the client announced the capability at `path` (dotted, e.g.
 * "workspace.codeLens.refreshSupport") as true. */
int protocol_client_supports(json_t *client_capabilities, const char *path);

#endif
