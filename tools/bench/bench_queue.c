/* bench_queue.c - durable queue throughput and latency.
 *
 * A producer outside any actor sends batches of 100 messages and keeps a
 * fixed number of batches in flight (each completion sends the next); a
 * consumer with max_batch_size 100 acks everything. Throughput is messages
 * acked per second (the ack commit counts: stats.acked moves when the
 * resolution commits). For latency the producer instead sends at a fixed
 * rate and each message carries its send time; the handler records
 * send -> handler delay. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dort/dort.h>

#include "bench.h"

typedef struct qb_s {
    dort_queue_t *producer;
    int in_flight;
    int stop_sending;
    double *lat;
    size_t nlat, cap;
    double measure_from;
    uint64_t delivered;
    uv_timer_t tick;
    uint32_t per_tick;
} qb_t;

static qb_t Q;

static int consume(dort_queue_batch_t *b)
{
    double now = bench_now();
    size_t n = dort_queue_batch_size(b);
    Q.delivered += n;
    for (size_t i = 0; i < n && Q.lat != NULL; i++) {
        dort_slice_t body = dort_queue_message_body(dort_queue_batch_message(b, i));
        double sent;
        if (body.len >= sizeof sent && Q.nlat < Q.cap) {
            memcpy(&sent, body.ptr, sizeof sent);
            if (sent >= Q.measure_from)
                Q.lat[Q.nlat++] = (now - sent) * 1e6;
        }
    }
    return 0; /* success acks every message */
}

static const dort_worker_class_t bench_consumer = {.name = "bench-consumer", .queue = consume};

static void send_batch(size_t n);

static void on_sent(void *data, int status)
{
    (void)data;
    Q.in_flight--;
    if (status != 0)
        fprintf(stderr, "bench queue: send failed: %s\n", dort_strerror(status));
    if (!Q.stop_sending && Q.lat == NULL)
        send_batch(100);
}

static void send_batch(size_t n)
{
    dort_queue_send_t msgs[100];
    double now = bench_now();
    char body[100][64];
    for (size_t i = 0; i < n; i++) {
        memset(body[i], 'x', sizeof body[i]);
        memcpy(body[i], &now, sizeof now);
        msgs[i].body = body[i];
        msgs[i].len = sizeof body[i];
        msgs[i].content_type = DORT_QUEUE_CONTENT_BYTES;
        msgs[i].delay_s = 0;
    }
    if (dort_queue_send(Q.producer, NULL, msgs, n, on_sent, NULL) == 0)
        Q.in_flight++;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    if (!Q.stop_sending)
        send_batch(Q.per_tick);
}

static void stopped(dort_rt_t *rt, void *data)
{
    (void)rt, (void)data;
}

static dort_rt_t *start(const bench_params_t *p)
{
    dort_rt_options_t o;
    dort_rt_options_init(&o);
    o.durability = (dort_durability_t)p->durability;
    o.data_dir = p->dir;
    dort_rt_t *rt;
    dort_worker_t *w;
    if (dort_rt_new(&rt, &o) != 0 || dort_rt_add_worker(rt, &bench_consumer, &w) != 0 ||
        dort_rt_add_queue_producer(rt, "Q", "bench") != 0)
        return NULL;
    dort_queue_consumer_options_t co;
    dort_queue_consumer_options_init(&co);
    co.queue = "bench";
    co.worker = w;
    co.max_batch_size = 100;
    co.max_batch_timeout_ms = 0;
    if (dort_rt_add_queue_consumer(rt, &co) != 0 || dort_rt_start(rt) != 0)
        return NULL;
    Q.producer = dort_rt_queue(rt, "Q");
    return rt;
}

static void finish(dort_rt_t *rt)
{
    Q.stop_sending = 1;
    while (Q.in_flight > 0)
        uv_run(dort_rt_loop(rt), UV_RUN_ONCE);
    dort_rt_stop(rt, stopped, NULL);
    dort_rt_run(rt);
    dort_rt_free(rt);
}

static uint64_t acked(dort_rt_t *rt)
{
    dort_queue_stats_t st;
    dort_rt_queue_stats(rt, "bench", &st);
    return st.acked;
}

int bench_queue_throughput(const bench_params_t *p, bench_result_t *r)
{
    memset(&Q, 0, sizeof Q);
    dort_rt_t *rt = start(p);
    if (rt == NULL)
        return -1;
    for (int i = 0; i < 64; i++)
        send_batch(100);
    double t0 = bench_now(), warm = t0 + p->seconds * 0.2, end = warm + p->seconds;
    uint64_t a0 = 0;
    int counted = 0;
    while (bench_now() < end) {
        uv_run(dort_rt_loop(rt), UV_RUN_ONCE);
        if (!counted && bench_now() >= warm) {
            a0 = acked(rt);
            counted = 1;
        }
    }
    r->value = (double)(acked(rt) - a0) / (bench_now() - warm);
    finish(rt);
    return 0;
}

int bench_queue_latency(const bench_params_t *p, bench_result_t *r)
{
    memset(&Q, 0, sizeof Q);
    dort_rt_t *rt = start(p);
    if (rt == NULL)
        return -1;
    Q.cap = 2000000;
    Q.lat = malloc(Q.cap * sizeof *Q.lat);
    /* A steady rate of p->actors messages per second, sent every 1 ms. */
    Q.per_tick = p->actors / 1000 ? p->actors / 1000 : 1;
    if (Q.per_tick > 100)
        Q.per_tick = 100;
    uv_timer_init(dort_rt_loop(rt), &Q.tick);
    uv_timer_start(&Q.tick, on_tick, 1, 1);
    double t0 = bench_now();
    Q.measure_from = t0 + p->seconds * 0.2;
    double end = Q.measure_from + p->seconds;
    while (bench_now() < end)
        uv_run(dort_rt_loop(rt), UV_RUN_ONCE);
    uv_close((uv_handle_t *)&Q.tick, NULL);
    bench_percentiles(Q.lat, Q.nlat, &r->p50_us, &r->p99_us);
    r->value = (double)Q.nlat / p->seconds;
    free(Q.lat);
    Q.lat = NULL;
    finish(rt);
    return 0;
}
