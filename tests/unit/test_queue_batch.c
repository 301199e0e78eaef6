/* test_queue_batch.c - how messages are cut into batches: by max_batch_size
 * at once, by max_batch_timeout for a partial batch (never before it), the
 * extremes 1 and 100, and FIFO order per queue except for retries. */
#include "test_queue_helpers.h"

/* A partial batch waits max_batch_timeout from the moment it began to
 * wait (no earlier than the send's commit), then comes as one batch; a full
 * batch does not wait. */
static void partial_batch_waits_for_timeout(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.batch = 10;
    c.timeout_ms = 600;
    dort_rt_t *rt = qt_start(&c);
    qt_send_seq(rt, "Q", "p", 0, 3, 0);
    int64_t committed = qt_sent_at_ms;
    th_run_for(rt, 400);
    assert_int_equal(qt_jobs.n, 0); /* 3 < 10: not yet */
    assert_true(qt_wait_seen(rt, &qt_jobs, 3, 3000));
    assert_int_equal(qt_jobs.batches, 1);
    assert_int_equal(qt_jobs.s[0].batch_size, 3);
    assert_true(qt_jobs.s[0].at_ms >= committed + 600);
    assert_true(qt_jobs.s[0].at_ms <= committed + 600 + 700);

    /* Exactly max_batch_size ready: delivered without waiting. */
    qt_send_seq(rt, "Q", "f", 0, 10, 0);
    committed = qt_sent_at_ms;
    assert_true(qt_wait_seen(rt, &qt_jobs, 13, 3000));
    assert_int_equal(qt_jobs.batches, 2);
    assert_int_equal(qt_jobs.s[3].batch_size, 10);
    assert_true(qt_jobs.s[3].at_ms < committed + 400);
    qt_stop(rt);
}

/* max_batch_size 1: every message is a batch of its own, none waits for
 * the (long) timeout, in send order. */
static void batch_size_one(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.batch = 1;
    c.timeout_ms = 5000;
    dort_rt_t *rt = qt_start(&c);
    qt_send_seq(rt, "Q", "o", 0, 5, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 5, 2000));
    th_run_for(rt, 100);
    assert_int_equal(qt_jobs.n, 5);
    assert_int_equal(qt_jobs.batches, 5);
    for (int i = 0; i < 5; i++) {
        char want[8];
        snprintf(want, sizeof want, "o%d", i);
        assert_string_equal(qt_jobs.s[i].body, want);
        assert_int_equal(qt_jobs.s[i].batch_size, 1);
        assert_int_equal(qt_jobs.s[i].batch_no, i + 1);
    }
    qt_stop(rt);
}

/* max_batch_size 100: two sends of 60 that commit together make one batch
 * of exactly 100 at once, and the remaining 20 come after the timeout. */
static void batch_size_hundred(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.batch = 100;
    c.timeout_ms = 500;
    dort_rt_t *rt = qt_start(&c);
    static char a[60][8], b[60][8];
    const char *pa[60], *pb[60];
    for (int i = 0; i < 60; i++) {
        snprintf(a[i], sizeof a[i], "a%d", i);
        snprintf(b[i], sizeof b[i], "b%d", i);
        pa[i] = a[i];
        pb[i] = b[i];
    }
    /* Both before the loop runs: the same group commit. */
    assert_int_equal(qt_send(rt, "Q", pa, 60, 0), 0);
    assert_int_equal(qt_send(rt, "Q", pb, 60, 0), 0);
    int64_t t0 = qt_now_ms();
    assert_true(qt_wait_seen(rt, &qt_jobs, 100, 2000));
    assert_int_equal(qt_sent_cbs, 2);
    assert_int_equal(qt_sent_status, 0);
    assert_int_equal(qt_jobs.batches, 1);
    assert_int_equal(qt_jobs.s[0].batch_size, 100);
    assert_true(qt_jobs.s[99].at_ms < t0 + 400); /* full: no timeout wait */
    assert_true(qt_wait_seen(rt, &qt_jobs, 120, 3000));
    assert_int_equal(qt_jobs.batches, 2);
    assert_int_equal(qt_jobs.s[100].batch_size, 20);
    assert_true(qt_jobs.s[100].at_ms >= qt_jobs.s[99].at_ms + 500 - 5);
    for (int i = 0; i < 120; i++)
        assert_string_equal(qt_jobs.s[i].body, i < 60 ? a[i] : b[i - 60]); /* FIFO */
    qt_stop(rt);
}

/* Retry "f3" on its first delivery: every first delivery still comes in
 * send order across sends and batches; only f3's second delivery comes out
 * of order, later. */
static int retry_f3_once(dort_queue_batch_t *b)
{
    for (size_t i = 0; i < dort_queue_batch_size(b); i++) {
        dort_queue_message_t *m = dort_queue_batch_message(b, i);
        dort_slice_t body = dort_queue_message_body(m);
        if (body.len == 2 && memcmp(body.ptr, "f3", 2) == 0 && dort_queue_message_attempts(m) == 1)
            assert_int_equal(dort_queue_message_retry(m, 0), 0);
    }
    return 0;
}

static void fifo_except_retries(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.batch = 7;
    dort_rt_t *rt = qt_start(&c);
    qt_script = retry_f3_once;
    for (int s = 0; s < 5; s++)
        qt_send_seq(rt, "Q", "f", s * 9, 9, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 46, 3000));
    th_run_for(rt, 100);
    assert_int_equal(qt_jobs.n, 46);
    int next = 0;
    for (int i = 0; i < qt_jobs.n; i++) {
        assert_true(qt_jobs.s[i].batch_size <= 7);
        if (qt_jobs.s[i].attempts != 1)
            continue;
        char want[16];
        snprintf(want, sizeof want, "f%d", next++);
        assert_string_equal(qt_jobs.s[i].body, want);
    }
    assert_int_equal(next, 45);
    const qt_seen_t *again = qt_find(&qt_jobs, "f3", 1);
    QT_FOUND(again);
    assert_int_equal(again->attempts, 2);
    assert_true(again->batch_no > qt_find(&qt_jobs, "f3", 0)->batch_no);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 45, 45, 1, 0, 0);
    qt_stop(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        QT_TEST(partial_batch_waits_for_timeout),
        QT_TEST(batch_size_one),
        QT_TEST(batch_size_hundred),
        QT_TEST(fifo_except_retries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
