/* bench_app.c - the peer harness's workload (shared/peers/workerd/worker.js)
 * in C, so dort and workerd can be measured side by side on the same wire:
 *
 *   GET  /health                 "ok" from the worker itself
 *   POST /check?key=K            RateLimiter K: "win:<windowStart>" get, +1, put;
 *                                answers {allowed, remaining, resetAt}
 *   POST /chat/S/messages        ChatSession S: sequence kept in memory (loaded
 *                                from "seq" in init), puts "msg:<12-digit seq>"
 *                                and "seq" together, answers {seq}
 *
 * As in worker.js the writes are not awaited: the output gate holds each
 * answer until its write is durable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "apps.h"

#define LIMIT 1000000L
#define WINDOW_MS 60000LL

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long parse_long(dort_slice_t v)
{
    char buf[32] = {0};
    memcpy(buf, v.ptr, v.len < sizeof buf - 1 ? v.len : sizeof buf - 1);
    return strtol(buf, NULL, 10);
}

static int limiter_fetch(dort_actor_t *self, dort_call_t *call)
{
    long long now = now_ms(), start = now - now % WINDOW_MS;
    char key[40];
    int klen = snprintf(key, sizeof key, "win:%lld", start);
    dort_slice_t v;
    long count = 1;
    int rc = dort_storage_get(self, key, (size_t)klen, &v);
    if (rc == 0)
        count = parse_long(v) + 1;
    else if (rc != DORT_ENOENT)
        return rc;
    char val[24];
    int vlen = snprintf(val, sizeof val, "%ld", count);
    if ((rc = dort_storage_put(self, key, (size_t)klen, val, (size_t)vlen)) != 0)
        return rc;
    int allowed = count <= LIMIT;
    char body[128];
    int n = snprintf(body, sizeof body, "{\"allowed\":%s,\"remaining\":%ld,\"resetAt\":%lld}",
                     allowed ? "true" : "false", allowed ? LIMIT - count : 0, start + WINDOW_MS);
    return dort_call_respond_body(call, 200, "application/json", body, (size_t)n);
}

const dort_class_t bench_limiter_class = {.name = "BenchLimiter", .fetch = limiter_fetch};

typedef struct chat_s {
    long seq;
} chat_t;

static int chat_init(dort_actor_t *self)
{
    chat_t *c = dort_actor_state(self);
    dort_slice_t v;
    int rc = dort_storage_get(self, "seq", 3, &v);
    if (rc == 0)
        c->seq = parse_long(v);
    return rc == DORT_ENOENT ? 0 : rc;
}

static int chat_fetch(dort_actor_t *self, dort_call_t *call)
{
    chat_t *c = dort_actor_state(self);
    dort_slice_t body = dort_request_body(dort_call_request(call));
    json_t *msg = json_loadb(body.ptr, body.len, 0, NULL);
    if (msg == NULL || !json_is_object(msg)) {
        json_decref(msg);
        return dort_call_respond_body(call, 400, "text/plain", "bad json\n", 9);
    }
    const char *user = json_string_value(json_object_get(msg, "user"));
    const char *text = json_string_value(json_object_get(msg, "text"));
    json_t *entry = json_pack("{s:s, s:s, s:I}", "user", user ? user : "", "text",
                              text ? text : "", "ts", (json_int_t)now_ms());
    char *entry_s = json_dumps(entry, JSON_COMPACT);
    json_decref(entry);
    json_decref(msg);
    if (entry_s == NULL)
        return DORT_ENOMEM;
    long seq = ++c->seq;
    char key[24], seqs[24];
    int klen = snprintf(key, sizeof key, "msg:%012ld", seq);
    int slen = snprintf(seqs, sizeof seqs, "%ld", seq);
    dort_kv_t kvs[2] = {{key, (size_t)klen, entry_s, strlen(entry_s)},
                        {"seq", 3, seqs, (size_t)slen}};
    int rc = dort_storage_put_batch(self, kvs, 2);
    free(entry_s);
    if (rc != 0)
        return rc;
    char out[48];
    int n = snprintf(out, sizeof out, "{\"seq\":%ld}", seq);
    return dort_call_respond_body(call, 200, "application/json", out, (size_t)n);
}

const dort_class_t bench_chat_class = {
    .name = "BenchChat", .state_size = sizeof(chat_t), .init = chat_init, .fetch = chat_fetch};

static int forward_named(dort_exchange_t *ex, const char *binding, const char *name, size_t len)
{
    dort_ns_t *ns = dort_rt_namespace(dort_exchange_rt(ex), binding);
    if (ns == NULL)
        return dort_exchange_respond_error(ex, 500, "no_binding", "binding missing");
    dort_id_t id;
    int rc = dort_id_from_name(ns, name, len, &id);
    if (rc != 0)
        return rc;
    dort_stub_t stub;
    dort_stub_init(&stub, ns, &id);
    dort_exchange_forward(ex, &stub);
    return 0;
}

static int is(dort_slice_t s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static int bench_fetch(dort_exchange_t *ex)
{
    const dort_request_t *req = dort_exchange_request(ex);
    dort_slice_t method = dort_request_method(req), path = dort_request_path(req);
    const char *q = memchr(path.ptr, '?', path.len);
    dort_slice_t p = {path.ptr, q ? (size_t)(q - path.ptr) : path.len};
    if (is(p, "/health"))
        return dort_exchange_respond_body(ex, 200, "text/plain", "ok", 2);
    if (is(p, "/check")) {
        if (!is(method, "POST"))
            return dort_exchange_respond_body(ex, 405, "text/plain", "method not allowed\n", 19);
        char key[256];
        long klen = dort_query_get(path, "key", key, sizeof key);
        if (klen <= 0)
            return dort_exchange_respond_body(ex, 400, "text/plain", "missing key\n", 12);
        return forward_named(ex, "LIMITER", key, (size_t)klen);
    }
    /* /chat/<session>/messages */
    if (p.len > 6 && memcmp(p.ptr, "/chat/", 6) == 0) {
        const char *s = p.ptr + 6, *slash = memchr(s, '/', p.len - 6);
        if (slash != NULL && slash > s && is((dort_slice_t){slash, (size_t)(p.ptr + p.len - slash)},
                                             "/messages")) {
            if (!is(method, "POST"))
                return dort_exchange_respond_body(ex, 405, "text/plain", "method not allowed\n",
                                                  19);
            char session[256];
            long n = dort_url_decode((dort_slice_t){s, (size_t)(slash - s)}, session,
                                     sizeof session);
            if (n < 0)
                return dort_exchange_respond_body(ex, 400, "text/plain", "bad session\n", 12);
            return forward_named(ex, "CHAT", session, (size_t)n);
        }
    }
    return dort_exchange_respond_body(ex, 404, "text/plain", "not found\n", 10);
}

const dort_worker_class_t bench_worker = {.name = "bench", .fetch = bench_fetch};
