/* dort/actor.h - actor classes, namespaces, stubs, calls and turns.
 *
 * An actor is a single-threaded object keyed by (namespace, id). There is
 * exactly one live instance per id in a runtime; it is activated on demand
 * when a message is sent to it and evicted when idle. Each invocation of one
 * of its handlers is a *turn*: turns of one actor never overlap, turns of
 * different actors interleave freely. A handler must not block the loop.
 *
 * Output gate: whatever a turn sends out (responses, messages to other
 * actors) is held until every write the actor made so far is durably
 * committed. A turn that fails (handler returns non-zero) loses its writes and
 * its outputs; a caller whose request it was handling gets DORT_EHANDLER.
 *
 * Every function here runs on the loop thread.
 */
#ifndef DORT_ACTOR_H
#define DORT_ACTOR_H

#include <dort/common.h>
#include <dort/id.h>
#include <dort/message.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What an alarm handler is told. */
typedef struct dort_alarm_info_s {
    int64_t scheduled_ms; /* the time the alarm was set for (Unix ms, UTC) */
    uint32_t retry_count; /* 0 on the first attempt, n on the n-th retry */
} dort_alarm_info_t;

/* The handlers of an actor class. The table must outlive the runtime (make it
 * static const). Handlers return 0 for success or any non-zero value to fail
 * the turn. Only `fetch` is required.
 *
 * `init` runs before the first message after each activation, with the
 * actor's exclusivity held (blockConcurrencyWhile): it may read storage and
 * call other actors; messages wait until it returns and every exclusivity it
 * took (dort_actor_block) is released. A failing init resets the actor and
 * fails the message that activated it.
 *
 * `fetch` receives a call: answer it with dort_call_respond, in this turn or
 * a later one (e.g. from the callback of a call to another actor).
 *
 * `alarm` runs when the actor's alarm is due; failing it schedules a retry
 * with backoff. Unless the handler set a new alarm, the alarm is deleted when
 * it succeeds.
 *
 * `evict` runs before the actor's memory is released (idle eviction or a
 * reset); free what the state points to. No storage access there.
 *
 * `websocket_message`, `websocket_close` and `websocket_error` receive the
 * events of sockets the actor accepted (dort/websocket.h). They run as
 * turns. Sockets outlive eviction (hibernation): the actor may have been
 * evicted and activated again (init ran) since it accepted the socket. */
struct dort_class_s {
    const char *name;  /* class name, e.g. "RateLimiter" */
    size_t state_size; /* bytes of zeroed per-instance state (dort_actor_state) */
    int (*init)(dort_actor_t *self);
    int (*fetch)(dort_actor_t *self, dort_call_t *call);
    int (*alarm)(dort_actor_t *self, const dort_alarm_info_t *info);
    void (*evict)(dort_actor_t *self);
    int (*websocket_message)(dort_actor_t *self, dort_ws_t *ws, const void *data, size_t len,
                             int binary);
    int (*websocket_close)(dort_actor_t *self, dort_ws_t *ws, int code, const char *reason,
                           size_t reason_len, int was_clean);
    int (*websocket_error)(dort_actor_t *self, dort_ws_t *ws, int err);
    /* Reserved for handlers added later; keep zeroed. */
    void *reserved[5];
};

/* Registers a class. The table is borrowed and must outlive the runtime.
 * Returns 0, DORT_EINVAL (NULL, no name, no fetch), DORT_EEXIST (a class of
 * that name) or DORT_ESTATE (runtime already started). */
DORT_EXTERN int dort_rt_register_class(dort_rt_t *rt, const dort_class_t *cls);

/* Binds namespace `binding` (e.g. "RATE_LIMITER") to the registered class
 * `class_name`. `unique_key` names the namespace for id derivation and
 * storage (NULL: the class name, so renaming a binding keeps the data).
 * `*out` (may be NULL) is valid until dort_rt_free. Returns 0, DORT_EINVAL,
 * DORT_ENOCLASS, DORT_EEXIST (binding or unique key taken) or DORT_ESTATE. */
DORT_EXTERN int dort_rt_bind_namespace(dort_rt_t *rt, const char *binding, const char *class_name,
                                       const char *unique_key, dort_ns_t **out);

/* The namespace bound as `binding`, or NULL. */
DORT_EXTERN dort_ns_t *dort_rt_namespace(dort_rt_t *rt, const char *binding);
DORT_EXTERN const char *dort_ns_binding(const dort_ns_t *ns);
DORT_EXTERN const dort_class_t *dort_ns_class(const dort_ns_t *ns);
DORT_EXTERN dort_rt_t *dort_ns_rt(const dort_ns_t *ns);

/* ---- stubs: handles to (namespace, id); caller-owned values ---- */

typedef struct dort_stub_s {
    dort_ns_t *ns; /* read-only */
    dort_id_t id;  /* read-only */
} dort_stub_t;

/* Points `stub` at actor `id` of `ns`. Nothing is activated until a send. */
DORT_EXTERN void dort_stub_init(dort_stub_t *stub, dort_ns_t *ns, const dort_id_t *id);

/* The answer to a fetch. Runs on the loop. When `self` is not NULL (the call
 * was made by an actor) it runs as a turn of that actor: storage works there
 * and a non-zero return fails the turn. `status` is 0 with a response, or a
 * negative DORT_E* code with `res` NULL (DORT_EHANDLER, DORT_ECOMMIT,
 * DORT_ESTORAGEFULL, DORT_ERESET, DORT_ESTOPPED, DORT_EOVERLOADED). The
 * callback owns `res` and frees it with dort_response_free. */
typedef int (*dort_fetch_cb)(dort_actor_t *self, void *data, int status, dort_response_t *res);

/* Sends `req` to the stub's actor, activating it if needed. `self` is the
 * calling actor when called from one of its turns (its output gate then
 * holds the message until its writes are committed), NULL from outside any
 * actor. Takes ownership of `req` in every case. On 0, `cb` is called exactly
 * once later (never from inside this call); on error it is never called.
 * Returns 0, DORT_EINVAL, DORT_ESTOPPED, DORT_ENOTINTURN (self given but not
 * in its turn) or DORT_EOVERLOADED (target mailbox full).
 *
 * For callers outside actors, `cb` runs from the loop's prepare or check
 * phase; dort then keeps that loop iteration from sleeping, so a host
 * driving the loop with uv_run(UV_RUN_ONCE) returns promptly after it. */
DORT_EXTERN int dort_stub_fetch(dort_stub_t *stub, dort_actor_t *self, dort_request_t *req,
                                dort_fetch_cb cb, void *data);

/* ---- calls: a request being handled by an actor ---- */

/* The request of the call: borrowed until the call is answered. */
DORT_EXTERN const dort_request_t *dort_call_request(const dort_call_t *call);

/* Answers the call with `res` (ownership taken, also on error). Allowed in
 * the turn that received the call or any later turn of the same actor; the
 * answer leaves through the output gate. The call object is gone after this.
 * Returns 0, DORT_EINVAL or DORT_ENOTINTURN (not inside a turn of the actor
 * that owns the call). */
DORT_EXTERN int dort_call_respond(dort_call_t *call, dort_response_t *res);

/* Shorthand: answers with `status`, an optional Content-Type and a copied
 * body. Returns what dort_call_respond returns, or DORT_ENOMEM. */
DORT_EXTERN int dort_call_respond_body(dort_call_t *call, int status, const char *content_type,
                                       const void *body, size_t len);

/* ---- the actor itself ---- */

/* The zeroed per-instance state of `state_size` bytes. Valid until eviction
 * or reset (after `evict` ran). */
DORT_EXTERN void *dort_actor_state(dort_actor_t *self);
DORT_EXTERN const dort_id_t *dort_actor_id(const dort_actor_t *self);
DORT_EXTERN dort_ns_t *dort_actor_ns(const dort_actor_t *self);
DORT_EXTERN dort_rt_t *dort_actor_rt(const dort_actor_t *self);

/* Exclusivity (blockConcurrencyWhile): while held, no new request, alarm or
 * event is delivered to this actor; answers to calls it made still arrive.
 * Holds nest; each dort_actor_block needs one dort_actor_unblock. A hold kept
 * longer than the runtime's exclusive_timeout_ms resets the actor. Returns 0
 * or DORT_ENOTINTURN (block only inside a turn of `self`), DORT_ESTATE
 * (unblock without a hold). */
DORT_EXTERN int dort_actor_block(dort_actor_t *self);
DORT_EXTERN int dort_actor_unblock(dort_actor_t *self);

#ifdef __cplusplus
}
#endif
#endif
