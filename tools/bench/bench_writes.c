/* bench_writes.c - acknowledged durable writes per second.
 *
 * `actors` actors each write one key per request; the driver keeps exactly
 * one request in flight per actor and sends the next as soon as the answer
 * arrives, so every figure is a write acknowledged after its commit (the
 * output gate holds the answer until then). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dort/dort.h>

#include "bench.h"

typedef struct writer_s {
    uint64_t n;
} writer_t;

static int writer_fetch(dort_actor_t *self, dort_call_t *call)
{
    writer_t *w = dort_actor_state(self);
    char val[32];
    int n = snprintf(val, sizeof val, "%llu", (unsigned long long)++w->n);
    int rc = dort_storage_put(self, "counter", 7, val, (size_t)n);
    if (rc != 0)
        return rc;
    dort_response_t *res;
    rc = dort_response_new(&res, 200);
    return rc != 0 ? rc : dort_call_respond(call, res);
}

static const dort_class_t writer_class = {
    .name = "Writer", .state_size = sizeof(writer_t), .fetch = writer_fetch};

typedef struct driver_s {
    dort_ns_t *ns;
    dort_id_t *ids;
    double *sent_at;
    double *lat;
    size_t nlat, cap_lat;
    uint64_t acked, errors;
    double measure_from, stop_at;
    int stopping;
    uint32_t in_flight;
} driver_t;

static driver_t D;

static int on_ack(dort_actor_t *self, void *data, int status, dort_response_t *res);

static void send_one(uint32_t i)
{
    dort_stub_t stub;
    dort_stub_init(&stub, D.ns, &D.ids[i]);
    dort_request_t *req;
    if (dort_request_new2(&req, "POST", 4, "/w", 2) != 0)
        return;
    D.sent_at[i] = bench_now();
    if (dort_stub_fetch(&stub, NULL, req, on_ack, (void *)(uintptr_t)i) == 0)
        D.in_flight++;
}

static int on_ack(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)self;
    uint32_t i = (uint32_t)(uintptr_t)data;
    dort_response_free(res);
    D.in_flight--;
    double now = bench_now();
    if (status != 0)
        D.errors++;
    else if (now >= D.measure_from) {
        D.acked++;
        if (D.nlat < D.cap_lat)
            D.lat[D.nlat++] = (now - D.sent_at[i]) * 1e6;
    }
    if (now < D.stop_at)
        send_one(i);
    return 0;
}

static void stopped(dort_rt_t *rt, void *data)
{
    (void)rt, (void)data;
}

int bench_writes(const bench_params_t *p, bench_result_t *r)
{
    dort_rt_options_t o;
    dort_rt_options_init(&o);
    o.durability = (dort_durability_t)p->durability;
    o.data_dir = p->dir;
    o.commit_batch_max = p->batch_max;
    dort_rt_t *rt;
    if (dort_rt_new(&rt, &o) != 0)
        return -1;
    dort_rt_register_class(rt, &writer_class);
    memset(&D, 0, sizeof D);
    dort_rt_bind_namespace(rt, "W", "Writer", NULL, &D.ns);
    if (dort_rt_start(rt) != 0)
        return -1;
    uint32_t n = p->actors;
    D.ids = calloc(n, sizeof *D.ids);
    D.sent_at = calloc(n, sizeof *D.sent_at);
    D.cap_lat = 4000000;
    D.lat = malloc(D.cap_lat * sizeof *D.lat);
    for (uint32_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "writer-%u", i);
        dort_id_from_name(D.ns, name, strlen(name), &D.ids[i]);
    }
    dort_rt_stats_t s0, s1;
    double warm = p->seconds * 0.2;
    double t0 = bench_now();
    D.measure_from = t0 + warm;
    D.stop_at = t0 + warm + p->seconds;
    for (uint32_t i = 0; i < n; i++)
        send_one(i);
    int counted = 0;
    while (D.in_flight > 0) {
        uv_run(dort_rt_loop(rt), UV_RUN_ONCE);
        if (!counted && bench_now() >= D.measure_from) {
            dort_rt_stats(rt, &s0);
            counted = 1;
        }
    }
    dort_rt_stats(rt, &s1);
    r->value = (double)D.acked / p->seconds;
    bench_percentiles(D.lat, D.nlat, &r->p50_us, &r->p99_us);
    uint64_t txns = s1.commit_txns - s0.commit_txns;
    r->extra = txns ? (double)(s1.committed_keys - s0.committed_keys) / (double)txns : 0;
    if (D.errors)
        fprintf(stderr, "bench writes: %llu errors\n", (unsigned long long)D.errors);
    dort_rt_stop(rt, stopped, NULL);
    dort_rt_run(rt);
    dort_rt_free(rt);
    free(D.ids);
    free(D.sent_at);
    free(D.lat);
    return D.errors ? -1 : 0;
}
