/* test_storage.c - get/put/delete, batches, limits, and reads that see the
 * actor's own writes before and after they are committed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kv_actor.h"
#include "th.h"

static const dort_class_t *const classes[] = {&th_kv_class, NULL};

static int setup(void **state)
{
    dort_rt_options_t o;
    th_options(&o, NULL);
    *state = th_start(&o, classes);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    th_stop(*state);
    return 0;
}

static void put_get_delete(void **state)
{
    dort_rt_t *rt = *state;
    char out[4096];
    assert_int_equal(th_kv(rt, "a", "put k1 v1\nget k1\nget k2", out, sizeof out), 0);
    assert_string_equal(out, "v1\n(none)\n");
    assert_int_equal(th_kv(rt, "a", "get k1\ndel k1\ndel k1\nget k1", out, sizeof out), 0);
    assert_string_equal(out, "v1\ndeleted\nabsent\n(none)\n");
    /* Another actor does not see a's keys. */
    assert_int_equal(th_kv(rt, "a", "put shared x", out, sizeof out), 0);
    assert_int_equal(th_kv(rt, "b", "get shared", out, sizeof out), 0);
    assert_string_equal(out, "(none)\n");
}

static void read_your_writes_across_turns(void **state)
{
    dort_rt_t *rt = *state;
    /* Two turns back to back in one loop iteration: the second runs before
     * the first's commit can have landed and must still see its write. */
    th_result_t r1, r2;
    assert_int_equal(th_send(rt, "KV", "ryw", "POST", "/", "put x 1", &r1), 0);
    assert_int_equal(th_send(rt, "KV", "ryw", "POST", "/", "get x\nput x 2\nget x", &r2), 0);
    dort_rt_stats_t before;
    dort_rt_stats(rt, &before);
    th_run_for(rt, 200);
    assert_true(r1.done && r2.done);
    assert_string_equal(r2.body, "1\n2\n");
    char out[64];
    assert_int_equal(th_kv(rt, "ryw", "get x", out, sizeof out), 0);
    assert_string_equal(out, "2\n");
}

static char big[140000];

static void limits_write_nothing(void **state)
{
    dort_rt_t *rt = *state;
    char *script = malloc(290000);
    char out[4096];
    /* A key of 2049 bytes is refused; 2048 is fine. */
    memset(big, 'k', 2049);
    big[2049] = '\0';
    snprintf(script, 290000, "put %s v\nget short", big);
    assert_int_equal(th_kv(rt, "lim", script, out, sizeof out), 0);
    assert_string_equal(out, "ERR DORT_EKEYTOOLONG\n(none)\n");
    big[2048] = '\0';
    snprintf(script, 290000, "put %s v\nget %s", big, big);
    assert_int_equal(th_kv(rt, "lim", script, out, sizeof out), 0);
    assert_string_equal(out, "v\n");
    /* A value of 131073 bytes is refused and nothing is written. */
    memset(big, 'v', 131073);
    big[131073] = '\0';
    snprintf(script, 290000, "put key %s\nget key", big);
    assert_int_equal(th_kv(rt, "lim", script, out, sizeof out), 0);
    assert_string_equal(out, "ERR DORT_EVALTOOBIG\n(none)\n");
    free(script);
}

/* ---- batches, from inside an actor ---- */

static int batch_results[8];

static int batch_fetch(dort_actor_t *self, dort_call_t *call)
{
    dort_kv_t kvs[129];
    char keys[129][16];
    for (int i = 0; i < 129; i++) {
        snprintf(keys[i], sizeof keys[i], "b%03d", i);
        kvs[i].key = keys[i];
        kvs[i].key_len = strlen(keys[i]);
        kvs[i].value = "val";
        kvs[i].value_len = 3;
    }
    batch_results[0] = dort_storage_put_batch(self, kvs, 129);
    /* One bad entry in the middle: nothing of the batch is written. */
    kvs[5].value_len = DORT_STORAGE_MAX_VALUE + 1;
    batch_results[1] = dort_storage_put_batch(self, kvs, 10);
    dort_slice_t v;
    batch_results[2] = dort_storage_get(self, "b000", 4, &v);
    kvs[5].value_len = 3;
    batch_results[3] = dort_storage_put_batch(self, kvs, 128);
    dort_slice_t vals[128];
    batch_results[4] = dort_storage_get_batch(self, kvs, 128, vals);
    batch_results[5] = vals[127].ptr != NULL && vals[127].len == 3 ? 1 : 0;
    size_t deleted = 0;
    batch_results[6] = dort_storage_delete_batch(self, kvs, 64, &deleted);
    batch_results[7] = (int)deleted;
    return dort_call_respond_body(call, 200, NULL, NULL, 0);
}

static const dort_class_t batch_class = {.name = "Batch", .fetch = batch_fetch};

static void batches(void **state)
{
    (void)state;
    static const dort_class_t *const cls[] = {&batch_class, NULL};
    dort_rt_options_t o;
    th_options(&o, NULL);
    dort_rt_t *rt = th_start(&o, cls);
    th_result_t r;
    assert_int_equal(th_fetch(rt, "Batch", "x", "POST", "/", NULL, &r), 0);
    assert_int_equal(batch_results[0], DORT_ETOOMANYKEYS);
    assert_int_equal(batch_results[1], DORT_EVALTOOBIG);
    assert_int_equal(batch_results[2], DORT_ENOENT);
    assert_int_equal(batch_results[3], 0);
    assert_int_equal(batch_results[4], 0);
    assert_int_equal(batch_results[5], 1);
    assert_int_equal(batch_results[6], 0);
    assert_int_equal(batch_results[7], 64);
    th_stop(rt);
}

/* ---- outside a turn ---- */

static void outside_turn(void **state)
{
    (void)state;
    /* There is no actor pointer to misuse from outside, except a stale one;
     * NULL must be refused cleanly. */
    dort_slice_t v;
    assert_int_equal(dort_storage_get(NULL, "k", 1, &v), DORT_EINVAL);
    assert_int_equal(dort_storage_put(NULL, "k", 1, "v", 1), DORT_EINVAL);
}

static void persists_across_restart(void **state)
{
    (void)state;
    char *dir = th_mkdtemp();
    static const dort_class_t *const cls[] = {&th_kv_class, NULL};
    dort_rt_options_t o;
    th_options(&o, dir);
    dort_rt_t *rt = th_start(&o, cls);
    char out[256];
    assert_int_equal(th_kv(rt, "p", "put a 1\nput b 2\ndel a", out, sizeof out), 0);
    th_stop(rt);
    rt = th_start(&o, cls);
    assert_non_null(rt);
    assert_int_equal(th_kv(rt, "p", "get a\nget b", out, sizeof out), 0);
    assert_string_equal(out, "(none)\n2\n");
    th_stop(rt);
    th_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(put_get_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(read_your_writes_across_turns, setup, teardown),
        cmocka_unit_test_setup_teardown(limits_write_nothing, setup, teardown),
        cmocka_unit_test(batches),
        cmocka_unit_test(outside_turn),
        cmocka_unit_test(persists_across_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
