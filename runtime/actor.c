/* actor.c - actor lifecycle: activation, idleness, eviction, reset and
 * exclusivity. */
#include <string.h>

#include "alloc_internal.h"
#include "rt_internal.h"

/* ---- intrusive lists over the idle links ---- */

static void list_append(dort_actor_t **head, dort_actor_t **tail, dort_actor_t *a)
{
    a->idle_next = NULL;
    a->idle_prev = *tail;
    if (*tail != NULL)
        (*tail)->idle_next = a;
    else
        *head = a;
    *tail = a;
}

static void list_remove(dort_actor_t **head, dort_actor_t **tail, dort_actor_t *a)
{
    if (a->idle_prev != NULL)
        a->idle_prev->idle_next = a->idle_next;
    else
        *head = a->idle_next;
    if (a->idle_next != NULL)
        a->idle_next->idle_prev = a->idle_prev;
    else
        *tail = a->idle_prev;
    a->idle_prev = a->idle_next = NULL;
}

/* ---- activation ---- */

dort_actor_t *dort__actor_get(dort_rt_t *rt, dort_ns_t *ns, const dort_id_t *id, int *err)
{
    dort_actor_t *a = dort__table_find(&rt->actors, ns, id);
    if (a != NULL)
        return a;
    a = dort__calloc(1, sizeof *a + ns->cls->state_size);
    if (a == NULL) {
        *err = DORT_ENOMEM;
        return NULL;
    }
    a->id = *id;
    a->ns = ns;
    a->flags = DORT__AF_NEEDS_INIT;
    if (dort__table_insert(&rt->actors, a) != 0) {
        dort__free(a);
        *err = DORT_ENOMEM;
        return NULL;
    }
    rt->stats.actors_live++;
    rt->stats.actors_activated++;
    return a;
}

void dort__actor_prefix(const dort_actor_t *a, unsigned char out[DORT__PREFIX_SIZE])
{
    memcpy(out, a->ns->key, DORT__NS_TAG_SIZE);
    memcpy(out + DORT__NS_TAG_SIZE, a->id.bytes, DORT_ID_SIZE);
}

/* ---- idleness ---- */

void dort__actor_touch(dort_actor_t *a)
{
    if (a->flags & DORT__AF_IN_IDLE) {
        dort_rt_t *rt = a->ns->rt;
        list_remove(&rt->idle_head, &rt->idle_tail, a);
        a->flags &= (uint16_t)~DORT__AF_IN_IDLE;
    }
}

static int is_idle(const dort_actor_t *a)
{
    return !(a->flags & (DORT__AF_IN_TURN | DORT__AF_IN_RUNQ | DORT__AF_IN_IDLE |
                         DORT__AF_ALARM_FIRING | DORT__AF_IN_BLOCKED)) &&
           a->inbox_head == NULL && a->reply_head == NULL && a->open_calls == NULL &&
           a->outstanding == 0 && a->open_ws == NULL && a->inflight_ws == NULL &&
           a->held_open_head == NULL && a->held_inflight_head == NULL && a->block_count == 0 &&
           a->holds == 0;
}

void dort__actor_maybe_idle(dort_actor_t *a)
{
    if (!is_idle(a))
        return;
    dort_rt_t *rt = a->ns->rt;
    a->idle_since_ms = dort__mono_ms(rt);
    a->flags |= DORT__AF_IN_IDLE;
    list_append(&rt->idle_head, &rt->idle_tail, a);
}

void dort__ws_actor_evicted(dort_actor_t *a);

void dort__actor_evict(dort_actor_t *a)
{
    dort_rt_t *rt = a->ns->rt;
    dort__actor_touch(a);
    if (a->ns->cls->evict != NULL && !(a->flags & DORT__AF_NEEDS_INIT))
        a->ns->cls->evict(a);
    dort__ws_actor_evicted(a); /* its sockets stay open: hibernation */
    dort__table_remove(&rt->actors, a);
    rt->stats.actors_live--;
    rt->stats.actors_evicted++;
    dort__free(a);
}

/* ---- mailbox ---- */

void dort__actor_push_inbox(dort_actor_t *a, dort__msg_t *m)
{
    m->next = NULL;
    if (a->inbox_tail != NULL)
        a->inbox_tail->next = m;
    else
        a->inbox_head = m;
    a->inbox_tail = m;
    a->inbox_len++;
    dort__actor_touch(a);
    dort__sched_add(a->ns->rt, a);
}

void dort__actor_push_reply(dort_actor_t *a, dort__msg_t *m)
{
    m->next = NULL;
    if (a->reply_tail != NULL)
        a->reply_tail->next = m;
    else
        a->reply_head = m;
    a->reply_tail = m;
    dort__actor_touch(a);
    dort__sched_add(a->ns->rt, a);
}

/* ---- exclusivity ---- */

static void block_hold(dort_actor_t *a)
{
    if (a->block_count++ == 0) {
        dort_rt_t *rt = a->ns->rt;
        dort__actor_touch(a);
        a->block_since_ms = dort__mono_ms(rt);
        a->flags |= DORT__AF_IN_BLOCKED;
        list_append(&rt->blocked_head, &rt->blocked_tail, a);
    }
}

static void block_clear(dort_actor_t *a)
{
    dort_rt_t *rt = a->ns->rt;
    a->block_count = 0;
    if (a->flags & DORT__AF_IN_BLOCKED) {
        list_remove(&rt->blocked_head, &rt->blocked_tail, a);
        a->flags &= (uint16_t)~DORT__AF_IN_BLOCKED;
    }
    if (a->inbox_head != NULL)
        dort__sched_add(rt, a);
}

void dort__actor_block_init(dort_actor_t *a);
void dort__actor_block_init(dort_actor_t *a)
{
    block_hold(a);
}

int dort_actor_block(dort_actor_t *self)
{
    if (self == NULL)
        return DORT_EINVAL;
    if (!dort__in_turn_of(self->ns->rt, self))
        return DORT_ENOTINTURN;
    block_hold(self);
    return 0;
}

int dort_actor_unblock(dort_actor_t *self)
{
    if (self == NULL)
        return DORT_EINVAL;
    if (self->block_count == 0)
        return DORT_ESTATE;
    if (--self->block_count == 0)
        block_clear(self);
    return 0;
}

/* ---- reset ---- */

void dort__actor_drop_replies(dort_actor_t *a, int status)
{
    dort__msg_t *m = a->reply_head;
    a->reply_head = a->reply_tail = NULL;
    while (m != NULL) {
        dort__msg_t *next = m->next;
        if (m->kind == DORT__MSG_REPLY) {
            dort_call_t *c = dort__container_of(m, dort_call_t, msg);
            dort_response_free(c->res);
            a->outstanding--;
            dort__call_free(c);
        } else {
            dort__task_t *t = dort__container_of(m, dort__task_t, msg);
            if (t->cancel != NULL)
                t->cancel(t->data, status);
        }
        m = next;
    }
}

void dort__streams_actor_reset(dort_rt_t *rt, dort_actor_t *a);

void dort__actor_reset(dort_actor_t *a, int status)
{
    dort_rt_t *rt = a->ns->rt;
    DORT_LOG(&rt->log, DORT_LOG_WARN, "actor %s reset: %s", a->ns->binding, dort_strerror(status));
    if (a->ns->cls->evict != NULL && !(a->flags & DORT__AF_NEEDS_INIT))
        a->ns->cls->evict(a);
    memset(a->state, 0, a->ns->cls->state_size);
    a->flags |= DORT__AF_NEEDS_INIT;
    a->flags &= (uint16_t)~DORT__AF_IN_INIT;
    a->gen++;
    block_clear(a);
    while (a->open_calls != NULL) {
        dort_call_t *c = a->open_calls;
        dort__call_open_remove(a, c);
        dort__call_complete(rt, c, status, NULL);
    }
    /* Replies to calls made before the reset would run callbacks against
     * state that no longer exists: drop them (and later ones, by gen). */
    dort__actor_drop_replies(a, status);
    dort__streams_actor_reset(rt, a);
    rt->stats.actors_reset++;
}

/* ---- the sweep: idle eviction and exclusivity timeouts ---- */

void dort__actors_sweep(dort_rt_t *rt)
{
    int64_t now = dort__mono_ms(rt);
    int64_t idle = rt->opts.idle_timeout_ms;
    while (idle >= 0 && rt->idle_head != NULL && now - rt->idle_head->idle_since_ms >= idle)
        dort__actor_evict(rt->idle_head);
    dort_actor_t *a = rt->blocked_head;
    while (a != NULL) {
        dort_actor_t *next = a->idle_next;
        if (now - a->block_since_ms >= rt->opts.exclusive_timeout_ms && !(a->flags & DORT__AF_IN_TURN))
            dort__actor_reset(a, DORT_ERESET);
        a = next;
    }
}

void dort__actors_free_all(dort_rt_t *rt)
{
    dort__actor_table_t *t = &rt->actors;
    for (size_t i = 0; t->slots != NULL && i <= t->mask; i++) {
        dort_actor_t *a = t->slots[i];
        if (a == NULL)
            continue;
        if (a->ns->cls->evict != NULL && !(a->flags & DORT__AF_NEEDS_INIT))
            a->ns->cls->evict(a);
        dort__wset_free(a->open_ws);
        dort__wset_free(a->inflight_ws);
        dort__free(a);
        t->slots[i] = NULL;
    }
    t->count = 0;
    rt->idle_head = rt->idle_tail = NULL;
    rt->blocked_head = rt->blocked_tail = NULL;
    rt->stats.actors_live = 0;
}

/* ---- accessors ---- */

void *dort_actor_state(dort_actor_t *self)
{
    return self->state;
}

const dort_id_t *dort_actor_id(const dort_actor_t *self)
{
    return &self->id;
}

dort_ns_t *dort_actor_ns(const dort_actor_t *self)
{
    return self->ns;
}

dort_rt_t *dort_actor_rt(const dort_actor_t *self)
{
    return self->ns->rt;
}
