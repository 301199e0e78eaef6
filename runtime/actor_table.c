/* actor_table.c - live actors by (namespace, id): open addressing with
 * linear probing and backward-shift deletion (no tombstones), one pointer
 * per slot so a million idle actors cost ~16 bytes each here. */
#include <string.h>

#include "alloc_internal.h"
#include "rt_internal.h"

/* Ids are HMAC output or random, so their bytes are already uniform. */
static size_t slot_of(const dort__actor_table_t *t, const dort_ns_t *ns, const dort_id_t *id)
{
    uint64_t h;
    memcpy(&h, id->bytes, sizeof h);
    h ^= (uint64_t)ns->index * 0x9e3779b97f4a7c15ULL;
    return (size_t)h & t->mask;
}

int dort__table_init(dort__actor_table_t *t)
{
    t->mask = 1023;
    t->count = 0;
    t->slots = dort__calloc(t->mask + 1, sizeof *t->slots);
    return t->slots ? 0 : DORT_ENOMEM;
}

void dort__table_release(dort__actor_table_t *t)
{
    dort__free(t->slots);
    t->slots = NULL;
    t->count = 0;
}

dort_actor_t *dort__table_find(const dort__actor_table_t *t, const dort_ns_t *ns,
                               const dort_id_t *id)
{
    for (size_t i = slot_of(t, ns, id);; i = (i + 1) & t->mask) {
        dort_actor_t *a = t->slots[i];
        if (a == NULL)
            return NULL;
        if (a->ns == ns && memcmp(a->id.bytes, id->bytes, DORT_ID_SIZE) == 0)
            return a;
    }
}

static void place(dort__actor_table_t *t, dort_actor_t *a)
{
    size_t i = slot_of(t, a->ns, &a->id);
    while (t->slots[i] != NULL)
        i = (i + 1) & t->mask;
    t->slots[i] = a;
}

static int grow(dort__actor_table_t *t)
{
    dort_actor_t **old = t->slots;
    size_t old_size = t->mask + 1;
    dort_actor_t **slots = dort__calloc(old_size * 2, sizeof *slots);
    if (slots == NULL)
        return DORT_ENOMEM;
    t->slots = slots;
    t->mask = old_size * 2 - 1;
    for (size_t i = 0; i < old_size; i++)
        if (old[i] != NULL)
            place(t, old[i]);
    dort__free(old);
    return 0;
}

int dort__table_insert(dort__actor_table_t *t, dort_actor_t *a)
{
    /* Keep the load under 3/4 so probes stay short. */
    if ((t->count + 1) * 4 > (t->mask + 1) * 3 && grow(t) != 0)
        return DORT_ENOMEM;
    place(t, a);
    t->count++;
    return 0;
}

void dort__table_remove(dort__actor_table_t *t, dort_actor_t *a)
{
    size_t i = slot_of(t, a->ns, &a->id);
    while (t->slots[i] != a) {
        DORT_ASSERT(t->slots[i] != NULL);
        i = (i + 1) & t->mask;
    }
    /* Backward shift: move later members of the probe run into the hole when
     * their home slot is at or before it (cyclically). */
    size_t hole = i;
    for (size_t j = (i + 1) & t->mask; t->slots[j] != NULL; j = (j + 1) & t->mask) {
        size_t home = slot_of(t, t->slots[j]->ns, &t->slots[j]->id);
        if (((j - home) & t->mask) >= ((j - hole) & t->mask)) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole] = NULL;
    t->count--;
}
