/* test_exclusivity.c - blockConcurrencyWhile: while an actor holds
 * exclusivity no new request reaches it, answers to its own calls still do;
 * init runs under it; a hold past the timeout resets the actor; a failing
 * handler loses its writes and outputs and its caller gets DORT_EHANDLER. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "kv_actor.h"
#include "rt_internal.h"
#include "th.h"

typedef struct gate_s {
    int loaded;  /* set by init once the slow dependency answered */
    int served;
} gate_t;

static int slow_answers;
static int pings;

static int loaded_cb(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)data;
    gate_t *g = dort_actor_state(self);
    dort_response_free(res);
    assert_int_equal(status, 0);
    g->loaded = 1;
    return dort_actor_unblock(self);
}

/* init asks another actor for something and holds exclusivity until the
 * answer: requests queued meanwhile must see loaded == 1. */
static int gate_init(dort_actor_t *self)
{
    int rc = dort_actor_block(self);
    if (rc != 0)
        return rc;
    dort_ns_t *slow = dort_rt_namespace(dort_actor_rt(self), "Slow");
    dort_id_t id;
    dort_id_from_name(slow, "slow", 4, &id);
    dort_stub_t stub;
    dort_stub_init(&stub, slow, &id);
    dort_request_t *req;
    dort_request_new(&req, "GET", "/dep");
    return dort_stub_fetch(&stub, self, req, loaded_cb, NULL);
}

static int noop_cb(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)self, (void)data, (void)status;
    dort_response_free(res);
    return 0;
}

static int gate_fetch(dort_actor_t *self, dort_call_t *call)
{
    gate_t *g = dort_actor_state(self);
    if (th_path_is(call, "/ping")) {
        pings++;
        return dort_call_respond_body(call, 200, NULL, NULL, 0);
    }
    if (th_path_is(call, "/fail")) {
        /* Writes, sends and answers, then fails: all of it must vanish. */
        dort_storage_put(self, "lost", 4, "x", 1);
        dort_id_t id;
        dort_id_from_name(dort_actor_ns(self), "pinged", 6, &id);
        dort_stub_t stub;
        dort_stub_init(&stub, dort_actor_ns(self), &id);
        dort_request_t *req;
        dort_request_new(&req, "GET", "/ping");
        dort_stub_fetch(&stub, self, req, noop_cb, NULL);
        dort_call_respond_body(call, 200, NULL, "ok", 2);
        return -1;
    }
    if (th_path_is(call, "/check")) {
        dort_slice_t v;
        int rc = dort_storage_get(self, "lost", 4, &v);
        return dort_call_respond_body(call, rc == DORT_ENOENT ? 204 : 500, NULL, NULL, 0);
    }
    g->served++;
    char b[32];
    int n = snprintf(b, sizeof b, "loaded=%d", g->loaded);
    return dort_call_respond_body(call, 200, NULL, b, (size_t)n);
}

static const dort_class_t gate_class = {
    .name = "Gate",
    .state_size = sizeof(gate_t),
    .init = gate_init,
    .fetch = gate_fetch,
};

/* The dependency init waits for. */
static int slow_fetch(dort_actor_t *self, dort_call_t *call)
{
    (void)self;
    slow_answers++;
    return dort_call_respond_body(call, 200, NULL, NULL, 0);
}

static const dort_class_t slow_class = {.name = "Slow", .fetch = slow_fetch};

static const dort_class_t *const classes[] = {&th_kv_class, NULL};

static dort_rt_t *start_gate(void)
{
    dort_rt_options_t o;
    th_options(&o, NULL);
    dort_rt_t *rt;
    assert_int_equal(dort_rt_new(&rt, &o), 0);
    assert_int_equal(dort_rt_register_class(rt, &gate_class), 0);
    assert_int_equal(dort_rt_register_class(rt, &slow_class), 0);
    assert_int_equal(dort_rt_bind_namespace(rt, "Gate", "Gate", NULL, NULL), 0);
    assert_int_equal(dort_rt_bind_namespace(rt, "Slow", "Slow", NULL, NULL), 0);
    assert_int_equal(dort_rt_start(rt), 0);
    return rt;
}

#define Q 5

static int all_done(void *data)
{
    th_result_t *r = data;
    for (int i = 0; i < Q; i++)
        if (!r[i].done)
            return 0;
    return 1;
}

static void init_holds_exclusivity_until_answer(void **state)
{
    (void)state;
    dort_rt_t *rt = start_gate();
    th_result_t r[Q];
    for (int i = 0; i < Q; i++)
        assert_int_equal(th_send(rt, "Gate", "g", "GET", "/", NULL, &r[i]), 0);
    assert_true(th_run_until(rt, all_done, r, 10000));
    for (int i = 0; i < Q; i++)
        assert_string_equal(r[i].body, "loaded=1");
    assert_int_equal(slow_answers, 1);
    th_stop(rt);
}

static void hold_past_timeout_resets(void **state)
{
    (void)state;
    dort_rt_options_t o;
    th_options(&o, NULL);
    o.exclusive_timeout_ms = 150;
    dort_rt_t *rt = th_start(&o, classes);
    char out[64];
    int inits = th_kv_inits;
    assert_int_equal(th_kv(rt, "x", "put k v\nblock", out, sizeof out), 0);
    th_result_t r;
    assert_int_equal(th_send(rt, "KV", "x", "POST", "/", "get k", &r), 0);
    th_run_for(rt, 80);
    assert_false(r.done); /* blocked */
    th_run_for(rt, 400);
    assert_true(r.done); /* reset released it */
    assert_string_equal(r.body, "v\n");
    assert_int_equal(th_kv_inits - inits, 2);
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_int_equal(st.actors_reset, 1);
    th_stop(rt);
}

static void unblock_without_block(void **state)
{
    (void)state;
    dort_rt_options_t o;
    th_options(&o, NULL);
    dort_rt_t *rt = th_start(&o, classes);
    char out[64];
    assert_int_equal(th_kv(rt, "u", "unblock\nblock\nunblock", out, sizeof out), 0);
    assert_string_equal(out, "ERR DORT_ESTATE\n");
    th_stop(rt);
}

static void failing_handler_loses_writes_and_outputs(void **state)
{
    (void)state;
    dort_rt_t *rt = start_gate();
    pings = 0;
    th_result_t r;
    assert_int_equal(th_fetch(rt, "Gate", "f", "GET", "/fail", NULL, &r), DORT_EHANDLER);
    assert_true(dort_err_retryable(r.status));
    th_run_for(rt, 100);
    assert_int_equal(pings, 0);
    assert_int_equal(th_fetch(rt, "Gate", "f", "GET", "/check", NULL, &r), 0);
    assert_int_equal(r.http_status, 204);
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_true(st.turns_failed >= 1);
    th_stop(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_holds_exclusivity_until_answer),
        cmocka_unit_test(hold_past_timeout_resets),
        cmocka_unit_test(unblock_without_block),
        cmocka_unit_test(failing_handler_loses_writes_and_outputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
