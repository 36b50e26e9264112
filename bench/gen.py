#!/usr/bin/python3
"""Generate a C source file of about N lines for the reload benchmarks.

    bench/gen.py LINES OUT.c [--variant K] [--loops N]

The file has a game-loop shape: structs, file-scope statics, many ordinary
functions (each ~10 lines, some static helpers), a handful of HOT functions
and a main that calls them through hot_poll() about once a millisecond. `--variant K` changes only the
body of the HOT function `update` (a constant in it), so two variants differ
by one HOT function, as in a save after a one-function edit. `--loops N`:
main's iterations (default 600,000, about 10 minutes: a safety net that
ends a program a benchmark left behind; the memory run of 1,000 reloads
takes longer on a busy machine).
"""
import sys


def generate(lines, variant, loops=600000):
    out = ['#include <stdio.h>', '#include <unistd.h>', '#include "hot.h"', '',
           'struct particle { float x, y, vx, vy; int alive; };', '',
           'static int frames;', 'static struct particle parts[256];', 'int score;', '']
    n = 0
    while len(out) < lines - 40:
        storage = 'static ' if n % 3 == 0 else ''
        out += [f'{storage}int work_{n}(int a, int b)', '{', '    int acc = a;',
                f'    for (int i = 0; i < b; i++)', f'        acc = acc * 31 + i + {n};',
                '    if (acc < 0)', '        acc = -acc;', '    return acc % 1000;', '}', '']
        if storage:
            out += [f'int call_{n}(int a) {{ return work_{n}(a, 3); }}', '']
        n += 1
    out += ['static int clamp(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }', '',
            'HOT void update(float dt)', '{', '    static int calls;', '    calls++;', '    frames++;',
            '    for (int i = 0; i < 256; i++) {', '        struct particle *p = &parts[clamp(i)];',
            '        p->x += p->vx * dt;', f'        p->y += p->vy * dt + {variant};', '    }',
            f'    score += {variant + 1};', '}', '',
            'HOT int render(void) { return frames % 60; }', '',
            'int main(void)', '{', '    setvbuf(stdout, NULL, _IOLBF, 0);', '    hot_init(NULL);',
            f'    for (long i = 0; i < {loops}; i++) {{ /* about {loops // 60000} minutes, a safety net */',
            '        hot_poll();', '        update(1.0f / 60);', '        render();', '        usleep(1000);',
            '    }', '    return 0;', '}']
    return '\n'.join(out) + '\n'


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    variant = int(argv[argv.index('--variant') + 1]) if '--variant' in argv else 0
    loops = int(argv[argv.index('--loops') + 1]) if '--loops' in argv else 600000
    with open(argv[2], 'w', encoding='utf-8') as f:
        f.write(generate(int(argv[1]), variant, loops))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
