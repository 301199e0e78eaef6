/* queue_seqset.c - a set of sequence numbers: the messages of a queue that
 * are leased to its consumer. Open addressing, backward-shift deletion. */
#include "alloc_internal.h"
#include "hash_internal.h"
#include "queue_internal.h"

static size_t home(const dort__seqset_t *s, uint64_t v)
{
    return (size_t)dort__hash_mix(v) & s->mask;
}

static int grow(dort__seqset_t *s)
{
    size_t old_size = s->slots ? s->mask + 1 : 0, size = old_size ? old_size * 2 : 64;
    uint64_t *old = s->slots;
    s->slots = dort__calloc(size, sizeof *s->slots);
    if (s->slots == NULL) {
        s->slots = old;
        return DORT_ENOMEM;
    }
    s->mask = size - 1;
    for (size_t i = 0; i < old_size; i++) {
        if (old[i] == 0)
            continue;
        size_t j = home(s, old[i]);
        while (s->slots[j] != 0)
            j = (j + 1) & s->mask;
        s->slots[j] = old[i];
    }
    dort__free(old);
    return 0;
}

int dort__seqset_add(dort__seqset_t *s, uint64_t seq)
{
    uint64_t v = seq + 1;
    if ((s->slots == NULL || (s->count + 1) * 2 > s->mask + 1) && grow(s) != 0)
        return DORT_ENOMEM;
    size_t i = home(s, v);
    while (s->slots[i] != 0) {
        if (s->slots[i] == v)
            return 0;
        i = (i + 1) & s->mask;
    }
    s->slots[i] = v;
    s->count++;
    return 0;
}

int dort__seqset_has(const dort__seqset_t *s, uint64_t seq)
{
    if (s->count == 0)
        return 0;
    uint64_t v = seq + 1;
    for (size_t i = home(s, v); s->slots[i] != 0; i = (i + 1) & s->mask)
        if (s->slots[i] == v)
            return 1;
    return 0;
}

void dort__seqset_del(dort__seqset_t *s, uint64_t seq)
{
    if (s->count == 0)
        return;
    uint64_t v = seq + 1;
    size_t i = home(s, v);
    while (s->slots[i] != v) {
        if (s->slots[i] == 0)
            return;
        i = (i + 1) & s->mask;
    }
    size_t hole = i;
    for (size_t j = (i + 1) & s->mask; s->slots[j] != 0; j = (j + 1) & s->mask) {
        size_t h = home(s, s->slots[j]);
        if (((j - h) & s->mask) >= ((j - hole) & s->mask)) {
            s->slots[hole] = s->slots[j];
            hole = j;
        }
    }
    s->slots[hole] = 0;
    s->count--;
}

void dort__seqset_release(dort__seqset_t *s)
{
    dort__free(s->slots);
    s->slots = NULL;
    s->mask = s->count = 0;
}
