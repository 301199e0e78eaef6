/* storage.c - an actor's key-value storage inside a turn: reads through the
 * overlay of uncommitted writes, writes into the turn's top layer. */
#include <string.h>

#include "hash_internal.h"
#include "keycodec_internal.h"
#include "rt_internal.h"

static int check_turn(dort_actor_t *self)
{
    if (self == NULL)
        return DORT_EINVAL;
    return dort__in_turn_of(self->ns->rt, self) ? 0 : DORT_ENOTINTURN;
}

static int check_key(const void *key, size_t key_len)
{
    if (key == NULL || key_len == 0)
        return DORT_EINVAL;
    return key_len > DORT_STORAGE_MAX_KEY ? DORT_EKEYTOOLONG : 0;
}

static int check_value(const void *val, size_t val_len)
{
    if (val == NULL && val_len != 0)
        return DORT_EINVAL;
    return val_len > DORT_STORAGE_MAX_VALUE ? DORT_EVALTOOBIG : 0;
}

/* Looks the key up in one overlay layer: 1 = decided (found or deleted),
 * 0 = this layer does not know, look older. */
static int layer_lookup(const dort__wset_t *ws, const void *key, size_t key_len, uint64_t hash,
                        dort_slice_t *out, int *found)
{
    if (ws == NULL)
        return 0;
    const dort__wentry_t *e = dort__wset_lookup(ws, key, key_len, hash);
    if (e != NULL) {
        *found = e->val_len != DORT__TOMBSTONE;
        if (*found) {
            out->ptr = (const char *)dort__wentry_val(e);
            out->len = e->val_len;
        }
        return 1;
    }
    if (ws->cleared) {
        *found = 0;
        return 1;
    }
    return 0;
}

static int lmdb_lookup(dort_actor_t *a, const void *key, size_t key_len, dort_slice_t *out,
                       int *found)
{
    dort__store_t *st = &a->ns->rt->store;
    MDB_txn *txn;
    int rc = dort__store_rtxn(st, &txn);
    if (rc != 0)
        return rc;
    unsigned char prefix[DORT__PREFIX_SIZE], kbuf[DORT__LMDB_KEY_MAX];
    dort__actor_prefix(a, prefix);
    MDB_val k = {dort__key_encode(kbuf, prefix, key, key_len), kbuf}, v;
    rc = mdb_get(txn, st->kv, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *found = 0;
        return 0;
    }
    if (rc != 0)
        return dort__lmdb_err(rc);
    const unsigned char *val = v.mv_data;
    size_t val_len = v.mv_size;
    if (dort__key_is_long(k.mv_size)) {
        size_t rem = key_len - DORT__SHORT_KEY_MAX;
        if (v.mv_size < 2 + rem || (((size_t)val[0] << 8) | val[1]) != rem)
            return DORT_ECORRUPT;
        /* The digest matched; the tail must too, or it is another key. */
        if (memcmp(val + 2, (const unsigned char *)key + DORT__SHORT_KEY_MAX, rem) != 0) {
            *found = 0;
            return 0;
        }
        val += 2 + rem;
        val_len -= 2 + rem;
    }
    out->ptr = (const char *)val;
    out->len = val_len;
    *found = 1;
    return 0;
}

int dort__storage_read(dort_actor_t *a, const void *key, size_t key_len, dort_slice_t *out,
                       int *found)
{
    dort__turn_t *t = &a->ns->rt->turn;
    uint64_t h = dort__hash_bytes(key, key_len);
    for (int i = (int)t->depth; i >= 0; i--)
        if (layer_lookup(&t->layers[i], key, key_len, h, out, found))
            return 0;
    if (layer_lookup(a->open_ws, key, key_len, h, out, found) ||
        layer_lookup(a->inflight_ws, key, key_len, h, out, found))
        return 0;
    return lmdb_lookup(a, key, key_len, out, found);
}

static dort__wset_t *top_layer(dort_actor_t *a)
{
    dort__turn_t *t = &a->ns->rt->turn;
    return &t->layers[t->depth];
}

int dort_storage_get(dort_actor_t *self, const void *key, size_t key_len, dort_slice_t *value)
{
    int rc = check_turn(self);
    if (rc == 0)
        rc = check_key(key, key_len);
    if (rc != 0 || value == NULL)
        return rc ? rc : DORT_EINVAL;
    int found = 0;
    rc = dort__storage_read(self, key, key_len, value, &found);
    return rc != 0 ? rc : (found ? 0 : DORT_ENOENT);
}

int dort_storage_get_batch(dort_actor_t *self, const dort_kv_t *keys, size_t n,
                           dort_slice_t *values)
{
    int rc = check_turn(self);
    if (rc != 0)
        return rc;
    if (n > DORT_STORAGE_MAX_BATCH)
        return DORT_ETOOMANYKEYS;
    if ((keys == NULL || values == NULL) && n != 0)
        return DORT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((rc = check_key(keys[i].key, keys[i].key_len)) != 0)
            return rc;
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        rc = dort__storage_read(self, keys[i].key, keys[i].key_len, &values[i], &found);
        if (rc != 0)
            return rc;
        if (!found) {
            values[i].ptr = NULL;
            values[i].len = 0;
        } else if (values[i].ptr == NULL) {
            values[i].ptr = ""; /* present and empty: not NULL */
        }
    }
    return 0;
}

int dort_storage_put(dort_actor_t *self, const void *key, size_t key_len, const void *value,
                     size_t value_len)
{
    int rc = check_turn(self);
    if (rc == 0)
        rc = check_key(key, key_len);
    if (rc == 0)
        rc = check_value(value, value_len);
    if (rc != 0)
        return rc;
    return dort__wset_write(top_layer(self), key, key_len, value, (uint32_t)value_len);
}

int dort_storage_put_batch(dort_actor_t *self, const dort_kv_t *kvs, size_t n)
{
    int rc = check_turn(self);
    if (rc != 0)
        return rc;
    if (n > DORT_STORAGE_MAX_BATCH)
        return DORT_ETOOMANYKEYS;
    if (kvs == NULL && n != 0)
        return DORT_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if ((rc = check_key(kvs[i].key, kvs[i].key_len)) != 0 ||
            (rc = check_value(kvs[i].value, kvs[i].value_len)) != 0)
            return rc;
    }
    /* All-or-nothing even on ENOMEM: stage in a transaction layer. */
    if ((rc = dort_storage_txn_begin(self)) != 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = dort__wset_write(top_layer(self), kvs[i].key, kvs[i].key_len, kvs[i].value,
                              (uint32_t)kvs[i].value_len);
    if (rc != 0) {
        dort_storage_txn_rollback(self);
        return rc;
    }
    return dort_storage_txn_commit(self);
}

int dort_storage_delete(dort_actor_t *self, const void *key, size_t key_len, int *existed)
{
    int rc = check_turn(self);
    if (rc == 0)
        rc = check_key(key, key_len);
    if (rc != 0)
        return rc;
    if (existed != NULL) {
        dort_slice_t v;
        rc = dort__storage_read(self, key, key_len, &v, existed);
        if (rc != 0)
            return rc;
    }
    return dort__wset_write(top_layer(self), key, key_len, NULL, DORT__TOMBSTONE);
}

int dort_storage_delete_batch(dort_actor_t *self, const dort_kv_t *keys, size_t n,
                              size_t *deleted)
{
    int rc = check_turn(self);
    if (rc != 0)
        return rc;
    if (n > DORT_STORAGE_MAX_BATCH)
        return DORT_ETOOMANYKEYS;
    if (keys == NULL && n != 0)
        return DORT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((rc = check_key(keys[i].key, keys[i].key_len)) != 0)
            return rc;
    if ((rc = dort_storage_txn_begin(self)) != 0)
        return rc;
    size_t count = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int existed = 0;
        rc = dort_storage_delete(self, keys[i].key, keys[i].key_len, &existed);
        count += existed != 0;
    }
    if (rc != 0) {
        dort_storage_txn_rollback(self);
        return rc;
    }
    if (deleted != NULL)
        *deleted = count;
    return dort_storage_txn_commit(self);
}

int dort_storage_delete_all(dort_actor_t *self)
{
    int rc = check_turn(self);
    if (rc != 0)
        return rc;
    dort__wset_clear(top_layer(self));
    return 0;
}

/* ---- transactions: a stack of layers on top of the turn's ---- */

int dort_storage_txn_begin(dort_actor_t *self)
{
    int rc = check_turn(self);
    if (rc != 0)
        return rc;
    dort__turn_t *t = &self->ns->rt->turn;
    if (t->depth == DORT__MAX_TXN_DEPTH)
        return DORT_ETXN;
    t->depth++;
    dort__wset_reset(&t->layers[t->depth]);
    return 0;
}

int dort_storage_txn_commit(dort_actor_t *self)
{
    int rc = check_turn(self);
    if (rc != 0)
        return rc;
    dort__turn_t *t = &self->ns->rt->turn;
    if (t->depth == 0)
        return DORT_ETXN;
    rc = dort__wset_merge(&t->layers[t->depth - 1], &t->layers[t->depth]);
    if (rc != 0)
        return rc; /* still open: the caller may roll back */
    dort__turn_txn_end(self->ns->rt, t->depth, 1);
    t->depth--;
    return 0;
}

int dort_storage_txn_rollback(dort_actor_t *self)
{
    int rc = check_turn(self);
    if (rc != 0)
        return rc;
    dort__turn_t *t = &self->ns->rt->turn;
    if (t->depth == 0)
        return DORT_ETXN;
    dort__wset_reset(&t->layers[t->depth]);
    dort__turn_txn_end(self->ns->rt, t->depth, 0);
    t->depth--;
    return 0;
}

int dort_storage_transaction(dort_actor_t *self, int (*fn)(dort_actor_t *self, void *data),
                             void *data)
{
    if (fn == NULL)
        return DORT_EINVAL;
    int rc = dort_storage_txn_begin(self);
    if (rc != 0)
        return rc;
    rc = fn(self, data);
    if (rc != 0) {
        dort_storage_txn_rollback(self);
        return rc;
    }
    rc = dort_storage_txn_commit(self);
    if (rc != 0)
        dort_storage_txn_rollback(self);
    return rc;
}
