/* test_group_commit.c - write sets sealed in the same loop iteration share
 * one LMDB write transaction; commit_batch_max = 1 turns that off; batches
 * pipeline while the writer is busy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "kv_actor.h"
#include "rt_internal.h"
#include "th.h"

#define N 100

static const dort_class_t *const classes[] = {&th_kv_class, NULL};

static int all_done(void *data)
{
    th_result_t *r = data;
    for (int i = 0; i < N; i++)
        if (!r[i].done)
            return 0;
    return 1;
}

static uint64_t txns_for_writes(uint32_t batch_max)
{
    dort_rt_options_t o;
    th_options(&o, NULL);
    o.commit_batch_max = batch_max;
    dort_rt_t *rt = th_start(&o, classes);
    assert_non_null(rt);
    static th_result_t r[N];
    dort_rt_stats_t before, after;
    dort_rt_stats(rt, &before);
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "actor%d", i);
        assert_int_equal(th_send(rt, "KV", name, "POST", "/", "put k v", &r[i]), 0);
    }
    assert_true(th_run_until(rt, all_done, r, 10000));
    dort_rt_stats(rt, &after);
    for (int i = 0; i < N; i++)
        assert_int_equal(r[i].status, 0);
    assert_int_equal(after.committed_writesets - before.committed_writesets, N);
    assert_int_equal(after.committed_keys - before.committed_keys, N);
    th_stop(rt);
    return after.commit_txns - before.commit_txns;
}

static void same_iteration_one_transaction(void **state)
{
    (void)state;
    assert_int_equal(txns_for_writes(0), 1);
}

static void group_commit_off(void **state)
{
    (void)state;
    assert_int_equal(txns_for_writes(1), N);
}

static void pipelined_batches(void **state)
{
    (void)state;
    dort_rt_options_t o;
    th_options(&o, NULL);
    dort_rt_t *rt = th_start(&o, classes);
    dort__writer_set_hold(&rt->writer, 1);
    static th_result_t r[N];
    for (int i = 0; i < N / 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "a%d", i);
        assert_int_equal(th_send(rt, "KV", name, "POST", "/", "put k 1", &r[i]), 0);
    }
    th_run_for(rt, 50); /* first batch handed to the (held) writer */
    for (int i = N / 2; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "b%d", i);
        assert_int_equal(th_send(rt, "KV", name, "POST", "/", "put k 2", &r[i]), 0);
    }
    th_run_for(rt, 50); /* second batch accumulates while the first is held */
    dort_rt_stats_t before, after;
    dort_rt_stats(rt, &before);
    dort__writer_set_hold(&rt->writer, 0);
    assert_true(th_run_until(rt, all_done, r, 10000));
    dort_rt_stats(rt, &after);
    assert_int_equal(after.commit_txns - before.commit_txns, 2);
    th_stop(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_iteration_one_transaction),
        cmocka_unit_test(group_commit_off),
        cmocka_unit_test(pipelined_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
