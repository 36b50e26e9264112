/* particles: bouncing balls in the terminal at 60 frames per second, for
 * trying hotc. The motion (step), the colours (colour), the points scored per
 * frame (points) and the text under the box (message) are HOT: edit one of
 * them, save, and the running animation changes while the balls keep their
 * positions and the counters keep counting.
 *
 *   ./particles                       the animation (ANSI escapes; Ctrl-C quits)
 *   ./particles --plain --frames 30   no escapes: one status line every 30 frames
 *   ./particles --plain --frames 30 --max-frames 600   ... and exit after 600
 *
 * The status line (plain mode) is what the demo and the tests read:
 *   frame=120 score=120 points=1 version=0 ball0=12.50,4.25 message="..."
 */
#include <hot.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define NBALLS 6
#define FPS 60

struct ball {
    float x, y;   /* position in cells, inside the box */
    float vx, vy; /* velocity in cells per second */
};

/* State: a file-scope static and a global. A reload replaces the code of the
 * HOT functions below; these keep their values. */
static struct ball balls[NBALLS];
static long frames;
long score;

static volatile sig_atomic_t quit;

/* Moves one ball by dt seconds inside a w x h box, bouncing off the walls. */
HOT void step(struct ball *b, float dt, int w, int h)
{
    b->x += b->vx * dt;
    b->y += b->vy * dt;
    if (b->x < 0) {
        b->x = -b->x;
        b->vx = -b->vx;
    }
    if (b->x > w - 1) {
        b->x = 2 * (w - 1) - b->x;
        b->vx = -b->vx;
    }
    if (b->y < 0) {
        b->y = -b->y;
        b->vy = -b->vy;
    }
    if (b->y > h - 1) {
        b->y = 2 * (h - 1) - b->y;
        b->vy = -b->vy;
    }
}

/* The ANSI foreground colour (30..37, 90..97) of ball i at this frame. */
HOT int colour(int i, long frame)
{
    (void)frame;
    return 31 + i % 6;
}

/* Points added to the score every frame. */
HOT int points(long frame)
{
    (void)frame;
    return 1;
}

/* The line of text shown under the box. */
HOT const char *message(void)
{
    return "hello from hotc";
}

static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
}

static void on_reload(enum hot_phase phase, int version, void *user)
{
    int plain = *(int *)user;
    if (phase == HOT_AFTER && plain)
        printf("# reloaded: now running version %d (frame %ld)\n", version, frames);
}

static void start_positions(int w, int h)
{
    for (int i = 0; i < NBALLS; i++) {
        balls[i].x = (float)(1 + (i * 7) % (w - 2));
        balls[i].y = (float)(1 + (i * 3) % (h - 2));
        balls[i].vx = 9.0f + 3.0f * (float)i;
        balls[i].vy = 5.0f + 2.0f * (float)(NBALLS - i);
    }
}

static void terminal_size(int *w, int *h)
{
    struct winsize ws;
    *w = 60;
    *h = 16;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10 && ws.ws_row > 8) {
        *w = ws.ws_col - 2 < 100 ? ws.ws_col - 2 : 100;
        *h = ws.ws_row - 5 < 30 ? ws.ws_row - 5 : 30;
    }
}

/* Draws the box, the balls, the message and a status line, in one write. */
static void draw(int w, int h)
{
    static char grid[32][104];
    static int ink[32][104];
    char out[65536];
    size_t n = 0;

    for (int y = 0; y < h; y++) {
        memset(grid[y], ' ', (size_t)w);
        memset(ink[y], 0, sizeof ink[y]);
    }
    for (int i = 0; i < NBALLS; i++) {
        int x = (int)lroundf(balls[i].x), y = (int)lroundf(balls[i].y);
        if (x >= 0 && x < w && y >= 0 && y < h) {
            grid[y][x] = 'O';
            ink[y][x] = colour(i, frames);
        }
    }
    n += (size_t)snprintf(out + n, sizeof out - n, "\033[H+");
    for (int x = 0; x < w; x++)
        out[n++] = '-';
    n += (size_t)snprintf(out + n, sizeof out - n, "+\033[K\n");
    for (int y = 0; y < h; y++) {
        out[n++] = '|';
        for (int x = 0; x < w; x++) {
            if (ink[y][x])
                n += (size_t)snprintf(out + n, sizeof out - n, "\033[1;%dm%c\033[0m", ink[y][x],
                                      grid[y][x]);
            else
                out[n++] = grid[y][x];
        }
        n += (size_t)snprintf(out + n, sizeof out - n, "|\033[K\n");
    }
    out[n++] = '+';
    for (int x = 0; x < w; x++)
        out[n++] = '-';
    n += (size_t)snprintf(out + n, sizeof out - n,
                          "+\033[K\n %s\033[K\n frame %ld  score %ld  version %d"
                          "  (edit a HOT function and save)\033[K\n",
                          message(), frames, score, hot_version());
    if (write(STDOUT_FILENO, out, n) < 0 && errno != EINTR)
        quit = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: particles [--plain] [--frames N] [--max-frames M]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int plain = 0;
    long every = 30, max_frames = 0;
    int w, h;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--plain") == 0)
            plain = 1;
        else if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc)
            every = atol(argv[++i]);
        else if (strcmp(argv[i], "--max-frames") == 0 && i + 1 < argc)
            max_frames = atol(argv[++i]);
        else
            usage();
    }
    if (every < 1)
        usage();

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Never blocks: without a server the program just runs. */
    int err = hot_init(NULL);
    if (err < 0)
        fprintf(stderr, "particles: hot reload unavailable: %s\n", hot_strerror(err));
    hot_on_reload(on_reload, &plain);

    if (plain) {
        w = 60;
        h = 16;
    } else {
        terminal_size(&w, &h);
        printf("\033[?25l\033[2J");
    }
    start_positions(w, h);

    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!quit && (max_frames == 0 || frames < max_frames)) {
        hot_poll(); /* the safe point: a reload is applied here */

        for (int i = 0; i < NBALLS; i++)
            step(&balls[i], 1.0f / FPS, w, h);
        score += points(frames);
        frames++;

        if (!plain)
            draw(w, h);
        else if (frames % every == 0)
            printf("frame=%ld score=%ld points=%d version=%d ball0=%.2f,%.2f message=\"%s\"\n",
                   frames, score, points(frames), hot_version(), (double)balls[0].x,
                   (double)balls[0].y, message());

        next.tv_nsec += 1000000000L / FPS;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR && !quit)
            ;
    }

    if (!plain)
        printf("\033[0m\033[?25h\n");
    hot_shutdown();
    return 0;
}
