/* log_internal.h - DORT_LOG checks the level before formatting anything. */
#ifndef DORT_LOG_INTERNAL_H
#define DORT_LOG_INTERNAL_H

#include <dort/log.h>

typedef struct dort__logger_s {
    dort_log_fn fn;   /* NULL: logging off */
    void *data;
    int level;        /* lines above this level are dropped unformatted */
} dort__logger_t;

void dort__log_write(const dort__logger_t *lg, dort_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define DORT_LOG(lg, lvl, ...)                                                                     \
    do {                                                                                           \
        if ((lg)->fn != NULL && (int)(lvl) <= (lg)->level)                                         \
            dort__log_write((lg), (lvl), __VA_ARGS__);                                             \
    } while (0)

#endif
