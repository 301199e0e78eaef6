/* alarm.c - one alarm per actor: persisted in the same LMDB transaction as
 * the turn that set it, fired at or after its time (also after a restart),
 * retried with exponential backoff when the handler fails.
 *
 * The schedule is the `alarms` database itself (ordered by due time); the
 * loop keeps one timer for the earliest entry. An entry of a live actor is
 * only trusted after checking the actor's uncommitted writes, which may
 * already delete or move it; such an entry is skipped, and the commit that
 * lands the change triggers a rescan. */
#include <math.h>
#include <string.h>

#include "alloc_internal.h"
#include "keycodec_internal.h"
#include "records.pb-c.h"
#include "rt_internal.h"

#define FIRE_BATCH 1024

static dort_ns_t *ns_by_tag(dort_rt_t *rt, const unsigned char *tag)
{
    for (uint32_t i = 0; i < rt->nns; i++)
        if (memcmp(rt->nss[i]->key, tag, DORT__NS_TAG_SIZE) == 0)
            return rt->nss[i];
    return NULL;
}

/* The committed alarm of an actor, from actor_alarm. */
static int read_record(dort_actor_t *a, int64_t *due, uint32_t *retry, int64_t *scheduled)
{
    dort__store_t *st = &a->ns->rt->store;
    MDB_txn *txn;
    int rc = dort__store_rtxn(st, &txn);
    if (rc != 0)
        return rc;
    unsigned char prefix[DORT__PREFIX_SIZE];
    dort__actor_prefix(a, prefix);
    MDB_val k = {DORT__PREFIX_SIZE, prefix}, v;
    rc = mdb_get(txn, st->actor_alarm, &k, &v);
    if (rc != 0)
        return dort__lmdb_err(rc);
    Dort__AlarmRecord *r = dort__alarm_record__unpack(NULL, v.mv_size, v.mv_data);
    if (r == NULL)
        return DORT_ECORRUPT;
    *due = r->due_ms;
    *retry = r->retry_count;
    *scheduled = r->scheduled_ms;
    dort__alarm_record__free_unpacked(r, NULL);
    return 0;
}

static int layer_alarm(const dort__wset_t *ws, int64_t *due, uint32_t *retry, int64_t *scheduled)
{
    if (ws == NULL || ws->alarm_op == DORT__ALARM_NONE)
        return 1; /* undecided */
    if (ws->alarm_op == DORT__ALARM_DELETE)
        return DORT_ENOENT;
    *due = ws->alarm_due_ms;
    *retry = ws->alarm_retry;
    *scheduled = ws->alarm_scheduled_ms;
    return 0;
}

int dort__alarm_effective(dort_actor_t *a, int64_t *due, uint32_t *retry, int64_t *scheduled)
{
    dort_rt_t *rt = a->ns->rt;
    int rc;
    if (dort__in_turn_of(rt, a)) {
        for (int i = (int)rt->turn.depth; i >= 0; i--)
            if ((rc = layer_alarm(&rt->turn.layers[i], due, retry, scheduled)) != 1)
                return rc;
    }
    if ((rc = layer_alarm(a->open_ws, due, retry, scheduled)) != 1 ||
        (rc = layer_alarm(a->inflight_ws, due, retry, scheduled)) != 1)
        return rc;
    return read_record(a, due, retry, scheduled);
}

/* ---- the storage API ---- */

static dort__wset_t *top(dort_actor_t *a)
{
    dort__turn_t *t = &a->ns->rt->turn;
    return &t->layers[t->depth];
}

int dort_storage_get_alarm(dort_actor_t *self, int64_t *when_ms)
{
    if (self == NULL || when_ms == NULL)
        return DORT_EINVAL;
    dort_rt_t *rt = self->ns->rt;
    if (!dort__in_turn_of(rt, self))
        return DORT_ENOTINTURN;
    /* As Cloudflare: inside the alarm handler the running alarm is no
     * longer "set", unless the handler set a new one. */
    if (rt->turn.kind == DORT__TURN_ALARM) {
        int set_here = 0;
        for (uint32_t i = 0; i <= rt->turn.depth; i++)
            set_here |= rt->turn.layers[i].alarm_op != DORT__ALARM_NONE;
        if (!set_here)
            return DORT_ENOENT;
    }
    int64_t due, scheduled;
    uint32_t retry;
    int rc = dort__alarm_effective(self, &due, &retry, &scheduled);
    if (rc == 0)
        *when_ms = scheduled;
    return rc;
}

int dort_storage_set_alarm(dort_actor_t *self, int64_t when_ms)
{
    if (self == NULL)
        return DORT_EINVAL;
    if (!dort__in_turn_of(self->ns->rt, self))
        return DORT_ENOTINTURN;
    if (when_ms < 0)
        when_ms = 0;
    dort__wset_t *ws = top(self);
    ws->alarm_op = DORT__ALARM_SET;
    ws->alarm_due_ms = when_ms;
    ws->alarm_scheduled_ms = when_ms;
    ws->alarm_retry = 0;
    return 0;
}

int dort_storage_delete_alarm(dort_actor_t *self)
{
    if (self == NULL)
        return DORT_EINVAL;
    if (!dort__in_turn_of(self->ns->rt, self))
        return DORT_ENOTINTURN;
    top(self)->alarm_op = DORT__ALARM_DELETE;
    return 0;
}

/* ---- scheduling ---- */

/* 1 when the schedule entry (due, actor) is real and not already handled. */
static int entry_live(dort_rt_t *rt, dort_ns_t *ns, const dort_id_t *id, int64_t due)
{
    dort_actor_t *a = dort__table_find(&rt->actors, ns, id);
    if (a == NULL)
        return 1;
    if (a->flags & DORT__AF_ALARM_FIRING)
        return 0;
    int64_t d, s;
    uint32_t r;
    return dort__alarm_effective(a, &d, &r, &s) == 0 && d == due;
}

/* Visits schedule entries in due order until `fn` returns non-zero. */
static void scan(dort_rt_t *rt, int (*fn)(dort_rt_t *rt, dort_ns_t *ns, const dort_id_t *id,
                                          int64_t due, void *data),
                 void *data)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    if (dort__store_rtxn(&rt->store, &txn) != 0 ||
        mdb_cursor_open(txn, rt->store.alarms, &cur) != 0)
        return;
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 + DORT__PREFIX_SIZE)
            continue;
        const unsigned char *p = k.mv_data;
        dort_ns_t *ns = ns_by_tag(rt, p + 8);
        if (ns == NULL)
            continue; /* a namespace this configuration does not bind */
        dort_id_t id;
        memcpy(id.bytes, p + 8 + DORT__NS_TAG_SIZE, DORT_ID_SIZE);
        if (fn(rt, ns, &id, (int64_t)dort__be64_get(p), data))
            break;
    }
    mdb_cursor_close(cur);
}

static int find_first(dort_rt_t *rt, dort_ns_t *ns, const dort_id_t *id, int64_t due, void *data)
{
    if (!entry_live(rt, ns, id, due))
        return 0;
    *(int64_t *)data = due;
    return 1;
}

void dort__alarm_schedule(dort_rt_t *rt)
{
    if (rt->state != DORT__RT_RUNNING)
        return;
    int64_t first = -1;
    scan(rt, find_first, &first);
    if (first < 0) {
        uv_timer_stop(&rt->alarm_timer);
        rt->alarm_timer_due = -1;
        return;
    }
    int64_t now = dort__wall_ms();
    uint64_t delay = first > now ? (uint64_t)(first - now) : 0;
    rt->alarm_timer_due = first;
    uv_timer_start(&rt->alarm_timer, dort__alarm_on_timer, delay, 0);
}

typedef struct fire_s {
    int64_t now;
    int fired;
} fire_t;

static int fire_one(dort_rt_t *rt, dort_ns_t *ns, const dort_id_t *id, int64_t due, void *data)
{
    fire_t *f = data;
    if (due > f->now || f->fired >= FIRE_BATCH)
        return 1;
    if (!entry_live(rt, ns, id, due))
        return 0;
    int err = 0;
    dort_actor_t *a = dort__actor_get(rt, ns, id, &err);
    dort__alarm_msg_t *m = a ? dort__calloc(1, sizeof *m) : NULL;
    if (m == NULL) {
        if (a != NULL)
            dort__actor_maybe_idle(a);
        return 1; /* out of memory: the rescan retries later */
    }
    int64_t d, s;
    uint32_t r;
    if (dort__alarm_effective(a, &d, &r, &s) != 0 || d != due) {
        dort__free(m);
        dort__actor_maybe_idle(a);
        return 0;
    }
    m->msg.kind = DORT__MSG_ALARM;
    m->due_ms = due;
    m->scheduled_ms = s;
    m->retry = r;
    a->flags |= DORT__AF_ALARM_FIRING;
    dort__actor_push_inbox(a, &m->msg);
    rt->stats.alarms_fired++;
    f->fired++;
    return 0;
}

void dort__alarm_on_timer(uv_timer_t *t)
{
    dort_rt_t *rt = t->data;
    if (rt->state != DORT__RT_RUNNING)
        return;
    fire_t f = {dort__wall_ms(), 0};
    scan(rt, fire_one, &f);
    dort__alarm_schedule(rt);
}

/* ---- running the handler and retries ---- */

static int64_t backoff_ms(dort_rt_t *rt, uint32_t retry)
{
    double base = (double)rt->opts.alarm_retry_base_ms * ldexp(1.0, (int)retry);
    /* xorshift64: jitter needs no cryptographic quality. */
    rt->rng ^= rt->rng << 13;
    rt->rng ^= rt->rng >> 7;
    rt->rng ^= rt->rng << 17;
    double u = (double)(rt->rng >> 11) / 9007199254740992.0; /* [0,1) */
    double j = rt->opts.alarm_retry_jitter;
    return (int64_t)(base * (1.0 - j + 2.0 * j * u));
}

/* A system write after the handler's turn: schedules the retry, or gives up
 * and deletes the alarm. Runs as its own small turn so it is sealed and
 * committed like any other write. */
static void settle_failure(dort_rt_t *rt, dort_actor_t *a, const dort__alarm_msg_t *m)
{
    int64_t d, s;
    uint32_t r;
    dort__turn_begin(rt, a, DORT__TURN_TASK);
    rt->stats.turns--; /* not a handler invocation */
    if (dort__alarm_effective(a, &d, &r, &s) == 0 && d == m->due_ms) {
        dort__wset_t *ws = &rt->turn.layers[0];
        if (m->retry + 1 > rt->opts.alarm_max_retries) {
            ws->alarm_op = DORT__ALARM_DELETE;
            rt->stats.alarms_dropped++;
            DORT_LOG(&rt->log, DORT_LOG_WARN, "actor %s: alarm dropped after %u retries",
                     a->ns->binding, m->retry);
        } else {
            ws->alarm_op = DORT__ALARM_SET;
            ws->alarm_due_ms = dort__wall_ms() + backoff_ms(rt, m->retry);
            ws->alarm_scheduled_ms = m->scheduled_ms;
            ws->alarm_retry = m->retry + 1;
            rt->stats.alarms_retried++;
        }
    }
    dort__turn_end(rt, 0);
}

/* A queued alarm is stale when a turn that ran after the timer queued it
 * deleted or moved the alarm: no handler runs for it. Rescans skipped this
 * actor while its firing flag was set, so its new alarm may have no timer:
 * schedule again. */
static int drop_if_stale(dort_rt_t *rt, dort_actor_t *a, dort__alarm_msg_t *m)
{
    int64_t d, s;
    uint32_t r;
    if (dort__alarm_effective(a, &d, &r, &s) == 0 && d == m->due_ms)
        return 0;
    a->flags &= (uint16_t)~DORT__AF_ALARM_FIRING;
    dort__free(m);
    dort__alarm_schedule(rt);
    return 1;
}

void dort__alarm_msg_fail(dort_rt_t *rt, dort_actor_t *a, dort__alarm_msg_t *m, int status);
void dort__alarm_msg_fail(dort_rt_t *rt, dort_actor_t *a, dort__alarm_msg_t *m, int status)
{
    (void)status;
    if (drop_if_stale(rt, a, m))
        return;
    a->flags &= (uint16_t)~DORT__AF_ALARM_FIRING;
    settle_failure(rt, a, m);
    dort__free(m);
}

void dort__alarm_run(dort_rt_t *rt, dort_actor_t *a, dort__alarm_msg_t *m)
{
    if (drop_if_stale(rt, a, m))
        return;
    dort_alarm_info_t info = {m->scheduled_ms, m->retry};
    uint32_t gen = a->gen;
    dort__turn_begin(rt, a, DORT__TURN_ALARM);
    int rc = a->ns->cls->alarm ? a->ns->cls->alarm(a, &info) : 0;
    if (rc == 0) {
        /* Success deletes the alarm that fired, unless the handler set or
         * deleted one itself. */
        int touched = 0;
        for (uint32_t i = 0; i <= rt->turn.depth; i++)
            touched |= rt->turn.layers[i].alarm_op != DORT__ALARM_NONE;
        int64_t d, s;
        uint32_t r;
        if (!touched && dort__alarm_effective(a, &d, &r, &s) == 0 && d == m->due_ms)
            rt->turn.layers[rt->turn.depth].alarm_op = DORT__ALARM_DELETE;
    }
    dort__turn_end(rt, rc);
    a->flags &= (uint16_t)~DORT__AF_ALARM_FIRING;
    if (rc != 0 && a->gen == gen)
        settle_failure(rt, a, m);
    dort__free(m);
}
