/* Fuzz target: document edits through analysis and the patch builder
 * (lsp/docstore.c, lsp/analysis.c, lsp/patch.c), as the server runs them
 * on didOpen, didChange and didSave. The input is a C file, then after a
 * 0x01 byte a list of edits, each 4 bytes (start: 2, bytes deleted: 1,
 * bytes inserted: 1) followed by the inserted bytes. After each edit the
 * document is reparsed incrementally and analysed, changes are diffed
 * against the opening text, and a patch is built for every HOT function,
 * from the document's patch index and from scratch; both must agree.
 * Every tree and parser must be deleted by the end (fuzz/tsalloc.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "docstore.h"
#include "patch.h"
#include "tsalloc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_tsalloc_install();
    return 0;
}

/* Builds a patch for the HOT functions of `doc`, twice, and compares. */
static void build_patches(struct document *doc)
{
    const char *names[64];
    size_t n = 0;
    for (size_t i = 0; i < doc->analysis->n_functions && n < 64; i++)
        if (doc->analysis->functions[i].hot)
            names[n++] = doc->analysis->functions[i].name;
    if (n == 0)
        return;
    struct patch_input in = {
        .text = doc->text,
        .length = doc->len,
        .path = "/work/fuzz.c",
        .functions = names,
        .function_count = n,
        .build_id = "0123456789abcdef",
        .tree = doc->tree,
    };
    struct patch a, b;
    patch_init(&a);
    patch_init(&b);
    int ra = patch_build_indexed(&a, &in, doc->patch_index);
    int rb = patch_build(&b, &in);
    if (ra != rb || (ra == 0 && (a.length != b.length || memcmp(a.source, b.source, a.length) != 0)))
        abort();
    patch_release(&a);
    patch_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    const uint8_t *split = memchr(data, 1, size);
    size_t text_len = split ? (size_t)(split - data) : size;
    struct docstore *docs = docstore_new("HOT");
    if (!docs)
        return 0;
    struct document *doc = docstore_open(docs, "file:///work/fuzz.c", "/work/fuzz.c", (const char *)data,
                                         text_len, 1);
    if (!doc)
        goto done;
    build_patches(doc);
    const uint8_t *p = split ? split + 1 : data + size, *end = data + size;
    for (int edits = 0; end - p >= 4 && edits < 64; edits++) {
        size_t start = ((size_t)p[0] << 8 | p[1]) % (doc->len + 1);
        size_t del = p[2], ins = p[3];
        p += 4;
        if (ins > (size_t)(end - p))
            ins = (size_t)(end - p);
        if (del > doc->len - start)
            del = doc->len - start;
        struct text_edit e = { (uint32_t)start, (uint32_t)(start + del), (const char *)p, ins };
        p += ins;
        docstore_edit(docs, doc, &e);
        docstore_update(docs, doc);
        int others = 0;
        analysis_diff_free(analysis_diff_hot(doc->running, doc->analysis, &others));
        analysis_diff_free(analysis_diff(doc->running, doc->analysis));
        build_patches(doc);
    }
done:
    docstore_free(docs);
    fuzz_tsalloc_check();
    return 0;
}
