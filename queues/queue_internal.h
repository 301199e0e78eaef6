/* queue_internal.h - the durable queue engine.
 *
 * Layout in LMDB (extra databases of the runtime's environment):
 *   q_ready  <qid:4><seq:8>               -> QueueRecord  deliverable, in order
 *   q_delay  <qid:4><visible:8><seq:8>    -> QueueRecord  not before `visible`
 *   q_meta   "q:<name>"                   -> QueueMeta    id and counters
 * A message lives in exactly one of q_ready and q_delay. Sends put, acks
 * delete, retries move; every change is a raw record in a write set, so it
 * is group-committed with everything else (and, inside a turn, with that
 * turn's writes).
 *
 * In memory only: which messages are leased to the consumer's open batch,
 * and where the next scan starts. A crash forgets leases, so the messages
 * are delivered again: at-least-once.
 *
 * Follow a message: queue_send.c -> (commit) -> queue_dispatch.c scans
 * q_ready and delivers a batch -> queue_batch.c collects decisions and
 * commits the resolution -> queue_dispatch.c goes on.
 */
#ifndef DORT_QUEUE_INTERNAL_H
#define DORT_QUEUE_INTERNAL_H

#include <dort/queue.h>

#include "rt_internal.h"

#define DORT__QKEY_READY 12
#define DORT__QKEY_DELAY 20

/* A set of sequence numbers (the leased messages of a queue). */
typedef struct dort__seqset_s {
    uint64_t *slots; /* 0 = empty; stored as seq + 1 */
    size_t mask, count;
} dort__seqset_t;

int dort__seqset_add(dort__seqset_t *s, uint64_t seq);
int dort__seqset_has(const dort__seqset_t *s, uint64_t seq);
void dort__seqset_del(dort__seqset_t *s, uint64_t seq);
void dort__seqset_release(dort__seqset_t *s);

typedef dort_queue_batch_t dort__qbatch_t;

/* One queue's state. */
typedef struct dort__queue_s {
    char *name;
    uint32_t id;
    uint64_t next_seq;
    uint64_t sent, acked, retried, dead_lettered, dropped;
    uint64_t sent_pending;     /* sent by commits still in flight */
    /* consumer */
    int has_consumer;
    dort_queue_consumer_options_t copts;
    char *dlq_name;
    struct dort__queue_s *dlq;
    dort__seqset_t leased;
    dort__qbatch_t *open;      /* the batch with the consumer, at most one */
    uint64_t scan_from;        /* no unleased ready message has a lower seq */
    int64_t first_waiting_ms;  /* when a partial batch started waiting; -1 none */
    int64_t wake_ms;           /* when dispatch wants to run again; -1 none */
    int meta_dirty;            /* counters changed since q_meta was last written */
    int promoting;             /* a move q_delay -> q_ready is being committed */
} dort__queue_t;

struct dort_queue_s {
    char *binding;
    dort__queue_t *q;
    dort_rt_t *rt;
};

typedef struct dort__queues_s {
    dort__queue_t **qs;
    uint32_t nqs;
    dort_queue_t **producers;
    uint32_t nproducers;
    unsigned db_ready, db_delay, db_meta; /* indexes from dort__store_want_db */
    uv_timer_t timer;          /* the earliest wake_ms of all queues */
    int timer_open;
    int dispatching;
    int stopping;
    /* Batches the stop gave up on: their handlers may still finish them
     * (a no-op); freed by dort__queues_free. */
    dort__qbatch_t *abandoned;
    unsigned char id_prefix[8]; /* random per start: message ids stay unique */
} dort__queues_t;

/* A decision on one message. */
enum { DORT__QD_NONE = 0, DORT__QD_ACK, DORT__QD_RETRY, DORT__QD_ACK_IN_TURN };

struct dort_queue_message_s {
    dort__qbatch_t *batch;
    uint64_t seq;
    unsigned char raw_id[16];
    char id[33];
    int64_t timestamp_ms;
    uint32_t attempts;         /* as delivered: previous + 1 */
    uint32_t base_attempts;    /* attempts it brought into this queue (DLQ) */
    dort_queue_content_t content_type;
    char *body;
    size_t body_len;
    uint8_t decision;
    int32_t retry_delay_s;
    dort__out_custom_t ack_out; /* the gated output of an in-turn ack */
};

struct dort_queue_batch_s {
    dort__queue_t *q;
    dort_rt_t *rt;
    dort_queue_message_t *msgs;
    size_t n;
    uint8_t batch_decision;
    int32_t batch_delay_s;
    int finished;
    int refs;                  /* the handler, plus in-turn acks not yet committed */
    struct dort_queue_batch_s *next_abandoned; /* see dort__queues_t.abandoned */
};

/* queue_registry.c */
dort__queues_t *dort__queues(dort_rt_t *rt);
dort__queue_t *dort__queue_find(dort_rt_t *rt, const char *name);
dort__queue_t *dort__queue_declare(dort_rt_t *rt, const char *name, int *err);
/* Called by the runtime: before the store opens / after it opened (on the
 * loop thread, before the writer starts) / once running / at stop. */
int dort__queues_want_dbs(dort_rt_t *rt);
int dort__queues_open(dort_rt_t *rt);
void dort__queues_start(dort_rt_t *rt);
int dort__queues_close(dort_rt_t *rt);
int dort__queues_idle(dort_rt_t *rt);
void dort__rt_handle_closed(dort_rt_t *rt);
void dort__queues_free(dort_rt_t *rt);
void dort__queues_timer_cb(uv_timer_t *t);
/* A commit that carried queue records landed. */
void dort__queues_on_commit(dort_rt_t *rt);
/* The counters of `q` as a raw record, added to `ws`. */
int dort__queue_put_meta(dort_rt_t *rt, dort__queue_t *q, dort__wset_t *ws);

/* queue_records.c */
void dort__qkey_ready(unsigned char k[DORT__QKEY_READY], uint32_t qid, uint64_t seq);
void dort__qkey_delay(unsigned char k[DORT__QKEY_DELAY], uint32_t qid, int64_t visible,
                      uint64_t seq);
/* Encodes a message record; the caller frees *out with dort__free. */
int dort__qrecord_encode(const unsigned char id[16], const void *body, size_t len,
                         dort_queue_content_t ct, int64_t ts, uint32_t attempts, uint32_t base,
                         void **out, size_t *out_len);
/* Decodes a record into a message (body copied). */
int dort__qrecord_decode(const void *data, size_t len, dort_queue_message_t *m);
/* Puts a message into q_ready or q_delay of `q` (raw records into `ws`). */
int dort__qrecord_put(dort_rt_t *rt, dort__wset_t *ws, dort__queue_t *q, uint64_t seq,
                      int64_t visible_ms, const unsigned char id[16], const void *body, size_t len,
                      dort_queue_content_t ct, int64_t ts, uint32_t attempts, uint32_t base);

/* queue_dispatch.c */
void dort__queue_dispatch(dort_rt_t *rt, dort__queue_t *q);
void dort__queues_dispatch_all(dort_rt_t *rt);
void dort__queues_arm_timer(dort_rt_t *rt);

/* queue_batch.c */
dort__qbatch_t *dort__qbatch_new(dort_rt_t *rt, dort__queue_t *q, size_t n);
void dort__qbatch_deliver(dort__qbatch_t *b);
void dort__qbatch_abandon(dort__qbatch_t *b);
void dort__qbatch_unref(dort__qbatch_t *b);

/* Adds a write set of raw records (no actor) to the next group commit;
 * `cb` runs when it committed or failed. Takes `ws`. */
int dort__commit_add_raw(dort_rt_t *rt, dort__wset_t *ws, dort__commit_cb cb, void *data);

#endif
