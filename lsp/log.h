/* The server's log: to a file (--log FILE) and to a sink, which the server
 * points at window/logMessage once the editor is there. Never to stdout,
 * which carries protocol only. */
#ifndef HOTC_LOG_H
#define HOTC_LOG_H

/* Levels, numbered as LSP's MessageType so that they map one to one. */
enum log_level { LOG_LEVEL_ERROR = 1, LOG_LEVEL_WARN = 2, LOG_LEVEL_INFO = 3, LOG_LEVEL_DEBUG = 4 };

typedef void (*log_sink_fn)(void *data, enum log_level level, const char *message);

/* Opens (appends to) `path` as the log file. Returns 0 or a negative errno. */
int log_open(const char *path);

/* Closes the log file, if any, and forgets the sink. */
void log_close(void);

/* Sends every later message at or below `max` also to `sink` (NULL to stop).
 * The sink is never re-entered: a message logged from inside it goes only
 * to the file. */
void log_set_sink(log_sink_fn sink, void *data, enum log_level max);

/* Logs one message (printf format). Lines in the file carry a timestamp and
 * the level. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Timing trace of the save path, for `make bench` and profiling: when the
 * environment has HOTC_TRACE_TIMINGS (non-empty, not "0"), log_trace()
 * records a CLOCK_MONOTONIC timestamp and a label (a string literal) in
 * memory, from any thread and without I/O; log_trace_flush() writes the
 * records since the last flush to the log file (only there: debug level,
 * never to the editor) as one line, each step's offset from the first in
 * microseconds, and forgets them. Off, both cost a load and a branch. */
void log_trace(const char *what);
void log_trace_flush(const char *title);
int log_trace_enabled(void);

#endif
