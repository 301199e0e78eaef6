/* queue_registry.c - declaring queues, producers and consumers, opening
 * them at start (ids, counters, next sequence numbers), counters, stats. */
#include <string.h>

#include <openssl/rand.h>

#include "alloc_internal.h"
#include "keycodec_internal.h"
#include "queue.pb-c.h"
#include "queue_internal.h"

dort__queues_t *dort__queues(dort_rt_t *rt)
{
    if (rt->queues == NULL)
        rt->queues = dort__calloc(1, sizeof(dort__queues_t));
    return rt->queues;
}

static int valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

dort__queue_t *dort__queue_find(dort_rt_t *rt, const char *name)
{
    dort__queues_t *qs = rt->queues;
    for (uint32_t i = 0; qs != NULL && i < qs->nqs; i++)
        if (strcmp(qs->qs[i]->name, name) == 0)
            return qs->qs[i];
    return NULL;
}

dort__queue_t *dort__queue_declare(dort_rt_t *rt, const char *name, int *err)
{
    *err = 0;
    if (!valid_name(name)) {
        *err = DORT_EINVAL;
        return NULL;
    }
    dort__queue_t *q = dort__queue_find(rt, name);
    if (q != NULL)
        return q;
    if (rt->state != DORT__RT_NEW) {
        *err = DORT_ESTATE;
        return NULL;
    }
    dort__queues_t *qs = dort__queues(rt);
    dort__queue_t **n = qs ? dort__realloc(qs->qs, (qs->nqs + 1) * sizeof *n) : NULL;
    q = n ? dort__calloc(1, sizeof *q) : NULL;
    if (n != NULL)
        qs->qs = n;
    if (q == NULL || (q->name = dort__strdup(name)) == NULL) {
        dort__free(q);
        *err = DORT_ENOMEM;
        return NULL;
    }
    q->first_waiting_ms = -1;
    q->wake_ms = -1;
    qs->qs[qs->nqs++] = q;
    return q;
}

int dort_rt_add_queue(dort_rt_t *rt, const char *name)
{
    int err;
    if (rt == NULL)
        return DORT_EINVAL;
    return dort__queue_declare(rt, name, &err) ? 0 : err;
}

int dort_rt_add_queue_producer(dort_rt_t *rt, const char *binding, const char *name)
{
    if (rt == NULL || binding == NULL || binding[0] == '\0')
        return DORT_EINVAL;
    if (rt->state != DORT__RT_NEW)
        return DORT_ESTATE;
    if (dort_rt_queue(rt, binding) != NULL)
        return DORT_EEXIST;
    int err;
    dort__queue_t *q = dort__queue_declare(rt, name, &err);
    if (q == NULL)
        return err;
    dort__queues_t *qs = rt->queues;
    dort_queue_t **n = dort__realloc(qs->producers, (qs->nproducers + 1) * sizeof *n);
    dort_queue_t *p = n ? dort__calloc(1, sizeof *p) : NULL;
    if (n != NULL)
        qs->producers = n;
    if (p == NULL || (p->binding = dort__strdup(binding)) == NULL) {
        dort__free(p);
        return DORT_ENOMEM;
    }
    p->q = q;
    p->rt = rt;
    qs->producers[qs->nproducers++] = p;
    return 0;
}

dort_queue_t *dort_rt_queue(dort_rt_t *rt, const char *binding)
{
    dort__queues_t *qs = rt ? rt->queues : NULL;
    for (uint32_t i = 0; qs != NULL && binding != NULL && i < qs->nproducers; i++)
        if (strcmp(qs->producers[i]->binding, binding) == 0)
            return qs->producers[i];
    return NULL;
}

const char *dort_queue_name(const dort_queue_t *q)
{
    return q->q->name;
}

void dort_queue_consumer_options_init(dort_queue_consumer_options_t *o)
{
    memset(o, 0, sizeof *o);
    o->max_batch_size = 10;
    o->max_batch_timeout_ms = 5000;
    o->max_retries = 3;
}

int dort_rt_add_queue_consumer(dort_rt_t *rt, const dort_queue_consumer_options_t *o)
{
    if (rt == NULL || o == NULL || o->worker == NULL || dort_worker_class(o->worker)->queue == NULL ||
        o->max_batch_size < 1 || o->max_batch_size > DORT_QUEUE_MAX_BATCH ||
        o->max_batch_timeout_ms > 60000 || o->max_retries > 100 ||
        o->retry_delay_s > DORT_QUEUE_MAX_DELAY_S || o->queue == NULL ||
        (o->dead_letter_queue != NULL && strcmp(o->dead_letter_queue, o->queue) == 0))
        return DORT_EINVAL;
    if (rt->state != DORT__RT_NEW)
        return DORT_ESTATE;
    int err;
    dort__queue_t *q = dort__queue_declare(rt, o->queue, &err);
    if (q == NULL)
        return err;
    if (q->has_consumer)
        return DORT_EEXIST;
    dort__queue_t *dlq = NULL;
    if (o->dead_letter_queue != NULL &&
        (dlq = dort__queue_declare(rt, o->dead_letter_queue, &err)) == NULL)
        return err;
    q->has_consumer = 1;
    q->copts = *o;
    q->copts.queue = q->name;
    q->dlq = dlq;
    q->copts.dead_letter_queue = dlq ? dlq->name : NULL;
    return 0;
}

int dort__queues_want_dbs(dort_rt_t *rt)
{
    dort__queues_t *qs = dort__queues(rt);
    if (qs == NULL)
        return DORT_ENOMEM;
    int r = dort__store_want_db(&rt->store, "q_ready");
    int d = dort__store_want_db(&rt->store, "q_delay");
    int m = dort__store_want_db(&rt->store, "q_meta");
    if (r < 0 || d < 0 || m < 0)
        return DORT_ELIMIT;
    qs->db_ready = (unsigned)r;
    qs->db_delay = (unsigned)d;
    qs->db_meta = (unsigned)m;
    return 0;
}

/* ---- opening: ids, counters and sequence numbers ---- */

static void meta_key(const dort__queue_t *q, char *buf, size_t cap, MDB_val *k)
{
    int n = snprintf(buf, cap, "q:%s", q->name);
    k->mv_data = buf;
    k->mv_size = (size_t)n;
}

static void meta_from(dort__queue_t *q, const Dort__QueueMeta *m)
{
    q->id = m->id;
    q->sent = m->sent;
    q->acked = m->acked;
    q->retried = m->retried;
    q->dead_lettered = m->dead_lettered;
    q->dropped = m->dropped;
}

static int pack_meta(const dort__queue_t *q, uint8_t *buf, size_t *len)
{
    Dort__QueueMeta m = DORT__QUEUE_META__INIT;
    m.id = q->id;
    /* Sends in flight are counted: their commit carries this record. */
    m.sent = q->sent + q->sent_pending;
    m.acked = q->acked;
    m.retried = q->retried;
    m.dead_lettered = q->dead_lettered;
    m.dropped = q->dropped;
    *len = dort__queue_meta__pack(&m, buf);
    return 0;
}

int dort__queue_put_meta(dort_rt_t *rt, dort__queue_t *q, dort__wset_t *ws)
{
    char kb[80];
    MDB_val k;
    uint8_t buf[96];
    size_t len;
    meta_key(q, kb, sizeof kb, &k);
    pack_meta(q, buf, &len);
    return dort__wset_add_raw(ws, rt->queues->db_meta, 0, k.mv_data, k.mv_size, buf, len);
}

/* The highest sequence number of queue `qid` in both indexes, plus one. */
static uint64_t next_seq(MDB_txn *txn, MDB_dbi ready, MDB_dbi delay, uint32_t qid)
{
    uint64_t next = 1;
    MDB_cursor *c;
    unsigned char k0[DORT__QKEY_READY];
    dort__qkey_ready(k0, qid + 1, 0);
    MDB_val k = {sizeof k0, k0}, v;
    if (mdb_cursor_open(txn, ready, &c) == 0) {
        int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        rc = rc == 0 ? mdb_cursor_get(c, &k, &v, MDB_PREV) : mdb_cursor_get(c, &k, &v, MDB_LAST);
        if (rc == 0 && k.mv_size == DORT__QKEY_READY && dort__be64_get(k.mv_data) >> 32 == qid)
            next = dort__be64_get((unsigned char *)k.mv_data + 4) + 1;
        mdb_cursor_close(c);
    }
    unsigned char d0[4];
    d0[0] = (unsigned char)(qid >> 24), d0[1] = (unsigned char)(qid >> 16);
    d0[2] = (unsigned char)(qid >> 8), d0[3] = (unsigned char)qid;
    k.mv_data = d0;
    k.mv_size = 4;
    if (mdb_cursor_open(txn, delay, &c) == 0) {
        int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        while (rc == 0 && k.mv_size == DORT__QKEY_DELAY && memcmp(k.mv_data, d0, 4) == 0) {
            uint64_t seq = dort__be64_get((unsigned char *)k.mv_data + 12);
            if (seq + 1 > next)
                next = seq + 1;
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(c);
    }
    return next;
}

static int open_queue(dort_rt_t *rt, MDB_txn *txn, dort__queue_t *q, uint32_t *max_id)
{
    dort__queues_t *qs = rt->queues;
    MDB_dbi meta = rt->store.extra[qs->db_meta];
    char kb[80];
    MDB_val k, v;
    meta_key(q, kb, sizeof kb, &k);
    int rc = mdb_get(txn, meta, &k, &v);
    if (rc == 0) {
        Dort__QueueMeta *m = dort__queue_meta__unpack(NULL, v.mv_size, v.mv_data);
        if (m == NULL)
            return DORT_ECORRUPT;
        meta_from(q, m);
        dort__queue_meta__free_unpacked(m, NULL);
    } else if (rc == MDB_NOTFOUND) {
        q->id = ++*max_id;
        uint8_t buf[96];
        size_t len;
        pack_meta(q, buf, &len);
        v.mv_data = buf;
        v.mv_size = len;
        if ((rc = mdb_put(txn, meta, &k, &v, 0)) != 0)
            return dort__lmdb_err(rc);
    } else {
        return dort__lmdb_err(rc);
    }
    q->next_seq = next_seq(txn, rt->store.extra[qs->db_ready], rt->store.extra[qs->db_delay],
                           q->id);
    return 0;
}

/* Runs on the loop thread before the writer thread exists, so it may use a
 * write transaction of its own. */
int dort__queues_open(dort_rt_t *rt)
{
    dort__queues_t *qs = rt->queues;
    if (qs == NULL || qs->nqs == 0)
        return 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(rt->store.env, NULL, 0, &txn);
    if (rc != 0)
        return dort__lmdb_err(rc);
    MDB_dbi meta = rt->store.extra[qs->db_meta];
    MDB_val k = {8, (void *)"next_qid"}, v;
    uint32_t max_id = 0;
    if (mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == 4)
        memcpy(&max_id, v.mv_data, 4);
    for (uint32_t i = 0; rc == 0 && i < qs->nqs; i++)
        rc = open_queue(rt, txn, qs->qs[i], &max_id);
    v.mv_data = &max_id;
    v.mv_size = 4;
    if (rc == 0)
        rc = dort__lmdb_err(mdb_put(txn, meta, &k, &v, 0));
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return dort__lmdb_err(mdb_txn_commit(txn));
}

void dort__queues_start(dort_rt_t *rt)
{
    dort__queues_t *qs = rt->queues;
    if (qs == NULL || qs->nqs == 0)
        return;
    uv_timer_init(rt->loop, &qs->timer);
    qs->timer.data = rt;
    qs->timer_open = 1;
    RAND_bytes(qs->id_prefix, sizeof qs->id_prefix);
    dort__queues_dispatch_all(rt);
}

void dort__queues_timer_cb(uv_timer_t *t)
{
    dort__queues_dispatch_all(t->data);
}

static void on_timer_closed(uv_handle_t *h)
{
    dort__rt_handle_closed(h->data);
}

int dort__queues_close(dort_rt_t *rt)
{
    dort__queues_t *qs = rt->queues;
    if (qs == NULL)
        return 0;
    qs->stopping = 1;
    for (uint32_t i = 0; i < qs->nqs; i++) {
        dort__qbatch_t *b = qs->qs[i]->open;
        if (b == NULL)
            continue;
        b->refs++; /* the handler's, kept until dort_rt_free */
        dort__qbatch_abandon(b);
        b->next_abandoned = qs->abandoned;
        qs->abandoned = b;
    }
    if (!qs->timer_open)
        return 0;
    qs->timer_open = 0;
    uv_close((uv_handle_t *)&qs->timer, on_timer_closed);
    return 1;
}

/* 1 when no batch is with a consumer (stop waits for that). */
int dort__queues_idle(dort_rt_t *rt)
{
    dort__queues_t *qs = rt->queues;
    for (uint32_t i = 0; qs != NULL && i < qs->nqs; i++)
        if (qs->qs[i]->open != NULL)
            return 0;
    return 1;
}

void dort__queues_free(dort_rt_t *rt)
{
    dort__queues_t *qs = rt->queues;
    if (qs == NULL)
        return;
    while (qs->abandoned != NULL) {
        dort__qbatch_t *b = qs->abandoned;
        qs->abandoned = b->next_abandoned;
        dort__qbatch_unref(b);
    }
    for (uint32_t i = 0; i < qs->nqs; i++) {
        dort__seqset_release(&qs->qs[i]->leased);
        dort__free(qs->qs[i]->name);
        dort__free(qs->qs[i]);
    }
    for (uint32_t i = 0; i < qs->nproducers; i++) {
        dort__free(qs->producers[i]->binding);
        dort__free(qs->producers[i]);
    }
    dort__free(qs->qs);
    dort__free(qs->producers);
    dort__free(qs);
    rt->queues = NULL;
}

static void meta_written(void *data, int status)
{
    if (status != 0)
        ((dort__queue_t *)data)->meta_dirty = 1; /* goes with the next commit */
}

/* Counters move only once what they count has committed; q_meta follows
 * in the next commit (durable one commit later; exact across a graceful
 * stop, which waits for it). */
static void flush_meta(dort_rt_t *rt)
{
    dort__queues_t *qs = rt->queues;
    for (uint32_t i = 0; i < qs->nqs; i++) {
        dort__queue_t *q = qs->qs[i];
        dort__wset_t *ws = q->meta_dirty ? dort__wset_new() : NULL;
        if (ws == NULL)
            continue;
        if (dort__queue_put_meta(rt, q, ws) != 0 ||
            dort__commit_add_raw(rt, ws, meta_written, q) != 0) {
            dort__wset_free(ws);
            continue;
        }
        q->meta_dirty = 0;
    }
}

void dort__queues_on_commit(dort_rt_t *rt)
{
    flush_meta(rt);
    dort__queues_dispatch_all(rt);
}

/* ---- introspection ---- */

/* Counts the records of queue `qid` in one index into *n. In q_ready a
 * leased one counts as in flight instead (`leased` given); in q_delay one
 * whose time has come counts as ready (`now` >= 0). */
static void count_range(MDB_txn *txn, MDB_dbi dbi, uint32_t qid, size_t key_len, uint64_t *n,
                        int64_t *oldest_ts, const dort__seqset_t *leased, uint64_t *in_flight,
                        int64_t now, uint64_t *due)
{
    size_t seen = 0;
    unsigned char k0[4] = {(unsigned char)(qid >> 24), (unsigned char)(qid >> 16),
                           (unsigned char)(qid >> 8), (unsigned char)qid};
    MDB_val k = {4, k0}, v;
    MDB_cursor *c;
    if (mdb_cursor_open(txn, dbi, &c) != 0)
        return;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    for (; rc == 0 && k.mv_size == key_len && memcmp(k.mv_data, k0, 4) == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const unsigned char *kp = k.mv_data;
        if (leased != NULL && dort__seqset_has(leased, dort__be64_get(kp + 4)))
            (*in_flight)++;
        else if (now >= 0 && (int64_t)dort__be64_get(kp + 4) <= now)
            (*due)++;
        else
            (*n)++;
        dort_queue_message_t m;
        memset(&m, 0, sizeof m);
        /* The age needs only the first few records of each index. */
        if (seen++ < 64 && dort__qrecord_decode(v.mv_data, v.mv_size, &m) == 0) {
            if (*oldest_ts < 0 || m.timestamp_ms < *oldest_ts)
                *oldest_ts = m.timestamp_ms;
            dort__free(m.body);
        }
    }
    mdb_cursor_close(c);
}

int dort_rt_queue_stats(dort_rt_t *rt, const char *name, dort_queue_stats_t *out)
{
    dort__queue_t *q = rt && name ? dort__queue_find(rt, name) : NULL;
    if (q == NULL || out == NULL)
        return DORT_ENOENT;
    memset(out, 0, sizeof *out);
    out->oldest_age_ms = -1;
    MDB_txn *txn;
    if (rt->state == DORT__RT_RUNNING && dort__store_rtxn(&rt->store, &txn) == 0) {
        dort__queues_t *qs = rt->queues;
        uint64_t unused = 0;
        int64_t oldest = -1;
        count_range(txn, rt->store.extra[qs->db_ready], q->id, DORT__QKEY_READY, &out->ready,
                    &oldest, &q->leased, &out->in_flight, -1, &unused);
        count_range(txn, rt->store.extra[qs->db_delay], q->id, DORT__QKEY_DELAY, &out->delayed,
                    &oldest, NULL, NULL, dort__wall_ms(), &out->ready);
        if (oldest >= 0)
            out->oldest_age_ms = dort__wall_ms() - oldest;
    }
    out->sent = q->sent;
    out->acked = q->acked;
    out->retried = q->retried;
    out->dead_lettered = q->dead_lettered;
    out->dropped = q->dropped;
    return 0;
}

void dort_rt_queues(dort_rt_t *rt, void (*cb)(void *data, const char *name), void *data)
{
    dort__queues_t *qs = rt ? rt->queues : NULL;
    for (uint32_t i = 0; qs != NULL && i < qs->nqs; i++)
        cb(data, qs->qs[i]->name);
}
