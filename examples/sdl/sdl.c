/* sdl: an SDL2 window whose drawing is one HOT function, render(). Change a
 * colour or a shape in render(), save, and the window changes at the next
 * frame; the frame counter and the square's position carry on.
 *
 *   ./sdl                                    a 320x240 window; close it to quit
 *   ./sdl --frames 30 --max-frames 600 --shots DIR
 *       one status line every 30 frames, exit after 600, and a screenshot
 *       DIR/shot-v<version>.bmp at the first frame drawn by each version
 *
 * Status line:  frame=120 version=0 square=80,2 pixel=203040  (square: x, dx)
 * (`pixel` is the colour at (4, 4), read back from what render() drew.)
 * Runs under Xvfb (xvfb-run ./sdl ...) with the software renderer.
 */
#include <hot.h>

#include <SDL.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W 320
#define H 240

/* State kept across reloads: a file-scope static and a global. */
static long frames;
int square_x = 20, square_dx = 2;

/* Draws one frame: the background, a bouncing square, a bar per second. */
HOT void render(SDL_Renderer *r, long frame)
{
    SDL_SetRenderDrawColor(r, 0x20, 0x30, 0x40, 0xff);
    SDL_RenderClear(r);

    square_x += square_dx;
    if (square_x < 10 || square_x > W - 50)
        square_dx = -square_dx;
    SDL_Rect sq = {square_x, 100, 40, 40};
    SDL_SetRenderDrawColor(r, 0xf0, 0xa0, 0x20, 0xff);
    SDL_RenderFillRect(r, &sq);

    SDL_Rect bar = {10, H - 20, (int)(frame / 60 % 30) * 10, 8};
    SDL_SetRenderDrawColor(r, 0x80, 0xd0, 0x80, 0xff);
    SDL_RenderFillRect(r, &bar);
}

/* The colour at (x, y) of what has been drawn, as 0xRRGGBB. */
static unsigned pixel_at(SDL_Renderer *r, int x, int y)
{
    Uint32 px = 0;
    SDL_Rect one = {x, y, 1, 1};
    if (SDL_RenderReadPixels(r, &one, SDL_PIXELFORMAT_RGB888, &px, 4) != 0)
        return 0;
    return px & 0xffffff;
}

static void on_reload(enum hot_phase phase, int version, void *user)
{
    (void)user;
    if (phase == HOT_AFTER)
        printf("# reloaded: now running version %d (frame %ld)\n", version, frames);
}

static void screenshot(SDL_Renderer *r, const char *dir, int version)
{
    char path[4096];
    SDL_Surface *s = SDL_CreateRGBSurfaceWithFormat(0, W, H, 32, SDL_PIXELFORMAT_ARGB8888);
    if (!s)
        return;
    snprintf(path, sizeof path, "%s/shot-v%d.bmp", dir, version);
    if (SDL_RenderReadPixels(r, NULL, SDL_PIXELFORMAT_ARGB8888, s->pixels, s->pitch) == 0 &&
        SDL_SaveBMP(s, path) == 0)
        printf("# screenshot %s\n", path);
    SDL_FreeSurface(s);
}

int main(int argc, char **argv)
{
    long every = 0, max_frames = 0;
    const char *shots = NULL;
    int shot_version = -1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc)
            every = atol(argv[++i]);
        else if (strcmp(argv[i], "--max-frames") == 0 && i + 1 < argc)
            max_frames = atol(argv[++i]);
        else if (strcmp(argv[i], "--shots") == 0 && i + 1 < argc)
            shots = argv[++i];
        else {
            fprintf(stderr, "usage: sdl [--frames N] [--max-frames M] [--shots DIR]\n");
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    int err = hot_init(NULL);
    if (err < 0)
        fprintf(stderr, "sdl: hot reload unavailable: %s\n", hot_strerror(err));
    hot_on_reload(on_reload, NULL);

    /* Draw with the CPU only. An OpenGL driver (Mesa's llvmpipe under Xvfb)
     * starts threads that block every signal, and the runtime cannot stop
     * such threads to apply a reload (see docs/limitations.md, Threads). */
    SDL_SetHint(SDL_HINT_FRAMEBUFFER_ACCELERATION, "0");
    SDL_SetHint(SDL_HINT_RENDER_DRIVER, "software");
    if (SDL_Init(SDL_INIT_VIDEO) != 0) {
        fprintf(stderr, "sdl: cannot start SDL: %s\n", SDL_GetError());
        return 1;
    }
    SDL_Window *win = SDL_CreateWindow("hotc: edit render() and save", SDL_WINDOWPOS_UNDEFINED,
                                       SDL_WINDOWPOS_UNDEFINED, W, H, 0);
    SDL_Renderer *ren = win ? SDL_CreateRenderer(win, -1, SDL_RENDERER_SOFTWARE) : NULL;
    if (!ren) {
        fprintf(stderr, "sdl: cannot open a window: %s\n", SDL_GetError());
        SDL_Quit();
        return 1;
    }

    int running = 1;
    while (running && (max_frames == 0 || frames < max_frames)) {
        SDL_Event ev;
        while (SDL_PollEvent(&ev))
            if (ev.type == SDL_QUIT)
                running = 0;

        hot_poll(); /* the safe point */
        render(ren, frames);
        frames++;

        if (shots && hot_version() != shot_version) {
            shot_version = hot_version();
            screenshot(ren, shots, shot_version);
        }
        if (every > 0 && frames % every == 0)
            printf("frame=%ld version=%d square=%d,%d pixel=%06x\n", frames, hot_version(),
                   square_x, square_dx, pixel_at(ren, 4, 4));
        SDL_RenderPresent(ren);
        SDL_Delay(16);
    }

    SDL_DestroyRenderer(ren);
    SDL_DestroyWindow(win);
    SDL_Quit();
    hot_shutdown();
    return 0;
}
