/* test_queue_limits.c - what the queue API refuses, with which code, and
 * that a refused call sends nothing: message and batch limits, delays,
 * sends after stop, consumer and producer options, registration states.
 * And introspection: dort_rt_queue_stats in a scenario where every figure
 * is known, its counters across a restart, and counters that must not move
 * when the commit they describe fails. */
#include "test_queue_helpers.h"

static char big[DORT_QUEUE_MAX_MESSAGE + 1];

static dort_queue_send_t msg_of(size_t len, uint32_t delay_s)
{
    dort_queue_send_t m = {
        .body = big, .len = len, .content_type = DORT_QUEUE_CONTENT_BYTES, .delay_s = delay_s};
    return m;
}

static void send_limits(void **state)
{
    (void)state;
    memset(big, 'x', sizeof big);
    qt_cfg_t c;
    qt_cfg_init(&c);
    dort_rt_t *rt = qt_start(&c);
    dort_queue_t *q = dort_rt_queue(rt, "Q");
    dort_queue_send_t m[DORT_QUEUE_MAX_BATCH + 1];
    for (size_t i = 0; i <= DORT_QUEUE_MAX_BATCH; i++)
        m[i] = msg_of(1, 0);

    m[0] = msg_of(DORT_QUEUE_MAX_MESSAGE + 1, 0);
    assert_int_equal(dort_queue_send(q, NULL, m, 1, qt_on_sent, NULL), DORT_ETOOLARGE);
    m[0] = msg_of(1, 0);
    assert_int_equal(dort_queue_send(q, NULL, m, DORT_QUEUE_MAX_BATCH + 1, qt_on_sent, NULL),
                     DORT_ELIMIT);
    assert_int_equal(dort_queue_send(q, NULL, m, 0, qt_on_sent, NULL), DORT_ELIMIT);
    for (int i = 0; i < 3; i++)
        m[i] = msg_of(100 * 1024, 0); /* each allowed, 300 KiB together not */
    assert_int_equal(dort_queue_send(q, NULL, m, 3, qt_on_sent, NULL), DORT_ETOOLARGE);
    m[0] = msg_of(1, DORT_QUEUE_MAX_DELAY_S + 1);
    assert_int_equal(dort_queue_send(q, NULL, m, 1, qt_on_sent, NULL), DORT_EINVAL);
    m[0] = msg_of(1, 0);
    m[0].content_type = (dort_queue_content_t)7;
    assert_int_equal(dort_queue_send(q, NULL, m, 1, qt_on_sent, NULL), DORT_EINVAL);
    m[0] = msg_of(1, 0);
    m[0].body = NULL;
    assert_int_equal(dort_queue_send(q, NULL, m, 1, qt_on_sent, NULL), DORT_EINVAL);
    assert_int_equal(dort_queue_send(NULL, NULL, m, 1, qt_on_sent, NULL), DORT_EINVAL);
    assert_int_equal(dort_queue_send(q, NULL, NULL, 1, qt_on_sent, NULL), DORT_EINVAL);
    th_run_for(rt, 300);
    assert_int_equal(qt_sent_cbs, 0);
    assert_int_equal(qt_jobs.n, 0);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 0, 0, 0, 0, 0);

    /* The limits themselves are allowed: two bodies of 128 KiB (256 KiB in
     * all) and a delay of exactly a day. */
    m[0] = msg_of(DORT_QUEUE_MAX_MESSAGE, 0);
    m[1] = msg_of(DORT_QUEUE_MAX_MESSAGE, 0);
    assert_int_equal(dort_queue_send(q, NULL, m, 2, qt_on_sent, NULL), 0);
    m[0] = msg_of(1, DORT_QUEUE_MAX_DELAY_S);
    assert_int_equal(dort_queue_send(q, NULL, m, 1, qt_on_sent, NULL), 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 2, 2000));
    th_run_for(rt, 200);
    assert_int_equal(qt_sent_cbs, 2);
    assert_int_equal(qt_sent_status, 0);
    assert_int_equal(qt_jobs.n, 2);
    st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 1, 0, 3, 2, 0, 0, 0);
    qt_stop(rt);
}

static void send_after_stop(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    dort_rt_t *rt = qt_start(&c);
    dort_queue_t *q = dort_rt_queue(rt, "Q");
    dort_queue_send_t m = {.body = "s", .len = 1};
    int stopped = 0;
    assert_int_equal(dort_rt_stop(rt, qt_on_stopped, &stopped), 0);
    assert_int_equal(dort_queue_send(q, NULL, &m, 1, qt_on_sent, NULL), DORT_ESTOPPED);
    assert_true(th_run_until(rt, qt_flag, &stopped, 3000));
    assert_int_equal(dort_queue_send(q, NULL, &m, 1, qt_on_sent, NULL), DORT_ESTOPPED);
    assert_int_equal(qt_sent_cbs, 0);
    assert_int_equal(qt_stats(rt, "jobs").sent, 0);
    qt_free(rt);
}

static int noop_fetch(dort_exchange_t *ex)
{
    (void)ex;
    return 0;
}

static void collect_name(void *data, const char *name)
{
    char *buf = data;
    strcat(buf, name);
    strcat(buf, ",");
}

static void consumer_and_producer_options(void **state)
{
    (void)state;
    static const dort_worker_class_t fetch_only = {.name = "fetch-only", .fetch = noop_fetch};
    dort_queue_consumer_options_t o;
    dort_queue_consumer_options_init(&o);
    assert_int_equal(o.max_batch_size, 10);
    assert_int_equal(o.max_batch_timeout_ms, 5000);
    assert_int_equal(o.max_retries, 3);
    assert_int_equal(o.retry_delay_s, 0);
    assert_null(o.dead_letter_queue);

    dort_rt_options_t ro;
    th_options(&ro, NULL);
    dort_rt_t *rt;
    dort_worker_t *w, *wf;
    assert_int_equal(dort_rt_new(&rt, &ro), 0);
    assert_int_equal(dort_rt_add_worker(rt, &qt_jobs_worker, &w), 0);
    assert_int_equal(dort_rt_add_worker(rt, &fetch_only, &wf), 0);
    dort_queue_consumer_options_t ok;
    dort_queue_consumer_options_init(&ok);
    ok.queue = "edge";
    ok.worker = w;

#define BAD(field, value)                                                                          \
    do {                                                                                           \
        o = ok;                                                                                    \
        o.field = value;                                                                           \
        assert_int_equal(dort_rt_add_queue_consumer(rt, &o), DORT_EINVAL);                         \
    } while (0)
    BAD(max_batch_size, 0);
    BAD(max_batch_size, DORT_QUEUE_MAX_BATCH + 1);
    BAD(max_batch_timeout_ms, 60001);
    BAD(max_retries, 101);
    BAD(retry_delay_s, DORT_QUEUE_MAX_DELAY_S + 1);
    BAD(worker, NULL);
    BAD(worker, wf); /* no queue handler */
    BAD(queue, NULL);
    BAD(queue, "Upper");
    BAD(queue, "");
    static char long_name[65];
    memset(long_name, 'q', 64);
    BAD(queue, long_name);
    BAD(dead_letter_queue, "edge");
    BAD(dead_letter_queue, "bad name");
#undef BAD
    assert_int_equal(dort_rt_add_queue_consumer(rt, NULL), DORT_EINVAL);

    /* The largest values are allowed; a second consumer is not. */
    o = ok;
    o.max_batch_size = DORT_QUEUE_MAX_BATCH;
    o.max_batch_timeout_ms = 60000;
    o.max_retries = 100;
    o.retry_delay_s = DORT_QUEUE_MAX_DELAY_S;
    o.dead_letter_queue = "edge-dlq";
    assert_int_equal(dort_rt_add_queue_consumer(rt, &o), 0);
    assert_int_equal(dort_rt_add_queue_consumer(rt, &ok), DORT_EEXIST);

    assert_int_equal(dort_rt_add_queue_producer(rt, "", "edge"), DORT_EINVAL);
    assert_int_equal(dort_rt_add_queue_producer(rt, NULL, "edge"), DORT_EINVAL);
    assert_int_equal(dort_rt_add_queue_producer(rt, "P", "No"), DORT_EINVAL);
    assert_int_equal(dort_rt_add_queue_producer(rt, "P", "edge"), 0);
    assert_int_equal(dort_rt_add_queue_producer(rt, "P", "other"), DORT_EEXIST);
    assert_int_equal(dort_rt_add_queue(rt, "UPPER"), DORT_EINVAL);
    assert_int_equal(dort_rt_add_queue(rt, "plain"), 0);
    assert_int_equal(dort_rt_add_queue(rt, "plain"), 0); /* declaring again is fine */
    assert_null(dort_rt_queue(rt, "NOPE"));
    assert_string_equal(dort_queue_name(dort_rt_queue(rt, "P")), "edge");

    assert_int_equal(dort_rt_start(rt), 0);
    assert_int_equal(dort_rt_add_queue(rt, "late"), DORT_ESTATE);
    assert_int_equal(dort_rt_add_queue_producer(rt, "P2", "late"), DORT_ESTATE);
    o = ok;
    o.queue = "late";
    assert_int_equal(dort_rt_add_queue_consumer(rt, &o), DORT_ESTATE);
    char names[256] = "";
    dort_rt_queues(rt, collect_name, names);
    assert_string_equal(names, "edge,edge-dlq,plain,");
    dort_queue_stats_t st;
    assert_int_equal(dort_rt_queue_stats(rt, "nope", &st), DORT_ENOENT);
    assert_int_equal(dort_rt_queue_stats(rt, "plain", &st), 0);
    QT_ASSERT_STATS(st, 0, 0, 0, 0, 0, 0, 0, 0);
    assert_int_equal(st.oldest_age_ms, -1);
    qt_stop(rt);
}

/* ---- introspection ---- */

static dort_queue_batch_t *held;

static int hold_batch(dort_queue_batch_t *b)
{
    assert_null(held);
    held = b;
    return DORT_EPENDING;
}

static dort_queue_message_t *msg_with(dort_queue_batch_t *b, const char *body)
{
    for (size_t i = 0; i < dort_queue_batch_size(b); i++) {
        dort_slice_t s = dort_queue_message_body(dort_queue_batch_message(b, i));
        if (s.len == strlen(body) && memcmp(s.ptr, body, s.len) == 0)
            return dort_queue_batch_message(b, i);
    }
    return NULL;
}

static int held_is_set(void *data)
{
    (void)data;
    return held != NULL;
}

static dort_queue_batch_t *take_held(dort_rt_t *rt)
{
    assert_true(th_run_until(rt, held_is_set, NULL, 2000));
    dort_queue_batch_t *b = held;
    held = NULL;
    return b;
}

/* Seven messages (five now, two in a minute), batches of 3 held by the
 * consumer, max_retries 1: every figure is known at each step, and the
 * counters are the same after a restart. */
static void stats_exact_and_after_restart(void **state)
{
    (void)state;
    const char *dir = qt_tmpdir();
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.dir = dir;
    c.batch = 3;
    c.retries = 1;
    c.stop_timeout_ms = 200;
    dort_rt_t *rt = qt_start(&c);
    held = NULL;
    qt_script = hold_batch;
    int64_t t0 = qt_now_ms();
    qt_send_seq(rt, "Q", "a", 0, 5, 0);
    qt_send_seq(rt, "Q", "d", 0, 2, 60);
    dort_queue_batch_t *b = take_held(rt);
    assert_int_equal(dort_queue_batch_size(b), 3);
    th_run_for(rt, 30);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 2, 2, 3, 7, 0, 0, 0, 0);
    assert_true(st.oldest_age_ms >= 30);
    assert_true(st.oldest_age_ms <= qt_now_ms() - t0);

    /* a0 acked, a1 retried in a minute, a2 follows success. */
    assert_int_equal(dort_queue_message_ack(msg_with(b, "a0"), NULL), 0);
    assert_int_equal(dort_queue_message_retry(msg_with(b, "a1"), 60), 0);
    dort_queue_batch_finish(b, 0);
    b = take_held(rt);
    assert_int_equal(dort_queue_batch_size(b), 2);
    th_run_for(rt, 30);
    st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 3, 2, 7, 2, 1, 0, 0);

    /* a3, a4 fail: retried at once (attempts 1 <= 1)... */
    dort_queue_batch_finish(b, -1);
    b = take_held(rt);
    assert_int_equal(dort_queue_batch_size(b), 2);
    assert_int_equal(dort_queue_message_attempts(dort_queue_batch_message(b, 0)), 2);
    st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 3, 2, 7, 2, 3, 0, 0);

    /* ...and fail again: out of retries, no DLQ, dropped. */
    dort_queue_batch_finish(b, -1);
    th_run_for(rt, 200);
    assert_null(held);
    st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 3, 0, 7, 2, 3, 0, 2);
    assert_true(st.oldest_age_ms >= 0);
    qt_stop(rt);

    rt = qt_start(&c);
    st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 3, 0, 7, 2, 3, 0, 2);
    qt_stop(rt);
}

/* The last thing before the stop was a send (no batch resolved after it):
 * `sent` must still count it after the restart. */
static void sent_counter_survives_restart(void **state)
{
    (void)state;
    const char *dir = qt_tmpdir();
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.dir = dir;
    dort_rt_t *rt = qt_start(&c);
    qt_send_seq(rt, "OTHER", "o", 0, 4, 0);
    qt_send_seq(rt, "Q", "j", 0, 2, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 2, 2000));
    th_run_for(rt, 100);
    qt_send_seq(rt, "Q", "later", 0, 1, 60);
    dort_queue_stats_t st = qt_stats(rt, "other");
    QT_ASSERT_STATS(st, 4, 0, 0, 4, 0, 0, 0, 0);
    st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 1, 0, 3, 2, 0, 0, 0);
    qt_stop(rt);

    rt = qt_start(&c);
    st = qt_stats(rt, "other");
    QT_ASSERT_STATS(st, 4, 0, 0, 4, 0, 0, 0, 0);
    st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 1, 0, 3, 2, 0, 0, 0);
    qt_stop(rt);
}

/* A delayed message whose time has come is deliverable: ready, no longer
 * delayed, also in a queue without a consumer. */
static void stats_due_message_is_ready(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    dort_rt_t *rt = qt_start(&c);
    qt_send_seq(rt, "OTHER", "due", 0, 1, 1);
    dort_queue_stats_t st = qt_stats(rt, "other");
    QT_ASSERT_STATS(st, 0, 1, 0, 1, 0, 0, 0, 0);
    th_run_for(rt, 1300);
    st = qt_stats(rt, "other");
    QT_ASSERT_STATS(st, 1, 0, 0, 1, 0, 0, 0, 0);
    qt_stop(rt);
}

/* The commit of a batch's resolution fails: nothing of it happened (the
 * messages come again, attempts unchanged), so nothing of it is counted. */
static dort_rt_t *fail_rt;

static int decide_then_fail_commit(dort_queue_batch_t *b)
{
    if (qt_jobs.batches == 1) {
        assert_int_equal(dort_queue_message_ack(msg_with(b, "c0"), NULL), 0);
        assert_int_equal(dort_queue_message_retry(msg_with(b, "c1"), 0), 0);
        dort__writer_fail_next(&fail_rt->writer, DORT_EIO); /* the resolution is next */
    }
    return 0;
}

static void failed_resolution_not_counted(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    dort_rt_t *rt = fail_rt = qt_start(&c);
    qt_script = decide_then_fail_commit;
    qt_send_seq(rt, "Q", "c", 0, 2, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 4, 2000));
    th_run_for(rt, 200);
    assert_int_equal(qt_jobs.n, 4);
    assert_int_equal(qt_jobs.batches, 2);
    for (int i = 0; i < 4; i++)
        assert_int_equal(qt_jobs.s[i].attempts, 1);
    dort_rt_stats_t rs;
    dort_rt_stats(rt, &rs);
    assert_int_equal(rs.commit_failures, 1);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 2, 2, 0, 0, 0);
    qt_stop(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        QT_TEST(send_limits),
        QT_TEST(send_after_stop),
        QT_TEST(consumer_and_producer_options),
        QT_TEST(stats_exact_and_after_restart),
        QT_TEST(sent_counter_survives_restart),
        QT_TEST(stats_due_message_is_ready),
        QT_TEST(failed_resolution_not_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
