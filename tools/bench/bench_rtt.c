/* bench_rtt.c - in-process request/response round trips between actors.
 *
 * Actor "ping-i" receives one request from the driver, then calls "pong-i"
 * in a loop from its reply callbacks until it has made its share of round
 * trips, and only then answers the driver. No storage: this measures the
 * message path (stubs, mailboxes, turns, output gate bookkeeping). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dort/dort.h>

#include "bench.h"

typedef struct ping_s {
    dort_call_t *driver;
    uint64_t left;
    dort_stub_t peer;
} ping_t;

static int send_pong(dort_actor_t *self, ping_t *p);

static int on_pong(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    ping_t *p = data;
    dort_response_free(res);
    if (status != 0)
        return status;
    if (--p->left == 0)
        return dort_call_respond_body(p->driver, 200, NULL, NULL, 0);
    return send_pong(self, p);
}

static int send_pong(dort_actor_t *self, ping_t *p)
{
    dort_request_t *req;
    int rc = dort_request_new2(&req, "GET", 3, "/pong", 5);
    if (rc != 0)
        return rc;
    return dort_stub_fetch(&p->peer, self, req, on_pong, p);
}

static int ping_fetch(dort_actor_t *self, dort_call_t *call)
{
    ping_t *p = dort_actor_state(self);
    dort_slice_t body = dort_request_body(dort_call_request(call));
    char num[32] = {0};
    memcpy(num, body.ptr, body.len < sizeof num - 1 ? body.len : sizeof num - 1);
    p->left = strtoull(num, NULL, 10);
    p->driver = call;
    /* Each ping has its own pong: named after the ping's id. */
    dort_ns_t *pong_ns = dort_rt_namespace(dort_actor_rt(self), "PONG");
    dort_id_t id;
    dort_id_from_name(pong_ns, dort_actor_id(self)->bytes, 16, &id);
    dort_stub_init(&p->peer, pong_ns, &id);
    return send_pong(self, p);
}

static int pong_fetch(dort_actor_t *self, dort_call_t *call)
{
    (void)self;
    dort_response_t *res;
    int rc = dort_response_new(&res, 200);
    return rc != 0 ? rc : dort_call_respond(call, res);
}

static const dort_class_t ping_class = {
    .name = "Ping", .state_size = sizeof(ping_t), .fetch = ping_fetch};
static const dort_class_t pong_class = {.name = "Pong", .fetch = pong_fetch};

static int finished;

static int on_done(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)self, (void)data;
    dort_response_free(res);
    if (status != 0)
        fprintf(stderr, "bench rtt: %s\n", dort_strerror(status));
    finished++;
    return 0;
}

static void stopped(dort_rt_t *rt, void *data)
{
    (void)rt, (void)data;
}

int bench_rtt(const bench_params_t *p, bench_result_t *r)
{
    dort_rt_options_t o;
    dort_rt_options_init(&o);
    o.durability = DORT_DURABILITY_MEMORY;
    dort_rt_t *rt;
    if (dort_rt_new(&rt, &o) != 0)
        return -1;
    dort_ns_t *ping_ns;
    dort_rt_register_class(rt, &ping_class);
    dort_rt_register_class(rt, &pong_class);
    dort_rt_bind_namespace(rt, "PING", "Ping", NULL, &ping_ns);
    dort_rt_bind_namespace(rt, "PONG", "Pong", NULL, NULL);
    if (dort_rt_start(rt) != 0)
        return -1;
    uint32_t pairs = p->pairs ? p->pairs : 1;
    uint64_t total = (uint64_t)(p->seconds * 2e6); /* about `seconds` at 2 M/s */
    uint64_t each = total / pairs;
    finished = 0;
    double t0 = bench_now();
    for (uint32_t i = 0; i < pairs; i++) {
        char name[32], body[32];
        snprintf(name, sizeof name, "ping-%u", i);
        int n = snprintf(body, sizeof body, "%llu", (unsigned long long)each);
        dort_id_t id;
        dort_id_from_name(ping_ns, name, strlen(name), &id);
        dort_stub_t stub;
        dort_stub_init(&stub, ping_ns, &id);
        dort_request_t *req;
        dort_request_new(&req, "POST", "/go");
        dort_request_set_body(req, body, (size_t)n, DORT_BUF_COPY);
        dort_stub_fetch(&stub, NULL, req, on_done, NULL);
    }
    while (finished < (int)pairs)
        uv_run(dort_rt_loop(rt), UV_RUN_ONCE);
    double dt = bench_now() - t0;
    r->value = (double)(each * pairs) / dt;
    r->extra = dt;
    dort_rt_stop(rt, stopped, NULL);
    dort_rt_run(rt);
    dort_rt_free(rt);
    return 0;
}
