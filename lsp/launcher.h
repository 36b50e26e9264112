/* Launching and watching the program the editor runs: hotc.server.run and
 * hotc.server.restart. The launcher starts the program with HOTC_ENDPOINT
 * (and HOTC_TOKEN when the server listens on TCP) so that its runtime
 * attaches to this server, finds which program to run when the settings do
 * not say (the output of a file's link entry in compile_commands.json,
 * looked up on a libuv worker), and relaunches it on restart.
 *
 * One launcher per pipeline; everything runs on the server's loop. */
#ifndef HOTC_LAUNCHER_H
#define HOTC_LAUNCHER_H

#include <jansson.h>
#include <uv.h>

#include "server.h"

struct launcher;
struct link;

/* A new launcher on `loop`, or NULL when out of memory. */
struct launcher *launcher_new(uv_loop_t *loop);

/* Takes the settings it uses (`program`, `compileCommands`, `build`) from the whole
 * "hotc" configuration `settings` (borrowed). */
void launcher_configure(struct launcher *self, json_t *settings);

/* hotc.server.run: `arguments` (borrowed) is [uri] or [{program?, args?,
 * cwd?, file?, terminal?}]. The program is the command's, else the
 * settings', else the output of the file's link entry in
 * compile_commands.json, else the one executable of the workspace that
 * carries hotc's runtime (found on a worker). Its runtime is pointed at
 * `link` (NULL: no socket, an error). Answers `req` once: {pid} when the
 * server started it, {launch: {program, args, cwd, env}} when the editor
 * starts it in its terminal (`terminal`), {candidates: [path]} when the
 * workspace has several for the user to pick (run again with {program}),
 * or an error. */
void launcher_run(struct launcher *self, struct server *server, struct link *link, struct server_request *req,
                  json_t *arguments);

/* hotc.server.restart: runs the project's build (the `build` setting,
 * else make, ninja or cmake --build as the root shows; its messages become
 * diagnostics of source "build"), then stops the program the server
 * started (SIGTERM) and starts it again, or hands the editor {launch}
 * (`terminal`). `arguments` (borrowed) may be [{program, args?, cwd?,
 * terminal?}] for a program the editor started in an earlier session.
 * Answers `req` once; a failed build answers an error and keeps the
 * program running. */
void launcher_restart(struct launcher *self, struct server *server, struct link *link,
                      struct server_request *req, json_t *arguments);

/* On `exit`: answers a pending restart, stops the program and closes its
 * handles; the launcher starts nothing afterwards. */
/* Called by restart before it stops the program it started (`pid`; 0 when
 * the editor runs it in its terminal) whose executable is `path`: the
 * state hand-over (lsp/handover.c). The hook calls `resume(arg)` exactly
 * once, when the program may be stopped. */
typedef void (*launcher_before_stop_fn)(long pid, const char *path, void (*resume)(void *arg), void *arg,
                                        void *user);
void launcher_set_before_stop(struct launcher *self, launcher_before_stop_fn fn, void *user);

void launcher_close(struct launcher *self);

/* Frees the launcher once the loop has ended. NULL is a no-op. */
void launcher_free(struct launcher *self);

#endif
