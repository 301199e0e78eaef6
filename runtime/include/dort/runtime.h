/* dort/runtime.h - the runtime: a libuv loop (its own or the host's), one
 * LMDB environment, the class and namespace registries, and the writer
 * thread that group-commits every actor's writes.
 *
 * Threading: every function here must be called on the loop's thread, except
 * dort_rt_options_init. dort runs its own writer thread internally; no user
 * callback ever runs on it.
 */
#ifndef DORT_RUNTIME_H
#define DORT_RUNTIME_H

#include <uv.h>

#include <dort/common.h>
#include <dort/log.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    /* fsync at every group commit: an acknowledged write survives power loss. */
    DORT_DURABILITY_FULL = 0,
    /* no fsync per commit (LMDB MDB_NOSYNC), a background sync every
     * `relaxed_sync_interval_ms`: survives a process crash, may lose the last
     * interval on power loss. The default of `dort dev`. */
    DORT_DURABILITY_RELAXED = 1,
    /* a private temporary directory removed at dort_rt_free: for tests. */
    DORT_DURABILITY_MEMORY = 2,
} dort_durability_t;

typedef struct dort_rt_options_s {
    /* Directory of the LMDB environment (created if missing). Required unless
     * durability is DORT_DURABILITY_MEMORY. Copied. */
    const char *data_dir;
    dort_durability_t durability;
    /* The host's loop. NULL: the runtime creates and owns one. A borrowed loop
     * must outlive the runtime. */
    uv_loop_t *loop;
    /* An actor with nothing to do for this long is evicted (default 10000;
     * -1 never). */
    int64_t idle_timeout_ms;
    /* An actor that holds exclusivity longer than this is reset (default
     * 30000). */
    int64_t exclusive_timeout_ms;
    /* Address space reserved for the LMDB map at start (default 8 GiB; the
     * file grows only as used). */
    uint64_t map_size;
    /* Upper bound on the map. A commit that needs more fails with
     * DORT_ESTORAGEFULL (default 0 = no bound below what the address space
     * allows). When a commit hits the end of the map below this bound, the map
     * grows and the batch is retried. */
    uint64_t max_size;
    /* Background sync period in relaxed durability (default 1000). */
    int64_t relaxed_sync_interval_ms;
    /* Most sealed write sets committed in one LMDB transaction (default 0 =
     * no limit). 1 turns group commit off: one transaction per turn. */
    uint32_t commit_batch_max;
    /* Messages that may wait in one actor's mailbox before sends to it fail
     * with DORT_EOVERLOADED (default 100000). */
    uint32_t mailbox_limit;
    /* Alarm retries after a failing alarm handler: delay base * 2^n with
     * +-jitter, at most `alarm_max_retries` times (Cloudflare: 2000 ms, 0.25,
     * 6). */
    int64_t alarm_retry_base_ms;
    double alarm_retry_jitter;
    uint32_t alarm_max_retries;
    /* How long dort_rt_stop waits for in-flight work before failing what is
     * left with DORT_ESTOPPED (default 5000). */
    int64_t stop_timeout_ms;
    /* Log sink (NULL: no logging), its data, and the most verbose level sent. */
    dort_log_fn log_fn;
    void *log_data;
    dort_log_level_t log_level;
} dort_rt_options_t;

/* Fills `o` with the defaults documented above. */
DORT_EXTERN void dort_rt_options_init(dort_rt_options_t *o);

/* Creates a runtime from `o` (copied; validated once here). Nothing is opened
 * until dort_rt_start. Returns 0, DORT_EINVAL (with a reason in the log),
 * DORT_ENOMEM or DORT_ESYS (could not create an owned loop). On success
 * `*out` must be released with dort_rt_free. */
DORT_EXTERN int dort_rt_new(dort_rt_t **out, const dort_rt_options_t *o);

/* Opens the LMDB environment, starts the writer thread and schedules
 * persisted alarms. Register classes and bind namespaces before this.
 * Returns 0, DORT_ESTATE (already started), DORT_EIO / DORT_ESYS (cannot
 * open the data directory), DORT_ESCHEMA (written by a newer dort),
 * DORT_EBUSY (another runtime, in this process or another, holds the data
 * directory's dort.lock until it stops). */
DORT_EXTERN int dort_rt_start(dort_rt_t *rt);

typedef void (*dort_rt_stop_cb)(dort_rt_t *rt, void *data);

/* Stops gracefully: refuses new external sends with DORT_ESTOPPED, lets
 * queued turns and pending calls finish within `stop_timeout_ms` (then fails
 * what remains), commits every sealed write set, stops the writer thread and
 * closes dort's handles. `cb` (may be NULL) runs on the loop when all of that
 * is done; after it an owned loop has no dort handles left. Returns 0 or
 * DORT_ESTATE when not running. */
DORT_EXTERN int dort_rt_stop(dort_rt_t *rt, dort_rt_stop_cb cb, void *data);

/* For a runtime that owns its loop: runs the loop until the runtime has
 * stopped (call dort_rt_stop from a handler or a timer). Returns 0 or
 * DORT_ESTATE for a borrowed loop. */
DORT_EXTERN int dort_rt_run(dort_rt_t *rt);

/* Frees a runtime that was never started or has stopped (its stop callback
 * ran). With an owned loop the loop is closed too. NULL is accepted. */
DORT_EXTERN void dort_rt_free(dort_rt_t *rt);

/* The loop the runtime runs on (owned or borrowed). */
DORT_EXTERN uv_loop_t *dort_rt_loop(dort_rt_t *rt);

/* Host data: dort never looks at it. */
DORT_EXTERN void dort_rt_set_data(dort_rt_t *rt, void *data);
DORT_EXTERN void *dort_rt_data(const dort_rt_t *rt);

/* Counters since dort_rt_new; read them any time on the loop thread. */
typedef struct dort_rt_stats_s {
    uint64_t turns;              /* handler invocations */
    uint64_t turns_failed;       /* handlers that returned an error */
    uint64_t messages;           /* requests delivered to actors */
    uint64_t commit_txns;        /* LMDB write transactions committed */
    uint64_t commit_failures;    /* batches that failed (every turn in them failed) */
    uint64_t committed_writesets;/* sealed per-actor write sets committed */
    uint64_t committed_keys;     /* key puts and deletes committed */
    uint64_t map_grows;          /* times the LMDB map was grown */
    uint64_t actors_live;        /* actors in memory now */
    uint64_t actors_activated;
    uint64_t actors_evicted;
    uint64_t actors_reset;
    uint64_t alarms_fired;
    uint64_t alarms_retried;
    uint64_t alarms_dropped;     /* gave up after the last retry */
    uint64_t outputs_held;       /* outputs that had to wait for a commit */
    /* Histograms: counts per bucket. Batch size buckets are <=1,2,4,...,2^15,
     * more; commit latency buckets are <=0.1,0.25,0.5,1,2.5,5,10,25,50,100,250,
     * 500,1000 ms, more. */
    uint64_t batch_size_hist[17];
    uint64_t commit_latency_hist[14];
    double commit_latency_sum_ms;
} dort_rt_stats_t;

DORT_EXTERN void dort_rt_stats(const dort_rt_t *rt, dort_rt_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
