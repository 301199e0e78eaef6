/* storage_list.c - dort_storage_list: LMDB entries of the actor merged with
 * its uncommitted writes, in exact byte order, with bounds and a limit.
 *
 * Two ordered streams are merged: the overlay (every uncommitted write in
 * range, newest layer winning, sorted once) and an LMDB cursor. Long keys
 * (see keycodec_internal.h) are stored ordered by digest inside the group of
 * keys sharing their first 455 bytes, so the cursor stream reads such a
 * group whole and sorts it by full key before yielding it. */
#include <stdlib.h>
#include <string.h>

#include "alloc_internal.h"
#include "keycodec_internal.h"
#include "rt_internal.h"

typedef struct item_s {
    const unsigned char *key;
    size_t key_len;
    const unsigned char *val;
    size_t val_len;
    int tombstone;
    unsigned char *owned_key; /* long keys rebuilt from LMDB */
} item_t;

static int cmp_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int item_cmp(const void *pa, const void *pb)
{
    const item_t *a = pa, *b = pb;
    return cmp_bytes(a->key, a->key_len, b->key, b->key_len);
}

static int item_cmp_rev(const void *pa, const void *pb)
{
    return -item_cmp(pa, pb);
}

/* Below the low end of the range (ascending order's "not yet"). */
static int below(const dort_list_options_t *o, const void *k, size_t n)
{
    if (o->prefix_len && cmp_bytes(k, n, o->prefix, o->prefix_len) < 0)
        return 1;
    if (o->start != NULL && cmp_bytes(k, n, o->start, o->start_len) < 0)
        return 1;
    if (o->start_after != NULL && cmp_bytes(k, n, o->start_after, o->start_after_len) <= 0)
        return 1;
    return 0;
}

/* At or above the high end of the range. */
static int above(const dort_list_options_t *o, const void *k, size_t n)
{
    if (o->end != NULL && cmp_bytes(k, n, o->end, o->end_len) >= 0)
        return 1;
    if (o->prefix_len && cmp_bytes(k, n, o->prefix, o->prefix_len) > 0 &&
        (n < o->prefix_len || memcmp(k, o->prefix, o->prefix_len) != 0))
        return 1;
    return 0;
}

/* ---- the overlay stream ---- */

typedef struct overlay_s {
    item_t *items;
    size_t n, cap, pos;
    int hides_lmdb; /* some layer in it did delete_all */
} overlay_t;

static int overlay_push(overlay_t *ov, const dort__wentry_t *e)
{
    if (ov->n == ov->cap) {
        size_t cap = ov->cap ? ov->cap * 2 : 32;
        item_t *n = dort__realloc(ov->items, cap * sizeof *n);
        if (n == NULL)
            return DORT_ENOMEM;
        ov->items = n;
        ov->cap = cap;
    }
    item_t *it = &ov->items[ov->n++];
    memset(it, 0, sizeof *it);
    it->key = dort__wentry_key(e);
    it->key_len = e->key_len;
    it->tombstone = e->val_len == DORT__TOMBSTONE;
    it->val = dort__wentry_val(e);
    it->val_len = it->tombstone ? 0 : e->val_len;
    return 0;
}

static int overlay_build(overlay_t *ov, const dort__wset_t **layers, int nlayers,
                         const dort_list_options_t *o)
{
    for (int i = 0; i < nlayers; i++) {
        const dort__wset_t *ws = layers[i];
        for (uint32_t j = 0; j < ws->count; j++) {
            const dort__wentry_t *e = ws->entries[j];
            const unsigned char *k = dort__wentry_key(e);
            if (below(o, k, e->key_len) || above(o, k, e->key_len))
                continue;
            int shadowed = 0;
            for (int n = 0; n < i && !shadowed; n++)
                shadowed = dort__wset_lookup(layers[n], k, e->key_len, e->hash) != NULL;
            if (!shadowed && overlay_push(ov, e) != 0)
                return DORT_ENOMEM;
        }
        if (ws->cleared) {
            ov->hides_lmdb = 1;
            break;
        }
    }
    /* qsort's base must not be NULL even for zero items (C11 7.1.4). */
    if (ov->n > 1)
        qsort(ov->items, ov->n, sizeof *ov->items, o->reverse ? item_cmp_rev : item_cmp);
    return 0;
}

/* ---- the LMDB stream ---- */

typedef struct lstream_s {
    MDB_cursor *cur;
    unsigned char prefix[DORT__PREFIX_SIZE];
    const dort_list_options_t *o;
    MDB_cursor_op step;
    int started, eof;
    MDB_val k, v;      /* the entry under the cursor, not yet consumed */
    int have;
    item_t *group;     /* a sorted long-key group being yielded */
    size_t ngroup, gcap, gpos;
} lstream_t;

static void group_clear(lstream_t *s)
{
    for (size_t i = 0; i < s->ngroup; i++)
        dort__free(s->group[i].owned_key);
    s->ngroup = s->gpos = 0;
}

/* Moves to the next LMDB entry of this actor; 0, or 1 at the end. */
static int lstream_advance(lstream_t *s, MDB_cursor_op op)
{
    int rc = mdb_cursor_get(s->cur, &s->k, &s->v, op);
    s->have = rc == 0 && s->k.mv_size > DORT__PREFIX_SIZE &&
              memcmp(s->k.mv_data, s->prefix, DORT__PREFIX_SIZE) == 0;
    return s->have ? 0 : 1;
}

static int decode(const MDB_val *k, const MDB_val *v, item_t *it, unsigned char *keybuf)
{
    const unsigned char *key, *val;
    size_t key_len, val_len;
    int rc = dort__entry_decode(k->mv_data, k->mv_size, v->mv_data, v->mv_size, keybuf, &key,
                                &key_len, &val, &val_len);
    if (rc != 0)
        return rc;
    memset(it, 0, sizeof *it);
    it->key = key;
    it->key_len = key_len;
    it->val = val;
    it->val_len = val_len;
    return 0;
}

/* Reads the whole group of long keys sharing the head under the cursor. */
static int read_group(lstream_t *s)
{
    unsigned char head[DORT__LONG_HEAD_END];
    memcpy(head, s->k.mv_data, DORT__LONG_HEAD_END);
    group_clear(s);
    while (s->have && dort__key_is_long(s->k.mv_size) &&
           memcmp(s->k.mv_data, head, DORT__LONG_HEAD_END) == 0) {
        if (s->ngroup == s->gcap) {
            size_t cap = s->gcap ? s->gcap * 2 : 8;
            item_t *n = dort__realloc(s->group, cap * sizeof *n);
            if (n == NULL)
                return DORT_ENOMEM;
            s->group = n;
            s->gcap = cap;
        }
        unsigned char *kb = dort__malloc(DORT_STORAGE_MAX_KEY);
        if (kb == NULL)
            return DORT_ENOMEM;
        item_t *it = &s->group[s->ngroup];
        int rc = decode(&s->k, &s->v, it, kb);
        if (rc != 0) {
            dort__free(kb);
            return rc;
        }
        it->owned_key = kb;
        s->ngroup++;
        lstream_advance(s, s->step);
    }
    if (s->ngroup > 1)
        qsort(s->group, s->ngroup, sizeof *s->group, s->o->reverse ? item_cmp_rev : item_cmp);
    return 0;
}

/* Next entry in list order, ignoring bounds; 0 with *out, 1 at the end. */
static int lstream_raw_next(lstream_t *s, item_t *out, unsigned char *keybuf)
{
    if (s->gpos < s->ngroup) {
        *out = s->group[s->gpos++];
        return 0;
    }
    if (!s->have)
        return 1;
    if (dort__key_is_long(s->k.mv_size)) {
        int rc = read_group(s);
        if (rc != 0)
            return rc;
        return lstream_raw_next(s, out, keybuf);
    }
    int rc = decode(&s->k, &s->v, out, keybuf);
    if (rc != 0)
        return rc;
    lstream_advance(s, s->step);
    return 0;
}

/* Positions the cursor at or just before the first entry of the range. */
static void lstream_seek(lstream_t *s)
{
    const dort_list_options_t *o = s->o;
    unsigned char kbuf[DORT__LMDB_KEY_MAX + DORT__LONG_HASH_SIZE];
    MDB_val k = {DORT__PREFIX_SIZE, kbuf};
    memcpy(kbuf, s->prefix, DORT__PREFIX_SIZE);
    const void *b = NULL;
    size_t blen = 0;
    if (!o->reverse) {
        /* The greatest lower bound; keys are truncated to the head length,
         * which only seeks earlier (the filter skips the extra). */
        if (o->prefix_len) {
            b = o->prefix;
            blen = o->prefix_len;
        }
        const void *st = o->start ? o->start : o->start_after;
        size_t stlen = o->start ? o->start_len : o->start_after_len;
        if (st != NULL && (b == NULL || cmp_bytes(st, stlen, b, blen) > 0)) {
            b = st;
            blen = stlen;
        }
    } else if (o->end != NULL) {
        b = o->end;
        blen = o->end_len;
    }
    if (blen > DORT__SHORT_KEY_MAX)
        blen = DORT__SHORT_KEY_MAX;
    if (blen)
        memcpy(kbuf + DORT__PREFIX_SIZE, b, blen);
    k.mv_size = DORT__PREFIX_SIZE + blen;
    if (!o->reverse) {
        s->k = k;
        lstream_advance(s, MDB_SET_RANGE);
        return;
    }
    /* Reverse: seek past every key that can sort below the end (or past the
     * whole actor when there is no end), then walk back; the filter skips
     * what is at or above the end. */
    if (b != NULL) {
        memset(kbuf + k.mv_size, 0xff, DORT__LONG_HASH_SIZE);
        k.mv_size += DORT__LONG_HASH_SIZE;
    } else {
        memset(kbuf + DORT__PREFIX_SIZE, 0xff, DORT__LMDB_KEY_MAX - DORT__PREFIX_SIZE);
        k.mv_size = DORT__LMDB_KEY_MAX;
    }
    s->k = k;
    int rc = mdb_cursor_get(s->cur, &s->k, &s->v, MDB_SET_RANGE);
    if (rc == 0) {
        s->have = s->k.mv_size > DORT__PREFIX_SIZE &&
                  memcmp(s->k.mv_data, s->prefix, DORT__PREFIX_SIZE) == 0;
        if (!s->have)
            lstream_advance(s, MDB_PREV); /* landed on a later actor */
        return;
    }
    lstream_advance(s, MDB_LAST); /* nothing after the seek point */
}

/* ---- the merge ---- */

typedef struct lister_s {
    const dort_list_options_t *o;
    overlay_t ov;
    lstream_t ls;
    int lmdb_on;
    unsigned char keybuf[DORT_STORAGE_MAX_KEY];
    item_t lcur;
    int lhave;
} lister_t;

/* Next LMDB entry inside the range; 0 with l->lcur, 1 when exhausted. */
static int lmdb_next(lister_t *l)
{
    const dort_list_options_t *o = l->o;
    for (;;) {
        int rc = lstream_raw_next(&l->ls, &l->lcur, l->keybuf);
        if (rc != 0)
            return rc;
        const unsigned char *k = l->lcur.key;
        size_t n = l->lcur.key_len;
        int skip = o->reverse ? above(o, k, n) : below(o, k, n);
        int done = o->reverse ? below(o, k, n) : above(o, k, n);
        if (done)
            return 1;
        if (!skip)
            return 0;
    }
}

static int merge(lister_t *l, dort_list_cb cb, void *data)
{
    const dort_list_options_t *o = l->o;
    size_t emitted = 0;
    int rc = 0;
    if (l->lmdb_on) {
        rc = lmdb_next(l);
        l->lhave = rc == 0;
        if (rc > 0)
            rc = 0;
    }
    while (rc == 0 && (o->limit == 0 || emitted < o->limit)) {
        item_t *ov = l->ov.pos < l->ov.n ? &l->ov.items[l->ov.pos] : NULL;
        if (ov == NULL && !l->lhave)
            break;
        int c = 0;
        if (ov != NULL && l->lhave)
            c = cmp_bytes(ov->key, ov->key_len, l->lcur.key, l->lcur.key_len);
        if (o->reverse)
            c = -c;
        item_t pick;
        int from_ov = ov != NULL && (!l->lhave || c <= 0);
        int advance_lmdb = l->lhave && (ov == NULL || c >= 0);
        if (from_ov) {
            pick = *ov;
            l->ov.pos++;
        } else {
            pick = l->lcur;
        }
        if (!pick.tombstone) {
            dort_slice_t k = {(const char *)pick.key, pick.key_len};
            dort_slice_t v = {(const char *)pick.val, pick.val_len};
            emitted++;
            if (cb(data, k, v) != 0)
                break;
        }
        if (advance_lmdb) {
            rc = lmdb_next(l);
            l->lhave = rc == 0;
            if (rc > 0)
                rc = 0;
        }
    }
    return rc;
}

static int check_opts(const dort_list_options_t *o)
{
    if (o->start != NULL && o->start_after != NULL)
        return DORT_EINVAL;
    if ((o->prefix == NULL && o->prefix_len) || o->prefix_len > DORT_STORAGE_MAX_KEY ||
        o->start_len > DORT_STORAGE_MAX_KEY || o->start_after_len > DORT_STORAGE_MAX_KEY ||
        o->end_len > DORT_STORAGE_MAX_KEY)
        return DORT_EKEYTOOLONG;
    return 0;
}

void dort_list_options_init(dort_list_options_t *o)
{
    memset(o, 0, sizeof *o);
}

int dort_storage_list(dort_actor_t *self, const dort_list_options_t *opts, dort_list_cb cb,
                      void *data)
{
    if (self == NULL || cb == NULL)
        return DORT_EINVAL;
    dort_rt_t *rt = self->ns->rt;
    if (!dort__in_turn_of(rt, self))
        return DORT_ENOTINTURN;
    dort_list_options_t defaults;
    if (opts == NULL) {
        dort_list_options_init(&defaults);
        opts = &defaults;
    }
    int rc = check_opts(opts);
    if (rc != 0)
        return rc;
    lister_t *l = dort__calloc(1, sizeof *l);
    if (l == NULL)
        return DORT_ENOMEM;
    l->o = opts;
    l->ls.o = opts;
    l->ls.step = opts->reverse ? MDB_PREV : MDB_NEXT;
    dort__actor_prefix(self, l->ls.prefix);
    const dort__wset_t *layers[DORT__MAX_TXN_DEPTH + 3];
    int nl = 0;
    for (int i = (int)rt->turn.depth; i >= 0; i--)
        layers[nl++] = &rt->turn.layers[i];
    if (self->open_ws != NULL)
        layers[nl++] = self->open_ws;
    if (self->inflight_ws != NULL)
        layers[nl++] = self->inflight_ws;
    rc = overlay_build(&l->ov, layers, nl, opts);
    MDB_txn *txn = NULL;
    if (rc == 0 && !l->ov.hides_lmdb) {
        rc = dort__store_rtxn(&rt->store, &txn);
        if (rc == 0)
            rc = dort__lmdb_err(mdb_cursor_open(txn, rt->store.kv, &l->ls.cur));
        if (rc == 0) {
            l->lmdb_on = 1;
            lstream_seek(&l->ls);
        }
    }
    if (rc == 0)
        rc = merge(l, cb, data);
    if (l->ls.cur != NULL)
        mdb_cursor_close(l->ls.cur);
    group_clear(&l->ls);
    dort__free(l->ls.group);
    dort__free(l->ov.items);
    dort__free(l);
    return rc;
}
