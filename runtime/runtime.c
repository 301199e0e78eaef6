/* runtime.c - creating, starting, stopping and freeing a runtime, and the
 * loop hooks that drive the scheduler and the commit pipeline. */
#include <string.h>
#include <time.h>

#include <dort/version.h>

#include "alloc_internal.h"
#include "cron_sched_internal.h"
#include "http_internal.h"
#include "rt_internal.h"

void dort__registry_release(dort_rt_t *rt);
int dort__queues_want_dbs(dort_rt_t *rt);
int dort__queues_open(dort_rt_t *rt);
void dort__queues_start(dort_rt_t *rt);
void dort__queues_free(dort_rt_t *rt);
void dort__rt_stop_progress(dort_rt_t *rt);

#define NUM_HANDLES 7

const char *dort_version_string(void)
{
    return DORT_VERSION_STRING;
}

int64_t dort__wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dort_rt_options_init(dort_rt_options_t *o)
{
    memset(o, 0, sizeof *o);
    o->durability = DORT_DURABILITY_FULL;
    o->idle_timeout_ms = 10000;
    o->exclusive_timeout_ms = 30000;
    o->map_size = (uint64_t)8 << 30;
    o->relaxed_sync_interval_ms = 1000;
    o->mailbox_limit = 100000;
    o->alarm_retry_base_ms = 2000;
    o->alarm_retry_jitter = 0.25;
    o->alarm_max_retries = 6;
    o->stop_timeout_ms = 5000;
    o->log_level = DORT_LOG_INFO;
}

static int validate(const dort_rt_options_t *o)
{
    if (o->durability != DORT_DURABILITY_MEMORY && (o->data_dir == NULL || !o->data_dir[0]))
        return DORT_EINVAL;
    if (o->durability > DORT_DURABILITY_MEMORY || o->exclusive_timeout_ms <= 0 ||
        o->map_size < ((uint64_t)1 << 20) || o->mailbox_limit == 0 ||
        o->alarm_retry_base_ms < 0 || o->alarm_retry_jitter < 0 || o->alarm_retry_jitter >= 1 ||
        o->stop_timeout_ms < 0 || (o->max_size != 0 && o->max_size < ((uint64_t)1 << 16)))
        return DORT_EINVAL;
    return 0;
}

int dort_rt_new(dort_rt_t **out, const dort_rt_options_t *o)
{
    if (out == NULL || o == NULL)
        return DORT_EINVAL;
    int rc = validate(o);
    if (rc != 0) {
        if (o->log_fn != NULL)
            o->log_fn(o->log_data, DORT_LOG_ERROR, "invalid runtime options");
        return rc;
    }
    dort_rt_t *rt = dort__calloc(1, sizeof *rt);
    if (rt == NULL)
        return DORT_ENOMEM;
    rt->opts = *o;
    rt->log.fn = o->log_fn;
    rt->log.data = o->log_data;
    rt->log.level = (int)o->log_level;
    rt->alarm_timer_due = -1;
    rt->rng = (uint64_t)uv_hrtime() | 1;
    if (o->data_dir != NULL && (rt->data_dir = dort__strdup(o->data_dir)) == NULL)
        goto nomem;
    rt->opts.data_dir = rt->data_dir;
    if (dort__table_init(&rt->actors) != 0)
        goto nomem;
    if (o->loop != NULL) {
        rt->loop = o->loop;
    } else {
        rt->own_loop = dort__malloc(sizeof *rt->own_loop);
        if (rt->own_loop == NULL)
            goto nomem;
        if (uv_loop_init(rt->own_loop) != 0) {
            dort__free(rt->own_loop);
            rt->own_loop = NULL;
            dort_rt_free(rt);
            return DORT_ESYS;
        }
        rt->loop = rt->own_loop;
    }
    *out = rt;
    return 0;
nomem:
    dort_rt_free(rt);
    return DORT_ENOMEM;
}

static void on_prepare(uv_prepare_t *h)
{
    dort_rt_t *rt = h->data;
    dort__sched_run(rt);
    dort__commit_kick(rt);
    dort__rt_stop_progress(rt);
}

static void on_check(uv_check_t *h)
{
    dort_rt_t *rt = h->data;
    dort__sched_run(rt);
    dort__commit_kick(rt);
}

static void on_sweep(uv_timer_t *t)
{
    dort__actors_sweep(t->data);
    dort__sched_run(t->data);
}

static int64_t sweep_interval(const dort_rt_options_t *o)
{
    int64_t t = o->exclusive_timeout_ms;
    if (o->idle_timeout_ms >= 0 && o->idle_timeout_ms < t)
        t = o->idle_timeout_ms;
    t /= 4;
    return t < 5 ? 5 : (t > 1000 ? 1000 : t);
}

static int init_handles(dort_rt_t *rt)
{
    uv_prepare_init(rt->loop, &rt->prepare);
    uv_check_init(rt->loop, &rt->check);
    uv_idle_init(rt->loop, &rt->idle);
    uv_timer_init(rt->loop, &rt->sweep_timer);
    uv_timer_init(rt->loop, &rt->alarm_timer);
    uv_timer_init(rt->loop, &rt->stop_timer);
    if (uv_async_init(rt->loop, &rt->writer_async, dort__commit_on_async) != 0)
        return DORT_ESYS;
    rt->prepare.data = rt->check.data = rt->idle.data = rt;
    rt->sweep_timer.data = rt->alarm_timer.data = rt->stop_timer.data = rt;
    rt->writer_async.data = rt;
    rt->handles_open = NUM_HANDLES;
    uv_prepare_start(&rt->prepare, on_prepare);
    uv_check_start(&rt->check, on_check);
    uint64_t iv = (uint64_t)sweep_interval(&rt->opts);
    uv_timer_start(&rt->sweep_timer, on_sweep, iv, iv);
    return 0;
}

int dort_rt_start(dort_rt_t *rt)
{
    if (rt == NULL)
        return DORT_EINVAL;
    if (rt->state != DORT__RT_NEW)
        return DORT_ESTATE;
    int rc = rt->queues != NULL ? dort__queues_want_dbs(rt) : 0;
    if (rc == 0)
        rc = dort__cron_prepare(rt);
    if (rc != 0)
        return rc;
    rc = dort__store_open(&rt->store, rt->data_dir, rt->opts.durability, rt->opts.map_size,
                              rt->opts.max_size, &rt->log);
    if (rc != 0)
        return rc;
    rc = dort__queues_open(rt);
    if (rc == 0)
        rc = init_handles(rt);
    if (rc == 0)
        rc = dort__writer_start(&rt->writer, &rt->store, &rt->writer_async,
                                rt->opts.relaxed_sync_interval_ms);
    if (rc != 0) {
        dort__store_close(&rt->store);
        return rc;
    }
    rt->state = DORT__RT_RUNNING;
    dort__alarm_schedule(rt);
    dort__queues_start(rt);
    dort__cron_start(rt);
    return 0;
}

uv_loop_t *dort_rt_loop(dort_rt_t *rt)
{
    return rt->loop;
}

void dort_rt_set_data(dort_rt_t *rt, void *data)
{
    rt->data = data;
}

void *dort_rt_data(const dort_rt_t *rt)
{
    return rt->data;
}

void dort_rt_stats(const dort_rt_t *rt, dort_rt_stats_t *out)
{
    *out = rt->stats;
}

int dort_rt_run(dort_rt_t *rt)
{
    if (rt == NULL || rt->own_loop == NULL)
        return DORT_ESTATE;
    uv_run(rt->loop, UV_RUN_DEFAULT);
    return 0;
}

void dort_rt_free(dort_rt_t *rt)
{
    if (rt == NULL)
        return;
    if (rt->state != DORT__RT_NEW && rt->state != DORT__RT_STOPPED)
        DORT_BUG("dort_rt_free on a running runtime: stop it and wait for the stop callback");
    dort__actors_free_all(rt);
    dort__table_release(&rt->actors);
    for (uint32_t i = 0; i <= DORT__MAX_TXN_DEPTH; i++)
        dort__wset_release(&rt->turn.layers[i]);
    dort__batch_free(rt->open_batch);
    dort__commit_pool_release(rt);
    dort__store_close(&rt->store);
    dort__registry_release(rt);
    dort__workers_release(rt);
    dort__queues_free(rt);
    dort__cron_free(rt);
    dort__http_servers_free(rt);
    if (rt->own_loop != NULL) {
        uv_loop_close(rt->own_loop);
        dort__free(rt->own_loop);
    }
    dort__free(rt->data_dir);
    dort__free(rt);
}
