/* Implements lsp/protocol.h. */
#include "protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* UTF-8 when the client offers it, else UTF-16 (LSP's default, and the only
 * one a client must support). */
static enum protocol_encoding negotiate_encoding(json_t *params)
{
    json_t *offered = NULL, *v;
    size_t i;

    json_unpack(params, "{s:{s:{s:o}}}", "capabilities", "general", "positionEncodings", &offered);
    json_array_foreach(offered, i, v) {
        if (json_is_string(v) && !strcmp(json_string_value(v), "utf-8"))
            return PROTOCOL_UTF8;
    }
    return PROTOCOL_UTF16;
}

const char *protocol_encoding_name(enum protocol_encoding enc)
{
    return enc == PROTOCOL_UTF8 ? "utf-8" : enc == PROTOCOL_UTF32 ? "utf-32" : "utf-16";
}

/* Length in bytes of the UTF-8 sequence starting at p[0] (1 for a bad byte),
 * and its length in UTF-16 units in *units16. */
static size_t char_len(const unsigned char *p, size_t left, uint32_t *units16)
{
    size_t n = 1;

    if (p[0] >= 0xF0 && p[0] < 0xF8)
        n = 4;
    else if (p[0] >= 0xE0 && p[0] < 0xF0)
        n = 3;
    else if (p[0] >= 0xC0 && p[0] < 0xE0)
        n = 2;
    if (n > left)
        n = 1;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            n = 1;
    *units16 = n == 4 ? 2 : 1;
    return n;
}

uint32_t protocol_units_to_bytes(const char *line, size_t len, uint32_t units, enum protocol_encoding enc)
{
    size_t b = 0;
    uint32_t u = 0;

    if (enc == PROTOCOL_UTF8)
        return units < len ? units : (uint32_t)len;
    while (b < len) {
        uint32_t u16;
        size_t n = char_len((const unsigned char *)line + b, len - b, &u16);
        uint32_t w = enc == PROTOCOL_UTF16 ? u16 : 1;

        if (u + w > units)
            break;
        u += w;
        b += n;
    }
    return (uint32_t)b;
}

uint32_t protocol_bytes_to_units(const char *line, size_t len, uint32_t bytes, enum protocol_encoding enc)
{
    size_t b = 0;
    uint32_t u = 0;

    if (bytes > len)
        bytes = (uint32_t)len;
    if (enc == PROTOCOL_UTF8)
        return bytes;
    while (b < bytes) {
        uint32_t u16;
        size_t n = char_len((const unsigned char *)line + b, len - b, &u16);

        u += enc == PROTOCOL_UTF16 ? u16 : 1;
        b += n;
    }
    return u;
}

/* The bytes of line `row` of `doc`, without its line end. */
static const char *line_of(const struct document *doc, uint32_t row, size_t *len)
{
    size_t start, end;

    if (row >= doc->n_lines) {
        *len = 0;
        return doc->text + doc->len;
    }
    start = doc->lines[row];
    end = row + 1 < doc->n_lines ? doc->lines[row + 1] - 1 : doc->len;
    if (end > start && doc->text[end - 1] == '\r')
        end--;
    *len = end - start;
    return doc->text + start;
}

int protocol_offset(const struct document *doc, json_t *pos, enum protocol_encoding enc, uint32_t *offset)
{
    json_int_t line, character;
    const char *text;
    size_t len;

    if (json_unpack(pos, "{s:I, s:I}", "line", &line, "character", &character) != 0 || line < 0 || character < 0)
        return -1;
    if ((size_t)line >= doc->n_lines) {
        *offset = (uint32_t)doc->len;
        return 0;
    }
    text = line_of(doc, (uint32_t)line, &len);
    *offset = doc->lines[line] + protocol_units_to_bytes(text, len, (uint32_t)(character > UINT32_MAX ? UINT32_MAX : character), enc);
    return 0;
}

json_t *protocol_position(const struct document *doc, TSPoint p, enum protocol_encoding enc)
{
    uint32_t character = p.column;

    if (doc && p.row < doc->n_lines) {
        size_t len;
        const char *text = line_of(doc, p.row, &len);
        character = protocol_bytes_to_units(text, len, p.column, enc);
    }
    return json_pack("{s:i, s:i}", "line", (int)p.row, "character", (int)character);
}

json_t *protocol_range(const struct document *doc, struct text_range r, enum protocol_encoding enc)
{
    return json_pack("{s:o, s:o}", "start", protocol_position(doc, r.start, enc), "end",
                     protocol_position(doc, r.end, enc));
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *protocol_uri_to_path(const char *uri)
{
    const char *p;
    char *out, *o;

    if (strncmp(uri, "file://", 7) != 0)
        return NULL;
    p = uri + 7;
    if (*p != '/') { /* file://host/path: ignore a "localhost" host */
        p = strchr(p, '/');
        if (!p)
            return NULL;
    }
    out = o = malloc(strlen(p) + 1);
    if (!out)
        return NULL;
    for (; *p; p++) {
        if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            *o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

char *protocol_path_to_uri(const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(strlen(path) * 3 + 8), *o;

    if (!out)
        return NULL;
    o = out + sprintf(out, "file://");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/-._~!$&'()*+,;=@", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

int protocol_text_edit(const struct document *doc, json_t *change, enum protocol_encoding enc,
                       struct text_edit *edit)
{
    json_t *text = json_object_get(change, "text");
    json_t *range = json_object_get(change, "range");

    if (!json_is_string(text))
        return -1;
    edit->new_text = json_string_value(text);
    edit->new_len = json_string_length(text);
    if (!range) {
        edit->start = 0;
        edit->end = (uint32_t)doc->len;
        return 0;
    }
    if (protocol_offset(doc, json_object_get(range, "start"), enc, &edit->start) != 0 ||
        protocol_offset(doc, json_object_get(range, "end"), enc, &edit->end) != 0)
        return -1;
    if (edit->end < edit->start)
        return -1;
    return 1;
}

json_t *protocol_initialize_result(enum protocol_encoding enc, const char *const *commands, size_t n)
{
    json_t *cmds = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(cmds, json_string(commands[i]));
    return json_pack("{s:{s:s, s:{s:b, s:i, s:{s:b}}, s:{s:b}, s:b, s:{s:o}}, s:{s:s, s:s}}", "capabilities",
                     "positionEncoding", protocol_encoding_name(enc), "textDocumentSync", "openClose", 1, "change",
                     2, "save", "includeText", 0, "codeLensProvider", "resolveProvider", 0, "hoverProvider", 1,
                     "executeCommandProvider", "commands", cmds, "serverInfo", "name", "hotc", "version",
                     HOTC_VERSION);
}

json_t *protocol_diagnostic(const struct document *doc, struct text_range r, enum protocol_encoding enc,
                            const char *source, int severity, const char *code, const char *message)
{
    json_t *d = json_pack("{s:o, s:i, s:s, s:s}", "range", protocol_range(doc, r, enc), "severity", severity,
                          "source", source, "message", message);

    if (code)
        json_object_set_new(d, "code", json_string(code));
    return d;
}

void protocol_diagnostic_add_related(json_t *diagnostic, const char *uri, const struct document *doc,
                                     struct text_range r, enum protocol_encoding enc, const char *message)
{
    json_t *related = json_object_get(diagnostic, "relatedInformation");

    if (!related) {
        related = json_array();
        json_object_set_new(diagnostic, "relatedInformation", related);
    }
    json_array_append_new(related, json_pack("{s:{s:s, s:o}, s:s}", "location", "uri", uri, "range",
                                             protocol_range(doc, r, enc), "message", message));
}

json_t *protocol_publish_diagnostics(const char *uri, int version, json_t *diagnostics)
{
    json_t *p = json_pack("{s:s, s:o}", "uri", uri, "diagnostics", diagnostics);

    if (version >= 0)
        json_object_set_new(p, "version", json_integer(version));
    return p;
}

json_t *protocol_code_lens(const struct document *doc, struct text_range r, enum protocol_encoding enc,
                           const char *title, const char *command, const char *argument)
{
    json_t *cmd = json_pack("{s:s, s:s}", "title", title, "command", command);

    if (argument)
        json_object_set_new(cmd, "arguments", json_pack("[s]", argument));
    return json_pack("{s:o, s:o}", "range", protocol_range(doc, r, enc), "command", cmd);
}

json_t *protocol_hover(const struct document *doc, struct text_range r, enum protocol_encoding enc,
                       const char *markdown)
{
    return json_pack("{s:{s:s, s:s}, s:o}", "contents", "kind", "markdown", "value", markdown, "range",
                     protocol_range(doc, r, enc));
}

json_t *protocol_log_message(int type, const char *message)
{
    return json_pack("{s:i, s:s}", "type", type, "message", message);
}

json_t *protocol_show_message(int type, const char *message)
{
    return json_pack("{s:i, s:s}", "type", type, "message", message);
}

json_t *protocol_progress_create(const char *token)
{
    return json_pack("{s:s}", "token", token);
}

json_t *protocol_progress(const char *token, const char *kind, const char *text)
{
    json_t *value = json_pack("{s:s}", "kind", kind);

    if (text)
        json_object_set_new(value, strcmp(kind, "begin") == 0 ? "title" : "message", json_string(text));
    if (strcmp(kind, "begin") == 0)
        json_object_set_new(value, "cancellable", json_false());
    return json_pack("{s:s, s:o}", "token", token, "value", value);
}

/* The workspace root: rootUri, else the first workspace folder, else
 * rootPath. A new path string, or NULL. */
static char *root_path(json_t *params)
{
    const char *uri = json_string_value(json_object_get(params, "rootUri"));
    const char *path = json_string_value(json_object_get(params, "rootPath"));
    json_t *folders = json_object_get(params, "workspaceFolders");

    if (!uri && json_is_array(folders))
        uri = json_string_value(json_object_get(json_array_get(folders, 0), "uri"));
    if (uri)
        return protocol_uri_to_path(uri);
    return path ? strdup(path) : NULL;
}

/* Whether the capability at `path` (dotted, e.g.
 * "workspace.codeLens.refreshSupport") is true. */
static bool client_supports(json_t *caps, const char *path)
{
    char key[128];
    const char *p = path;
    json_t *v = caps;

    while (v && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);

        if (n >= sizeof key)
            return false;
        memcpy(key, p, n);
        key[n] = '\0';
        v = json_object_get(v, key);
        p = dot ? dot + 1 : p + n;
    }
    return json_is_true(v);
}

int protocol_read_initialize(json_t *params, struct protocol_initialize *out)
{
    json_t *caps = json_object_get(params, "capabilities");
    json_t *opts = json_object_get(params, "initializationOptions");

    memset(out, 0, sizeof *out);
    if (!json_is_object(params))
        return -1;
    if (!json_is_object(caps))
        caps = NULL;
    out->client.encoding = negotiate_encoding(params);
    out->client.code_lens_refresh = client_supports(caps, "workspace.codeLens.refreshSupport");
    out->client.work_done_progress = client_supports(caps, "window.workDoneProgress");
    out->root = root_path(params);
    if (json_is_object(opts)) {
        json_t *hotc = json_object_get(opts, "hotc");
        out->settings = json_is_object(hotc) ? hotc : opts;
    }
    return 0;
}

json_t *protocol_read_configuration(json_t *params)
{
    json_t *hotc = json_object_get(json_object_get(params, "settings"), "hotc");

    return json_is_object(hotc) ? hotc : NULL;
}

int protocol_read_did_open(json_t *params, struct protocol_document *out)
{
    memset(out, 0, sizeof *out);
    if (json_unpack(params, "{s:{s:s, s:s%, s?i}}", "textDocument", "uri", &out->uri, "text", &out->text,
                    &out->len, "version", &out->version) != 0) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

int protocol_read_did_save(json_t *params, struct protocol_document *out)
{
    json_t *text = json_object_get(params, "text");

    memset(out, 0, sizeof *out);
    out->version = -1;
    out->uri = protocol_document_uri(params);
    if (json_is_string(text)) {
        out->text = json_string_value(text);
        out->len = json_string_length(text);
    }
    return out->uri ? 0 : -1;
}

void protocol_read_did_change(json_t *params, struct protocol_changes *out)
{
    json_int_t version = -1;
    json_t *list = json_object_get(params, "contentChanges");

    out->uri = protocol_document_uri(params);
    json_unpack(params, "{s:{s?I}}", "textDocument", "version", &version);
    out->version = version >= 0 ? (int)version : -1;
    out->list = json_is_array(list) ? list : NULL;
    out->count = json_array_size(out->list);
}

int protocol_change_at(const struct protocol_changes *changes, size_t i, const struct document *doc,
                       enum protocol_encoding enc, struct text_edit *edit)
{
    return protocol_text_edit(doc, json_array_get(changes->list, i), enc, edit);
}

const char *protocol_document_uri(json_t *params)
{
    const char *uri = NULL;

    json_unpack(params, "{s:{s:s}}", "textDocument", "uri", &uri);
    return uri;
}

int protocol_document_offset(const struct document *doc, json_t *params, enum protocol_encoding enc,
                             uint32_t *offset)
{
    return protocol_offset(doc, json_object_get(params, "position"), enc, offset);
}

void protocol_read_execute_command(json_t *params, struct protocol_command *out)
{
    json_t *args = json_object_get(params, "arguments");

    out->command = json_string_value(json_object_get(params, "command"));
    out->arguments = json_is_array(args) ? args : NULL;
}

json_t *protocol_read_cancel(json_t *params)
{
    return json_object_get(params, "id");
}
