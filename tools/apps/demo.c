/* demo.c - the smallest useful app: a durable counter per name.
 *
 *   GET  /health          "ok" from the worker itself
 *   GET  /counter/:name   the count
 *   POST /counter/:name   increments, answers the new count
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps.h"

static int counter_fetch(dort_actor_t *self, dort_call_t *call)
{
    long n = 0;
    dort_slice_t v;
    int rc = dort_storage_get(self, "count", 5, &v);
    if (rc == 0) {
        char buf[24] = {0};
        memcpy(buf, v.ptr, v.len < sizeof buf - 1 ? v.len : sizeof buf - 1);
        n = strtol(buf, NULL, 10);
    } else if (rc != DORT_ENOENT) {
        return rc;
    }
    dort_slice_t m = dort_request_method(dort_call_request(call));
    if (m.len == 4 && memcmp(m.ptr, "POST", 4) == 0) {
        char buf[24];
        int len = snprintf(buf, sizeof buf, "%ld", ++n);
        if ((rc = dort_storage_put(self, "count", 5, buf, (size_t)len)) != 0)
            return rc;
    }
    char out[64];
    int len = snprintf(out, sizeof out, "{\"count\":%ld}", n);
    return dort_call_respond_body(call, 200, "application/json", out, (size_t)len);
}

const dort_class_t demo_counter_class = {.name = "Counter", .fetch = counter_fetch};

static int route_health(void *ctx, const dort_route_match_t *m)
{
    (void)m;
    return dort_exchange_respond_body(ctx, 200, "text/plain", "ok", 2);
}

static int route_counter(void *ctx, const dort_route_match_t *m)
{
    dort_exchange_t *ex = ctx;
    dort_ns_t *ns = dort_rt_namespace(dort_exchange_rt(ex), "COUNTER");
    if (ns == NULL)
        return dort_exchange_respond_error(ex, 500, "no_binding", "COUNTER is not bound");
    dort_slice_t name = dort_route_param(m, "name");
    dort_id_t id;
    int rc = dort_id_from_name(ns, name.ptr, name.len, &id);
    if (rc != 0)
        return rc;
    dort_stub_t stub;
    dort_stub_init(&stub, ns, &id);
    dort_exchange_forward(ex, &stub);
    return 0;
}

static const dort_route_t routes[] = {
    {"GET", "/health", route_health},
    {"GET", "/counter/:name", route_counter},
    {"POST", "/counter/:name", route_counter},
};

static int demo_fetch(dort_exchange_t *ex)
{
    static dort_router_t *router;
    if (router == NULL && dort_router_new(&router, routes, 3, NULL) != 0)
        return DORT_ENOMEM;
    const dort_request_t *req = dort_exchange_request(ex);
    dort_route_match_t m;
    int rc = dort_router_dispatch(router, dort_request_method(req), dort_request_path(req), ex, &m);
    if (rc == DORT_ENOENT)
        return m.method_mismatch
                   ? dort_exchange_respond_error(ex, 405, "method_not_allowed", "method not allowed")
                   : dort_exchange_respond_error(ex, 404, "not_found", "no such route");
    return rc;
}

const dort_worker_class_t demo_worker = {.name = "demo", .fetch = demo_fetch};
