/* cron_sched.c - cron triggers: a worker's scheduled handler run at the
 * slots of a cron expression (see dort/scheduled.h for the semantics).
 *
 * Cron is wall-clock time but the loop's timers are monotonic, and the two
 * drift apart (NTP steps, suspend). So the one timer is only a wake-up:
 * every time it fires the schedule is evaluated again from the wall clock,
 * and it never sleeps longer than MAX_SLEEP_MS, so a clock that jumped is
 * noticed within that time. Firing early is harmless (nothing is due yet,
 * the timer is re-armed), firing late runs the latest due slot.
 *
 * The `cron` database maps a trigger's key (its expression with blanks
 * collapsed) to RECORD_SIZE bytes: the slot of the last run that started,
 * then the wall-clock time it started, both big-endian Unix ms.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <dort/cron.h>

#include "alloc_internal.h"
#include "records.pb-c.h"
#include "cron_sched_internal.h"
#include "keycodec_internal.h"
#include "rt_internal.h"

void dort__rt_handle_closed(dort_rt_t *rt);

#define MAX_EXPR 400       /* keeps the key far below LMDB's 511 bytes */
#define MAX_SLEEP_MS 30000 /* re-read the wall clock at least this often */
#define MINUTE_MS 60000
#define MAX_FUTURE_MS (24 * 3600 * INT64_C(1000)) /* a last run this far ahead is a bad clock */

typedef struct trigger_s trigger_t;
typedef struct dort__cron_sched_s sched_t;

struct dort_scheduled_event_s {
    trigger_t *trig; /* NULL once abandoned at stop */
    dort_rt_t *rt;   /* NULL once abandoned at stop */
    int64_t scheduled_ms;
    dort_scheduled_done_cb done;
    void *done_data;
    uint8_t in_handler; /* the handler is on the stack */
    uint8_t finished;   /* dort_scheduled_finish ran inside the handler */
    int finish_status;
    char cron[]; /* the expression as registered: outlives an abandoned trigger */
};

struct trigger_s {
    sched_t *s;
    dort_cron_t *cron;
    char *key; /* blanks collapsed: lookups and the LMDB key */
    size_t key_len;
    dort_worker_t *worker;
    int64_t last_ms;  /* slot of the last recorded run; -1 none */
    int64_t next_ms;  /* next slot to fire; -1 never or not started */
    uint8_t catch_up; /* next_ms is a slot missed while the runtime was down */
    dort_scheduled_event_t *running;
    dort_scheduled_stats_t stats;
};

struct dort__cron_sched_s {
    dort_rt_t *rt;
    trigger_t **trigs;
    uint32_t n, cap;
    int dbi; /* index from dort__store_want_db; -1 before dort__cron_prepare */
    uv_timer_t timer;
    uint8_t timer_init;
    uint8_t stopped;
    uint32_t pending; /* runs started and not finished */
    dort__cron_clock_fn clock;
    void *clock_data;
};

/* ---- helpers ---- */

static sched_t *sched_get(dort_rt_t *rt)
{
    if (rt->cron == NULL && (rt->cron = dort__calloc(1, sizeof *rt->cron)) != NULL) {
        rt->cron->rt = rt;
        rt->cron->dbi = -1;
    }
    return rt->cron;
}

static int64_t clock_now(const sched_t *s)
{
    return s->clock != NULL ? s->clock(s->clock_data) : dort__wall_ms();
}

/* Copies `expr` with leading and trailing blanks dropped and inner runs of
 * blanks reduced to one space into `out` (cap bytes). Returns the length, or
 * -1 when it does not fit. */
static long collapse(const char *expr, char *out, size_t cap)
{
    size_t n = 0;
    int gap = 0;
    for (const char *p = expr; *p != '\0'; p++) {
        if (*p == ' ' || *p == '\t') {
            gap = n > 0;
            continue;
        }
        if (n + (size_t)gap + 1 >= cap)
            return -1;
        if (gap)
            out[n++] = ' ';
        gap = 0;
        out[n++] = *p;
    }
    out[n] = '\0';
    return (long)n;
}

static trigger_t *find(const sched_t *s, const char *expr)
{
    char key[MAX_EXPR + 1];
    long n = collapse(expr, key, sizeof key);
    for (uint32_t i = 0; s != NULL && n >= 0 && i < s->n; i++)
        if (s->trigs[i]->key_len == (size_t)n && memcmp(s->trigs[i]->key, key, (size_t)n) == 0)
            return s->trigs[i];
    return NULL;
}

static void trigger_free(trigger_t *t)
{
    if (t == NULL)
        return;
    dort_cron_free(t->cron);
    dort__free(t->key);
    dort__free(t);
}

/* ---- registering triggers ---- */

static int push_trigger(sched_t *s, trigger_t *t)
{
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 4;
        trigger_t **n = dort__realloc(s->trigs, cap * sizeof *n);
        if (n == NULL)
            return DORT_ENOMEM;
        s->trigs = n;
        s->cap = cap;
    }
    s->trigs[s->n++] = t;
    return 0;
}

int dort_rt_add_cron_trigger(dort_rt_t *rt, const char *expr, dort_worker_t *worker, char *err,
                             size_t errlen)
{
    if (rt == NULL || expr == NULL || worker == NULL || worker->rt != rt ||
        worker->cls->scheduled == NULL || (err == NULL && errlen > 0))
        return DORT_EINVAL;
    if (rt->state != DORT__RT_NEW)
        return DORT_ESTATE;
    char key[MAX_EXPR + 1];
    long n = collapse(expr, key, sizeof key);
    if (n < 0 || strlen(expr) > MAX_EXPR) {
        if (errlen > 0)
            snprintf(err, errlen, "cron expression longer than %d characters", MAX_EXPR);
        return DORT_ECRON;
    }
    dort_cron_t *c = NULL;
    int rc = dort_cron_parse(expr, &c, err, errlen);
    if (rc != 0)
        return rc;
    sched_t *s = sched_get(rt);
    if (s != NULL && find(s, expr) != NULL) {
        dort_cron_free(c);
        if (errlen > 0)
            snprintf(err, errlen, "duplicate cron trigger '%s'", key);
        return DORT_EEXIST;
    }
    trigger_t *t = s != NULL ? dort__calloc(1, sizeof *t) : NULL;
    if (t == NULL || (t->key = dort__strndup(key, (size_t)n)) == NULL) {
        dort__free(t);
        dort_cron_free(c);
        return DORT_ENOMEM;
    }
    t->s = s;
    t->cron = c;
    t->key_len = (size_t)n;
    t->worker = worker;
    t->last_ms = t->next_ms = -1;
    rc = push_trigger(s, t);
    if (rc != 0)
        trigger_free(t);
    return rc;
}

int dort__cron_set_clock(dort_rt_t *rt, dort__cron_clock_fn fn, void *data)
{
    sched_t *s = sched_get(rt);
    if (s == NULL)
        return DORT_ENOMEM;
    s->clock = fn;
    s->clock_data = data;
    return 0;
}

/* ---- the record of the last run ---- */

static void on_recorded(void *data, int status)
{
    trigger_t *t = data;
    if (status != 0)
        DORT_LOG(&t->s->rt->log, DORT_LOG_ERROR,
                 "cron trigger '%s': recording its last run failed: %s (it may run again "
                 "after a restart)",
                 t->key, dort_strerror(status));
}

/* Writes the slot of the run that starts now with the next group commit, as
 * a raw record of an item without an actor. */
static void record_run(sched_t *s, trigger_t *t, int64_t slot)
{
    dort_rt_t *rt = s->rt;
    Dort__CronRecord rec = DORT__CRON_RECORD__INIT;
    uint8_t val[32];
    rec.slot_ms = slot;
    rec.started_ms = clock_now(s);
    size_t len = dort__cron_record__pack(&rec, val);
    t->last_ms = slot;
    dort__wset_t *ws = dort__wset_new();
    int rc = ws != NULL ? 0 : DORT_ENOMEM;
    if (rc == 0)
        rc = dort__wset_add_raw(ws, (unsigned)s->dbi, 0, t->key, t->key_len, val, len);
    if (rc == 0)
        rc = dort__commit_add_raw(rt, ws, on_recorded, t);
    if (rc != 0) {
        dort__wset_free(ws);
        on_recorded(t, rc);
        return;
    }
    dort__commit_kick(rt);
}

static void load_record(sched_t *s, trigger_t *t, MDB_txn *txn)
{
    MDB_val k = {t->key_len, t->key}, v;
    int rc = mdb_get(txn, s->rt->store.extra[s->dbi], &k, &v);
    t->last_ms = -1;
    Dort__CronRecord *rec = NULL;
    if (rc == 0 && (rec = dort__cron_record__unpack(NULL, v.mv_size, v.mv_data)) != NULL) {
        t->last_ms = rec->slot_ms;
        dort__cron_record__free_unpacked(rec, NULL);
    } else if (rc != MDB_NOTFOUND) {
        DORT_LOG(&s->rt->log, DORT_LOG_WARN,
                 "cron trigger '%s': unreadable last-run record (%s); treated as never run", t->key,
                 rc ? mdb_strerror(rc) : "not a CronRecord");
    }
}

/* ---- runs ---- */

/* What a run reports: DORT_E* codes as they are, any other failure (a
 * handler's plain -1, or DORT_EPENDING passed to finish) as DORT_EHANDLER. */
static int run_status(int rc)
{
    if (rc == 0)
        return 0;
    if (rc != DORT_EPENDING && strcmp(dort_err_name(rc), "DORT_UNKNOWN") != 0)
        return rc;
    return DORT_EHANDLER;
}

static void complete(dort_scheduled_event_t *ev, int status)
{
    trigger_t *t = ev->trig;
    sched_t *s = t->s;
    if (status != 0) {
        t->stats.failures++;
        DORT_LOG(&s->rt->log, DORT_LOG_WARN, "cron trigger '%s': run failed: %s", t->key,
                 dort_strerror(status));
    }
    t->running = NULL;
    s->pending--;
    dort_scheduled_done_cb done = ev->done;
    void *data = ev->done_data;
    dort__free(ev);
    /* A stop may be waiting for this run: let the loop look again before it
     * sleeps. */
    s->rt->woke_external = 1;
    if (done != NULL)
        done(data, status);
}

/* Calls the handler for `when`; the trigger is busy until the run is over. */
static int start_run(sched_t *s, trigger_t *t, int64_t when, dort_scheduled_done_cb done,
                     void *data)
{
    const char *expr = dort_cron_expr(t->cron);
    size_t len = strlen(expr);
    dort_scheduled_event_t *ev = dort__calloc(1, sizeof *ev + len + 1);
    if (ev == NULL)
        return DORT_ENOMEM;
    memcpy(ev->cron, expr, len + 1);
    ev->trig = t;
    ev->rt = s->rt;
    ev->scheduled_ms = when;
    ev->done = done;
    ev->done_data = data;
    t->running = ev;
    t->stats.runs++;
    s->pending++;
    ev->in_handler = 1;
    int rc = t->worker->cls->scheduled(ev);
    ev->in_handler = 0;
    if (ev->finished)
        complete(ev, ev->finish_status);
    else if (rc != DORT_EPENDING)
        complete(ev, run_status(rc));
    return 0;
}

/* The latest slot <= now, given `first`, a slot <= now. Looks back in
 * doubling windows before walking forward, so a trigger that missed a year
 * of minutes costs a few dozen searches, not half a million. */
static int64_t latest_slot(const dort_cron_t *c, int64_t first, int64_t now)
{
    int64_t lo = first, t;
    for (int64_t w = MINUTE_MS; w < INT64_MAX / 4 && now - w > lo; w *= 2) {
        if (dort_cron_next(c, now - w, &t) == 0 && t <= now) {
            lo = t;
            break;
        }
    }
    while (dort_cron_next(c, lo, &t) == 0 && t <= now)
        lo = t;
    return lo;
}

static void fire_due(sched_t *s, trigger_t *t, int64_t now)
{
    if (t->next_ms < 0 || t->next_ms > now)
        return;
    int64_t slot = latest_slot(t->cron, t->next_ms, now), next;
    int catch_up = t->catch_up;
    t->catch_up = 0;
    t->next_ms = dort_cron_next(t->cron, slot, &next) == 0 ? next : -1;
    if (t->running != NULL) {
        t->stats.skipped++;
        DORT_LOG(&s->rt->log, DORT_LOG_WARN,
                 "cron trigger '%s': slot %lld skipped, the previous run is still going", t->key,
                 (long long)slot);
        return;
    }
    if (catch_up)
        t->stats.caught_up++;
    record_run(s, t, slot);
    int rc = start_run(s, t, slot, NULL, NULL);
    if (rc != 0) {
        t->stats.failures++;
        DORT_LOG(&s->rt->log, DORT_LOG_ERROR, "cron trigger '%s': cannot start a run: %s", t->key,
                 dort_strerror(rc));
    }
}

/* ---- the timer ---- */

static void on_timer(uv_timer_t *h);

static void arm(sched_t *s)
{
    if (!s->timer_init || s->stopped)
        return;
    int64_t first = -1;
    for (uint32_t i = 0; i < s->n; i++) {
        int64_t nx = s->trigs[i]->next_ms;
        if (nx >= 0 && (first < 0 || nx < first))
            first = nx;
    }
    if (first < 0) {
        uv_timer_stop(&s->timer);
        return;
    }
    int64_t delay = first - clock_now(s);
    delay = delay < 0 ? 0 : (delay > MAX_SLEEP_MS ? MAX_SLEEP_MS : delay);
    uv_timer_start(&s->timer, on_timer, (uint64_t)delay, 0);
}

void dort__cron_tick(dort_rt_t *rt)
{
    sched_t *s = rt != NULL ? rt->cron : NULL;
    if (s == NULL || s->stopped || rt->state != DORT__RT_RUNNING || s->dbi < 0)
        return;
    int64_t now = clock_now(s);
    /* A handler may stop the runtime: later triggers then do not fire. */
    for (uint32_t i = 0; i < s->n && !s->stopped && rt->state == DORT__RT_RUNNING; i++)
        fire_due(s, s->trigs[i], now);
    arm(s);
}

static void on_timer(uv_timer_t *h)
{
    sched_t *s = h->data;
    dort__cron_tick(s->rt);
}

/* ---- runtime hooks ---- */

int dort__cron_prepare(dort_rt_t *rt)
{
    sched_t *s = rt->cron;
    if (s == NULL || s->n == 0 || s->dbi >= 0)
        return 0;
    int idx = dort__store_want_db(&rt->store, "cron");
    if (idx < 0)
        return idx;
    s->dbi = idx;
    return 0;
}

/* At start: a trigger with a record resumes after its last run (a slot
 * already due is the one catch-up run); one without waits for its next
 * slot. Going by the record also keeps a clock that moved back a little from
 * running slots again; a record more than MAX_FUTURE_MS ahead says the clock
 * was wrong when it was written, and trusting it would stall the trigger. */
static void plan(trigger_t *t, int64_t now)
{
    int64_t next;
    if (t->last_ms > now + MAX_FUTURE_MS) {
        DORT_LOG(&t->s->rt->log, DORT_LOG_WARN,
                 "cron trigger '%s': last run recorded %lld ms in the future; ignored", t->key,
                 (long long)(t->last_ms - now));
        t->last_ms = -1;
    }
    int64_t after = t->last_ms >= 0 ? t->last_ms : now;
    t->next_ms = dort_cron_next(t->cron, after, &next) == 0 ? next : -1;
    t->catch_up = t->last_ms >= 0 && t->next_ms >= 0 && t->next_ms <= now;
}

void dort__cron_start(dort_rt_t *rt)
{
    sched_t *s = rt->cron;
    if (s == NULL || s->dbi < 0)
        return;
    MDB_txn *txn;
    int rc = dort__store_rtxn(&rt->store, &txn);
    if (rc != 0) {
        DORT_LOG(&rt->log, DORT_LOG_ERROR, "cron: cannot read last runs (%s); triggers are off",
                 dort_strerror(rc));
        return;
    }
    int64_t now = clock_now(s);
    for (uint32_t i = 0; i < s->n; i++) {
        load_record(s, s->trigs[i], txn);
        plan(s->trigs[i], now);
    }
    uv_timer_init(rt->loop, &s->timer);
    s->timer.data = s;
    s->timer_init = 1;
    /* Catch-up runs are due now: the timer fires them from the loop, so no
     * handler runs inside dort_rt_start. */
    arm(s);
}

void dort__cron_stop(dort_rt_t *rt)
{
    sched_t *s = rt->cron;
    if (s == NULL)
        return;
    s->stopped = 1;
    if (s->timer_init)
        uv_timer_stop(&s->timer);
}

int dort__cron_idle(const dort_rt_t *rt)
{
    return rt->cron == NULL || rt->cron->pending == 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    sched_t *s = h->data;
    dort__rt_handle_closed(s->rt);
}

/* Detaches a run the stop deadline cut short: its handler still owns the
 * event and frees it with dort_scheduled_finish. */
static void abandon(sched_t *s, trigger_t *t)
{
    dort_scheduled_event_t *ev = t->running;
    dort_scheduled_done_cb done = ev->done;
    void *data = ev->done_data;
    ev->trig = NULL;
    ev->rt = NULL;
    ev->done = NULL;
    t->running = NULL;
    t->stats.failures++;
    s->pending--;
    DORT_LOG(&s->rt->log, DORT_LOG_WARN, "cron trigger '%s': run abandoned at stop", t->key);
    if (done != NULL)
        done(data, DORT_ESTOPPED);
}

int dort__cron_close(dort_rt_t *rt)
{
    sched_t *s = rt->cron;
    if (s == NULL)
        return 0;
    s->stopped = 1;
    for (uint32_t i = 0; i < s->n; i++)
        if (s->trigs[i]->running != NULL)
            abandon(s, s->trigs[i]);
    if (!s->timer_init)
        return 0;
    s->timer_init = 0;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
    return 1;
}

void dort__cron_free(dort_rt_t *rt)
{
    sched_t *s = rt->cron;
    if (s == NULL)
        return;
    for (uint32_t i = 0; i < s->n; i++)
        trigger_free(s->trigs[i]);
    dort__free(s->trigs);
    dort__free(s);
    rt->cron = NULL;
}

/* ---- the public API ---- */

int dort_rt_run_scheduled(dort_rt_t *rt, const char *expr, dort_scheduled_done_cb done, void *data)
{
    if (rt == NULL || expr == NULL)
        return DORT_EINVAL;
    if (rt->state == DORT__RT_NEW)
        return DORT_ESTATE;
    sched_t *s = rt->cron;
    if (rt->state != DORT__RT_RUNNING || (s != NULL && s->stopped))
        return DORT_ESTOPPED;
    trigger_t *t = find(s, expr);
    if (t == NULL || s->dbi < 0)
        return DORT_ENOENT;
    if (t->running != NULL)
        return DORT_EBUSY;
    t->stats.manual++; /* before the handler: its `done` may read the counters */
    int rc = start_run(s, t, clock_now(s), done, data);
    if (rc != 0)
        t->stats.manual--;
    return rc;
}

const char *dort_scheduled_cron(const dort_scheduled_event_t *ev)
{
    return ev != NULL ? ev->cron : NULL;
}

int64_t dort_scheduled_time(const dort_scheduled_event_t *ev)
{
    return ev != NULL ? ev->scheduled_ms : -1;
}

dort_rt_t *dort_scheduled_rt(const dort_scheduled_event_t *ev)
{
    return ev != NULL ? ev->rt : NULL;
}

void dort_scheduled_finish(dort_scheduled_event_t *ev, int status)
{
    if (ev == NULL)
        return;
    if (ev->trig == NULL) {
        dort__free(ev); /* abandoned at stop: already reported */
        return;
    }
    if (ev->in_handler) {
        ev->finished = 1;
        ev->finish_status = run_status(status);
        return;
    }
    complete(ev, run_status(status));
}

static void add_stats(dort_scheduled_stats_t *sum, const dort_scheduled_stats_t *x)
{
    sum->runs += x->runs;
    sum->failures += x->failures;
    sum->skipped += x->skipped;
    sum->caught_up += x->caught_up;
    sum->manual += x->manual;
}

int dort_rt_scheduled_stats(const dort_rt_t *rt, const char *expr, dort_scheduled_stats_t *out)
{
    if (rt == NULL || out == NULL)
        return DORT_EINVAL;
    memset(out, 0, sizeof *out);
    out->last_ms = out->next_ms = -1;
    const sched_t *s = rt->cron;
    if (expr == NULL) {
        for (uint32_t i = 0; s != NULL && i < s->n; i++)
            add_stats(out, &s->trigs[i]->stats);
        return 0;
    }
    const trigger_t *t = find(s, expr);
    if (t == NULL)
        return DORT_ENOENT;
    add_stats(out, &t->stats);
    out->last_ms = t->last_ms;
    out->next_ms = t->next_ms;
    return 0;
}
