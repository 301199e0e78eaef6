/* queue_dispatch.c - when and what to deliver: due delayed messages move to
 * q_ready; ready messages that are not leased are handed to the consumer in
 * batches of max_batch_size, or fewer once max_batch_timeout has passed
 * since a partial batch began to wait. One batch is with the consumer at a
 * time; the next one is delivered as soon as the handler finishes, while the
 * previous batch's acks are still being committed (leases keep those
 * messages out of the next batch). */
#include <string.h>

#include "alloc_internal.h"
#include "keycodec_internal.h"
#include "queue_internal.h"

#define PROMOTE_MAX 1000

typedef struct promote_s {
    dort_rt_t *rt;
    dort__queue_t *q;
} promote_t;

static void promoted(void *data, int status)
{
    promote_t *p = data;
    p->q->promoting = 0;
    if (status == 0)
        p->q->scan_from = 0; /* promoted messages keep their (older) sequence numbers */
    dort_rt_t *rt = p->rt;
    dort__free(p);
    dort__queues_dispatch_all(rt);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Moves due delayed messages to q_ready in one commit; notes when the next
 * one is due. */
static void promote(dort_rt_t *rt, dort__queue_t *q, MDB_txn *txn, int64_t now)
{
    dort__queues_t *qs = rt->queues;
    unsigned char k0[4] = {(unsigned char)(q->id >> 24), (unsigned char)(q->id >> 16),
                           (unsigned char)(q->id >> 8), (unsigned char)q->id};
    MDB_val k = {4, k0}, v;
    MDB_cursor *c;
    if (q->promoting || mdb_cursor_open(txn, rt->store.extra[qs->db_delay], &c) != 0)
        return;
    dort__wset_t *ws = NULL;
    int n = 0, rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    for (; rc == 0 && k.mv_size == DORT__QKEY_DELAY && be32(k.mv_data) == q->id && n < PROMOTE_MAX;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const unsigned char *kp = k.mv_data;
        int64_t visible = (int64_t)dort__be64_get(kp + 4);
        if (visible > now) {
            if (q->wake_ms < 0 || visible < q->wake_ms)
                q->wake_ms = visible;
            break;
        }
        if (ws == NULL && (ws = dort__wset_new()) == NULL)
            break;
        unsigned char rk[DORT__QKEY_READY];
        dort__qkey_ready(rk, q->id, dort__be64_get(kp + 12));
        if (dort__wset_add_raw(ws, qs->db_delay, 1, kp, DORT__QKEY_DELAY, NULL, 0) != 0 ||
            dort__wset_add_raw(ws, qs->db_ready, 0, rk, sizeof rk, v.mv_data, v.mv_size) != 0)
            break;
        n++;
    }
    mdb_cursor_close(c);
    if (ws == NULL)
        return;
    promote_t *p = dort__malloc(sizeof *p);
    if (p == NULL || dort__commit_add_raw(rt, ws, promoted, p) != 0) {
        dort__free(p);
        dort__wset_free(ws);
        return;
    }
    p->rt = rt;
    p->q = q;
    q->promoting = 1;
    dort__commit_kick(rt);
}

/* Counts deliverable messages (up to the batch size) from scan_from on;
 * with `b` set, also decodes them into it. */
static size_t collect(dort_rt_t *rt, dort__queue_t *q, MDB_txn *txn, dort__qbatch_t *b)
{
    dort__queues_t *qs = rt->queues;
    unsigned char k0[DORT__QKEY_READY];
    dort__qkey_ready(k0, q->id, q->scan_from);
    MDB_val k = {sizeof k0, k0}, v;
    MDB_cursor *c;
    if (mdb_cursor_open(txn, rt->store.extra[qs->db_ready], &c) != 0)
        return 0;
    size_t n = 0, max = q->copts.max_batch_size;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    for (; rc == 0 && n < max && k.mv_size == DORT__QKEY_READY && be32(k.mv_data) == q->id;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t seq = dort__be64_get((unsigned char *)k.mv_data + 4);
        if (dort__seqset_has(&q->leased, seq))
            continue;
        if (b != NULL) {
            dort_queue_message_t *m = &b->msgs[n];
            if (dort__qrecord_decode(v.mv_data, v.mv_size, m) != 0)
                continue; /* a corrupt record cannot be delivered; it stays for inspection */
            m->seq = seq;
            m->batch = b;
        }
        n++;
    }
    mdb_cursor_close(c);
    return n;
}

/* Whether a partial batch has waited long enough. */
static int ready_to_deliver(dort__queue_t *q, size_t n, int64_t now)
{
    if (n >= q->copts.max_batch_size || q->copts.max_batch_timeout_ms == 0)
        return 1;
    if (q->first_waiting_ms < 0)
        q->first_waiting_ms = now;
    int64_t due = q->first_waiting_ms + q->copts.max_batch_timeout_ms;
    if (now >= due)
        return 1;
    if (q->wake_ms < 0 || due < q->wake_ms)
        q->wake_ms = due;
    return 0;
}

/* Delivers one batch if one is due; returns 1 when it did. */
static int deliver_one(dort_rt_t *rt, dort__queue_t *q, MDB_txn *txn, int64_t now)
{
    size_t n = collect(rt, q, txn, NULL);
    if (n == 0) {
        q->first_waiting_ms = -1;
        return 0;
    }
    if (!ready_to_deliver(q, n, now))
        return 0;
    dort__qbatch_t *b = dort__qbatch_new(rt, q, n);
    if (b == NULL)
        return 0;
    b->n = collect(rt, q, txn, b);
    if (b->n == 0) {
        dort__qbatch_abandon(b);
        return 0;
    }
    for (size_t i = 0; i < b->n; i++)
        dort__seqset_add(&q->leased, b->msgs[i].seq);
    q->scan_from = b->msgs[b->n - 1].seq + 1;
    q->first_waiting_ms = -1;
    dort__qbatch_deliver(b);
    return 1;
}

void dort__queue_dispatch(dort_rt_t *rt, dort__queue_t *q)
{
    MDB_txn *txn;
    if (!q->has_consumer || rt->queues->stopping || rt->state != DORT__RT_RUNNING ||
        dort__store_rtxn(&rt->store, &txn) != 0)
        return;
    int64_t now = dort__wall_ms();
    q->wake_ms = -1;
    promote(rt, q, txn, now);
    /* A handler that finishes at once frees the consumer for the next batch
     * right away; bounded so one busy queue cannot hold the loop. */
    for (int round = 0; round < 16 && q->open == NULL; round++)
        if (!deliver_one(rt, q, txn, now))
            break;
}

void dort__queues_arm_timer(dort_rt_t *rt)
{
    dort__queues_t *qs = rt->queues;
    if (qs == NULL || !qs->timer_open)
        return;
    int64_t wake = -1;
    for (uint32_t i = 0; i < qs->nqs; i++)
        if (qs->qs[i]->wake_ms >= 0 && (wake < 0 || qs->qs[i]->wake_ms < wake))
            wake = qs->qs[i]->wake_ms;
    if (wake < 0) {
        uv_timer_stop(&qs->timer);
        return;
    }
    int64_t now = dort__wall_ms();
    uv_timer_start(&qs->timer, dort__queues_timer_cb, (uint64_t)(wake > now ? wake - now : 0), 0);
}

void dort__queues_dispatch_all(dort_rt_t *rt)
{
    dort__queues_t *qs = rt->queues;
    if (qs == NULL || qs->dispatching)
        return;
    qs->dispatching = 1;
    for (uint32_t i = 0; i < qs->nqs; i++)
        dort__queue_dispatch(rt, qs->qs[i]);
    qs->dispatching = 0;
    dort__queues_arm_timer(rt);
}
