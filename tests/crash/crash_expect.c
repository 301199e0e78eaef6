/* crash_expect.c - reads the expectation lines (the concatenated stdout of
 * every write run, in order) and folds them into one record per key and
 * per actor. */
#include "crash_check.h"

#include <stdlib.h>
#include <string.h>

static uint64_t key_hash(uint32_t actor, const char *base, size_t len)
{
    return crash_hash64(base, len) * 31 + actor;
}

static uint64_t hash_of_actor(const checker_t *c, uint32_t i)
{
    return c->actors[i].hash;
}

static uint64_t hash_of_key(const checker_t *c, uint32_t i)
{
    return c->keys[i].hash;
}

/* Keeps the map at most half full, rehashing with the stored hashes. */
static int imap_reserve(imap_t *m, size_t count, const checker_t *c,
                        uint64_t (*hash_at)(const checker_t *, uint32_t))
{
    if (m->slots != NULL && (count + 1) * 2 <= m->mask + 1)
        return 0;
    size_t size = m->slots != NULL ? (m->mask + 1) * 2 : 1024;
    while ((count + 1) * 2 > size)
        size *= 2;
    uint32_t *slots = calloc(size, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (size_t i = 0; m->slots != NULL && i <= m->mask; i++) {
        if (m->slots[i] == 0)
            continue;
        size_t j = hash_at(c, m->slots[i] - 1) & (size - 1);
        while (slots[j] != 0)
            j = (j + 1) & (size - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->mask = size - 1;
    return 0;
}

static int grow(void **arr, uint32_t *cap, size_t elem)
{
    uint32_t ncap = *cap ? *cap * 2 : 256;
    void *n = realloc(*arr, (size_t)ncap * elem);
    if (n == NULL)
        return -1;
    *arr = n;
    *cap = ncap;
    return 0;
}

/* Finds or adds the actor; returns its index or UINT32_MAX (no memory, or a
 * name too long to be the writer's). */
static uint32_t actor_get(checker_t *c, const char *name, size_t len)
{
    uint64_t h = crash_hash64(name, len);
    if (len == 0 || len >= sizeof c->actors[0].name ||
        imap_reserve(&c->actor_map, c->nactors, c, hash_of_actor) != 0)
        return UINT32_MAX;
    size_t i = h & c->actor_map.mask;
    for (; c->actor_map.slots[i] != 0; i = (i + 1) & c->actor_map.mask) {
        cactor_t *a = &c->actors[c->actor_map.slots[i] - 1];
        if (a->hash == h && strlen(a->name) == len && memcmp(a->name, name, len) == 0)
            return c->actor_map.slots[i] - 1;
    }
    if (c->nactors == c->actors_cap &&
        grow((void **)&c->actors, &c->actors_cap, sizeof *c->actors) != 0)
        return UINT32_MAX;
    cactor_t *a = &c->actors[c->nactors];
    memset(a, 0, sizeof *a);
    memcpy(a->name, name, len);
    a->hash = h;
    a->scratch = name[0] == 's';
    c->actor_map.slots[i] = ++c->nactors;
    return c->nactors - 1;
}

uint32_t checker_find_key(const checker_t *c, uint32_t actor, const char *base, size_t base_len)
{
    if (c->key_map.slots == NULL)
        return UINT32_MAX;
    uint64_t h = key_hash(actor, base, base_len);
    for (size_t i = h & c->key_map.mask; c->key_map.slots[i] != 0; i = (i + 1) & c->key_map.mask) {
        const ckey_t *k = &c->keys[c->key_map.slots[i] - 1];
        if (k->hash == h && k->actor == actor && k->base_len == base_len &&
            memcmp(k->key, base, base_len) == 0)
            return c->key_map.slots[i] - 1;
    }
    return UINT32_MAX;
}

/* Finds or adds the key record of (actor, token). */
static ckey_t *key_get(checker_t *c, uint32_t actor, dort_slice_t tok, const crash_tok_t *t)
{
    uint32_t idx = checker_find_key(c, actor, tok.ptr, t->base_len);
    if (idx != UINT32_MAX)
        return &c->keys[idx];
    cactor_t *a = &c->actors[actor];
    if (imap_reserve(&c->key_map, c->nkeys, c, hash_of_key) != 0 ||
        (c->nkeys == c->keys_cap && grow((void **)&c->keys, &c->keys_cap, sizeof *c->keys) != 0) ||
        (a->nkeys == a->cap && grow((void **)&a->keys, &a->cap, sizeof *a->keys) != 0))
        return NULL;
    ckey_t *k = &c->keys[c->nkeys];
    memset(k, 0, sizeof *k);
    k->hash = key_hash(actor, tok.ptr, t->base_len);
    k->actor = actor;
    k->key = tok.ptr;
    k->key_len = tok.len;
    k->base_len = t->base_len;
    k->ctr = t->ctr;
    size_t i = k->hash & c->key_map.mask;
    while (c->key_map.slots[i] != 0)
        i = (i + 1) & c->key_map.mask;
    c->key_map.slots[i] = c->nkeys + 1;
    a->keys[a->nkeys++] = c->nkeys;
    return &c->keys[c->nkeys++];
}

static int is_data_key(const crash_tok_t *t, int scratch)
{
    return t->kind == 'b' || t->kind == (scratch ? 's' : 'k');
}

/* P <actor> <key> <value> | D <actor> <key> | C <actor> <ctr> */
static int parse_line(checker_t *c, dort_slice_t line)
{
    dort_slice_t w[5];
    size_t n = 0;
    crash_tok_t kt, vt;
    while (n < 5 && crash_next_word(&line, &w[n]) == 0)
        n++;
    if (n == 0)
        return 0;
    if (w[0].len != 1 || n < 3 || n > 4)
        return -1;
    uint32_t actor = actor_get(c, w[1].ptr, w[1].len);
    if (actor == UINT32_MAX)
        return -1;
    cactor_t *a = &c->actors[actor];
    char op = w[0].ptr[0];
    if (op == 'C' && n == 3 && a->scratch) {
        uint64_t ctr = 0;
        for (size_t i = 0; i < w[2].len; i++) {
            if (w[2].ptr[i] < '0' || w[2].ptr[i] > '9' || ctr > UINT64_MAX / 10 - 10)
                return -1;
            ctr = ctr * 10 + (uint64_t)(w[2].ptr[i] - '0');
        }
        if (ctr > a->clear_acked)
            a->clear_acked = ctr;
        c->nclears++;
        return 0;
    }
    if (crash_tok_parse(w[2].ptr, w[2].len, &kt) != 0 || !is_data_key(&kt, a->scratch))
        return -1;
    if (op == 'P' && n == 4) {
        /* The value must be the one written with this key. */
        if (crash_tok_parse(w[3].ptr, w[3].len, &vt) != 0 || vt.kind != 'v' || vt.ctr != kt.ctr ||
            vt.i != kt.i || vt.run_len != kt.run_len || memcmp(vt.run, kt.run, kt.run_len) != 0)
            return -1;
    } else if (!(op == 'D' && n == 3)) {
        return -1;
    }
    ckey_t *k = key_get(c, actor, w[2], &kt);
    if (k == NULL)
        return -1;
    k->state = op;
    k->val = op == 'P' ? w[3].ptr : NULL;
    k->val_len = op == 'P' ? w[3].len : 0;
    return 0;
}

static int read_all(checker_t *c, FILE *in)
{
    size_t cap = 1 << 16;
    c->input = malloc(cap);
    while (c->input != NULL) {
        c->input_len += fread(c->input + c->input_len, 1, cap - c->input_len, in);
        if (c->input_len < cap)
            break;
        char *n = realloc(c->input, cap * 2);
        if (n == NULL)
            break;
        c->input = n;
        cap *= 2;
    }
    return c->input != NULL && !ferror(in) && c->input_len < cap ? 0 : -1;
}

int checker_read(checker_t *c, FILE *in)
{
    if (read_all(c, in) != 0) {
        fprintf(stderr, "check: cannot read the expectations\n");
        return -1;
    }
    const char *p = c->input, *end = c->input + c->input_len;
    for (size_t lineno = 1; p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        dort_slice_t line = {p, (size_t)((nl != NULL ? nl : end) - p)};
        if (parse_line(c, line) != 0) {
            fprintf(stderr, "check: bad expectation line %zu: %.*s\n", lineno, (int)line.len,
                    line.ptr);
            return -1;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    return 0;
}

int checker_init(checker_t *c)
{
    memset(c, 0, sizeof *c);
    c->xbuf = malloc(CRASH_EXPAND_MAX);
    if (c->xbuf == NULL)
        return -1;
    for (int i = 0; i < CRASH_ACTORS; i++) {
        char name[8];
        snprintf(name, sizeof name, "a%03d", i);
        if (actor_get(c, name, strlen(name)) == UINT32_MAX)
            return -1;
    }
    return 0;
}

void checker_release(checker_t *c)
{
    for (uint32_t i = 0; i < c->nactors; i++)
        free(c->actors[i].keys);
    free(c->actors);
    free(c->keys);
    free(c->actor_map.slots);
    free(c->key_map.slots);
    free(c->input);
    free(c->xbuf);
    memset(c, 0, sizeof *c);
}
