/* keycodec_internal.h - how an actor's user keys become LMDB keys.
 *
 * kv keys are <ns tag (8)><actor id (32)><user key>. LMDB's key limit is 511
 * bytes but users may use keys of up to 2 KiB, so a key longer than 455
 * bytes is stored as <prefix><first 455 bytes><16 bytes of SHA-256 of the
 * whole key> (exactly 511 bytes, longer than any short key can be) and its
 * value as <u16 BE remainder length><remainder><user value>. Long keys with
 * the same 455-byte head sit next to each other in LMDB order, just after
 * the short key equal to the head, so a listing only has to re-sort such a
 * group by full key to keep exact byte order.
 */
#ifndef DORT_KEYCODEC_INTERNAL_H
#define DORT_KEYCODEC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define DORT__NS_TAG_SIZE 8
#define DORT__PREFIX_SIZE 40
#define DORT__LMDB_KEY_MAX 511
#define DORT__SHORT_KEY_MAX 455
#define DORT__LONG_HASH_SIZE 16
#define DORT__LONG_HEAD_END (DORT__PREFIX_SIZE + DORT__SHORT_KEY_MAX)

/* Writes the LMDB key for `key` under `prefix` into `out` and returns its
 * length. `key_len` must be 1..DORT_STORAGE_MAX_KEY. */
size_t dort__key_encode(unsigned char out[DORT__LMDB_KEY_MAX],
                        const unsigned char prefix[DORT__PREFIX_SIZE], const void *key,
                        size_t key_len);

static inline int dort__key_is_long(size_t lmdb_key_len)
{
    return lmdb_key_len == DORT__LMDB_KEY_MAX;
}

/* Bytes of the stored value of a long key. */
static inline size_t dort__longval_size(size_t key_len, size_t val_len)
{
    return 2 + (key_len - DORT__SHORT_KEY_MAX) + val_len;
}

void dort__longval_encode(unsigned char *out, const void *key, size_t key_len, const void *val,
                          size_t val_len);

/* Rebuilds the user key and finds the user value of one stored entry.
 * `keybuf` (DORT_STORAGE_MAX_KEY bytes) receives the key only for long keys;
 * `*key` points either into the LMDB key or into keybuf. Returns 0 or
 * DORT_ECORRUPT. */
int dort__entry_decode(const void *lkey, size_t lkey_len, const void *lval, size_t lval_len,
                       unsigned char *keybuf, const unsigned char **key, size_t *key_len,
                       const unsigned char **val, size_t *val_len);

/* Big-endian helpers for time-ordered keys. */
static inline void dort__be64_put(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

static inline uint64_t dort__be64_get(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

#endif
