/* dort/queue.h - durable queues in the runtime's LMDB environment:
 * producers, consumer batches, acks and retries, dead-letter queues, and
 * introspection. Semantics follow Cloudflare Queues, with two differences
 * where dort does better: a send made inside an actor's turn commits in the
 * same transaction as the turn's storage writes (transactional outbox), and
 * messages survive restarts and crashes (at-least-once: a message handed to
 * a consumer is leased, not deleted, until its ack commits).
 *
 * Every function runs on the loop thread.
 */
#ifndef DORT_QUEUE_H
#define DORT_QUEUE_H

#include <dort/common.h>
#include <dort/message.h>
#include <dort/worker.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DORT_QUEUE_MAX_MESSAGE (128 * 1024)   /* bytes of one body */
#define DORT_QUEUE_MAX_BATCH 100              /* messages in one send_batch */
#define DORT_QUEUE_MAX_BATCH_BYTES (256 * 1024)
#define DORT_QUEUE_MAX_DELAY_S 86400          /* delay_seconds, send and retry */

typedef struct dort_queue_s dort_queue_t;           /* a producer binding */
typedef struct dort_queue_message_s dort_queue_message_t;

typedef enum {
    DORT_QUEUE_CONTENT_JSON = 0, /* the default, as Cloudflare */
    DORT_QUEUE_CONTENT_TEXT = 1,
    DORT_QUEUE_CONTENT_BYTES = 2,
    DORT_QUEUE_CONTENT_V8 = 3,   /* accepted for compatibility; stored as bytes */
} dort_queue_content_t;

/* ---- setting up (before dort_rt_start) ---- */

/* Declares queue `name` ([a-z0-9_-], 1..63) so that it exists even without
 * producers or consumers (a dead-letter queue, say). Producers and consumers
 * declare their queues themselves. Returns 0, DORT_EINVAL or DORT_ESTATE. */
DORT_EXTERN int dort_rt_add_queue(dort_rt_t *rt, const char *name);

/* Binds producer `binding` (e.g. "SYNC_QUEUE") to queue `name`. Returns 0,
 * DORT_EINVAL, DORT_EEXIST (binding taken) or DORT_ESTATE. */
DORT_EXTERN int dort_rt_add_queue_producer(dort_rt_t *rt, const char *binding, const char *name);

typedef struct dort_queue_consumer_options_s {
    const char *queue;             /* the queue consumed */
    dort_worker_t *worker;         /* its queue handler receives the batches */
    uint32_t max_batch_size;       /* 1..100, default 10 */
    uint32_t max_batch_timeout_ms; /* 0..60000, default 5000 */
    uint32_t max_retries;          /* 0..100, default 3: deliveries = 1 + retries */
    uint32_t retry_delay_s;        /* default delay of a retry, 0..86400, default 0 */
    const char *dead_letter_queue; /* NULL: exhausted messages are dropped (counted) */
} dort_queue_consumer_options_t;

/* Fills the Cloudflare defaults (production ones, not Miniflare's). */
DORT_EXTERN void dort_queue_consumer_options_init(dort_queue_consumer_options_t *o);

/* Attaches a consumer (one per queue). Returns 0, DORT_EINVAL (a value out
 * of range, no queue handler, DLQ equal to the queue), DORT_EEXIST or
 * DORT_ESTATE. */
DORT_EXTERN int dort_rt_add_queue_consumer(dort_rt_t *rt, const dort_queue_consumer_options_t *o);

/* ---- producing ---- */

/* The producer bound as `binding`, or NULL. */
DORT_EXTERN dort_queue_t *dort_rt_queue(dort_rt_t *rt, const char *binding);
DORT_EXTERN const char *dort_queue_name(const dort_queue_t *q);

typedef struct dort_queue_send_s {
    const void *body;
    size_t len;
    dort_queue_content_t content_type;
    uint32_t delay_s; /* 0..86400: not delivered before then */
} dort_queue_send_t;

/* Called once the messages are durably committed (status 0) or failed to
 * commit (DORT_ECOMMIT, DORT_ESTORAGEFULL; nothing was enqueued). */
typedef void (*dort_queue_send_cb)(void *data, int status);

/* Sends `n` messages (1..100, total body bytes ≤ 256 KiB), all or none.
 * Inside a turn of actor `self` the messages become part of the turn's
 * writes: they commit with them or not at all, `cb` must be NULL, and the
 * turn's answer waits for the commit as usual. Outside any actor pass self
 * NULL; `cb` (may be NULL) reports the commit. Bodies are copied. Returns 0,
 * DORT_ETOOLARGE (a body over 128 KiB or a batch over 256 KiB),
 * DORT_ELIMIT (more than 100 messages, or 0), DORT_EINVAL (delay over
 * 86400 s, bad arguments), DORT_ENOTINTURN or DORT_ESTOPPED. */
DORT_EXTERN int dort_queue_send(dort_queue_t *q, dort_actor_t *self,
                                const dort_queue_send_t *msgs, size_t n, dort_queue_send_cb cb,
                                void *data);

/* ---- consuming: batches and messages ---- */

DORT_EXTERN const char *dort_queue_batch_queue(const dort_queue_batch_t *b);
DORT_EXTERN size_t dort_queue_batch_size(const dort_queue_batch_t *b);
DORT_EXTERN dort_queue_message_t *dort_queue_batch_message(dort_queue_batch_t *b, size_t i);
DORT_EXTERN dort_rt_t *dort_queue_batch_rt(const dort_queue_batch_t *b);

/* Marks every message the handler has not decided yet. The first decision
 * on a message wins, and a per-message call beats a batch-level one made
 * before or after it. */
DORT_EXTERN void dort_queue_batch_ack_all(dort_queue_batch_t *b);
DORT_EXTERN void dort_queue_batch_retry_all(dort_queue_batch_t *b, int32_t delay_s /* -1: consumer default */);

/* Ends a batch whose handler returned DORT_EPENDING: status 0 is success
 * (undecided messages are acked), anything else failure (they are retried). */
DORT_EXTERN void dort_queue_batch_finish(dort_queue_batch_t *b, int status);

/* The message's id (32 lowercase hex characters), borrowed. */
DORT_EXTERN const char *dort_queue_message_id(const dort_queue_message_t *m);
DORT_EXTERN int64_t dort_queue_message_timestamp(const dort_queue_message_t *m); /* Unix ms */
DORT_EXTERN uint32_t dort_queue_message_attempts(const dort_queue_message_t *m); /* from 1 */
DORT_EXTERN dort_slice_t dort_queue_message_body(const dort_queue_message_t *m);
DORT_EXTERN dort_queue_content_t dort_queue_message_content_type(const dort_queue_message_t *m);

/* Acks (removes) the message. Called inside a turn of actor `self`, the
 * removal commits atomically with that turn's writes (so "apply, then ack"
 * cannot half-happen); outside any actor pass NULL. The message must belong
 * to a batch that is still open. Returns 0, DORT_EINVAL (decided already),
 * DORT_ENOTINTURN. */
DORT_EXTERN int dort_queue_message_ack(dort_queue_message_t *m, dort_actor_t *self);

/* Asks for redelivery after `delay_s` (-1: the consumer's retry_delay). A
 * message out of retries goes to the dead-letter queue, or is dropped. */
DORT_EXTERN int dort_queue_message_retry(dort_queue_message_t *m, int32_t delay_s);

/* ---- introspection ---- */

typedef struct dort_queue_stats_s {
    uint64_t ready;          /* deliverable now */
    uint64_t delayed;        /* waiting for their delay or retry delay */
    uint64_t in_flight;      /* leased to the consumer, not yet decided */
    int64_t oldest_age_ms;   /* age of the oldest message, -1 when empty */
    uint64_t sent, acked, retried, dead_lettered, dropped; /* since the queue was created */
} dort_queue_stats_t;

/* Figures for queue `name`. Returns 0 or DORT_ENOENT. */
DORT_EXTERN int dort_rt_queue_stats(dort_rt_t *rt, const char *name, dort_queue_stats_t *out);

/* Names of every queue the runtime knows, in declaration order: calls
 * cb(data, name) for each. */
DORT_EXTERN void dort_rt_queues(dort_rt_t *rt, void (*cb)(void *data, const char *name),
                                void *data);

#ifdef __cplusplus
}
#endif
#endif
