/* writer_internal.h - the writer thread: it owns every LMDB write
 * transaction (they are bound to the thread that began them) and reports
 * each finished batch back to the loop with uv_async_send. */
#ifndef DORT_WRITER_INTERNAL_H
#define DORT_WRITER_INTERNAL_H

#include <uv.h>

#include "batch_internal.h"
#include "store_internal.h"

typedef struct dort__writer_s {
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;
    dort__store_t *store;
    dort__batch_t *job;  /* handed over by the loop; NULL when idle */
    dort__batch_t *done; /* handed back; the loop takes it in the async cb */
    int quit;
    int started;
    int busy;            /* loop's view: a batch is with the writer */
    uint64_t sync_interval_ns; /* relaxed durability: background sync period */
    uv_async_t *notify;  /* the loop's async handle */
    /* Test hooks (internal API only): `hold` parks the writer before it
     * applies the next batch; `fail_next` makes the next batch apply its
     * writes and then abort as if the commit had failed with that code. */
    int hold;
    int fail_next;
} dort__writer_t;

int dort__writer_start(dort__writer_t *w, dort__store_t *store, uv_async_t *notify,
                       int64_t sync_interval_ms);
/* Gives a batch to the idle writer. */
void dort__writer_submit(dort__writer_t *w, dort__batch_t *b);
/* Takes the finished batch, or NULL. */
dort__batch_t *dort__writer_take(dort__writer_t *w);
/* Joins the thread after the last batch finished. */
void dort__writer_stop(dort__writer_t *w);

/* Items of the in-flight batch `b` committed so far (chunked batches). */
uint32_t dort__writer_progress(dort__writer_t *w, dort__batch_t *b);
void dort__writer_set_hold(dort__writer_t *w, int hold);
void dort__writer_fail_next(dort__writer_t *w, int code);

/* Applies one item's writes inside `txn` (exposed for tests). */
int dort__writer_apply_item(dort__store_t *st, MDB_txn *txn, const dort__batch_item_t *it,
                            uint64_t *keys);

#endif
