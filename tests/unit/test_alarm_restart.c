/* test_alarm_restart.c - alarms survive the runtime: after a graceful stop
 * and after SIGKILL, a new runtime on the same directory fires them (at
 * once when their time passed while nothing ran), and a retry scheduled
 * before the restart keeps its due time and retry count. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "kv_actor.h"
#include "rt_internal.h"
#include "th.h"

#define LATE_MS 500

static const dort_class_t *const classes[] = {&th_kv_class, NULL};

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

static int kv_alarms_at_least(void *data)
{
    return th_kv_alarms >= *(int *)data;
}

/* th_run_until tests its condition only when uv_run returns, and a turn
 * that answers without writing answers in the loop's prepare phase, after
 * which uv_run may sleep in poll until the next timer (up to the sweep
 * interval, 1 s). A 1 ms tick bounds that wait. */
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

/* Runs a KV script on actor `name`; returns the request status and the body
 * in `out` (may be NULL). */
static int kv(dort_rt_t *rt, const char *name, char *out, size_t cap, const char *fmt, ...)
{
    char script[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(script, sizeof script, fmt, ap);
    va_end(ap);
    th_result_t r;
    int rc = th_send(rt, "KV", name, "POST", "/", script, &r);
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

static dort_rt_t *start_on(const char *dir, int64_t retry_base_ms)
{
    dort_rt_options_t o;
    th_options(&o, dir);
    o.durability = DORT_DURABILITY_FULL;
    o.alarm_retry_base_ms = retry_base_ms;
    o.alarm_retry_jitter = 0;
    return th_start(&o, classes);
}

typedef struct fixture_s {
    char *dir;
    dort_rt_t *rt;
    pid_t child;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (f == NULL || (f->dir = th_mkdtemp()) == NULL)
        return -1;
    th_kv_inits = th_kv_evicts = th_kv_alarms = th_kv_alarm_fail = 0;
    th_kv_last_retry = 0;
    th_kv_last_alarm_ms = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->child > 0) {
        kill(f->child, SIGKILL);
        waitpid(f->child, NULL, 0);
    }
    th_stop(f->rt);
    th_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* The runtime that comes after: the alarm (set for `t`, never before it)
 * fires within LATE_MS of max(t, start) with retry count `retry`, its
 * handler's write lands, the alarm is gone, and nothing fires again. */
static void expect_fire_after_restart(fixture_t *f, int64_t t, uint32_t retry)
{
    int one = 1;
    int64_t started = now_ms();
    f->rt = start_on(f->dir, 2000);
    assert_non_null(f->rt);
    int limit = (int)(t > started ? t - started : 0) + 3 * LATE_MS;
    assert_true(run_until(f->rt, kv_alarms_at_least, &one, limit));
    assert_true(th_kv_last_alarm_ms >= t);
    assert_true(th_kv_last_alarm_ms - (t > started ? t : started) <= LATE_MS);
    assert_int_equal(th_kv_last_retry, retry);
    char out[128];
    assert_int_equal(kv(f->rt, "a", out, sizeof out, "get alarm_ran\ngetalarm\nget x"), 0);
    assert_string_equal(out, "1\n(none)\n1\n");
    /* The deletion is durable too: a third runtime has nothing to fire. */
    th_stop(f->rt);
    f->rt = start_on(f->dir, 2000);
    assert_non_null(f->rt);
    th_run_for(f->rt, 200);
    assert_int_equal(th_kv_alarms, 1);
    assert_int_equal(kv(f->rt, "a", out, sizeof out, "get alarm_ran\ngetalarm"), 0);
    assert_string_equal(out, "1\n(none)\n");
}

static void fires_after_graceful_restart(void **state)
{
    fixture_t *f = *state;
    f->rt = start_on(f->dir, 2000);
    assert_non_null(f->rt);
    int64_t t = now_ms() + 400;
    assert_int_equal(kv(f->rt, "a", NULL, 0, "setalarm %lld\nput x 1", (long long)t), 0);
    th_stop(f->rt);
    f->rt = NULL;
    assert_true(now_ms() < t);
    assert_int_equal(th_kv_alarms, 0);
    expect_fire_after_restart(f, t, 0);
}

/* ---- a child process that dies by SIGKILL ---- */

typedef enum { CHILD_SET_ALARM, CHILD_FAIL_ONCE } child_mode_t;

/* Runs in the forked child: never returns, never runs cmocka code. Reports
 * one byte on `fd` once its work is durable (0 = ok), then waits to be
 * killed. */
static void child_main(const char *dir, int fd, child_mode_t mode, int64_t t)
{
    unsigned char status = 1;
    dort_rt_t *rt = start_on(dir, mode == CHILD_FAIL_ONCE ? 400 : 2000);
    if (rt != NULL && mode == CHILD_FAIL_ONCE)
        th_kv_alarm_fail = 1;
    if (rt != NULL && kv(rt, "a", NULL, 0, "setalarm %lld\nput x 1", (long long)t) == 0)
        status = 0;
    if (status == 0 && mode == CHILD_FAIL_ONCE) {
        /* Wait for the failing run and for the commit of its retry. */
        int one = 1;
        status = 2;
        if (run_until(rt, kv_alarms_at_least, &one, 5000)) {
            for (int i = 0; i < 100 && !dort__commit_idle(rt); i++)
                th_run_for(rt, 10);
            dort_rt_stats_t st;
            dort_rt_stats(rt, &st);
            if (dort__commit_idle(rt) && st.alarms_retried == 1 && st.commit_failures == 0)
                status = 0;
            /* When the retry is due, from the child's clock. */
            int64_t failed_at = th_kv_last_alarm_ms;
            if (write(fd, &failed_at, sizeof failed_at) != (ssize_t)sizeof failed_at)
                status = 3;
        }
    }
    if (write(fd, &status, 1) != 1)
        _exit(4);
    for (;;)
        pause();
}

/* Forks a child that does `mode` on f->dir, waits for its report, then
 * kills it with SIGKILL (it never gets to exit cleanly). */
static void run_child_then_kill(fixture_t *f, child_mode_t mode, int64_t t, int64_t *failed_at)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_main(f->dir, p[1], mode, t);
    }
    f->child = pid;
    close(p[1]);
    struct pollfd pfd = {p[0], POLLIN, 0};
    if (mode == CHILD_FAIL_ONCE) {
        assert_int_equal(poll(&pfd, 1, 15000), 1);
        assert_int_equal(read(p[0], failed_at, sizeof *failed_at), (ssize_t)sizeof *failed_at);
    }
    unsigned char status = 0xff;
    assert_int_equal(poll(&pfd, 1, 15000), 1);
    assert_int_equal(read(p[0], &status, 1), 1);
    close(p[0]);
    assert_int_equal(status, 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    f->child = 0;
    assert_true(WIFSIGNALED(ws));
    assert_int_equal(WTERMSIG(ws), SIGKILL);
}

static void fires_after_sigkill(void **state)
{
    fixture_t *f = *state;
    int64_t t = now_ms() + 500;
    run_child_then_kill(f, CHILD_SET_ALARM, t, NULL);
    assert_true(now_ms() < t);
    expect_fire_after_restart(f, t, 0);
}

static void fires_at_once_when_due_during_downtime(void **state)
{
    fixture_t *f = *state;
    int64_t t = now_ms() + 150;
    run_child_then_kill(f, CHILD_SET_ALARM, t, NULL);
    /* Nothing runs while the time passes. */
    sleep_until(t + 300);
    expect_fire_after_restart(f, t, 0);
}

static void retry_survives_sigkill(void **state)
{
    fixture_t *f = *state;
    /* The first run fails in the child; its retry (400 ms later, no
     * jitter) is committed, then the child dies. The retry runs in the next
     * runtime, at its due time rather than at once, with retry count 1. */
    int64_t t = now_ms() - 10, failed_at = 0;
    run_child_then_kill(f, CHILD_FAIL_ONCE, t, &failed_at);
    assert_true(failed_at >= t);
    assert_true(now_ms() < failed_at + 400);
    expect_fire_after_restart(f, failed_at + 400, 1);
}

static void retry_survives_graceful_restart(void **state)
{
    fixture_t *f = *state;
    int one = 1;
    f->rt = start_on(f->dir, 400);
    assert_non_null(f->rt);
    th_kv_alarm_fail = 1;
    assert_int_equal(kv(f->rt, "a", NULL, 0, "setalarm 1\nput x 1"), 0);
    assert_true(run_until(f->rt, kv_alarms_at_least, &one, 2000));
    int64_t failed_at = th_kv_last_alarm_ms;
    dort_rt_stats_t st;
    dort_rt_stats(f->rt, &st);
    assert_int_equal(st.alarms_retried, 1);
    /* Graceful stop commits the retry that is still being written. */
    th_stop(f->rt);
    f->rt = NULL;
    assert_true(now_ms() < failed_at + 400);
    th_kv_alarms = 0;
    expect_fire_after_restart(f, failed_at + 400, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fires_after_graceful_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(fires_after_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(fires_at_once_when_due_during_downtime, setup, teardown),
        cmocka_unit_test_setup_teardown(retry_survives_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(retry_survives_graceful_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
