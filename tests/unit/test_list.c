/* test_list.c - dort_storage_list (runtime/storage_list.c) against a
 * reference model.
 *
 * An actor of this file runs seeded random operations in its turns (put,
 * delete, batches, delete_all, get, list with random bounds, nested
 * transactions with commit/rollback, failing turns) and mirrors every write
 * in a sorted in-memory model, layered like the runtime's transactions.
 * Every get and list is compared with the model. Keys include 0x00/0xff
 * bytes, keys that are prefixes of each other, and long keys (up to 2048
 * bytes) that share their first 455 bytes: LMDB keys stop at 511 bytes, so
 * those are stored as head + digest (keycodec_internal.h) and the listing
 * must restore exact byte order. The driver runs turns one at a time, in
 * bursts, and with the writer thread held, so reads merge writes at every
 * stage: the current turn (and its transactions), the actor's sealed writes
 * in the open batch, the batch the writer is committing, and LMDB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rt_internal.h"
#include "th.h"

#define HEAD DORT__SHORT_KEY_MAX /* 455: bytes of a long key kept in the LMDB key */
#define TAIL_MAX (DORT_STORAGE_MAX_KEY - HEAD)
#define MAX_DEPTH 4 /* transactions the random actor nests */
#define MAX_ROUND 8 /* requests in flight at once */

/* ---- undefined behaviour fails the test that ran into it ---- */

/* UBSan only prints by default, so a sanitizer run would pass with UB in
 * the listing code. The sanitizer runtime calls this weak hook for every
 * report (once per source location); without UBSan nothing calls it. */
void __ubsan_on_report(void);
static int ub_reports, ub_seen;

void __ubsan_on_report(void)
{
    ub_reports++;
}

static int check_ub(void **state)
{
    (void)state;
    int fresh = ub_reports - ub_seen;
    ub_seen = ub_reports;
    if (fresh != 0)
        print_error("%d undefined-behaviour report(s) during this test (see above)\n", fresh);
    return fresh == 0 ? 0 : -1;
}

/* ---- PRNG: xorshift64*, fixed seeds ---- */

static uint64_t rng;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dULL;
}

static size_t below_n(size_t n)
{
    return (size_t)(rnd() % n);
}

static int chance(int percent)
{
    return (int)below_n(100) < percent;
}

/* ---- bytes ---- */

static int cmp_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    return alen < blen ? -1 : alen > blen;
}

/* Two 455-byte heads that differ only in their last byte (so their groups
 * are neighbours) and one that differs early; all contain 0x00 and 0xff. */
static unsigned char head1[HEAD], head2[HEAD], head3[HEAD];
/* A long tail, so long keys of one group share much more than the head. */
static unsigned char tail_base[TAIL_MAX];

static const unsigned char alphabet[] = {0x00, 0x01, 'a', 'b', 0x7f, 0x80, 0xfe, 0xff};

static void init_heads(void)
{
    for (size_t i = 0; i < HEAD; i++)
        head1[i] = i % 7 == 0 ? 0x00 : i % 7 == 1 ? 0xff : (unsigned char)('a' + i % 26);
    memcpy(head2, head1, HEAD);
    head2[HEAD - 1]++;
    memcpy(head3, head1, HEAD);
    head3[200] ^= 0x80;
    for (size_t i = 0; i < TAIL_MAX; i++)
        tail_base[i] = alphabet[(i * 5 + i / 7) % sizeof alphabet];
}

/* ---- the reference model: a sorted array of shared immutable entries ---- */

typedef struct ent_s {
    int refs;
    size_t klen, vlen;
    unsigned char *val;
    unsigned char key[];
} ent_t;

typedef struct model_s {
    ent_t **e;
    size_t n, cap;
} model_t;

static void ent_unref(ent_t *e)
{
    if (--e->refs == 0)
        free(e);
}

/* Position of `key`, or where it would be inserted; 1 if present. */
static int model_find(const model_t *m, const void *key, size_t klen, size_t *pos)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_bytes(m->e[mid]->key, m->e[mid]->klen, key, klen);
        if (c == 0) {
            *pos = mid;
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return 0;
}

static void model_put(model_t *m, const void *key, size_t klen, const void *val, size_t vlen)
{
    ent_t *e = malloc(sizeof *e + klen + vlen);
    assert_non_null(e);
    e->refs = 1;
    e->klen = klen;
    e->vlen = vlen;
    e->val = e->key + klen;
    memcpy(e->key, key, klen);
    if (vlen)
        memcpy(e->val, val, vlen);
    size_t pos;
    if (model_find(m, key, klen, &pos)) {
        ent_unref(m->e[pos]);
        m->e[pos] = e;
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->e = realloc(m->e, m->cap * sizeof *m->e);
        assert_non_null(m->e);
    }
    memmove(m->e + pos + 1, m->e + pos, (m->n - pos) * sizeof *m->e);
    m->e[pos] = e;
    m->n++;
}

static int model_del(model_t *m, const void *key, size_t klen)
{
    size_t pos;
    if (!model_find(m, key, klen, &pos))
        return 0;
    ent_unref(m->e[pos]);
    memmove(m->e + pos, m->e + pos + 1, (m->n - pos - 1) * sizeof *m->e);
    m->n--;
    return 1;
}

static void model_clear(model_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        ent_unref(m->e[i]);
    m->n = 0;
}

static void model_free(model_t *m)
{
    model_clear(m);
    free(m->e);
    memset(m, 0, sizeof *m);
}

static void model_copy(model_t *dst, const model_t *src)
{
    dst->n = dst->cap = src->n;
    dst->e = malloc((src->n ? src->n : 1) * sizeof *dst->e);
    assert_non_null(dst->e);
    for (size_t i = 0; i < src->n; i++) {
        dst->e[i] = src->e[i];
        dst->e[i]->refs++;
    }
}

/* ---- state shared by the actor's turns and the driver ---- */

static struct {
    uint64_t seed;
    model_t cur;                  /* what storage must show now */
    model_t saved[MAX_DEPTH + 1]; /* [0]: turn start, [i]: before the i-th begin */
    int nsaved;
    uint64_t turns, ops;    /* counters over the whole seed */
    int outcome[MAX_ROUND]; /* expected status per request of a round */
    int round_base;         /* g.turns at the start of the round */
    int nerr;
    char err[2048];
    /* How often a turn started with writes at each stage. */
    uint64_t seen_open, seen_inflight, seen_both, seen_lmdb_only, seen_cleared;
    uint64_t lists, list_items, gets, long_keys_listed;
    size_t max_keys;
    dort_actor_t *self;
} g;

static void fail_at(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail_at(const char *fmt, ...)
{
    if (g.nerr++ != 0)
        return; /* the first mismatch is the one worth reading */
    int n =
        snprintf(g.err, sizeof g.err, "seed %llu, turn %llu, op %llu: ", (unsigned long long)g.seed,
                 (unsigned long long)g.turns, (unsigned long long)g.ops);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g.err + n, sizeof g.err - (size_t)n, fmt, ap);
    va_end(ap);
}

/* A short printable description of a key for failure messages. */
static const char *desc(const unsigned char *k, size_t n)
{
    static char bufs[4][160];
    static int which;
    char *b = bufs[which++ & 3];
    int o = snprintf(b, 160, "len %zu [", n);
    for (size_t i = 0; i < n && i < 6; i++)
        o += snprintf(b + o, (size_t)(160 - o), "%02x", k[i]);
    if (n > 6) {
        /* ...and the last bytes, where long keys of one group differ */
        o += snprintf(b + o, (size_t)(160 - o), "..");
        for (size_t i = n > 18 ? n - 12 : 6; i < n; i++)
            o += snprintf(b + o, (size_t)(160 - o), "%02x", k[i]);
    }
    snprintf(b + o, (size_t)(160 - o), "]");
    return b;
}

/* ---- random keys, values and list options ---- */

static unsigned char kbuf[DORT_STORAGE_MAX_KEY + 1];

static size_t gen_short(unsigned char *out)
{
    static const int lens[] = {1, 1, 2, 2, 2, 3, 3, 4};
    size_t n = (size_t)lens[below_n(8)];
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[below_n(sizeof alphabet)];
    return n;
}

static size_t gen_long(unsigned char *out)
{
    static const size_t tails[] = {1, 2, 3, 4, 50, 51, 545, TAIL_MAX};
    const unsigned char *heads[] = {head1, head1, head2, head3};
    memcpy(out, heads[below_n(4)], HEAD);
    size_t tl = tails[below_n(8)];
    memcpy(out + HEAD, tail_base, tl);
    if (tl <= 4) {
        static const unsigned char few[] = {0x00, 'a', 0xff};
        for (size_t i = 0; i < tl; i++)
            out[HEAD + i] = few[below_n(3)];
    } else if (chance(50)) {
        out[HEAD + tl - 1] = alphabet[below_n(sizeof alphabet)];
    }
    return HEAD + tl;
}

/* Keys around the 455-byte boundary that are prefixes of long keys. */
static size_t gen_near_head(unsigned char *out)
{
    static const size_t lens[] = {1, 2, 100, HEAD - 1, HEAD, HEAD};
    size_t n = lens[below_n(6)];
    memcpy(out, chance(75) ? head1 : head2, n);
    if (n == HEAD - 1 && chance(50))
        out[n++] = 0xff; /* sorts after every long key of head1's group */
    return n;
}

static size_t pick_existing(unsigned char *out)
{
    const ent_t *e = g.cur.e[below_n(g.cur.n)];
    memcpy(out, e->key, e->klen);
    return e->klen;
}

static size_t gen_key(unsigned char *out)
{
    int r = (int)below_n(100);
    if (r < 20 && g.cur.n > 0)
        return pick_existing(out);
    if (r < 50)
        return gen_short(out);
    if (r < 62)
        return gen_near_head(out);
    return gen_long(out);
}

/* A key for get/delete: mostly one that exists. */
static size_t gen_target(unsigned char *out)
{
    return g.cur.n > 0 && chance(70) ? pick_existing(out) : gen_key(out);
}

static unsigned char vbuf[4096];

static size_t gen_val(void)
{
    size_t n;
    int r = (int)below_n(100);
    if (r < 10)
        return 0;
    n = r < 92 ? 8 + below_n(24) : 300 + below_n(sizeof vbuf - 300);
    /* The op counter first, so a stale value can never look right. */
    memcpy(vbuf, &g.ops, sizeof g.ops);
    for (size_t i = sizeof g.ops; i < n; i++)
        vbuf[i] = (unsigned char)rnd();
    return n;
}

/* A bound for start/start_after/end: near existing keys and boundaries. */
static size_t gen_bound(unsigned char *out)
{
    int r = (int)below_n(100);
    size_t n;
    if (g.cur.n == 0 || r < 20)
        return gen_key(out);
    n = pick_existing(out);
    if (r < 50)
        return n;
    if (r < 75)
        return 1 + below_n(n); /* a prefix of an existing key */
    if (n < DORT_STORAGE_MAX_KEY) {
        out[n++] = chance(50) ? 0x00 : 0xff; /* just after it */
        return n;
    }
    return n;
}

static size_t gen_prefix(unsigned char *out)
{
    int r = (int)below_n(100);
    if (r < 45 && g.cur.n > 0) {
        size_t n = pick_existing(out);
        /* Prefixes longer than the head make the seek truncate. */
        return 1 + below_n(n);
    }
    if (r < 70) {
        out[0] = alphabet[below_n(sizeof alphabet)];
        if (chance(40)) {
            out[1] = alphabet[below_n(sizeof alphabet)];
            return 2;
        }
        return 1;
    }
    if (r < 85)
        return gen_near_head(out);
    size_t n = gen_long(out);
    return HEAD + 1 + below_n(n - HEAD);
}

/* ---- comparing a listing with the model ---- */

typedef struct got_s {
    unsigned char *key, *val;
    size_t klen, vlen;
} got_t;

typedef struct listing_s {
    got_t *items;
    size_t n, cap;
    size_t stop_after; /* 0: never stop */
} listing_t;

static int collect(void *data, dort_slice_t k, dort_slice_t v)
{
    listing_t *l = data;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->items = realloc(l->items, l->cap * sizeof *l->items);
    }
    got_t *it = &l->items[l->n++];
    it->klen = k.len;
    it->vlen = v.len;
    it->key = malloc(k.len + v.len + 1);
    it->val = it->key + k.len;
    memcpy(it->key, k.ptr, k.len);
    if (v.len)
        memcpy(it->val, v.ptr, v.len);
    return l->stop_after != 0 && l->n >= l->stop_after;
}

static void listing_free(listing_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].key);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int in_range(const dort_list_options_t *o, const ent_t *e)
{
    if (o->prefix_len && (e->klen < o->prefix_len || memcmp(e->key, o->prefix, o->prefix_len) != 0))
        return 0;
    if (o->start && cmp_bytes(e->key, e->klen, o->start, o->start_len) < 0)
        return 0;
    if (o->start_after && cmp_bytes(e->key, e->klen, o->start_after, o->start_after_len) <= 0)
        return 0;
    if (o->end && cmp_bytes(e->key, e->klen, o->end, o->end_len) >= 0)
        return 0;
    return 1;
}

static const char *opts_desc(const dort_list_options_t *o, size_t stop_after)
{
    static char b[900];
    snprintf(b, sizeof b,
             "prefix %s start %s start_after %s end %s limit %zu reverse %d stop_after %zu",
             o->prefix_len ? desc(o->prefix, o->prefix_len) : "-",
             o->start ? desc(o->start, o->start_len) : "-",
             o->start_after ? desc(o->start_after, o->start_after_len) : "-",
             o->end ? desc(o->end, o->end_len) : "-", o->limit, o->reverse, stop_after);
    return b;
}

/* Lists with `o` (NULL: dort's defaults, compared as all-default options)
 * and compares the result with the model. */
static void check_list(dort_actor_t *self, const dort_list_options_t *o, size_t stop_after)
{
    listing_t got = {.stop_after = stop_after};
    int rc = dort_storage_list(self, o, collect, &got);
    dort_list_options_t defaults;
    if (o == NULL) {
        dort_list_options_init(&defaults);
        o = &defaults;
    }
    g.lists++;
    if (o->start != NULL && o->start_after != NULL) {
        if (rc != DORT_EINVAL || got.n != 0)
            fail_at("list with start and start_after: rc %d, %zu items", rc, got.n);
        listing_free(&got);
        return;
    }
    if (rc != 0) {
        fail_at("list failed with %s (%s)", dort_err_name(rc), opts_desc(o, stop_after));
        listing_free(&got);
        return;
    }
    size_t max = o->limit;
    if (stop_after != 0 && (max == 0 || stop_after < max))
        max = stop_after;
    size_t want = 0;
    for (size_t j = 0; j < g.cur.n && (max == 0 || want < max); j++) {
        const ent_t *e = g.cur.e[o->reverse ? g.cur.n - 1 - j : j];
        if (!in_range(o, e))
            continue;
        if (want >= got.n) {
            fail_at("list returned %zu items, missing #%zu %s (%s)", got.n, want,
                    desc(e->key, e->klen), opts_desc(o, stop_after));
            listing_free(&got);
            return;
        }
        const got_t *it = &got.items[want];
        if (cmp_bytes(it->key, it->klen, e->key, e->klen) != 0) {
            fail_at("list item #%zu is %s, want %s (%s)", want, desc(it->key, it->klen),
                    desc(e->key, e->klen), opts_desc(o, stop_after));
            listing_free(&got);
            return;
        }
        if (cmp_bytes(it->val, it->vlen, e->val, e->vlen) != 0) {
            fail_at("list item #%zu %s: value len %zu, want len %zu (%s)", want,
                    desc(e->key, e->klen), it->vlen, e->vlen, opts_desc(o, stop_after));
            listing_free(&got);
            return;
        }
        g.long_keys_listed += e->klen > HEAD;
        want++;
    }
    if (got.n != want)
        fail_at("list returned %zu items, want %zu; extra #%zu %s (%s)", got.n, want, want,
                desc(got.items[want].key, got.items[want].klen), opts_desc(o, stop_after));
    g.list_items += got.n;
    listing_free(&got);
}

static void random_list(dort_actor_t *self)
{
    static unsigned char pbuf[DORT_STORAGE_MAX_KEY + 1], sbuf[DORT_STORAGE_MAX_KEY + 1],
        ebuf[DORT_STORAGE_MAX_KEY + 1];
    dort_list_options_t o;
    dort_list_options_init(&o);
    if (chance(40)) {
        o.prefix = pbuf;
        o.prefix_len = gen_prefix(pbuf);
    }
    int r = (int)below_n(100);
    if (r < 30) {
        o.start = sbuf;
        o.start_len = gen_bound(sbuf);
    } else if (r < 55) {
        o.start_after = sbuf;
        o.start_after_len = gen_bound(sbuf);
    } else if (r < 57) {
        o.start = sbuf;
        o.start_len = gen_bound(sbuf);
        o.start_after = sbuf; /* both: refused */
        o.start_after_len = o.start_len;
    }
    if (chance(35)) {
        o.end = ebuf;
        o.end_len = gen_bound(ebuf);
    }
    if (chance(40))
        o.limit = 1 + below_n(8);
    o.reverse = chance(50);
    check_list(self, &o, chance(10) ? 1 + below_n(4) : 0);
}

/* ---- the random actor ---- */

static void check_get(dort_actor_t *self, const unsigned char *key, size_t klen)
{
    dort_slice_t v = {NULL, 0};
    int rc = dort_storage_get(self, key, klen, &v);
    size_t pos;
    int present = model_find(&g.cur, key, klen, &pos);
    g.gets++;
    if (!present) {
        if (rc != DORT_ENOENT)
            fail_at("get %s: %s, want DORT_ENOENT", desc(key, klen), dort_err_name(rc));
        return;
    }
    const ent_t *e = g.cur.e[pos];
    if (rc != 0)
        fail_at("get %s: %s, want a value", desc(key, klen), dort_err_name(rc));
    else if (cmp_bytes(v.ptr, v.len, e->val, e->vlen) != 0)
        fail_at("get %s: value len %zu, want len %zu", desc(key, klen), v.len, e->vlen);
}

static void op_put(dort_actor_t *self)
{
    size_t kl = gen_key(kbuf), vl = gen_val();
    int rc = dort_storage_put(self, kbuf, kl, vbuf, vl);
    if (rc != 0)
        fail_at("put %s: %s", desc(kbuf, kl), dort_err_name(rc));
    model_put(&g.cur, kbuf, kl, vbuf, vl);
}

static void op_put_batch(dort_actor_t *self)
{
    static unsigned char keys[6][DORT_STORAGE_MAX_KEY];
    static unsigned char vals[6][64];
    dort_kv_t kvs[6];
    size_t n = 1 + below_n(6);
    for (size_t i = 0; i < n; i++) {
        kvs[i].key = keys[i];
        kvs[i].key_len = gen_key(keys[i]);
        size_t vl = below_n(sizeof vals[i]);
        memcpy(vals[i], &g.ops, sizeof g.ops < vl ? sizeof g.ops : vl);
        for (size_t j = sizeof g.ops; j < vl; j++)
            vals[i][j] = (unsigned char)(i + j);
        kvs[i].value = vals[i];
        kvs[i].value_len = vl;
    }
    int rc = dort_storage_put_batch(self, kvs, n);
    if (rc != 0)
        fail_at("put_batch of %zu: %s", n, dort_err_name(rc));
    for (size_t i = 0; i < n; i++) /* in order: a repeated key keeps the last value */
        model_put(&g.cur, kvs[i].key, kvs[i].key_len, kvs[i].value, kvs[i].value_len);
}

static void op_delete(dort_actor_t *self)
{
    size_t kl = gen_target(kbuf);
    int existed = -1;
    int rc = dort_storage_delete(self, kbuf, kl, &existed);
    int want = model_del(&g.cur, kbuf, kl);
    if (rc != 0 || existed != want)
        fail_at("delete %s: rc %d existed %d, want existed %d", desc(kbuf, kl), rc, existed, want);
}

static void op_delete_batch(dort_actor_t *self)
{
    static unsigned char keys[6][DORT_STORAGE_MAX_KEY];
    dort_kv_t kvs[6];
    size_t n = 1 + below_n(6), want = 0, deleted = 999;
    for (size_t i = 0; i < n; i++) {
        kvs[i].key = keys[i];
        kvs[i].key_len = gen_target(keys[i]);
        kvs[i].value = NULL;
        kvs[i].value_len = 0;
    }
    int rc = dort_storage_delete_batch(self, kvs, n, &deleted);
    for (size_t i = 0; i < n; i++)
        want += (size_t)model_del(&g.cur, kvs[i].key, kvs[i].key_len);
    if (rc != 0 || deleted != want)
        fail_at("delete_batch of %zu: rc %d deleted %zu, want %zu", n, rc, deleted, want);
}

static void op_get_batch(dort_actor_t *self)
{
    static unsigned char keys[6][DORT_STORAGE_MAX_KEY];
    dort_kv_t kvs[6];
    dort_slice_t vals[6];
    size_t n = 1 + below_n(6);
    for (size_t i = 0; i < n; i++) {
        kvs[i].key = keys[i];
        kvs[i].key_len = gen_target(keys[i]);
    }
    int rc = dort_storage_get_batch(self, kvs, n, vals);
    if (rc != 0) {
        fail_at("get_batch of %zu: %s", n, dort_err_name(rc));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t pos;
        int present = model_find(&g.cur, kvs[i].key, kvs[i].key_len, &pos);
        if (present != (vals[i].ptr != NULL) ||
            (present &&
             cmp_bytes(vals[i].ptr, vals[i].len, g.cur.e[pos]->val, g.cur.e[pos]->vlen) != 0))
            fail_at("get_batch item %zu %s: present %d got %s len %zu", i,
                    desc(kvs[i].key, kvs[i].key_len), present, vals[i].ptr ? "value" : "NULL",
                    vals[i].len);
    }
}

static void txn_begin(dort_actor_t *self)
{
    int rc = dort_storage_txn_begin(self);
    if (rc != 0)
        fail_at("txn_begin: %s", dort_err_name(rc));
    model_copy(&g.saved[g.nsaved++], &g.cur);
}

static void txn_end(dort_actor_t *self, int commit)
{
    int rc = commit ? dort_storage_txn_commit(self) : dort_storage_txn_rollback(self);
    if (rc != 0)
        fail_at("txn_%s: %s", commit ? "commit" : "rollback", dort_err_name(rc));
    model_t *s = &g.saved[--g.nsaved];
    if (commit) {
        model_free(s);
    } else {
        model_free(&g.cur);
        g.cur = *s;
        memset(s, 0, sizeof *s);
    }
}

static void random_op(dort_actor_t *self)
{
    g.ops++;
    int r = (int)below_n(1000);
    int depth = g.nsaved - 1;
    /* Puts outweigh deletes and delete_all is rare, so the actor keeps a
     * few hundred keys: long-key groups get big and lists cross pages. */
    if (r < 300)
        op_put(self);
    else if (r < 350)
        op_put_batch(self);
    else if (r < 440)
        op_delete(self);
    else if (r < 460)
        op_delete_batch(self);
    else if (r < 462) {
        if (dort_storage_delete_all(self) != 0)
            fail_at("delete_all failed");
        model_clear(&g.cur);
    } else if (r < 580) {
        size_t kl = gen_target(kbuf);
        check_get(self, kbuf, kl);
    } else if (r < 610)
        op_get_batch(self);
    else if (r < 900)
        random_list(self);
    else if (r < 940 && depth < MAX_DEPTH)
        txn_begin(self);
    else if (r < 970 && depth > 0)
        txn_end(self, 1);
    else if (depth > 0)
        txn_end(self, 0);
    else
        random_list(self);
}

/* Records which stages hold this actor's writes as the turn begins. */
static void note_stages(dort_actor_t *self)
{
    int open = self->open_ws != NULL && dort__wset_dirty(self->open_ws);
    int inflight = self->inflight_ws != NULL && dort__wset_dirty(self->inflight_ws);
    g.seen_open += open;
    g.seen_inflight += inflight;
    g.seen_both += open && inflight;
    g.seen_lmdb_only += !open && !inflight && g.cur.n > 0;
    g.seen_cleared += (open && self->open_ws->cleared) || (inflight && self->inflight_ws->cleared);
}

static int random_turn(dort_actor_t *self, dort_call_t *call)
{
    int slot = (int)(g.turns - (uint64_t)g.round_base);
    g.turns++;
    note_stages(self);
    if (g.cur.n > g.max_keys)
        g.max_keys = g.cur.n;
    model_copy(&g.saved[0], &g.cur);
    g.nsaved = 1;
    size_t nops = 4 + below_n(20);
    /* Every 100th turn wipes the actor at some point, so that cleared sets
     * sit in every stage now and then whatever the random mix does. */
    size_t wipe_at = g.turns % 100 == 50 ? below_n(nops) : SIZE_MAX;
    for (size_t i = 0; i < nops; i++) {
        if (i == wipe_at) {
            g.ops++;
            if (dort_storage_delete_all(self) != 0)
                fail_at("delete_all failed");
            model_clear(&g.cur);
            continue;
        }
        random_op(self);
    }
    int outcome = 0, rc = 0;
    if (g.nsaved > 1 && chance(15)) {
        /* Leave a transaction open: the runtime fails the turn. */
        outcome = DORT_EHANDLER;
    } else {
        while (g.nsaved > 1)
            txn_end(self, chance(60));
        if (chance(7)) {
            outcome = DORT_EHANDLER;
            rc = -1;
        }
    }
    if (rc == 0 || chance(50))
        dort_call_respond_body(call, 200, NULL, NULL, 0); /* dropped if the turn fails */
    if (outcome != 0) {
        for (int i = 1; i < g.nsaved; i++)
            model_free(&g.saved[i]);
        model_free(&g.cur);
        g.cur = g.saved[0];
    } else {
        for (int i = 0; i < g.nsaved; i++)
            model_free(&g.saved[i]);
    }
    memset(g.saved, 0, sizeof g.saved);
    g.nsaved = 0;
    if (slot >= 0 && slot < MAX_ROUND)
        g.outcome[slot] = outcome;
    /* The driver often waits for a turn to have run while its answer is
     * held (writer parked): nothing else would end the loop iteration, and
     * th_run_until's UV_RUN_ONCE would sleep in poll until the next timer. */
    uv_stop(dort_rt_loop(dort_actor_rt(self)));
    return rc;
}

/* Everything at once: a full listing both ways and a get of every key. */
static int verify_turn(dort_actor_t *self, dort_call_t *call)
{
    dort_list_options_t o;
    dort_list_options_init(&o);
    check_list(self, &o, 0);
    o.reverse = 1;
    check_list(self, &o, 0);
    check_list(self, NULL, 0);
    for (size_t i = 0; i < g.cur.n; i++)
        check_get(self, g.cur.e[i]->key, g.cur.e[i]->klen);
    return dort_call_respond_body(call, 200, NULL, NULL, 0);
}

/* ---- deterministic cases run a function as the turn ---- */

static void (*fixed_fn)(dort_actor_t *self);
static const char *fixed_arg; /* data for fixed_fn */

static int lst_fetch(dort_actor_t *self, dort_call_t *call)
{
    g.self = self;
    if (th_path_is(call, "/random"))
        return random_turn(self, call);
    if (th_path_is(call, "/verify"))
        return verify_turn(self, call);
    fixed_fn(self);
    return dort_call_respond_body(call, 200, NULL, NULL, 0);
}

static const dort_class_t lst_class = {.name = "Lst", .fetch = lst_fetch};
static const dort_class_t *const classes[] = {&lst_class, NULL};

static void options(dort_rt_options_t *o, const char *dir)
{
    th_options(o, dir);
    if (dir != NULL)
        o->durability = DORT_DURABILITY_RELAXED; /* fsync per commit only costs time */
    /* g.self must stay a live actor */
    o->idle_timeout_ms = -1;
}

/* ---- neighbours: other actors whose keys sit right next to ours ---- */

static void put_b(dort_actor_t *self, const void *k, size_t kl, const char *v);

/* Extreme keys, so that a listing that overruns the actor's range in
 * either direction (a reverse seek past the end, a group read across the
 * prefix) would show a neighbour's key. */
static void fill_extremes(dort_actor_t *self)
{
    static unsigned char k[DORT_STORAGE_MAX_KEY];
    memset(k, 0xff, sizeof k);
    put_b(self, k, 1, fixed_arg);
    put_b(self, k, 4, fixed_arg);
    put_b(self, k, HEAD, fixed_arg);
    put_b(self, k, HEAD + 1, fixed_arg);
    put_b(self, k, DORT_STORAGE_MAX_KEY, fixed_arg);
    put_b(self, "\x00", 1, fixed_arg);
    memcpy(k, head1, HEAD);
    put_b(self, k, HEAD, fixed_arg);
    k[HEAD] = 'a';
    put_b(self, k, HEAD + 1, fixed_arg);
    memset(k + HEAD, 0x00, TAIL_MAX);
    put_b(self, k, DORT_STORAGE_MAX_KEY, fixed_arg);
}

static void run_fixed(dort_rt_t *rt, const char *name, void (*fn)(dort_actor_t *self));

/* Fills neighbours n0..n7 and checks that the random actor has one on
 * each side in LMDB order (ids are fixed, so this holds or never does). */
static void add_neighbours(dort_rt_t *rt)
{
    dort_ns_t *ns = dort_rt_namespace(rt, "Lst");
    dort_id_t mine, other;
    assert_int_equal(dort_id_from_name(ns, "rand", 4, &mine), 0);
    int lower = 0, higher = 0;
    for (int i = 0; i < 8; i++) {
        char name[8];
        snprintf(name, sizeof name, "n%d", i);
        assert_int_equal(dort_id_from_name(ns, name, strlen(name), &other), 0);
        int c = memcmp(other.bytes, mine.bytes, DORT_ID_SIZE);
        lower += c < 0;
        higher += c > 0;
        fixed_arg = "neighbour";
        run_fixed(rt, name, fill_extremes);
    }
    assert_true(lower > 0 && higher > 0);
}

/* ---- the random driver ---- */

typedef struct round_s {
    dort_rt_t *rt;
    th_result_t r[MAX_ROUND];
    int n;
    uint64_t turns_goal;
} round_t;

static int round_done(void *data)
{
    round_t *rd = data;
    for (int i = 0; i < rd->n; i++)
        if (!rd->r[i].done)
            return 0;
    return 1;
}

static int turns_reached(void *data)
{
    round_t *rd = data;
    return g.turns >= rd->turns_goal;
}

static void send_turn(round_t *rd)
{
    assert_true(rd->n < MAX_ROUND);
    assert_int_equal(th_send(rd->rt, "Lst", "rand", "POST", "/random", NULL, &rd->r[rd->n]), 0);
    rd->n++;
    rd->turns_goal++;
}

static void run_turns(round_t *rd)
{
    assert_true(th_run_until(rd->rt, turns_reached, rd, 10000));
}

static void check_round(round_t *rd)
{
    assert_true(th_run_until(rd->rt, round_done, rd, 10000));
    if (g.nerr != 0)
        print_error("%d mismatches; first: %s\n", g.nerr, g.err);
    assert_int_equal(g.nerr, 0);
    for (int i = 0; i < rd->n; i++) {
        if (rd->r[i].status != g.outcome[i])
            print_error("seed %llu request %d of round: status %s, want %s\n",
                        (unsigned long long)g.seed, i, dort_err_name(rd->r[i].status),
                        dort_err_name(g.outcome[i]));
        assert_int_equal(rd->r[i].status, g.outcome[i]);
        if (g.outcome[i] == 0)
            assert_int_equal(rd->r[i].http_status, 200);
    }
}

static void begin_round(round_t *rd, dort_rt_t *rt)
{
    rd->rt = rt;
    rd->n = 0;
    rd->turns_goal = g.turns;
    g.round_base = (int)g.turns;
}

static void verify(dort_rt_t *rt)
{
    th_result_t r;
    assert_int_equal(th_fetch(rt, "Lst", "rand", "GET", "/verify", NULL, &r), 0);
    if (g.nerr != 0)
        print_error("%d mismatches; first: %s\n", g.nerr, g.err);
    assert_int_equal(g.nerr, 0);
}

static void run_seed(uint64_t seed, int turns)
{
    memset(&g, 0, sizeof g);
    g.seed = seed;
    rng = seed;
    char *dir = th_mkdtemp();
    assert_non_null(dir);
    dort_rt_options_t o;
    options(&o, dir);
    dort_rt_t *rt = th_start(&o, classes);
    assert_non_null(rt);
    add_neighbours(rt);
    /* The driver has its own stream so that the actor's choices depend on
     * the seed only, not on how turns were grouped. */
    uint64_t drv = seed * 0x9e3779b97f4a7c15ULL + 1;
    round_t rd;
    while (g.turns < (uint64_t)turns) {
        drv ^= drv << 13;
        drv ^= drv >> 7;
        drv ^= drv << 17;
        int mode = (int)(drv % 4), k = 2 + (int)((drv >> 8) % 4);
        begin_round(&rd, rt);
        switch (mode) {
        case 0: /* one at a time: everything older is in LMDB */
            send_turn(&rd);
            break;
        case 1: /* a burst: later turns see earlier ones sealed, not committed */
            for (int i = 0; i < k; i++)
                send_turn(&rd);
            break;
        default:
            /* Writer held: the first turn's batch waits at the writer while
             * later turns seal into the next batch and read through both. */
            dort__writer_set_hold(&rt->writer, 1);
            send_turn(&rd);
            run_turns(&rd);
            for (int i = 0; i < k; i++) {
                send_turn(&rd);
                run_turns(&rd);
            }
            dort__writer_set_hold(&rt->writer, 0);
            if (mode == 3) /* and a burst while the held batch commits */
                for (int i = 0; i < 2; i++)
                    send_turn(&rd);
            break;
        }
        check_round(&rd);
    }
    verify(rt);
    /* Reopened: the model is exactly what LMDB holds. */
    th_stop(rt);
    rt = th_start(&o, classes);
    assert_non_null(rt);
    verify(rt);
    th_stop(rt);
    th_rmdir(dir);
    free(dir);

    /* The run must have exercised what it claims to, or it proves little. */
    print_message("seed %llu: %llu turns, %llu ops, %llu lists (%llu items, %llu long), "
                  "%llu gets, %zu keys at most; turns seeing open %llu inflight %llu both %llu "
                  "lmdb-only %llu cleared %llu\n",
                  (unsigned long long)seed, (unsigned long long)g.turns, (unsigned long long)g.ops,
                  (unsigned long long)g.lists, (unsigned long long)g.list_items,
                  (unsigned long long)g.long_keys_listed, (unsigned long long)g.gets, g.max_keys,
                  (unsigned long long)g.seen_open, (unsigned long long)g.seen_inflight,
                  (unsigned long long)g.seen_both, (unsigned long long)g.seen_lmdb_only,
                  (unsigned long long)g.seen_cleared);
    assert_true(g.seen_open >= 20);
    assert_true(g.seen_inflight >= 20);
    assert_true(g.seen_both >= 10);
    assert_true(g.seen_lmdb_only >= 20);
    assert_true(g.seen_cleared >= 2);
    assert_true(g.max_keys >= 100);
    assert_true(g.long_keys_listed >= 1000);
    model_free(&g.cur);
}

static void random_seed_1(void **state)
{
    (void)state;
    run_seed(1, 1500);
}

static void random_seed_2(void **state)
{
    (void)state;
    run_seed(0xfeedface, 1500);
}

static void random_seed_3(void **state)
{
    (void)state;
    run_seed(20250101, 1500);
}

/* ---- deterministic cases ---- */

static char res[16][1024];
static int nres;

/* Renders a key readably: the long test heads as H1/H2, runs as x*n, other
 * bytes as \xNN. */
static size_t render(char *out, size_t cap, const unsigned char *k, size_t n)
{
    size_t o = 0, i = 0;
    if (n >= HEAD && memcmp(k, head1, HEAD) == 0) {
        o += (size_t)snprintf(out + o, cap - o, "H1");
        i = HEAD;
    } else if (n >= HEAD && memcmp(k, head2, HEAD) == 0) {
        o += (size_t)snprintf(out + o, cap - o, "H2");
        i = HEAD;
    } else if (n > 8 && memcmp(k, head1, n) == 0) {
        return (size_t)snprintf(out, cap, "H1[:%zu]", n);
    }
    while (i < n && o + 16 < cap) {
        size_t run = 1;
        while (i + run < n && k[i + run] == k[i])
            run++;
        unsigned char c = k[i];
        int plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (run > 4) {
            o += (size_t)snprintf(out + o, cap - o, plain ? "%c*%zu" : "\\x%02x*%zu", c, run);
            i += run;
            continue;
        }
        o += (size_t)snprintf(out + o, cap - o, plain ? "%c" : "\\x%02x", c);
        i++;
    }
    return o;
}

typedef struct text_s {
    char *buf;
    size_t len, cap;
    int with_values;
} text_t;

static int text_cb(void *data, dort_slice_t k, dort_slice_t v)
{
    text_t *t = data;
    if (t->len)
        t->len += (size_t)snprintf(t->buf + t->len, t->cap - t->len, ",");
    t->len += render(t->buf + t->len, t->cap - t->len, (const unsigned char *)k.ptr, k.len);
    if (t->with_values) {
        t->len += (size_t)snprintf(t->buf + t->len, t->cap - t->len, "=");
        t->len += render(t->buf + t->len, t->cap - t->len, (const unsigned char *)v.ptr, v.len);
    }
    return 0;
}

/* Lists with `o` into the next result slot: "k1,k2,..." or "ERR NAME". */
static void rec(dort_actor_t *self, const dort_list_options_t *o, int with_values)
{
    text_t t = {res[nres], 0, sizeof res[nres], with_values};
    res[nres][0] = '\0';
    int rc = dort_storage_list(self, o, text_cb, &t);
    if (rc != 0)
        snprintf(res[nres], sizeof res[nres], "ERR %s", dort_err_name(rc));
    nres++;
}

static void put_b(dort_actor_t *self, const void *k, size_t kl, const char *v)
{
    int rc = dort_storage_put(self, k, kl, v, strlen(v));
    if (rc != 0)
        fail_at("put: %s", dort_err_name(rc));
}

static void put_s(dort_actor_t *self, const char *k, const char *v)
{
    put_b(self, k, strlen(k), v);
}

static int fix_setup(void **state)
{
    memset(&g, 0, sizeof g);
    init_heads();
    dort_rt_options_t o;
    options(&o, NULL);
    *state = th_start(&o, classes);
    return *state ? 0 : -1;
}

static int fix_teardown(void **state)
{
    th_stop(*state);
    return check_ub(state);
}

/* Runs `fn` as a turn of actor `name` and waits for its commit. */
static void run_fixed(dort_rt_t *rt, const char *name, void (*fn)(dort_actor_t *self))
{
    th_result_t r;
    fixed_fn = fn;
    nres = 0;
    assert_int_equal(th_fetch(rt, "Lst", name, "POST", "/fixed", NULL, &r), 0);
    if (g.nerr != 0)
        print_error("%s\n", g.err);
    assert_int_equal(g.nerr, 0);
}

/* A pointer to list options given as designated initializers. */
#define OPTS(...) (&(dort_list_options_t){__VA_ARGS__})

static void fill_neighbours(dort_actor_t *self)
{
    /* Each actor's values name the actor, so a leak shows in the listing. */
    put_s(self, "a", fixed_arg);
    put_s(self, "m", fixed_arg);
    put_s(self, "z", fixed_arg);
    put_b(self, "\xff\xff", 2, fixed_arg);
}

static void list_empty(dort_actor_t *self)
{
    rec(self, NULL, 1);
    rec(self, OPTS(.reverse = 1), 1);
    rec(self, OPTS(.prefix = "a", .prefix_len = 1), 1);
    rec(self, OPTS(.end = "zz", .end_len = 2, .reverse = 1), 1);
    rec(self, OPTS(.start = "a", .start_len = 1, .limit = 1, .reverse = 1), 1);
}

static void list_own(dort_actor_t *self)
{
    rec(self, NULL, 1);
    rec(self, OPTS(.reverse = 1), 1);
    rec(self, OPTS(.reverse = 1, .limit = 1), 1);
    rec(self, OPTS(.start = "b", .start_len = 1), 1);
}

static void empty_actor(void **state)
{
    dort_rt_t *rt = *state;
    /* Neighbours on both sides in LMDB order, whatever the ids hash to. */
    static const char *const names[] = {"n1", "n2", "n3"};
    for (int i = 0; i < 3; i++) {
        fixed_arg = names[i];
        run_fixed(rt, names[i], fill_neighbours);
    }
    run_fixed(rt, "empty", list_empty);
    assert_int_equal(nres, 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(res[i], "");
    for (int i = 0; i < 3; i++) {
        char want[4][128];
        const char *n = names[i];
        snprintf(want[0], sizeof want[0], "a=%s,m=%s,z=%s,\\xff\\xff=%s", n, n, n, n);
        snprintf(want[1], sizeof want[1], "\\xff\\xff=%s,z=%s,m=%s,a=%s", n, n, n, n);
        snprintf(want[2], sizeof want[2], "\\xff\\xff=%s", n);
        snprintf(want[3], sizeof want[3], "m=%s,z=%s,\\xff\\xff=%s", n, n, n);
        run_fixed(rt, n, list_own);
        for (int j = 0; j < 4; j++)
            assert_string_equal(res[j], want[j]);
    }
}

static void prefix_setup(dort_actor_t *self)
{
    put_s(self, "a", "1");
    put_s(self, "ab", "2");
    put_s(self, "abc", "3");
    put_s(self, "b", "4");
    put_b(self, "\x00", 1, "5");
    put_b(self, "\xff", 1, "6");
}

static void prefix_lists(dort_actor_t *self)
{
    put_s(self, "ac", "7"); /* uncommitted, merged with LMDB */
    rec(self, OPTS(.prefix = "c", .prefix_len = 1), 0);
    rec(self, OPTS(.prefix = "aa", .prefix_len = 2), 0);
    rec(self, OPTS(.prefix = "abcd", .prefix_len = 4), 0);
    rec(self, OPTS(.prefix = "\x01", .prefix_len = 1), 0);
    rec(self, OPTS(.prefix = "\xff\xff", .prefix_len = 2, .reverse = 1), 0);
    rec(self, OPTS(.prefix = "ab", .prefix_len = 2), 0);
    rec(self, OPTS(.prefix = "a", .prefix_len = 1, .reverse = 1), 0);
    rec(self, OPTS(.prefix = "\xff", .prefix_len = 1), 0);
    rec(self, OPTS(.prefix = "\x00", .prefix_len = 1, .reverse = 1), 0);
    rec(self, OPTS(.prefix = "a", .prefix_len = 1, .end = "ab", .end_len = 2), 0);
    rec(self, OPTS(.prefix = "a", .prefix_len = 1, .start = "b", .start_len = 1), 0);
    rec(self, OPTS(.prefix = "ab", .prefix_len = 2, .start_after = "ab", .start_after_len = 2), 0);
}

static void prefix_no_match(void **state)
{
    dort_rt_t *rt = *state;
    run_fixed(rt, "p", prefix_setup);
    run_fixed(rt, "p", prefix_lists);
    assert_int_equal(nres, 12);
    assert_string_equal(res[0], "");
    assert_string_equal(res[1], "");
    assert_string_equal(res[2], "");
    assert_string_equal(res[3], "");
    assert_string_equal(res[4], "");
    assert_string_equal(res[5], "ab,abc");
    assert_string_equal(res[6], "ac,abc,ab,a");
    assert_string_equal(res[7], "\\xff");
    assert_string_equal(res[8], "\\x00");
    assert_string_equal(res[9], "a");
    assert_string_equal(res[10], "");
    assert_string_equal(res[11], "abc");
}

static void abcd_setup(dort_actor_t *self)
{
    put_s(self, "a", "1");
    put_s(self, "b", "2");
    put_s(self, "c", "3");
    put_s(self, "d", "4");
}

static void range_lists(dort_actor_t *self)
{
    rec(self, OPTS(.start = "m", .start_len = 1, .end = "c", .end_len = 1), 0);
    rec(self, OPTS(.start = "m", .start_len = 1, .end = "c", .end_len = 1, .reverse = 1), 0);
    rec(self, OPTS(.start = "c", .start_len = 1, .end = "c", .end_len = 1), 0);
    rec(self, OPTS(.start_after = "b", .start_after_len = 1, .end = "c", .end_len = 1), 0);
    rec(self, OPTS(.start = "b", .start_len = 1, .end = "c", .end_len = 1), 0);
    rec(self, OPTS(.start_after = "a", .start_after_len = 1, .end = "d", .end_len = 1), 0);
    rec(self, OPTS(.start = "b", .start_len = 1, .end = "d", .end_len = 1, .reverse = 1), 0);
    rec(self, OPTS(.start = "d", .start_len = 1, .end = "a", .end_len = 1, .reverse = 1), 0);
    rec(self, OPTS(.start_after = "d", .start_after_len = 1), 0);
    rec(self, OPTS(.end = "a", .end_len = 1, .reverse = 1), 0);
}

static void start_after_end(void **state)
{
    dort_rt_t *rt = *state;
    run_fixed(rt, "r", abcd_setup);
    run_fixed(rt, "r", range_lists);
    assert_int_equal(nres, 10);
    assert_string_equal(res[0], "");
    assert_string_equal(res[1], "");
    assert_string_equal(res[2], "");
    assert_string_equal(res[3], "");
    assert_string_equal(res[4], "b");
    assert_string_equal(res[5], "b,c");
    assert_string_equal(res[6], "c,b");
    assert_string_equal(res[7], "");
    assert_string_equal(res[8], "");
    assert_string_equal(res[9], "");
}

static void limit_lists(dort_actor_t *self)
{
    int existed = 0;
    dort_storage_delete(self, "d", 1, &existed); /* tombstone over LMDB's d */
    put_s(self, "e", "5");
    rec(self, OPTS(.limit = 1, .reverse = 1), 1);
    rec(self, OPTS(.limit = 1, .reverse = 1, .end = "c", .end_len = 1), 1);
    rec(self, OPTS(.limit = 1, .reverse = 1, .prefix = "a", .prefix_len = 1), 1);
    rec(self, OPTS(.limit = 1), 1);
    rec(self, OPTS(.limit = 2, .reverse = 1, .start_after = "a", .start_after_len = 1), 1);
    rec(self, OPTS(.limit = 1, .reverse = 1, .end = "e", .end_len = 1), 1);
    rec(self, OPTS(.limit = 100, .reverse = 1), 1);
}

static void limit_1_reverse(void **state)
{
    dort_rt_t *rt = *state;
    run_fixed(rt, "l", abcd_setup);
    run_fixed(rt, "l", limit_lists);
    assert_int_equal(nres, 7);
    assert_string_equal(res[0], "e=5");
    assert_string_equal(res[1], "b=2");
    assert_string_equal(res[2], "a=1");
    assert_string_equal(res[3], "a=1");
    assert_string_equal(res[4], "e=5,c=3");
    assert_string_equal(res[5], "c=3"); /* d is deleted in this turn */
    assert_string_equal(res[6], "e=5,c=3,b=2,a=1");
}

typedef struct stopper_s {
    text_t t;
    int calls;
} stopper_t;

static int stop_after_two(void *data, dort_slice_t k, dort_slice_t v)
{
    stopper_t *s = data;
    text_cb(&s->t, k, v);
    return ++s->calls >= 2;
}

static void invalid_lists(dort_actor_t *self)
{
    text_t t = {res[nres], 0, sizeof res[nres], 0};
    res[nres][0] = '\0';
    int rc = dort_storage_list(
        self, OPTS(.start = "a", .start_len = 1, .start_after = "b", .start_after_len = 1), text_cb,
        &t);
    snprintf(res[nres] + t.len, sizeof res[nres] - t.len, "rc=%s", dort_err_name(rc));
    nres++;
    /* Same with the empty string as start_after: given is given. */
    rc = dort_storage_list(
        self, OPTS(.start = "a", .start_len = 1, .start_after = "", .start_after_len = 0), text_cb,
        &t);
    snprintf(res[nres++], sizeof res[0], "%s", dort_err_name(rc));
    rc = dort_storage_list(self, NULL, NULL, NULL);
    snprintf(res[nres++], sizeof res[0], "%s", dort_err_name(rc));
    static char huge[DORT_STORAGE_MAX_KEY + 1];
    memset(huge, 'a', sizeof huge);
    rc = dort_storage_list(self, OPTS(.prefix = huge, .prefix_len = sizeof huge), text_cb, &t);
    snprintf(res[nres++], sizeof res[0], "%s", dort_err_name(rc));
    /* A callback that stops: list returns 0 after exactly two calls. */
    stopper_t s = {{res[nres], 0, sizeof res[nres], 0}, 0};
    rc = dort_storage_list(self, NULL, stop_after_two, &s);
    snprintf(res[nres] + s.t.len, sizeof res[nres] - s.t.len, " rc=%d", rc);
    nres++;
    stopper_t s2 = {{res[nres], 0, sizeof res[nres], 0}, 0};
    rc = dort_storage_list(self, OPTS(.reverse = 1), stop_after_two, &s2);
    snprintf(res[nres] + s2.t.len, sizeof res[nres] - s2.t.len, " rc=%d", rc);
    nres++;
}

static void start_and_start_after_einval(void **state)
{
    dort_rt_t *rt = *state;
    run_fixed(rt, "inv", abcd_setup);
    run_fixed(rt, "inv", invalid_lists);
    assert_int_equal(nres, 6);
    assert_string_equal(res[0], "rc=DORT_EINVAL"); /* and no callback ran */
    assert_string_equal(res[1], "DORT_EINVAL");
    assert_string_equal(res[2], "DORT_EINVAL");
    assert_string_equal(res[3], "DORT_EKEYTOOLONG");
    assert_string_equal(res[4], "a,b rc=0");
    assert_string_equal(res[5], "d,c rc=0");
    /* Outside a turn of the actor. */
    text_t t = {res[0], 0, sizeof res[0], 0};
    assert_int_equal(dort_storage_list(g.self, NULL, text_cb, &t), DORT_ENOTINTURN);
    assert_int_equal(dort_storage_list(NULL, NULL, text_cb, &t), DORT_EINVAL);
}

/* ---- long keys sharing a head, deterministic ---- */

static unsigned char lk[DORT_STORAGE_MAX_KEY];

static size_t h1(const char *tail, size_t zs)
{
    size_t tl = strlen(tail);
    memcpy(lk, head1, HEAD);
    memcpy(lk + HEAD, tail, tl);
    memset(lk + HEAD + tl, 'z', zs);
    return HEAD + tl + zs;
}

static void long_setup(dort_actor_t *self)
{
    put_b(self, lk, h1("b", 0), "b");
    put_b(self, lk, h1("a", 0), "a");
    put_b(self, head1, HEAD, "head");
    put_b(self, head1, HEAD - 1, "head-1");
    put_b(self, lk, h1("a", 1000), "az");
    put_b(self, lk, h1("ab", 0), "ab");
    put_b(self, lk, h1("\xff", 1592), "ffz"); /* 2048 bytes */
    put_b(self, head2, HEAD, "head2");
    memcpy(lk, head2, HEAD);
    lk[HEAD] = 'a';
    put_b(self, lk, HEAD + 1, "h2a");
    put_s(self, "zz", "zz");
    put_b(self, "\x00", 1, "nul");
}

static void long_lists(dort_actor_t *self)
{
    static unsigned char b1[DORT_STORAGE_MAX_KEY], b2[DORT_STORAGE_MAX_KEY];
    rec(self, NULL, 0);
    rec(self, OPTS(.reverse = 1), 0);
    size_t n1 = h1("a", 0);
    memcpy(b1, lk, n1);
    rec(self, OPTS(.start_after = b1, .start_after_len = n1, .limit = 3), 0);
    /* A 456-byte prefix: longer than what the LMDB seek can use. */
    rec(self, OPTS(.prefix = b1, .prefix_len = n1), 0);
    rec(self, OPTS(.prefix = b1, .prefix_len = n1, .reverse = 1), 0);
    size_t n2 = h1("ab", 0);
    memcpy(b2, lk, n2);
    rec(self, OPTS(.end = b2, .end_len = n2, .reverse = 1, .limit = 4), 0);
    rec(self, OPTS(.start = b1, .start_len = n1, .end = b2, .end_len = n2), 0);
    rec(self,
        OPTS(.prefix = head1, .prefix_len = HEAD, .start_after = head1, .start_after_len = HEAD,
             .reverse = 1),
        0);
}

static void long_overlay(dort_actor_t *self)
{
    /* Uncommitted changes inside the committed group. */
    int existed = 0;
    dort_storage_delete(self, lk, h1("a", 0), &existed);
    if (!existed)
        fail_at("H1a should have existed");
    put_b(self, lk, h1("aa", 0), "aa");
    put_b(self, lk, h1("a", 999), "az999");
    put_b(self, lk, h1("b", 0), "b2");
    long_lists(self);
}

static const char long_all[] = "\\x00,H1[:454],H1,H1a,H1ab,H1az*1000,H1b,H1\\xffz*1592,H2,H2a,zz";
static const char long_all_rev[] =
    "zz,H2a,H2,H1\\xffz*1592,H1b,H1az*1000,H1ab,H1a,H1,H1[:454],\\x00";
static const char long_ov_all[] =
    "\\x00,H1[:454],H1,H1aa,H1ab,H1az*999,H1az*1000,H1b,H1\\xffz*1592,H2,H2a,zz";

static void long_key_group_order(void **state)
{
    dort_rt_t *rt = *state;
    run_fixed(rt, "long", long_setup);
    /* Committed only: LMDB has the group in digest order, the listing must
     * not. */
    run_fixed(rt, "long", long_lists);
    assert_int_equal(nres, 8);
    assert_string_equal(res[0], long_all);
    assert_string_equal(res[1], long_all_rev);
    assert_string_equal(res[2], "H1ab,H1az*1000,H1b");
    assert_string_equal(res[3], "H1a,H1ab,H1az*1000");
    assert_string_equal(res[4], "H1az*1000,H1ab,H1a");
    assert_string_equal(res[5], "H1a,H1,H1[:454],\\x00");
    assert_string_equal(res[6], "H1a");
    assert_string_equal(res[7], "H1\\xffz*1592,H1b,H1az*1000,H1ab,H1a");
    /* The same with uncommitted writes inside the group, then committed. */
    for (int pass = 0; pass < 2; pass++) {
        run_fixed(rt, "long", pass == 0 ? long_overlay : long_lists);
        assert_int_equal(nres, 8);
        assert_string_equal(res[0], long_ov_all);
        assert_string_equal(res[2], "H1aa,H1ab,H1az*999"); /* H1a itself is gone */
        assert_string_equal(res[3], "H1aa,H1ab,H1az*999,H1az*1000");
        assert_string_equal(res[4], "H1az*1000,H1az*999,H1ab,H1aa");
        assert_string_equal(res[5], "H1aa,H1,H1[:454],\\x00");
        assert_string_equal(res[6], "H1aa");
        assert_string_equal(res[7], "H1\\xffz*1592,H1b,H1az*1000,H1az*999,H1ab,H1aa");
    }
}

int main(void)
{
    init_heads();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(empty_actor, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(prefix_no_match, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(start_after_end, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(limit_1_reverse, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(start_and_start_after_einval, fix_setup, fix_teardown),
        cmocka_unit_test_setup_teardown(long_key_group_order, fix_setup, fix_teardown),
        cmocka_unit_test_teardown(random_seed_1, check_ub),
        cmocka_unit_test_teardown(random_seed_2, check_ub),
        cmocka_unit_test_teardown(random_seed_3, check_ub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
