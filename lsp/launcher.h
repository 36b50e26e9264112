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

/* Takes the settings it uses (`program`, `compileCommands`) from the whole
 * "hotc" configuration `settings` (borrowed). */
void launcher_configure(struct launcher *self, json_t *settings);

/* hotc.server.run: starts the program `arguments` (borrowed) or the
 * settings name, or the one built from the file URI in `arguments[0]`,
 * with its runtime pointed at `link` (NULL: no socket, an error). Answers
 * `req` once, {pid} or an error. */
void launcher_run(struct launcher *self, struct server *server, struct link *link, struct server_request *req,
                  json_t *arguments);

/* hotc.server.restart: stops the program (SIGTERM) and starts it again
 * with the same command line; answers `req` once it started, {pid}. */
void launcher_restart(struct launcher *self, struct server *server, struct link *link,
                      struct server_request *req);

/* On `exit`: answers a pending restart, stops the program and closes its
 * handles; the launcher starts nothing afterwards. */
void launcher_close(struct launcher *self);

/* Frees the launcher once the loop has ended. NULL is a no-op. */
void launcher_free(struct launcher *self);

#endif
