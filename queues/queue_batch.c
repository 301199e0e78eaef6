/* queue_batch.c - a batch with the consumer: the handler's decisions on
 * each message and on the batch, and their resolution into one commit.
 *
 * Rules, as Cloudflare: the first decision on a message wins; a
 * per-message decision beats a batch-level one; a message left undecided
 * follows the handler's outcome (success acks, failure retries). A retry of
 * a message that has had 1 + max_retries deliveries dead-letters it instead
 * (or drops it when the consumer has no dead-letter queue). */
#include <string.h>

#include "alloc_internal.h"
#include "keycodec_internal.h"
#include "queue_internal.h"

dort__qbatch_t *dort__qbatch_new(dort_rt_t *rt, dort__queue_t *q, size_t n)
{
    dort__qbatch_t *b = dort__calloc(1, sizeof *b);
    if (b == NULL || (b->msgs = dort__calloc(n, sizeof *b->msgs)) == NULL) {
        dort__free(b);
        return NULL;
    }
    b->q = q;
    b->rt = rt;
    b->refs = 1;
    b->batch_delay_s = -1;
    return b;
}

void dort__qbatch_unref(dort__qbatch_t *b)
{
    if (--b->refs > 0)
        return;
    for (size_t i = 0; i < b->n; i++)
        dort__free(b->msgs[i].body);
    dort__free(b->msgs);
    dort__free(b);
}

void dort__qbatch_abandon(dort__qbatch_t *b)
{
    /* Stopping, or nothing to deliver: leases are dropped, the messages stay
     * in LMDB and are delivered again later. */
    for (size_t i = 0; i < b->n; i++)
        dort__seqset_del(&b->q->leased, b->msgs[i].seq);
    if (b->q->open == b)
        b->q->open = NULL;
    b->finished = 1;
    dort__qbatch_unref(b);
}

/* ---- resolution ---- */

typedef struct resolution_s {
    dort__qbatch_t *b;
    uint64_t *seqs;   /* leases to release once committed */
    size_t nseqs;
    int requeued;     /* some message went back to q_ready at a low seq */
    /* What the counters gain if (and only if) the resolution commits. */
    uint64_t acked, retried, dead_lettered, dropped;
} resolution_t;

static void resolved(void *data, int status)
{
    resolution_t *r = data;
    dort__queue_t *q = r->b->q;
    for (size_t i = 0; i < r->nseqs; i++)
        dort__seqset_del(&q->leased, r->seqs[i]);
    /* A failed commit left the messages where they were: deliver again. */
    if (status != 0 || r->requeued)
        q->scan_from = 0;
    if (status == 0) {
        q->acked += r->acked;
        q->retried += r->retried;
        q->dead_lettered += r->dead_lettered;
        q->dropped += r->dropped;
        q->meta_dirty = 1;
        if (q->dlq != NULL) {
            q->dlq->sent += r->dead_lettered;
            q->dlq->meta_dirty = 1;
        }
    }
    dort_rt_t *rt = r->b->rt;
    dort__qbatch_unref(r->b);
    dort__free(r->seqs);
    dort__free(r);
    dort__queues_dispatch_all(rt);
}

static int dead_letter(dort_rt_t *rt, dort__wset_t *ws, dort__queue_t *q,
                       const dort_queue_message_t *m, resolution_t *r)
{
    if (q->dlq == NULL) {
        r->dropped++;
        return 0;
    }
    r->dead_lettered++;
    /* Attempts preserved, as Cloudflare does. */
    return dort__qrecord_put(rt, ws, q->dlq, q->dlq->next_seq++, 0, m->raw_id, m->body, m->body_len,
                             m->content_type, m->timestamp_ms, m->attempts, m->attempts);
}

static int resolve_retry(dort_rt_t *rt, dort__wset_t *ws, dort__queue_t *q,
                         dort_queue_message_t *m, int32_t delay_s, resolution_t *r)
{
    if (m->attempts - m->base_attempts > q->copts.max_retries)
        return dead_letter(rt, ws, q, m, r);
    r->retried++;
    if (delay_s < 0)
        delay_s = (int32_t)q->copts.retry_delay_s;
    int64_t visible = delay_s > 0 ? dort__wall_ms() + (int64_t)delay_s * 1000 : 0;
    if (visible == 0)
        r->requeued = 1;
    /* Back where it was (same seq) with the delivery counted, or delayed. */
    return dort__qrecord_put(rt, ws, q, m->seq, visible, m->raw_id, m->body, m->body_len,
                             m->content_type, m->timestamp_ms, m->attempts, m->base_attempts);
}

static int resolve_one(dort_rt_t *rt, dort__wset_t *ws, dort__qbatch_t *b, dort_queue_message_t *m,
                       int status, resolution_t *r)
{
    dort__queue_t *q = b->q;
    int d = m->decision;
    int32_t delay = m->retry_delay_s;
    if (d == DORT__QD_NONE) {
        d = b->batch_decision ? b->batch_decision : (status == 0 ? DORT__QD_ACK : DORT__QD_RETRY);
        delay = b->batch_decision ? b->batch_delay_s : -1;
    }
    unsigned char k[DORT__QKEY_READY];
    dort__qkey_ready(k, q->id, m->seq);
    /* Every outcome removes the q_ready entry first; a retry without delay
     * puts it back under the same key, so the later put wins. */
    int rc = dort__wset_add_raw(ws, rt->queues->db_ready, 1, k, sizeof k, NULL, 0);
    if (rc != 0)
        return rc;
    if (d == DORT__QD_ACK) {
        r->acked++;
        return 0;
    }
    return resolve_retry(rt, ws, q, m, delay, r);
}

static void resolve(dort__qbatch_t *b, int status)
{
    dort_rt_t *rt = b->rt;
    dort__queue_t *q = b->q;
    resolution_t *r = dort__calloc(1, sizeof *r);
    dort__wset_t *ws = dort__wset_new();
    int rc = r && ws && (r->seqs = dort__calloc(b->n ? b->n : 1, sizeof *r->seqs)) ? 0
                                                                                   : DORT_ENOMEM;
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        dort_queue_message_t *m = &b->msgs[i];
        if (m->decision == DORT__QD_ACK_IN_TURN)
            continue; /* settled by the actor's commit */
        rc = resolve_one(rt, ws, b, m, status, r);
        r->seqs[r->nseqs++] = m->seq;
    }
    if (rc == 0) {
        r->b = b;
        b->refs++;
        rc = dort__commit_add_raw(rt, ws, resolved, r);
    }
    if (rc != 0) {
        /* Out of memory: leave everything leased-then-released as it was. */
        if (r != NULL && r->b != NULL)
            b->refs--;
        for (size_t i = 0; i < b->n; i++)
            if (b->msgs[i].decision != DORT__QD_ACK_IN_TURN)
                dort__seqset_del(&q->leased, b->msgs[i].seq);
        q->scan_from = 0;
        dort__wset_free(ws);
        if (r != NULL)
            dort__free(r->seqs);
        dort__free(r);
        return;
    }
    dort__commit_kick(rt);
}

void dort_queue_batch_finish(dort_queue_batch_t *b, int status)
{
    if (b == NULL || b->finished)
        return;
    b->finished = 1;
    if (b->q->open == b)
        b->q->open = NULL;
    if (!b->rt->queues->stopping)
        resolve(b, status);
    dort__qbatch_unref(b);
}

void dort__qbatch_deliver(dort__qbatch_t *b)
{
    b->q->open = b;
    const dort_worker_class_t *wc = dort_worker_class(b->q->copts.worker);
    int rc = wc->queue(b);
    if (rc != DORT_EPENDING)
        dort_queue_batch_finish(b, rc);
}
