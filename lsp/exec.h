/* exec: `hotc exec [--] PROGRAM [ARGS...]`, the wrapper the editor's
 * terminal runs when the server starts a program there (hotc.run with
 * "terminal"). It runs PROGRAM as its child in the same terminal and
 * process group (Ctrl-C and a resize reach it as usual; SIGTERM and SIGHUP
 * sent to the wrapper are passed on; SIGKILL takes the program with it),
 * waits for it, tells the server at $HOTC_ENDPOINT how it ended (hot/exited
 * {pid, status | signal, signalName, token?}), so that the status says
 * "killed by SIGTERM" where the runtime could say nothing, and ends the
 * same way itself. */
#ifndef HOTC_EXEC_H
#define HOTC_EXEC_H

/* Runs the subcommand (argv[1] is "exec"). Returns the exit code, unless
 * it ends by the program's signal. */
int exec_main(int argc, char **argv);

/* "SIGTERM" for SIGTERM, ...; "a signal" for one it does not name. */
const char *exec_signal_name(int sig);

#endif
