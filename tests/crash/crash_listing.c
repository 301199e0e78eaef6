/* crash_listing.c - checks one actor's /list answer: every entry it holds,
 * acknowledged or not, must be a whole result of some turn the writer sent.
 * A torn value, a key beside its own delete marker or a batch with only some
 * of its keys would each mean a turn was half-applied. */
#include "crash_check.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A batch key or the delete marker of one: batches are counted by these. */
typedef struct member_s {
    const char *run;
    size_t run_len;
    uint64_t ctr;
    uint32_t n;
} member_t;

typedef struct members_s {
    member_t *v;
    size_t n, cap;
} members_t;

static int set_add(listing_t *ls, dort_slice_t base)
{
    if (ls->set == NULL || (ls->set_count + 1) * 2 > ls->set_mask + 1) {
        size_t size = ls->set != NULL ? (ls->set_mask + 1) * 2 : 256;
        dort_slice_t *s = calloc(size, sizeof *s);
        if (s == NULL)
            return -1;
        for (size_t i = 0; ls->set != NULL && i <= ls->set_mask; i++) {
            if (ls->set[i].ptr == NULL)
                continue;
            size_t j = crash_hash64(ls->set[i].ptr, ls->set[i].len) & (size - 1);
            while (s[j].ptr != NULL)
                j = (j + 1) & (size - 1);
            s[j] = ls->set[i];
        }
        free(ls->set);
        ls->set = s;
        ls->set_mask = size - 1;
    }
    size_t j = crash_hash64(base.ptr, base.len) & ls->set_mask;
    while (ls->set[j].ptr != NULL)
        j = (j + 1) & ls->set_mask;
    ls->set[j] = base;
    ls->set_count++;
    return 0;
}

int listing_has(const listing_t *ls, const char *base, size_t base_len)
{
    if (ls->set == NULL)
        return 0;
    for (size_t j = crash_hash64(base, base_len) & ls->set_mask; ls->set[j].ptr != NULL;
         j = (j + 1) & ls->set_mask)
        if (ls->set[j].len == base_len && memcmp(ls->set[j].ptr, base, base_len) == 0)
            return 1;
    return 0;
}

void listing_release(listing_t *ls)
{
    free(ls->set);
    free(ls->ctrs);
    memset(ls, 0, sizeof *ls);
}

static int push_member(members_t *m, const crash_tok_t *t)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        member_t *v = realloc(m->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = (member_t){t->run, t->run_len, t->ctr, t->n};
    return 0;
}

static int push_ctr(listing_t *ls, uint64_t ctr)
{
    if (ls->nctrs == ls->ctrs_cap) {
        size_t cap = ls->ctrs_cap ? ls->ctrs_cap * 2 : 64;
        uint64_t *v = realloc(ls->ctrs, cap * sizeof *v);
        if (v == NULL)
            return -1;
        ls->ctrs = v;
        ls->ctrs_cap = cap;
    }
    ls->ctrs[ls->nctrs++] = ctr;
    return 0;
}

/* One listed entry, from the answer's header "<klen> <vlen> <hash> <hlen>". */
typedef struct entry_s {
    dort_slice_t key;
    dort_slice_t head; /* the first hlen bytes of the value */
    size_t vlen;
    uint64_t hash;
} entry_t;

static int decimal(dort_slice_t s, uint64_t *out)
{
    uint64_t v = 0;
    if (s.len == 0 || s.len > 19)
        return -1;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s.ptr[i] - '0');
    }
    *out = v;
    return 0;
}

/* The value must be the expansion of a value token of this very key. */
static int value_belongs(checker_t *c, const crash_tok_t *kt, const entry_t *e)
{
    crash_tok_t vt;
    size_t th = crash_token_head(e->head.ptr, e->head.len);
    if (th == e->head.len && e->head.len < e->vlen)
        return 0; /* the token did not fit in the head: not ours */
    if (crash_tok_parse(e->head.ptr, th, &vt) != 0 || vt.kind != 'v' || vt.ctr != kt->ctr ||
        vt.i != kt->i || vt.run_len != kt->run_len || memcmp(vt.run, kt->run, kt->run_len) != 0 ||
        vt.len != e->vlen)
        return 0;
    crash_expand(e->head.ptr, th, c->xbuf);
    return crash_hash64(c->xbuf, vt.len) == e->hash;
}

static int data_entry(checker_t *c, cactor_t *a, uint32_t idx, const entry_t *e, listing_t *ls,
                      members_t *m)
{
    crash_tok_t kt;
    size_t th = crash_token_head(e->key.ptr, e->key.len);
    int kind_ok = crash_tok_parse(e->key.ptr, th, &kt) == 0 &&
                  (kt.kind == 'b' || kt.kind == (a->scratch ? 's' : 'k'));
    if (kind_ok && kt.len == e->key.len) {
        crash_expand(e->key.ptr, th, c->xbuf);
        kind_ok = memcmp(c->xbuf, e->key.ptr, e->key.len) == 0;
    }
    if (!kind_ok || kt.len != e->key.len) {
        checker_problem(c, &c->wrong, "WRONG %s: stray key %.*s (%zu bytes)", a->name,
                        (int)(th < 80 ? th : 80), e->key.ptr, e->key.len);
        return 0;
    }
    if (!value_belongs(c, &kt, e))
        checker_problem(c, &c->wrong, "WRONG %s %.*s: torn or foreign value (%zu bytes)", a->name,
                        (int)th, e->key.ptr, e->vlen);
    if (checker_find_key(c, idx, e->key.ptr, kt.base_len) == UINT32_MAX)
        c->extra++;
    dort_slice_t base = {e->key.ptr, kt.base_len};
    if (set_add(ls, base) != 0 || (kt.kind == 'b' && push_member(m, &kt) != 0) ||
        (a->scratch && push_ctr(ls, kt.ctr) != 0))
        return -1;
    return 0;
}

static int marker_entry(checker_t *c, cactor_t *a, const entry_t *e, members_t *m,
                        dort_slice_t *markers, size_t *nmarkers, size_t cap)
{
    crash_tok_t kt;
    uint64_t ctr;
    dort_slice_t v = {e->head.ptr, e->head.len};
    if (a->scratch || crash_tok_parse(e->key.ptr + 1, e->key.len - 1, &kt) != 0 ||
        kt.base_len != e->key.len - 1 || (kt.kind != 'k' && kt.kind != 'b') ||
        e->vlen != e->head.len || decimal(v, &ctr) != 0 || ctr <= kt.ctr) {
        checker_problem(c, &c->wrong, "WRONG %s: bad delete marker %.*s", a->name, (int)e->key.len,
                        e->key.ptr);
        return 0;
    }
    if (*nmarkers < cap)
        markers[(*nmarkers)++] = (dort_slice_t){e->key.ptr + 1, e->key.len - 1};
    return kt.kind == 'b' ? push_member(m, &kt) : 0;
}

static int member_cmp(const void *pa, const void *pb)
{
    const member_t *a = pa, *b = pb;
    if (a->run_len != b->run_len)
        return a->run_len < b->run_len ? -1 : 1;
    int r = memcmp(a->run, b->run, a->run_len);
    if (r != 0)
        return r;
    return a->ctr < b->ctr ? -1 : a->ctr > b->ctr;
}

/* Each batch must be whole: its keys, or their markers, n of them. */
static void check_batches(checker_t *c, const cactor_t *a, members_t *m)
{
    if (m->n > 1)
        qsort(m->v, m->n, sizeof *m->v, member_cmp);
    for (size_t i = 0; i < m->n;) {
        size_t j = i + 1;
        while (j < m->n && member_cmp(&m->v[i], &m->v[j]) == 0)
            j++;
        if (j - i != m->v[i].n)
            checker_problem(c, &c->wrong, "WRONG %s: batch %.*s.%" PRIu64 " has %zu of its %u keys",
                            a->name, (int)m->v[i].run_len, m->v[i].run, m->v[i].ctr, j - i,
                            m->v[i].n);
        i = j;
    }
}

static int read_entry(const char **p, const char *end, entry_t *e)
{
    dort_slice_t rest = {*p, (size_t)(end - *p)}, w[4];
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    uint64_t klen, vlen, hlen;
    if (nl == NULL)
        return -1;
    rest.len = (size_t)(nl - *p);
    for (int i = 0; i < 4; i++)
        if (crash_next_word(&rest, &w[i]) != 0)
            return -1;
    char hex[17];
    if (decimal(w[0], &klen) != 0 || decimal(w[1], &vlen) != 0 || decimal(w[3], &hlen) != 0 ||
        w[2].len != 16 || hlen > vlen || hlen > CRASH_LIST_HEAD)
        return -1;
    memcpy(hex, w[2].ptr, 16);
    hex[16] = '\0';
    e->hash = strtoull(hex, NULL, 16);
    const char *body = nl + 1;
    if ((uint64_t)(end - body) < klen + hlen + 1 || body[klen + hlen] != '\n' || klen == 0)
        return -1;
    e->key = (dort_slice_t){body, (size_t)klen};
    e->head = (dort_slice_t){body + klen, (size_t)hlen};
    e->vlen = (size_t)vlen;
    *p = body + klen + hlen + 1;
    return 0;
}

int listing_parse(checker_t *c, cactor_t *a, uint32_t idx, dort_slice_t body, listing_t *ls)
{
    const char *p = body.ptr, *end = body.ptr + body.len;
    members_t m = {0};
    /* Markers are checked against the full set of keys once it is built;
     * at most one per listed entry. */
    size_t cap = body.len / 8 + 1, nmarkers = 0;
    dort_slice_t *markers = malloc(cap * sizeof *markers);
    int rc = markers != NULL ? 0 : -1;
    while (rc == 0 && p < end) {
        entry_t e;
        if (read_entry(&p, end, &e) != 0) {
            fprintf(stderr, "check: malformed /list answer from %s\n", a->name);
            rc = -1;
            break;
        }
        c->listed++;
        if (e.key.len == 6 && memcmp(e.key.ptr, "#clear", 6) == 0) {
            if (!a->scratch || e.vlen != e.head.len || decimal(e.head, &ls->clear) != 0)
                checker_problem(c, &c->wrong, "WRONG %s: bad #clear", a->name);
        } else if (e.key.ptr[0] == '~') {
            rc = marker_entry(c, a, &e, &m, markers, &nmarkers, cap);
        } else {
            rc = data_entry(c, a, idx, &e, ls, &m);
        }
    }
    for (size_t i = 0; rc == 0 && i < nmarkers; i++)
        if (listing_has(ls, markers[i].ptr, markers[i].len))
            checker_problem(c, &c->wrong, "WRONG %s %.*s: present beside its delete marker",
                            a->name, (int)markers[i].len, markers[i].ptr);
    if (rc == 0)
        check_batches(c, a, &m);
    free(markers);
    free(m.v);
    return rc;
}
