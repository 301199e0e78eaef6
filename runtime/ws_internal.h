/* ws_internal.h - WebSockets: the socket objects actors hold, the
 * runtime-side groups that keep them across hibernation, and the
 * connection layer that frames them with wslay.
 *
 * Follow a socket: ws_handshake.c checks the upgrade request and answers it
 * with 101 (dort_ws_accept) -> http_write.c writes the 101 and hands the
 * connection to ws_conn.c (dort__ws_take_over) -> ws_conn.c reads frames
 * and calls ws_actor.c for each message and for the end -> ws_actor.c turns
 * them into task turns of the owning actor, found (or activated) by
 * (namespace, id); sends from the actor go the other way as gated outputs.
 */
#ifndef DORT_WS_INTERNAL_H
#define DORT_WS_INTERNAL_H

#include <dort/websocket.h>

#include "http_internal.h"
#include "rt_internal.h"

typedef struct dort__ws_group_s dort__ws_group_t;

/* A message the actor sent before the connection was taken over. */
typedef struct dort__ws_early_s {
    struct dort__ws_early_s *next;
    uint8_t binary;
    size_t len;
    char data[];
} dort__ws_early_t;

struct dort_ws_s {
    dort_rt_t *rt;
    dort__ws_group_t *group; /* NULL once its close event ran */
    dort_ws_t *prev, *next;  /* the group's sockets, in accept order */
    dort__ws_conn_t *conn;   /* NULL before take-over and after the end */
    uint32_t refs;           /* group, 101 answer, connection, tasks, outputs */
    uint32_t events_queued;  /* tasks posted and not yet run */
    uint8_t state;           /* dort_ws_state_t */
    uint8_t close_requested; /* dort_ws_close called (its output may be held) */
    uint8_t finished;        /* the terminal event was generated */
    uint8_t ntags;
    uint16_t early_close; /* a close requested before take-over, or 0 */
    char **tags;          /* one allocation: pointers, then the strings */
    void *attachment;
    size_t attachment_len;
    int64_t auto_ts; /* last auto-response, Unix ms; -1 never */
    dort__ws_early_t *early_head, *early_tail;
    char *early_reason;
};

/* Every socket of one actor, kept by the runtime: it outlives the actor's
 * instance (hibernation) and is freed when it has no socket left and the
 * actor is gone (or has nothing else to keep, such as an auto-response). */
struct dort__ws_group_s {
    dort__ws_group_t *chain; /* hash bucket */
    dort_ns_t *ns;
    dort_id_t id;
    dort_ws_t *head, *tail;
    uint32_t count;
    char *auto_req, *auto_res;
    size_t auto_req_len, auto_res_len;
};

/* The runtime's WebSocket state (rt->ws), created at the first use. */
typedef struct dort__ws_rt_s {
    dort__ws_group_t **buckets;
    size_t mask;
    size_t ngroups;
    uint8_t stopping; /* no more events to actors */
} dort__ws_rt_t;

/* ---- ws_handshake.c ---- */

/* Checks the handshake fields of an upgrade request; on 0 `*key` points at
 * the Sec-WebSocket-Key value inside `req`. Returns 0 or DORT_EPROTO. */
int dort__ws_check_request(const dort_request_t *req, dort_slice_t *key);
/* Writes the 28-character Sec-WebSocket-Accept for `key` and a NUL. Returns
 * 0 or DORT_ECRYPTO. */
int dort__ws_accept_key(const char *key, size_t len, char out[29]);

/* ---- ws_actor.c ---- */

dort__ws_rt_t *dort__ws_rt(dort_rt_t *rt); /* NULL on DORT_ENOMEM */
/* The actor's group; with `create`, made if missing (NULL on ENOMEM). */
dort__ws_group_t *dort__ws_group(dort_rt_t *rt, dort_ns_t *ns, const dort_id_t *id, int create);
/* Frees `g` if it has no socket and nothing else worth keeping. */
void dort__ws_group_trim(dort_rt_t *rt, dort__ws_group_t *g);
/* A new CONNECTING socket in `g` with copies of the tags (refs: group). */
int dort__ws_new(dort_rt_t *rt, dort__ws_group_t *g, const char *const *tags, size_t ntags,
                 dort_ws_t **out);
void dort__ws_ref(dort_ws_t *ws);
void dort__ws_unref(dort_ws_t *ws);
/* The connection took the socket over (it becomes OPEN; what the actor
 * sent meanwhile is written) / is gone. */
void dort__ws_attach(dort_ws_t *ws, dort__ws_conn_t *wc);
void dort__ws_detach(dort_ws_t *ws);
/* A message from the client: answered by the auto-response or posted to the
 * actor. */
void dort__ws_on_message(dort_ws_t *ws, const void *data, size_t len, int binary);
/* The socket ended (see dort/websocket.h for the codes): generates its
 * terminal events once; `err` (0 or DORT_E*) adds a websocket_error first. */
void dort__ws_finish(dort_ws_t *ws, int code, const char *reason, size_t len, int clean, int err);
/* Events queued at the actor went below the low-water mark: read again. */
void dort__ws_events_drained(dort_ws_t *ws);
/* actor.c: actor `a` leaves memory. */
void dort__ws_actor_evicted(dort_actor_t *a);
/* stop.c: dort_rt_stop began (close every socket with 1001) / finish. */
void dort__ws_rt_stop(dort_rt_t *rt);
void dort__ws_rt_free(dort_rt_t *rt);

/* ---- ws_conn.c ---- */

/* Queues a message or a close frame on an open connection and writes. */
void dort__ws_conn_send(dort__ws_conn_t *wc, const void *data, size_t len, int binary);
void dort__ws_conn_close(dort__ws_conn_t *wc, int code, const char *reason, size_t len);
/* Stops / resumes reading (too many events waiting at the actor). */
void dort__ws_conn_pause(dort__ws_conn_t *wc);
void dort__ws_conn_resume(dort__ws_conn_t *wc);

/* Events queued at an actor per socket before reading from it pauses. */
#define DORT__WS_EVENTS_HIGH 1024
#define DORT__WS_EVENTS_LOW 256

#endif
