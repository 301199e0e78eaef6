/* testapp.c - routes the integration tests need beyond the demo app:
 *
 *   GET  /health                 "ok"
 *   POST /echo                   the request body back, with its length in X-Body-Length
 *   GET  /slow?ms=N              answered after N ms (ordering, graceful shutdown)
 *   GET|POST /counter/:name      the demo Counter actor (durable)
 *   GET  /stream?n=N&ms=M        a worker-level stream: N chunks, one every M ms
 *   GET  /sse/:room              Server-Sent Events from actor SseRoom :room
 *   POST /sse/:room              publishes the body as one event to the room
 *   GET  /sse/:room/count        how many subscribers the room holds
 *   GET  /ws/:name?tag=T         WebSocket to actor WsEcho :name (when built)
 *   GET  /__test/fail            a handler that fails without answering (500)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dort/dort.h>

#include "apps.h"
#include "testapp.h"

/* ---- worker-level helpers ---- */

typedef struct delayed_s {
    uv_timer_t timer;
    dort_exchange_t *ex;
    dort_stream_t *stream;
    int left;
} delayed_t;

static void free_timer(uv_handle_t *h)
{
    free(h->data);
}

static void on_slow(uv_timer_t *t)
{
    delayed_t *d = t->data;
    dort_exchange_respond_body(d->ex, 200, "text/plain", "slow", 4);
    t->data = d;
    uv_close((uv_handle_t *)t, free_timer);
}

static long query_long(const dort_exchange_t *ex, const char *key, long dflt)
{
    char buf[32];
    long n = dort_query_get(dort_request_path(dort_exchange_request(ex)), key, buf, sizeof buf);
    return n > 0 ? strtol(buf, NULL, 10) : dflt;
}

static int route_slow(void *ctx, const dort_route_match_t *m)
{
    dort_exchange_t *ex = ctx;
    (void)m;
    delayed_t *d = calloc(1, sizeof *d);
    d->ex = ex;
    uv_timer_init(dort_rt_loop(dort_exchange_rt(ex)), &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, on_slow, (uint64_t)query_long(ex, "ms", 100), 0);
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    delayed_t *d = t->data;
    char chunk[64];
    int n = snprintf(chunk, sizeof chunk, "chunk %d\n", d->left);
    int rc = dort_stream_write(d->stream, chunk, (size_t)n);
    if (rc != 0 || --d->left == 0) {
        dort_stream_end(d->stream);
        uv_close((uv_handle_t *)t, free_timer);
    }
}

static int route_stream(void *ctx, const dort_route_match_t *m)
{
    dort_exchange_t *ex = ctx;
    (void)m;
    dort_response_t *res;
    delayed_t *d = calloc(1, sizeof *d);
    int rc = dort_response_new_stream(&res, 200, &d->stream);
    if (rc != 0) {
        free(d);
        return rc;
    }
    dort_response_add_header(res, "Content-Type", 12, "text/plain", 10);
    d->left = (int)query_long(ex, "n", 5);
    uv_timer_init(dort_rt_loop(dort_exchange_rt(ex)), &d->timer);
    d->timer.data = d;
    long ms = query_long(ex, "ms", 20);
    uv_timer_start(&d->timer, on_tick, (uint64_t)ms, (uint64_t)ms);
    return dort_exchange_respond(ex, res);
}

static int route_echo(void *ctx, const dort_route_match_t *m)
{
    dort_exchange_t *ex = ctx;
    (void)m;
    dort_slice_t body = dort_request_body(dort_exchange_request(ex));
    dort_response_t *res;
    int rc = dort_response_new_body(&res, 200, "application/octet-stream", body.ptr, body.len);
    if (rc != 0)
        return rc;
    char len[32];
    int n = snprintf(len, sizeof len, "%zu", body.len);
    dort_response_add_header(res, "X-Body-Length", 13, len, (size_t)n);
    return dort_exchange_respond(ex, res);
}

static int route_health(void *ctx, const dort_route_match_t *m)
{
    (void)m;
    return dort_exchange_respond_body(ctx, 200, "text/plain", "ok", 2);
}

static int route_fail(void *ctx, const dort_route_match_t *m)
{
    (void)ctx, (void)m;
    return -1;
}

static int forward(dort_exchange_t *ex, const char *binding, dort_slice_t name)
{
    dort_ns_t *ns = dort_rt_namespace(dort_exchange_rt(ex), binding);
    if (ns == NULL)
        return dort_exchange_respond_error(ex, 500, "no_binding", binding);
    dort_id_t id;
    int rc = dort_id_from_name(ns, name.ptr, name.len, &id);
    if (rc != 0)
        return rc;
    dort_stub_t stub;
    dort_stub_init(&stub, ns, &id);
    dort_exchange_forward(ex, &stub);
    return 0;
}

static int route_counter(void *ctx, const dort_route_match_t *m)
{
    return forward(ctx, "COUNTER", dort_route_param(m, "name"));
}

static int route_sse(void *ctx, const dort_route_match_t *m)
{
    return forward(ctx, "SSE", dort_route_param(m, "room"));
}

static int route_ws(void *ctx, const dort_route_match_t *m)
{
    return forward(ctx, "WS", dort_route_param(m, "name"));
}

static const dort_route_t routes[] = {
    {"GET", "/health", route_health},
    {"POST", "/echo", route_echo},
    {"PUT", "/echo", route_echo},
    {"GET", "/slow", route_slow},
    {"GET", "/stream", route_stream},
    {"*", "/counter/:name", route_counter},
    {"*", "/sse/:room", route_sse},
    {"GET", "/sse/:room/count", route_sse},
    {"GET", "/ws/:name", route_ws},
    {"GET", "/__test/fail", route_fail},
};

static int testapp_fetch(dort_exchange_t *ex)
{
    static dort_router_t *router;
    if (router == NULL &&
        dort_router_new(&router, routes, sizeof routes / sizeof routes[0], NULL) != 0)
        return -1;
    const dort_request_t *req = dort_exchange_request(ex);
    dort_route_match_t m;
    int rc = dort_router_dispatch(router, dort_request_method(req), dort_request_path(req), ex, &m);
    if (rc == DORT_ENOENT)
        return m.method_mismatch
                   ? dort_exchange_respond_error(ex, 405, "method_not_allowed", "method not allowed")
                   : dort_exchange_respond_error(ex, 404, "not_found", "no such route");
    return rc;
}

const dort_worker_class_t testapp_worker = {.name = "testapp", .fetch = testapp_fetch};
