/* queue_send.c - producing: limits, message records, and where they go:
 * into the running turn's writes (transactional outbox) or into a group
 * commit of their own. */
#include <string.h>

#include "alloc_internal.h"
#include "keycodec_internal.h"
#include "queue_internal.h"

static int validate(const dort_queue_send_t *msgs, size_t n)
{
    if (n == 0 || n > DORT_QUEUE_MAX_BATCH)
        return DORT_ELIMIT;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (msgs[i].body == NULL && msgs[i].len != 0)
            return DORT_EINVAL;
        if (msgs[i].delay_s > DORT_QUEUE_MAX_DELAY_S || msgs[i].content_type > DORT_QUEUE_CONTENT_V8)
            return DORT_EINVAL;
        if (msgs[i].len > DORT_QUEUE_MAX_MESSAGE)
            return DORT_ETOOLARGE;
        total += msgs[i].len;
    }
    return total > DORT_QUEUE_MAX_BATCH_BYTES ? DORT_ETOOLARGE : 0;
}

static int add_records(dort_rt_t *rt, dort__queue_t *q, dort__wset_t *ws,
                       const dort_queue_send_t *msgs, size_t n)
{
    dort__queues_t *qs = rt->queues;
    int64_t now = dort__wall_ms();
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = q->next_seq++;
        unsigned char id[16];
        memcpy(id, qs->id_prefix, 8);
        dort__be64_put(id + 8, seq ^ ((uint64_t)q->id << 48));
        int64_t visible = msgs[i].delay_s ? now + (int64_t)msgs[i].delay_s * 1000 : 0;
        int rc = dort__qrecord_put(rt, ws, q, seq, visible, id, msgs[i].body, msgs[i].len,
                                   msgs[i].content_type, now, 0, 0);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- inside a turn: the counter moves only if the turn's writes commit ---- */

typedef struct sent_out_s {
    dort__out_custom_t out;
    dort__queue_t *q;
    size_t n;
} sent_out_t;

static void sent_release(void *data)
{
    sent_out_t *o = data;
    o->q->sent += o->n;
    o->q->meta_dirty = 1;
    dort__free(o);
}

static void sent_fail(void *data, int status)
{
    (void)status;
    dort__free(data);
}

static int send_in_turn(dort_rt_t *rt, dort__queue_t *q, const dort_queue_send_t *msgs, size_t n)
{
    sent_out_t *o = dort__malloc(sizeof *o);
    if (o == NULL)
        return DORT_ENOMEM;
    /* The turn's top layer: a rolled-back transaction drops its sends too.
     * Staged in a transaction of their own so a failure adds nothing. */
    dort__wset_t staging;
    dort__wset_init(&staging);
    int rc = add_records(rt, q, &staging, msgs, n);
    if (rc == 0)
        rc = dort__wset_merge(&rt->turn.layers[rt->turn.depth], &staging);
    dort__wset_release(&staging);
    if (rc != 0) {
        dort__free(o);
        return rc;
    }
    o->out.out.kind = DORT__OUT_CUSTOM;
    o->out.release = sent_release;
    o->out.fail = sent_fail;
    o->out.data = o;
    o->q = q;
    o->n = n;
    dort__turn_add_txn_output(rt, &o->out.out);
    return 0;
}

/* ---- outside any actor: a commit of its own, reported to the caller ---- */

typedef struct send_ctx_s {
    dort__queue_t *q;
    size_t n;
    dort_queue_send_cb cb;
    void *data;
} send_ctx_t;

static void send_done(void *data, int status)
{
    send_ctx_t *c = data;
    c->q->sent_pending -= c->n;
    if (status == 0)
        c->q->sent += c->n;
    if (c->cb != NULL)
        c->cb(c->data, status);
    dort__free(c);
}

static int send_alone(dort_rt_t *rt, dort__queue_t *q, const dort_queue_send_t *msgs, size_t n,
                      dort_queue_send_cb cb, void *data)
{
    send_ctx_t *c = dort__malloc(sizeof *c);
    dort__wset_t *ws = dort__wset_new();
    int rc = c && ws ? add_records(rt, q, ws, msgs, n) : DORT_ENOMEM;
    if (rc == 0) {
        /* The queue's counters ride along, so `sent` survives a restart
         * even when no consumer ever resolves a batch. */
        q->sent_pending += n;
        rc = dort__queue_put_meta(rt, q, ws);
        if (rc != 0)
            q->sent_pending -= n;
    }
    if (rc == 0) {
        c->q = q;
        c->n = n;
        c->cb = cb;
        c->data = data;
        rc = dort__commit_add_raw(rt, ws, send_done, c);
        if (rc != 0)
            q->sent_pending -= n;
    }
    if (rc != 0) {
        dort__wset_free(ws);
        dort__free(c);
    }
    return rc;
}

int dort_queue_send(dort_queue_t *p, dort_actor_t *self, const dort_queue_send_t *msgs, size_t n,
                    dort_queue_send_cb cb, void *data)
{
    if (p == NULL || (msgs == NULL && n != 0))
        return DORT_EINVAL;
    dort_rt_t *rt = p->rt;
    int rc = validate(msgs, n);
    if (rc != 0)
        return rc;
    if (rt->state != DORT__RT_RUNNING && (rt->state != DORT__RT_STOPPING || self == NULL))
        return DORT_ESTOPPED;
    if (self != NULL) {
        if (!dort__in_turn_of(rt, self))
            return DORT_ENOTINTURN;
        if (cb != NULL)
            return DORT_EINVAL; /* the turn's own answer reports the commit */
        return send_in_turn(rt, p->q, msgs, n);
    }
    if (rt->turn.actor != NULL)
        return DORT_EINVAL; /* inside a turn the caller must say who it is */
    return send_alone(rt, p->q, msgs, n, cb, data);
}
