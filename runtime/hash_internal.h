/* hash_internal.h - a fast 64-bit hash for byte strings (write sets, tables).
 * Not cryptographic: keys come from actors' own storage, and a collision only
 * costs a comparison. */
#ifndef DORT_HASH_INTERNAL_H
#define DORT_HASH_INTERNAL_H

#include <stdint.h>
#include <string.h>

static inline uint64_t dort__hash_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static inline uint64_t dort__hash_bytes(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ dort__hash_mix(w)) * 0x100000001b3ULL;
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, len);
    h ^= dort__hash_mix(tail ^ ((uint64_t)len << 56));
    return dort__hash_mix(h);
}

#endif
