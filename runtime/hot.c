/* hot.c: libhotc's public entry points (hot.h) that are not hooks or guard:
 * start-up, the safe point, version, rollback, shutdown, errors. */
#include "hot.h"

#include "guard.h"
#include "session.h"
#include "reload.h"
#include "stopworld.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

HOT_API int hot_init(const char *endpoint)
{
    return hot_init_mode(endpoint, HOT_MODE_POLL);
}

HOT_API int hot_init_mode(const char *endpoint, enum hot_mode mode)
{
#ifdef ARCH_UNSUPPORTED
    (void)endpoint;
    (void)mode;
    return HOT_EUNSUPPORTED;
#else
    const char *env = getenv(HOT_ENV_MODE);
    if (env && strcmp(env, "auto") == 0)
        mode = HOT_MODE_AUTO;
    if (stopworld_init() != 0 || guard_init() != 0)
        return HOT_EUNSUPPORTED;
    /* The executable is read on the runtime's thread: hot_init stays cheap,
     * but for the state of the last run when the server keeps some. */
    int rc = session_start(endpoint, mode == HOT_MODE_AUTO);
    if (rc == 0)
        session_wait_state();
    return rc;
#endif
}

HOT_API int hot_poll(void)
{
    return session_poll();
}

HOT_API int hot_version(void)
{
    return reload_version();
}

/* The program's own rollback: the server only hears of it through the log
 * line, since it did not ask. */
HOT_API int hot_rollback(void)
{
    char reason[256];
    int version = reload_rollback(session_thread_tid(), reason, sizeof reason);
    if (version < 0)
        return version == -1 ? HOT_ENOROLLBACK : HOT_ESTOP;
    char message[64];
    snprintf(message, sizeof message, "rolled back to version %d by the program", version);
    session_log("info", message);
    return version;
}

HOT_API void hot_shutdown(void)
{
    session_stop();
}

HOT_API const char *hot_strerror(int err)
{
    switch (err) {
#define HOT__TEXT(name, value, text) case value: return text;
        HOT_ERRNO_MAP(HOT__TEXT)
#undef HOT__TEXT
    default:
        return "unknown error";
    }
}
