/* hooks: the program's own reload hooks (hot_on_reload) and the state that
 * survives reloads (hot_state). */
#ifndef HOTC_HOOKS_H
#define HOTC_HOOKS_H

#include <stddef.h>

#include "migrate.h"

/* Runs every hot_on_reload callback with `phase` (enum hot_phase) and the
 * version being applied, in the order they were registered, on the calling
 * thread. */
void hooks_run(int phase, int version);

/* Calls `cb` for every typed block (HOT_STATE), under the registry's lock
 * (`cb` must not call hot_state). */
typedef void (*hooks_state_cb)(const char *name, const char *type, size_t size, void *user);
void hooks_state_each(hooks_state_cb cb, void *user);

#define HOOKS_MAX_DEFAULTED 8

struct hooks_prepared;

/* One block migrated: `how` is "plan" (migrate_run; `defaulted` names the
 * fields left zero because their value did not fit, at most
 * HOOKS_MAX_DEFAULTED), "function" (the block's HOT_STATE_MIGRATE
 * function), or why it was not migrated. */
typedef void (*hooks_migrated_cb)(const char *name, const char *type, const char *how,
                                  const char *const *defaulted, size_t ndefaulted, void *user);

/* Migrates every typed block of each plan's type whose size is the plan's
 * old size into a new block (validated plans only; see migrate.h), on the
 * calling thread, outside any stop: a HOT_STATE_MIGRATE function runs in
 * its place when the block has one. The old blocks stay allocated. Returns
 * how many blocks were migrated. */
/* Whether a typed block of a plan's type has a layout the plan neither
 * starts from nor ends at (an earlier reload migrated it to a third one,
 * which the server did not plan from): returns -1 with the reason in
 * `why`, else 0. */
int hooks_migration_conflict(const struct migrate_plan *plans, size_t nplans, char *why, size_t whysz);

size_t hooks_migrate(const struct migrate_plan *plans, size_t nplans, struct hooks_prepared *pre,
                     hooks_migrated_cb report, void *user);

/* The new blocks of a migration allocated ahead, zeroed and touched (so
 * that the safe point does not pay for the page faults), for the blocks
 * that would be migrated now; hooks_migrate takes them (`pre`), a block
 * created in between is allocated then. NULL when there are none. Any
 * thread. */
struct hooks_prepared *hooks_migrate_prepare(const struct migrate_plan *plans, size_t nplans);

/* Frees what hooks_migrate did not take. NULL is fine. */
void hooks_prepared_free(struct hooks_prepared *pre);

/* Across restarts (runtime/handover.c). Calls `cb` for every block,
 * typed (`type` its spelling, `version` 0, `layout` the fingerprint a live
 * migration gave it, NULL while it is in the executable's) or not (`type`
 * NULL), under the registry's lock: `cb` must not call hot_state. */
typedef void (*hooks_block_cb)(const char *name, const char *type, int version, const char *layout,
                               const void *data, size_t size, void *user);
void hooks_blocks_each(hooks_block_cb cb, void *user);

/* Adds a block handed back from a saved state: `data` (malloc'd, `size`
 * bytes, already in this build's layout for a typed block) is taken on
 * success. Returns 0, or -1 when a block of that name exists already or
 * out of memory (then `data` stays the caller's). */
int hooks_restore_block(const char *name, const char *type, int version, void *data, size_t size);

/* Calls `cb` for every variable HOT_PERSIST registered, under the lock. */
typedef void (*hooks_persist_cb)(const char *name, const char *file, void *addr, size_t size, void *user);
void hooks_persist_each(hooks_persist_cb cb, void *user);

#endif
