/* Implements lsp/jsonrpc.h. */
#include "jsonrpc.h"

#include <string.h>

const char *jsonrpc_strerror(int code)
{
    switch (code) {
#define JSONRPC__CASE(name, code, text) \
    case name:                          \
        return text;
        JSONRPC_ERRNO_MAP(JSONRPC__CASE)
#undef JSONRPC__CASE
    }
    return "error";
}

static int valid_id(json_t *id)
{
    return json_is_integer(id) || json_is_string(id);
}

enum jsonrpc_kind jsonrpc_classify(json_t *msg, struct jsonrpc_message *out)
{
    json_t *method;

    memset(out, 0, sizeof *out);
    out->kind = JSONRPC_INVALID;
    if (!json_is_object(msg)) {
        out->why = "a message must be a JSON object";
        return out->kind;
    }
    out->id = json_object_get(msg, "id");
    if (out->id && !valid_id(out->id)) {
        out->why = "\"id\" must be an integer or a string";
        out->id = NULL;
        return out->kind;
    }
    if (!json_is_string(json_object_get(msg, "jsonrpc")) ||
        strcmp(json_string_value(json_object_get(msg, "jsonrpc")), "2.0") != 0) {
        out->why = "\"jsonrpc\" must be \"2.0\"";
        return out->kind;
    }
    method = json_object_get(msg, "method");
    out->params = json_object_get(msg, "params");
    if (json_is_null(out->params)) /* "params": null, as some clients send it, is no params */
        out->params = NULL;
    if (method) {
        if (!json_is_string(method)) {
            out->why = "\"method\" must be a string";
            return out->kind;
        }
        if (out->params && !json_is_object(out->params) && !json_is_array(out->params)) {
            out->why = "\"params\" must be an object or an array";
            return out->kind;
        }
        out->method = json_string_value(method);
        out->kind = out->id ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION;
        return out->kind;
    }
    out->result = json_object_get(msg, "result");
    out->error = json_object_get(msg, "error");
    if ((out->result || out->error) && json_object_get(msg, "id")) {
        out->kind = JSONRPC_RESPONSE;
        return out->kind;
    }
    out->why = "a message needs a \"method\", or a \"result\" or \"error\" with an \"id\"";
    return out->kind;
}

json_t *jsonrpc_response(json_t *id, json_t *result)
{
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "result",
                     result ? result : json_null());
}

json_t *jsonrpc_error(json_t *id, int code, const char *message)
{
    return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", "code",
                     code, "message", message ? message : jsonrpc_strerror(code));
}

json_t *jsonrpc_request(json_int_t id, const char *method, json_t *params)
{
    json_t *msg = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", id, "method", method);

    if (params)
        json_object_set_new(msg, "params", params);
    return msg;
}

json_t *jsonrpc_notification(const char *method, json_t *params)
{
    json_t *msg = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);

    if (params)
        json_object_set_new(msg, "params", params);
    return msg;
}
