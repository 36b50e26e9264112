/* The program of tests/test_gdb.c: calls the HOT value() every 10 ms for
 * argv[1] ms and prints what it returns. */
#include <hot.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

HOT int value(int x)
{
    int y = x * 2;
    return y + 1; /* rt_gdb.c:11, the line test_gdb breaks on */
}

int main(int argc, char **argv)
{
    long limit = argc > 1 ? atol(argv[1]) : 60000;

    setvbuf(stdout, NULL, _IOLBF, 0);
    hot_init(NULL);
    for (long ms = 0; ms < limit; ms += 10) {
        hot_poll();
        printf("v=%d\n", value(1));
        usleep(10000);
    }
    return 0;
}
