/* test_queue_ack.c - what a consumer decides and what comes of it:
 * per-message ack and retry, retry delays, the first decision on a message
 * winning, per-message calls beating batch-level ones, undecided messages
 * following the handler's outcome, retry_all / ack_all, DORT_EPENDING with
 * a later dort_queue_batch_finish, and messages out of retries going to the
 * dead-letter queue or being dropped. */
#include "test_queue_helpers.h"

static int body_is(dort_queue_message_t *m, const char *s)
{
    dort_slice_t b = dort_queue_message_body(m);
    return b.len == strlen(s) && memcmp(b.ptr, s, b.len) == 0;
}

static dort_queue_message_t *msg_with(dort_queue_batch_t *b, const char *body)
{
    for (size_t i = 0; i < dort_queue_batch_size(b); i++)
        if (body_is(dort_queue_batch_message(b, i), body))
            return dort_queue_batch_message(b, i);
    return NULL;
}

/* ---- per-message decisions ---- */

static int ack_a0_retry_a1(dort_queue_batch_t *b)
{
    if (qt_jobs.batches != 1)
        return 0;
    dort_queue_message_t *a0 = msg_with(b, "a0"), *a1 = msg_with(b, "a1");
    assert_non_null(a0);
    assert_non_null(a1);
    assert_int_equal(dort_queue_message_ack(a0, NULL), 0);
    assert_int_equal(dort_queue_message_retry(a1, 0), 0);
    return 0; /* a2 and a3 are left undecided: success acks them */
}

static void per_message_ack_and_retry(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    dort_rt_t *rt = qt_start(&c);
    qt_script = ack_a0_retry_a1;
    qt_send_seq(rt, "Q", "a", 0, 4, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 5, 2000));
    th_run_for(rt, 200);
    assert_int_equal(qt_jobs.n, 5);
    assert_int_equal(qt_count(&qt_jobs, "a0"), 1);
    assert_int_equal(qt_count(&qt_jobs, "a1"), 2);
    assert_int_equal(qt_count(&qt_jobs, "a2"), 1);
    assert_int_equal(qt_count(&qt_jobs, "a3"), 1);
    assert_int_equal(qt_find(&qt_jobs, "a1", 1)->attempts, 2);
    assert_string_equal(qt_find(&qt_jobs, "a1", 1)->id, qt_find(&qt_jobs, "a1", 0)->id);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 4, 4, 1, 0, 0);
    qt_stop(rt);
}

/* The first decision on a message wins, and the first batch-level call wins
 * over a later batch-level one. */
static int conflicting_calls(dort_queue_batch_t *b)
{
    if (qt_jobs.batches != 1)
        return 0;
    dort_queue_message_t *w0 = msg_with(b, "w0"), *w1 = msg_with(b, "w1");
    assert_int_equal(dort_queue_message_ack(w0, NULL), 0);
    assert_int_equal(dort_queue_message_retry(w0, 0), DORT_EINVAL);
    assert_int_equal(dort_queue_message_ack(w0, NULL), DORT_EINVAL);
    assert_int_equal(dort_queue_message_retry(w1, 0), 0);
    assert_int_equal(dort_queue_message_ack(w1, NULL), DORT_EINVAL);
    assert_int_equal(dort_queue_message_retry(w1, 0), DORT_EINVAL);
    dort_queue_batch_ack_all(b);
    dort_queue_batch_retry_all(b, 0); /* too late: ack_all came first */
    /* The failure is overruled by ack_all for w2 and w3. */
    return -1;
}

static void first_call_wins(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    dort_rt_t *rt = qt_start(&c);
    qt_script = conflicting_calls;
    qt_send_seq(rt, "Q", "w", 0, 4, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 5, 2000));
    th_run_for(rt, 200);
    assert_int_equal(qt_jobs.n, 5);
    assert_int_equal(qt_count(&qt_jobs, "w0"), 1);
    assert_int_equal(qt_count(&qt_jobs, "w1"), 2);
    assert_int_equal(qt_count(&qt_jobs, "w2"), 1);
    assert_int_equal(qt_count(&qt_jobs, "w3"), 1);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 4, 4, 1, 0, 0);
    qt_stop(rt);
}

/* A per-message call beats a batch-level call made before it (delivery 1)
 * and one made after it (delivery 2). */
static int message_beats_batch(dort_queue_batch_t *b)
{
    if (qt_jobs.batches == 1) {
        dort_queue_batch_retry_all(b, 0);
        assert_int_equal(dort_queue_message_ack(msg_with(b, "b0"), NULL), 0);
        return 0; /* success, but retry_all decides b1 and b2 */
    }
    if (qt_jobs.batches == 2) {
        assert_int_equal(dort_queue_batch_size(b), 2);
        assert_int_equal(dort_queue_message_retry(msg_with(b, "b1"), 0), 0);
        dort_queue_batch_ack_all(b);
        return -1; /* failure, but ack_all decides b2 */
    }
    return 0;
}

static void message_call_beats_batch_call(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    dort_rt_t *rt = qt_start(&c);
    qt_script = message_beats_batch;
    qt_send_seq(rt, "Q", "b", 0, 3, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 6, 2000));
    th_run_for(rt, 200);
    assert_int_equal(qt_jobs.n, 6);
    assert_int_equal(qt_jobs.batches, 3);
    assert_int_equal(qt_count(&qt_jobs, "b0"), 1);
    assert_int_equal(qt_count(&qt_jobs, "b1"), 3);
    assert_int_equal(qt_count(&qt_jobs, "b2"), 2);
    assert_int_equal(qt_find(&qt_jobs, "b1", 2)->attempts, 3);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 3, 3, 3, 0, 0);
    qt_stop(rt);
}

/* ---- delays of retries ---- */

/* Handler failure: undecided messages are retried after the consumer's
 * retry_delay; an explicitly acked one is not. */
static int ack_r0_then_fail(dort_queue_batch_t *b)
{
    if (qt_jobs.batches == 1)
        assert_int_equal(dort_queue_message_ack(msg_with(b, "r0"), NULL), 0);
    return qt_jobs.batches == 1 ? -1 : 0;
}

static void failure_retries_after_consumer_delay(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.retry_delay_s = 1;
    dort_rt_t *rt = qt_start(&c);
    qt_script = ack_r0_then_fail;
    qt_send_seq(rt, "Q", "r", 0, 2, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 2, 2000));
    th_run_for(rt, 300);
    assert_int_equal(qt_jobs.n, 2);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 1, 0, 2, 1, 1, 0, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 3, 3000));
    const qt_seen_t *first = qt_find(&qt_jobs, "r1", 0), *again = qt_find(&qt_jobs, "r1", 1);
    QT_FOUND(again);
    assert_int_equal(again->attempts, 2);
    assert_true(again->at_ms >= first->at_ms + 1000);
    assert_true(again->at_ms <= first->at_ms + 2500);
    th_run_for(rt, 200);
    assert_int_equal(qt_count(&qt_jobs, "r0"), 1);
    st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 2, 2, 1, 0, 0);
    qt_stop(rt);
}

/* retry(m, 1) waits a second; retry(m, -1) takes the consumer's delay (0). */
static int retry_with_delays(dort_queue_batch_t *b)
{
    if (qt_jobs.batches == 1) {
        assert_int_equal(dort_queue_message_retry(msg_with(b, "d0"), 1), 0);
        assert_int_equal(dort_queue_message_retry(msg_with(b, "d1"), -1), 0);
        assert_int_equal(dort_queue_message_retry(msg_with(b, "d2"), DORT_QUEUE_MAX_DELAY_S + 1),
                         DORT_EINVAL);
    }
    return 0;
}

static void retry_delay_honoured(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    dort_rt_t *rt = qt_start(&c);
    qt_script = retry_with_delays;
    qt_send_seq(rt, "Q", "d", 0, 3, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 4, 2000));
    const qt_seen_t *d1 = qt_find(&qt_jobs, "d1", 1);
    QT_FOUND(d1);
    assert_true(d1->at_ms < qt_jobs.s[0].at_ms + 500);
    th_run_for(rt, 500);
    assert_int_equal(qt_count(&qt_jobs, "d0"), 1); /* not before its second */
    assert_true(qt_wait_seen(rt, &qt_jobs, 5, 3000));
    const qt_seen_t *d0 = qt_find(&qt_jobs, "d0", 1);
    QT_FOUND(d0);
    assert_int_equal(d0->attempts, 2);
    assert_true(d0->at_ms >= qt_jobs.s[0].at_ms + 1000);
    assert_true(d0->at_ms <= qt_jobs.s[0].at_ms + 2500);
    assert_int_equal(qt_count(&qt_jobs, "d2"), 1); /* the refused retry left it to success */
    qt_stop(rt);
}

static int retry_all_then_ack_all(dort_queue_batch_t *b)
{
    if (qt_jobs.batches == 1) {
        dort_queue_batch_retry_all(b, 1);
        return 0;
    }
    dort_queue_batch_ack_all(b);
    return -1;
}

static void retry_all_and_ack_all(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    dort_rt_t *rt = qt_start(&c);
    qt_script = retry_all_then_ack_all;
    qt_send_seq(rt, "Q", "x", 0, 3, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 3, 2000));
    th_run_for(rt, 500);
    assert_int_equal(qt_jobs.n, 3);
    assert_true(qt_wait_seen(rt, &qt_jobs, 6, 3000));
    assert_int_equal(qt_jobs.batches, 2);
    for (int i = 3; i < 6; i++) {
        assert_int_equal(qt_jobs.s[i].attempts, 2);
        assert_true(qt_jobs.s[i].at_ms >= qt_jobs.s[0].at_ms + 1000);
    }
    th_run_for(rt, 200);
    assert_int_equal(qt_jobs.n, 6);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 3, 3, 3, 0, 0);
    qt_stop(rt);
}

/* ---- DORT_EPENDING: the batch is finished later, from a timer ---- */

static dort_queue_batch_t *pending_batch;
static uv_timer_t finish_timer;
static int finishes;

static void on_finish_timer(uv_timer_t *t)
{
    (void)t;
    dort_queue_batch_t *b = pending_batch;
    pending_batch = NULL;
    finishes++;
    if (finishes == 1) {
        assert_int_equal(dort_queue_message_ack(msg_with(b, "p0"), NULL), 0);
        dort_queue_batch_finish(b, -1); /* p1 is retried */
    } else {
        dort_queue_batch_finish(b, 0);
    }
}

static int finish_later(dort_queue_batch_t *b)
{
    assert_null(pending_batch); /* one batch with the consumer at a time */
    pending_batch = b;
    uv_timer_start(&finish_timer, on_finish_timer, 150, 0);
    return DORT_EPENDING;
}

static void pending_finished_from_timer(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.batch = 2;
    dort_rt_t *rt = qt_start(&c);
    uv_timer_init(dort_rt_loop(rt), &finish_timer);
    pending_batch = NULL;
    finishes = 0;
    qt_script = finish_later;
    qt_send_seq(rt, "Q", "p", 0, 4, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 2, 2000));
    th_run_for(rt, 60);
    assert_int_equal(qt_jobs.batches, 1);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 2, 0, 2, 4, 0, 0, 0, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 5, 3000));
    th_run_for(rt, 300);
    assert_int_equal(finishes, 3);
    assert_int_equal(qt_jobs.n, 5);
    assert_int_equal(qt_jobs.batches, 3);
    assert_string_equal(qt_jobs.s[2].body, "p1");
    assert_int_equal(qt_jobs.s[2].attempts, 2);
    assert_string_equal(qt_jobs.s[3].body, "p2");
    assert_string_equal(qt_jobs.s[4].body, "p3");
    st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 4, 4, 1, 0, 0);
    uv_close((uv_handle_t *)&finish_timer, NULL);
    qt_stop(rt);
}

/* ---- out of retries ---- */

static int always_fail(dort_queue_batch_t *b)
{
    (void)b;
    return -1;
}

/* max_retries 1: two deliveries, then the dead-letter queue. The DLQ's
 * consumer sees the same id, body and timestamp; attempts there counts on
 * from the deliveries already made (the record keeps 2, its first delivery
 * from the DLQ is the third). */
static void out_of_retries_dead_letters(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.retries = 1;
    c.dlq = 1;
    c.dlq_consumer = 1;
    dort_rt_t *rt = qt_start(&c);
    qt_script = always_fail;
    qt_send_seq(rt, "Q", "z", 0, 2, 0);
    assert_true(qt_wait_seen(rt, &qt_dlq, 2, 3000));
    th_run_for(rt, 200);
    assert_int_equal(qt_jobs.n, 4);
    assert_int_equal(qt_dlq.n, 2);
    for (int i = 0; i < 2; i++) {
        const char *body = i == 0 ? "z0" : "z1";
        const qt_seen_t *first = qt_find(&qt_jobs, body, 0), *last = qt_find(&qt_jobs, body, 1),
                        *dead = qt_find(&qt_dlq, body, 0);
        QT_FOUND(dead);
        assert_int_equal(first->attempts, 1);
        assert_int_equal(last->attempts, 2);
        assert_string_equal(dead->id, first->id);
        assert_int_equal(dead->ts_ms, first->ts_ms);
        assert_int_equal(dead->attempts, 3);
    }
    dort_queue_stats_t st = qt_stats(rt, "jobs"), dl = qt_stats(rt, "jobs-dlq");
    QT_ASSERT_STATS(st, 0, 0, 0, 2, 0, 2, 2, 0);
    QT_ASSERT_STATS(dl, 0, 0, 0, 2, 2, 0, 0, 0);
    qt_stop(rt);
}

/* The dead-letter queue's consumer has a retry budget of its own
 * (max_retries 2: three deliveries), whatever the message went through in
 * the queue it came from. */
static void dead_letter_consumer_gets_its_own_retries(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.retries = 1;
    c.dlq = 1;
    c.dlq_consumer = 1;
    c.dlq_retries = 2;
    dort_rt_t *rt = qt_start(&c);
    qt_script = always_fail;
    qt_dlq_script = always_fail;
    qt_send_seq(rt, "Q", "y", 0, 1, 0);
    assert_true(qt_wait_seen(rt, &qt_dlq, 1, 3000));
    qt_wait_seen(rt, &qt_dlq, 3, 1000);
    th_run_for(rt, 200);
    assert_int_equal(qt_jobs.n, 2);
    assert_int_equal(qt_dlq.n, 3);
    dort_queue_stats_t dl = qt_stats(rt, "jobs-dlq");
    assert_int_equal(dl.retried, 2);
    assert_int_equal(dl.dropped, 1);
    qt_stop(rt);
}

static int retry_e0_fail_rest(dort_queue_batch_t *b)
{
    assert_int_equal(dort_queue_message_retry(msg_with(b, "e0"), 0), 0);
    return -1;
}

/* max_retries 0 and no DLQ: one delivery, then dropped (counted), whether
 * retried explicitly or by failure. */
static void out_of_retries_dropped(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.retries = 0;
    dort_rt_t *rt = qt_start(&c);
    qt_script = retry_e0_fail_rest;
    qt_send_seq(rt, "Q", "e", 0, 3, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 3, 2000));
    th_run_for(rt, 400);
    assert_int_equal(qt_jobs.n, 3);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 3, 0, 0, 0, 3);
    assert_int_equal(st.oldest_age_ms, -1);
    qt_stop(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        QT_TEST(per_message_ack_and_retry),
        QT_TEST(first_call_wins),
        QT_TEST(message_call_beats_batch_call),
        QT_TEST(failure_retries_after_consumer_delay),
        QT_TEST(retry_delay_honoured),
        QT_TEST(retry_all_and_ack_all),
        QT_TEST(pending_finished_from_timer),
        QT_TEST(out_of_retries_dead_letters),
        QT_TEST(dead_letter_consumer_gets_its_own_retries),
        QT_TEST(out_of_retries_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
