/* game: a game loop whose whole state lives in a typed state block
 * (HOT_STATE), for trying what hotc does when a struct changes. Add a field
 * to `struct game`, use it in tick(), save: the running program gets the
 * new field (zero to begin with) while its frame counter and score go on.
 *
 *   ./game                 one status line every 30 frames, at 60 fps
 *   ./game --frames N      one status line every N frames
 *   ./game --max-frames M  exit after M frames
 *
 * The status line is what the demo reads:
 *   frame=120 score=240 version=0 state="score only"
 */
#include <hot.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Everything the game keeps from frame to frame. A reload that changes this
 * struct migrates the block field by field (see runtime/hot.h). */
struct game {
    long frame;
    long score;
};

static volatile sig_atomic_t quit;

/* One frame of the game: its state fetched where it is used. */
HOT void tick(int every)
{
    struct game *g = HOT_STATE(struct game, "game");
    g->frame++;
    g->score += 2;
    if (g->frame % every == 0)
        printf("frame=%ld score=%ld version=%d state=\"score only\"\n", g->frame, g->score, hot_version());
}

static void on_reload(enum hot_phase phase, int version, void *user)
{
    (void)user;
    if (phase == HOT_AFTER)
        printf("# reloaded: now running version %d\n", version);
}

static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
}

int main(int argc, char **argv)
{
    int every = 30;
    long max_frames = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc) {
            every = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--max-frames") == 0 && i + 1 < argc) {
            max_frames = atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: game [--frames N] [--max-frames M]\n");
            return 2;
        }
    }
    if (every < 1)
        every = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int err = hot_init(NULL);
    if (err < 0)
        fprintf(stderr, "game: hot reload unavailable: %s\n", hot_strerror(err));
    hot_on_reload(on_reload, NULL);
    struct timespec frame_time = { 0, 1000000000 / 60 };
    for (long n = 0; !quit && (!max_frames || n < max_frames); n++) {
        hot_poll();
        tick(every);
        nanosleep(&frame_time, NULL);
    }
    hot_shutdown();
    return 0;
}
