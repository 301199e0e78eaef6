/* dort/worker.h - workers (stateless handlers for HTTP requests, queue
 * batches and cron events), the exchanges they answer, streaming responses,
 * and the variables and secrets every handler can read.
 *
 * Every function here runs on the loop thread.
 */
#ifndef DORT_WORKER_H
#define DORT_WORKER_H

#include <dort/actor.h>
#include <dort/common.h>
#include <dort/message.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dort_worker_s dort_worker_t;
typedef struct dort_exchange_s dort_exchange_t;
typedef struct dort_stream_s dort_stream_t;

/* The handlers of a worker. The table must outlive the runtime. A handler
 * returns 0, or non-zero to fail: for fetch, the client then gets a 500
 * unless the exchange was already answered. */
typedef struct dort_worker_class_s {
    const char *name; /* e.g. "api"; configs name workers by it */
    /* An HTTP request: answer `ex` now or later (dort_exchange_respond /
     * dort_exchange_forward). */
    int (*fetch)(dort_exchange_t *ex);
    /* A batch of queue messages (dort/queue.h). Return 0 (success: messages
     * not acked or retried explicitly are acked), non-zero (failure: they are
     * retried), or DORT_EPENDING and call dort_queue_batch_finish later. */
    int (*queue)(dort_queue_batch_t *batch);
    /* A cron trigger fired (dort/cron.h). Same return convention; finish a
     * pending run with dort_scheduled_finish. */
    int (*scheduled)(dort_scheduled_event_t *ev);
    /* Reserved for handlers added later; keep zeroed. */
    void *reserved[6];
} dort_worker_class_t;

/* Registers a worker class with the runtime (before dort_rt_start). The
 * table is borrowed. Returns 0, DORT_EINVAL, DORT_EEXIST or DORT_ESTATE. */
DORT_EXTERN int dort_rt_add_worker(dort_rt_t *rt, const dort_worker_class_t *wc,
                                   dort_worker_t **out);
/* The worker registered as `name`, or NULL. */
DORT_EXTERN dort_worker_t *dort_rt_worker(dort_rt_t *rt, const char *name);
DORT_EXTERN const dort_worker_class_t *dort_worker_class(const dort_worker_t *w);

/* ---- variables and secrets (the env of wrangler) ---- */

/* Sets variable `name` to `value` (both copied; replaces). Vars are
 * runtime-wide: every worker and actor reads the same. Returns 0,
 * DORT_EINVAL or DORT_ENOMEM. */
DORT_EXTERN int dort_rt_set_var(dort_rt_t *rt, const char *name, const char *value);
/* The value of `name`, or NULL. Borrowed until the var is set again or the
 * runtime is freed. */
DORT_EXTERN const char *dort_rt_var(const dort_rt_t *rt, const char *name);

/* ---- exchanges: one HTTP request being answered by a worker ---- */

/* The request. Borrowed; NULL after dort_exchange_forward moved it. */
DORT_EXTERN const dort_request_t *dort_exchange_request(const dort_exchange_t *ex);
DORT_EXTERN dort_rt_t *dort_exchange_rt(const dort_exchange_t *ex);
/* The client's address as text ("127.0.0.1"), borrowed. */
DORT_EXTERN const char *dort_exchange_peer(const dort_exchange_t *ex);

/* Answers with `res` (ownership taken, also on error). Each exchange is
 * answered exactly once; after that it is gone. Returns 0 or DORT_EINVAL.
 * If the client went away meanwhile, the answer is dropped quietly. */
DORT_EXTERN int dort_exchange_respond(dort_exchange_t *ex, dort_response_t *res);

/* Shorthand: status, optional Content-Type and a copied body. */
DORT_EXTERN int dort_exchange_respond_body(dort_exchange_t *ex, int status,
                                           const char *content_type, const void *body,
                                           size_t len);

/* Answers with dort's JSON error form,
 * {"ok":false,"error":{"code":CODE,"message":MESSAGE}}. */
DORT_EXTERN int dort_exchange_respond_error(dort_exchange_t *ex, int status, const char *code,
                                            const char *message);

/* Sends the request itself (its body is not copied) to the stub's actor and
 * answers the client with the actor's response. Errors from the actor side
 * become JSON errors: 500 (handler failed, reset), 503 (commit failed,
 * overloaded, stopping; retryable), 507 (storage full). `extra` headers
 * may be added to the request first with dort_exchange_add_header. Returns 0
 * or what dort_stub_fetch returns (then the exchange is still open). */
DORT_EXTERN int dort_exchange_forward(dort_exchange_t *ex, dort_stub_t *stub);

/* Adds a header to the request before forwarding (e.g. an authenticated
 * user id), copied. */
DORT_EXTERN int dort_exchange_add_header(dort_exchange_t *ex, const char *name,
                                         const char *value);

/* Answer headers to add to whatever response the exchange gets (e.g. CORS,
 * rate-limit headers), copied. */
DORT_EXTERN int dort_exchange_add_response_header(dort_exchange_t *ex, const char *name,
                                                  const char *value);

/* Maps a dort error code to the HTTP status and JSON code dort uses for it. */
DORT_EXTERN int dort_http_status_for(int err, const char **code);

/* ---- streaming responses (Server-Sent Events and the like) ---- */

/* Creates a response whose body is written later, chunk by chunk, through
 * `*stream`. The producer owns one reference to the stream and must end it
 * with dort_stream_end. Created inside an actor's turn, the stream belongs to
 * that actor: chunks written in its turns leave through its output gate, and
 * the actor stays in memory until the stream ends. Returns 0, DORT_EINVAL or
 * DORT_ENOMEM. */
DORT_EXTERN int dort_response_new_stream(dort_response_t **out, int status,
                                         dort_stream_t **stream);

/* Writes a chunk (copied). Returns 0, or DORT_ECLOSED once the client is gone
 * (then end the stream). */
DORT_EXTERN int dort_stream_write(dort_stream_t *s, const void *data, size_t len);

/* 1 when the client has gone away. */
DORT_EXTERN int dort_stream_closed(const dort_stream_t *s);

/* Ends the stream (the response completes) and releases the producer's
 * reference; `s` must not be used afterwards. */
DORT_EXTERN void dort_stream_end(dort_stream_t *s);

/* Called once when the client goes away before the stream ended. For an
 * actor's stream it runs as a turn of that actor (`self` set); otherwise
 * `self` is NULL. The producer should call dort_stream_end there. */
typedef int (*dort_stream_close_cb)(dort_actor_t *self, dort_stream_t *s, void *data);
DORT_EXTERN void dort_stream_on_close(dort_stream_t *s, dort_stream_close_cb cb, void *data);

#ifdef __cplusplus
}
#endif
#endif
