/* The save-to-reload pipeline: connects the server (lsp/server.h) to the
 * patch builder (lsp/patch.h), the compiler driver (lsp/build.h) and the
 * runtime link (lsp/link.h).
 *
 * On didSave it diffs the saved file against what the attached programs
 * run, builds a patch of the changed HOT functions whose signature and
 * types are unchanged, compiles it into a fresh shared library in a private
 * temporary directory (a newer save of the file cancels the older compile;
 * saves that arrive together are handled as one batch), and pushes it to
 * each attached program that has those functions (as a path over the Unix
 * socket, as base64 bytes to programs attached over TCP). Compiler messages
 * become diagnostics; results update lsp/state.h and the baseline, and once
 * the whole batch is done the editor gets `hotc/reloaded` per file, then
 * one `hotc/status` counting the batch as one reload. It listens on TCP
 * when the `tcp` setting says so (the endpoint and token go to the log). It hands
 * hotc.server.run and .restart to the launcher (lsp/launcher.h),
 * rolls back (hotc.server.rollback), reloads on request
 * (hotc.server.reload), and turns crash reports into diagnostics.
 *
 * One pipeline per server; everything runs on the server's loop. */
#ifndef HOTC_PIPELINE_H
#define HOTC_PIPELINE_H

#include <uv.h>

#include "server.h"

struct pipeline;

/* A new pipeline on `loop`, or NULL when out of memory. Nothing is opened
 * until the server says `initialized`. */
struct pipeline *pipeline_new(uv_loop_t *loop);

/* The hooks to give server_set_hooks(): their `data` is the pipeline. */
struct server_hooks pipeline_hooks(struct pipeline *self);

/* Frees the pipeline once the loop has ended (after the `exit` hook closed
 * its handles and the loop ran them to their close callbacks). Removes the
 * temporary directory. */
void pipeline_free(struct pipeline *self);

#endif
