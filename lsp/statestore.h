/* The state programs hand over when they end (docs/protocol.md, "State
 * across restarts"), kept per executable path in one file each under
 * $XDG_STATE_HOME/hotc (else ~/.local/state/hotc): a folder of ours with
 * mode 0700, files 0600 written whole (a temporary file renamed). On disk,
 * not only in the server's memory, so that it also survives a restart of
 * the server or the editor, and under the user's state folder rather than
 * the workspace, so that it never lands in a project's version control.
 *
 * A file holds {executable, buildId, savedAt, reason, blocks:[{name, type?,
 * version, size, data, layout?}], persist:[{name, file, size, data,
 * layout?}]}: the bytes as the program sent them and the layout of each
 * typed block and variable in the build that saved it (lsp/migrate.h,
 * migrate_describe), since that build's file is gone once it is rebuilt.
 *
 * Everything here blocks on files or DWARF: workers only. */
#ifndef HOTC_STATESTORE_H
#define HOTC_STATESTORE_H

#include <jansson.h>
#include <stddef.h>

#include "debuginfo.h"

/* The folder (created 0700 when missing, refused when it is not a folder
 * of ours, made private when open to others) into `out`. Returns 0, or -1
 * with the reason in `err`. */
int statestore_dir(char *out, size_t size, char *err, size_t errsize);

/* `executable`'s key: its base name (`.` and spaces as `_`, 63 bytes at
 * most) and a 64-bit FNV-1a hash of its whole path, `name-%016x`. It names
 * the state file and the marker beside the server's socket that the
 * runtime looks for before it waits in hot_init (runtime/session_endpoint.c
 * computes the same). */
void statestore_key(const char *executable, char *out, size_t size);

/* Writes `state` (borrowed; its "executable" names the program) into its
 * file, replacing the last one. Returns 0, or -1 with the reason in
 * `err`. */
int statestore_write(const char *dir, json_t *state, char *err, size_t errsize);

/* The state saved for `executable` (new reference), or NULL: none (`err`
 * empty), or unreadable, or not a private file of ours (`err` says why). */
json_t *statestore_read(const char *dir, const char *executable, char *err, size_t errsize);

/* Removes the state of `executable`. Returns 1 when there was one. */
int statestore_forget(const char *dir, const char *executable);

/* {executable: true} for every state in `dir` (new reference). */
json_t *statestore_list(const char *dir);

/* Adds to each typed block and variable of `state` the "layout" of its
 * type in `exe`, the build that runs now; a block a live reload migrated
 * ("fingerprint": its layout is not the executable's) gets it from the
 * newest of the patch libraries `patches` (paths, newest first; opened
 * here) whose type has that fingerprint. A block or variable no file
 * describes gets none. Takes the files' locks. */
void statestore_describe(struct debuginfo *exe, json_t *state, json_t *patches);

/* The hot/restore params for the build `exe` from a saved `state`: each
 * typed block and variable with the plan from its saved layout to its
 * layout in `exe` (pointers reset: lsp/migrate.c's restart mode), untyped
 * blocks as they are; what cannot be given back is left out. `said` gets
 * the notes in words: {"info": [...], "warnings": [...]} (a field that
 * cannot be migrated, a block or variable left out and why). New
 * reference. Takes the file's lock. */
json_t *statestore_restore_params(struct debuginfo *exe, json_t *state, json_t *said);

#endif
