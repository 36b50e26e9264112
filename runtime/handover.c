/* handover: see handover.h. */
#include "handover.h"

#include "hooks.h"
#include "migrate.h"
#include "session.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* `n` bytes as base64 (new string), or NULL when out of memory. */
static char *to_base64(const unsigned char *p, size_t n)
{
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *o++ = alphabet[v >> 18 & 63];
        *o++ = alphabet[v >> 12 & 63];
        *o++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? alphabet[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* Decodes base64 `text` into a new buffer of *n bytes (at least 1 byte
 * allocated). NULL when it is not base64 or out of memory. */
static unsigned char *from_base64(const char *text, size_t *n)
{
    size_t len = strlen(text);
    unsigned char *bytes = malloc(len / 4 * 3 + 3);
    unsigned acc = 0;
    int bits = 0;
    *n = 0;
    if (!bytes)
        return NULL;
    for (const char *p = text; *p && *p != '='; p++) {
        const char *c = strchr(alphabet, *p);
        if (!c) {
            free(bytes);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)(c - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes[(*n)++] = (unsigned char)(acc >> bits);
        }
    }
    return bytes;
}

static void block_entry(const char *name, const char *type, int version, const char *layout, const void *data,
                        size_t size, void *user)
{
    char *b64 = to_base64(data, size);
    json_t *e = b64 ? json_pack("{s:s, s:i, s:I, s:o}", "name", name, "version", version, "size", (json_int_t)size,
                                "data", json_stringn_nocheck(b64, strlen(b64))) /* base64: ASCII */
                    : NULL;
    if (e && type)
        json_object_set_new(e, "type", json_string(type));
    if (e && layout) /* migrated live: not the executable's layout */
        json_object_set_new(e, "fingerprint", json_string(layout));
    if (e)
        json_array_append_new(user, e);
    free(b64);
}

static void persist_entry(const char *name, const char *file, void *addr, size_t size, void *user)
{
    char *b64 = to_base64(addr, size);
    if (b64)
        json_array_append_new(user, json_pack("{s:s, s:s, s:I, s:o}", "name", name, "file", file, "size",
                                              (json_int_t)size, "data", json_stringn_nocheck(b64, strlen(b64))));
    free(b64);
}

json_t *handover_snapshot(int *empty)
{
    json_t *blocks = json_array(), *persist = json_array();
    hooks_blocks_each(block_entry, blocks);
    hooks_persist_each(persist_entry, persist);
    if (empty)
        *empty = json_array_size(blocks) == 0 && json_array_size(persist) == 0;
    return json_pack("{s:o, s:o}", "blocks", blocks, "persist", persist);
}

/* A HOT_PERSIST variable, found by name and file. */
struct wanted {
    const char *name, *file;
    void *addr;
    size_t size;
};

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void find_persist(const char *name, const char *file, void *addr, size_t size, void *user)
{
    struct wanted *w = user;
    if (!w->addr && strcmp(name, w->name) == 0 && strcmp(base_name(file), base_name(w->file)) == 0) {
        w->addr = addr;
        w->size = size;
    }
}

struct restore {
    json_t *restored, *skipped, *defaulted;
    const char *name; /* the block or variable being restored */
};

static void skip(struct restore *r, const char *name, const char *reason)
{
    json_array_append_new(r->skipped, json_pack("{s:s, s:s}", "name", name, "reason", reason));
}

static void on_defaulted(const char *field, void *user)
{
    struct restore *r = user;
    char buf[300];
    snprintf(buf, sizeof buf, "%s.%s", r->name, field);
    json_array_append_new(r->defaulted, json_string(buf));
}

/* `old` (n bytes) into `to` (plan->new_size bytes) through the server's
 * plan `mig`. Returns 0, or -1 with the reason in `why`. */
static int run_plan(struct restore *r, json_t *mig, const unsigned char *old, size_t n, void *to, char *why,
                    size_t whysz)
{
    struct migrate_plan plan;
    if (session_plan_parse(mig, &plan, why, whysz) != 0)
        return -1;
    if (plan.old_size != n) {
        snprintf(why, whysz, "the saved bytes (%zu) are not the size its layout says (%zu)", n, plan.old_size);
        session_plan_release(&plan);
        return -1;
    }
    migrate_run(&plan, old, to, on_defaulted, r);
    session_plan_release(&plan);
    return 0;
}

static void restore_block(struct restore *r, json_t *e)
{
    const char *name = NULL, *type = NULL, *data = NULL;
    int version = 0;
    json_t *mig = NULL;
    size_t n;
    char why[256];
    if (json_unpack(e, "{s:s, s?s, s?i, s:s, s?o}", "name", &name, "type", &type, "version", &version, "data", &data,
                    "migration", &mig) != 0) {
        skip(r, name ? name : "?", "invalid hot/restore block");
        return;
    }
    unsigned char *bytes = from_base64(data, &n);
    if (!bytes) {
        skip(r, name, "its saved bytes are not base64");
        return;
    }
    r->name = name;
    if (type) {
        json_int_t new_size = 0;
        if (!mig || json_unpack(mig, "{s:I}", "newSize", &new_size) != 0 || new_size < 0) {
            skip(r, name, "no migration plan for a typed block");
            free(bytes);
            return;
        }
        unsigned char *to = calloc(1, new_size ? (size_t)new_size : 1);
        if (!to || run_plan(r, mig, bytes, n, to, why, sizeof why) != 0) {
            skip(r, name, to ? why : "out of memory");
            free(to);
            free(bytes);
            return;
        }
        free(bytes);
        bytes = to;
        n = (size_t)new_size;
    }
    if (hooks_restore_block(name, type, version, bytes, n) != 0) {
        skip(r, name, "a block of that name exists already");
        free(bytes);
        return;
    }
    if (type)
        session_state(name, type, n);
    json_array_append_new(r->restored, json_string(name));
}

static void restore_persist(struct restore *r, json_t *e)
{
    struct wanted w = {0};
    const char *data = NULL;
    json_t *mig = NULL;
    json_int_t new_size = 0;
    size_t n;
    char why[256];
    if (json_unpack(e, "{s:s, s:s, s:s, s:o}", "name", &w.name, "file", &w.file, "data", &data, "migration", &mig) !=
            0 ||
        json_unpack(mig, "{s:I}", "newSize", &new_size) != 0) {
        skip(r, w.name ? w.name : "?", "invalid hot/restore variable (no migration plan)");
        return;
    }
    hooks_persist_each(find_persist, &w);
    if (!w.addr) {
        skip(r, w.name, "no HOT_PERSIST variable of that name in this build");
        return;
    }
    if ((size_t)new_size != w.size) {
        skip(r, w.name, "its new size is not the variable's");
        return;
    }
    unsigned char *bytes = from_base64(data, &n);
    /* from the variable's initial value: what the plan does not write
     * (new fields, values that do not fit, pointers) keeps it */
    unsigned char *to = malloc(w.size);
    r->name = w.name;
    if (!bytes || !to) {
        skip(r, w.name, "out of memory or bad base64");
    } else {
        memcpy(to, w.addr, w.size);
        if (run_plan(r, mig, bytes, n, to, why, sizeof why) != 0) {
            skip(r, w.name, why);
        } else {
            memcpy(w.addr, to, w.size);
            json_array_append_new(r->restored, json_string(w.name));
        }
    }
    free(bytes);
    free(to);
}

json_t *handover_restore(json_t *params)
{
    struct restore r = { .restored = json_array(), .skipped = json_array(), .defaulted = json_array() };
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(params, "blocks"), i, e)
        restore_block(&r, e);
    json_array_foreach(json_object_get(params, "persist"), i, e)
        restore_persist(&r, e);
    return json_pack("{s:s, s:o, s:o, s:o}", "status", "restored", "restored", r.restored, "skipped", r.skipped,
                     "defaulted", r.defaulted);
}
