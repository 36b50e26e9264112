#!/usr/bin/python3
"""Generate a real-looking project for the reload benchmarks: a big header
(macros, enums, many struct and union types, inline helpers, prototypes)
and a .c file that includes it with system headers, as a game or an
interpreter does.

    bench/gen_real.py DIR [--header-lines N] [--c-lines M] [--variant K] [--c-out PATH]

Writes DIR/big.h (about N lines, default 4,100) and DIR/real.c (about M
lines, default 1,500); with --c-out, only the .c, to PATH. `--variant K` changes only the body of the HOT
function `update` in real.c, as a one-function edit does. The header does
not depend on K, so every variant shares one preamble.
"""
import sys


def header(lines):
    out = ['/* big.h: generated, a real-looking project header */', '#ifndef BIG_H', '#define BIG_H', '',
           '#include <stddef.h>', '#include <stdint.h>', '#include <stdbool.h>', '#include <string.h>',
           '#include <stdlib.h>', '#include <math.h>', '',
           '#define BIG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))',
           '#define BIG_MIN(a, b) ((a) < (b) ? (a) : (b))',
           '#define BIG_MAX(a, b) ((a) > (b) ? (a) : (b))',
           '#define BIG_CLAMP(v, lo, hi) BIG_MIN(BIG_MAX((v), (lo)), (hi))',
           '#define BIG_LIKELY(x) __builtin_expect(!!(x), 1)',
           '#define BIG_FIELD(type, name) type name;',
           '#ifdef BIG_DEBUG', '#define BIG_ASSERT(x) do { if (!(x)) abort(); } while (0)', '#else',
           '#define BIG_ASSERT(x) ((void)0)', '#endif', '']
    n = 0
    while len(out) < lines - 10:
        k = n % 5
        if k == 0:
            out += [f'enum big_kind_{n} {{'] + [f'    BIG_K{n}_{i} = {i},' for i in range(8)] + \
                   [f'    BIG_K{n}_COUNT', '};', '']
        elif k == 1:
            out += [f'typedef struct big_node_{n} {{', f'    uint32_t id;', f'    enum big_kind_{n - 1} kind;',
                    '    float pos[3], vel[3];', f'    struct big_node_{n} *next, *prev;',
                    '    union { int64_t i; double d; void *p; } value;',
                    f'    BIG_FIELD(char, name[{16 + n % 32}])', '    bool alive;',
                    f'}} big_node_{n};', '']
        elif k == 2:
            out += [f'#define BIG_NODE_{n}_SIZE (sizeof(big_node_{n - 1}))',
                    f'#define BIG_NODE_{n}_INIT {{ .id = {n}, .alive = true }}',
                    f'static inline uint32_t big_hash_{n}(const void *p, size_t n)', '{',
                    '    const unsigned char *s = p;', f'    uint32_t h = 2166136261u ^ {n}u;',
                    '    for (size_t i = 0; i < n; i++)', '        h = (h ^ s[i]) * 16777619u;', '    return h;',
                    '}', '']
        elif k == 3:
            out += [f'struct big_table_{n} {{', f'    big_node_{n - 2} **slots;', '    size_t count, cap;',
                    f'    uint32_t (*hash)(const void *, size_t);', '    struct { int lo, hi; } range;', '};', '',
                    f'int big_table_{n}_init(struct big_table_{n} *t, size_t cap);',
                    f'big_node_{n - 2} *big_table_{n}_find(const struct big_table_{n} *t, uint32_t id);',
                    f'void big_table_{n}_free(struct big_table_{n} *t);', '']
        else:
            out += [f'static inline float big_len_{n}(const big_node_{n - 3} *a)', '{',
                    '    return sqrtf(a->pos[0] * a->pos[0] + a->pos[1] * a->pos[1] + a->pos[2] * a->pos[2]);',
                    '}', f'extern int big_counter_{n};', f'double big_step_{n}(big_node_{n - 3} *a, double dt);', '']
        n += 1
    out += ['', '#endif']
    return '\n'.join(out) + '\n'


def source(lines, variant):
    out = ['/* real.c: generated, a real-looking file of a project */', '#include <stdio.h>', '#include <unistd.h>',
           '#include "hot.h"', '#include "big.h"', '', '#define STEP 0.016f', '#define WORLD 256', '',
           'struct world { big_node_1 nodes[WORLD]; int frame; float t; };', '',
           'static struct world world;', 'static int frames;', 'int score;', '']
    n = 0
    while len(out) < lines - 40:
        storage = 'static ' if n % 3 == 0 else ''
        node = 1 + 5 * (n % 40)
        out += [f'{storage}int step_{n}(big_node_{node} *a, int b)', '{', '    int acc = (int)a->id;',
                '    for (int i = 0; i < b; i++)', f'        acc = acc * 31 + i + {n};',
                f'    acc += (int)big_hash_{5 * (n % 40) + 2}(a->name, sizeof a->name);',
                '    return BIG_CLAMP(acc, 0, 1000);', '}', '']
        n += 1
    out += ['HOT void update(float dt)', '{', '    static int calls;', '    calls++;', '    frames++;',
            '    for (int i = 0; i < WORLD; i++) {', '        big_node_1 *p = &world.nodes[i];',
            '        p->pos[0] += p->vel[0] * dt;', f'        p->pos[1] += p->vel[1] * dt + {variant};', '    }',
            f'    score += {variant + 1} + step_0(&world.nodes[0], 2);', '}', '',
            'HOT int render(void) { return frames % 60; }', '',
            'int main(void)', '{', '    setvbuf(stdout, NULL, _IOLBF, 0);', '    hot_init(NULL);',
            '    for (long i = 0; i < 600000; i++) { /* about 10 minutes, a safety net */',
            '        hot_poll();', '        update(STEP);', '        render();', '        usleep(1000);',
            '    }', '    return 0;', '}']
    return '\n'.join(out) + '\n'


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2

    def opt(name, default):
        return int(argv[argv.index(name) + 1]) if name in argv else default

    c_out = argv[argv.index('--c-out') + 1] if '--c-out' in argv else None
    if not c_out:
        with open(argv[1] + '/big.h', 'w', encoding='utf-8') as f:
            f.write(header(opt('--header-lines', 4100)))
    with open(c_out or argv[1] + '/real.c', 'w', encoding='utf-8') as f:
        f.write(source(opt('--c-lines', 1500), opt('--variant', 0)))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
