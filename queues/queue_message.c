/* queue_message.c - what a consumer sees and decides: batch and message
 * accessors, ack and retry, and the in-turn ack that commits with an
 * actor's writes. */
#include <string.h>

#include "alloc_internal.h"
#include "queue_internal.h"

const char *dort_queue_batch_queue(const dort_queue_batch_t *b)
{
    return b->q->name;
}

size_t dort_queue_batch_size(const dort_queue_batch_t *b)
{
    return b->n;
}

dort_queue_message_t *dort_queue_batch_message(dort_queue_batch_t *b, size_t i)
{
    return i < b->n ? &b->msgs[i] : NULL;
}

dort_rt_t *dort_queue_batch_rt(const dort_queue_batch_t *b)
{
    return b->rt;
}

void dort_queue_batch_ack_all(dort_queue_batch_t *b)
{
    if (b != NULL && !b->finished && b->batch_decision == DORT__QD_NONE)
        b->batch_decision = DORT__QD_ACK;
}

void dort_queue_batch_retry_all(dort_queue_batch_t *b, int32_t delay_s)
{
    if (b == NULL || b->finished || b->batch_decision != DORT__QD_NONE)
        return;
    b->batch_decision = DORT__QD_RETRY;
    b->batch_delay_s = delay_s > DORT_QUEUE_MAX_DELAY_S ? DORT_QUEUE_MAX_DELAY_S : delay_s;
}

const char *dort_queue_message_id(const dort_queue_message_t *m)
{
    return m->id;
}

int64_t dort_queue_message_timestamp(const dort_queue_message_t *m)
{
    return m->timestamp_ms;
}

uint32_t dort_queue_message_attempts(const dort_queue_message_t *m)
{
    return m->attempts;
}

dort_slice_t dort_queue_message_body(const dort_queue_message_t *m)
{
    dort_slice_t s = {m->body, m->body_len};
    return s;
}

dort_queue_content_t dort_queue_message_content_type(const dort_queue_message_t *m)
{
    return m->content_type;
}

/* ---- an ack inside an actor's turn ---- */

static void in_turn_committed(void *data)
{
    dort_queue_message_t *m = data;
    dort_queue_batch_t *b = m->batch;
    b->q->acked++;
    b->q->meta_dirty = 1;
    dort__seqset_del(&b->q->leased, m->seq);
    dort__qbatch_unref(b);
}

static void in_turn_failed(void *data, int status)
{
    dort_queue_message_t *m = data;
    dort_queue_batch_t *b = m->batch;
    (void)status;
    if (!b->finished) {
        /* Undecided again: it follows the batch's outcome. */
        m->decision = DORT__QD_NONE;
    } else {
        /* The batch was resolved without it: release the lease, so it is
         * delivered again. */
        dort__seqset_del(&b->q->leased, m->seq);
        b->q->scan_from = 0;
    }
    dort__qbatch_unref(b);
}

static int ack_in_turn(dort_queue_message_t *m, dort_actor_t *self)
{
    dort_rt_t *rt = m->batch->rt;
    if (!dort__in_turn_of(rt, self))
        return DORT_ENOTINTURN;
    /* After finish the batch's resolution already decided this message. */
    if (m->batch->finished)
        return DORT_EINVAL;
    unsigned char k[DORT__QKEY_READY];
    dort__qkey_ready(k, m->batch->q->id, m->seq);
    int rc = dort__wset_add_raw(&rt->turn.layers[rt->turn.depth], rt->queues->db_ready, 1, k,
                                sizeof k, NULL, 0);
    if (rc != 0)
        return rc;
    m->decision = DORT__QD_ACK_IN_TURN;
    m->batch->refs++;
    /* The output gate tells us whether the turn's writes, and with them
     * this removal, committed. */
    m->ack_out.out.kind = DORT__OUT_CUSTOM;
    m->ack_out.release = in_turn_committed;
    m->ack_out.fail = in_turn_failed;
    m->ack_out.data = m;
    dort__turn_add_txn_output(rt, &m->ack_out.out);
    return 0;
}

int dort_queue_message_ack(dort_queue_message_t *m, dort_actor_t *self)
{
    if (m == NULL || m->decision != DORT__QD_NONE)
        return DORT_EINVAL;
    if (self != NULL)
        return ack_in_turn(m, self);
    if (m->batch->finished)
        return DORT_EINVAL;
    m->decision = DORT__QD_ACK;
    return 0;
}

int dort_queue_message_retry(dort_queue_message_t *m, int32_t delay_s)
{
    if (m == NULL || m->decision != DORT__QD_NONE || m->batch->finished ||
        delay_s > DORT_QUEUE_MAX_DELAY_S)
        return DORT_EINVAL;
    m->decision = DORT__QD_RETRY;
    m->retry_delay_s = delay_s;
    return 0;
}
