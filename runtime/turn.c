/* turn.c - the beginning and end of a turn, and the output gate.
 *
 * At the end of a successful turn its writes are sealed into the actor's
 * open write set and its outputs are gated: they wait for the commit of the
 * open set if the actor has one (this turn wrote, or an earlier one did and
 * is not yet submitted), else for the set the writer is committing now,
 * else they leave at once. So a turn that only read waits only for its own
 * actor's earlier writes, never for other actors' commits. */
#include "rt_internal.h"

void dort__turn_begin(dort_rt_t *rt, dort_actor_t *a, int kind)
{
    DORT_ASSERT(rt->turn.actor == NULL);
    rt->turn.actor = a;
    rt->turn.kind = (uint8_t)kind;
    rt->turn.depth = 0;
    rt->turn.out_head = rt->turn.out_tail = NULL;
    rt->turn.call = NULL;
    a->flags |= DORT__AF_IN_TURN;
    dort__actor_touch(a);
    rt->stats.turns++;
}

void dort__turn_add_output(dort_rt_t *rt, dort__out_t *o)
{
    o->next = NULL;
    if (rt->turn.out_tail != NULL)
        rt->turn.out_tail->next = o;
    else
        rt->turn.out_head = o;
    rt->turn.out_tail = o;
}

void dort__turn_add_txn_output(dort_rt_t *rt, dort__out_t *o)
{
    dort__turn_t *t = &rt->turn;
    if (t->depth == 0) {
        dort__turn_add_output(rt, o);
        return;
    }
    o->next = t->txn_out[t->depth];
    t->txn_out[t->depth] = o;
}

void dort__turn_txn_end(dort_rt_t *rt, uint32_t depth, int committed)
{
    dort__turn_t *t = &rt->turn;
    dort__out_t *o = t->txn_out[depth];
    t->txn_out[depth] = NULL;
    while (o != NULL) {
        dort__out_t *next = o->next;
        if (!committed) {
            dort__out_fail(rt, o, DORT_ETXN);
        } else if (depth == 1) {
            dort__turn_add_output(rt, o);
        } else {
            o->next = t->txn_out[depth - 1];
            t->txn_out[depth - 1] = o;
        }
        o = next;
    }
}

void dort__out_release(dort_rt_t *rt, dort__out_t *o)
{
    switch (o->kind) {
    case DORT__OUT_SEND:
        dort__call_deliver(rt, dort__container_of(o, dort_call_t, out));
        break;
    case DORT__OUT_RESPOND: {
        dort_call_t *c = dort__container_of(o, dort_call_t, out);
        dort_response_t *res = c->res;
        c->res = NULL;
        dort__call_complete(rt, c, 0, res);
        break;
    }
    case DORT__OUT_CUSTOM: {
        dort__out_custom_t *cu = dort__container_of(o, dort__out_custom_t, out);
        cu->release(cu->data);
        break;
    }
    default:
        DORT_BUG("unknown output kind");
    }
}

void dort__out_fail(dort_rt_t *rt, dort__out_t *o, int status)
{
    switch (o->kind) {
    case DORT__OUT_SEND: {
        /* Never sent: the caller's callback must not run, since the turn (or
         * the writes it depended on) never happened. */
        dort_call_t *c = dort__container_of(o, dort_call_t, out);
        if (c->caller != NULL)
            c->caller->outstanding--;
        dort__call_free(c);
        break;
    }
    case DORT__OUT_RESPOND: {
        dort_call_t *c = dort__container_of(o, dort_call_t, out);
        dort_response_free(c->res);
        c->res = NULL;
        dort__call_complete(rt, c, status, NULL);
        break;
    }
    case DORT__OUT_CUSTOM: {
        dort__out_custom_t *cu = dort__container_of(o, dort__out_custom_t, out);
        cu->fail(cu->data, status);
        break;
    }
    default:
        DORT_BUG("unknown output kind");
    }
}

void dort__out_release_list(dort_rt_t *rt, dort__out_t *o)
{
    while (o != NULL) {
        dort__out_t *next = o->next;
        dort__out_release(rt, o);
        o = next;
    }
}

void dort__out_fail_list(dort_rt_t *rt, dort__out_t *o, int status)
{
    while (o != NULL) {
        dort__out_t *next = o->next;
        dort__out_fail(rt, o, status);
        o = next;
    }
}

static void hold(dort__out_t **head, dort__out_t **tail, dort__out_t *first, dort__out_t *last)
{
    if (*tail != NULL)
        (*tail)->next = first;
    else
        *head = first;
    *tail = last;
}

static void gate(dort_rt_t *rt, dort_actor_t *a, dort__out_t *head, dort__out_t *tail)
{
    if (head == NULL)
        return;
    if (a->open_ws != NULL) {
        hold(&a->held_open_head, &a->held_open_tail, head, tail);
        rt->stats.outputs_held++;
    } else if (a->inflight_ws != NULL) {
        hold(&a->held_inflight_head, &a->held_inflight_tail, head, tail);
        rt->stats.outputs_held++;
    } else {
        dort__out_release_list(rt, head);
    }
}

void dort__turn_end(dort_rt_t *rt, int rc)
{
    dort_actor_t *a = rt->turn.actor;
    dort__turn_t *t = &rt->turn;
    if (t->depth > 0) {
        for (uint32_t i = t->depth; i >= 1; i--) {
            dort__wset_reset(&t->layers[i]);
            dort__turn_txn_end(rt, i, 0);
        }
        t->depth = 0;
        if (rc == 0) {
            DORT_LOG(&rt->log, DORT_LOG_WARN, "actor %s: transaction left open at end of turn",
                     a->ns->binding);
            rc = DORT_ETXN;
        }
    }
    if (rc == 0 && dort__wset_dirty(&t->layers[0]))
        rc = dort__commit_seal(rt, a, &t->layers[0]);
    dort__out_t *head = t->out_head, *tail = t->out_tail;
    dort_call_t *call = t->call;
    int kind = t->kind;
    t->out_head = t->out_tail = NULL;
    t->call = NULL;
    t->actor = NULL;
    a->flags &= (uint16_t)~DORT__AF_IN_TURN;
    if (rc == 0) {
        gate(rt, a, head, tail);
        return;
    }
    rt->stats.turns_failed++;
    dort__wset_reset(&t->layers[0]);
    DORT_LOG(&rt->log, DORT_LOG_INFO, "actor %s: turn failed (%d), writes and outputs dropped",
             a->ns->binding, rc);
    /* Before failing outputs, which may free `call` if it was answered. */
    if (kind == DORT__TURN_FETCH && call != NULL && call->is_open) {
        /* The failing fetch did not answer its call: the caller learns now. */
        dort__call_open_remove(a, call);
        dort__call_complete(rt, call, DORT_EHANDLER, NULL);
    }
    dort__out_fail_list(rt, head, DORT_EHANDLER);
}
