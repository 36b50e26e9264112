/* hooks: the program's own reload hooks (hot_on_reload) and the state that
 * survives reloads (hot_state). */
#ifndef HOTC_HOOKS_H
#define HOTC_HOOKS_H

/* Runs every hot_on_reload callback with `phase` (enum hot_phase) and the
 * version being applied, in the order they were registered, on the calling
 * thread. */
void hooks_run(int phase, int version);

#endif
