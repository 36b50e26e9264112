/* JSON-RPC 2.0 envelopes: classifying what arrives, building responses,
 * errors, requests and notifications. Knows nothing of LSP methods. */
#ifndef HOTC_JSONRPC_H
#define HOTC_JSONRPC_H

#include <jansson.h>

/* Error codes of JSON-RPC 2.0 and of LSP. X(name, code, text). */
#define JSONRPC_ERRNO_MAP(X)                                        \
    X(JSONRPC_PARSE_ERROR, -32700, "parse error")                   \
    X(JSONRPC_INVALID_REQUEST, -32600, "invalid request")           \
    X(JSONRPC_METHOD_NOT_FOUND, -32601, "method not found")         \
    X(JSONRPC_INVALID_PARAMS, -32602, "invalid params")             \
    X(JSONRPC_INTERNAL_ERROR, -32603, "internal error")             \
    X(JSONRPC_SERVER_NOT_INITIALIZED, -32002, "server not initialized") \
    X(JSONRPC_UNKNOWN_ERROR, -32001, "unknown error")               \
    X(JSONRPC_REQUEST_FAILED, -32803, "request failed")             \
    X(JSONRPC_SERVER_CANCELLED, -32802, "server cancelled")         \
    X(JSONRPC_CONTENT_MODIFIED, -32801, "content modified")         \
    X(JSONRPC_REQUEST_CANCELLED, -32800, "request cancelled")

enum jsonrpc_code {
#define JSONRPC__ENUM(name, code, text) name = code,
    JSONRPC_ERRNO_MAP(JSONRPC__ENUM)
#undef JSONRPC__ENUM
};

const char *jsonrpc_strerror(int code);

enum jsonrpc_kind { JSONRPC_REQUEST, JSONRPC_NOTIFICATION, JSONRPC_RESPONSE, JSONRPC_INVALID };

/* A classified message. Every pointer is borrowed from the message. */
struct jsonrpc_message {
    enum jsonrpc_kind kind;
    const char *method;   /* requests and notifications */
    json_t *id;           /* requests and responses; NULL when absent */
    json_t *params;       /* NULL when absent */
    json_t *result;       /* responses */
    json_t *error;        /* responses */
    const char *why;      /* JSONRPC_INVALID: what is wrong, for the error message */
};

/* Classifies `msg`. An invalid message whose id could be read keeps it in
 * out->id, so that the error can be addressed. */
enum jsonrpc_kind jsonrpc_classify(json_t *msg, struct jsonrpc_message *out);

/* {"jsonrpc":"2.0","id":id,"result":result}. `id` is borrowed, `result`
 * stolen (NULL means null). New reference. */
json_t *jsonrpc_response(json_t *id, json_t *result);

/* An error response. `id` borrowed (NULL means null); `message` NULL means
 * the code's standard text. New reference. */
json_t *jsonrpc_error(json_t *id, int code, const char *message);

/* A request or notification; `params` stolen (may be NULL). New reference. */
json_t *jsonrpc_request(json_int_t id, const char *method, json_t *params);
json_t *jsonrpc_notification(const char *method, json_t *params);

#endif
