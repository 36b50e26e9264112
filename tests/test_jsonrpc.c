/* lsp/jsonrpc: classification and envelopes. */
#include <criterion/criterion.h>

#include "jsonrpc.h"

static enum jsonrpc_kind classify(const char *text)
{
    json_t *m = json_loads(text, 0, NULL);
    struct jsonrpc_message msg;
    enum jsonrpc_kind k = jsonrpc_classify(m, &msg);

    json_decref(m);
    return k;
}

Test(jsonrpc, classifies)
{
    cr_assert_eq(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"}"), JSONRPC_REQUEST);
    cr_assert_eq(classify("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"m\",\"params\":[]}"), JSONRPC_REQUEST);
    cr_assert_eq(classify("{\"jsonrpc\":\"2.0\",\"method\":\"m\"}"), JSONRPC_NOTIFICATION);
    cr_assert_eq(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}"), JSONRPC_RESPONSE);
    cr_assert_eq(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{}}"), JSONRPC_RESPONSE);
    cr_assert_eq(classify("{\"id\":1,\"method\":\"m\"}"), JSONRPC_INVALID);
    cr_assert_eq(classify("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"m\"}"), JSONRPC_INVALID);
    cr_assert_eq(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":3}"), JSONRPC_INVALID);
    cr_assert_eq(classify("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":3}"), JSONRPC_INVALID);
    cr_assert_eq(classify("[]"), JSONRPC_INVALID);
}

Test(jsonrpc, envelopes)
{
    json_t *id = json_integer(4);
    json_t *e = jsonrpc_error(id, JSONRPC_METHOD_NOT_FOUND, NULL);
    json_t *r = jsonrpc_response(NULL, NULL);
    char *s = json_dumps(e, JSON_SORT_KEYS | JSON_COMPACT);

    cr_assert_str_eq(s, "{\"error\":{\"code\":-32601,\"message\":\"method not found\"},\"id\":4,\"jsonrpc\":\"2.0\"}");
    cr_assert(json_is_null(json_object_get(r, "id")));
    cr_assert(json_is_null(json_object_get(r, "result")));
    cr_assert_str_eq(jsonrpc_strerror(-32002), "server not initialized");
    free(s);
    json_decref(e);
    json_decref(r);
    json_decref(id);
}
