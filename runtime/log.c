/* log.c - formatting of log lines for the configured sink. */
#include <stdarg.h>
#include <stdio.h>

#include "log_internal.h"

const char *dort_log_level_name(dort_log_level_t level)
{
    switch (level) {
    case DORT_LOG_ERROR:
        return "error";
    case DORT_LOG_WARN:
        return "warn";
    case DORT_LOG_INFO:
        return "info";
    case DORT_LOG_DEBUG:
        return "debug";
    }
    return "unknown";
}

void dort_log_stderr(void *data, dort_log_level_t level, const char *line)
{
    (void)data;
    fprintf(stderr, "dort: %s: %s\n", dort_log_level_name(level), line);
}

void dort__log_write(const dort__logger_t *lg, dort_log_level_t level, const char *fmt, ...)
{
    /* A fixed buffer keeps logging allocation-free; long lines are cut, which
     * is acceptable for diagnostics. */
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    lg->fn(lg->data, level, line);
}
