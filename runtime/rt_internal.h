/* rt_internal.h - the runtime's internal types: namespaces, actors, calls,
 * mailboxes, held outputs, turns, and the runtime itself.
 *
 * Follow one request through the modules in this order: call.c (a send puts
 * a call in the target's mailbox) -> sched.c (the run queue delivers it as a
 * turn) -> turn.c (end of turn: the write set is sealed, outputs are held or
 * released) -> commit.c (sealed sets go to the writer thread in one batch;
 * completion releases the held outputs) -> call.c (the answer reaches the
 * caller).
 */
#ifndef DORT_RT_INTERNAL_H
#define DORT_RT_INTERNAL_H

#include <stdalign.h>
#include <stddef.h>

#include <uv.h>

#include <dort/actor.h>
#include <dort/errors.h>
#include <dort/runtime.h>
#include <dort/storage.h>

#include "batch_internal.h"
#include "debug_internal.h"
#include "log_internal.h"
#include "store_internal.h"
#include "wset_internal.h"
#include "worker_internal.h"
#include "writer_internal.h"

/* ---- namespaces ---- */

struct dort_ns_s {
    dort_rt_t *rt;
    char *binding;
    char *unique_key;
    const dort_class_t *cls;
    unsigned char key[32]; /* SHA-256(unique_key): the HMAC key for ids */
    uint32_t index;        /* position in rt->nss */
    /* HMAC-SHA256 with that key, precomputed: the SHA-256 states after the
     * key's inner and outer pad blocks, copied for each id (see id.c). */
    struct evp_md_ctx_st *mac_inner, *mac_outer, *mac_scratch;
};

/* id.c: prepares / frees a namespace's HMAC states. */
int dort__ns_mac_init(dort_ns_t *ns);
void dort__ns_mac_release(dort_ns_t *ns);

/* ---- mailbox messages ---- */

typedef enum {
    DORT__MSG_CALL = 1,  /* a request for the actor's fetch handler */
    DORT__MSG_REPLY = 2, /* the answer to a call the actor made */
    DORT__MSG_ALARM = 3,
    DORT__MSG_TASK = 4,  /* an internal turn (a runtime module's callback) */
} dort__msg_kind_t;

typedef struct dort__msg_s {
    struct dort__msg_s *next;
    uint8_t kind;
} dort__msg_t;

/* ---- outputs held by the output gate ---- */

typedef enum {
    DORT__OUT_SEND = 1,    /* a call to deliver to its target */
    DORT__OUT_RESPOND = 2, /* an answer to deliver to the caller */
    DORT__OUT_CUSTOM = 3,  /* a runtime module's output (e.g. a socket write) */
} dort__out_kind_t;

typedef struct dort__out_s {
    struct dort__out_s *next;
    uint8_t kind;
} dort__out_t;

/* A module's own output: `release` when the gate opens, `fail` when the
 * writes it depends on are lost. Exactly one of them is called, once. */
typedef struct dort__out_custom_s {
    dort__out_t out;
    void (*release)(void *data);
    void (*fail)(void *data, int status);
    void *data;
} dort__out_custom_t;

/* One request travelling to an actor and its answer travelling back: the
 * same object is a SEND output, a CALL message, an open call, a RESPOND
 * output and a REPLY message in turn, so a round trip allocates it once. */
struct dort_call_s {
    dort__msg_t msg;
    dort__out_t out;
    dort_ns_t *ns;
    dort_id_t id;
    dort_actor_t *target;   /* set when delivered */
    dort_actor_t *caller;   /* NULL: from outside any actor */
    uint32_t caller_gen;
    uint32_t target_gen;
    dort_fetch_cb cb;
    void *cb_data;
    dort_request_t *req;
    dort_response_t *res;
    int status;
    uint8_t is_open; /* in the target's list of unanswered calls */
    dort_call_t *open_prev, *open_next;
};

typedef struct dort__alarm_msg_s {
    dort__msg_t msg;
    int64_t due_ms;
    int64_t scheduled_ms;
    uint32_t retry;
} dort__alarm_msg_t;

/* An internal turn: `fn` runs as a turn of the actor (0 = success). If the
 * actor is reset or the runtime stops first, `cancel` runs instead. With
 * `exclusive_ok` the task is delivered even while exclusivity is held. */
typedef struct dort__task_s {
    dort__msg_t msg;
    int (*fn)(dort_actor_t *self, void *data);
    void (*cancel)(void *data, int status);
    void *data;
    uint8_t exclusive_ok;
} dort__task_t;

/* ---- actors ---- */

enum {
    DORT__AF_NEEDS_INIT = 1 << 0,
    DORT__AF_IN_TURN = 1 << 1,
    DORT__AF_IN_RUNQ = 1 << 2,
    DORT__AF_IN_IDLE = 1 << 3,
    DORT__AF_ALARM_FIRING = 1 << 4, /* an alarm is queued/running/settling */
    DORT__AF_IN_INIT = 1 << 5,
    DORT__AF_IN_BLOCKED = 1 << 6,
};

struct dort_actor_s {
    dort_id_t id;
    dort_ns_t *ns;
    dort_actor_t *runq_next;
    dort_actor_t *idle_prev, *idle_next;
    dort__msg_t *inbox_head, *inbox_tail;  /* calls, alarms, tasks */
    dort__msg_t *reply_head, *reply_tail;  /* replies and exclusive_ok tasks */
    dort_call_t *open_calls;
    /* Sealed writes not yet committed: those of the open batch and those the
     * writer is committing now. Reads consult them before LMDB. */
    dort__wset_t *open_ws, *inflight_ws;
    dort__out_t *held_open_head, *held_open_tail;
    dort__out_t *held_inflight_head, *held_inflight_tail;
    int64_t idle_since_ms;
    int64_t block_since_ms;
    uint32_t inbox_len;
    uint32_t outstanding; /* calls made whose reply is not yet delivered */
    uint32_t gen;         /* bumped by every reset */
    uint32_t open_item;   /* index of open_ws in rt->open_batch */
    uint32_t holds;       /* open streams: keep the actor resident */
    uint16_t block_count;
    uint16_t flags;
    alignas(max_align_t) unsigned char state[];
};

/* ---- the turn being run ---- */

#define DORT__MAX_TXN_DEPTH 8

typedef enum {
    DORT__TURN_INIT = 1,
    DORT__TURN_FETCH = 2,
    DORT__TURN_REPLY = 3,
    DORT__TURN_ALARM = 4,
    DORT__TURN_TASK = 5,
} dort__turn_kind_t;

typedef struct dort__turn_s {
    dort_actor_t *actor; /* NULL outside turns */
    uint8_t kind;
    uint32_t depth;      /* open transactions */
    /* layers[0] holds the turn's writes, layers[1..depth] open transactions.
     * They keep their arrays between turns. */
    dort__wset_t layers[DORT__MAX_TXN_DEPTH + 1];
    dort__out_t *out_head, *out_tail;
    /* Outputs that belong to open transaction i (1..depth): they join the
     * enclosing layer on commit and fail (DORT_ETXN) on rollback. */
    dort__out_t *txn_out[DORT__MAX_TXN_DEPTH + 1];
    dort_call_t *call;   /* fetch turns: the call being handled */
} dort__turn_t;

/* ---- the actor table: (namespace, id) -> live actor ---- */

typedef struct dort__actor_table_s {
    dort_actor_t **slots;
    size_t mask;
    size_t count;
} dort__actor_table_t;

/* ---- the runtime ---- */

enum { DORT__RT_NEW, DORT__RT_RUNNING, DORT__RT_STOPPING, DORT__RT_FINISHING, DORT__RT_STOPPED };

struct dort_rt_s {
    dort_rt_options_t opts;
    char *data_dir;
    uv_loop_t *loop;
    uv_loop_t *own_loop;
    int state;
    dort__logger_t log;
    void *data;

    const dort_class_t **classes;
    uint32_t nclasses, classes_cap;
    dort_ns_t **nss;
    uint32_t nns, nss_cap;
    dort_worker_t **workers;
    uint32_t nworkers, workers_cap;
    dort__var_t *vars;
    uint32_t nvars;
    struct dort_http_server_s *http_servers;
    struct dort_stream_s *streams; /* open streams (producer not done) */
    struct dort__queues_s *queues;  /* the queue engine (queues/), NULL if unused */
    struct dort__ws_rt_s *ws;      /* WebSocket groups by actor (ws_actor.c); NULL until used */
    struct dort__cron_sched_s *cron; /* cron triggers (cron_sched.c); NULL without any */

    dort__actor_table_t actors;
    dort_actor_t *runq_head, *runq_tail;
    dort_actor_t *idle_head, *idle_tail;
    /* Actors holding exclusivity. A blocked actor is never idle, so this
     * list borrows the idle links. */
    dort_actor_t *blocked_head, *blocked_tail;
    uint64_t calls_pending; /* call objects alive: stop waits for zero */
    dort__turn_t turn;
    int in_sched;
    int woke_external;    /* an external callback ran: do not sleep in poll */

    dort__store_t store;
    dort__writer_t writer;
    dort__batch_t *open_batch;
    dort__batch_t *inflight_batch;
    uint64_t batch_seq;
    /* Spent per-actor write sets, kept with their arrays for the next batch
     * (every writing actor needs one per batch). */
    dort__wset_t *ws_pool[64];
    uint32_t ws_pool_n;
    int completing; /* complete_batch is running: kicks wait for its end */

    uv_prepare_t prepare;
    uv_check_t check;
    uv_idle_t idle;
    uv_timer_t sweep_timer;
    uv_timer_t alarm_timer;
    uv_timer_t stop_timer;
    uv_async_t writer_async;
    int handles_open;
    int stop_deadline_passed;
    dort_rt_stop_cb stop_cb;
    void *stop_data;

    int64_t alarm_timer_due; /* wall ms the alarm timer is set for; -1 none */
    int alarm_rescan;        /* a commit touched alarms */
    uint64_t rng;            /* xorshift state for retry jitter */

    dort_rt_stats_t stats;
};

/* ---- cross-module internals ---- */

/* time */
int64_t dort__wall_ms(void);
static inline int64_t dort__mono_ms(dort_rt_t *rt)
{
    return (int64_t)uv_now(rt->loop);
}

/* actor_table.c */
int dort__table_init(dort__actor_table_t *t);
void dort__table_release(dort__actor_table_t *t);
dort_actor_t *dort__table_find(const dort__actor_table_t *t, const dort_ns_t *ns,
                               const dort_id_t *id);
int dort__table_insert(dort__actor_table_t *t, dort_actor_t *a);
void dort__table_remove(dort__actor_table_t *t, dort_actor_t *a);

/* actor.c */
/* Finds or activates the actor; NULL only on DORT_ENOMEM (*err set). */
dort_actor_t *dort__actor_get(dort_rt_t *rt, dort_ns_t *ns, const dort_id_t *id, int *err);
void dort__actor_prefix(const dort_actor_t *a, unsigned char out[DORT__PREFIX_SIZE]);
void dort__actor_touch(dort_actor_t *a);       /* became busy: leave the idle list */
void dort__actor_maybe_idle(dort_actor_t *a);  /* joins the idle list if nothing pending */
/* Drops in-memory state (evict handler runs), fails unanswered calls with
 * `status`, forgets outstanding replies; the next delivery runs init. */
void dort__actor_reset(dort_actor_t *a, int status);
void dort__actor_evict(dort_actor_t *a);
/* Drops the replies and tasks queued for `a` without running them (tasks
 * are cancelled with `status`): nobody is left to run them. */
void dort__actor_drop_replies(dort_actor_t *a, int status);
void dort__actors_sweep(dort_rt_t *rt);
void dort__actors_free_all(dort_rt_t *rt);
void dort__actor_push_inbox(dort_actor_t *a, dort__msg_t *m);
void dort__actor_push_reply(dort_actor_t *a, dort__msg_t *m);

/* sched.c */
void dort__sched_add(dort_rt_t *rt, dort_actor_t *a);
void dort__sched_run(dort_rt_t *rt);
/* Queues an internal task turn for `a` (takes ownership of `t`). */
int dort__actor_post_task(dort_actor_t *a, dort__task_t *t);

/* turn.c */
void dort__turn_begin(dort_rt_t *rt, dort_actor_t *a, int kind);
/* Ends the current turn with the handler's return code. */
void dort__turn_end(dort_rt_t *rt, int rc);
void dort__turn_add_output(dort_rt_t *rt, dort__out_t *o);
/* Adds an output that exists only if the innermost open transaction
 * commits (queue sends and acks made inside it). */
void dort__turn_add_txn_output(dort_rt_t *rt, dort__out_t *o);
/* Transaction `depth` ended: its outputs join the enclosing layer, or fail. */
void dort__turn_txn_end(dort_rt_t *rt, uint32_t depth, int committed);
static inline int dort__in_turn_of(const dort_rt_t *rt, const dort_actor_t *a)
{
    return a != NULL && rt->turn.actor == a;
}
void dort__out_release(dort_rt_t *rt, dort__out_t *o);
void dort__out_fail(dort_rt_t *rt, dort__out_t *o, int status);
void dort__out_fail_list(dort_rt_t *rt, dort__out_t *head, int status);
void dort__out_release_list(dort_rt_t *rt, dort__out_t *head);

/* call.c */
/* Delivers a released SEND to its target (activating it). */
void dort__call_deliver(dort_rt_t *rt, dort_call_t *c);
/* Completes a call towards its caller with a response or an error. */
void dort__call_complete(dort_rt_t *rt, dort_call_t *c, int status, dort_response_t *res);
/* Runs a REPLY message as a turn of the caller actor. */
void dort__call_run_reply(dort_rt_t *rt, dort_actor_t *a, dort_call_t *c);
void dort__call_run_fetch(dort_rt_t *rt, dort_actor_t *a, dort_call_t *c);
void dort__call_free(dort_call_t *c);
void dort__call_open_remove(dort_actor_t *a, dort_call_t *c);

/* commit.c */
/* Seals `ws` (the turn's writes) into the actor's open write set. */
int dort__commit_seal(dort_rt_t *rt, dort_actor_t *a, dort__wset_t *ws);
/* Hands the open batch to the writer if it is idle. */
void dort__commit_kick(dort_rt_t *rt);
void dort__commit_on_async(uv_async_t *h);
/* 1 when nothing is waiting to be committed or being committed. */
int dort__commit_idle(const dort_rt_t *rt);
/* Returns a spent write set to the pool (or frees it). */
void dort__commit_ws_put(dort_rt_t *rt, dort__wset_t *ws);
void dort__commit_pool_release(dort_rt_t *rt);
/* Adds a write set of raw records (no actor) to the next group commit;
 * `cb` (may be NULL) runs when it committed or failed. Takes `ws` on
 * success. */
int dort__commit_add_raw(dort_rt_t *rt, dort__wset_t *ws, dort__commit_cb cb, void *data);

/* alarm.c */
void dort__alarm_schedule(dort_rt_t *rt);  /* re-reads the earliest alarm */
void dort__alarm_on_timer(uv_timer_t *t);
void dort__alarm_run(dort_rt_t *rt, dort_actor_t *a, dort__alarm_msg_t *m);
int dort__alarm_effective(dort_actor_t *a, int64_t *due, uint32_t *retry, int64_t *scheduled);

/* storage.c */
/* Reads through the overlay; *found 0 when absent. */
int dort__storage_read(dort_actor_t *a, const void *key, size_t key_len, dort_slice_t *out,
                       int *found);

#endif
