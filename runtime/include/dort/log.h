/* dort/log.h - where the library's log lines go. The library never writes to
 * stderr itself: it formats a line only when its level is enabled, and hands
 * it to the sink configured in the runtime options. */
#ifndef DORT_LOG_H
#define DORT_LOG_H

#include <dort/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    DORT_LOG_ERROR = 0,
    DORT_LOG_WARN = 1,
    DORT_LOG_INFO = 2,
    DORT_LOG_DEBUG = 3,
} dort_log_level_t;

/* A log sink. `line` is one formatted line without a trailing newline,
 * borrowed for the duration of the call. Called on the thread that logged
 * (the loop thread, or dort's writer thread for storage errors). */
typedef void (*dort_log_fn)(void *data, dort_log_level_t level, const char *line);

/* Returns "error", "warn", "info" or "debug". */
DORT_EXTERN const char *dort_log_level_name(dort_log_level_t level);

/* A ready-made sink that writes "dort: <level>: <line>\n" to stderr; `data`
 * is ignored. Programs (not the library) install it. */
DORT_EXTERN void dort_log_stderr(void *data, dort_log_level_t level, const char *line);

#ifdef __cplusplus
}
#endif
#endif
