/* batch_internal.h - a group commit: every write set sealed on the loop since
 * the previous submission, committed by the writer thread in one LMDB write
 * transaction (or in chunks of commit_batch_max when that is set).
 *
 * Ownership: the loop builds a batch, hands it to the writer, and touches it
 * again only after the writer reported completion through uv_async. While
 * the writer holds it, the write sets in it are read-only for both threads.
 */
#ifndef DORT_BATCH_INTERNAL_H
#define DORT_BATCH_INTERNAL_H

#include <lmdb.h>

#include <dort/common.h>

#include "keycodec_internal.h"
#include "wset_internal.h"

typedef struct dort__batch_item_s {
    dort_actor_t *actor;                       /* NULL for raw-only items */
    unsigned char prefix[DORT__PREFIX_SIZE];   /* ns tag + actor id */
    dort__wset_t *ws;                          /* NULL once dropped */
} dort__batch_item_t;

/* Called on the loop when the batch that carried it is done: status 0 or
 * the DORT_E* code the batch failed with. */
typedef void (*dort__commit_cb)(void *data, int status);

typedef struct dort__batch_waiter_s {
    dort__commit_cb cb;
    void *data;
} dort__batch_waiter_t;

typedef struct dort__batch_s {
    uint64_t seq;
    dort__batch_item_t *items;
    uint32_t nitems, cap;
    dort__batch_waiter_t *waiters;
    uint32_t nwaiters, waiters_cap;
    uint32_t chunk;       /* items per transaction; 0 = all */
    uint8_t alarms_touched;
    uint8_t raw_touched;  /* carries records of other databases (queues) */
    /* Filled by the writer: */
    uint32_t done_items;  /* items committed (all of them when result == 0) */
    /* Chunked batches: items committed so far as the writer last reported
     * (under the writer's mutex), and how many of them the loop has
     * already settled, so that each chunk's answers leave as soon as it
     * commits rather than when the whole batch does. */
    uint32_t progress;
    uint32_t settled;
    int result;           /* 0, or DORT_E* for the items from done_items on */
    uint32_t txns;        /* transactions committed for this batch */
    uint64_t keys;        /* key puts/deletes applied */
    uint64_t submit_ns, done_ns;
} dort__batch_t;

dort__batch_t *dort__batch_new(uint64_t seq);
/* Frees the batch arrays (not the write sets, which the items borrow). */
void dort__batch_free(dort__batch_t *b);
/* Adds an item and returns its index, or DORT_ENOMEM. */
int dort__batch_add(dort__batch_t *b, dort_actor_t *actor, const unsigned char *prefix,
                    dort__wset_t *ws);
int dort__batch_add_waiter(dort__batch_t *b, dort__commit_cb cb, void *data);

#endif
