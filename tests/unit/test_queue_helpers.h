/* test_queue_helpers.h - shared pieces of the queue tests (test_queue_*.c):
 * a consumer that records every delivery and then follows a per-test
 * script, runtimes with the queues the tests use, sends that wait for their
 * commit, waits on the delivery log, and a wall clock in milliseconds.
 *
 * Queues of a runtime from qt_start:
 *   jobs      producer "Q",     consumed by the recording consumer (qt_jobs)
 *   jobs-dlq  producer "DLQP",  the consumer's dead-letter queue when cfg.dlq;
 *                               recorded in qt_dlq when cfg.dlq_consumer
 *   other     producer "OTHER", no consumer
 *
 * Everything is static: each test file is a program of its own, and cmocka
 * runs its tests one after another in that process (qt_setup resets the
 * shared state before each). */
#ifndef DORT_TEST_QUEUE_HELPERS_H
#define DORT_TEST_QUEUE_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "kv_actor.h"
#include "rt_internal.h"
#include "th.h"

#define QT_UNUSED __attribute__((unused))
#define QT_MAX 2048

/* One delivery as the consumer saw it. */
typedef struct qt_seen_s {
    char body[64];
    char id[33];
    uint32_t attempts;
    int64_t ts_ms; /* the message's timestamp (send time, wall ms) */
    int64_t at_ms; /* wall ms when the handler ran */
    size_t batch_size;
    int batch_no; /* 1-based, per log */
} qt_seen_t;

typedef struct qt_log_s {
    qt_seen_t s[QT_MAX];
    int n, batches;
} qt_log_t;

static qt_log_t qt_jobs, qt_dlq;

/* What the jobs consumer does after recording a batch; its return value is
 * the handler's. NULL: return 0 (success). */
static int (*qt_script)(dort_queue_batch_t *b);

/* The same for the jobs-dlq consumer. */
static int (*qt_dlq_script)(dort_queue_batch_t *b);

/* A data directory made by qt_tmpdir, removed by qt_teardown (also after a
 * failed assertion). */
static char *qt_dir;

/* The runtime qt_start made last and nobody freed yet: after a failed
 * assertion qt_teardown stops and frees it (and its temporary files). */
static dort_rt_t *qt_rt;

/* Completion of the last qt_send: count of callbacks, last status, when. */
static int qt_sent_cbs, qt_sent_status;
static int64_t qt_sent_at_ms;

QT_UNUSED static int64_t qt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

QT_UNUSED static void qt_record(qt_log_t *log, dort_queue_batch_t *b)
{
    log->batches++;
    int64_t now = qt_now_ms();
    for (size_t i = 0; i < dort_queue_batch_size(b) && log->n < QT_MAX; i++) {
        dort_queue_message_t *m = dort_queue_batch_message(b, i);
        dort_slice_t body = dort_queue_message_body(m);
        qt_seen_t *s = &log->s[log->n++];
        snprintf(s->body, sizeof s->body, "%.*s", (int)body.len, body.ptr);
        snprintf(s->id, sizeof s->id, "%s", dort_queue_message_id(m));
        s->attempts = dort_queue_message_attempts(m);
        s->ts_ms = dort_queue_message_timestamp(m);
        s->at_ms = now;
        s->batch_size = dort_queue_batch_size(b);
        s->batch_no = log->batches;
    }
}

QT_UNUSED static int qt_jobs_queue(dort_queue_batch_t *b)
{
    qt_record(&qt_jobs, b);
    return qt_script != NULL ? qt_script(b) : 0;
}

QT_UNUSED static int qt_dlq_queue(dort_queue_batch_t *b)
{
    qt_record(&qt_dlq, b);
    return qt_dlq_script != NULL ? qt_dlq_script(b) : 0;
}

static const dort_worker_class_t qt_jobs_worker QT_UNUSED = {.name = "jobs-consumer",
                                                             .queue = qt_jobs_queue};
static const dort_worker_class_t qt_dlq_worker QT_UNUSED = {.name = "dlq-consumer",
                                                            .queue = qt_dlq_queue};

typedef struct qt_cfg_s {
    const char *dir;         /* NULL: memory durability */
    uint32_t batch;          /* max_batch_size (default 10) */
    uint32_t timeout_ms;     /* max_batch_timeout_ms (default 0: deliver at once) */
    uint32_t retries;        /* max_retries (default 3) */
    uint32_t retry_delay_s;  /* retry_delay_s (default 0) */
    int dlq;                 /* consumer dead-letters into jobs-dlq */
    int dlq_consumer;        /* jobs-dlq gets the recording qt_dlq consumer */
    uint32_t dlq_retries;    /* its max_retries (default 3) */
    int no_consumer;         /* leave jobs without a consumer */
    const dort_class_t *cls; /* an extra actor class, bound under its name */
    int64_t stop_timeout_ms; /* 0: 1000 */
} qt_cfg_t;

QT_UNUSED static void qt_cfg_init(qt_cfg_t *c)
{
    memset(c, 0, sizeof *c);
    c->batch = 10;
    c->retries = 3;
    c->dlq_retries = 3;
}

QT_UNUSED static dort_rt_t *qt_start(const qt_cfg_t *c)
{
    dort_rt_options_t o;
    th_options(&o, c->dir);
    o.idle_timeout_ms = -1; /* tests keep actor pointers between turns */
    /* Short: a failed test's teardown stops a runtime whose batch may still
     * be pending. */
    o.stop_timeout_ms = c->stop_timeout_ms > 0 ? c->stop_timeout_ms : 1000;
    dort_rt_t *rt = NULL;
    dort_worker_t *w, *wd;
    assert_int_equal(dort_rt_new(&rt, &o), 0);
    assert_int_equal(dort_rt_register_class(rt, &th_kv_class), 0);
    assert_int_equal(dort_rt_bind_namespace(rt, "KV", "KV", NULL, NULL), 0);
    if (c->cls != NULL) {
        assert_int_equal(dort_rt_register_class(rt, c->cls), 0);
        assert_int_equal(dort_rt_bind_namespace(rt, c->cls->name, c->cls->name, NULL, NULL), 0);
    }
    assert_int_equal(dort_rt_add_worker(rt, &qt_jobs_worker, &w), 0);
    assert_int_equal(dort_rt_add_queue_producer(rt, "Q", "jobs"), 0);
    assert_int_equal(dort_rt_add_queue_producer(rt, "OTHER", "other"), 0);
    if (c->dlq)
        assert_int_equal(dort_rt_add_queue_producer(rt, "DLQP", "jobs-dlq"), 0);
    if (!c->no_consumer) {
        dort_queue_consumer_options_t co;
        dort_queue_consumer_options_init(&co);
        co.queue = "jobs";
        co.worker = w;
        co.max_batch_size = c->batch;
        co.max_batch_timeout_ms = c->timeout_ms;
        co.max_retries = c->retries;
        co.retry_delay_s = c->retry_delay_s;
        co.dead_letter_queue = c->dlq ? "jobs-dlq" : NULL;
        assert_int_equal(dort_rt_add_queue_consumer(rt, &co), 0);
    }
    if (c->dlq && c->dlq_consumer) {
        assert_int_equal(dort_rt_add_worker(rt, &qt_dlq_worker, &wd), 0);
        dort_queue_consumer_options_t co;
        dort_queue_consumer_options_init(&co);
        co.queue = "jobs-dlq";
        co.worker = wd;
        co.max_batch_timeout_ms = 0;
        co.max_retries = c->dlq_retries;
        assert_int_equal(dort_rt_add_queue_consumer(rt, &co), 0);
    }
    assert_int_equal(dort_rt_start(rt), 0);
    qt_rt = rt;
    return rt;
}

/* th_stop / dort_rt_free for runtimes of qt_start. */
QT_UNUSED static void qt_stop(dort_rt_t *rt)
{
    if (qt_rt == rt)
        qt_rt = NULL;
    th_stop(rt);
}

QT_UNUSED static void qt_free(dort_rt_t *rt)
{
    if (qt_rt == rt)
        qt_rt = NULL;
    dort_rt_free(rt);
}

/* cmocka setup: forgets everything the previous test left behind. */
QT_UNUSED static int qt_setup(void **state)
{
    (void)state;
    memset(&qt_jobs, 0, sizeof qt_jobs);
    memset(&qt_dlq, 0, sizeof qt_dlq);
    qt_script = NULL;
    qt_dlq_script = NULL;
    qt_sent_cbs = 0;
    qt_sent_status = 1;
    qt_sent_at_ms = 0;
    qt_rt = NULL;
    return 0;
}

static void qt_on_stopped(dort_rt_t *rt, void *data);
static int qt_flag(void *data);

/* cmocka teardown: after a failed assertion, stops and frees the test's
 * runtime (a parked writer released first); removes the directory of
 * qt_tmpdir. */
QT_UNUSED static int qt_teardown(void **state)
{
    (void)state;
    dort_rt_t *rt = qt_rt;
    qt_rt = NULL;
    if (rt != NULL) {
        int stopped = 0;
        dort__writer_set_hold(&rt->writer, 0);
        if (rt->state == DORT__RT_RUNNING && dort_rt_stop(rt, qt_on_stopped, &stopped) == 0)
            th_run_until(rt, qt_flag, &stopped, 10000);
        if (rt->state == DORT__RT_STOPPED)
            dort_rt_free(rt);
    }
    if (qt_dir != NULL) {
        th_rmdir(qt_dir);
        free(qt_dir);
        qt_dir = NULL;
    }
    return 0;
}

/* A fresh data directory for this test (see qt_teardown). */
QT_UNUSED static const char *qt_tmpdir(void)
{
    assert_null(qt_dir);
    qt_dir = th_mkdtemp();
    assert_non_null(qt_dir);
    return qt_dir;
}

/* A test with the shared setup and teardown. */
#define QT_TEST(f) cmocka_unit_test_setup_teardown(f, qt_setup, qt_teardown)

QT_UNUSED static void qt_on_sent(void *data, int status)
{
    (void)data;
    qt_sent_cbs++;
    qt_sent_status = status;
    qt_sent_at_ms = qt_now_ms();
}

/* Sends bodies[0..n) (text) to producer `binding` from outside any actor.
 * Returns dort_queue_send's code; the commit lands in qt_sent_*. */
QT_UNUSED static int qt_send(dort_rt_t *rt, const char *binding, const char *const *bodies,
                             size_t n, uint32_t delay_s)
{
    dort_queue_send_t msgs[DORT_QUEUE_MAX_BATCH];
    assert_true(n <= DORT_QUEUE_MAX_BATCH);
    for (size_t i = 0; i < n; i++) {
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].body = bodies[i];
        msgs[i].len = strlen(bodies[i]);
        msgs[i].content_type = DORT_QUEUE_CONTENT_TEXT;
        msgs[i].delay_s = delay_s;
    }
    return dort_queue_send(dort_rt_queue(rt, binding), NULL, msgs, n, qt_on_sent, NULL);
}

static int qt_cbs_at_least(void *data)
{
    return qt_sent_cbs >= *(int *)data;
}

/* Sends and runs the loop until the commit reported; asserts it succeeded. */
QT_UNUSED static void qt_send_wait(dort_rt_t *rt, const char *binding, const char *const *bodies,
                                   size_t n, uint32_t delay_s)
{
    int want = qt_sent_cbs + 1;
    assert_int_equal(qt_send(rt, binding, bodies, n, delay_s), 0);
    assert_true(th_run_until(rt, qt_cbs_at_least, &want, 5000));
    assert_int_equal(qt_sent_status, 0);
}

/* Sends `n` bodies "<prefix><i>" (i from `first`) and waits for the commit. */
QT_UNUSED static void qt_send_seq(dort_rt_t *rt, const char *binding, const char *prefix, int first,
                                  int n, uint32_t delay_s)
{
    static char bufs[DORT_QUEUE_MAX_BATCH][32];
    const char *bodies[DORT_QUEUE_MAX_BATCH];
    assert_true(n <= DORT_QUEUE_MAX_BATCH);
    for (int i = 0; i < n; i++) {
        snprintf(bufs[i], sizeof bufs[i], "%s%d", prefix, first + i);
        bodies[i] = bufs[i];
    }
    qt_send_wait(rt, binding, bodies, (size_t)n, delay_s);
}

typedef struct qt_wait_s {
    const qt_log_t *log;
    int n;
} qt_wait_t;

static int qt_log_at_least(void *data)
{
    qt_wait_t *w = data;
    return w->log->n >= w->n;
}

/* Runs the loop until `log` holds at least n deliveries; 1 when it does. */
QT_UNUSED static int qt_wait_seen(dort_rt_t *rt, const qt_log_t *log, int n, int timeout_ms)
{
    qt_wait_t w = {log, n};
    return th_run_until(rt, qt_log_at_least, &w, timeout_ms);
}

/* What qt_find returns for a delivery that never happened: attempts 0 and
 * times -1 fail any assertion about a real one. */
static const qt_seen_t qt_missing = {.body = "<missing>", .ts_ms = -1, .at_ms = -1};

/* The k-th (0-based) delivery of `body`, or &qt_missing. */
QT_UNUSED static const qt_seen_t *qt_find(const qt_log_t *log, const char *body, int k)
{
    for (int i = 0; i < log->n; i++)
        if (strcmp(log->s[i].body, body) == 0 && k-- == 0)
            return &log->s[i];
    return &qt_missing;
}

#define QT_FOUND(p) assert_ptr_not_equal((p), &qt_missing)

/* How many times `body` was delivered. */
QT_UNUSED static int qt_count(const qt_log_t *log, const char *body)
{
    int c = 0;
    for (int i = 0; i < log->n; i++)
        c += strcmp(log->s[i].body, body) == 0;
    return c;
}

QT_UNUSED static dort_queue_stats_t qt_stats(dort_rt_t *rt, const char *name)
{
    dort_queue_stats_t st;
    memset(&st, 0xff, sizeof st);
    assert_int_equal(dort_rt_queue_stats(rt, name, &st), 0);
    return st;
}

/* Asserts every counter and gauge of `st` (oldest_age_ms not included). */
#define QT_ASSERT_STATS(st, rdy, dly, infl, snt, ack, rtr, dl, drp)                                \
    do {                                                                                           \
        assert_int_equal((st).ready, (rdy));                                                       \
        assert_int_equal((st).delayed, (dly));                                                     \
        assert_int_equal((st).in_flight, (infl));                                                  \
        assert_int_equal((st).sent, (snt));                                                        \
        assert_int_equal((st).acked, (ack));                                                       \
        assert_int_equal((st).retried, (rtr));                                                     \
        assert_int_equal((st).dead_lettered, (dl));                                                \
        assert_int_equal((st).dropped, (drp));                                                     \
    } while (0)

/* ---- failure injection ---- */

static int qt_commit_idle(void *data)
{
    return dort__commit_idle(data);
}

/* Runs until nothing waits to be committed or is being committed, so that
 * a failure injected next (dort__writer_fail_next) or a writer hold hits
 * the commit the test causes next and not one the engine started. */
QT_UNUSED static void qt_quiesce(dort_rt_t *rt)
{
    assert_true(th_run_until(rt, qt_commit_idle, rt, 3000));
}

/* ---- a stop that keeps the runtime (send-after-stop needs it) ---- */

static void qt_on_stopped(dort_rt_t *rt, void *data)
{
    (void)rt;
    *(int *)data = 1;
}

static int qt_flag(void *data)
{
    return *(int *)data;
}

/* Stops and runs until the stop callback ran (asserted within timeout_ms);
 * the caller frees. */
QT_UNUSED static void qt_stop_keep(dort_rt_t *rt, int timeout_ms)
{
    int stopped = 0;
    assert_int_equal(dort_rt_stop(rt, qt_on_stopped, &stopped), 0);
    assert_true(th_run_until(rt, qt_flag, &stopped, timeout_ms));
}

#endif
