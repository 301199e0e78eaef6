/* test_queue_delay.c - time and restarts: delayed sends are not delivered
 * before their delay and are delivered after it, also when the runtime is
 * stopped and started again on the same directory in between; retry delays
 * survive a restart the same way; and a batch that was with the consumer
 * but never finished is delivered again after a restart (at-least-once). */
#include "test_queue_helpers.h"

static int all_delivered(void *data)
{
    (void)data;
    return qt_count(&qt_jobs, "late1") && qt_count(&qt_jobs, "late2");
}

static void delayed_send_not_before_then_delivered(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    dort_rt_t *rt = qt_start(&c);
    const char *l1 = "late1", *l2 = "late2", *now = "now";
    qt_send_wait(rt, "Q", &l2, 1, 2);
    qt_send_wait(rt, "Q", &l1, 1, 1);
    qt_send_wait(rt, "Q", &now, 1, 0);
    /* The undelayed message, sent last, comes first. */
    assert_true(qt_wait_seen(rt, &qt_jobs, 1, 1000));
    assert_string_equal(qt_jobs.s[0].body, "now");
    th_run_for(rt, 100);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 2, 0, 3, 1, 0, 0, 0);
    assert_true(th_run_until(rt, all_delivered, NULL, 4000));
    const qt_seen_t *a = qt_find(&qt_jobs, "late1", 0), *b = qt_find(&qt_jobs, "late2", 0);
    assert_true(a->at_ms >= a->ts_ms + 1000);
    assert_true(a->at_ms <= a->ts_ms + 2000);
    assert_true(b->at_ms >= b->ts_ms + 2000);
    assert_true(b->at_ms <= b->ts_ms + 3000);
    assert_int_equal(a->attempts, 1);
    assert_int_equal(b->attempts, 1);
    assert_int_equal(qt_jobs.n, 3);
    qt_stop(rt);
}

/* A delayed message sent, then a stop and a start on the same directory:
 * still not before its time, then delivered once. */
static void delayed_send_survives_restart(void **state)
{
    (void)state;
    const char *dir = qt_tmpdir();
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.dir = dir;
    dort_rt_t *rt = qt_start(&c);
    const char *body = "dl";
    qt_send_wait(rt, "Q", &body, 1, 2);
    qt_stop(rt);
    rt = qt_start(&c);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    assert_int_equal(st.delayed, 1);
    assert_int_equal(st.ready, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 1, 4000));
    assert_string_equal(qt_jobs.s[0].body, "dl");
    assert_int_equal(qt_jobs.s[0].attempts, 1);
    assert_true(qt_jobs.s[0].at_ms >= qt_jobs.s[0].ts_ms + 2000);
    assert_true(qt_jobs.s[0].at_ms <= qt_jobs.s[0].ts_ms + 3500);
    th_run_for(rt, 200);
    assert_int_equal(qt_jobs.n, 1);
    qt_stop(rt);
}

/* A retry with a delay, then a stop and a start: the retry keeps its time
 * and the delivery counts as the second. */
static int retry_first_in_2s(dort_queue_batch_t *b)
{
    dort_queue_message_t *m = dort_queue_batch_message(b, 0);
    if (dort_queue_message_attempts(m) == 1)
        assert_int_equal(dort_queue_message_retry(m, 2), 0);
    return 0;
}

static int retry_recorded(void *data)
{
    dort_rt_t *rt = data;
    return qt_stats(rt, "jobs").delayed == 1;
}

static void retry_delay_survives_restart(void **state)
{
    (void)state;
    const char *dir = qt_tmpdir();
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.dir = dir;
    dort_rt_t *rt = qt_start(&c);
    qt_script = retry_first_in_2s;
    const char *body = "rt";
    qt_send_wait(rt, "Q", &body, 1, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 1, 2000));
    assert_true(th_run_until(rt, retry_recorded, rt, 2000));
    qt_stop(rt);
    rt = qt_start(&c);
    assert_true(qt_wait_seen(rt, &qt_jobs, 2, 4000));
    const qt_seen_t *first = &qt_jobs.s[0], *again = &qt_jobs.s[1];
    assert_string_equal(again->body, "rt");
    assert_string_equal(again->id, first->id);
    assert_int_equal(again->attempts, 2);
    assert_true(again->at_ms >= first->at_ms + 2000);
    assert_true(again->at_ms <= first->at_ms + 3500);
    th_run_for(rt, 200);
    assert_int_equal(qt_jobs.n, 2);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    assert_int_equal(st.acked, 1);
    assert_int_equal(st.retried, 1);
    assert_int_equal(st.ready + st.delayed + st.in_flight, 0);
    qt_stop(rt);
}

/* ---- at-least-once: a batch never finished is delivered again ---- */

static int never_finish(dort_queue_batch_t *b)
{
    (void)b;
    return DORT_EPENDING;
}

static void pending_batch_redelivered_after_restart(void **state)
{
    (void)state;
    const char *dir = qt_tmpdir();
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.dir = dir;
    c.stop_timeout_ms = 200;
    dort_rt_t *rt = qt_start(&c);
    qt_script = never_finish;
    qt_send_seq(rt, "Q", "al", 0, 3, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 3, 2000));
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    assert_int_equal(st.in_flight, 3);
    /* The stop waits for the open batch until its deadline, then gives up on
     * it: nothing of it is recorded. */
    int64_t t0 = qt_now_ms();
    qt_stop_keep(rt, 3000);
    assert_true(qt_now_ms() - t0 >= 190);
    qt_free(rt);

    qt_script = NULL;
    rt = qt_start(&c);
    assert_true(qt_wait_seen(rt, &qt_jobs, 6, 3000));
    for (int i = 0; i < 3; i++) {
        assert_string_equal(qt_jobs.s[3 + i].body, qt_jobs.s[i].body);
        assert_string_equal(qt_jobs.s[3 + i].id, qt_jobs.s[i].id);
        /* attempts counts deliveries whose outcome was recorded: none was. */
        assert_int_equal(qt_jobs.s[3 + i].attempts, 1);
    }
    th_run_for(rt, 200);
    assert_int_equal(qt_jobs.n, 6);
    st = qt_stats(rt, "jobs");
    assert_int_equal(st.acked, 3);
    assert_int_equal(st.ready + st.delayed + st.in_flight, 0);
    qt_stop(rt);
}

/* A consumer that finishes a pending batch from its own timer, which fires
 * only after the stop gave up on that batch: the late finish must be a
 * harmless no-op (the messages come again after a restart), not a use of
 * freed memory (AddressSanitizer reports it in the sanitizer build). */
static dort_queue_batch_t *late_batch;
static uv_timer_t late_timer;
static int late_finished;

static void on_late(uv_timer_t *t)
{
    (void)t;
    dort_queue_batch_finish(late_batch, 0);
    late_finished = 1;
}

static int finish_much_later(dort_queue_batch_t *b)
{
    late_batch = b;
    uv_timer_start(&late_timer, on_late, 400, 0);
    return DORT_EPENDING;
}

static int late_done(void *data)
{
    (void)data;
    return late_finished;
}

static void finish_after_stop_is_harmless(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.stop_timeout_ms = 100;
    dort_rt_t *rt = qt_start(&c);
    uv_timer_init(dort_rt_loop(rt), &late_timer);
    late_finished = 0;
    qt_script = finish_much_later;
    qt_send_seq(rt, "Q", "late", 0, 1, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 1, 2000));
    qt_stop_keep(rt, 3000);
    assert_int_equal(late_finished, 0); /* the stop did not wait for it */
    assert_true(th_run_until(rt, late_done, NULL, 2000));
    uv_close((uv_handle_t *)&late_timer, NULL);
    uv_run(dort_rt_loop(rt), UV_RUN_NOWAIT);
    qt_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        QT_TEST(delayed_send_not_before_then_delivered),
        QT_TEST(delayed_send_survives_restart),
        QT_TEST(retry_delay_survives_restart),
        QT_TEST(pending_batch_redelivered_after_restart),
        QT_TEST(finish_after_stop_is_harmless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
