/* test_keycodec.c - how user keys become LMDB keys (runtime/keycodec.c).
 *
 * LMDB keys stop at 511 bytes, users may use 2048. Keys up to 455 bytes are
 * stored verbatim after the 40-byte actor prefix; longer ones as prefix +
 * first 455 bytes + 16 bytes of SHA-256, with the rest of the key in front of
 * the value. Listing relies on one property checked here at random: LMDB's
 * byte order of encodings equals the byte order of full keys, except between
 * long keys that share their 455-byte head. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/sha.h>

#include <dort/errors.h>
#include <dort/storage.h>

#include "keycodec_internal.h"

static unsigned char prefix_a[DORT__PREFIX_SIZE];
static unsigned char prefix_b[DORT__PREFIX_SIZE];

/* xorshift64*: fixed seeds make every failure reproducible. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static size_t rnd_below(size_t n)
{
    return (size_t)(rnd() % n);
}

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < DORT__PREFIX_SIZE; i++) {
        prefix_a[i] = (unsigned char)(0x10 + i);
        prefix_b[i] = (unsigned char)(0x10 + i);
    }
    prefix_b[DORT__PREFIX_SIZE - 1]++; /* the next actor in LMDB order */
    return 0;
}

/* LMDB's default order: memcmp over the common length, shorter first. */
static int cmp_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    return alen < blen ? -1 : alen > blen;
}

static void short_keys_verbatim(void **state)
{
    (void)state;
    static const size_t lens[] = {1, 2, 17, 454, DORT__SHORT_KEY_MAX};
    unsigned char key[DORT__SHORT_KEY_MAX], out[DORT__LMDB_KEY_MAX];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i * 7 + (i & 1 ? 0xff : 0)); /* includes 0x00 and 0xff */
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        memset(out, 0xaa, sizeof out);
        size_t n = dort__key_encode(out, prefix_a, key, lens[i]);
        assert_int_equal(n, DORT__PREFIX_SIZE + lens[i]);
        assert_memory_equal(out, prefix_a, DORT__PREFIX_SIZE);
        assert_memory_equal(out + DORT__PREFIX_SIZE, key, lens[i]);
        assert_false(dort__key_is_long(n));
    }
    /* The largest short encoding is shorter than any long one. */
    assert_true(DORT__PREFIX_SIZE + DORT__SHORT_KEY_MAX < DORT__LMDB_KEY_MAX);
}

static void long_keys_exactly_511(void **state)
{
    (void)state;
    static const size_t lens[] = {DORT__SHORT_KEY_MAX + 1, 511, 1000, DORT_STORAGE_MAX_KEY};
    unsigned char key[DORT_STORAGE_MAX_KEY], out[DORT__LMDB_KEY_MAX];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i ^ (i >> 8));
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t n = dort__key_encode(out, prefix_a, key, lens[i]);
        assert_int_equal(n, DORT__LMDB_KEY_MAX);
        assert_true(dort__key_is_long(n));
        assert_memory_equal(out, prefix_a, DORT__PREFIX_SIZE);
        assert_memory_equal(out + DORT__PREFIX_SIZE, key, DORT__SHORT_KEY_MAX);
        unsigned char digest[SHA256_DIGEST_LENGTH];
        SHA256(key, lens[i], digest);
        assert_memory_equal(out + DORT__LONG_HEAD_END, digest, DORT__LONG_HASH_SIZE);
        assert_int_equal(dort__longval_size(lens[i], 5), 2 + lens[i] - DORT__SHORT_KEY_MAX + 5);
    }
    /* Two long keys with the same head but different tails get different
     * encodings (the digest tells them apart). */
    unsigned char out2[DORT__LMDB_KEY_MAX];
    dort__key_encode(out, prefix_a, key, 1000);
    key[999] ^= 1;
    dort__key_encode(out2, prefix_a, key, 1000);
    assert_memory_not_equal(out, out2, DORT__LMDB_KEY_MAX);
    assert_memory_equal(out, out2, DORT__LONG_HEAD_END);
}

static void longval_layout(void **state)
{
    (void)state;
    unsigned char key[DORT_STORAGE_MAX_KEY];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(255 - i % 251);
    unsigned char out[2 + DORT_STORAGE_MAX_KEY + 8];
    dort__longval_encode(out, key, DORT_STORAGE_MAX_KEY, "value", 5);
    size_t rem = DORT_STORAGE_MAX_KEY - DORT__SHORT_KEY_MAX;
    /* <u16 BE remainder length><remainder><user value> */
    assert_int_equal(out[0], rem >> 8);
    assert_int_equal(out[1], rem & 0xff);
    assert_memory_equal(out + 2, key + DORT__SHORT_KEY_MAX, rem);
    assert_memory_equal(out + 2 + rem, "value", 5);
    dort__longval_encode(out, key, DORT__SHORT_KEY_MAX + 1, NULL, 0);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], key[DORT__SHORT_KEY_MAX]);
}

/* Encodes (key, val) as the writer stores it and decodes it back. */
static void roundtrip(const unsigned char *key, size_t key_len, const unsigned char *val,
                      size_t val_len)
{
    unsigned char lkey[DORT__LMDB_KEY_MAX];
    size_t lkey_len = dort__key_encode(lkey, prefix_a, key, key_len);
    const unsigned char *lval = val;
    size_t lval_len = val_len;
    unsigned char *stored = NULL;
    if (dort__key_is_long(lkey_len)) {
        lval_len = dort__longval_size(key_len, val_len);
        stored = malloc(lval_len);
        assert_non_null(stored);
        dort__longval_encode(stored, key, key_len, val, val_len);
        lval = stored;
    }
    unsigned char keybuf[DORT_STORAGE_MAX_KEY];
    const unsigned char *k = NULL, *v = NULL;
    size_t klen = 0, vlen = 0;
    assert_int_equal(
        dort__entry_decode(lkey, lkey_len, lval, lval_len, keybuf, &k, &klen, &v, &vlen), 0);
    assert_int_equal(klen, key_len);
    assert_memory_equal(k, key, key_len);
    assert_int_equal(vlen, val_len);
    if (val_len)
        assert_memory_equal(v, val, val_len);
    /* Short keys point into the LMDB key, long ones are rebuilt in keybuf. */
    if (dort__key_is_long(lkey_len))
        assert_ptr_equal(k, keybuf);
    else
        assert_ptr_equal(k, lkey + DORT__PREFIX_SIZE);
    free(stored);
}

static void decode_roundtrip(void **state)
{
    (void)state;
    static const size_t lens[] = {1, 100, 454, 455, 456, 457, 700, 2047, 2048};
    unsigned char *key = malloc(DORT_STORAGE_MAX_KEY);
    unsigned char *val = malloc(DORT_STORAGE_MAX_VALUE);
    assert_non_null(key);
    assert_non_null(val);
    rng_state = 0x1234567;
    for (size_t i = 0; i < DORT_STORAGE_MAX_KEY; i++)
        key[i] = (unsigned char)rnd();
    for (size_t i = 0; i < DORT_STORAGE_MAX_VALUE; i++)
        val[i] = (unsigned char)rnd();
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        roundtrip(key, lens[i], val, 0);
        roundtrip(key, lens[i], val, 1);
        roundtrip(key, lens[i], val, 300);
        roundtrip(key, lens[i], val, DORT_STORAGE_MAX_VALUE);
    }
    free(val);
    free(key);
}

static int decode_rc(const void *lkey, size_t lkey_len, const void *lval, size_t lval_len)
{
    unsigned char keybuf[DORT_STORAGE_MAX_KEY];
    const unsigned char *k, *v;
    size_t klen, vlen;
    return dort__entry_decode(lkey, lkey_len, lval, lval_len, keybuf, &k, &klen, &v, &vlen);
}

static void corrupt_inputs(void **state)
{
    (void)state;
    unsigned char lkey[DORT__LMDB_KEY_MAX + 1];
    unsigned char lval[2 + DORT_STORAGE_MAX_KEY + 4];
    memcpy(lkey, prefix_a, DORT__PREFIX_SIZE);
    memset(lkey + DORT__PREFIX_SIZE, 'h', sizeof lkey - DORT__PREFIX_SIZE);
    memset(lval, 't', sizeof lval);

    /* No user key after the prefix (or not even a whole prefix). */
    assert_int_equal(decode_rc(lkey, DORT__PREFIX_SIZE, "v", 1), DORT_ECORRUPT);
    assert_int_equal(decode_rc(lkey, 3, "v", 1), DORT_ECORRUPT);
    assert_int_equal(decode_rc(lkey, 0, "v", 1), DORT_ECORRUPT);

    /* Long key whose value cannot hold the remainder length. */
    assert_int_equal(decode_rc(lkey, DORT__LMDB_KEY_MAX, lval, 0), DORT_ECORRUPT);
    assert_int_equal(decode_rc(lkey, DORT__LMDB_KEY_MAX, lval, 1), DORT_ECORRUPT);
    /* A remainder of 0: such a key would have been stored short. */
    lval[0] = 0;
    lval[1] = 0;
    assert_int_equal(decode_rc(lkey, DORT__LMDB_KEY_MAX, lval, 10), DORT_ECORRUPT);
    /* A remainder that makes the key longer than 2048 bytes. */
    size_t rem = DORT_STORAGE_MAX_KEY - DORT__SHORT_KEY_MAX + 1;
    lval[0] = (unsigned char)(rem >> 8);
    lval[1] = (unsigned char)rem;
    assert_int_equal(decode_rc(lkey, DORT__LMDB_KEY_MAX, lval, sizeof lval), DORT_ECORRUPT);
    lval[0] = 0xff;
    lval[1] = 0xff;
    assert_int_equal(decode_rc(lkey, DORT__LMDB_KEY_MAX, lval, sizeof lval), DORT_ECORRUPT);
    /* A remainder longer than the stored value. */
    lval[0] = 0;
    lval[1] = 10;
    assert_int_equal(decode_rc(lkey, DORT__LMDB_KEY_MAX, lval, 11), DORT_ECORRUPT);
    /* ...and the boundary that is fine: remainder exactly fills the value. */
    assert_int_equal(decode_rc(lkey, DORT__LMDB_KEY_MAX, lval, 12), 0);
    rem = DORT_STORAGE_MAX_KEY - DORT__SHORT_KEY_MAX;
    lval[0] = (unsigned char)(rem >> 8);
    lval[1] = (unsigned char)rem;
    assert_int_equal(decode_rc(lkey, DORT__LMDB_KEY_MAX, lval, 2 + rem), 0);
}

/* An LMDB key of 496..510 bytes, or over 511, is never written by
 * dort__key_encode: short keys end at 495 bytes and long keys are exactly
 * 511. Decoding one as a "short" key would surface a phantom user key of
 * 456..470 bytes that dort_storage_get can never find (get encodes such a key
 * long), so it must be reported as corrupt. */
static void impossible_key_lengths_are_corrupt(void **state)
{
    (void)state;
    unsigned char lkey[DORT__LMDB_KEY_MAX + 8];
    memcpy(lkey, prefix_a, DORT__PREFIX_SIZE);
    memset(lkey + DORT__PREFIX_SIZE, 'h', sizeof lkey - DORT__PREFIX_SIZE);
    /* The largest legal short encoding decodes. */
    assert_int_equal(decode_rc(lkey, DORT__PREFIX_SIZE + DORT__SHORT_KEY_MAX, "v", 1), 0);
    assert_int_equal(decode_rc(lkey, DORT__PREFIX_SIZE + DORT__SHORT_KEY_MAX + 1, "v", 1),
                     DORT_ECORRUPT);
    assert_int_equal(decode_rc(lkey, DORT__LMDB_KEY_MAX - 1, "v", 1), DORT_ECORRUPT);
    assert_int_equal(decode_rc(lkey, DORT__LMDB_KEY_MAX + 1, "v", 1), DORT_ECORRUPT);
}

/* ---- the ordering property ---- */

#define NKEYS 600

typedef struct key_s {
    unsigned char *bytes;
    size_t len;
    const unsigned char *prefix;
    unsigned char enc[DORT__LMDB_KEY_MAX];
    size_t enc_len;
} tkey_t;

/* Keys built from three base strings over a small alphabet, with a few
 * mutations and lengths clustered around the 455-byte boundary, so that
 * prefixes, equal heads, 0x00 and 0xff bytes are all common. */
static void make_key(tkey_t *k, unsigned char bases[3][DORT_STORAGE_MAX_KEY])
{
    static const unsigned char alphabet[] = {0x00, 0x01, 'a', 0x7f, 0x80, 0xfe, 0xff};
    static const size_t fixed[] = {1, 2, 3, 454, 455, 456, 457, 470, 511, 1000, 2047, 2048};
    size_t len;
    switch (rnd_below(3)) {
    case 0:
        len = 1 + rnd_below(8);
        break;
    case 1:
        len = fixed[rnd_below(sizeof fixed / sizeof fixed[0])];
        break;
    default:
        len = 1 + rnd_below(DORT_STORAGE_MAX_KEY);
        break;
    }
    k->bytes = malloc(len);
    assert_non_null(k->bytes);
    memcpy(k->bytes, bases[rnd_below(3)], len);
    size_t muts = rnd_below(3);
    for (size_t m = 0; m < muts; m++) {
        /* Mostly mutate the tail, so many long keys keep a shared head. */
        size_t pos = rnd_below(2) ? len - 1 - rnd_below(len < 4 ? len : 4) : rnd_below(len);
        k->bytes[pos] = alphabet[rnd_below(sizeof alphabet)];
    }
    k->len = len;
}

static int same_long_group(const tkey_t *a, const tkey_t *b)
{
    return a->prefix == b->prefix && a->len > DORT__SHORT_KEY_MAX && b->len > DORT__SHORT_KEY_MAX &&
           memcmp(a->bytes, b->bytes, DORT__SHORT_KEY_MAX) == 0;
}

static void ordering_property(void **state)
{
    (void)state;
    static const unsigned char alphabet[] = {0x00, 0x01, 'a', 0x7f, 0x80, 0xfe, 0xff};
    static unsigned char bases[3][DORT_STORAGE_MAX_KEY];
    static tkey_t keys[NKEYS];
    static const uint64_t seeds[] = {1, 0xdeadbeef, 20240601};
    size_t groups_seen = 0, cross_prefix = 0;
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        rng_state = seeds[s];
        for (int b = 0; b < 3; b++)
            for (size_t i = 0; i < DORT_STORAGE_MAX_KEY; i++)
                bases[b][i] = alphabet[rnd_below(sizeof alphabet)];
        /* Base 1 shares base 0's head: long keys from both form one group. */
        memcpy(bases[1], bases[0], DORT__SHORT_KEY_MAX);
        for (size_t i = 0; i < NKEYS; i++) {
            make_key(&keys[i], bases);
            keys[i].prefix = rnd_below(8) == 0 ? prefix_b : prefix_a;
            keys[i].enc_len =
                dort__key_encode(keys[i].enc, keys[i].prefix, keys[i].bytes, keys[i].len);
            assert_int_equal(keys[i].enc_len, keys[i].len > DORT__SHORT_KEY_MAX
                                                  ? DORT__LMDB_KEY_MAX
                                                  : DORT__PREFIX_SIZE + keys[i].len);
        }
        for (size_t i = 0; i < NKEYS; i++) {
            for (size_t j = 0; j < NKEYS; j++) {
                const tkey_t *a = &keys[i], *b = &keys[j];
                int ce = cmp_bytes(a->enc, a->enc_len, b->enc, b->enc_len);
                if (same_long_group(a, b)) {
                    /* Inside a group only equality must agree. */
                    int same = a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
                    assert_int_equal(ce == 0, same);
                    groups_seen += !same;
                    continue;
                }
                int ck = a->prefix != b->prefix
                             ? cmp_bytes(a->prefix, DORT__PREFIX_SIZE, b->prefix, DORT__PREFIX_SIZE)
                             : cmp_bytes(a->bytes, a->len, b->bytes, b->len);
                cross_prefix += a->prefix != b->prefix;
                if (ce != ck) {
                    print_error("seed %llu: keys %zu (len %zu) and %zu (len %zu): encoded "
                                "order %d, key order %d\n",
                                (unsigned long long)seeds[s], i, a->len, j, b->len, ce, ck);
                    fail();
                }
            }
        }
        for (size_t i = 0; i < NKEYS; i++)
            free(keys[i].bytes);
    }
    /* The generator must really produce same-head groups and two actors,
     * or the property above was checked on easy inputs only. */
    assert_true(groups_seen > 100);
    assert_true(cross_prefix > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* encoding */
        cmocka_unit_test(short_keys_verbatim),
        cmocka_unit_test(long_keys_exactly_511),
        cmocka_unit_test(longval_layout),
        /* decoding */
        cmocka_unit_test(decode_roundtrip),
        cmocka_unit_test(corrupt_inputs),
        cmocka_unit_test(impossible_key_lengths_are_corrupt),
        /* what listing relies on */
        cmocka_unit_test(ordering_property),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
