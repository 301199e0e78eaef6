/* test_eviction.c - idle actors are evicted after the timeout (evict runs,
 * memory is freed, storage stays) and the next message runs init again;
 * busy actors are not evicted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "kv_actor.h"
#include "rt_internal.h"
#include "th.h"

static const dort_class_t *const classes[] = {&th_kv_class, NULL};

static dort_rt_t *start(int64_t idle_ms)
{
    dort_rt_options_t o;
    th_options(&o, NULL);
    o.idle_timeout_ms = idle_ms;
    return th_start(&o, classes);
}

static void idle_actor_is_evicted_and_comes_back(void **state)
{
    (void)state;
    dort_rt_t *rt = start(100);
    char out[64];
    int inits = th_kv_inits, evicts = th_kv_evicts;
    assert_int_equal(th_kv(rt, "e", "put k v", out, sizeof out), 0);
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_int_equal(st.actors_live, 1);
    th_run_for(rt, 50);
    dort_rt_stats(rt, &st);
    assert_int_equal(st.actors_live, 1); /* not yet: 50 ms < 100 ms */
    th_run_for(rt, 300);
    dort_rt_stats(rt, &st);
    assert_int_equal(st.actors_live, 0);
    assert_int_equal(st.actors_evicted, 1);
    assert_int_equal(th_kv_evicts - evicts, 1);
    assert_int_equal(th_kv(rt, "e", "get k", out, sizeof out), 0);
    assert_string_equal(out, "v\n");
    assert_int_equal(th_kv_inits - inits, 2); /* init ran again */
    th_stop(rt);
}

static void activity_postpones_eviction(void **state)
{
    (void)state;
    dort_rt_t *rt = start(150);
    char out[64];
    for (int i = 0; i < 6; i++) {
        assert_int_equal(th_kv(rt, "busy", "get k", out, sizeof out), 0);
        th_run_for(rt, 60);
    }
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_int_equal(st.actors_evicted, 0);
    th_stop(rt);
}

static void never_evict(void **state)
{
    (void)state;
    dort_rt_t *rt = start(-1);
    char out[64];
    assert_int_equal(th_kv(rt, "n", "get k", out, sizeof out), 0);
    th_run_for(rt, 300);
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_int_equal(st.actors_live, 1);
    th_stop(rt);
}

static void pending_commit_blocks_eviction(void **state)
{
    (void)state;
    dort_rt_t *rt = start(50);
    dort__writer_set_hold(&rt->writer, 1);
    th_result_t r;
    assert_int_equal(th_send(rt, "KV", "p", "POST", "/", "put k v", &r), 0);
    th_run_for(rt, 250);
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_int_equal(st.actors_live, 1); /* its write is still in flight */
    dort__writer_set_hold(&rt->writer, 0);
    th_run_for(rt, 300);
    dort_rt_stats(rt, &st);
    assert_true(r.done);
    assert_int_equal(st.actors_live, 0);
    th_stop(rt);
}

static void many_actors_evicted(void **state)
{
    (void)state;
    dort_rt_t *rt = start(100);
    static th_result_t r[1000];
    for (int i = 0; i < 1000; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        assert_int_equal(th_send(rt, "KV", name, "POST", "/", "get k", &r[i]), 0);
    }
    th_run_for(rt, 600);
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_true(r[999].done);
    assert_int_equal(st.actors_live, 0);
    assert_int_equal(st.actors_evicted, 1000);
    th_stop(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idle_actor_is_evicted_and_comes_back),
        cmocka_unit_test(activity_postpones_eviction),
        cmocka_unit_test(never_evict),
        cmocka_unit_test(pending_commit_blocks_eviction),
        cmocka_unit_test(many_actors_evicted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
