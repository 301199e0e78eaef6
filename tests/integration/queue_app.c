/* queue_app.c - worker "queuetest" for the queue tests (test_queues_cli.py):
 *
 *   POST /queue/send?binding=B&n=N[&type=json|text|bytes][&delay=S]
 *        sends N messages to producer B (100 per dort_queue_send), answers
 *        {"sent":N} once all are committed. Bodies: the request body if
 *        there is one, else {"i":K} / "msg-K" / bytes 00 01 .. K.
 *   POST /queue/mode?fail=0|1   the consumer acks (0, the default) or fails
 *        every batch (1: retried, then dead-lettered)
 *   GET  /queue/consumed        {"acked":N,"failed":M}: messages so far
 *
 * Its queue handler is the consumer the test config attaches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dort/dort.h>

static int fail_batches;
static unsigned long acked, failed;

typedef struct sending_s {
    dort_exchange_t *ex;
    long total;
    long pending;
    int status;
} sending_t;

static long query_long(const dort_exchange_t *ex, const char *key, long dflt)
{
    char buf[32];
    long n = dort_query_get(dort_request_path(dort_exchange_request(ex)), key, buf, sizeof buf);
    return n > 0 ? strtol(buf, NULL, 10) : dflt;
}

static void on_sent(void *data, int status)
{
    sending_t *s = data;
    if (status != 0)
        s->status = status;
    if (--s->pending > 0)
        return;
    char out[64];
    int n = snprintf(out, sizeof out, "{\"sent\":%ld}", s->total);
    if (s->status == 0)
        dort_exchange_respond_body(s->ex, 200, "application/json", out, (size_t)n);
    else
        dort_exchange_respond_error(s->ex, 500, "send_failed", dort_strerror(s->status));
    free(s);
}

static dort_queue_content_t content_type(const dort_exchange_t *ex)
{
    char t[16] = "";
    dort_query_get(dort_request_path(dort_exchange_request(ex)), "type", t, sizeof t);
    return strcmp(t, "text") == 0    ? DORT_QUEUE_CONTENT_TEXT
           : strcmp(t, "bytes") == 0 ? DORT_QUEUE_CONTENT_BYTES
                                     : DORT_QUEUE_CONTENT_JSON;
}

/* Message `i`'s default body into buf; returns its length. */
static size_t default_body(dort_queue_content_t ct, long i, char *buf, size_t cap)
{
    if (ct == DORT_QUEUE_CONTENT_BYTES) {
        size_t n = (size_t)(i % 16) + 1;
        for (size_t j = 0; j < n; j++)
            buf[j] = (char)j;
        return n;
    }
    int n = ct == DORT_QUEUE_CONTENT_TEXT ? snprintf(buf, cap, "msg-%ld", i)
                                          : snprintf(buf, cap, "{\"i\":%ld}", i);
    return (size_t)n;
}

/* Sends messages [from, from + n) as one batch. */
static int send_batch(dort_queue_t *q, const dort_exchange_t *ex, long from, long n, sending_t *s)
{
    static char bodies[100][32];
    dort_queue_send_t msgs[100];
    dort_slice_t req = dort_request_body(dort_exchange_request(ex));
    dort_queue_content_t ct = content_type(ex);
    for (long i = 0; i < n; i++) {
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].content_type = ct;
        msgs[i].delay_s = (uint32_t)query_long(ex, "delay", 0);
        if (req.len > 0) {
            msgs[i].body = req.ptr;
            msgs[i].len = req.len;
        } else {
            msgs[i].body = bodies[i];
            msgs[i].len = default_body(ct, from + i, bodies[i], sizeof bodies[i]);
        }
    }
    return dort_queue_send(q, NULL, msgs, (size_t)n, on_sent, s);
}

static int route_send(void *ctx, const dort_route_match_t *m)
{
    dort_exchange_t *ex = ctx;
    (void)m;
    char binding[64] = "";
    dort_query_get(dort_request_path(dort_exchange_request(ex)), "binding", binding,
                   sizeof binding);
    dort_queue_t *q = dort_rt_queue(dort_exchange_rt(ex), binding);
    long n = query_long(ex, "n", 1);
    if (q == NULL || n < 1)
        return dort_exchange_respond_error(ex, 400, "bad_request", "binding= and n>=1 needed");
    sending_t *s = calloc(1, sizeof *s);
    s->ex = ex;
    s->total = n;
    s->pending = 1; /* held until every batch is handed over */
    for (long from = 0; from < n; from += 100) {
        long k = n - from < 100 ? n - from : 100;
        s->pending++;
        int rc = send_batch(q, ex, from, k, s);
        if (rc != 0) {
            s->pending--;
            s->status = rc;
            break;
        }
    }
    on_sent(s, 0);
    return 0;
}

static int route_mode(void *ctx, const dort_route_match_t *m)
{
    (void)m;
    fail_batches = query_long(ctx, "fail", 0) != 0;
    return dort_exchange_respond_body(ctx, 200, "text/plain", "ok", 2);
}

static int route_consumed(void *ctx, const dort_route_match_t *m)
{
    (void)m;
    char out[96];
    int n = snprintf(out, sizeof out, "{\"acked\":%lu,\"failed\":%lu}", acked, failed);
    return dort_exchange_respond_body(ctx, 200, "application/json", out, (size_t)n);
}

static const dort_route_t routes[] = {
    {"POST", "/queue/send", route_send},
    {"POST", "/queue/mode", route_mode},
    {"GET", "/queue/consumed", route_consumed},
};

static int queuetest_fetch(dort_exchange_t *ex)
{
    static dort_router_t *router;
    if (router == NULL &&
        dort_router_new(&router, routes, sizeof routes / sizeof routes[0], NULL) != 0)
        return -1;
    const dort_request_t *req = dort_exchange_request(ex);
    dort_route_match_t m;
    int rc = dort_router_dispatch(router, dort_request_method(req), dort_request_path(req), ex, &m);
    if (rc == DORT_ENOENT)
        return dort_exchange_respond_error(ex, 404, "not_found", "no such route");
    return rc;
}

/* Fails the whole batch on demand, so its messages are retried and, out of
 * retries, dead-lettered. */
static int queuetest_queue(dort_queue_batch_t *b)
{
    size_t n = dort_queue_batch_size(b);
    if (fail_batches) {
        failed += n;
        return -1;
    }
    acked += n;
    return 0;
}

const dort_worker_class_t queuetest_worker = {
    .name = "queuetest", .fetch = queuetest_fetch, .queue = queuetest_queue};
