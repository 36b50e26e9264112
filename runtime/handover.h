/* handover: the state a program hands to the server when it ends (a clean
 * exit: hot/save; or the server's hot/handover before a restart) and gets back at its
 * next start (hot/restore): every hot_state block and HOT_PERSIST variable
 * as bytes, typed ones migrated by the server's plans (docs/protocol.md,
 * "State across restarts"). The messages' JSON lives here and in the
 * session's files only. */
#ifndef HOTC_HANDOVER_H
#define HOTC_HANDOVER_H

struct json_t;

/* {blocks:[{name, type?, fingerprint?, version, size, data}],
 * persist:[{name, file, size, data}]} with the bytes in base64, copied now (new reference; NULL when
 * out of memory). Any thread. Sets *empty when there is nothing to hand
 * over. */
struct json_t *handover_snapshot(int *empty);

/* Applies hot/restore `params` (borrowed): each block added (migrated
 * first when it carries a plan), each variable overwritten through its
 * plan. Returns the result {restored:[names], skipped:[{name, reason}],
 * defaulted:[fields]} (new reference). Runtime thread, while hot_init
 * waits: nothing else uses the variables yet. */
struct json_t *handover_restore(struct json_t *params);

#endif
