/* test_runtime.c - lifecycle: option validation, registration rules, a host
 * loop shared with the host's own handles, graceful stop with work still
 * pending, refusal after stop, and the schema check on open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <lmdb.h>

#include "kv_actor.h"
#include "records.pb-c.h"
#include "th.h"

static const dort_class_t *const classes[] = {&th_kv_class, NULL};

static void options_are_validated(void **state)
{
    (void)state;
    dort_rt_options_t o;
    dort_rt_t *rt = NULL;
    dort_rt_options_init(&o);
    assert_int_equal(o.idle_timeout_ms, 10000);
    assert_int_equal(o.exclusive_timeout_ms, 30000);
    assert_int_equal(o.alarm_retry_base_ms, 2000);
    assert_int_equal(o.alarm_max_retries, 6);
    assert_int_equal(dort_rt_new(&rt, &o), DORT_EINVAL); /* full durability needs a dir */
    o.durability = DORT_DURABILITY_MEMORY;
    o.alarm_retry_jitter = 1.5;
    assert_int_equal(dort_rt_new(&rt, &o), DORT_EINVAL);
    o.alarm_retry_jitter = 0.25;
    o.mailbox_limit = 0;
    assert_int_equal(dort_rt_new(&rt, &o), DORT_EINVAL);
    o.mailbox_limit = 10;
    assert_int_equal(dort_rt_new(&rt, &o), 0);
    dort_rt_free(rt);
    assert_int_equal(dort_rt_new(NULL, &o), DORT_EINVAL);
}

static int noop_fetch(dort_actor_t *self, dort_call_t *call)
{
    (void)self;
    return dort_call_respond_body(call, 200, NULL, NULL, 0);
}

static void registration_rules(void **state)
{
    (void)state;
    dort_rt_options_t o;
    th_options(&o, NULL);
    dort_rt_t *rt;
    assert_int_equal(dort_rt_new(&rt, &o), 0);
    static const dort_class_t nofetch = {.name = "NoFetch"};
    static const dort_class_t noname = {.fetch = noop_fetch};
    static const dort_class_t ok = {.name = "Ok", .fetch = noop_fetch};
    assert_int_equal(dort_rt_register_class(rt, &nofetch), DORT_EINVAL);
    assert_int_equal(dort_rt_register_class(rt, &noname), DORT_EINVAL);
    assert_int_equal(dort_rt_register_class(rt, &ok), 0);
    assert_int_equal(dort_rt_register_class(rt, &ok), DORT_EEXIST);
    assert_int_equal(dort_rt_bind_namespace(rt, "OK", "Missing", NULL, NULL), DORT_ENOCLASS);
    dort_ns_t *ns = NULL;
    assert_int_equal(dort_rt_bind_namespace(rt, "OK", "Ok", NULL, &ns), 0);
    assert_ptr_equal(dort_rt_namespace(rt, "OK"), ns);
    assert_string_equal(dort_ns_binding(ns), "OK");
    assert_ptr_equal(dort_ns_class(ns), &ok);
    assert_int_equal(dort_rt_bind_namespace(rt, "OK", "Ok", "other", NULL), DORT_EEXIST);
    /* Same class under another binding needs its own unique key. */
    assert_int_equal(dort_rt_bind_namespace(rt, "OK2", "Ok", NULL, NULL), DORT_EEXIST);
    assert_int_equal(dort_rt_bind_namespace(rt, "OK2", "Ok", "ok-two", NULL), 0);
    assert_null(dort_rt_namespace(rt, "nope"));
    assert_int_equal(dort_rt_start(rt), 0);
    assert_int_equal(dort_rt_start(rt), DORT_ESTATE);
    static const dort_class_t late = {.name = "Late", .fetch = noop_fetch};
    assert_int_equal(dort_rt_register_class(rt, &late), DORT_ESTATE);
    assert_int_equal(dort_rt_bind_namespace(rt, "L", "Ok", "l", NULL), DORT_ESTATE);
    th_stop(rt);
}

/* ---- host loop ---- */

static int host_ticks;

static void host_tick(uv_timer_t *t)
{
    (void)t;
    host_ticks++;
}

static int stopped_flag;

static void on_stop(dort_rt_t *rt, void *data)
{
    (void)rt;
    *(int *)data = 1;
}

static void host_loop_shared(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    uv_timer_start(&timer, host_tick, 5, 5);
    dort_rt_options_t o;
    th_options(&o, NULL);
    o.loop = &loop;
    dort_rt_t *rt = th_start(&o, classes);
    assert_ptr_equal(dort_rt_loop(rt), &loop);
    char out[64];
    assert_int_equal(th_kv(rt, "h", "put a 1\nget a", out, sizeof out), 0);
    assert_string_equal(out, "1\n");
    th_run_for(rt, 100);
    assert_true(host_ticks >= 5); /* the host's timer ran beside the actors */
    stopped_flag = 0;
    assert_int_equal(dort_rt_stop(rt, on_stop, &stopped_flag), 0);
    while (!stopped_flag)
        uv_run(&loop, UV_RUN_ONCE);
    dort_rt_free(rt);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    /* dort left no handle behind on the host's loop. */
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- stop ---- */

static dort_call_t *parked;

static int park_fetch(dort_actor_t *self, dort_call_t *call)
{
    (void)self;
    parked = call; /* never answered */
    return 0;
}

static const dort_class_t park_class = {.name = "Park", .fetch = park_fetch};

static void stop_fails_pending_after_deadline(void **state)
{
    (void)state;
    static const dort_class_t *const cls[] = {&park_class, &th_kv_class, NULL};
    dort_rt_options_t o;
    th_options(&o, NULL);
    o.stop_timeout_ms = 100;
    dort_rt_t *rt = th_start(&o, cls);
    th_result_t parked_r, kv_r;
    assert_int_equal(th_send(rt, "Park", "p", "GET", "/", NULL, &parked_r), 0);
    assert_int_equal(th_send(rt, "KV", "k", "POST", "/", "put a b", &kv_r), 0);
    th_run_for(rt, 20);
    stopped_flag = 0;
    assert_int_equal(dort_rt_stop(rt, on_stop, &stopped_flag), 0);
    /* New external work is refused at once. */
    th_result_t late;
    assert_int_equal(th_send(rt, "KV", "k", "POST", "/", "get a", &late), DORT_ESTOPPED);
    assert_int_equal(dort_rt_stop(rt, NULL, NULL), DORT_ESTATE);
    uv_loop_t *loop = dort_rt_loop(rt);
    while (!stopped_flag)
        uv_run(loop, UV_RUN_ONCE);
    assert_true(kv_r.done);
    assert_int_equal(kv_r.status, 0);
    assert_true(parked_r.done);
    assert_int_equal(parked_r.status, DORT_ESTOPPED);
    dort_rt_free(rt);
}

static void stop_flushes_commits(void **state)
{
    (void)state;
    char *dir = th_mkdtemp();
    dort_rt_options_t o;
    th_options(&o, dir);
    o.durability = DORT_DURABILITY_RELAXED;
    o.relaxed_sync_interval_ms = 60000;
    dort_rt_t *rt = th_start(&o, classes);
    th_result_t r;
    assert_int_equal(th_send(rt, "KV", "s", "POST", "/", "put a durable", &r), 0);
    th_stop(rt); /* stop right away: the write is queued, not yet run */
    assert_true(r.done);
    rt = th_start(&o, classes);
    char out[64];
    assert_int_equal(th_kv(rt, "s", "get a", out, sizeof out), 0);
    assert_string_equal(out, "durable\n");
    th_stop(rt);
    th_rmdir(dir);
    free(dir);
}

static void newer_schema_is_refused(void **state)
{
    (void)state;
    char *dir = th_mkdtemp();
    dort_rt_options_t o;
    th_options(&o, dir);
    dort_rt_t *rt = th_start(&o, classes);
    th_stop(rt);
    /* Pretend a future dort wrote this directory. */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    Dort__SchemaRecord rec = DORT__SCHEMA_RECORD__INIT;
    rec.version = 99;
    rec.written_by = "9.9.9";
    uint8_t buf[64];
    MDB_val k = {6, "schema"}, v = {dort__schema_record__pack(&rec, buf), buf};
    assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_int_equal(dort_rt_new(&rt, &o), 0);
    assert_int_equal(dort_rt_register_class(rt, &th_kv_class), 0);
    assert_int_equal(dort_rt_start(rt), DORT_ESCHEMA);
    dort_rt_free(rt);
    th_rmdir(dir);
    free(dir);
}

static void owned_loop_run_returns_after_stop(void **state)
{
    (void)state;
    dort_rt_options_t o;
    th_options(&o, NULL);
    dort_rt_t *rt = th_start(&o, classes);
    th_result_t r;
    assert_int_equal(th_send(rt, "KV", "o", "POST", "/", "put a 1", &r), 0);
    stopped_flag = 0;
    assert_int_equal(dort_rt_stop(rt, on_stop, &stopped_flag), 0);
    assert_int_equal(dort_rt_run(rt), 0); /* returns once dort closed its handles */
    assert_true(stopped_flag);
    assert_true(r.done);
    dort_rt_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(options_are_validated),
        cmocka_unit_test(registration_rules),
        cmocka_unit_test(host_loop_shared),
        cmocka_unit_test(stop_fails_pending_after_deadline),
        cmocka_unit_test(stop_flushes_commits),
        cmocka_unit_test(newer_schema_is_refused),
        cmocka_unit_test(owned_loop_run_returns_after_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
