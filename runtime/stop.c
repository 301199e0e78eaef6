/* stop.c - graceful stop: refuse new external work, let queued turns and
 * pending calls finish (until a deadline), commit everything sealed, then
 * stop the writer and close dort's handles. */
#include "alloc_internal.h"
#include "cron_sched_internal.h"
#include "http_internal.h"
#include "rt_internal.h"

void dort__rt_stop_progress(dort_rt_t *rt);
int dort__queues_close(dort_rt_t *rt);
int dort__queues_idle(dort_rt_t *rt);
void dort__ws_rt_stop(dort_rt_t *rt);
void dort__ws_rt_free(dort_rt_t *rt);

/* Fails everything queued at or accepted by `a` with `status`. With
 * `final`, also drops replies it has not yet run (nothing will run them). */
static void drain_actor(dort_rt_t *rt, dort_actor_t *a, int status, int final)
{
    dort__msg_t *m = a->inbox_head;
    a->inbox_head = a->inbox_tail = NULL;
    a->inbox_len = 0;
    while (m != NULL) {
        dort__msg_t *next = m->next;
        if (m->kind == DORT__MSG_CALL) {
            dort__call_complete(rt, dort__container_of(m, dort_call_t, msg), status, NULL);
        } else if (m->kind == DORT__MSG_ALARM) {
            /* Still in LMDB: it fires again after the next start. */
            a->flags &= (uint16_t)~DORT__AF_ALARM_FIRING;
            dort__free(dort__container_of(m, dort__alarm_msg_t, msg));
        } else {
            dort__task_t *t = dort__container_of(m, dort__task_t, msg);
            if (t->cancel != NULL)
                t->cancel(t->data, status);
        }
        m = next;
    }
    while (a->open_calls != NULL) {
        dort_call_t *c = a->open_calls;
        dort__call_open_remove(a, c);
        dort__call_complete(rt, c, status, NULL);
    }
    if (final)
        dort__actor_drop_replies(a, status);
}

static void drain_all(dort_rt_t *rt, int final)
{
    dort__actor_table_t *t = &rt->actors;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i] != NULL)
            drain_actor(rt, t->slots[i], DORT_ESTOPPED, final);
}

void dort__rt_handle_closed(dort_rt_t *rt)
{
    if (--rt->handles_open != 0)
        return;
    dort__store_close(&rt->store);
    rt->state = DORT__RT_STOPPED;
    if (rt->stop_cb != NULL)
        rt->stop_cb(rt, rt->stop_data);
}

static void on_handle_closed(uv_handle_t *h)
{
    dort__rt_handle_closed(h->data);
}

static void finish(dort_rt_t *rt)
{
    dort__writer_stop(&rt->writer);
    int rc = dort__store_sync(&rt->store);
    if (rc != 0)
        DORT_LOG(&rt->log, DORT_LOG_ERROR, "final sync failed: %s", dort_strerror(rc));
    /* Failing calls can queue replies at actors drained before: a second,
     * final pass drops those. */
    drain_all(rt, 0);
    drain_all(rt, 1);
    dort__actors_free_all(rt);
    rt->runq_head = rt->runq_tail = NULL;
    /* Connections still open (streams, sockets, the deadline passed) close
     * now; their handles count towards the stop callback. */
    int cron_handles = dort__cron_close(rt); /* before sockets close: /__scheduled answers */
    rt->handles_open =
        7 + dort__http_servers_close_all(rt) + dort__queues_close(rt) + cron_handles;
    dort__ws_rt_free(rt); /* every socket's connection is gone now */
    uv_close((uv_handle_t *)&rt->prepare, on_handle_closed);
    uv_close((uv_handle_t *)&rt->check, on_handle_closed);
    uv_close((uv_handle_t *)&rt->idle, on_handle_closed);
    uv_close((uv_handle_t *)&rt->sweep_timer, on_handle_closed);
    uv_close((uv_handle_t *)&rt->alarm_timer, on_handle_closed);
    uv_close((uv_handle_t *)&rt->stop_timer, on_handle_closed);
    uv_close((uv_handle_t *)&rt->writer_async, on_handle_closed);
}

void dort__rt_stop_progress(dort_rt_t *rt)
{
    if (rt->state != DORT__RT_STOPPING)
        return;
    if (rt->runq_head != NULL || !dort__commit_idle(rt))
        return;
    if (!rt->stop_deadline_passed && (!dort__http_servers_idle(rt) || !dort__queues_idle(rt) ||
                                      !dort__cron_idle(rt)))
        return;
    if (rt->calls_pending != 0) {
        if (!rt->stop_deadline_passed)
            return;
        drain_all(rt, 0);
        dort__sched_run(rt);
        dort__commit_kick(rt);
        if (rt->runq_head != NULL || !dort__commit_idle(rt))
            return;
    }
    rt->state = DORT__RT_FINISHING;
    finish(rt);
}

static void on_stop_deadline(uv_timer_t *t)
{
    dort_rt_t *rt = t->data;
    rt->stop_deadline_passed = 1;
    DORT_LOG(&rt->log, DORT_LOG_WARN, "stop deadline passed with %llu calls pending",
             (unsigned long long)rt->calls_pending);
    drain_all(rt, 0);
    dort__sched_run(rt);
    dort__commit_kick(rt);
    dort__rt_stop_progress(rt);
}

int dort_rt_stop(dort_rt_t *rt, dort_rt_stop_cb cb, void *data)
{
    if (rt == NULL)
        return DORT_EINVAL;
    if (rt->state != DORT__RT_RUNNING)
        return DORT_ESTATE;
    rt->state = DORT__RT_STOPPING;
    dort__ws_rt_stop(rt); /* close frames 1001; no more events to actors */
    dort__http_servers_drain(rt);
    rt->stop_cb = cb;
    rt->stop_data = data;
    uv_timer_stop(&rt->alarm_timer);
    dort__cron_stop(rt);
    uv_timer_start(&rt->stop_timer, on_stop_deadline, (uint64_t)rt->opts.stop_timeout_ms, 0);
    return 0;
}
