/* test_output_gate.c - outputs of a turn that wrote wait for the commit of
 * those writes; a turn that only read waits only for its own actor's
 * earlier writes, never for other actors' commits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "kv_actor.h"
#include "rt_internal.h"
#include "th.h"

/* ---- a class that writes and sends a message to another actor ---- */

static int pings_received;

static int noop_cb(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)self, (void)data, (void)status;
    dort_response_free(res);
    return 0;
}

static int sender_fetch(dort_actor_t *self, dort_call_t *call)
{
    if (th_path_is(call, "/ping")) {
        pings_received++;
        return dort_call_respond_body(call, 200, NULL, NULL, 0);
    }
    /* Write, then message actor "target" in the same turn. */
    int rc = dort_storage_put(self, "k", 1, "v", 1);
    dort_id_t id;
    dort_id_from_name(dort_actor_ns(self), "target", 6, &id);
    dort_stub_t stub;
    dort_stub_init(&stub, dort_actor_ns(self), &id);
    dort_request_t *req;
    dort_request_new(&req, "POST", "/ping");
    if (rc == 0)
        rc = dort_stub_fetch(&stub, self, req, noop_cb, NULL);
    if (rc == 0)
        rc = dort_call_respond_body(call, 200, NULL, "sent", 4);
    return rc;
}

static const dort_class_t sender_class = {.name = "Sender", .fetch = sender_fetch};
static const dort_class_t *const classes[] = {&th_kv_class, &sender_class, NULL};

static int setup(void **state)
{
    dort_rt_options_t o;
    th_options(&o, NULL);
    *state = th_start(&o, classes);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    dort_rt_t *rt = *state;
    dort__writer_set_hold(&rt->writer, 0);
    th_stop(rt);
    return 0;
}

/* Reads a key of actor `name` straight from LMDB (committed data only). */
static int committed_value(dort_rt_t *rt, const char *name, const char *key, char *out)
{
    dort_ns_t *ns = dort_rt_namespace(rt, "KV");
    dort_id_t id;
    dort_id_from_name(ns, name, strlen(name), &id);
    unsigned char k[DORT__LMDB_KEY_MAX];
    memcpy(k, ns->key, DORT__NS_TAG_SIZE);
    memcpy(k + DORT__NS_TAG_SIZE, id.bytes, DORT_ID_SIZE);
    memcpy(k + DORT__PREFIX_SIZE, key, strlen(key));
    MDB_txn *txn;
    MDB_val kv = {DORT__PREFIX_SIZE + strlen(key), k}, v;
    assert_int_equal(mdb_txn_begin(rt->store.env, NULL, MDB_RDONLY, &txn), 0);
    int rc = mdb_get(txn, rt->store.kv, &kv, &v);
    if (rc == 0) {
        memcpy(out, v.mv_data, v.mv_size);
        out[v.mv_size] = '\0';
    }
    mdb_txn_abort(txn);
    return rc;
}

static void response_waits_for_commit(void **state)
{
    dort_rt_t *rt = *state;
    dort__writer_set_hold(&rt->writer, 1);
    th_result_t r;
    assert_int_equal(th_send(rt, "KV", "a", "POST", "/", "put x 1", &r), 0);
    th_run_for(rt, 200);
    assert_false(r.done); /* the commit cannot have happened */
    char v[64];
    assert_int_equal(committed_value(rt, "a", "x", v), MDB_NOTFOUND);
    dort__writer_set_hold(&rt->writer, 0);
    th_run_for(rt, 200);
    assert_true(r.done);
    assert_int_equal(r.status, 0);
    assert_int_equal(committed_value(rt, "a", "x", v), 0);
    assert_string_equal(v, "1");
}

static void read_only_turn_of_other_actor_not_delayed(void **state)
{
    dort_rt_t *rt = *state;
    char out[64];
    assert_int_equal(th_kv(rt, "b", "put y 2", out, sizeof out), 0);
    dort__writer_set_hold(&rt->writer, 1);
    th_result_t w, rd;
    assert_int_equal(th_send(rt, "KV", "a", "POST", "/", "put x 1", &w), 0);
    th_run_for(rt, 50);
    assert_int_equal(th_send(rt, "KV", "b", "POST", "/", "get y", &rd), 0);
    th_run_for(rt, 100);
    assert_true(rd.done); /* b only read: a's pending commit is not its business */
    assert_string_equal(rd.body, "2\n");
    assert_false(w.done);
    dort__writer_set_hold(&rt->writer, 0);
    th_run_for(rt, 200);
    assert_true(w.done);
}

static void read_after_own_write_waits(void **state)
{
    dort_rt_t *rt = *state;
    dort__writer_set_hold(&rt->writer, 1);
    th_result_t w, rd;
    assert_int_equal(th_send(rt, "KV", "a", "POST", "/", "put x 7", &w), 0);
    th_run_for(rt, 50);
    /* This turn only reads, but what it reads is not durable yet. */
    assert_int_equal(th_send(rt, "KV", "a", "POST", "/", "get x", &rd), 0);
    th_run_for(rt, 100);
    assert_false(rd.done);
    dort__writer_set_hold(&rt->writer, 0);
    th_run_for(rt, 200);
    assert_true(w.done && rd.done);
    assert_string_equal(rd.body, "7\n");
    assert_true(w.order < rd.order); /* answers leave in turn order */
}

static void outgoing_message_waits_for_commit(void **state)
{
    dort_rt_t *rt = *state;
    pings_received = 0;
    dort__writer_set_hold(&rt->writer, 1);
    th_result_t r;
    assert_int_equal(th_send(rt, "Sender", "s", "POST", "/", NULL, &r), 0);
    th_run_for(rt, 200);
    assert_int_equal(pings_received, 0);
    assert_false(r.done);
    dort__writer_set_hold(&rt->writer, 0);
    th_run_for(rt, 200);
    assert_int_equal(pings_received, 1);
    assert_true(r.done);
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_true(st.outputs_held >= 1);
}

static void read_only_with_nothing_pending_is_immediate(void **state)
{
    dort_rt_t *rt = *state;
    char out[64];
    assert_int_equal(th_kv(rt, "c", "put z 3", out, sizeof out), 0);
    dort_rt_stats_t before, after;
    dort_rt_stats(rt, &before);
    dort__writer_set_hold(&rt->writer, 1);
    th_result_t r;
    assert_int_equal(th_send(rt, "KV", "c", "POST", "/", "get z", &r), 0);
    th_run_for(rt, 100);
    assert_true(r.done);
    assert_string_equal(r.body, "3\n");
    dort_rt_stats(rt, &after);
    assert_int_equal(after.outputs_held, before.outputs_held);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(response_waits_for_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(read_only_turn_of_other_actor_not_delayed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(read_after_own_write_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(outgoing_message_waits_for_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(read_only_with_nothing_pending_is_immediate, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
