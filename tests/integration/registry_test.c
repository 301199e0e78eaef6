/* registry_test.c - dort-test: the dort binary plus the test app. */
#include "apps.h"
#include "cron_app.h"
#include "testapp.h"

extern const dort_worker_class_t queuetest_worker; /* queue_app.c */

const dort_class_t *const dort_builtin_classes[] = {
    &demo_counter_class, &bench_limiter_class, &bench_chat_class, &sse_room_class,
    &cron_log_class, &ws_echo_class, NULL,
};

const dort_worker_class_t *const dort_builtin_workers[] = {
    &demo_worker, &bench_worker, &testapp_worker, &crontest_worker, &queuetest_worker,
    NULL,
};
