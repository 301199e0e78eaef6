/* wset.c - write sets: insertion-ordered entries with a hash index. */
#include <string.h>

#include <dort/errors.h>

#include "alloc_internal.h"
#include "hash_internal.h"
#include "wset_internal.h"

void dort__wset_init(dort__wset_t *ws)
{
    memset(ws, 0, sizeof *ws);
}

static void free_raw(dort__wset_t *ws)
{
    dort__rawop_t *op = ws->raw_head;
    while (op != NULL) {
        dort__rawop_t *next = op->next;
        dort__free(op);
        op = next;
    }
    ws->raw_head = ws->raw_tail = NULL;
}

static void free_entries(dort__wset_t *ws)
{
    for (uint32_t i = 0; i < ws->count; i++)
        dort__free(ws->entries[i]);
    ws->count = 0;
    if (ws->index != NULL)
        memset(ws->index, 0, (size_t)(ws->index_mask + 1) * sizeof *ws->index);
}

void dort__wset_release(dort__wset_t *ws)
{
    free_entries(ws);
    free_raw(ws);
    dort__free(ws->entries);
    dort__free(ws->index);
    dort__wset_init(ws);
}

void dort__wset_reset(dort__wset_t *ws)
{
    free_entries(ws);
    free_raw(ws);
    ws->cleared = 0;
    ws->alarm_op = DORT__ALARM_NONE;
}

dort__wset_t *dort__wset_new(void)
{
    dort__wset_t *ws = dort__malloc(sizeof *ws);
    if (ws != NULL)
        dort__wset_init(ws);
    return ws;
}

void dort__wset_free(dort__wset_t *ws)
{
    if (ws == NULL)
        return;
    dort__wset_release(ws);
    dort__free(ws);
}

/* Position of the index slot holding the key, or of the empty slot where it
 * would go. The index is kept at most half full, so a probe always ends. */
static uint32_t probe(const dort__wset_t *ws, const void *key, size_t key_len, uint64_t hash)
{
    uint32_t i = (uint32_t)hash & ws->index_mask;
    for (;;) {
        uint32_t v = ws->index[i];
        if (v == 0)
            return i;
        const dort__wentry_t *e = ws->entries[v - 1];
        if (e->hash == hash && e->key_len == key_len && memcmp(e->data, key, key_len) == 0)
            return i;
        i = (i + 1) & ws->index_mask;
    }
}

static int grow_index(dort__wset_t *ws)
{
    uint32_t size = ws->index ? (ws->index_mask + 1) * 2 : 16;
    uint32_t *idx = dort__calloc(size, sizeof *idx);
    if (idx == NULL)
        return DORT_ENOMEM;
    dort__free(ws->index);
    ws->index = idx;
    ws->index_mask = size - 1;
    for (uint32_t p = 0; p < ws->count; p++) {
        const dort__wentry_t *e = ws->entries[p];
        ws->index[probe(ws, e->data, e->key_len, e->hash)] = p + 1;
    }
    return 0;
}

/* Takes ownership of `e`, replacing an entry with the same key. */
static int put_entry(dort__wset_t *ws, dort__wentry_t *e)
{
    if (ws->index == NULL || (ws->count + 1) * 2 > ws->index_mask + 1) {
        if (grow_index(ws) != 0)
            return DORT_ENOMEM;
    }
    uint32_t slot = probe(ws, e->data, e->key_len, e->hash);
    if (ws->index[slot] != 0) {
        uint32_t pos = ws->index[slot] - 1;
        dort__free(ws->entries[pos]);
        ws->entries[pos] = e;
        return 0;
    }
    if (ws->count == ws->cap) {
        uint32_t cap = ws->cap ? ws->cap * 2 : 8;
        dort__wentry_t **n = dort__realloc(ws->entries, (size_t)cap * sizeof *n);
        if (n == NULL)
            return DORT_ENOMEM;
        ws->entries = n;
        ws->cap = cap;
    }
    ws->entries[ws->count++] = e;
    ws->index[slot] = ws->count;
    return 0;
}

int dort__wset_write(dort__wset_t *ws, const void *key, size_t key_len, const void *val,
                     uint32_t val_len)
{
    size_t vbytes = val_len == DORT__TOMBSTONE ? 0 : val_len;
    dort__wentry_t *e = dort__malloc(sizeof *e + key_len + vbytes);
    if (e == NULL)
        return DORT_ENOMEM;
    e->hash = dort__hash_bytes(key, key_len);
    e->key_len = (uint32_t)key_len;
    e->val_len = val_len;
    memcpy(e->data, key, key_len);
    if (vbytes)
        memcpy(e->data + key_len, val, vbytes);
    int rc = put_entry(ws, e);
    if (rc != 0)
        dort__free(e);
    return rc;
}

const dort__wentry_t *dort__wset_lookup(const dort__wset_t *ws, const void *key, size_t key_len,
                                        uint64_t hash)
{
    if (ws->count == 0)
        return NULL;
    uint32_t v = ws->index[probe(ws, key, key_len, hash)];
    return v ? ws->entries[v - 1] : NULL;
}

void dort__wset_clear(dort__wset_t *ws)
{
    free_entries(ws);
    ws->cleared = 1;
}

/* Makes room for `extra` more entries so that later puts cannot fail. */
static int reserve(dort__wset_t *ws, uint32_t extra)
{
    uint32_t need = ws->count + extra;
    if (need > ws->cap) {
        uint32_t cap = ws->cap * 2 > need ? ws->cap * 2 : need;
        dort__wentry_t **n = dort__realloc(ws->entries, (size_t)cap * sizeof *n);
        if (n == NULL)
            return DORT_ENOMEM;
        ws->entries = n;
        ws->cap = cap;
    }
    while (ws->index == NULL || (need + 1) * 2 > ws->index_mask + 1) {
        if (grow_index(ws) != 0)
            return DORT_ENOMEM;
    }
    return 0;
}

int dort__wset_merge(dort__wset_t *dst, dort__wset_t *src)
{
    /* Reserve first: a merge either happens whole or not at all, which is
     * what keeps a turn's writes atomic even when memory runs out. */
    if (reserve(dst, src->count) != 0)
        return DORT_ENOMEM;
    if (src->cleared)
        dort__wset_clear(dst);
    if (src->alarm_op != DORT__ALARM_NONE) {
        dst->alarm_op = src->alarm_op;
        dst->alarm_due_ms = src->alarm_due_ms;
        dst->alarm_scheduled_ms = src->alarm_scheduled_ms;
        dst->alarm_retry = src->alarm_retry;
    }
    if (src->raw_head != NULL) {
        if (dst->raw_tail != NULL)
            dst->raw_tail->next = src->raw_head;
        else
            dst->raw_head = src->raw_head;
        dst->raw_tail = src->raw_tail;
        src->raw_head = src->raw_tail = NULL;
    }
    for (uint32_t i = 0; i < src->count; i++)
        put_entry(dst, src->entries[i]); /* cannot fail after reserve */
    src->count = 0;
    if (src->index != NULL)
        memset(src->index, 0, (size_t)(src->index_mask + 1) * sizeof *src->index);
    src->cleared = 0;
    src->alarm_op = DORT__ALARM_NONE;
    return 0;
}

int dort__wset_add_raw(dort__wset_t *ws, unsigned dbi_index, int del, const void *key,
                       size_t key_len, const void *val, size_t val_len)
{
    dort__rawop_t *op = dort__malloc(sizeof *op + key_len + val_len);
    if (op == NULL)
        return DORT_ENOMEM;
    op->next = NULL;
    op->dbi_index = dbi_index;
    op->del = (uint8_t)(del != 0);
    op->key = (unsigned char *)(op + 1);
    op->val = op->key + key_len;
    op->key_len = key_len;
    op->val_len = val_len;
    memcpy(op->key, key, key_len);
    if (val_len)
        memcpy(op->val, val, val_len);
    if (ws->raw_tail != NULL)
        ws->raw_tail->next = op;
    else
        ws->raw_head = op;
    ws->raw_tail = op;
    return 0;
}
