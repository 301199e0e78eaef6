/* registry_test.c - dort-test: the dort binary plus the test app. */
#include "apps.h"
#include "testapp.h"

const dort_class_t *const dort_builtin_classes[] = {
    &demo_counter_class, &bench_limiter_class, &bench_chat_class, &sse_room_class, NULL,
};

const dort_worker_class_t *const dort_builtin_workers[] = {
    &demo_worker, &bench_worker, &testapp_worker, NULL,
};
