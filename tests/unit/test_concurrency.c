/* test_concurrency.c - one live instance per id; turns of one actor never
 * overlap (no re-entrancy, even when it sends to itself); actors interleave
 * and may receive new calls while awaiting others; an actor can answer its
 * caller from a later turn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "rt_internal.h"
#include "th.h"

typedef struct counter_s {
    int inits;
    int in_turn;
    int handled;
    dort_call_t *waiting; /* a call answered later */
} counter_t;

static int reentered;
static int total_inits;

static void call_actor(dort_actor_t *self, const char *name, const char *path, dort_fetch_cb cb,
                       void *data)
{
    dort_id_t id;
    dort_id_from_name(dort_actor_ns(self), name, strlen(name), &id);
    dort_stub_t stub;
    dort_stub_init(&stub, dort_actor_ns(self), &id);
    dort_request_t *req;
    dort_request_new(&req, "POST", path);
    assert_int_equal(dort_stub_fetch(&stub, self, req, cb, data), 0);
}

static int relay_reply(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    counter_t *c = dort_actor_state(self);
    (void)data;
    assert_int_equal(status, 0);
    if (c->in_turn)
        reentered = 1;
    dort_call_t *call = c->waiting;
    c->waiting = NULL;
    return dort_call_respond(call, res); /* pass B's answer on to our caller */
}

static int self_reply(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)self, (void)data, (void)status;
    dort_response_free(res);
    return 0;
}

static int counter_init(dort_actor_t *self)
{
    counter_t *c = dort_actor_state(self);
    c->inits++;
    total_inits++;
    return 0;
}

static int counter_fetch(dort_actor_t *self, dort_call_t *call)
{
    counter_t *c = dort_actor_state(self);
    if (c->in_turn)
        reentered = 1;
    c->in_turn = 1;
    c->handled++;
    int rc = 0;
    if (th_path_is(call, "/self")) {
        /* A send to itself must be queued, not run inside this turn. */
        call_actor(self, "same", "/plain", self_reply, NULL);
        rc = dort_call_respond_body(call, 200, NULL, NULL, 0);
    } else if (th_path_is(call, "/relay")) {
        /* Answer later: ask B, reply from B's answer. */
        c->waiting = call;
        call_actor(self, "B", "/echo-back", relay_reply, NULL);
    } else if (th_path_is(call, "/echo-back")) {
        /* B calls A back while A is waiting on B: A must take it. */
        c->waiting = call;
        call_actor(self, "A", "/plain", relay_reply, NULL);
    } else {
        char b[32];
        int n = snprintf(b, sizeof b, "%d", c->handled);
        rc = dort_call_respond_body(call, 200, NULL, b, (size_t)n);
    }
    c->in_turn = 0;
    return rc;
}

static const dort_class_t counter_class = {
    .name = "Counter",
    .state_size = sizeof(counter_t),
    .init = counter_init,
    .fetch = counter_fetch,
};
static const dort_class_t *const classes[] = {&counter_class, NULL};

static int setup(void **state)
{
    dort_rt_options_t o;
    th_options(&o, NULL);
    *state = th_start(&o, classes);
    reentered = 0;
    total_inits = 0;
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    th_stop(*state);
    return 0;
}

#define M 200

static int all_done(void *data)
{
    th_result_t *r = data;
    for (int i = 0; i < M; i++)
        if (!r[i].done)
            return 0;
    return 1;
}

static void one_instance_per_id(void **state)
{
    dort_rt_t *rt = *state;
    static th_result_t r[M];
    for (int i = 0; i < M; i++)
        assert_int_equal(th_send(rt, "Counter", "same", "POST", "/plain", NULL, &r[i]), 0);
    assert_true(th_run_until(rt, all_done, r, 10000));
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_int_equal(st.actors_live, 1);
    assert_int_equal(total_inits, 1);
    /* Delivered one at a time, in order: the answers count 1..M. */
    for (int i = 0; i < M; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i + 1);
        assert_string_equal(r[i].body, want);
    }
    assert_false(reentered);
}

static void send_to_self_is_not_reentrant(void **state)
{
    dort_rt_t *rt = *state;
    th_result_t r, r2;
    assert_int_equal(th_fetch(rt, "Counter", "same", "POST", "/self", NULL, &r), 0);
    th_run_for(rt, 50);
    assert_int_equal(th_fetch(rt, "Counter", "same", "POST", "/plain", NULL, &r2), 0);
    assert_string_equal(r2.body, "3"); /* /self, its own /plain, then ours */
    assert_false(reentered);
}

static void interleaving_and_answer_later(void **state)
{
    dort_rt_t *rt = *state;
    th_result_t r;
    /* A awaits B, B awaits A: A must serve B's call while its own is open,
     * then both answers unwind back to us. */
    assert_int_equal(th_fetch(rt, "Counter", "A", "POST", "/relay", NULL, &r), 0);
    assert_int_equal(r.http_status, 200);
    assert_string_equal(r.body, "2"); /* A handled /relay, then B's /plain */
    assert_false(reentered);
}

static void many_actors_interleave(void **state)
{
    dort_rt_t *rt = *state;
    static th_result_t r[M];
    for (int i = 0; i < M; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i % 20);
        assert_int_equal(th_send(rt, "Counter", name, "POST", "/plain", NULL, &r[i]), 0);
    }
    assert_true(th_run_until(rt, all_done, r, 10000));
    /* Round-robin: each actor gets one message per pass, so the first
     * answers of all 20 actors complete before any actor's tenth. */
    uint64_t first_max = 0, tenth_min = UINT64_MAX;
    for (int i = 0; i < 20; i++)
        first_max = r[i].order > first_max ? r[i].order : first_max;
    for (int i = 180; i < 200; i++)
        tenth_min = r[i].order < tenth_min ? r[i].order : tenth_min;
    assert_true(first_max < tenth_min);
    assert_int_equal(total_inits, 20);
}

static void self_null_inside_turn_is_refused(void **state)
{
    (void)state;
    /* Checked directly: dort_stub_fetch from outside a turn with a
     * non-NULL self that is not running must fail. */
    dort_rt_t *rt = *state;
    dort_ns_t *ns = dort_rt_namespace(rt, "Counter");
    dort_id_t id;
    dort_id_from_name(ns, "x", 1, &id);
    th_result_t r;
    assert_int_equal(th_fetch(rt, "Counter", "x", "POST", "/plain", NULL, &r), 0);
    dort_actor_t *a = dort__table_find(&rt->actors, ns, &id);
    assert_non_null(a);
    dort_request_t *req;
    dort_request_new(&req, "GET", "/");
    dort_stub_t stub;
    dort_stub_init(&stub, ns, &id);
    assert_int_equal(dort_stub_fetch(&stub, a, req, self_reply, NULL), DORT_ENOTINTURN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(one_instance_per_id, setup, teardown),
        cmocka_unit_test_setup_teardown(send_to_self_is_not_reentrant, setup, teardown),
        cmocka_unit_test_setup_teardown(interleaving_and_answer_later, setup, teardown),
        cmocka_unit_test_setup_teardown(many_actors_interleave, setup, teardown),
        cmocka_unit_test_setup_teardown(self_null_inside_turn_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
