/* dort/scheduled.h - Cron Triggers: a worker's `scheduled` handler run on a
 * cron schedule (dort/cron.h syntax, UTC), as Cloudflare runs them, with
 * three things Cloudflare's local emulators do not do:
 *
 *   - The last run of every trigger is persisted. A trigger is keyed by its
 *     expression with runs of blanks collapsed ("0  * * * *" and
 *     "0 * * * *" are one trigger); its record is written with the group
 *     commit when a run starts, holding the time of the slot that run is for.
 *   - A run missed while the runtime was down fires ONCE at start, for the
 *     most recent missed slot (never once per missed slot). A trigger with no
 *     record (never seen before) does not fire at start: it waits for its
 *     next slot. The same applies when the loop or the wall clock was stalled
 *     or jumped forward past several slots while running: one run, for the
 *     latest slot.
 *   - Two runs of one trigger never overlap: a slot that comes while the
 *     previous run has not finished (its handler returned DORT_EPENDING) is
 *     skipped and counted.
 *
 * Delivery is at least once per recorded slot across crashes: the record and
 * the handler's first effects are not atomic, so a crash right after a run
 * started, before its record committed, runs that slot again at the next
 * start. A graceful stop never loses a record.
 *
 * Stopping: once dort_rt_stop is called no new run starts. A pending run is
 * awaited like other in-flight work until the runtime's stop deadline; then
 * it is abandoned (see dort_scheduled_finish).
 *
 * Every function here runs on the loop thread.
 */
#ifndef DORT_SCHEDULED_H
#define DORT_SCHEDULED_H

#include <dort/common.h>
#include <dort/worker.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- triggers ---- */

/* Registers the cron trigger `expr` (dort/cron.h syntax; copied) for
 * `worker`, whose class must have a `scheduled` handler. Call before
 * dort_rt_start. `err` (may be NULL when `errlen` is 0) receives a message
 * on DORT_ECRON and DORT_EEXIST, truncated to `errlen` bytes and always
 * NUL-terminated.
 *
 * Returns 0; DORT_ECRON when the expression is invalid (`err` holds the
 * parser's message, which names the field and quotes the bad text) or longer
 * than 400 characters; DORT_EEXIST when a trigger with the same expression
 * (blanks collapsed) is already registered; DORT_EINVAL for a NULL argument
 * or a worker without a scheduled handler; DORT_ESTATE after dort_rt_start;
 * DORT_ENOMEM. */
DORT_EXTERN int dort_rt_add_cron_trigger(dort_rt_t *rt, const char *expr, dort_worker_t *worker,
                                         char *err, size_t errlen);

/* Called once when a run started by dort_rt_run_scheduled is over: `status`
 * is 0 when the handler succeeded, DORT_EHANDLER (or the DORT_E* code the
 * handler reported) when it failed, DORT_ESTOPPED when the runtime stopped
 * before the run finished. Runs on the loop thread. */
typedef void (*dort_scheduled_done_cb)(void *data, int status);

/* Runs the scheduled handler of trigger `expr` now (what `dort dev
 * --test-scheduled` does for GET /__scheduled?cron=EXPR). `expr` is matched
 * with runs of blanks collapsed and leading and trailing blanks ignored, and
 * borrowed for the call. The event's time is the current wall-clock time in
 * milliseconds and no record is written: a run now is not a slot and does not
 * change when the schedule fires next. It counts as a run of the trigger, so
 * a slot that comes while it is pending is skipped.
 *
 * `done` (may be NULL) gets the outcome with `data`; when the handler
 * finishes at once it is called before this function returns.
 *
 * Returns 0 (the run started; `done` will be called exactly once);
 * DORT_ENOENT when no trigger has this expression; DORT_EBUSY when a run of
 * the trigger is still pending; DORT_ESTATE before dort_rt_start;
 * DORT_ESTOPPED once dort_rt_stop was called; DORT_EINVAL; DORT_ENOMEM. On an
 * error `done` is not called. */
DORT_EXTERN int dort_rt_run_scheduled(dort_rt_t *rt, const char *expr, dort_scheduled_done_cb done,
                                      void *data);

/* ---- the event a scheduled handler receives ---- */

/* The trigger's expression exactly as registered. Borrowed: valid until the
 * run is finished (the handler returns anything but DORT_EPENDING, or
 * dort_scheduled_finish is called). */
DORT_EXTERN const char *dort_scheduled_cron(const dort_scheduled_event_t *ev);

/* The time of the slot this run is for, Unix milliseconds UTC (a whole
 * minute), like Cloudflare's `scheduledTime`; for a catch-up run at start,
 * the most recent slot that was missed; for dort_rt_run_scheduled, the
 * wall-clock time it was called. */
DORT_EXTERN int64_t dort_scheduled_time(const dort_scheduled_event_t *ev);

/* The runtime running the event; NULL once the runtime stopped and abandoned
 * the event. */
DORT_EXTERN dort_rt_t *dort_scheduled_rt(const dort_scheduled_event_t *ev);

/* Finishes a run whose handler returned DORT_EPENDING: `status` 0 for
 * success, non-zero for failure (a DORT_E* code is reported as is, anything
 * else as DORT_EHANDLER). It may also be called inside the handler before it
 * returns DORT_EPENDING. Call it exactly once per pending run; `ev` is freed
 * by it and must not be used afterwards.
 *
 * If the runtime stopped first (deadline passed), the run was already
 * counted as abandoned with DORT_ESTOPPED: the call then only frees `ev`, and
 * it must still be made, possibly after dort_rt_free. */
DORT_EXTERN void dort_scheduled_finish(dort_scheduled_event_t *ev, int status);

/* ---- counters ---- */

typedef struct dort_scheduled_stats_s {
    uint64_t runs;      /* handler invocations (slots, catch-ups and runs now) */
    uint64_t failures;  /* runs that failed, also those abandoned at stop */
    uint64_t skipped;   /* slots skipped because the previous run was pending */
    uint64_t caught_up; /* runs fired at start for a slot missed while down */
    uint64_t manual;    /* runs started by dort_rt_run_scheduled */
    /* For one trigger only (-1 in totals or when unknown): the slot of the
     * last recorded run, and the next slot to fire (-1 when the expression
     * never fires again, or before dort_rt_start). */
    int64_t last_ms;
    int64_t next_ms;
} dort_scheduled_stats_t;

/* Fills `out` with the counters of trigger `expr` (matched as in
 * dort_rt_run_scheduled), or with the totals of all triggers when `expr` is
 * NULL. Returns 0, DORT_ENOENT (no such trigger) or DORT_EINVAL. */
DORT_EXTERN int dort_rt_scheduled_stats(const dort_rt_t *rt, const char *expr,
                                        dort_scheduled_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
