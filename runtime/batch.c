/* batch.c - the batch container (see batch_internal.h). */
#include <string.h>

#include <dort/errors.h>

#include "alloc_internal.h"
#include "batch_internal.h"

dort__batch_t *dort__batch_new(uint64_t seq)
{
    dort__batch_t *b = dort__calloc(1, sizeof *b);
    if (b != NULL)
        b->seq = seq;
    return b;
}

void dort__batch_free(dort__batch_t *b)
{
    if (b == NULL)
        return;
    dort__free(b->items);
    dort__free(b->waiters);
    dort__free(b);
}

int dort__batch_add(dort__batch_t *b, dort_actor_t *actor, const unsigned char *prefix,
                    dort__wset_t *ws)
{
    if (b->nitems == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 64;
        dort__batch_item_t *n = dort__realloc(b->items, (size_t)cap * sizeof *n);
        if (n == NULL)
            return DORT_ENOMEM;
        b->items = n;
        b->cap = cap;
    }
    dort__batch_item_t *it = &b->items[b->nitems];
    it->actor = actor;
    if (prefix != NULL)
        memcpy(it->prefix, prefix, DORT__PREFIX_SIZE);
    else
        memset(it->prefix, 0, DORT__PREFIX_SIZE);
    it->ws = ws;
    return (int)b->nitems++;
}

int dort__batch_add_waiter(dort__batch_t *b, dort__commit_cb cb, void *data)
{
    if (b->nwaiters == b->waiters_cap) {
        uint32_t cap = b->waiters_cap ? b->waiters_cap * 2 : 16;
        dort__batch_waiter_t *n = dort__realloc(b->waiters, (size_t)cap * sizeof *n);
        if (n == NULL)
            return DORT_ENOMEM;
        b->waiters = n;
        b->waiters_cap = cap;
    }
    b->waiters[b->nwaiters].cb = cb;
    b->waiters[b->nwaiters].data = data;
    b->nwaiters++;
    return 0;
}
