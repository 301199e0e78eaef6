/* test_cron_sched.c - cron triggers (runtime/cron_sched.c) on a real runtime:
 * runs at their slots with the slot's time and the trigger's expression, no
 * overlap (a slot that comes while a run is pending is skipped and counted),
 * one catch-up run after downtime (none for a trigger never seen before),
 * runs now, invalid expressions, and stop with a pending run.
 *
 * Minutes cannot be waited for here, so most tests replace the scheduler's
 * clock (dort__cron_set_clock) and evaluate the schedule by hand
 * (dort__cron_tick), which is what the timer does when it fires; one test
 * lets the real timer fire, on a clock set just before a slot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cron_sched_internal.h"
#include "rt_internal.h"
#include "th.h"

#define MIN_MS INT64_C(60000)
#define T2024 INT64_C(1704067200000) /* 2024-01-01 00:00:00 UTC */
#define AT(h, m, s) (T2024 + ((h)*INT64_C(60) + (m)) * MIN_MS + (s)*INT64_C(1000))

#define EVERY5 "*/5 * * * *"
#define HOURLY "0 * * * *"

/* ---- the worker under test ---- */

enum { MODE_OK, MODE_PENDING, MODE_FAIL, MODE_FINISH_INSIDE };

static struct {
    int mode;
    int runs;
    char crons[16][64]; /* expression seen by each run, in order */
    int64_t times[16];
    dort_rt_t *rt_seen;
    dort_scheduled_event_t *pending;
} w;

static int on_scheduled(dort_scheduled_event_t *ev)
{
    int i = w.runs++ % 16;
    snprintf(w.crons[i], sizeof w.crons[i], "%s", dort_scheduled_cron(ev));
    w.times[i] = dort_scheduled_time(ev);
    w.rt_seen = dort_scheduled_rt(ev);
    if (w.mode == MODE_PENDING) {
        w.pending = ev;
        return DORT_EPENDING;
    }
    if (w.mode == MODE_FINISH_INSIDE) {
        dort_scheduled_finish(ev, DORT_EIO); /* done, but only reported after we return */
        return DORT_EPENDING;
    }
    return w.mode == MODE_FAIL ? -1 : 0;
}

static const dort_worker_class_t cron_worker = {.name = "cron", .scheduled = on_scheduled};
static const dort_worker_class_t fetch_only = {.name = "web", .fetch = NULL};

/* ---- the clock ---- */

static int64_t fake_now;
static int64_t wall_offset; /* used instead of fake_now when non-zero */

static int64_t test_clock(void *data)
{
    (void)data;
    return wall_offset != 0 ? dort__wall_ms() + wall_offset : fake_now;
}

/* ---- helpers ---- */

typedef struct fixture_s {
    char *dir;
    dort_rt_t *rt;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (f == NULL || (f->dir = th_mkdtemp()) == NULL)
        return -1;
    memset(&w, 0, sizeof w);
    fake_now = AT(0, 1, 30);
    wall_offset = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    th_stop(f->rt);
    th_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* A runtime on `dir` with the trigger expressions `exprs` (NULL-ended), not
 * yet started. */
static dort_rt_t *new_rt(const char *dir, const char *const *exprs, int64_t stop_timeout_ms)
{
    dort_rt_options_t o;
    th_options(&o, dir);
    o.stop_timeout_ms = stop_timeout_ms;
    dort_rt_t *rt = NULL;
    dort_worker_t *wk = NULL;
    assert_int_equal(dort_rt_new(&rt, &o), 0);
    assert_int_equal(dort_rt_add_worker(rt, &cron_worker, &wk), 0);
    for (size_t i = 0; exprs[i] != NULL; i++) {
        char err[256] = "";
        assert_int_equal(dort_rt_add_cron_trigger(rt, exprs[i], wk, err, sizeof err), 0);
    }
    assert_int_equal(dort__cron_set_clock(rt, test_clock, NULL), 0);
    return rt;
}

/* Starts a runtime and runs the loop long enough for the timer's first
 * evaluation (catch-up runs happen there, not inside dort_rt_start). */
static dort_rt_t *start_rt(const char *dir, const char *const *exprs)
{
    dort_rt_t *rt = new_rt(dir, exprs, 5000);
    assert_int_equal(dort_rt_start(rt), 0);
    th_run_for(rt, 30);
    return rt;
}

static void tick_at(dort_rt_t *rt, int64_t now)
{
    fake_now = now;
    dort__cron_tick(rt);
}

static dort_scheduled_stats_t stats(dort_rt_t *rt, const char *expr)
{
    dort_scheduled_stats_t s;
    assert_int_equal(dort_rt_scheduled_stats(rt, expr, &s), 0);
    return s;
}

static void on_stopped(dort_rt_t *rt, void *data)
{
    (void)rt;
    *(int *)data = 1;
}

static int flag_set(void *data)
{
    return *(int *)data;
}

typedef struct done_s {
    int calls;
    int status;
} done_t;

static void on_done(void *data, int status)
{
    done_t *d = data;
    d->calls++;
    d->status = status;
}

/* ---- tests ---- */

static void fires_at_slot_with_time_and_expr(void **state)
{
    fixture_t *f = *state;
    static const char *const exprs[] = {EVERY5, NULL};
    f->rt = start_rt(f->dir, exprs);
    assert_int_equal(w.runs, 0); /* never seen before: waits for its slot */
    assert_true(stats(f->rt, EVERY5).next_ms == AT(0, 5, 0));

    tick_at(f->rt, AT(0, 5, 0) - 5); /* the timer may fire a little early */
    assert_int_equal(w.runs, 0);
    tick_at(f->rt, AT(0, 5, 0));
    assert_int_equal(w.runs, 1);
    assert_string_equal(w.crons[0], EVERY5);
    assert_true(w.times[0] == AT(0, 5, 0));
    assert_ptr_equal(w.rt_seen, f->rt);
    tick_at(f->rt, AT(0, 5, 0) + 700); /* again within the slot: nothing */
    assert_int_equal(w.runs, 1);

    tick_at(f->rt, AT(0, 10, 0) + 250); /* or a little late */
    assert_int_equal(w.runs, 2);
    assert_true(w.times[1] == AT(0, 10, 0));
    dort_scheduled_stats_t s = stats(f->rt, EVERY5);
    assert_int_equal(s.runs, 2);
    assert_int_equal(s.failures, 0);
    assert_int_equal(s.skipped, 0);
    assert_int_equal(s.caught_up, 0);
    assert_true(s.last_ms == AT(0, 10, 0));
    assert_true(s.next_ms == AT(0, 15, 0));
}

static void each_trigger_sees_its_expression(void **state)
{
    fixture_t *f = *state;
    static const char *const exprs[] = {EVERY5, HOURLY, NULL};
    f->rt = start_rt(f->dir, exprs);
    tick_at(f->rt, AT(0, 55, 0));
    assert_int_equal(w.runs, 1);
    assert_string_equal(w.crons[0], EVERY5);
    tick_at(f->rt, AT(1, 0, 0));
    assert_int_equal(w.runs, 3);
    assert_string_equal(w.crons[1], EVERY5);
    assert_string_equal(w.crons[2], HOURLY);
    assert_true(w.times[1] == AT(1, 0, 0) && w.times[2] == AT(1, 0, 0));
    assert_int_equal(stats(f->rt, HOURLY).runs, 1);
    assert_int_equal(stats(f->rt, NULL).runs, 3);
}

static void late_timer_runs_latest_slot_once(void **state)
{
    fixture_t *f = *state;
    static const char *const exprs[] = {EVERY5, NULL};
    f->rt = start_rt(f->dir, exprs);
    /* The loop was stalled (or the clock jumped) across three slots. */
    tick_at(f->rt, AT(0, 17, 10));
    assert_int_equal(w.runs, 1);
    assert_true(w.times[0] == AT(0, 15, 0));
    assert_true(stats(f->rt, EVERY5).next_ms == AT(0, 20, 0));
}

static void pending_run_skips_next_slot(void **state)
{
    fixture_t *f = *state;
    static const char *const exprs[] = {EVERY5, NULL};
    f->rt = start_rt(f->dir, exprs);
    w.mode = MODE_PENDING;
    tick_at(f->rt, AT(0, 5, 0));
    assert_int_equal(w.runs, 1);
    assert_non_null(w.pending);
    assert_false(dort__cron_idle(f->rt));

    tick_at(f->rt, AT(0, 10, 0)); /* still pending: skipped, counted */
    assert_int_equal(w.runs, 1);
    assert_int_equal(stats(f->rt, EVERY5).skipped, 1);
    done_t d = {0, 0};
    assert_int_equal(dort_rt_run_scheduled(f->rt, EVERY5, on_done, &d), DORT_EBUSY);
    assert_int_equal(d.calls, 0);

    dort_scheduled_finish(w.pending, 0);
    w.pending = NULL;
    assert_true(dort__cron_idle(f->rt));
    w.mode = MODE_OK;
    tick_at(f->rt, AT(0, 15, 0));
    assert_int_equal(w.runs, 2);
    assert_true(w.times[1] == AT(0, 15, 0));
    dort_scheduled_stats_t s = stats(f->rt, EVERY5);
    assert_int_equal(s.runs, 2);
    assert_int_equal(s.skipped, 1);
    assert_int_equal(s.failures, 0);

    /* A pending run that finishes with an error counts as a failure. */
    w.mode = MODE_PENDING;
    tick_at(f->rt, AT(0, 20, 0));
    dort_scheduled_finish(w.pending, -1);
    w.mode = MODE_FAIL;
    tick_at(f->rt, AT(0, 25, 0));
    assert_int_equal(stats(f->rt, EVERY5).failures, 2);
}

/* First life: one run at 00:05, recorded. */
static void first_life(fixture_t *f, const char *const *exprs)
{
    f->rt = start_rt(f->dir, exprs);
    tick_at(f->rt, AT(0, 5, 0));
    assert_int_equal(w.runs, 1);
    th_stop(f->rt);
    f->rt = NULL;
}

static void catch_up_once_after_restart(void **state)
{
    fixture_t *f = *state;
    static const char *const exprs[] = {EVERY5, NULL};
    first_life(f, exprs);

    /* Down from 00:05 to 01:02:03: eleven slots missed, one run for 01:00. */
    fake_now = AT(1, 2, 3);
    f->rt = start_rt(f->dir, exprs);
    assert_int_equal(w.runs, 2);
    assert_true(w.times[1] == AT(1, 0, 0));
    assert_string_equal(w.crons[1], EVERY5);
    dort_scheduled_stats_t s = stats(f->rt, EVERY5);
    assert_int_equal(s.runs, 1);
    assert_int_equal(s.caught_up, 1);
    assert_true(s.last_ms == AT(1, 0, 0));
    assert_true(s.next_ms == AT(1, 5, 0));
    tick_at(f->rt, AT(1, 2, 30));
    th_run_for(f->rt, 30);
    assert_int_equal(w.runs, 2);
    tick_at(f->rt, AT(1, 5, 0));
    assert_int_equal(w.runs, 3);
    assert_int_equal(stats(f->rt, EVERY5).caught_up, 1);
    th_stop(f->rt);
    f->rt = NULL;

    /* The catch-up run was recorded too: a restart before the next slot
     * (01:10) runs nothing. */
    fake_now = AT(1, 9, 0);
    f->rt = start_rt(f->dir, exprs);
    assert_int_equal(w.runs, 3);
    assert_true(stats(f->rt, EVERY5).last_ms == AT(1, 5, 0));
    assert_int_equal(stats(f->rt, EVERY5).caught_up, 0);
}

static void new_trigger_does_not_fire_at_start(void **state)
{
    fixture_t *f = *state;
    static const char *const first[] = {EVERY5, NULL};
    first_life(f, first);

    /* HOURLY had a slot at 01:00 while down, but was never seen before. */
    static const char *const both[] = {EVERY5, HOURLY, NULL};
    fake_now = AT(1, 2, 3);
    f->rt = start_rt(f->dir, both);
    assert_int_equal(w.runs, 2);
    assert_string_equal(w.crons[1], EVERY5);
    assert_int_equal(stats(f->rt, HOURLY).runs, 0);
    assert_true(stats(f->rt, HOURLY).last_ms == -1);
    assert_true(stats(f->rt, HOURLY).next_ms == AT(2, 0, 0));
    tick_at(f->rt, AT(2, 0, 0));
    assert_int_equal(stats(f->rt, HOURLY).runs, 1);
}

static void clock_moved_back(void **state)
{
    fixture_t *f = *state;
    static const char *const exprs[] = {EVERY5, NULL};
    first_life(f, exprs);

    /* A few minutes back: the 00:05 slot already ran and does not run again. */
    fake_now = AT(0, 2, 0);
    f->rt = start_rt(f->dir, exprs);
    assert_true(stats(f->rt, EVERY5).next_ms == AT(0, 10, 0));
    tick_at(f->rt, AT(0, 5, 0));
    assert_int_equal(w.runs, 1);
    tick_at(f->rt, AT(0, 10, 0));
    assert_int_equal(w.runs, 2);
    th_stop(f->rt);
    f->rt = NULL;

    /* Two days back: the record (00:10) came from a wrong clock; trusting it
     * would stall the trigger for two days, so it is ignored. */
    fake_now = AT(0, 10, 0) - 2 * 24 * 60 * MIN_MS;
    f->rt = start_rt(f->dir, exprs);
    assert_int_equal(w.runs, 2);
    assert_true(stats(f->rt, EVERY5).next_ms == fake_now + 5 * MIN_MS);
}

static void run_now_reports_completion(void **state)
{
    fixture_t *f = *state;
    static const char *const exprs[] = {EVERY5, NULL};
    dort_rt_t *rt = new_rt(f->dir, exprs, 5000);
    done_t d = {0, 99};
    assert_int_equal(dort_rt_run_scheduled(rt, EVERY5, on_done, &d), DORT_ESTATE);
    assert_int_equal(dort_rt_start(rt), 0);
    f->rt = rt;
    th_run_for(rt, 20);

    fake_now = AT(0, 2, 17);
    /* Blanks do not matter when naming a trigger. */
    assert_int_equal(dort_rt_run_scheduled(rt, "  */5  *\t* * *  ", on_done, &d), 0);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, 0);
    assert_int_equal(w.runs, 1);
    assert_string_equal(w.crons[0], EVERY5);
    assert_true(w.times[0] == AT(0, 2, 17));
    dort_scheduled_stats_t s = stats(rt, EVERY5);
    assert_int_equal(s.manual, 1);
    assert_true(s.last_ms == -1);          /* not a slot: nothing recorded */
    assert_true(s.next_ms == AT(0, 5, 0)); /* and the schedule is unchanged */

    assert_int_equal(dort_rt_run_scheduled(rt, "*/6 * * * *", on_done, &d), DORT_ENOENT);
    assert_int_equal(dort_rt_run_scheduled(rt, NULL, on_done, &d), DORT_EINVAL);
    assert_int_equal(d.calls, 1);

    w.mode = MODE_PENDING;
    assert_int_equal(dort_rt_run_scheduled(rt, EVERY5, on_done, &d), 0);
    assert_int_equal(d.calls, 1); /* not yet */
    dort_scheduled_finish(w.pending, 0);
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.status, 0);

    w.mode = MODE_FAIL;
    assert_int_equal(dort_rt_run_scheduled(rt, EVERY5, on_done, &d), 0);
    assert_int_equal(d.calls, 3);
    assert_int_equal(d.status, DORT_EHANDLER);
    w.mode = MODE_PENDING;
    assert_int_equal(dort_rt_run_scheduled(rt, EVERY5, on_done, &d), 0);
    dort_scheduled_finish(w.pending, DORT_ESTORAGEFULL);
    assert_int_equal(d.status, DORT_ESTORAGEFULL);
    w.mode = MODE_FINISH_INSIDE;
    assert_int_equal(dort_rt_run_scheduled(rt, EVERY5, on_done, &d), 0);
    assert_int_equal(d.calls, 5);
    assert_int_equal(d.status, DORT_EIO);
    assert_true(dort__cron_idle(rt));
    assert_int_equal(stats(rt, EVERY5).failures, 3);
    assert_int_equal(stats(rt, EVERY5).manual, 5);
}

static void invalid_expressions_rejected(void **state)
{
    fixture_t *f = *state;
    dort_rt_options_t o;
    th_options(&o, f->dir);
    assert_int_equal(dort_rt_new(&f->rt, &o), 0);
    dort_worker_t *wk, *web;
    assert_int_equal(dort_rt_add_worker(f->rt, &cron_worker, &wk), 0);
    assert_int_equal(dort_rt_add_worker(f->rt, &fetch_only, &web), 0);
    char err[256];

    strcpy(err, "untouched");
    assert_int_equal(dort_rt_add_cron_trigger(f->rt, "61 * * * *", wk, err, sizeof err),
                     DORT_ECRON);
    assert_non_null(strstr(err, "minute field '61'"));
    assert_int_equal(dort_rt_add_cron_trigger(f->rt, "* * * *", wk, err, sizeof err), DORT_ECRON);
    assert_true(strlen(err) > 0);
    assert_int_equal(dort_rt_add_cron_trigger(f->rt, "0 0 * * 0", wk, err, sizeof err), DORT_ECRON);
    assert_non_null(strstr(err, "day-of-week"));
    char longexpr[600];
    memset(longexpr, ' ', sizeof longexpr - 10);
    strcpy(longexpr + sizeof longexpr - 10, "* * * * *");
    assert_int_equal(dort_rt_add_cron_trigger(f->rt, longexpr, wk, err, sizeof err), DORT_ECRON);
    assert_int_equal(dort_rt_add_cron_trigger(f->rt, EVERY5, wk, NULL, 0), 0);
    assert_int_equal(dort_rt_add_cron_trigger(f->rt, "*/5  * * * * ", wk, err, sizeof err),
                     DORT_EEXIST);
    assert_non_null(strstr(err, EVERY5));
    assert_int_equal(dort_rt_add_cron_trigger(f->rt, HOURLY, web, err, sizeof err), DORT_EINVAL);
    assert_int_equal(dort_rt_add_cron_trigger(f->rt, HOURLY, NULL, err, sizeof err), DORT_EINVAL);
    assert_int_equal(dort_rt_scheduled_stats(f->rt, "61 * * * *", &(dort_scheduled_stats_t){0}),
                     DORT_ENOENT);

    assert_int_equal(dort_rt_start(f->rt), 0);
    assert_int_equal(dort_rt_add_cron_trigger(f->rt, HOURLY, wk, err, sizeof err), DORT_ESTATE);
}

static void real_timer_fires_at_slot(void **state)
{
    fixture_t *f = *state;
    static const char *const exprs[] = {"* * * * *", NULL};
    /* A clock 300 ms before the minute: the uv timer must wake up for it,
     * and the run cannot happen before the clock reaches the slot. */
    int64_t t0 = dort__wall_ms();
    int64_t slot = AT(3, 0, 0);
    wall_offset = slot - 300 - t0;
    dort_rt_t *rt = new_rt(f->dir, exprs, 5000);
    assert_int_equal(dort_rt_start(rt), 0);
    f->rt = rt;
    for (int i = 0; i < 100 && w.runs == 0; i++)
        th_run_for(rt, 20);
    int64_t waited = dort__wall_ms() - t0;
    assert_int_equal(w.runs, 1);
    assert_true(w.times[0] == slot);
    assert_true(waited >= 300 && waited < 2000);
    th_run_for(rt, 100);
    assert_int_equal(w.runs, 1); /* and only once */
}

static void stop_waits_for_pending_run(void **state)
{
    fixture_t *f = *state;
    static const char *const exprs[] = {EVERY5, NULL};
    f->rt = start_rt(f->dir, exprs);
    w.mode = MODE_PENDING;
    tick_at(f->rt, AT(0, 5, 0));
    int stopped = 0;
    assert_int_equal(dort_rt_stop(f->rt, on_stopped, &stopped), 0);
    done_t d = {0, 0};
    assert_int_equal(dort_rt_run_scheduled(f->rt, EVERY5, on_done, &d), DORT_ESTOPPED);
    tick_at(f->rt, AT(0, 10, 0)); /* no new run starts */
    assert_int_equal(w.runs, 1);
    assert_false(th_run_until(f->rt, flag_set, &stopped, 200));
    dort_scheduled_finish(w.pending, 0);
    assert_true(th_run_until(f->rt, flag_set, &stopped, 5000));
    dort_rt_free(f->rt);
    f->rt = NULL;
    assert_int_equal(w.runs, 1);
}

static void stop_deadline_abandons_pending_run(void **state)
{
    fixture_t *f = *state;
    static const char *const exprs[] = {EVERY5, NULL};
    dort_rt_t *rt = new_rt(f->dir, exprs, 150);
    assert_int_equal(dort_rt_start(rt), 0);
    w.mode = MODE_PENDING;
    done_t d = {0, 0};
    assert_int_equal(dort_rt_run_scheduled(rt, EVERY5, on_done, &d), 0);
    int stopped = 0;
    assert_int_equal(dort_rt_stop(rt, on_stopped, &stopped), 0);
    assert_true(th_run_until(rt, flag_set, &stopped, 5000));
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, DORT_ESTOPPED);
    assert_int_equal(stats(rt, EVERY5).failures, 1);
    assert_null(dort_scheduled_rt(w.pending));
    assert_string_equal(dort_scheduled_cron(w.pending), EVERY5);
    dort_rt_free(rt);
    /* The handler still owns the event and finishes it late: only freed. */
    dort_scheduled_finish(w.pending, 0);
    assert_int_equal(d.calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fires_at_slot_with_time_and_expr, setup, teardown),
        cmocka_unit_test_setup_teardown(each_trigger_sees_its_expression, setup, teardown),
        cmocka_unit_test_setup_teardown(late_timer_runs_latest_slot_once, setup, teardown),
        cmocka_unit_test_setup_teardown(pending_run_skips_next_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(catch_up_once_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(new_trigger_does_not_fire_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(clock_moved_back, setup, teardown),
        cmocka_unit_test_setup_teardown(run_now_reports_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_expressions_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(real_timer_fires_at_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_waits_for_pending_run, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_deadline_abandons_pending_run, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
