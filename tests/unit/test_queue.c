/* test_queue.c - the queue engine end to end: send, batch, ack, retry,
 * dead-letter, delay, and the transactional outbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kv_actor.h"
#include "rt_internal.h"
#include "th.h"

/* ---- a consumer that records what it saw and follows a script ---- */

#define MAXSEEN 4096

typedef struct seen_s {
    char body[64];
    uint32_t attempts;
    size_t batch_size;
    int batch_no;
} seen_t;

static seen_t seen[MAXSEEN];
static int nseen, nbatches;
static int fail_batches;   /* while > 0 the handler fails (and decrements) */
static int retry_bodies_with_r; /* messages whose body starts with 'r' are retried */

static int consumer_queue(dort_queue_batch_t *b)
{
    nbatches++;
    for (size_t i = 0; i < dort_queue_batch_size(b) && nseen < MAXSEEN; i++) {
        dort_queue_message_t *m = dort_queue_batch_message(b, i);
        dort_slice_t body = dort_queue_message_body(m);
        seen_t *s = &seen[nseen++];
        snprintf(s->body, sizeof s->body, "%.*s", (int)body.len, body.ptr);
        s->attempts = dort_queue_message_attempts(m);
        s->batch_size = dort_queue_batch_size(b);
        s->batch_no = nbatches;
        if (retry_bodies_with_r && body.len && body.ptr[0] == 'r')
            dort_queue_message_retry(m, 0);
    }
    if (fail_batches > 0) {
        fail_batches--;
        return -1;
    }
    return 0;
}

static const dort_worker_class_t consumer = {.name = "consumer", .queue = consumer_queue};

static dort_rt_t *start_with(const char *dir, uint32_t batch, uint32_t timeout_ms,
                             uint32_t retries, const char *dlq)
{
    dort_rt_options_t o;
    th_options(&o, dir);
    dort_rt_t *rt;
    dort_worker_t *w;
    assert_int_equal(dort_rt_new(&rt, &o), 0);
    assert_int_equal(dort_rt_register_class(rt, &th_kv_class), 0);
    assert_int_equal(dort_rt_bind_namespace(rt, "KV", "KV", NULL, NULL), 0);
    assert_int_equal(dort_rt_add_worker(rt, &consumer, &w), 0);
    assert_int_equal(dort_rt_add_queue_producer(rt, "Q", "jobs"), 0);
    dort_queue_consumer_options_t co;
    dort_queue_consumer_options_init(&co);
    co.queue = "jobs";
    co.worker = w;
    co.max_batch_size = batch;
    co.max_batch_timeout_ms = timeout_ms;
    co.max_retries = retries;
    co.dead_letter_queue = dlq;
    assert_int_equal(dort_rt_add_queue_consumer(rt, &co), 0);
    assert_int_equal(dort_rt_start(rt), 0);
    nseen = nbatches = fail_batches = retry_bodies_with_r = 0;
    return rt;
}

static int sent_status;
static void on_sent(void *data, int status)
{
    (void)data;
    sent_status = status;
}

static void send_bodies(dort_rt_t *rt, const char *prefix, int n, uint32_t delay)
{
    dort_queue_send_t msgs[100];
    char bodies[100][32];
    for (int i = 0; i < n; i++) {
        snprintf(bodies[i], sizeof bodies[i], "%s%d", prefix, i);
        msgs[i].body = bodies[i];
        msgs[i].len = strlen(bodies[i]);
        msgs[i].content_type = DORT_QUEUE_CONTENT_TEXT;
        msgs[i].delay_s = delay;
    }
    sent_status = 1;
    assert_int_equal(dort_queue_send(dort_rt_queue(rt, "Q"), NULL, msgs, (size_t)n, on_sent, NULL),
                     0);
}

static int seen_at_least(void *data)
{
    return nseen >= *(int *)data;
}

static void batches_by_size_then_timeout(void **state)
{
    (void)state;
    dort_rt_t *rt = start_with(NULL, 10, 300, 3, NULL);
    send_bodies(rt, "m", 25, 0);
    int want = 20;
    assert_true(th_run_until(rt, seen_at_least, &want, 2000));
    assert_int_equal(sent_status, 0);
    assert_int_equal(nbatches, 2);
    assert_int_equal(seen[0].batch_size, 10);
    /* The last 5 wait for the batch timeout. */
    th_run_for(rt, 100);
    assert_int_equal(nseen, 20);
    want = 25;
    assert_true(th_run_until(rt, seen_at_least, &want, 2000));
    assert_int_equal(seen[24].batch_size, 5);
    for (int i = 0; i < 25; i++) {
        char want_body[16];
        snprintf(want_body, sizeof want_body, "m%d", i);
        assert_string_equal(seen[i].body, want_body); /* FIFO */
        assert_int_equal(seen[i].attempts, 1);
    }
    th_run_for(rt, 100);
    dort_queue_stats_t st;
    assert_int_equal(dort_rt_queue_stats(rt, "jobs", &st), 0);
    assert_int_equal(st.sent, 25);
    assert_int_equal(st.acked, 25);
    assert_int_equal(st.ready, 0);
    th_stop(rt);
}

static void failure_retries_then_dead_letters(void **state)
{
    (void)state;
    dort_rt_t *rt = start_with(NULL, 10, 0, 2, "jobs-dlq");
    fail_batches = 100;
    send_bodies(rt, "x", 3, 0);
    int want = 9; /* 3 messages x (1 + 2 retries) */
    assert_true(th_run_until(rt, seen_at_least, &want, 3000));
    th_run_for(rt, 200);
    assert_int_equal(nseen, 9);
    assert_int_equal(seen[8].attempts, 3);
    dort_queue_stats_t st, dlq;
    assert_int_equal(dort_rt_queue_stats(rt, "jobs", &st), 0);
    assert_int_equal(dort_rt_queue_stats(rt, "jobs-dlq", &dlq), 0);
    assert_int_equal(st.retried, 6);
    assert_int_equal(st.dead_lettered, 3);
    assert_int_equal(dlq.ready, 3);
    th_stop(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches_by_size_then_timeout),
        cmocka_unit_test(failure_retries_then_dead_letters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
