/* bench_activation.c - the cost of activating an evicted actor: the time to
 * its first answer when its handlers do nothing (no user code to speak of).
 *
 * `actors` actors are activated once and evicted (short idle timeout). Then
 * (a) every one of them gets a request at once: total time / count is the
 * amortised activation cost; (b) after a second eviction, some of them get
 * one request at a time, each timed from send to answer: the latency of a
 * single activation including one loop iteration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dort/dort.h>

#include "bench.h"

static int noop_init(dort_actor_t *self)
{
    (void)self;
    return 0;
}

static int noop_fetch(dort_actor_t *self, dort_call_t *call)
{
    (void)self;
    dort_response_t *res;
    int rc = dort_response_new(&res, 204);
    return rc != 0 ? rc : dort_call_respond(call, res);
}

static const dort_class_t act_class = {.name = "Act", .init = noop_init, .fetch = noop_fetch};

static uint32_t answered;

static int on_answer(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)self, (void)data, (void)status;
    dort_response_free(res);
    answered++;
    return 0;
}

static void send_req(dort_ns_t *ns, const dort_id_t *id)
{
    dort_stub_t stub;
    dort_stub_init(&stub, ns, id);
    dort_request_t *req;
    dort_request_new2(&req, "GET", 3, "/", 1);
    dort_stub_fetch(&stub, NULL, req, on_answer, NULL);
}

/* NOWAIT: the answer arrives inside a loop iteration; a blocking run would
 * then sleep in poll until the next timer and time that sleep instead. */
static void wait_answers(dort_rt_t *rt, uint32_t n)
{
    while (answered < n)
        uv_run(dort_rt_loop(rt), UV_RUN_NOWAIT);
}

static void wait_evicted(dort_rt_t *rt)
{
    dort_rt_stats_t st;
    do {
        uv_run(dort_rt_loop(rt), UV_RUN_ONCE);
        dort_rt_stats(rt, &st);
    } while (st.actors_live != 0);
}

static void stopped(dort_rt_t *rt, void *data)
{
    (void)rt, (void)data;
}

int bench_activation(const bench_params_t *p, bench_result_t *r)
{
    dort_rt_options_t o;
    dort_rt_options_init(&o);
    o.durability = DORT_DURABILITY_MEMORY;
    o.idle_timeout_ms = 20;
    dort_rt_t *rt;
    dort_ns_t *ns;
    if (dort_rt_new(&rt, &o) != 0 || dort_rt_register_class(rt, &act_class) != 0 ||
        dort_rt_bind_namespace(rt, "ACT", "Act", NULL, &ns) != 0 || dort_rt_start(rt) != 0)
        return -1;
    uint32_t n = p->actors;
    dort_id_t *ids = malloc(n * sizeof *ids);
    for (uint32_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "act-%u", i);
        dort_id_from_name(ns, name, strlen(name), &ids[i]);
    }
    answered = 0;
    for (uint32_t i = 0; i < n; i++)
        send_req(ns, &ids[i]);
    wait_answers(rt, n);
    wait_evicted(rt);
    answered = 0;
    double t0 = bench_now();
    for (uint32_t i = 0; i < n; i++)
        send_req(ns, &ids[i]);
    wait_answers(rt, n);
    r->value = (bench_now() - t0) * 1e6 / n;
    wait_evicted(rt);
    uint32_t single = n < 20000 ? n : 20000;
    double *lat = malloc(single * sizeof *lat);
    answered = 0;
    for (uint32_t i = 0; i < single; i++) {
        double s = bench_now();
        send_req(ns, &ids[i]);
        wait_answers(rt, i + 1);
        lat[i] = (bench_now() - s) * 1e6;
    }
    bench_percentiles(lat, single, &r->p50_us, &r->p99_us);
    free(lat);
    free(ids);
    dort_rt_stop(rt, stopped, NULL);
    dort_rt_run(rt);
    dort_rt_free(rt);
    return 0;
}
