/* sched.c - the run queue: actors with something to deliver, served one
 * message per visit so that no actor starves another.
 *
 * The queue runs from the loop's prepare and check phases (see runtime.c),
 * so work added by timers, I/O callbacks or the writer's completion is
 * served in the same loop iteration, before the loop can block in poll. A
 * pass is bounded; leftover work keeps an idle handle active so poll does
 * not wait. */
#include "rt_internal.h"

#define SCHED_BUDGET 8192

void dort__actor_block_init(dort_actor_t *a);
void dort__alarm_msg_fail(dort_rt_t *rt, dort_actor_t *a, dort__alarm_msg_t *m, int status);

void dort__sched_add(dort_rt_t *rt, dort_actor_t *a)
{
    if (a->flags & DORT__AF_IN_RUNQ)
        return;
    a->flags |= DORT__AF_IN_RUNQ;
    a->runq_next = NULL;
    if (rt->runq_tail != NULL)
        rt->runq_tail->runq_next = a;
    else
        rt->runq_head = a;
    rt->runq_tail = a;
}

static dort_actor_t *runq_pop(dort_rt_t *rt)
{
    dort_actor_t *a = rt->runq_head;
    rt->runq_head = a->runq_next;
    if (rt->runq_head == NULL)
        rt->runq_tail = NULL;
    a->flags &= (uint16_t)~DORT__AF_IN_RUNQ;
    return a;
}

static int deliverable(const dort_actor_t *a)
{
    if (a->reply_head != NULL)
        return 1;
    return a->inbox_head != NULL && (a->block_count == 0 || (a->flags & DORT__AF_NEEDS_INIT));
}

static dort__msg_t *pop_inbox(dort_actor_t *a)
{
    dort__msg_t *m = a->inbox_head;
    a->inbox_head = m->next;
    if (a->inbox_head == NULL)
        a->inbox_tail = NULL;
    a->inbox_len--;
    return m;
}

/* Fails the message that activated an actor whose init failed. */
static void fail_head(dort_rt_t *rt, dort_actor_t *a, int status)
{
    if (a->inbox_head == NULL)
        return;
    dort__msg_t *m = pop_inbox(a);
    if (m->kind == DORT__MSG_CALL) {
        dort__call_complete(rt, dort__container_of(m, dort_call_t, msg), status, NULL);
    } else if (m->kind == DORT__MSG_ALARM) {
        dort__alarm_msg_fail(rt, a, dort__container_of(m, dort__alarm_msg_t, msg), status);
    } else {
        dort__task_t *t = dort__container_of(m, dort__task_t, msg);
        if (t->cancel != NULL)
            t->cancel(t->data, status);
    }
}

/* init runs as a turn under an exclusivity hold of its own, released when
 * it returns; holds it took itself keep the actor exclusive. */
static void run_init(dort_rt_t *rt, dort_actor_t *a)
{
    a->flags &= (uint16_t)~DORT__AF_NEEDS_INIT;
    if (a->ns->cls->init == NULL)
        return;
    uint32_t gen = a->gen;
    dort__actor_block_init(a);
    a->flags |= DORT__AF_IN_INIT;
    dort__turn_begin(rt, a, DORT__TURN_INIT);
    int rc = a->ns->cls->init(a);
    dort__turn_end(rt, rc);
    if (a->gen != gen)
        return; /* turn_end reset the actor (seal failed) */
    a->flags &= (uint16_t)~DORT__AF_IN_INIT;
    if (rc != 0) {
        dort__actor_reset(a, DORT_EHANDLER);
        fail_head(rt, a, DORT_EHANDLER);
        return;
    }
    dort_actor_unblock(a);
}

static void run_task(dort_rt_t *rt, dort_actor_t *a, dort__task_t *t)
{
    dort__turn_begin(rt, a, DORT__TURN_TASK);
    int rc = t->fn(a, t->data);
    dort__turn_end(rt, rc);
}

static void deliver_one(dort_rt_t *rt, dort_actor_t *a)
{
    /* Whatever is queued, a fresh or reset instance runs init first. */
    if (a->flags & DORT__AF_NEEDS_INIT) {
        run_init(rt, a);
        return;
    }
    if (a->reply_head != NULL) {
        dort__msg_t *m = a->reply_head;
        a->reply_head = m->next;
        if (a->reply_head == NULL)
            a->reply_tail = NULL;
        if (m->kind == DORT__MSG_REPLY)
            dort__call_run_reply(rt, a, dort__container_of(m, dort_call_t, msg));
        else
            run_task(rt, a, dort__container_of(m, dort__task_t, msg));
        return;
    }
    if (a->block_count != 0 || a->inbox_head == NULL)
        return;
    dort__msg_t *m = pop_inbox(a);
    switch (m->kind) {
    case DORT__MSG_CALL:
        dort__call_run_fetch(rt, a, dort__container_of(m, dort_call_t, msg));
        break;
    case DORT__MSG_ALARM:
        dort__alarm_run(rt, a, dort__container_of(m, dort__alarm_msg_t, msg));
        break;
    case DORT__MSG_TASK:
        run_task(rt, a, dort__container_of(m, dort__task_t, msg));
        break;
    default:
        DORT_BUG("unknown message kind");
    }
}

static void idle_cb(uv_idle_t *h)
{
    dort__sched_run(h->data);
}

void dort__sched_run(dort_rt_t *rt)
{
    if (rt->in_sched)
        return;
    rt->in_sched = 1;
    for (int budget = SCHED_BUDGET; budget > 0 && rt->runq_head != NULL; budget--) {
        dort_actor_t *a = runq_pop(rt);
        deliver_one(rt, a);
        if (deliverable(a))
            dort__sched_add(rt, a);
        else
            dort__actor_maybe_idle(a);
    }
    rt->in_sched = 0;
    /* Work left over, or an answer just handed to code outside the actors
     * (which may be waiting on uv_run(UV_RUN_ONCE)): the loop must not
     * sleep in poll now. An active idle handle makes its timeout zero. */
    if (rt->runq_head != NULL || rt->woke_external)
        uv_idle_start(&rt->idle, idle_cb);
    else
        uv_idle_stop(&rt->idle);
    rt->woke_external = 0;
}

int dort__actor_post_task(dort_actor_t *a, dort__task_t *t)
{
    t->msg.kind = DORT__MSG_TASK;
    if (t->exclusive_ok)
        dort__actor_push_reply(a, &t->msg);
    else
        dort__actor_push_inbox(a, &t->msg);
    return 0;
}
