/* worker_internal.h - workers and the runtime's variables. */
#ifndef DORT_WORKER_INTERNAL_H
#define DORT_WORKER_INTERNAL_H

#include <dort/worker.h>

struct dort_worker_s {
    dort_rt_t *rt;
    const dort_worker_class_t *cls;
};

typedef struct dort__var_s {
    char *name;
    char *value;
} dort__var_t;

static inline const dort_worker_class_t *dort__worker_class(const dort_worker_t *w)
{
    return w->cls;
}

void dort__workers_release(dort_rt_t *rt);

#endif
