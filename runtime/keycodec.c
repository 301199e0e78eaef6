/* keycodec.c - LMDB key layout for actor storage (see keycodec_internal.h). */
#include <string.h>

#include <openssl/sha.h>

#include <dort/errors.h>
#include <dort/storage.h>

#include "keycodec_internal.h"

size_t dort__key_encode(unsigned char out[DORT__LMDB_KEY_MAX],
                        const unsigned char prefix[DORT__PREFIX_SIZE], const void *key,
                        size_t key_len)
{
    memcpy(out, prefix, DORT__PREFIX_SIZE);
    if (key_len <= DORT__SHORT_KEY_MAX) {
        memcpy(out + DORT__PREFIX_SIZE, key, key_len);
        return DORT__PREFIX_SIZE + key_len;
    }
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(key, key_len, digest);
    memcpy(out + DORT__PREFIX_SIZE, key, DORT__SHORT_KEY_MAX);
    memcpy(out + DORT__LONG_HEAD_END, digest, DORT__LONG_HASH_SIZE);
    return DORT__LMDB_KEY_MAX;
}

void dort__longval_encode(unsigned char *out, const void *key, size_t key_len, const void *val,
                          size_t val_len)
{
    size_t rem = key_len - DORT__SHORT_KEY_MAX;
    out[0] = (unsigned char)(rem >> 8);
    out[1] = (unsigned char)rem;
    memcpy(out + 2, (const unsigned char *)key + DORT__SHORT_KEY_MAX, rem);
    if (val_len)
        memcpy(out + 2 + rem, val, val_len);
}

int dort__entry_decode(const void *lkey, size_t lkey_len, const void *lval, size_t lval_len,
                       unsigned char *keybuf, const unsigned char **key, size_t *key_len,
                       const unsigned char **val, size_t *val_len)
{
    const unsigned char *k = lkey;
    const unsigned char *v = lval;
    /* Short encodings end at prefix + 455 bytes and long ones are exactly
     * 511: anything between or beyond was not written by dort. */
    if (lkey_len <= DORT__PREFIX_SIZE || lkey_len > DORT__LMDB_KEY_MAX ||
        (lkey_len > DORT__LONG_HEAD_END && !dort__key_is_long(lkey_len)))
        return DORT_ECORRUPT;
    if (!dort__key_is_long(lkey_len)) {
        *key = k + DORT__PREFIX_SIZE;
        *key_len = lkey_len - DORT__PREFIX_SIZE;
        *val = v;
        *val_len = lval_len;
        return 0;
    }
    if (lval_len < 2)
        return DORT_ECORRUPT;
    size_t rem = ((size_t)v[0] << 8) | v[1];
    if (rem == 0 || rem + DORT__SHORT_KEY_MAX > DORT_STORAGE_MAX_KEY || 2 + rem > lval_len)
        return DORT_ECORRUPT;
    memcpy(keybuf, k + DORT__PREFIX_SIZE, DORT__SHORT_KEY_MAX);
    memcpy(keybuf + DORT__SHORT_KEY_MAX, v + 2, rem);
    *key = keybuf;
    *key_len = DORT__SHORT_KEY_MAX + rem;
    *val = v + 2 + rem;
    *val_len = lval_len - 2 - rem;
    return 0;
}
