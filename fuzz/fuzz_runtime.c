/* Fuzz target: the runtime's side of the socket (runtime/session*.c): the
 * message reader that cuts the server's bytes into messages, hot/reload's
 * parameters (functions, statics, a library sent as bytes, written to a
 * file and checked as an ELF file the way it is before dlopen), and the answers to
 * everything else. Nothing is dlopened: a patch's code is the server's to
 * choose, so loading one is not fuzzed.
 *
 * session_requests.c (the reader and the requests) is included whole to
 * reach its file-private functions; the rest of the runtime, session.c
 * (the backlog the answers go to) included, is linked as it is. */
#include "../runtime/session_requests.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One message from the server, handled as the runtime's thread would, but
 * for a reload: parsed and its library checked, not prepared. */
static void handle(json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *params = json_object_get(msg, "params");
    if (!method || strcmp(method, "hot/reload") != 0 || !json_is_object(params)) {
        session__dispatch(msg);
        return;
    }
    struct reload_request req;
    struct reload_func *funcs = NULL;
    struct reload_static *statics = NULL;
    char err[512], libpath[160];
    int memfd;
    if (parse_reload(params, &req, &funcs, &statics, libpath, sizeof libpath, &memfd, err, sizeof err) == 0 &&
        memfd >= 0) {
        elfself_check_file(libpath, err, sizeof err);
        close(memfd);
        unlink(libpath); /* a file per input: not kept */
    }
    free(funcs);
    free(statics);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1u << 20)
        return 0;
    /* The reader's buffer holds exactly what arrived: a read past it is
     * a read past what the server sent. */
    struct reader r = { malloc(size ? size : 1), 0, size ? size : 1 };
    if (!r.buf)
        return 0;
    memcpy(r.buf, data, size);
    r.len = size;
    json_t *msg;
    int got;
    while ((got = session__next_message(&r, &msg)) == 1) {
        if (msg)
            handle(msg);
        else
            session__respond_error(NULL, -32700, "parse error");
        json_decref(msg);
    }
    free(r.buf);
    struct pending *p = __atomic_exchange_n(&session__pending, NULL, __ATOMIC_ACQ_REL);
    if (p) {
        reload_plan_free(p->plan);
        json_decref(p->id);
        free(p);
    }
    session__discard_backlog();
    return 0;
}
