/* wset_internal.h - a write set: an actor's uncommitted writes.
 *
 * One structure serves every layer of the overlay that reads consult before
 * LMDB: a turn's writes, an open transaction inside the turn, the actor's
 * sealed-but-uncommitted writes of the open batch and those of the batch the
 * writer thread is committing. Entries keep insertion order for iteration
 * and a hash index for lookups. A tombstone records a delete; `cleared`
 * records delete_all (everything older is hidden). The alarm operation rides
 * along so it commits atomically with the keys.
 */
#ifndef DORT_WSET_INTERNAL_H
#define DORT_WSET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define DORT__TOMBSTONE UINT32_MAX

typedef struct dort__wentry_s {
    uint64_t hash;
    uint32_t key_len;
    uint32_t val_len; /* DORT__TOMBSTONE for a delete */
    unsigned char data[]; /* key bytes, then value bytes */
} dort__wentry_t;

static inline const unsigned char *dort__wentry_key(const dort__wentry_t *e)
{
    return e->data;
}

static inline const unsigned char *dort__wentry_val(const dort__wentry_t *e)
{
    return e->data + e->key_len;
}

typedef enum {
    DORT__ALARM_NONE = 0, /* this layer does not touch the alarm */
    DORT__ALARM_SET = 1,
    DORT__ALARM_DELETE = 2,
} dort__alarm_op_t;

/* A record for a database other than kv (queues use these). Key and value
 * live in the same allocation. */
typedef struct dort__rawop_s {
    struct dort__rawop_s *next;
    unsigned dbi_index; /* index from dort__store_want_db */
    uint8_t del;
    size_t key_len, val_len;
    unsigned char *key, *val;
} dort__rawop_t;

typedef struct dort__wset_s {
    dort__wentry_t **entries; /* insertion order */
    uint32_t count;
    uint32_t cap;
    uint32_t *index; /* open addressing: 0 empty, else position + 1 */
    uint32_t index_mask;
    uint8_t cleared;
    uint8_t alarm_op;
    uint32_t alarm_retry;
    int64_t alarm_due_ms;
    int64_t alarm_scheduled_ms;
    /* Records for other databases, in order; they commit with the keys. */
    dort__rawop_t *raw_head, *raw_tail;
} dort__wset_t;

void dort__wset_init(dort__wset_t *ws);
/* Frees every entry and the arrays. */
void dort__wset_release(dort__wset_t *ws);
/* Drops entries and flags but keeps the arrays for reuse. */
void dort__wset_reset(dort__wset_t *ws);
dort__wset_t *dort__wset_new(void);
void dort__wset_free(dort__wset_t *ws);

/* 1 when the set would change storage if committed. */
static inline int dort__wset_dirty(const dort__wset_t *ws)
{
    return ws->count != 0 || ws->cleared || ws->alarm_op != DORT__ALARM_NONE ||
           ws->raw_head != NULL;
}

/* Records a put (`val_len` bytes) or, with val == NULL and val_len ==
 * DORT__TOMBSTONE, a delete. Copies. 0 or DORT_ENOMEM. */
int dort__wset_write(dort__wset_t *ws, const void *key, size_t key_len, const void *val,
                     uint32_t val_len);
/* NULL when this layer has no write for the key. */
const dort__wentry_t *dort__wset_lookup(const dort__wset_t *ws, const void *key, size_t key_len,
                                        uint64_t hash);
/* delete_all: drops entries, sets `cleared`. */
void dort__wset_clear(dort__wset_t *ws);
/* Moves everything of `src` on top of `dst` (src's writes win) and leaves
 * src empty. 0, or DORT_ENOMEM with both sets unchanged. */
int dort__wset_merge(dort__wset_t *dst, dort__wset_t *src);

/* Appends a copied raw record. 0 or DORT_ENOMEM. */
int dort__wset_add_raw(dort__wset_t *ws, unsigned dbi_index, int del, const void *key,
                       size_t key_len, const void *val, size_t val_len);

#endif
