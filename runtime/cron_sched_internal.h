/* cron_sched_internal.h - the cron trigger scheduler (cron_sched.c): the
 * runtime's hooks, and a clock tests can replace.
 *
 * State lives in rt->cron, created by the first dort_rt_add_cron_trigger (or
 * dort__cron_set_clock); a runtime without triggers has none, opens no
 * database and no timer.
 */
#ifndef DORT_CRON_SCHED_INTERNAL_H
#define DORT_CRON_SCHED_INTERNAL_H

#include <stdint.h>

#include <dort/scheduled.h>

/* The scheduler's wall clock: Unix milliseconds, UTC. */
typedef int64_t (*dort__cron_clock_fn)(void *data);

/* For tests: the scheduler reads `fn(data)` instead of the wall clock
 * (NULL restores the wall clock). Any time on the loop thread; the new clock
 * is used from the next evaluation on. Returns 0 or DORT_ENOMEM. */
int dort__cron_set_clock(dort_rt_t *rt, dort__cron_clock_fn fn, void *data);

/* Evaluates the schedule now, exactly as the timer does when it fires: runs
 * what is due by the clock and re-arms the timer. A no-op unless running. */
void dort__cron_tick(dort_rt_t *rt);

/* ---- hooks called by runtime.c and stop.c ---- */

/* dort_rt_start, before the store opens: asks for the `cron` database.
 * Returns 0 or DORT_ELIMIT. */
int dort__cron_prepare(dort_rt_t *rt);

/* dort_rt_start, once running: reads the persisted last runs, queues the
 * catch-up runs and arms the timer (the handlers run from the loop, not
 * inside dort_rt_start). Failures are logged; cron then stays off. */
void dort__cron_start(dort_rt_t *rt);

/* dort_rt_stop: no run starts after this. */
void dort__cron_stop(dort_rt_t *rt);

/* 1 when no run is pending (stop waits for that until its deadline). */
int dort__cron_idle(const dort_rt_t *rt);

/* The stop is finishing: abandons pending runs (their done callbacks get
 * DORT_ESTOPPED) and closes the timer. Returns how many handles it closes;
 * each calls dort__rt_handle_closed when closed. */
int dort__cron_close(dort_rt_t *rt);

/* dort_rt_free: releases everything. */
void dort__cron_free(dort_rt_t *rt);

#endif
