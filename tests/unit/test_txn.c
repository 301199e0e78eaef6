/* test_txn.c - explicit storage transactions inside a turn, and what a
 * failing turn leaves behind.
 *
 * A transaction is a layer on top of the turn's writes: rollback must drop
 * exactly its writes (keys, delete_all and the alarm), commit must fold them
 * into the layer below, and transactions nest. A transaction still open when
 * the turn ends fails the turn (DORT_ETXN inside; the caller of the fetch
 * gets DORT_EHANDLER), and a failed turn loses all of its writes but none of
 * the earlier turns' writes, wherever those are on their way to LMDB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "kv_actor.h"
#include "rt_internal.h"
#include "th.h"

/* ---- a class for the C-only parts: the transaction() wrapper ---- */

enum { W_COMMIT, W_FAIL, W_NESTED, W_NULLFN, W_AFTER_FAIL, W_INNER_FAIL, W_COUNT };

static int wrap_results[W_COUNT];
static int wrap_fn_calls;
static dort_actor_t *saved_self; /* a stale pointer for the outside-a-turn checks */

static int put_str(dort_actor_t *self, const char *k, const char *v)
{
    return dort_storage_put(self, k, strlen(k), v, strlen(v));
}

static int fn_put(dort_actor_t *self, void *data)
{
    wrap_fn_calls++;
    return put_str(self, data, "kept");
}

static int fn_put_then_fail(dort_actor_t *self, void *data)
{
    wrap_fn_calls++;
    put_str(self, data, "dropped");
    dort_storage_delete_all(self); /* also dropped */
    return 7;
}

static int fn_nested(dort_actor_t *self, void *data)
{
    (void)data;
    wrap_fn_calls++;
    int rc = put_str(self, "outer", "kept");
    if (rc == 0)
        wrap_results[W_INNER_FAIL] = dort_storage_transaction(self, fn_put_then_fail, "inner");
    return rc;
}

static int wrap_fetch(dort_actor_t *self, dort_call_t *call)
{
    saved_self = self;
    if (th_path_is(call, "/run")) {
        wrap_results[W_COMMIT] = dort_storage_transaction(self, fn_put, "committed");
        wrap_results[W_FAIL] = dort_storage_transaction(self, fn_put_then_fail, "rolled");
        wrap_results[W_NESTED] = dort_storage_transaction(self, fn_nested, NULL);
        wrap_results[W_NULLFN] = dort_storage_transaction(self, NULL, NULL);
        /* The wrapper must leave no transaction open behind it, failed or
         * not: a plain commit now has nothing to commit. */
        wrap_results[W_AFTER_FAIL] = dort_storage_txn_commit(self);
        return dort_call_respond_body(call, 200, NULL, NULL, 0);
    }
    /* "/read": report the keys the run left, one line each. */
    static const char *const keys[] = {"committed", "rolled", "outer", "inner"};
    char out[256];
    size_t len = 0;
    for (size_t i = 0; i < 4; i++) {
        dort_slice_t v;
        int rc = dort_storage_get(self, keys[i], strlen(keys[i]), &v);
        len += (size_t)snprintf(out + len, sizeof out - len, "%s=%.*s\n", keys[i],
                                rc == 0 ? (int)v.len : 6, rc == 0 ? v.ptr : "(none)");
    }
    return dort_call_respond_body(call, 200, NULL, out, len);
}

static const dort_class_t wrap_class = {.name = "Wrap", .fetch = wrap_fetch};

static const dort_class_t *const classes[] = {&th_kv_class, &wrap_class, NULL};

/* Some waits here are for a turn to have run, not for an answer (answers
 * are held while the writer is parked), and nothing then stops the loop
 * iteration: th_run_until's UV_RUN_ONCE sleeps in poll until the next
 * timer, by default the 1 s sweep. A short exclusive timeout makes the
 * sweep tick every 10 ms; these actors never hold exclusivity, so nothing
 * else changes. */
static void options(dort_rt_options_t *o, const char *dir)
{
    th_options(o, dir);
    o->exclusive_timeout_ms = 40;
    o->idle_timeout_ms = -1; /* saved_self must stay a live actor */
}

static int setup(void **state)
{
    dort_rt_options_t o;
    options(&o, NULL);
    *state = th_start(&o, classes);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    th_stop(*state);
    return 0;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs a script and asserts the whole output. */
static void kv_expect(dort_rt_t *rt, const char *name, const char *script, const char *want)
{
    char out[4096];
    int rc = th_kv(rt, name, script, out, sizeof out);
    if (rc != 0)
        print_error("script for %s failed with %s:\n%s\n", name, dort_err_name(rc), script);
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
}

static uint64_t turns_failed(dort_rt_t *rt)
{
    dort_rt_stats_t s;
    dort_rt_stats(rt, &s);
    return s.turns_failed;
}

/* ---- rollback and commit ---- */

static void rollback_discards_exactly_its_writes(void **state)
{
    dort_rt_t *rt = *state;
    kv_expect(rt, "rb", "put c old\nput d keep", "");
    kv_expect(rt, "rb",
              "put a 1\n"
              "begin\n"
              "put b 2\nput a 9\ndel c\nget a\nget b\nget c\nget d\n"
              "rollback\n"
              "get a\nget b\nget c\nget d\n"
              "put e 5",
              /* inside: own writes and older ones visible */
              "deleted\n9\n2\n(none)\nkeep\n"
              /* after: the turn's write before begin and older keys */
              "1\n(none)\nold\nkeep\n");
    /* And the same holds once committed. */
    kv_expect(rt, "rb", "list", "a=1\nc=old\nd=keep\ne=5\n");
}

static void rollback_of_delete_all(void **state)
{
    dort_rt_t *rt = *state;
    kv_expect(rt, "da", "put x 1\nput y 2", "");
    kv_expect(rt, "da",
              "put z 3\n"
              "begin\ndelall\nlist\nget x\nput w 4\nlist\nrollback\n"
              "list",
              "(none)\nw=4\nx=1\ny=2\nz=3\n");
    kv_expect(rt, "da", "list", "x=1\ny=2\nz=3\n");
    /* Committed, the same delete_all wipes everything older, keeps later. */
    kv_expect(rt, "da", "begin\ndelall\nput w 4\ncommit\nlist", "w=4\n");
    kv_expect(rt, "da", "list\nget x", "w=4\n(none)\n");
}

static void rollback_of_alarm_set_and_delete(void **state)
{
    dort_rt_t *rt = *state;
    int64_t t1 = wall_ms() + 86400000, t2 = t1 + 1000;
    char script[512], want[256];

    /* Set inside a transaction, rolled back: never set. */
    snprintf(script, sizeof script, "begin\nsetalarm %lld\ngetalarm\nrollback\ngetalarm",
             (long long)t1);
    snprintf(want, sizeof want, "%lld\n(none)\n", (long long)t1);
    kv_expect(rt, "al", script, want);
    kv_expect(rt, "al", "getalarm", "(none)\n");

    /* A committed alarm survives a rolled-back delete and a rolled-back
     * replacement. */
    snprintf(script, sizeof script, "setalarm %lld", (long long)t1);
    kv_expect(rt, "al", script, "");
    snprintf(script, sizeof script,
             "begin\ndelalarm\ngetalarm\nrollback\ngetalarm\n"
             "begin\nsetalarm %lld\nrollback\ngetalarm",
             (long long)t2);
    snprintf(want, sizeof want, "(none)\n%lld\n%lld\n", (long long)t1, (long long)t1);
    kv_expect(rt, "al", script, want);
    snprintf(want, sizeof want, "%lld\n", (long long)t1);
    kv_expect(rt, "al", "getalarm", want);

    /* delete_all rolled back does not touch the alarm either way. */
    snprintf(script, sizeof script, "begin\ndelall\nrollback\ngetalarm");
    kv_expect(rt, "al", script, want);

    /* Committed: the replacement and then the delete stick. */
    snprintf(script, sizeof script, "begin\nsetalarm %lld\ncommit", (long long)t2);
    kv_expect(rt, "al", script, "");
    snprintf(want, sizeof want, "%lld\n", (long long)t2);
    kv_expect(rt, "al", "getalarm", want);
    kv_expect(rt, "al", "begin\ndelalarm\ncommit", "");
    kv_expect(rt, "al", "getalarm", "(none)\n");
}

static void commit_keeps_writes(void **state)
{
    dort_rt_t *rt = *state;
    kv_expect(rt, "cm", "put a old\nput gone x", "");
    kv_expect(rt, "cm", "begin\nput a new\nput b 2\ndel gone\ncommit\nget a\nget b\nget gone",
              "deleted\nnew\n2\n(none)\n");
    kv_expect(rt, "cm", "list", "a=new\nb=2\n");
}

static void nesting(void **state)
{
    dort_rt_t *rt = *state;
    kv_expect(rt, "nest",
              "put a 0\n"
              "begin\nput a 1\nput b 1\n"
              "begin\nput a 2\nput c 2\nget a\nrollback\n"
              "get a\nget c\n"
              "begin\nput d 3\ncommit\n"
              "commit\n"
              "get a\nget b\nget c\nget d",
              "2\n1\n(none)\n1\n1\n(none)\n3\n");
    kv_expect(rt, "nest", "list", "a=1\nb=1\nd=3\n");

    /* An inner commit is undone by an outer rollback. */
    kv_expect(rt, "nest", "begin\nbegin\nput e 5\ncommit\nget e\nrollback\nget e", "5\n(none)\n");
    /* Inner delete_all rolled back restores what the outer one wrote. */
    kv_expect(rt, "nest", "begin\nput f 6\nbegin\ndelall\nget f\nrollback\nget f\ncommit\nlist",
              "(none)\n6\na=1\nb=1\nd=3\nf=6\n");
    kv_expect(rt, "nest", "list", "a=1\nb=1\nd=3\nf=6\n");
}

static void nesting_depth_limit(void **state)
{
    dort_rt_t *rt = *state;
    /* The runtime keeps a fixed stack of layers: going deeper must fail
     * cleanly with DORT_ETXN and leave the open ones intact. */
    char script[2048] = "";
    size_t len = 0;
    for (int i = 0; i < DORT__MAX_TXN_DEPTH; i++)
        len += (size_t)snprintf(script + len, sizeof script - len, "begin\nput k%d v\n", i);
    len += (size_t)snprintf(script + len, sizeof script - len, "begin\n");
    len += (size_t)snprintf(script + len, sizeof script - len, "rollback\nget k%d\n",
                            DORT__MAX_TXN_DEPTH - 1);
    for (int i = 1; i < DORT__MAX_TXN_DEPTH; i++)
        len += (size_t)snprintf(script + len, sizeof script - len, "commit\n");
    len += (size_t)snprintf(script + len, sizeof script - len, "list");
    char want[512];
    size_t wl = (size_t)snprintf(want, sizeof want, "ERR DORT_ETXN\n(none)\n");
    for (int i = 0; i < DORT__MAX_TXN_DEPTH - 1; i++)
        wl += (size_t)snprintf(want + wl, sizeof want - wl, "k%d=v\n", i);
    kv_expect(rt, "deep", script, want);
}

/* ---- misuse ---- */

static void commit_or_rollback_without_begin(void **state)
{
    dort_rt_t *rt = *state;
    uint64_t failed = turns_failed(rt);
    /* Refused with DORT_ETXN; the turn itself goes on and succeeds. */
    kv_expect(rt, "nobegin", "commit\nrollback\nput a 1\nbegin\ncommit\ncommit\nget a",
              "ERR DORT_ETXN\nERR DORT_ETXN\nERR DORT_ETXN\n1\n");
    kv_expect(rt, "nobegin", "get a", "1\n");
    assert_int_equal(turns_failed(rt), failed);
}

static void txn_left_open_fails_turn(void **state)
{
    dort_rt_t *rt = *state;
    kv_expect(rt, "open", "put early 1", "");
    uint64_t failed = turns_failed(rt);
    char out[256];
    /* The script responds 200 before returning 0, yet the turn fails: the
     * answer is dropped with its writes, also those made before begin. */
    assert_int_equal(
        th_kv(rt, "open", "put before 2\ndelall\nbegin\nput inside 3", out, sizeof out),
        DORT_EHANDLER);
    assert_int_equal(turns_failed(rt), failed + 1);
    kv_expect(rt, "open", "get before\nget inside\nlist", "(none)\n(none)\nearly=1\n");
    /* A committed inner transaction with the outer one left open: same. */
    assert_int_equal(th_kv(rt, "open",
                           "begin\nput x 1\nbegin\nput y 2\ncommit\nsetalarm 99999999999999", out,
                           sizeof out),
                     DORT_EHANDLER);
    kv_expect(rt, "open", "list\ngetalarm", "early=1\n(none)\n");
    /* The next turn starts with no transaction open. */
    kv_expect(rt, "open", "commit", "ERR DORT_ETXN\n");
}

static void wrapper_semantics(void **state)
{
    dort_rt_t *rt = *state;
    th_result_t r;
    memset(wrap_results, 0x55, sizeof wrap_results);
    wrap_fn_calls = 0;
    assert_int_equal(th_fetch(rt, "Wrap", "w", "POST", "/run", NULL, &r), 0);
    assert_int_equal(r.http_status, 200);
    assert_int_equal(wrap_results[W_COMMIT], 0);
    assert_int_equal(wrap_results[W_FAIL], 7); /* the closure's own value */
    assert_int_equal(wrap_results[W_NESTED], 0);
    assert_int_equal(wrap_results[W_INNER_FAIL], 7);
    assert_int_equal(wrap_results[W_NULLFN], DORT_EINVAL);
    assert_int_equal(wrap_results[W_AFTER_FAIL], DORT_ETXN);
    assert_int_equal(wrap_fn_calls, 4);
    assert_int_equal(th_fetch(rt, "Wrap", "w", "GET", "/read", NULL, &r), 0);
    assert_string_equal(r.body, "committed=kept\nrolled=(none)\nouter=kept\ninner=(none)\n");

    /* Outside the actor's turn nothing works, and the closure never runs. */
    assert_non_null(saved_self);
    assert_int_equal(dort_storage_txn_begin(saved_self), DORT_ENOTINTURN);
    assert_int_equal(dort_storage_txn_commit(saved_self), DORT_ENOTINTURN);
    assert_int_equal(dort_storage_txn_rollback(saved_self), DORT_ENOTINTURN);
    wrap_fn_calls = 0;
    assert_int_equal(dort_storage_transaction(saved_self, fn_put, "late"), DORT_ENOTINTURN);
    assert_int_equal(wrap_fn_calls, 0);
    assert_int_equal(dort_storage_txn_begin(NULL), DORT_EINVAL);
    assert_int_equal(dort_storage_txn_commit(NULL), DORT_EINVAL);
    assert_int_equal(dort_storage_txn_rollback(NULL), DORT_EINVAL);
}

/* ---- failing turns ---- */

static void failed_turn_drops_only_its_writes(void **state)
{
    dort_rt_t *rt = *state;
    kv_expect(rt, "f", "put a 1\nput keep k", "");
    char out[256];
    int64_t t = wall_ms() + 86400000;
    char script[256];
    snprintf(script, sizeof script, "put a 2\nput b 2\ndel keep\nsetalarm %lld\ndelall\nfail",
             (long long)t);
    assert_int_equal(th_kv(rt, "f", script, out, sizeof out), DORT_EHANDLER);
    kv_expect(rt, "f", "list\ngetalarm", "a=1\nkeep=k\n(none)\n");
}

static int all_done(void *data)
{
    th_result_t *r = data;
    for (int i = 0; i < 4; i++)
        if (!r[i].done)
            return 0;
    return 1;
}

typedef struct turns_cond_s {
    dort_rt_t *rt;
    uint64_t turns; /* stats.turns to reach */
} turns_cond_t;

static int turns_reached(void *data)
{
    turns_cond_t *c = data;
    return c->rt->stats.turns >= c->turns;
}

static dort_actor_t *find_actor(dort_rt_t *rt, const char *binding, const char *name)
{
    dort_ns_t *ns = dort_rt_namespace(rt, binding);
    dort_id_t id;
    assert_int_equal(dort_id_from_name(ns, name, strlen(name), &id), 0);
    return dort__table_find(&rt->actors, ns, &id);
}

/* The earlier turns' writes are on their way to LMDB (one batch held at
 * the writer, one sealed in the open batch) when a later turn fails: the
 * failure must drop only the later turn's layer. */
static void failed_turn_with_writes_in_flight(void **state)
{
    dort_rt_t *rt = *state;
    kv_expect(rt, "fl", "put base 0", "");
    th_result_t r[4];
    turns_cond_t c = {rt, rt->stats.turns};
    dort__writer_set_hold(&rt->writer, 1);
    assert_int_equal(th_send(rt, "KV", "fl", "POST", "/", "put a 1", &r[0]), 0);
    c.turns++;
    assert_true(th_run_until(rt, turns_reached, &c, 5000));
    assert_int_equal(th_send(rt, "KV", "fl", "POST", "/", "put b 2", &r[1]), 0);
    c.turns++;
    assert_true(th_run_until(rt, turns_reached, &c, 5000));
    /* The stages this test is about: a batch at the writer, one open. */
    dort_actor_t *a = find_actor(rt, "KV", "fl");
    assert_non_null(a);
    assert_non_null(a->inflight_ws);
    assert_non_null(a->open_ws);
    assert_int_equal(
        th_send(rt, "KV", "fl", "POST", "/", "put a 9\nput b 9\nput c 9\ndelall\nfail", &r[2]), 0);
    assert_int_equal(th_send(rt, "KV", "fl", "POST", "/", "get a\nget b\nget c\nget base", &r[3]),
                     0);
    c.turns += 2;
    assert_true(th_run_until(rt, turns_reached, &c, 5000));
    /* The failure is known at once; the answers wait for the commits. */
    assert_true(r[2].done);
    assert_int_equal(r[2].status, DORT_EHANDLER);
    assert_false(r[0].done);
    assert_false(r[3].done);
    dort__writer_set_hold(&rt->writer, 0);
    assert_true(th_run_until(rt, all_done, r, 10000));
    assert_int_equal(r[0].status, 0);
    assert_int_equal(r[1].status, 0);
    assert_int_equal(r[3].status, 0);
    assert_string_equal(r[3].body, "1\n2\n(none)\n0\n");
    kv_expect(rt, "fl", "list", "a=1\nb=2\nbase=0\n");
}

static void committed_and_rolled_back_survive_restart(void **state)
{
    (void)state;
    char *dir = th_mkdtemp();
    assert_non_null(dir);
    dort_rt_options_t o;
    options(&o, dir);
    static const dort_class_t *const cls[] = {&th_kv_class, NULL};
    dort_rt_t *rt = th_start(&o, cls);
    assert_non_null(rt);
    kv_expect(rt, "p",
              "begin\nput kept 1\ncommit\nbegin\nput gone 2\nrollback\n"
              "begin\nput outer 3\nbegin\nput inner 4\nrollback\ncommit",
              "");
    char out[64];
    assert_int_equal(th_kv(rt, "p", "put never 5\nbegin", out, sizeof out), DORT_EHANDLER);
    th_stop(rt);
    rt = th_start(&o, cls);
    assert_non_null(rt);
    kv_expect(rt, "p", "list", "kept=1\nouter=3\n");
    th_stop(rt);
    th_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rollback_discards_exactly_its_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(rollback_of_delete_all, setup, teardown),
        cmocka_unit_test_setup_teardown(rollback_of_alarm_set_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(commit_keeps_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(nesting, setup, teardown),
        cmocka_unit_test_setup_teardown(nesting_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(commit_or_rollback_without_begin, setup, teardown),
        cmocka_unit_test_setup_teardown(txn_left_open_fails_turn, setup, teardown),
        cmocka_unit_test_setup_teardown(wrapper_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_turn_drops_only_its_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_turn_with_writes_in_flight, setup, teardown),
        cmocka_unit_test(committed_and_rolled_back_survive_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
