/* test_alarm.c - the actor alarm: fired at or after its time and soon after,
 * replaced, deleted, read back (also from inside its handler), retried with
 * exponential backoff and dropped after the last retry, committed atomically
 * with the turn that set it, and delivered to many actors or to an evicted
 * one. Times are Unix ms on the wall clock, as the alarm API uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "kv_actor.h"
#include "rt_internal.h"
#include "th.h"

/* How late an alarm may run on a loaded machine (or under sanitizers). */
#define LATE_MS 500
#define MAX_RUNS 4096

/* ---- PROBE: the KV script actor with an alarm handler that records ---- */

typedef struct run_s {
    int64_t wall_ms;      /* when the handler ran */
    int64_t scheduled_ms; /* what it was told */
    uint32_t retry;
    int get_rc;       /* dort_storage_get_alarm on entry */
    int get_after_rc; /* ... after re-arming (when it re-armed) */
    int64_t get_after_ms;
} run_t;

static struct {
    run_t runs[MAX_RUNS];
    int nruns;
    int fail;         /* while > 0 the handler fails (and decrements) */
    int64_t rearm_ms; /* >= 0: the next run sets a new alarm at this time */
} P;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_until(int64_t wall_ms)
{
    for (int64_t d = wall_ms - now_ms(); d > 0; d = wall_ms - now_ms()) {
        struct timespec ts = {(time_t)(d / 1000), (long)(d % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int probe_fetch(dort_actor_t *self, dort_call_t *call)
{
    return th_kv_class.fetch(self, call);
}

static int probe_alarm(dort_actor_t *self, const dort_alarm_info_t *info)
{
    static run_t overflow;
    run_t *r = P.nruns < MAX_RUNS ? &P.runs[P.nruns] : &overflow;
    P.nruns++;
    memset(r, 0, sizeof *r);
    r->wall_ms = now_ms();
    r->scheduled_ms = info->scheduled_ms;
    r->retry = info->retry_count;
    int64_t when;
    r->get_rc = dort_storage_get_alarm(self, &when);
    /* A per-actor count of successful runs ("fired") and a key per attempt
     * ("r<retry>"): a failing run's writes must vanish, a successful run's
     * must persist. */
    dort_slice_t v;
    char buf[32];
    int fired = 0;
    if (dort_storage_get(self, "fired", 5, &v) == 0 && v.len < sizeof buf) {
        memcpy(buf, v.ptr, v.len);
        buf[v.len] = '\0';
        fired = atoi(buf);
    }
    snprintf(buf, sizeof buf, "%d", fired + 1);
    if (dort_storage_put(self, "fired", 5, buf, strlen(buf)) != 0)
        return -1;
    snprintf(buf, sizeof buf, "r%u", info->retry_count);
    if (dort_storage_put(self, buf, strlen(buf), "1", 1) != 0)
        return -1;
    if (P.rearm_ms >= 0) {
        if (dort_storage_set_alarm(self, P.rearm_ms) != 0)
            return -1;
        P.rearm_ms = -1;
        r->get_after_rc = dort_storage_get_alarm(self, &r->get_after_ms);
    }
    if (P.fail > 0) {
        P.fail--;
        return -1;
    }
    return 0;
}

static const dort_class_t probe_class = {
    .name = "PROBE",
    .fetch = probe_fetch,
    .alarm = probe_alarm,
};

static const dort_class_t *const classes[] = {&th_kv_class, &probe_class, NULL};

/* th_run_until tests its condition only when uv_run returns, and a turn
 * that answers without writing answers in the loop's prepare phase, after
 * which uv_run may sleep in poll until the next timer (up to the sweep
 * interval, 1 s). A 1 ms tick bounds that wait, so reads do not distort the
 * timings measured here. */
static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static int run_until(dort_rt_t *rt, int (*cond)(void *data), void *data, int timeout_ms)
{
    uv_timer_t tick;
    uv_timer_init(dort_rt_loop(rt), &tick);
    uv_timer_start(&tick, on_tick, 1, 1);
    int ok = th_run_until(rt, cond, data, timeout_ms);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(dort_rt_loop(rt), UV_RUN_NOWAIT);
    return ok;
}

static int result_done(void *data)
{
    return ((th_result_t *)data)->done;
}

/* Runs a KV script (printf-style) on actor `name` of `binding`; returns the
 * request status and the body in `out` (may be NULL). */
static int vscript(dort_rt_t *rt, const char *binding, const char *name, char *out, size_t cap,
                   const char *fmt, va_list ap)
{
    char script[512];
    vsnprintf(script, sizeof script, fmt, ap);
    th_result_t r;
    int rc = th_send(rt, binding, name, "POST", "/", script, &r);
    if (rc == 0)
        rc = run_until(rt, result_done, &r, 10000) ? r.status : DORT_ETIMEDOUT;
    if (out != NULL && cap > 0) {
        size_t n = rc == 0 ? r.body_len : 0;
        n = n < cap - 1 ? n : cap - 1;
        memcpy(out, r.body, n);
        out[n] = '\0';
    }
    return rc;
}

static int probe(dort_rt_t *rt, const char *name, char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vscript(rt, "PROBE", name, out, cap, fmt, ap);
    va_end(ap);
    return rc;
}

static int kv(dort_rt_t *rt, const char *name, char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vscript(rt, "KV", name, out, cap, fmt, ap);
    va_end(ap);
    return rc;
}

static int runs_at_least(void *data)
{
    return P.nruns >= *(int *)data;
}

static int wait_runs(dort_rt_t *rt, int n, int timeout_ms)
{
    return run_until(rt, runs_at_least, &n, timeout_ms) && P.nruns == n;
}

/* Entries in the schedule index and in the per-actor alarm records: both
 * must be empty once every alarm has fired for good or been deleted. */
static void alarm_entries(dort_rt_t *rt, size_t *sched, size_t *records)
{
    MDB_txn *txn;
    MDB_stat s1, s2;
    assert_int_equal(mdb_txn_begin(rt->store.env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_stat(txn, rt->store.alarms, &s1), 0);
    assert_int_equal(mdb_stat(txn, rt->store.actor_alarm, &s2), 0);
    mdb_txn_abort(txn);
    *sched = s1.ms_entries;
    *records = s2.ms_entries;
}

static void assert_no_alarm_entries(dort_rt_t *rt)
{
    size_t sched, records;
    alarm_entries(rt, &sched, &records);
    assert_int_equal(sched, 0);
    assert_int_equal(records, 0);
}

static dort_rt_t *start(int64_t retry_base_ms, double jitter, uint32_t max_retries, int64_t idle_ms)
{
    dort_rt_options_t o;
    th_options(&o, NULL);
    o.alarm_retry_base_ms = retry_base_ms;
    o.alarm_retry_jitter = jitter;
    o.alarm_max_retries = max_retries;
    o.idle_timeout_ms = idle_ms;
    dort_rt_t *rt = th_start(&o, classes);
    assert_non_null(rt);
    return rt;
}

static int setup(void **state)
{
    memset(&P, 0, sizeof P);
    P.rearm_ms = -1;
    th_kv_inits = th_kv_evicts = th_kv_alarms = th_kv_alarm_fail = 0;
    th_kv_last_retry = 0;
    th_kv_last_alarm_ms = 0;
    *state = NULL;
    return 0;
}

/* Stops the runtime even when an assertion ended the test early. */
static int teardown(void **state)
{
    th_stop(*state);
    return 0;
}

/* ---- timing ---- */

static void fires_at_or_after_its_time(void **state)
{
    dort_rt_t *rt = *state = start(2000, 0.25, 6, 10000);
    /* Several offsets 40 ms apart, one actor each: the loop's cached time
     * lags the wall clock, so an early timer is a real risk, and a pass that
     * fires one alarm must not take a neighbour that is only nearly due.
     * Every run must be at or after its time, and not much later. */
    static const int offsets[] = {60, 100, 140, 180, 220, 260};
    const int n = (int)(sizeof offsets / sizeof offsets[0]);
    int64_t base = now_ms();
    char out[256], name[16];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "t%d", i);
        assert_int_equal(probe(rt, name, out, sizeof out, "setalarm %lld\ngetalarm",
                               (long long)(base + offsets[i])),
                         0);
        char want[32];
        snprintf(want, sizeof want, "%lld\n", (long long)(base + offsets[i]));
        assert_string_equal(out, want);
    }
    assert_true(wait_runs(rt, n, 260 + 3 * LATE_MS));
    for (int i = 0; i < n; i++) {
        const run_t *r = &P.runs[i];
        /* Fired in time order, each at or after its time. */
        assert_int_equal(r->scheduled_ms, base + offsets[i]);
        assert_true(r->wall_ms >= r->scheduled_ms);
        assert_true(r->wall_ms - r->scheduled_ms <= LATE_MS);
        assert_int_equal(r->retry, 0);
    }
    th_run_for(rt, 100);
    assert_int_equal(P.nruns, n);
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_int_equal(st.alarms_fired, n);
    assert_int_equal(st.alarms_retried, 0);
    /* A successful run deletes the alarm. */
    assert_int_equal(probe(rt, "t0", out, sizeof out, "getalarm"), 0);
    assert_string_equal(out, "(none)\n");
    assert_no_alarm_entries(rt);
}

static void past_time_fires_at_once(void **state)
{
    dort_rt_t *rt = *state = start(2000, 0.25, 6, 10000);
    int64_t past = now_ms() - 60000;
    int64_t t0 = now_ms();
    assert_int_equal(probe(rt, "p", NULL, 0, "setalarm %lld", (long long)past), 0);
    assert_true(wait_runs(rt, 1, 2000));
    assert_int_equal(P.runs[0].scheduled_ms, past);
    assert_true(P.runs[0].wall_ms - t0 <= LATE_MS);
    /* The epoch itself is a past time too. */
    t0 = now_ms();
    assert_int_equal(probe(rt, "p", NULL, 0, "setalarm 1"), 0);
    assert_true(wait_runs(rt, 2, 2000));
    assert_int_equal(P.runs[1].scheduled_ms, 1);
    assert_true(P.runs[1].wall_ms - t0 <= LATE_MS);
}

/* ---- replace, delete, read ---- */

static void new_alarm_replaces_old(void **state)
{
    dort_rt_t *rt = *state = start(2000, 0.25, 6, 10000);
    char out[128];
    /* Later replaces earlier: the earlier time passes without a run. */
    int64_t t1 = now_ms() + 100, t2 = now_ms() + 300;
    assert_int_equal(probe(rt, "a", NULL, 0, "setalarm %lld", (long long)t1), 0);
    assert_int_equal(probe(rt, "a", out, sizeof out, "setalarm %lld\ngetalarm", (long long)t2), 0);
    char want[32];
    snprintf(want, sizeof want, "%lld\n", (long long)t2);
    assert_string_equal(out, want);
    /* Earlier replaces later: the timer armed for 60 s must be re-armed. */
    int64_t t3 = now_ms() + 60000, t4 = now_ms() + 150;
    assert_int_equal(probe(rt, "b", NULL, 0, "setalarm %lld", (long long)t3), 0);
    assert_int_equal(probe(rt, "b", NULL, 0, "setalarm %lld", (long long)t4), 0);
    /* Twice in one turn: only the last counts. */
    int64_t t5 = now_ms() + 50, t6 = now_ms() + 200;
    assert_int_equal(
        probe(rt, "c", NULL, 0, "setalarm %lld\nsetalarm %lld", (long long)t5, (long long)t6), 0);
    assert_true(wait_runs(rt, 3, 300 + 2 * LATE_MS));
    th_run_for(rt, 150);
    assert_int_equal(P.nruns, 3);
    /* In time order: b (t4), c (t6), a (t2). */
    assert_int_equal(P.runs[0].scheduled_ms, t4);
    assert_int_equal(P.runs[1].scheduled_ms, t6);
    assert_int_equal(P.runs[2].scheduled_ms, t2);
    for (int i = 0; i < 3; i++) {
        assert_true(P.runs[i].wall_ms >= P.runs[i].scheduled_ms);
        assert_true(P.runs[i].wall_ms - P.runs[i].scheduled_ms <= LATE_MS);
    }
    assert_int_equal(probe(rt, "b", out, sizeof out, "getalarm"), 0);
    assert_string_equal(out, "(none)\n");
    assert_no_alarm_entries(rt);
}

static void delete_cancels(void **state)
{
    dort_rt_t *rt = *state = start(2000, 0.25, 6, 10000);
    char out[128];
    int64_t t = now_ms() + 100;
    assert_int_equal(probe(rt, "d", NULL, 0, "setalarm %lld", (long long)t), 0);
    assert_int_equal(probe(rt, "d", out, sizeof out, "delalarm\ngetalarm"), 0);
    assert_string_equal(out, "(none)\n");
    /* Set and deleted in one turn: nothing is ever scheduled. */
    assert_int_equal(probe(rt, "e", out, sizeof out, "setalarm %lld\ndelalarm\ngetalarm",
                           (long long)(now_ms() - 1000)),
                     0);
    assert_string_equal(out, "(none)\n");
    /* Deleting when none is set is fine. */
    assert_int_equal(probe(rt, "f", out, sizeof out, "delalarm\ngetalarm"), 0);
    assert_string_equal(out, "(none)\n");
    th_run_for(rt, 100 + 250);
    assert_int_equal(P.nruns, 0);
    assert_int_equal(probe(rt, "d", out, sizeof out, "getalarm"), 0);
    assert_string_equal(out, "(none)\n");
    assert_no_alarm_entries(rt);
}

/* Past the due time, a request to the actor is queued, and the alarm timer
 * fires before the scheduler runs that request (libuv runs timers before
 * the prepare phase that drives dort's scheduler). The timer callback is
 * called by hand here, so the order depends neither on the libuv version nor
 * on which of dort's timers happens to be due first. The alarm is then
 * queued behind the request. */
static void queue_then_fire(dort_rt_t *rt, const char *name, const char *script, th_result_t *r)
{
    assert_int_equal(th_send(rt, "PROBE", name, "POST", "/", script, r), 0);
    dort__alarm_on_timer(&rt->alarm_timer);
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_int_equal(st.alarms_fired, 1); /* the race is set up */
    assert_int_equal(P.nruns, 0);
}

/* The request ahead of the queued alarm deletes it: the handler must not
 * run for a deleted alarm. */
static void delete_after_due_before_handler_cancels(void **state)
{
    dort_rt_t *rt = *state = start(2000, 0.25, 6, 10000);
    int64_t t = now_ms() + 100;
    assert_int_equal(probe(rt, "race", NULL, 0, "setalarm %lld", (long long)t), 0);
    sleep_until(t + 30);
    th_result_t r;
    queue_then_fire(rt, "race", "delalarm\ngetalarm", &r);
    assert_true(run_until(rt, result_done, &r, 2000));
    th_run_for(rt, 300);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.body, "(none)\n");
    assert_int_equal(P.nruns, 0);
    assert_no_alarm_entries(rt);
}

/* The request ahead of the queued alarm replaces it and then holds
 * exclusivity (until the exclusivity timeout resets the actor), so the new
 * alarm is committed while the stale one still waits in the mailbox. Only
 * the new alarm may run, once, at its time. */
static void replace_while_queued_fires_only_new(void **state)
{
    dort_rt_options_t o;
    th_options(&o, NULL);
    o.exclusive_timeout_ms = 100;
    dort_rt_t *rt = *state = th_start(&o, classes);
    assert_non_null(rt);
    int64_t t1 = now_ms() + 100;
    assert_int_equal(probe(rt, "rq", NULL, 0, "setalarm %lld", (long long)t1), 0);
    sleep_until(t1 + 30);
    int64_t t2 = now_ms() + 400;
    char script[128];
    snprintf(script, sizeof script, "setalarm %lld\nblock", (long long)t2);
    th_result_t r;
    queue_then_fire(rt, "rq", script, &r);
    assert_true(run_until(rt, result_done, &r, 2000));
    assert_int_equal(r.status, 0);
    /* Well past the new time: the stale alarm must not have run, and the
     * new one must not have been lost from the schedule. */
    th_run_for(rt, (int)(t2 + LATE_MS - now_ms()));
    assert_int_equal(P.nruns, 1);
    assert_int_equal(P.runs[0].scheduled_ms, t2);
    assert_true(P.runs[0].wall_ms >= t2);
    assert_no_alarm_entries(rt);
}

static void get_alarm_semantics(void **state)
{
    dort_rt_t *rt = *state = start(2000, 0.25, 6, 10000);
    char out[128], want[64];
    /* None before any set; the set time in the same turn and the next. */
    int64_t t = now_ms() + 100;
    assert_int_equal(
        probe(rt, "g", out, sizeof out, "getalarm\nsetalarm %lld\ngetalarm", (long long)t), 0);
    snprintf(want, sizeof want, "(none)\n%lld\n", (long long)t);
    assert_string_equal(out, want);
    assert_int_equal(probe(rt, "g", out, sizeof out, "getalarm"), 0);
    snprintf(want, sizeof want, "%lld\n", (long long)t);
    assert_string_equal(out, want);
    /* A rolled-back transaction does not move it. */
    assert_int_equal(probe(rt, "g", out, sizeof out, "begin\nsetalarm 5\nrollback\ngetalarm"), 0);
    assert_string_equal(out, want);
    /* Inside the handler: none, unless the handler sets a new one; that one
     * stays after the handler succeeds, and fires in turn. */
    int64_t t2 = now_ms() + 250;
    P.rearm_ms = t2;
    assert_true(wait_runs(rt, 1, 100 + 2 * LATE_MS));
    assert_int_equal(P.runs[0].get_rc, DORT_ENOENT);
    assert_int_equal(P.runs[0].get_after_rc, 0);
    assert_int_equal(P.runs[0].get_after_ms, t2);
    th_run_for(rt, 20);
    assert_int_equal(probe(rt, "g", out, sizeof out, "getalarm"), 0);
    snprintf(want, sizeof want, "%lld\n", (long long)t2);
    assert_string_equal(out, want);
    assert_true(wait_runs(rt, 2, 250 + 2 * LATE_MS));
    assert_int_equal(P.runs[1].scheduled_ms, t2);
    assert_int_equal(P.runs[1].get_rc, DORT_ENOENT);
    assert_true(P.runs[1].wall_ms >= t2);
    th_run_for(rt, 20);
    assert_int_equal(probe(rt, "g", out, sizeof out, "getalarm"), 0);
    assert_string_equal(out, "(none)\n");
    assert_no_alarm_entries(rt);
}

/* ---- retries ---- */

static void retries_back_off_exponentially(void **state)
{
    /* No jitter: each gap is base * 2^n plus only the time to commit and
     * wake up. A wrong exponent (2^(n+1)) overshoots the 200 ms step by more
     * than the slack. */
    const int64_t base = 50, slack = 100;
    dort_rt_t *rt = *state = start(base, 0, 6, 10000);
    char out[128], want[64];
    int64_t t = now_ms() - 10;
    P.fail = 3;
    assert_int_equal(probe(rt, "rb", NULL, 0, "setalarm %lld", (long long)t), 0);
    assert_true(wait_runs(rt, 1, 2000));
    /* While a retry is pending the alarm still reads as its original time. */
    assert_int_equal(probe(rt, "rb", out, sizeof out, "getalarm\nget r0"), 0);
    snprintf(want, sizeof want, "%lld\n(none)\n", (long long)t);
    assert_string_equal(out, want);
    assert_true(wait_runs(rt, 4, 2000));
    for (int i = 0; i < 4; i++) {
        assert_int_equal(P.runs[i].retry, i);
        assert_int_equal(P.runs[i].scheduled_ms, t);
        assert_int_equal(P.runs[i].get_rc, DORT_ENOENT);
    }
    for (int i = 1; i < 4; i++) {
        int64_t gap = P.runs[i].wall_ms - P.runs[i - 1].wall_ms;
        int64_t want_gap = base << (i - 1);
        assert_true(gap >= want_gap);
        assert_true(gap <= want_gap + slack);
    }
    th_run_for(rt, 50);
    assert_int_equal(P.nruns, 4);
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_int_equal(st.alarms_fired, 4);
    assert_int_equal(st.alarms_retried, 3);
    assert_int_equal(st.alarms_dropped, 0);
    /* Success deleted the alarm; only the successful attempt's writes
     * exist. */
    assert_int_equal(
        probe(rt, "rb", out, sizeof out, "getalarm\nget fired\nget r0\nget r1\nget r2\nget r3"), 0);
    assert_string_equal(out, "(none)\n1\n(none)\n(none)\n(none)\n1\n");
    assert_no_alarm_entries(rt);
}

static void retries_jitter_within_bounds(void **state)
{
    /* +-25%: each gap lies in [0.75, 1.25] * base * 2^n (+ wake-up slack). */
    const int64_t base = 80, slack = 100;
    dort_rt_t *rt = *state = start(base, 0.25, 6, 10000);
    P.fail = 3;
    assert_int_equal(probe(rt, "rj", NULL, 0, "setalarm 1"), 0);
    assert_true(wait_runs(rt, 4, 3000));
    for (int i = 1; i < 4; i++) {
        int64_t gap = P.runs[i].wall_ms - P.runs[i - 1].wall_ms;
        int64_t d = base << (i - 1);
        assert_int_equal(P.runs[i].retry, i);
        assert_true(gap >= d * 3 / 4);
        assert_true(gap <= d * 5 / 4 + slack);
    }
}

static void gives_up_after_max_retries(void **state)
{
    dort_rt_t *rt = *state = start(20, 0, 3, 10000);
    char out[128];
    P.fail = 1000;
    assert_int_equal(probe(rt, "gu", NULL, 0, "setalarm 1\nput keep 1"), 0);
    /* One attempt plus three retries (20 + 40 + 80 ms), then nothing. */
    assert_true(wait_runs(rt, 4, 2000));
    th_run_for(rt, 400);
    assert_int_equal(P.nruns, 4);
    assert_int_equal(P.runs[3].retry, 3);
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_int_equal(st.alarms_fired, 4);
    assert_int_equal(st.alarms_retried, 3);
    assert_int_equal(st.alarms_dropped, 1);
    /* The alarm is gone; the actor's other data is not. */
    assert_int_equal(probe(rt, "gu", out, sizeof out, "getalarm\nget keep\nget fired"), 0);
    assert_string_equal(out, "(none)\n1\n(none)\n");
    assert_no_alarm_entries(rt);
    /* With no retries at all, the first failure drops it. */
    th_stop(rt);
    *state = NULL;
    rt = *state = start(20, 0, 0, 10000);
    P.nruns = 0;
    P.fail = 1000;
    assert_int_equal(probe(rt, "g0", NULL, 0, "setalarm 1"), 0);
    assert_true(wait_runs(rt, 1, 2000));
    th_run_for(rt, 200);
    assert_int_equal(P.nruns, 1);
    dort_rt_stats(rt, &st);
    assert_int_equal(st.alarms_dropped, 1);
    assert_int_equal(st.alarms_retried, 0);
    assert_no_alarm_entries(rt);
}

/* ---- atomicity with the turn's writes ---- */

static void alarm_commits_with_writes(void **state)
{
    dort_rt_t *rt = *state = start(2000, 0.25, 6, 10000);
    char out[128], want[64];
    /* The commit fails: neither the write nor the (past, so immediately
     * due) alarm may exist, and no handler may run. */
    dort__writer_fail_next(&rt->writer, DORT_EIO);
    assert_int_equal(probe(rt, "at", NULL, 0, "put k v\nsetalarm 1"), DORT_ECOMMIT);
    assert_int_equal(probe(rt, "at", out, sizeof out, "get k\ngetalarm"), 0);
    assert_string_equal(out, "(none)\n(none)\n");
    th_run_for(rt, 300);
    assert_int_equal(P.nruns, 0);
    assert_no_alarm_entries(rt);
    /* A failed commit that would have replaced a committed alarm leaves
     * the committed one as it was: it fires at its own time, not at once. */
    int64_t t = now_ms() + 250;
    assert_int_equal(probe(rt, "at", NULL, 0, "setalarm %lld", (long long)t), 0);
    dort__writer_fail_next(&rt->writer, DORT_EIO);
    assert_int_equal(probe(rt, "at", NULL, 0, "put k2 v\nsetalarm 1"), DORT_ECOMMIT);
    assert_int_equal(probe(rt, "at", out, sizeof out, "get k2\ngetalarm"), 0);
    snprintf(want, sizeof want, "(none)\n%lld\n", (long long)t);
    assert_string_equal(out, want);
    assert_true(wait_runs(rt, 1, 250 + 2 * LATE_MS));
    assert_int_equal(P.runs[0].scheduled_ms, t);
    assert_true(P.runs[0].wall_ms >= t);
    /* A failing turn drops its alarm with its writes. */
    assert_int_equal(probe(rt, "at2", NULL, 0, "put k v\nsetalarm 1\nfail"), DORT_EHANDLER);
    th_run_for(rt, 200);
    assert_int_equal(P.nruns, 1);
    assert_int_equal(probe(rt, "at2", out, sizeof out, "get k\ngetalarm"), 0);
    assert_string_equal(out, "(none)\n(none)\n");
    assert_no_alarm_entries(rt);
}

static int kv_alarms_at_least(void *data)
{
    return th_kv_alarms >= *(int *)data;
}

static int commit_idle(void *data)
{
    return dort__commit_idle(data);
}

static void handler_writes_persist(void **state)
{
    dort_rt_t *rt = *state = start(2000, 0.25, 6, 10000);
    char out[128];
    int one = 1;
    assert_int_equal(kv(rt, "hw", NULL, 0, "setalarm 1"), 0);
    assert_true(run_until(rt, kv_alarms_at_least, &one, 2000));
    /* Let the handler's commit land, then read through LMDB from a fresh
     * turn. */
    assert_true(run_until(rt, commit_idle, rt, 2000));
    assert_int_equal(kv(rt, "hw", out, sizeof out, "get alarm_ran\ngetalarm"), 0);
    assert_string_equal(out, "1\n(none)\n");
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_int_equal(st.commit_failures, 0);
    assert_int_equal(th_kv_alarms, 1);
}

/* ---- scale and eviction ---- */

#define MANY 2000 /* more than one firing pass (1024) */

static int all_done(void *data)
{
    th_result_t *r = data;
    for (int i = 0; i < MANY; i++)
        if (!r[i].done)
            return 0;
    return 1;
}

/* Every setalarm turn ran (a fresh runtime, a class without init). */
static int all_turns_ran(void *data)
{
    dort_rt_stats_t st;
    dort_rt_stats(data, &st);
    return st.turns >= MANY;
}

static void many_actors_fire_exactly_once(void **state)
{
    dort_rt_t *rt = *state = start(2000, 0.25, 6, 10000);
    th_result_t *r = calloc(MANY, sizeof *r);
    assert_non_null(r);
    /* The writer is held while the alarms are set, so they land together
     * when it is released and come due together however long setting them
     * took: a single firing pass (at most 1024) cannot take them all. */
    int64_t t = now_ms() + 300;
    char name[16], script[64];
    snprintf(script, sizeof script, "setalarm %lld", (long long)t);
    dort__writer_set_hold(&rt->writer, 1);
    for (int i = 0; i < MANY; i++) {
        snprintf(name, sizeof name, "m%d", i);
        assert_int_equal(th_send(rt, "PROBE", name, "POST", "/", script, &r[i]), 0);
    }
    assert_true(run_until(rt, all_turns_ran, rt, 10000));
    assert_int_equal(P.nruns, 0);
    dort__writer_set_hold(&rt->writer, 0);
    assert_true(run_until(rt, all_done, r, 10000));
    int64_t committed = now_ms();
    for (int i = 0; i < MANY; i++)
        assert_int_equal(r[i].status, 0);
    assert_true(wait_runs(rt, MANY, 300 + 10000));
    th_run_for(rt, 200);
    assert_int_equal(P.nruns, MANY);
    int64_t latest = 0;
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(P.runs[i].scheduled_ms, t);
        assert_true(P.runs[i].wall_ms >= t);
        if (P.runs[i].wall_ms > latest)
            latest = P.runs[i].wall_ms;
    }
    assert_true(latest - (t > committed ? t : committed) <= 2 * LATE_MS);
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    assert_int_equal(st.alarms_fired, MANY);
    /* Exactly once per actor: each counted one successful run. */
    for (int i = 0; i < MANY; i++) {
        snprintf(name, sizeof name, "m%d", i);
        assert_int_equal(th_send(rt, "PROBE", name, "POST", "/", "get fired\ngetalarm", &r[i]), 0);
    }
    assert_true(run_until(rt, all_done, r, 10000));
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(r[i].status, 0);
        assert_string_equal(r[i].body, "1\n(none)\n");
    }
    assert_no_alarm_entries(rt);
    free(r);
}

static int evicted(void *data)
{
    dort_rt_t *rt = data;
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    return st.actors_live == 0;
}

static void alarm_activates_evicted_actor(void **state)
{
    dort_rt_t *rt = *state = start(2000, 0.25, 6, 40);
    int one = 1;
    int64_t t = now_ms() + 400;
    char out[64];
    assert_int_equal(kv(rt, "ev", NULL, 0, "setalarm %lld", (long long)t), 0);
    assert_true(run_until(rt, evicted, rt, 350));
    assert_true(now_ms() < t);
    assert_int_equal(th_kv_evicts, 1);
    dort_rt_stats_t before, after;
    dort_rt_stats(rt, &before);
    assert_true(run_until(rt, kv_alarms_at_least, &one, 400 + 2 * LATE_MS));
    dort_rt_stats(rt, &after);
    assert_true(th_kv_last_alarm_ms >= t);
    assert_true(th_kv_last_alarm_ms - t <= LATE_MS);
    /* A new activation, with init before the handler. */
    assert_int_equal(after.actors_activated, before.actors_activated + 1);
    assert_int_equal(th_kv_inits, 2);
    /* It goes idle again and is evicted; its storage stays. */
    assert_true(run_until(rt, evicted, rt, 1000));
    assert_int_equal(kv(rt, "ev", out, sizeof out, "get alarm_ran\ngetalarm"), 0);
    assert_string_equal(out, "1\n(none)\n");
    assert_int_equal(th_kv_alarms, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fires_at_or_after_its_time, setup, teardown),
        cmocka_unit_test_setup_teardown(past_time_fires_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(new_alarm_replaces_old, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_after_due_before_handler_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(replace_while_queued_fires_only_new, setup, teardown),
        cmocka_unit_test_setup_teardown(get_alarm_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(retries_back_off_exponentially, setup, teardown),
        cmocka_unit_test_setup_teardown(retries_jitter_within_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(gives_up_after_max_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(alarm_commits_with_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(handler_writes_persist, setup, teardown),
        cmocka_unit_test_setup_teardown(many_actors_fire_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(alarm_activates_evicted_actor, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
