/* Implements lsp/log.h. One process-wide log: the server is single-threaded. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static FILE *log_file;
static log_sink_fn log_sink;
static void *log_sink_data;
static enum log_level log_sink_max;
static int in_sink;

int log_open(const char *path)
{
    FILE *f = fopen(path, "a");

    if (!f)
        return -errno;
    if (log_file)
        fclose(log_file);
    log_file = f;
    return 0;
}

void log_close(void)
{
    if (log_file)
        fclose(log_file);
    log_file = NULL;
    log_sink = NULL;
}

void log_set_sink(log_sink_fn sink, void *data, enum log_level max)
{
    log_sink = sink;
    log_sink_data = data;
    log_sink_max = max;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = { "", "error", "warn", "info", "debug" };
    char msg[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_file) {
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        fprintf(log_file, "%02d:%02d:%02d.%03ld %-5s %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
                ts.tv_nsec / 1000000, names[level >= 1 && level <= 4 ? level : 0], msg);
        fflush(log_file);
    }
    if (log_sink && level <= log_sink_max && !in_sink) {
        in_sink = 1;
        log_sink(log_sink_data, level, msg);
        in_sink = 0;
    }
}
