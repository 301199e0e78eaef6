/* dort/storage.h - an actor's transactional key-value storage and its alarm,
 * modelled on Durable Object storage.
 *
 * Every function takes the actor whose turn is running and fails with
 * DORT_ENOTINTURN anywhere else. Reads are synchronous and see the actor's
 * own writes, committed or not. Writes go into the turn's write set; when the
 * turn ends successfully the set is sealed and group-committed with other
 * actors' sets, and the turn's outputs wait for that commit.
 *
 * Keys are 1..2048 bytes and values 0..131072 bytes of opaque data; anything
 * larger fails with DORT_EKEYTOOLONG / DORT_EVALTOOBIG and writes nothing.
 * Batches take at most 128 keys (DORT_ETOOMANYKEYS) and are all-or-nothing.
 *
 * Bytes returned by reads are borrowed: valid until the next write of this
 * actor's storage or the end of the turn, whichever comes first.
 */
#ifndef DORT_STORAGE_H
#define DORT_STORAGE_H

#include <dort/common.h>
#include <dort/message.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DORT_STORAGE_MAX_KEY 2048
#define DORT_STORAGE_MAX_VALUE (128 * 1024)
#define DORT_STORAGE_MAX_BATCH 128

/* A key and (for puts) its value, for batch calls. */
typedef struct dort_kv_s {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
} dort_kv_t;

/* Reads `key`. Returns 0 with `*value` set, DORT_ENOENT when absent, or an
 * argument/turn error. */
DORT_EXTERN int dort_storage_get(dort_actor_t *self, const void *key, size_t key_len,
                                 dort_slice_t *value);

/* Reads up to 128 keys. values[i].ptr is NULL for a missing key (a present
 * empty value has a non-NULL ptr and len 0). Returns 0 or an error. */
DORT_EXTERN int dort_storage_get_batch(dort_actor_t *self, const dort_kv_t *keys, size_t n,
                                       dort_slice_t *values);

/* Writes `key` = `value` (both copied). */
DORT_EXTERN int dort_storage_put(dort_actor_t *self, const void *key, size_t key_len,
                                 const void *value, size_t value_len);

/* Writes up to 128 entries: every one is validated before any is written. */
DORT_EXTERN int dort_storage_put_batch(dort_actor_t *self, const dort_kv_t *kvs, size_t n);

/* Deletes `key`. `*existed` (may be NULL) tells whether it was there. */
DORT_EXTERN int dort_storage_delete(dort_actor_t *self, const void *key, size_t key_len,
                                    int *existed);

/* Deletes up to 128 keys; `*deleted` (may be NULL) counts those that existed. */
DORT_EXTERN int dort_storage_delete_batch(dort_actor_t *self, const dort_kv_t *keys, size_t n,
                                          size_t *deleted);

/* Deletes every key of the actor (not its alarm, as Cloudflare's deleteAll). */
DORT_EXTERN int dort_storage_delete_all(dort_actor_t *self);

/* Options for dort_storage_list; start from dort_list_options_init. Keys are
 * compared as unsigned bytes. `start` is inclusive and `start_after`
 * exclusive (give one or neither); `end` is exclusive. */
typedef struct dort_list_options_s {
    const void *prefix;
    size_t prefix_len;
    const void *start;
    size_t start_len;
    const void *start_after;
    size_t start_after_len;
    const void *end;
    size_t end_len;
    size_t limit;  /* 0: no limit */
    int reverse;   /* 1: descending order; `limit` then counts from the end */
} dort_list_options_t;

DORT_EXTERN void dort_list_options_init(dort_list_options_t *o);

/* Called once per listed entry, in order. Return 0 to go on, non-zero to stop
 * (dort_storage_list then returns 0). Key and value are borrowed for the
 * callback's duration. The callback must not write storage. */
typedef int (*dort_list_cb)(void *data, dort_slice_t key, dort_slice_t value);

/* Lists the actor's entries, its own uncommitted writes included. Returns 0,
 * DORT_EINVAL (start and start_after both given), DORT_ENOTINTURN, or a
 * storage error. */
DORT_EXTERN int dort_storage_list(dort_actor_t *self, const dort_list_options_t *opts,
                                  dort_list_cb cb, void *data);

/* Explicit transactions inside a turn. Writes after begin are discarded by
 * rollback and kept by commit; transactions nest. A transaction still open
 * when the turn ends is rolled back and fails the turn with DORT_ETXN.
 * Returns 0, DORT_ENOTINTURN or DORT_ETXN (commit/rollback with none open). */
DORT_EXTERN int dort_storage_txn_begin(dort_actor_t *self);
DORT_EXTERN int dort_storage_txn_commit(dort_actor_t *self);
DORT_EXTERN int dort_storage_txn_rollback(dort_actor_t *self);

/* Runs `fn` in a transaction: commits when it returns 0, rolls back and
 * returns its value otherwise (the JavaScript storage.transaction(closure)). */
DORT_EXTERN int dort_storage_transaction(dort_actor_t *self, int (*fn)(dort_actor_t *self, void *data),
                                         void *data);

/* ---- the alarm: one per actor, persisted, Unix ms UTC ---- */

/* Returns 0 with `*when_ms`, or DORT_ENOENT when no alarm is set. */
DORT_EXTERN int dort_storage_get_alarm(dort_actor_t *self, int64_t *when_ms);
/* Sets (replaces) the alarm; a time in the past fires at once. It commits
 * atomically with the turn's writes. */
DORT_EXTERN int dort_storage_set_alarm(dort_actor_t *self, int64_t when_ms);
DORT_EXTERN int dort_storage_delete_alarm(dort_actor_t *self);

#ifdef __cplusplus
}
#endif
#endif
