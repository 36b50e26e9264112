/* Implements lsp/log.h. One process-wide log: the server is single-threaded. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* ---------------------------------------------------------------- trace */

#define TRACE_MAX 256

static atomic_int trace_state; /* 0: not yet looked at, 1: off, 2: on */
static atomic_uint trace_n;
static struct {
    const char *what;
    uint64_t ns;
} trace_buf[TRACE_MAX];

int log_trace_enabled(void)
{
    int s = atomic_load_explicit(&trace_state, memory_order_relaxed);

    if (s == 0) {
        const char *v = getenv("HOTC_TRACE_TIMINGS");
        s = v && *v && strcmp(v, "0") != 0 ? 2 : 1;
        atomic_store_explicit(&trace_state, s, memory_order_relaxed);
    }
    return s == 2;
}

void log_trace(const char *what)
{
    struct timespec ts;
    unsigned i;

    if (!log_trace_enabled())
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    i = atomic_fetch_add(&trace_n, 1);
    if (i < TRACE_MAX) {
        trace_buf[i].what = what;
        trace_buf[i].ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
}

void log_trace_flush(const char *title)
{
    char line[8192];
    size_t at = 0;
    unsigned n;

    if (!log_trace_enabled())
        return;
    n = atomic_exchange(&trace_n, 0);
    if (n > TRACE_MAX)
        n = TRACE_MAX;
    if (n == 0 || !log_file)
        return;
    at += (size_t)snprintf(line, sizeof line, "trace %s: t0=%.3f ms (monotonic)", title,
                           (double)trace_buf[0].ns / 1e6);
    for (unsigned i = 0; i < n && at < sizeof line; i++)
        at += (size_t)snprintf(line + at, sizeof line - at, " %s=%.1f", trace_buf[i].what,
                               (double)(trace_buf[i].ns - trace_buf[0].ns) / 1e3);
    fprintf(log_file, "%s\n", line);
    fflush(log_file);
}
