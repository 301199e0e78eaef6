/* test_queue_outbox.c - queues inside actor turns. A send made in a turn
 * commits with the turn's storage writes or not at all (transactional
 * outbox): a failed commit, a failed turn or a rolled-back transaction sends
 * nothing. An ack made in a turn commits with that turn's writes: a consumer
 * forwards messages to an actor that applies them and acks in the same turn,
 * and a failed commit leaves neither the write nor the ack. Also the
 * in-turn misuses of dort_queue_send. */
#include "test_queue_helpers.h"

/* ---- the actor class "Outbox" ----
 *
 *   /send K          put K=v, send K to queue Q, answer 200
 *   /send-fail K     the same, then fail the turn
 *   /send-other K    send K to queue OTHER (no consumer), answer 200
 *   /rollback K      begin; send "rolled-K"; rollback; begin; send "nested-K";
 *                    commit; send "kept-K"; answer 200
 *   /get K           200 with the value, or 404
 *   /apply N         message slots[N]: put <body>=applied, ack it in this
 *                    turn (the code goes to apply_rc), answer 200
 *   /apply-rollback N  begin; put; ack; rollback; answer 200
 *   /misuse          the in-turn misuses; answers the codes as names
 *   /remember        keeps `self` in remembered (no eviction in these tests)
 */

#define NSLOTS 16
static dort_queue_message_t *slots[NSLOTS];
static int apply_rc[NSLOTS];
static int applied_turns;
static dort_actor_t *remembered;

static int send_to(dort_actor_t *self, const char *binding, const char *body)
{
    dort_queue_send_t m = {
        .body = body, .len = strlen(body), .content_type = DORT_QUEUE_CONTENT_TEXT};
    return dort_queue_send(dort_rt_queue(dort_actor_rt(self), binding), self, &m, 1, NULL, NULL);
}

static int send_text(dort_actor_t *self, const char *body)
{
    return send_to(self, "Q", body);
}

static int respond_text(dort_call_t *call, int status, const char *text)
{
    return dort_call_respond_body(call, status, "text/plain", text, strlen(text));
}

static int do_rollback(dort_actor_t *self, dort_call_t *call, const char *key)
{
    char body[96];
    assert_int_equal(dort_storage_txn_begin(self), 0);
    snprintf(body, sizeof body, "rolled-%s", key);
    assert_int_equal(send_text(self, body), 0);
    assert_int_equal(dort_storage_txn_rollback(self), 0);
    assert_int_equal(dort_storage_txn_begin(self), 0);
    snprintf(body, sizeof body, "nested-%s", key);
    assert_int_equal(send_text(self, body), 0);
    assert_int_equal(dort_storage_txn_commit(self), 0);
    snprintf(body, sizeof body, "kept-%s", key);
    assert_int_equal(send_text(self, body), 0);
    return respond_text(call, 200, "ok");
}

static int do_apply(dort_actor_t *self, dort_call_t *call, const char *arg, int rollback)
{
    int n = atoi(arg);
    assert_true(n >= 0 && n < NSLOTS && slots[n] != NULL);
    dort_slice_t b = dort_queue_message_body(slots[n]);
    applied_turns++;
    if (rollback)
        assert_int_equal(dort_storage_txn_begin(self), 0);
    assert_int_equal(dort_storage_put(self, b.ptr, b.len, "applied", 7), 0);
    apply_rc[n] = dort_queue_message_ack(slots[n], self);
    if (rollback)
        assert_int_equal(dort_storage_txn_rollback(self), 0);
    return respond_text(call, 200, "ok");
}

static int do_misuse(dort_actor_t *self, dort_call_t *call)
{
    dort_queue_t *q = dort_rt_queue(dort_actor_rt(self), "Q");
    dort_queue_send_t m = {.body = "x", .len = 1};
    char out[128];
    int a = dort_queue_send(q, NULL, &m, 1, NULL, NULL);       /* in a turn: say who */
    int b = dort_queue_send(q, self, &m, 1, qt_on_sent, NULL); /* the answer reports */
    int c = dort_queue_send(q, remembered, &m, 1, NULL, NULL); /* not this turn's actor */
    snprintf(out, sizeof out, "%s %s %s", dort_err_name(a), dort_err_name(b), dort_err_name(c));
    return respond_text(call, 200, out);
}

static int outbox_fetch(dort_actor_t *self, dort_call_t *call)
{
    char arg[96];
    th_body(call, arg, sizeof arg);
    if (th_path_is(call, "/send") || th_path_is(call, "/send-fail")) {
        assert_int_equal(dort_storage_put(self, arg, strlen(arg), "v", 1), 0);
        assert_int_equal(send_text(self, arg), 0);
        if (th_path_is(call, "/send-fail"))
            return -1;
        return respond_text(call, 200, "ok");
    }
    if (th_path_is(call, "/send-other")) {
        assert_int_equal(send_to(self, "OTHER", arg), 0);
        return respond_text(call, 200, "ok");
    }
    if (th_path_is(call, "/rollback"))
        return do_rollback(self, call, arg);
    if (th_path_is(call, "/get")) {
        dort_slice_t v;
        int rc = dort_storage_get(self, arg, strlen(arg), &v);
        if (rc == DORT_ENOENT)
            return respond_text(call, 404, "absent");
        assert_int_equal(rc, 0);
        return dort_call_respond_body(call, 200, "text/plain", v.ptr, v.len);
    }
    if (th_path_is(call, "/apply"))
        return do_apply(self, call, arg, 0);
    if (th_path_is(call, "/apply-rollback"))
        return do_apply(self, call, arg, 1);
    if (th_path_is(call, "/misuse"))
        return do_misuse(self, call);
    if (th_path_is(call, "/remember")) {
        remembered = self;
        return respond_text(call, 200, "ok");
    }
    return respond_text(call, 404, "no route");
}

static const dort_class_t outbox_class = {.name = "Outbox", .fetch = outbox_fetch};

static int outbox(dort_rt_t *rt, const char *actor, const char *path, const char *arg,
                  th_result_t *r)
{
    return th_fetch(rt, "Outbox", actor, "POST", path, arg, r);
}

/* The HTTP status of /get K on actor `actor` (200 present, 404 absent). */
static int key_status(dort_rt_t *rt, const char *actor, const char *key)
{
    th_result_t r;
    assert_int_equal(outbox(rt, actor, "/get", key, &r), 0);
    return r.http_status;
}

static int setup(void **state)
{
    memset(slots, 0, sizeof slots);
    memset(apply_rc, 0x55, sizeof apply_rc);
    applied_turns = 0;
    remembered = NULL;
    return qt_setup(state);
}

static dort_rt_t *start(void)
{
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.cls = &outbox_class;
    return qt_start(&c);
}

/* ---- transactional outbox ---- */

static void outbox_commit_failure_sends_nothing(void **state)
{
    (void)state;
    dort_rt_t *rt = start();
    th_result_t r;
    qt_quiesce(rt);
    dort__writer_fail_next(&rt->writer, DORT_EIO);
    assert_int_equal(outbox(rt, "o1", "/send", "k1", &r), DORT_ECOMMIT);
    th_run_for(rt, 300);
    assert_int_equal(qt_jobs.n, 0);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 0, 0, 0, 0, 0);
    assert_int_equal(key_status(rt, "o1", "k1"), 404);

    /* Without the failure: both the key and the message. */
    assert_int_equal(outbox(rt, "o1", "/send", "k2", &r), 0);
    assert_int_equal(r.http_status, 200);
    assert_true(qt_wait_seen(rt, &qt_jobs, 1, 2000));
    assert_string_equal(qt_jobs.s[0].body, "k2");
    assert_int_equal(key_status(rt, "o1", "k2"), 200);
    th_run_for(rt, 200);
    assert_int_equal(qt_jobs.n, 1);
    st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 1, 1, 0, 0, 0);
    qt_stop(rt);
}

static void outbox_failed_turn_sends_nothing(void **state)
{
    (void)state;
    dort_rt_t *rt = start();
    th_result_t r;
    assert_int_equal(outbox(rt, "o2", "/send-fail", "k3", &r), DORT_EHANDLER);
    th_run_for(rt, 300);
    assert_int_equal(qt_jobs.n, 0);
    assert_int_equal(key_status(rt, "o2", "k3"), 404);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 0, 0, 0, 0, 0);
    qt_stop(rt);
}

/* A send inside a transaction that is rolled back never reaches the
 * consumer; one in a committed nested transaction does. */
static void outbox_rolled_back_send_dropped(void **state)
{
    (void)state;
    dort_rt_t *rt = start();
    th_result_t r;
    assert_int_equal(outbox(rt, "o3", "/rollback", "t", &r), 0);
    assert_int_equal(r.http_status, 200);
    assert_true(qt_wait_seen(rt, &qt_jobs, 2, 2000));
    th_run_for(rt, 300);
    assert_int_equal(qt_jobs.n, 2);
    assert_int_equal(qt_count(&qt_jobs, "rolled-t"), 0);
    assert_string_equal(qt_jobs.s[0].body, "nested-t");
    assert_string_equal(qt_jobs.s[1].body, "kept-t");
    qt_stop(rt);
}

/* ...and it is not counted as sent either. */
static void outbox_rolled_back_send_not_counted(void **state)
{
    (void)state;
    dort_rt_t *rt = start();
    th_result_t r;
    assert_int_equal(outbox(rt, "o4", "/rollback", "u", &r), 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 2, 2000));
    th_run_for(rt, 200);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 2, 2, 0, 0, 0);
    qt_stop(rt);
}

/* self given where it is not the running turn's actor, self missing inside
 * a turn, a callback with self: refused, nothing sent. */
static void send_self_misuse(void **state)
{
    (void)state;
    dort_rt_t *rt = start();
    th_result_t r;
    assert_int_equal(outbox(rt, "o5", "/remember", "", &r), 0);
    assert_non_null(remembered);
    dort_queue_send_t m = {.body = "x", .len = 1};
    dort_queue_t *q = dort_rt_queue(rt, "Q");
    assert_int_equal(dort_queue_send(q, remembered, &m, 1, NULL, NULL), DORT_ENOTINTURN);
    assert_int_equal(outbox(rt, "o6", "/misuse", "", &r), 0);
    assert_string_equal(r.body, "DORT_EINVAL DORT_EINVAL DORT_ENOTINTURN");
    th_run_for(rt, 200);
    assert_int_equal(qt_jobs.n, 0);
    assert_int_equal(qt_sent_cbs, 0);
    assert_int_equal(qt_stats(rt, "jobs").sent, 0);
    qt_stop(rt);
}

/* ---- acks inside an actor's turn ----
 *
 * The consumer forwards every message of its batch to actor "applier"
 * (/apply N with the message in slots[N]) and returns DORT_EPENDING. When
 * every answer is in and all succeeded, it finishes the batch with 0; a
 * batch with a failed answer is left to the test (failed_batch). With
 * park_next set, the next batch is not forwarded but kept in parked. */

static dort_rt_t *cur_rt;
static const char *apply_path = "/apply";
static int park_next, answers, answer_failures;
static int keep_open;        /* answers never finish the batch */
static size_t forward_limit; /* forward only the first N messages (0: all) */
static int last_status;
static dort_queue_batch_t *parked, *failed_batch;

typedef struct fwd_s {
    dort_queue_batch_t *b;
    size_t pending;
    int failed;
} fwd_t;
static fwd_t fwd;

static int on_applied(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)self;
    fwd_t *f = data;
    dort_response_free(res);
    answers++;
    last_status = status;
    if (status != 0) {
        answer_failures++;
        f->failed = 1;
    }
    if (--f->pending > 0 || keep_open)
        return 0;
    if (f->failed)
        failed_batch = f->b;
    else
        dort_queue_batch_finish(f->b, 0);
    return 0;
}

static void forward(dort_queue_batch_t *b)
{
    dort_ns_t *ns = dort_rt_namespace(cur_rt, "Outbox");
    dort_id_t id;
    assert_int_equal(dort_id_from_name(ns, "applier", 7, &id), 0);
    dort_stub_t stub;
    dort_stub_init(&stub, ns, &id);
    size_t n = dort_queue_batch_size(b);
    if (forward_limit != 0 && forward_limit < n)
        n = forward_limit;
    fwd.b = b;
    fwd.pending = n;
    fwd.failed = 0;
    assert_true(n <= NSLOTS);
    for (size_t i = 0; i < n; i++) {
        char arg[24];
        slots[i] = dort_queue_batch_message(b, i);
        snprintf(arg, sizeof arg, "%zu", i);
        dort_request_t *req;
        assert_int_equal(dort_request_new(&req, "POST", apply_path), 0);
        assert_int_equal(dort_request_set_body(req, arg, strlen(arg), DORT_BUF_COPY), 0);
        assert_int_equal(dort_stub_fetch(&stub, NULL, req, on_applied, &fwd), 0);
    }
}

static int forward_script(dort_queue_batch_t *b)
{
    if (park_next) {
        park_next = 0;
        parked = b;
        return DORT_EPENDING;
    }
    forward(b);
    return DORT_EPENDING;
}

static int int_at_least(void *data)
{
    return *(int *)((void **)data)[0] >= *(int *)((void **)data)[1];
}

static int wait_int(dort_rt_t *rt, int *v, int want, int timeout_ms)
{
    void *args[2] = {v, &want};
    return th_run_until(rt, int_at_least, args, timeout_ms);
}

static dort_rt_t *start_forwarding_in(const char *dir, uint32_t batch)
{
    qt_cfg_t c;
    qt_cfg_init(&c);
    c.dir = dir;
    c.cls = &outbox_class;
    c.batch = batch;
    cur_rt = qt_start(&c);
    apply_path = "/apply";
    park_next = answers = answer_failures = keep_open = 0;
    forward_limit = 0;
    last_status = 1;
    parked = failed_batch = NULL;
    qt_script = forward_script;
    return cur_rt;
}

static dort_rt_t *start_forwarding(uint32_t batch)
{
    return start_forwarding_in(NULL, batch);
}

static void ack_in_turn_commits_with_writes(void **state)
{
    (void)state;
    dort_rt_t *rt = start_forwarding(3);
    qt_send_seq(rt, "Q", "m", 0, 3, 0);
    assert_true(wait_int(rt, &answers, 3, 3000));
    assert_int_equal(answer_failures, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(apply_rc[i], 0);
    th_run_for(rt, 300);
    assert_int_equal(qt_jobs.n, 3);
    assert_int_equal(qt_jobs.batches, 1);
    assert_int_equal(key_status(rt, "applier", "m0"), 200);
    assert_int_equal(key_status(rt, "applier", "m1"), 200);
    assert_int_equal(key_status(rt, "applier", "m2"), 200);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 3, 3, 0, 0, 0);
    qt_stop(rt);
}

/* The actor's commit fails: the key is absent, the ack undone (the message
 * is undecided again, so the consumer can retry it), and it comes again. */
static void ack_in_turn_commit_failure(void **state)
{
    (void)state;
    dort_rt_t *rt = start_forwarding(1);
    park_next = 1;
    qt_send_seq(rt, "Q", "f0", 0, 1, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 1, 2000));
    assert_non_null(parked);
    qt_quiesce(rt);
    dort__writer_fail_next(&rt->writer, DORT_EIO); /* the actor's commit is next */
    forward(parked);
    assert_true(wait_int(rt, &answers, 1, 3000));
    assert_int_equal(last_status, DORT_ECOMMIT);
    assert_int_equal(apply_rc[0], 0);
    assert_ptr_equal(failed_batch, parked);
    assert_int_equal(key_status(rt, "applier", "f00"), 404);
    assert_int_equal(dort_queue_message_retry(slots[0], 0), 0); /* undecided again */
    dort_queue_batch_finish(failed_batch, 0);
    assert_true(wait_int(rt, &answers, 2, 3000));
    assert_int_equal(last_status, 0);
    assert_int_equal(qt_jobs.n, 2);
    assert_int_equal(qt_jobs.s[1].attempts, 2);
    th_run_for(rt, 200);
    assert_int_equal(key_status(rt, "applier", "f00"), 200);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 1, 1, 1, 0, 0);
    qt_stop(rt);
}

/* The batch is finished while the actor's commit is still pending, and that
 * commit fails: the message was settled by neither, so it comes again. */
static void ack_in_turn_fails_after_finish(void **state)
{
    (void)state;
    dort_rt_t *rt = start_forwarding(1);
    park_next = 1;
    qt_send_seq(rt, "Q", "h", 0, 1, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 1, 2000));
    assert_non_null(parked);
    qt_quiesce(rt);
    dort__writer_set_hold(&rt->writer, 1);
    forward(parked);
    assert_true(wait_int(rt, &applied_turns, 1, 3000));
    th_run_for(rt, 50);
    assert_int_equal(answers, 0); /* the answer waits for the parked commit */
    assert_int_equal(apply_rc[0], 0);
    dort_queue_batch_t *b = fwd.b;
    fwd.pending = 99; /* the answer must not finish it again */
    dort_queue_batch_finish(b, 0);
    dort__writer_fail_next(&rt->writer, DORT_EIO);
    park_next = 1;
    dort__writer_set_hold(&rt->writer, 0);
    assert_true(wait_int(rt, &answers, 1, 3000));
    assert_int_equal(last_status, DORT_ECOMMIT);
    assert_true(qt_wait_seen(rt, &qt_jobs, 2, 3000));
    assert_int_equal(key_status(rt, "applier", "h0"), 404);
    assert_string_equal(qt_jobs.s[1].body, "h0");
    forward(parked);
    assert_true(wait_int(rt, &answers, 2, 3000));
    assert_int_equal(last_status, 0);
    th_run_for(rt, 200);
    assert_int_equal(key_status(rt, "applier", "h0"), 200);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 1, 1, 0, 0, 0);
    qt_stop(rt);
}

/* An ack made inside a transaction that is rolled back is undone with the
 * transaction's writes: the message follows the batch's outcome (here a
 * failure, so it is retried) and is not counted as acked. */
static void ack_in_rolled_back_txn_undone(void **state)
{
    (void)state;
    dort_rt_t *rt = start_forwarding(1);
    apply_path = "/apply-rollback";
    park_next = 1;
    qt_send_seq(rt, "Q", "rb", 0, 1, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 1, 2000));
    dort_queue_batch_t *b = parked;
    forward(b);
    fwd.pending = 99; /* finished here, not by the answer */
    assert_true(wait_int(rt, &answers, 1, 3000));
    assert_int_equal(last_status, 0);
    assert_int_equal(key_status(rt, "applier", "rb0"), 404);
    apply_path = "/apply";
    park_next = 1;
    dort_queue_batch_finish(b, -1);
    assert_true(qt_wait_seen(rt, &qt_jobs, 2, 1500));
    assert_int_equal(qt_jobs.s[1].attempts, 2);
    th_run_for(rt, 50);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 1, 1, 0, 1, 0, 0);
    forward(parked); /* this time the ack stands */
    assert_true(wait_int(rt, &answers, 2, 3000));
    th_run_for(rt, 200);
    assert_int_equal(key_status(rt, "applier", "rb0"), 200);
    st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 1, 1, 1, 0, 0);
    qt_stop(rt);
}

/* While a batch is open, a message acked in a turn and committed is neither
 * ready nor in flight, and it does not hide ready messages either. */
static void stats_after_in_turn_ack(void **state)
{
    (void)state;
    dort_rt_t *rt = start_forwarding(2);
    keep_open = 1;
    forward_limit = 1;
    qt_send_seq(rt, "Q", "s", 0, 4, 0);
    assert_true(wait_int(rt, &answers, 1, 3000));
    assert_int_equal(last_status, 0);
    th_run_for(rt, 50);
    dort_queue_stats_t st = qt_stats(rt, "jobs");
    assert_int_equal(st.acked, 1);
    assert_int_equal(st.ready, 2);     /* s2, s3 */
    assert_int_equal(st.in_flight, 1); /* s1: leased, undecided */
    keep_open = 0;
    forward_limit = 0;
    dort_queue_batch_finish(fwd.b, 0);
    assert_true(wait_int(rt, &answers, 3, 3000));
    th_run_for(rt, 200);
    st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 4, 4, 0, 0, 0);
    qt_stop(rt);
}

/* The counters of work done inside turns survive a restart even when that
 * work was the last thing before the stop: a send made in a turn (to a
 * queue nobody consumes), and an in-turn ack whose commit landed after its
 * batch had been finished. */
static void in_turn_counters_survive_restart(void **state)
{
    (void)state;
    const char *dir = qt_tmpdir();
    dort_rt_t *rt = start_forwarding_in(dir, 1);
    th_result_t r;
    assert_int_equal(outbox(rt, "o7", "/send-other", "x", &r), 0);
    assert_int_equal(r.http_status, 200);
    park_next = 1;
    qt_send_seq(rt, "Q", "c", 0, 1, 0);
    assert_true(qt_wait_seen(rt, &qt_jobs, 1, 2000));
    qt_quiesce(rt);
    dort__writer_set_hold(&rt->writer, 1);
    forward(parked);
    keep_open = 1;
    assert_true(wait_int(rt, &applied_turns, 1, 3000));
    dort_queue_batch_finish(parked, 0); /* before the ack's commit */
    dort__writer_set_hold(&rt->writer, 0);
    assert_true(wait_int(rt, &answers, 1, 3000));
    assert_int_equal(last_status, 0);
    th_run_for(rt, 200);
    dort_queue_stats_t st = qt_stats(rt, "other");
    QT_ASSERT_STATS(st, 1, 0, 0, 1, 0, 0, 0, 0);
    st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 1, 1, 0, 0, 0);
    qt_stop(rt);

    rt = start_forwarding_in(dir, 1);
    st = qt_stats(rt, "other");
    QT_ASSERT_STATS(st, 1, 0, 0, 1, 0, 0, 0, 0);
    st = qt_stats(rt, "jobs");
    QT_ASSERT_STATS(st, 0, 0, 0, 1, 1, 0, 0, 0);
    qt_stop(rt);
}

#define OUTBOX_TEST(f) cmocka_unit_test_setup_teardown(f, setup, qt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        OUTBOX_TEST(outbox_commit_failure_sends_nothing),
        OUTBOX_TEST(outbox_failed_turn_sends_nothing),
        OUTBOX_TEST(outbox_rolled_back_send_dropped),
        OUTBOX_TEST(outbox_rolled_back_send_not_counted),
        OUTBOX_TEST(send_self_misuse),
        OUTBOX_TEST(ack_in_turn_commits_with_writes),
        OUTBOX_TEST(ack_in_turn_commit_failure),
        OUTBOX_TEST(ack_in_turn_fails_after_finish),
        OUTBOX_TEST(ack_in_rolled_back_txn_undone),
        OUTBOX_TEST(stats_after_in_turn_ack),
        OUTBOX_TEST(in_turn_counters_survive_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
