/* test_atomicity.c - a failed commit fails every turn in its batch: held
 * answers become errors, the actors are reset (init runs again), storage is
 * as before the batch, and the runtime keeps serving. */
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

#define N 10

static const dort_class_t *const classes[] = {&th_kv_class, NULL};

static int all_done(void *data)
{
    th_result_t *r = data;
    for (int i = 0; i < N; i++)
        if (!r[i].done)
            return 0;
    return 1;
}

static void send_all(dort_rt_t *rt, const char *script, th_result_t *r)
{
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "actor%d", i);
        assert_int_equal(th_send(rt, "KV", name, "POST", "/", script, &r[i]), 0);
    }
    assert_true(th_run_until(rt, all_done, r, 10000));
}

static void injected_failure_fails_whole_batch(void **state)
{
    (void)state;
    dort_rt_options_t o;
    th_options(&o, NULL);
    dort_rt_t *rt = th_start(&o, classes);
    th_result_t r[N];
    send_all(rt, "put k before", r);
    int inits_before = th_kv_inits;
    dort__writer_fail_next(&rt->writer, DORT_EIO);
    send_all(rt, "put k after\nput other x", r);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].status, DORT_ECOMMIT);
        assert_true(dort_err_retryable(r[i].status));
    }
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_int_equal(st.commit_failures, 1);
    assert_int_equal(st.actors_reset, N);
    /* Storage is as before the batch, and each actor runs init again. */
    send_all(rt, "get k\nget other", r);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].status, 0);
        assert_string_equal(r[i].body, "before\n(none)\n");
    }
    assert_int_equal(th_kv_inits - inits_before, N);
    /* And the runtime keeps serving writes. */
    send_all(rt, "put k again", r);
    send_all(rt, "get k", r);
    for (int i = 0; i < N; i++)
        assert_string_equal(r[i].body, "again\n");
    th_stop(rt);
}

static void failure_drops_writes_built_on_it(void **state)
{
    (void)state;
    dort_rt_options_t o;
    th_options(&o, NULL);
    dort_rt_t *rt = th_start(&o, classes);
    char out[64];
    assert_int_equal(th_kv(rt, "a", "put k 0", out, sizeof out), 0);
    /* Batch 1 (a: k=1) is held at the writer and will fail; a's next write
     * (k=2) lands in batch 2 and depends on it; b's write in batch 2 does
     * not. */
    dort__writer_set_hold(&rt->writer, 1);
    dort__writer_fail_next(&rt->writer, DORT_EIO);
    th_result_t r1, r2, rb;
    assert_int_equal(th_send(rt, "KV", "a", "POST", "/", "put k 1", &r1), 0);
    th_run_for(rt, 50);
    assert_int_equal(th_send(rt, "KV", "a", "POST", "/", "get k\nput k 2", &r2), 0);
    assert_int_equal(th_send(rt, "KV", "b", "POST", "/", "put k b", &rb), 0);
    th_run_for(rt, 50);
    assert_false(r1.done || r2.done || rb.done);
    dort__writer_set_hold(&rt->writer, 0);
    th_run_for(rt, 300);
    assert_int_equal(r1.status, DORT_ECOMMIT);
    assert_int_equal(r2.status, DORT_ECOMMIT);
    assert_int_equal(rb.status, 0);
    assert_int_equal(th_kv(rt, "a", "get k", out, sizeof out), 0);
    assert_string_equal(out, "0\n");
    assert_int_equal(th_kv(rt, "b", "get k", out, sizeof out), 0);
    assert_string_equal(out, "b\n");
    th_stop(rt);
}

static char *big_script(char c, size_t len)
{
    char *s = malloc(len + 64);
    strcpy(s, "put big ");
    memset(s + 8, c, len);
    s[8 + len] = '\0';
    return s;
}

static void tiny_map_fails_batch_then_serves(void **state)
{
    (void)state;
    char *dir = th_mkdtemp();
    dort_rt_options_t o;
    th_options(&o, dir);
    o.map_size = (uint64_t)1 << 20;
    o.max_size = (uint64_t)1 << 20; /* the map may not grow */
    dort_rt_t *rt = th_start(&o, classes);
    th_result_t r[N];
    send_all(rt, "put k small", r);
    for (int i = 0; i < N; i++)
        assert_int_equal(r[i].status, 0);
    /* Ten 120 KiB values in one batch do not fit in 1 MiB. */
    char *s = big_script('x', 120 * 1024);
    strcat(s, "\nput k big");
    send_all(rt, s, r);
    free(s);
    for (int i = 0; i < N; i++)
        assert_int_equal(r[i].status, DORT_ESTORAGEFULL);
    send_all(rt, "get k\nget big", r);
    for (int i = 0; i < N; i++)
        assert_string_equal(r[i].body, "small\n(none)\n");
    send_all(rt, "put k still", r);
    for (int i = 0; i < N; i++)
        assert_int_equal(r[i].status, 0);
    th_stop(rt);
    th_rmdir(dir);
    free(dir);
}

static void map_grows_below_bound(void **state)
{
    (void)state;
    char *dir = th_mkdtemp();
    dort_rt_options_t o;
    th_options(&o, dir);
    o.map_size = (uint64_t)1 << 20;
    o.max_size = 0;
    dort_rt_t *rt = th_start(&o, classes);
    th_result_t r[N];
    char *s = big_script('y', 120 * 1024);
    send_all(rt, s, r);
    free(s);
    for (int i = 0; i < N; i++)
        assert_int_equal(r[i].status, 0);
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_true(st.map_grows >= 1);
    assert_true(rt->store.map_size > ((uint64_t)1 << 20));
    th_stop(rt);
    /* Reopening with the original (smaller) size keeps the data. */
    rt = th_start(&o, classes);
    char out[64];
    assert_int_equal(th_kv(rt, "actor3", "get k", out, sizeof out), 0);
    th_stop(rt);
    th_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(injected_failure_fails_whole_batch),
        cmocka_unit_test(failure_drops_writes_built_on_it),
        cmocka_unit_test(tiny_map_fails_batch_then_serves),
        cmocka_unit_test(map_grows_below_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
