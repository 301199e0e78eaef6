/* registry.c - what the dort binary has built in. */
#include "apps.h"

const dort_class_t *const dort_builtin_classes[] = {
    &demo_counter_class,
    &bench_limiter_class,
    &bench_chat_class,
    NULL,
};

const dort_worker_class_t *const dort_builtin_workers[] = {
    &demo_worker,
    &bench_worker,
    NULL,
};
