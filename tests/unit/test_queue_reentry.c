/* test_queue_reentry.c - a consumer that finishes its batch from the
 * answer of an actor it forwarded a message to. That answer is released
 * while the runtime is still completing a group commit (other actors of the
 * same commit not yet settled), so whatever the queue engine commits from
 * there must not disturb that completion. Found by the queue crash test;
 * kept in a file of its own because the failure it guards against aborts
 * the process. */
#include "test_queue_helpers.h"

static dort_queue_message_t *slots[4];
static dort_queue_batch_t *parked;
static int turns, answers, answer_errors;

/* /apply N: put the message's body, ack it in this turn, answer 200. */
static int applier_fetch(dort_actor_t *self, dort_call_t *call)
{
    char arg[8];
    th_body(call, arg, sizeof arg);
    dort_queue_message_t *m = slots[atoi(arg) & 3];
    dort_slice_t b = dort_queue_message_body(m);
    turns++;
    if (dort_storage_put(self, b.ptr, b.len, "1", 1) != 0 || dort_queue_message_ack(m, self) != 0)
        return -1;
    return dort_call_respond_body(call, 200, "text/plain", "ok", 2);
}

static const dort_class_t applier_class = {.name = "Applier", .fetch = applier_fetch};

static int park(dort_queue_batch_t *b)
{
    parked = b;
    for (size_t i = 0; i < dort_queue_batch_size(b) && i < 4; i++)
        slots[i] = dort_queue_batch_message(b, i);
    return DORT_EPENDING;
}

static int on_answer(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)self;
    answers++;
    answer_errors += status != 0 || res == NULL || dort_response_status(res) != 200;
    dort_response_free(res);
    if (data != NULL) /* the first message's answer ends the batch */
        dort_queue_batch_finish(parked, 0);
    return 0;
}

static void apply(dort_rt_t *rt, const char *actor, int slot, int finishes)
{
    dort_ns_t *ns = dort_rt_namespace(rt, "Applier");
    dort_id_t id;
    dort_stub_t stub;
    dort_request_t *req;
    char arg[8];
    snprintf(arg, sizeof arg, "%d", slot);
    assert_int_equal(dort_id_from_name(ns, actor, strlen(actor), &id), 0);
    dort_stub_init(&stub, ns, &id);
    assert_int_equal(dort_request_new(&req, "POST", "/apply"), 0);
    assert_int_equal(dort_request_set_body(req, arg, strlen(arg), DORT_BUF_COPY), 0);
    assert_int_equal(dort_stub_fetch(&stub, NULL, req, on_answer, finishes ? &turns : NULL), 0);
}

static int int_at_least(void *data)
{
    return *(int *)data >= 3;
}

/* Group commit 1 holds the turns of X (message 0) and Y (message 1); Y's
 * next turn (message 2) waits in the open batch. When commit 1 completes,
 * X's answer is released first and finishes the batch, before Y's part of
 * commit 1 is settled. */
static void finish_from_answer_during_commit_completion(void **state)
{
    (void)state;
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.cls = &applier_class;
    c.batch = 3;
    dort_rt_t *rt = qt_start(&c);
    qt_script = park;
    parked = NULL;
    turns = answers = answer_errors = 0;
    qt_send_seq(rt, "Q", "m", 0, 3, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 3, 2000));
    assert_non_null(parked);

    qt_quiesce(rt);
    dort__writer_set_hold(&rt->writer, 1);
    apply(rt, "x", 0, 1);
    apply(rt, "y", 1, 0);
    th_run_for(rt, 50); /* both turns ran; their commit waits in the writer */
    apply(rt, "y", 2, 0);
    th_run_for(rt, 50);
    assert_int_equal(turns, 3);
    assert_int_equal(answers, 0);
    dort__writer_set_hold(&rt->writer, 0);
    assert_true(th_run_until(rt, int_at_least, &answers, 3000));
    assert_int_equal(answer_errors, 0);
    th_run_for(rt, 200);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 3, 3, 0, 0, 0);
    qt_stop(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        QT_TEST(finish_from_answer_during_commit_completion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
