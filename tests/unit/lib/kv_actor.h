/* kv_actor.h - a scriptable actor class for tests. The request body is a
 * script, one command per line; the response body has one line per command
 * that produces output:
 *   put K V | get K | del K | delall | list [prefix P] [start S] [after A]
 *   [end E] [limit N] [reverse] | begin | commit | rollback | setalarm MS |
 *   getalarm | delalarm | fail | init_count | block | unblock
 * Keys and values are single words. "fail" makes the turn fail. Storage
 * errors are reported as "ERR <DORT_NAME>" lines. */
#ifndef DORT_TEST_KV_ACTOR_H
#define DORT_TEST_KV_ACTOR_H

#include <dort/dort.h>

extern const dort_class_t th_kv_class; /* name "KV" */

/* Process-wide counters the class maintains. */
extern int th_kv_inits;
extern int th_kv_evicts;
extern int th_kv_alarms;      /* alarm handler runs */
extern int th_kv_alarm_fail;  /* while > 0 the alarm handler fails (and decrements) */
extern uint32_t th_kv_last_retry;
extern int64_t th_kv_last_alarm_ms; /* wall time of the last alarm run */

/* Runs a script for actor `name` and returns the response body in out. */
int th_kv(dort_rt_t *rt, const char *name, const char *script, char *out, size_t cap);

#endif
