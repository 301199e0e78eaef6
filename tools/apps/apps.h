/* apps.h - the actor classes and workers built into the dort binary, which
 * a config names by class name and worker name. */
#ifndef DORT_APPS_H
#define DORT_APPS_H

#include <dort/dort.h>

/* NULL-terminated lists of everything built in. */
extern const dort_class_t *const dort_builtin_classes[];
extern const dort_worker_class_t *const dort_builtin_workers[];

/* demo: a Counter actor behind a worker routing /counter/:name. */
extern const dort_class_t demo_counter_class;
extern const dort_worker_class_t demo_worker;

/* bench: the workload of the peer harness (shared/peers/workerd/worker.js):
 * /health, /check?key=K (RateLimiter-style window counter), and
 * /chat/:session/messages (append with an in-memory sequence). */
extern const dort_class_t bench_limiter_class;
extern const dort_class_t bench_chat_class;
extern const dort_worker_class_t bench_worker;

#endif
