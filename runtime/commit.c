/* commit.c - the loop's side of group commit: sealing write sets into the
 * open batch, handing batches to the writer, and acting on completions. */
#include <string.h>

#include "alloc_internal.h"
#include "rt_internal.h"

void dort__rt_stop_progress(dort_rt_t *rt);
void dort__queues_on_commit(dort_rt_t *rt);

static int ensure_open_batch(dort_rt_t *rt)
{
    if (rt->open_batch == NULL)
        rt->open_batch = dort__batch_new(++rt->batch_seq);
    return rt->open_batch ? 0 : DORT_ENOMEM;
}

void dort__commit_ws_put(dort_rt_t *rt, dort__wset_t *ws)
{
    if (ws == NULL)
        return;
    /* A set that grew large keeps its memory only if it is likely reused. */
    if (rt->ws_pool_n < sizeof rt->ws_pool / sizeof rt->ws_pool[0] && ws->cap <= 1024) {
        dort__wset_reset(ws);
        rt->ws_pool[rt->ws_pool_n++] = ws;
        return;
    }
    dort__wset_free(ws);
}

void dort__commit_pool_release(dort_rt_t *rt)
{
    while (rt->ws_pool_n > 0)
        dort__wset_free(rt->ws_pool[--rt->ws_pool_n]);
}

static dort__wset_t *ws_get(dort_rt_t *rt)
{
    return rt->ws_pool_n > 0 ? rt->ws_pool[--rt->ws_pool_n] : dort__wset_new();
}

int dort__commit_seal(dort_rt_t *rt, dort_actor_t *a, dort__wset_t *ws)
{
    if (a->open_ws == NULL) {
        dort__wset_t *open = ws_get(rt);
        if (open == NULL || ensure_open_batch(rt) != 0) {
            dort__commit_ws_put(rt, open);
            return DORT_ENOMEM;
        }
        unsigned char prefix[DORT__PREFIX_SIZE];
        dort__actor_prefix(a, prefix);
        int idx = dort__batch_add(rt->open_batch, a, prefix, open);
        if (idx < 0) {
            dort__commit_ws_put(rt, open);
            return idx;
        }
        a->open_ws = open;
        a->open_item = (uint32_t)idx;
    }
    return dort__wset_merge(a->open_ws, ws);
}

int dort__commit_add_raw(dort_rt_t *rt, dort__wset_t *ws, dort__commit_cb cb, void *data)
{
    if (ensure_open_batch(rt) != 0)
        return DORT_ENOMEM;
    int idx = dort__batch_add(rt->open_batch, NULL, NULL, ws);
    if (idx < 0)
        return idx;
    if (cb != NULL && dort__batch_add_waiter(rt->open_batch, cb, data) != 0) {
        rt->open_batch->nitems--;
        return DORT_ENOMEM;
    }
    return 0;
}

int dort__commit_idle(const dort_rt_t *rt)
{
    return !rt->writer.busy && (rt->open_batch == NULL || (rt->open_batch->nitems == 0 &&
                                                           rt->open_batch->nwaiters == 0));
}

static void hist_add(uint64_t *hist, size_t n, const double *bounds, double v)
{
    size_t i = 0;
    while (i < n - 1 && v > bounds[i])
        i++;
    hist[i]++;
}

static void record_stats(dort_rt_t *rt, const dort__batch_t *b)
{
    static const double size_bounds[16] = {1,   2,   4,    8,    16,   32,   64,    128,
                                           256, 512, 1024, 2048, 4096, 8192, 16384, 32768};
    static const double lat_bounds[13] = {0.1, 0.25, 0.5, 1,   2.5, 5,   10,
                                          25,  50,   100, 250, 500, 1000};
    double ms = (double)(b->done_ns - b->submit_ns) / 1e6;
    rt->stats.commit_txns += b->txns;
    rt->stats.committed_keys += b->keys;
    hist_add(rt->stats.batch_size_hist, 17, size_bounds, (double)b->nitems);
    hist_add(rt->stats.commit_latency_hist, 14, lat_bounds, ms);
    rt->stats.commit_latency_sum_ms += ms;
}

void dort__commit_kick(dort_rt_t *rt)
{
    dort__batch_t *b = rt->open_batch;
    if (rt->writer.busy || !rt->writer.started || rt->completing || b == NULL ||
        (b->nitems == 0 && b->nwaiters == 0))
        return;
    rt->open_batch = NULL;
    for (uint32_t i = 0; i < b->nitems; i++) {
        dort__batch_item_t *it = &b->items[i];
        dort_actor_t *a = it->actor;
        if (it->ws != NULL && it->ws->alarm_op != DORT__ALARM_NONE)
            b->alarms_touched = 1;
        if (it->ws != NULL && it->ws->raw_head != NULL)
            b->raw_touched = 1;
        if (a == NULL || it->ws == NULL)
            continue;
        DORT_ASSERT(a->inflight_ws == NULL && a->open_ws == it->ws);
        a->inflight_ws = a->open_ws;
        a->open_ws = NULL;
        if (a->held_open_head != NULL) {
            if (a->held_inflight_tail != NULL)
                a->held_inflight_tail->next = a->held_open_head;
            else
                a->held_inflight_head = a->held_open_head;
            a->held_inflight_tail = a->held_open_tail;
            a->held_open_head = a->held_open_tail = NULL;
        }
    }
    b->chunk = rt->opts.commit_batch_max;
    rt->inflight_batch = b;
    dort__writer_submit(&rt->writer, b);
}

/* The writes of `a` in a failed batch are gone, and so is everything built
 * on them: its open set, every held output, its in-memory state. */
static void actor_commit_failed(dort_rt_t *rt, dort_actor_t *a, int status)
{
    dort__commit_ws_put(rt, a->inflight_ws);
    a->inflight_ws = NULL;
    if (a->open_ws != NULL) {
        rt->open_batch->items[a->open_item].ws = NULL;
        dort__commit_ws_put(rt, a->open_ws);
        a->open_ws = NULL;
    }
    dort__out_t *inflight = a->held_inflight_head, *open = a->held_open_head;
    a->held_inflight_head = a->held_inflight_tail = NULL;
    a->held_open_head = a->held_open_tail = NULL;
    dort__actor_reset(a, DORT_ERESET);
    dort__out_fail_list(rt, inflight, status);
    dort__out_fail_list(rt, open, status);
    dort__actor_maybe_idle(a);
}

static void actor_committed(dort_rt_t *rt, dort_actor_t *a)
{
    dort__commit_ws_put(rt, a->inflight_ws);
    a->inflight_ws = NULL;
    dort__out_t *held = a->held_inflight_head;
    a->held_inflight_head = a->held_inflight_tail = NULL;
    dort__out_release_list(rt, held);
    dort__actor_maybe_idle(a);
}

/* Commit failures other than a full store leave nothing applied either:
 * callers get the retryable DORT_ECOMMIT (the log has the cause). */
static int caller_status(int result)
{
    return result == DORT_ESTORAGEFULL ? DORT_ESTORAGEFULL : DORT_ECOMMIT;
}

/* Settles the items the writer has committed so far, in order. */
static void settle_committed(dort_rt_t *rt, dort__batch_t *b, uint32_t upto)
{
    for (; b->settled < upto; b->settled++) {
        dort__batch_item_t *it = &b->items[b->settled];
        if (it->ws == NULL || it->actor == NULL)
            continue; /* dropped, or raw records (their waiters run at the end) */
        rt->stats.committed_writesets++;
        actor_committed(rt, it->actor);
        it->ws = NULL; /* freed by actor_committed */
    }
}

static void complete_batch(dort_rt_t *rt, dort__batch_t *b)
{
    int status = caller_status(b->result);
    if (b->result != 0) {
        rt->stats.commit_failures++;
        DORT_LOG(&rt->log, DORT_LOG_ERROR, "commit of batch %llu failed: %s",
                 (unsigned long long)b->seq, dort_strerror(b->result));
    }
    settle_committed(rt, b, b->done_items);
    for (uint32_t i = 0; i < b->nitems; i++) {
        dort__batch_item_t *it = &b->items[i];
        if (it->ws == NULL)
            continue; /* dropped before submission, or settled */
        if (it->actor == NULL)
            dort__commit_ws_put(rt, it->ws);
        else if (i >= b->done_items)
            actor_commit_failed(rt, it->actor, status);
    }
    for (uint32_t i = 0; i < b->nwaiters; i++)
        b->waiters[i].cb(b->waiters[i].data, b->result == 0 ? 0 : status);
}

/* A chunk of a chunked batch committed: its actors' answers leave now. */
static void settle_progress(dort_rt_t *rt)
{
    dort__batch_t *b = rt->inflight_batch;
    if (b == NULL)
        return;
    uint32_t upto = dort__writer_progress(&rt->writer, b);
    if (upto <= b->settled)
        return;
    dort__store_rtxn_reset(&rt->store);
    rt->completing = 1;
    settle_committed(rt, b, upto);
    rt->completing = 0;
    dort__sched_run(rt);
}

void dort__commit_on_async(uv_async_t *h)
{
    dort_rt_t *rt = h->data;
    dort__batch_t *b = dort__writer_take(&rt->writer);
    if (b == NULL) {
        settle_progress(rt);
        return;
    }
    rt->inflight_batch = NULL;
    /* The next read must see this commit: LMDB now holds what the overlay
     * held, and the overlay is about to drop it. */
    dort__store_rtxn_reset(&rt->store);
    if (b->result == DORT_ESTORAGEFULL && dort__store_grow(&rt->store) == 0) {
        rt->stats.map_grows++;
        rt->inflight_batch = b;
        dort__writer_submit(&rt->writer, b);
        return;
    }
    record_stats(rt, b);
    /* Callbacks run from here (answers, waiters) may ask for a kick: the
     * actors of `b` are not all settled yet, so it waits for the end. */
    rt->completing = 1;
    complete_batch(rt, b);
    rt->completing = 0;
    if (b->alarms_touched || b->result != 0)
        dort__alarm_schedule(rt);
    int raw = b->raw_touched;
    dort__batch_free(b);
    if (raw && rt->queues != NULL)
        dort__queues_on_commit(rt);
    dort__sched_run(rt);
    dort__commit_kick(rt);
    dort__rt_stop_progress(rt);
}
