/* writer.c - the writer thread: applies batches in LMDB write transactions.
 *
 * Only this thread begins write transactions. It never calls user code and
 * never touches loop state: it reads the batch it was given, writes the
 * result fields, and wakes the loop. */
#include <string.h>

#include <dort/errors.h>
#include <dort/storage.h>

#include "records.pb-c.h"
#include "writer_internal.h"

static int put_kv(dort__store_t *st, MDB_txn *txn, const unsigned char *prefix,
                  const dort__wentry_t *e)
{
    unsigned char kbuf[DORT__LMDB_KEY_MAX];
    MDB_val k, v;
    k.mv_size = dort__key_encode(kbuf, prefix, dort__wentry_key(e), e->key_len);
    k.mv_data = kbuf;
    if (e->val_len == DORT__TOMBSTONE) {
        int rc = mdb_del(txn, st->kv, &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    if (!dort__key_is_long(k.mv_size)) {
        v.mv_size = e->val_len;
        v.mv_data = (void *)dort__wentry_val(e);
        return mdb_put(txn, st->kv, &k, &v, 0);
    }
    /* Long keys carry the rest of the key in front of the value: reserve the
     * space in the page and write it there, no temporary copy. */
    v.mv_size = dort__longval_size(e->key_len, e->val_len);
    int rc = mdb_put(txn, st->kv, &k, &v, MDB_RESERVE);
    if (rc == 0)
        dort__longval_encode(v.mv_data, dort__wentry_key(e), e->key_len, dort__wentry_val(e),
                             e->val_len);
    return rc;
}

/* delete_all: every kv entry under the actor's prefix. */
static int clear_prefix(dort__store_t *st, MDB_txn *txn, const unsigned char *prefix)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->kv, &cur);
    if (rc != 0)
        return rc;
    MDB_val k = {DORT__PREFIX_SIZE, (void *)prefix}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= DORT__PREFIX_SIZE &&
           memcmp(k.mv_data, prefix, DORT__PREFIX_SIZE) == 0) {
        rc = mdb_cursor_del(cur, 0);
        /* Re-seek rather than trust the cursor position after a delete at
         * the end of a page or of the database. */
        if (rc == 0) {
            k.mv_size = DORT__PREFIX_SIZE;
            k.mv_data = (void *)prefix;
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int apply_alarm(dort__store_t *st, MDB_txn *txn, const unsigned char *prefix,
                       const dort__wset_t *ws)
{
    MDB_val k = {DORT__PREFIX_SIZE, (void *)prefix}, v;
    unsigned char ikey[8 + DORT__PREFIX_SIZE];
    memcpy(ikey + 8, prefix, DORT__PREFIX_SIZE);
    MDB_val ik = {sizeof ikey, ikey}, empty = {0, NULL};
    int rc = mdb_get(txn, st->actor_alarm, &k, &v);
    if (rc == 0) {
        Dort__AlarmRecord *old = dort__alarm_record__unpack(NULL, v.mv_size, v.mv_data);
        if (old != NULL) {
            dort__be64_put(ikey, (uint64_t)old->due_ms);
            dort__alarm_record__free_unpacked(old, NULL);
            rc = mdb_del(txn, st->alarms, &ik, NULL);
            if (rc != 0 && rc != MDB_NOTFOUND)
                return rc;
        }
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    if (ws->alarm_op == DORT__ALARM_DELETE) {
        rc = mdb_del(txn, st->actor_alarm, &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    Dort__AlarmRecord rec = DORT__ALARM_RECORD__INIT;
    uint8_t buf[64];
    rec.due_ms = ws->alarm_due_ms;
    rec.scheduled_ms = ws->alarm_scheduled_ms;
    rec.retry_count = ws->alarm_retry;
    v.mv_size = dort__alarm_record__pack(&rec, buf);
    v.mv_data = buf;
    rc = mdb_put(txn, st->actor_alarm, &k, &v, 0);
    dort__be64_put(ikey, (uint64_t)ws->alarm_due_ms);
    if (rc == 0)
        rc = mdb_put(txn, st->alarms, &ik, &empty, 0);
    return rc;
}

static int apply_raw(dort__store_t *st, MDB_txn *txn, const dort__rawop_t *op)
{
    for (; op != NULL; op = op->next) {
        MDB_dbi dbi = st->extra[op->dbi_index];
        MDB_val k = {op->key_len, op->key}, v = {op->val_len, op->val};
        int rc = op->del ? mdb_del(txn, dbi, &k, NULL) : mdb_put(txn, dbi, &k, &v, 0);
        if (rc != 0 && !(op->del && rc == MDB_NOTFOUND))
            return rc;
    }
    return 0;
}

int dort__writer_apply_item(dort__store_t *st, MDB_txn *txn, const dort__batch_item_t *it,
                            uint64_t *keys)
{
    const dort__wset_t *ws = it->ws;
    int rc = 0;
    if (ws == NULL)
        return 0;
    if (ws->cleared)
        rc = clear_prefix(st, txn, it->prefix);
    for (uint32_t i = 0; rc == 0 && i < ws->count; i++)
        rc = put_kv(st, txn, it->prefix, ws->entries[i]);
    *keys += ws->count;
    if (rc == 0 && ws->alarm_op != DORT__ALARM_NONE)
        rc = apply_alarm(st, txn, it->prefix, ws);
    if (rc == 0)
        rc = apply_raw(st, txn, ws->raw_head);
    return rc;
}

/* Commits items [from, to) in one transaction. */
static int commit_chunk(dort__store_t *st, dort__batch_t *b, uint32_t from, uint32_t to,
                        int inject)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    uint64_t keys = 0;
    for (uint32_t i = from; rc == 0 && i < to; i++)
        rc = dort__writer_apply_item(st, txn, &b->items[i], &keys);
    if (rc == 0 && inject != 0)
        rc = inject;
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    if (rc == 0) {
        b->txns++;
        b->keys += keys;
    }
    return rc;
}

static void apply_batch(dort__writer_t *w, dort__store_t *st, dort__batch_t *b, int inject)
{
    uint32_t chunk = b->chunk ? b->chunk : b->nitems;
    if (chunk == 0)
        chunk = 1;
    int rc = 0;
    /* A batch with only waiters (nothing to write) still commits nothing and
     * succeeds: the waiters only need ordering after earlier batches. */
    while (b->done_items < b->nitems) {
        uint32_t to = b->done_items + chunk;
        if (to > b->nitems)
            to = b->nitems;
        rc = commit_chunk(st, b, b->done_items, to, inject);
        if (rc == MDB_TXN_FULL && to - b->done_items > 1) {
            /* Too many dirty pages for one transaction: split the batch. */
            chunk = (to - b->done_items) / 2;
            continue;
        }
        if (rc != 0)
            break;
        b->done_items = to;
        if (to < b->nitems) {
            /* More chunks to go: let the loop settle this one now. */
            uv_mutex_lock(&w->mu);
            b->progress = to;
            uv_mutex_unlock(&w->mu);
            uv_async_send(w->notify);
        }
    }
    if (rc < 0 && rc > -5000)
        b->result = rc; /* an injected DORT_E* code */
    else
        b->result = rc == MDB_MAP_FULL ? DORT_ESTORAGEFULL : dort__lmdb_err(rc);
    b->done_ns = uv_hrtime();
}

static void writer_main(void *arg)
{
    dort__writer_t *w = arg;
    uint64_t last_sync = uv_hrtime();
    int dirty = 0;
    uv_mutex_lock(&w->mu);
    for (;;) {
        while ((w->job == NULL || w->hold) && !w->quit) {
            if (w->hold) {
                uv_cond_wait(&w->cond, &w->mu);
                continue;
            }
            if (w->sync_interval_ns == 0 || !dirty) {
                uv_cond_wait(&w->cond, &w->mu);
                continue;
            }
            uint64_t now = uv_hrtime();
            if (now - last_sync >= w->sync_interval_ns) {
                uv_mutex_unlock(&w->mu);
                mdb_env_sync(w->store->env, 1);
                uv_mutex_lock(&w->mu);
                last_sync = uv_hrtime();
                dirty = 0;
                continue;
            }
            uv_cond_timedwait(&w->cond, &w->mu, w->sync_interval_ns - (now - last_sync));
        }
        if (w->job == NULL)
            break;
        dort__batch_t *b = w->job;
        int inject = w->fail_next;
        w->job = NULL;
        w->fail_next = 0;
        uv_mutex_unlock(&w->mu);
        apply_batch(w, w->store, b, inject);
        dirty = 1;
        uv_mutex_lock(&w->mu);
        w->done = b;
        uv_async_send(w->notify);
    }
    uv_mutex_unlock(&w->mu);
}

int dort__writer_start(dort__writer_t *w, dort__store_t *store, uv_async_t *notify,
                       int64_t sync_interval_ms)
{
    memset(w, 0, sizeof *w);
    w->store = store;
    w->notify = notify;
    if (store->durability == DORT_DURABILITY_RELAXED && sync_interval_ms > 0)
        w->sync_interval_ns = (uint64_t)sync_interval_ms * 1000000u;
    if (uv_mutex_init(&w->mu) != 0)
        return DORT_ESYS;
    if (uv_cond_init(&w->cond) != 0) {
        uv_mutex_destroy(&w->mu);
        return DORT_ESYS;
    }
    if (uv_thread_create(&w->thread, writer_main, w) != 0) {
        uv_cond_destroy(&w->cond);
        uv_mutex_destroy(&w->mu);
        return DORT_ESYS;
    }
    w->started = 1;
    return 0;
}

void dort__writer_submit(dort__writer_t *w, dort__batch_t *b)
{
    b->submit_ns = uv_hrtime();
    w->busy = 1;
    uv_mutex_lock(&w->mu);
    w->job = b;
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
}

dort__batch_t *dort__writer_take(dort__writer_t *w)
{
    uv_mutex_lock(&w->mu);
    dort__batch_t *b = w->done;
    w->done = NULL;
    uv_mutex_unlock(&w->mu);
    if (b != NULL)
        w->busy = 0;
    return b;
}

void dort__writer_stop(dort__writer_t *w)
{
    if (!w->started)
        return;
    uv_mutex_lock(&w->mu);
    w->quit = 1;
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
    uv_thread_join(&w->thread);
    uv_cond_destroy(&w->cond);
    uv_mutex_destroy(&w->mu);
    w->started = 0;
}

uint32_t dort__writer_progress(dort__writer_t *w, dort__batch_t *b)
{
    uv_mutex_lock(&w->mu);
    uint32_t p = b->progress;
    uv_mutex_unlock(&w->mu);
    return p;
}

void dort__writer_set_hold(dort__writer_t *w, int hold)
{
    uv_mutex_lock(&w->mu);
    w->hold = hold;
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
}

void dort__writer_fail_next(dort__writer_t *w, int code)
{
    uv_mutex_lock(&w->mu);
    w->fail_next = code;
    uv_mutex_unlock(&w->mu);
}
