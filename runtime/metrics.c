/* metrics.c - GET /__dort/metrics in the Prometheus text format: actors,
 * turns, commit batches (size and latency histograms), HTTP requests by
 * status class with a latency histogram, connections and WebSockets. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <dort/queue.h>

#include "alloc_internal.h"
#include "http_internal.h"
#include "rt_internal.h"

typedef struct out_s {
    char *buf;
    size_t len, cap;
    int failed;
} out_t;

static void emit(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(out_t *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)n;
        char *b = dort__realloc(o->buf, cap);
        if (b == NULL) {
            o->failed = 1;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
}

static void counter(out_t *o, const char *name, const char *help, uint64_t v)
{
    emit(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
         (unsigned long long)v);
}

static void gauge(out_t *o, const char *name, const char *help, uint64_t v)
{
    emit(o, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name,
         (unsigned long long)v);
}

/* Prometheus histograms are cumulative; dort keeps per-bucket counts. */
static void histogram(out_t *o, const char *name, const char *help, const uint64_t *buckets,
                      const char *const *les, size_t n, double sum)
{
    emit(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc += buckets[i];
        emit(o, "%s_bucket{le=\"%s\"} %llu\n", name, les[i], (unsigned long long)acc);
    }
    emit(o, "%s_sum %.6f\n%s_count %llu\n", name, sum, name, (unsigned long long)acc);
}

static const char *const latency_les[14] = {"0.0001", "0.00025", "0.0005", "0.001", "0.0025",
                                            "0.005",  "0.01",    "0.025",  "0.05",  "0.1",
                                            "0.25",   "0.5",     "1",      "+Inf"};
static const char *const size_les[17] = {"1",    "2",    "4",    "8",     "16",    "32",
                                         "64",   "128",  "256",  "512",   "1024",  "2048",
                                         "4096", "8192", "16384", "32768", "+Inf"};

static void runtime_metrics(out_t *o, const dort_rt_t *rt)
{
    const dort_rt_stats_t *st = &rt->stats;
    gauge(o, "dort_actors_live", "Actors in memory.", st->actors_live);
    counter(o, "dort_actors_activated_total", "Actor activations.", st->actors_activated);
    counter(o, "dort_actors_evicted_total", "Idle actors evicted.", st->actors_evicted);
    counter(o, "dort_actors_reset_total", "Actors reset (commit failure, timeout).",
            st->actors_reset);
    counter(o, "dort_turns_total", "Handler invocations.", st->turns);
    counter(o, "dort_turns_failed_total", "Handler invocations that failed.", st->turns_failed);
    counter(o, "dort_commit_transactions_total", "LMDB write transactions committed.",
            st->commit_txns);
    counter(o, "dort_commit_failures_total", "Group commits that failed.", st->commit_failures);
    counter(o, "dort_committed_keys_total", "Key writes committed.", st->committed_keys);
    counter(o, "dort_alarms_fired_total", "Alarms delivered.", st->alarms_fired);
    counter(o, "dort_alarms_retried_total", "Alarm retries scheduled.", st->alarms_retried);
    histogram(o, "dort_commit_batch_size", "Write sets per group commit.", st->batch_size_hist,
              size_les, 17, 0);
    /* Seconds, per Prometheus convention: dort records milliseconds. */
    uint64_t lat[14];
    memcpy(lat, st->commit_latency_hist, sizeof lat);
    histogram(o, "dort_commit_latency_seconds", "Time from submission to commit.", lat,
              latency_les, 14, st->commit_latency_sum_ms / 1000.0);
}

static void http_metrics(out_t *o, const dort_http_server_t *s)
{
    const dort__http_stats_t *h = &s->stats;
    emit(o, "# HELP dort_http_requests_total HTTP requests answered, by status class.\n"
            "# TYPE dort_http_requests_total counter\n");
    static const char *const cls[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 6; i++)
        emit(o, "dort_http_requests_total{code=\"%s\"} %llu\n", cls[i],
             (unsigned long long)h->requests_by_class[i]);
    histogram(o, "dort_http_request_duration_seconds", "Time from request to answer written.",
              h->latency_hist, latency_les, 14, h->latency_sum_ms / 1000.0);
    gauge(o, "dort_http_connections_open", "Open client connections.", h->connections_open);
    counter(o, "dort_http_connections_total", "Client connections accepted.",
            h->connections_total);
    counter(o, "dort_http_connections_refused_total", "Connections refused at the limit.",
            h->connections_refused);
    gauge(o, "dort_websockets_open", "Open WebSockets.", h->websockets_open);
    counter(o, "dort_http_bytes_received_total", "Bytes read from clients.", h->bytes_in);
    counter(o, "dort_http_bytes_sent_total", "Bytes written to clients.", h->bytes_out);
}

typedef struct qm_s {
    out_t *o;
    dort_rt_t *rt;
    int header_done;
} qm_t;

static void queue_metrics_one(void *data, const char *name)
{
    qm_t *m = data;
    dort_queue_stats_t st;
    if (dort_rt_queue_stats(m->rt, name, &st) != 0)
        return;
    if (!m->header_done) {
        m->header_done = 1;
        emit(m->o, "# HELP dort_queue_messages Messages in a queue, by state.\n"
                   "# TYPE dort_queue_messages gauge\n"
                   "# HELP dort_queue_oldest_age_seconds Age of the oldest message.\n"
                   "# TYPE dort_queue_oldest_age_seconds gauge\n"
                   "# HELP dort_queue_events_total Messages sent, acked, retried, dead-lettered,"
                   " dropped.\n# TYPE dort_queue_events_total counter\n");
    }
    emit(m->o, "dort_queue_messages{queue=\"%s\",state=\"ready\"} %llu\n", name,
         (unsigned long long)st.ready);
    emit(m->o, "dort_queue_messages{queue=\"%s\",state=\"delayed\"} %llu\n", name,
         (unsigned long long)st.delayed);
    emit(m->o, "dort_queue_messages{queue=\"%s\",state=\"in_flight\"} %llu\n", name,
         (unsigned long long)st.in_flight);
    emit(m->o, "dort_queue_oldest_age_seconds{queue=\"%s\"} %.3f\n", name,
         st.oldest_age_ms < 0 ? 0.0 : (double)st.oldest_age_ms / 1000.0);
    static const char *const kinds[5] = {"sent", "acked", "retried", "dead_lettered", "dropped"};
    const uint64_t v[5] = {st.sent, st.acked, st.retried, st.dead_lettered, st.dropped};
    for (int i = 0; i < 5; i++)
        emit(m->o, "dort_queue_events_total{queue=\"%s\",event=\"%s\"} %llu\n", name, kinds[i],
             (unsigned long long)v[i]);
}

int dort__metrics_response(dort_http_server_t *s, dort_response_t **out)
{
    out_t o = {dort__malloc(8192), 0, 8192, 0};
    if (o.buf == NULL)
        return DORT_ENOMEM;
    runtime_metrics(&o, s->rt);
    http_metrics(&o, s);
    qm_t qm = {&o, s->rt, 0};
    dort_rt_queues(s->rt, queue_metrics_one, &qm);
    int rc = o.failed ? DORT_ENOMEM : dort_response_new(out, 200);
    if (rc == 0)
        rc = dort_response_add_header(*out, "Content-Type", 12,
                                      "text/plain; version=0.0.4; charset=utf-8", 40);
    if (rc == 0)
        return dort_response_set_body(*out, o.buf, o.len, DORT_BUF_TAKE);
    dort__free(o.buf);
    return rc;
}
