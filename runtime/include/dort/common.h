/* dort/common.h - export macro and the forward declarations every header uses. */
#ifndef DORT_COMMON_H
#define DORT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && !defined(DORT_STATIC_ONLY)
#define DORT_EXTERN __attribute__((visibility("default")))
#else
#define DORT_EXTERN
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dort_rt_s dort_rt_t;          /* a runtime: loop, storage, registries */
typedef struct dort_class_s dort_class_t;    /* a table of actor handlers */
typedef struct dort_ns_s dort_ns_t;          /* a namespace binding bound to a class */
typedef struct dort_actor_s dort_actor_t;    /* one live actor instance */
typedef struct dort_call_s dort_call_t;      /* one request delivered to an actor */
typedef struct dort_request_s dort_request_t;   /* method, path, headers, body */
typedef struct dort_response_s dort_response_t; /* status, headers, body */
typedef struct dort_ws_s dort_ws_t;             /* a WebSocket accepted by an actor */
typedef struct dort_queue_batch_s dort_queue_batch_t;         /* messages for a consumer */
typedef struct dort_scheduled_event_s dort_scheduled_event_t; /* one cron firing */

#ifdef __cplusplus
}
#endif
#endif
