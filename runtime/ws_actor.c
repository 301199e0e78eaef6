/* ws_actor.c - the actor's side of WebSockets: sockets grouped per actor by
 * (namespace, id) in a runtime-side table, so they outlive the actor's
 * instance (hibernation); their tags, attachment and the auto-response;
 * events delivered as task turns of the owner (activating it when evicted);
 * and sends and closes that leave through the output gate.
 *
 * A socket is referenced by its group (until its close event ran), by the
 * 101 answer carrying it (until the HTTP layer takes it over), by its
 * connection, and by each event and output that names it. */
#include <string.h>

#include "alloc_internal.h"
#include "ws_internal.h"

/* ---- the runtime's table of groups ---- */

dort__ws_rt_t *dort__ws_rt(dort_rt_t *rt)
{
    if (rt->ws != NULL)
        return rt->ws;
    dort__ws_rt_t *w = dort__calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->mask = 63;
    w->buckets = dort__calloc(w->mask + 1, sizeof *w->buckets);
    if (w->buckets == NULL) {
        dort__free(w);
        return NULL;
    }
    rt->ws = w;
    return w;
}

/* Ids are HMAC output or random: their first bytes are already uniform. */
static size_t bucket_of(size_t mask, const dort_ns_t *ns, const dort_id_t *id)
{
    uint64_t h;
    memcpy(&h, id->bytes, sizeof h);
    h ^= (uint64_t)ns->index * 0x9e3779b97f4a7c15ULL;
    return (size_t)h & mask;
}

static void grow(dort__ws_rt_t *w)
{
    size_t mask = w->mask * 2 + 1;
    dort__ws_group_t **b = dort__calloc(mask + 1, sizeof *b);
    if (b == NULL)
        return; /* longer chains, still correct */
    for (size_t i = 0; i <= w->mask; i++) {
        dort__ws_group_t *g = w->buckets[i];
        while (g != NULL) {
            dort__ws_group_t *next = g->chain;
            size_t j = bucket_of(mask, g->ns, &g->id);
            g->chain = b[j];
            b[j] = g;
            g = next;
        }
    }
    dort__free(w->buckets);
    w->buckets = b;
    w->mask = mask;
}

dort__ws_group_t *dort__ws_group(dort_rt_t *rt, dort_ns_t *ns, const dort_id_t *id, int create)
{
    dort__ws_rt_t *w = create ? dort__ws_rt(rt) : rt->ws;
    if (w == NULL)
        return NULL;
    for (dort__ws_group_t *g = w->buckets[bucket_of(w->mask, ns, id)]; g != NULL; g = g->chain)
        if (g->ns == ns && memcmp(g->id.bytes, id->bytes, DORT_ID_SIZE) == 0)
            return g;
    if (!create)
        return NULL;
    dort__ws_group_t *g = dort__calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    if (w->ngroups + 1 > w->mask + 1)
        grow(w);
    g->ns = ns;
    g->id = *id;
    size_t i = bucket_of(w->mask, ns, id);
    g->chain = w->buckets[i];
    w->buckets[i] = g;
    w->ngroups++;
    return g;
}

static void group_free(dort_rt_t *rt, dort__ws_group_t *g)
{
    dort__ws_rt_t *w = rt->ws;
    dort__ws_group_t **p = &w->buckets[bucket_of(w->mask, g->ns, &g->id)];
    while (*p != g)
        p = &(*p)->chain;
    *p = g->chain;
    w->ngroups--;
    dort__free(g->auto_req);
    dort__free(g->auto_res);
    dort__free(g);
}

/* An empty group is kept only for the auto-response of an actor in memory:
 * a hibernated actor's setting lives with its sockets, and init sets it
 * again after the next activation. */
void dort__ws_group_trim(dort_rt_t *rt, dort__ws_group_t *g)
{
    if (g->count == 0 &&
        (g->auto_req == NULL || dort__table_find(&rt->actors, g->ns, &g->id) == NULL))
        group_free(rt, g);
}

void dort__ws_actor_evicted(dort_actor_t *a)
{
    dort_rt_t *rt = a->ns->rt;
    dort__ws_group_t *g = dort__ws_group(rt, a->ns, &a->id, 0);
    if (g != NULL && g->count == 0)
        group_free(rt, g);
}

/* ---- sockets ---- */

static int copy_tags(dort_ws_t *ws, const char *const *tags, size_t ntags)
{
    if (ntags == 0)
        return 0;
    size_t bytes = ntags * sizeof(char *);
    for (size_t i = 0; i < ntags; i++)
        bytes += strlen(tags[i]) + 1;
    ws->tags = dort__malloc(bytes);
    if (ws->tags == NULL)
        return DORT_ENOMEM;
    char *s = (char *)(ws->tags + ntags);
    for (size_t i = 0; i < ntags; i++) {
        size_t n = strlen(tags[i]) + 1;
        memcpy(s, tags[i], n);
        ws->tags[i] = s;
        s += n;
    }
    ws->ntags = (uint8_t)ntags;
    return 0;
}

int dort__ws_new(dort_rt_t *rt, dort__ws_group_t *g, const char *const *tags, size_t ntags,
                 dort_ws_t **out)
{
    dort_ws_t *ws = dort__calloc(1, sizeof *ws);
    if (ws == NULL || copy_tags(ws, tags, ntags) != 0) {
        dort__free(ws);
        return DORT_ENOMEM;
    }
    ws->rt = rt;
    ws->group = g;
    ws->refs = 1;
    ws->state = DORT_WS_CONNECTING;
    ws->auto_ts = -1;
    ws->prev = g->tail;
    if (g->tail != NULL)
        g->tail->next = ws;
    else
        g->head = ws;
    g->tail = ws;
    g->count++;
    *out = ws;
    return 0;
}

void dort__ws_ref(dort_ws_t *ws)
{
    ws->refs++;
}

void dort__ws_unref(dort_ws_t *ws)
{
    DORT_ASSERT(ws->refs > 0);
    if (--ws->refs > 0)
        return;
    dort__ws_early_t *e = ws->early_head;
    while (e != NULL) {
        dort__ws_early_t *next = e->next;
        dort__free(e);
        e = next;
    }
    dort__free(ws->early_reason);
    dort__free(ws->tags);
    dort__free(ws->attachment);
    dort__free(ws);
}

/* The socket leaves its actor's list (its close event runs, or the runtime
 * stops): dort_actor_websockets no longer sees it. */
static void leave_group(dort_ws_t *ws)
{
    dort__ws_group_t *g = ws->group;
    if (g == NULL)
        return;
    if (ws->prev != NULL)
        ws->prev->next = ws->next;
    else
        g->head = ws->next;
    if (ws->next != NULL)
        ws->next->prev = ws->prev;
    else
        g->tail = ws->prev;
    ws->prev = ws->next = NULL;
    ws->group = NULL;
    g->count--;
    dort__ws_group_trim(ws->rt, g);
    dort__ws_unref(ws);
}

void dort__ws_attach(dort_ws_t *ws, dort__ws_conn_t *wc)
{
    ws->conn = wc;
    dort__ws_ref(ws);
    if (ws->state == DORT_WS_CONNECTING)
        ws->state = DORT_WS_OPEN;
    /* What the actor sent before its 101 reached the wire goes first. */
    dort__ws_early_t *e = ws->early_head;
    ws->early_head = ws->early_tail = NULL;
    while (e != NULL) {
        dort__ws_early_t *next = e->next;
        dort__ws_conn_send(wc, e->data, e->len, e->binary);
        dort__free(e);
        e = next;
    }
    if (ws->early_close != 0) {
        const char *r = ws->early_reason ? ws->early_reason : "";
        dort__ws_conn_close(wc, ws->early_close, r, strlen(r));
    }
}

void dort__ws_detach(dort_ws_t *ws)
{
    ws->conn = NULL;
    dort__ws_unref(ws);
}

/* ---- events: task turns of the owning actor ---- */

enum { EV_MESSAGE = 1, EV_ERROR = 2, EV_CLOSE = 3 };

typedef struct ws_event_s {
    dort__task_t task;
    dort_ws_t *ws;
    uint8_t kind;
    uint8_t flag; /* binary, or was_clean */
    int code;     /* close code, or error */
    size_t len;
    char data[]; /* the message, or the close reason (NUL-terminated) */
} ws_event_t;

static void event_done(ws_event_t *ev)
{
    dort_ws_t *ws = ev->ws;
    if (ev->kind == EV_CLOSE)
        leave_group(ws);
    if (--ws->events_queued == DORT__WS_EVENTS_LOW && ws->conn != NULL)
        dort__ws_conn_resume(ws->conn);
    dort__free(ev);
    dort__ws_unref(ws);
}

static int deliver(dort_actor_t *self, ws_event_t *ev)
{
    const dort_class_t *cls = self->ns->cls;
    dort_ws_t *ws = ev->ws;
    switch (ev->kind) {
    case EV_MESSAGE:
        return cls->websocket_message(self, ws, ev->data, ev->len, ev->flag);
    case EV_ERROR:
        return cls->websocket_error(self, ws, ev->code);
    default:
        return cls->websocket_close(self, ws, ev->code, ev->data, ev->len, ev->flag);
    }
}

static int event_run(dort_actor_t *self, void *data)
{
    ws_event_t *ev = data;
    int rc = 0;
    if (ev->kind == EV_CLOSE)
        leave_group(ev->ws); /* a broadcast from the handler skips it */
    /* Only events of handled kinds are posted; none reaches an actor once
     * the runtime stops. */
    if (!ev->ws->rt->ws->stopping)
        rc = deliver(self, ev);
    event_done(ev);
    return rc;
}

/* The actor was reset before the event ran (or the runtime stopped): the
 * event is lost, but the socket's bookkeeping must still happen. */
static void event_cancel(void *data, int status)
{
    (void)status;
    event_done(data);
}

/* 1 when the class handles events of `kind`: others never wake the actor. */
static int handled(const dort__ws_group_t *g, int kind)
{
    const dort_class_t *cls = g->ns->cls;
    return kind == EV_MESSAGE ? cls->websocket_message != NULL
           : kind == EV_ERROR ? cls->websocket_error != NULL
                              : cls->websocket_close != NULL;
}

static int post(dort_ws_t *ws, int kind, int code, int flag, const void *data, size_t len)
{
    dort__ws_group_t *g = ws->group;
    if (g == NULL || ws->rt->ws->stopping)
        return DORT_ESTOPPED;
    if (!handled(g, kind))
        return DORT_ENOENT;
    ws_event_t *ev = dort__malloc(sizeof *ev + len + 1);
    if (ev == NULL)
        return DORT_ENOMEM;
    int err = 0;
    dort_actor_t *a = dort__actor_get(ws->rt, g->ns, &g->id, &err);
    if (a == NULL) {
        dort__free(ev);
        return err;
    }
    memset(&ev->task, 0, sizeof ev->task);
    ev->task.fn = event_run;
    ev->task.cancel = event_cancel;
    ev->task.data = ev;
    ev->ws = ws;
    ev->kind = (uint8_t)kind;
    ev->flag = (uint8_t)flag;
    ev->code = code;
    ev->len = len;
    if (len != 0)
        memcpy(ev->data, data, len);
    ev->data[len] = '\0';
    dort__ws_ref(ws);
    if (++ws->events_queued == DORT__WS_EVENTS_HIGH && ws->conn != NULL)
        dort__ws_conn_pause(ws->conn);
    return dort__actor_post_task(a, &ev->task);
}

void dort__ws_on_message(dort_ws_t *ws, const void *data, size_t len, int binary)
{
    if (ws->finished)
        return;
    dort__ws_group_t *g = ws->group;
    if (!binary && g != NULL && g->auto_req != NULL && len == g->auto_req_len &&
        memcmp(data, g->auto_req, len) == 0) {
        /* Answered here: the actor is neither woken nor activated. */
        if (ws->conn != NULL)
            dort__ws_conn_send(ws->conn, g->auto_res, g->auto_res_len, 0);
        ws->auto_ts = dort__wall_ms();
        return;
    }
    int rc = post(ws, EV_MESSAGE, 0, binary, data, len);
    if (rc != 0 && rc != DORT_ESTOPPED && rc != DORT_ENOENT)
        DORT_LOG(&ws->rt->log, DORT_LOG_ERROR, "websocket message dropped: %s", dort_strerror(rc));
}

void dort__ws_finish(dort_ws_t *ws, int code, const char *reason, size_t len, int clean, int err)
{
    if (ws->finished)
        return;
    ws->finished = 1;
    ws->state = DORT_WS_CLOSED;
    if (err != 0)
        post(ws, EV_ERROR, err, 0, NULL, 0);
    /* Without its close event the socket leaves its actor's list now. */
    if (post(ws, EV_CLOSE, code, clean, reason, len) != 0)
        leave_group(ws);
}

/* ---- sends and closes: outputs of the turn that made them ---- */

enum { OUT_TEXT = 0, OUT_BINARY = 1, OUT_CLOSE = 2 };

typedef struct ws_out_s {
    dort__out_custom_t out;
    dort_ws_t *ws;
    uint8_t op;
    uint16_t code;
    size_t len;
    char data[];
} ws_out_t;

static void send_now(dort_ws_t *ws, const void *data, size_t len, int binary)
{
    if (ws->finished || ws->state >= DORT_WS_CLOSING)
        return;
    if (ws->conn != NULL) {
        dort__ws_conn_send(ws->conn, data, len, binary);
        return;
    }
    dort__ws_early_t *e = dort__malloc(sizeof *e + len);
    if (e == NULL)
        return;
    e->next = NULL;
    e->binary = (uint8_t)binary;
    e->len = len;
    if (len != 0)
        memcpy(e->data, data, len);
    if (ws->early_tail != NULL)
        ws->early_tail->next = e;
    else
        ws->early_head = e;
    ws->early_tail = e;
}

static void close_now(dort_ws_t *ws, int code, const char *reason, size_t len)
{
    if (ws->finished || ws->state >= DORT_WS_CLOSING)
        return;
    ws->state = DORT_WS_CLOSING;
    if (ws->conn != NULL) {
        dort__ws_conn_close(ws->conn, code, reason, len);
        return;
    }
    ws->early_close = (uint16_t)code;
    ws->early_reason = dort__strndup(reason, len);
}

static void out_release(void *data)
{
    ws_out_t *o = data;
    if (o->op == OUT_CLOSE)
        close_now(o->ws, o->code, o->data, o->len);
    else
        send_now(o->ws, o->data, o->len, o->op == OUT_BINARY);
    dort__ws_unref(o->ws);
    dort__free(o);
}

static void out_fail(void *data, int status)
{
    ws_out_t *o = data;
    (void)status;
    if (o->op == OUT_CLOSE)
        o->ws->close_requested = 0; /* the close never happened */
    dort__ws_unref(o->ws);
    dort__free(o);
}

/* Inside a turn: the output leaves with the turn's other outputs, once its
 * writes are committed. Outside: at once. */
static int output(dort_ws_t *ws, int op, int code, const void *data, size_t len)
{
    dort_rt_t *rt = ws->rt;
    if (rt->turn.actor == NULL) {
        if (op == OUT_CLOSE)
            close_now(ws, code, data, len);
        else
            send_now(ws, data, len, op == OUT_BINARY);
        return 0;
    }
    ws_out_t *o = dort__malloc(sizeof *o + len + 1);
    if (o == NULL)
        return DORT_ENOMEM;
    memset(&o->out, 0, sizeof o->out);
    o->out.out.kind = DORT__OUT_CUSTOM;
    o->out.release = out_release;
    o->out.fail = out_fail;
    o->out.data = o;
    o->ws = ws;
    o->op = (uint8_t)op;
    o->code = (uint16_t)code;
    o->len = len;
    if (len != 0)
        memcpy(o->data, data, len);
    o->data[len] = '\0';
    dort__ws_ref(ws);
    dort__turn_add_output(rt, &o->out.out);
    return 0;
}

static int closed(const dort_ws_t *ws)
{
    return ws->finished || ws->close_requested || ws->state >= DORT_WS_CLOSING;
}

int dort_ws_send(dort_ws_t *ws, const void *data, size_t len, int binary)
{
    if (ws == NULL || (data == NULL && len != 0))
        return DORT_EINVAL;
    if (closed(ws))
        return DORT_ECLOSED;
    return output(ws, binary ? OUT_BINARY : OUT_TEXT, 0, data, len);
}

int dort_ws_close(dort_ws_t *ws, int code, const char *reason)
{
    size_t len = reason != NULL ? strlen(reason) : 0;
    if (ws == NULL || !(code == 1000 || (code >= 3000 && code <= 4999)) ||
        len > DORT_WS_MAX_CLOSE_REASON)
        return DORT_EINVAL;
    if (closed(ws))
        return DORT_ECLOSED;
    int rc = output(ws, OUT_CLOSE, code, reason, len);
    if (rc == 0 && !ws->finished && ws->state < DORT_WS_CLOSING)
        ws->close_requested = 1; /* held by the gate: sends fail from now on */
    return rc;
}

/* ---- accessors ---- */

int dort_ws_ready_state(const dort_ws_t *ws)
{
    if (ws->state < DORT_WS_CLOSING && ws->close_requested)
        return DORT_WS_CLOSING;
    return ws->state;
}

int dort_ws_set_attachment(dort_ws_t *ws, const void *data, size_t len)
{
    if (ws == NULL || (data == NULL && len != 0))
        return DORT_EINVAL;
    if (len > DORT_WS_MAX_ATTACHMENT)
        return DORT_ELIMIT;
    void *copy = NULL;
    if (len != 0 && (copy = dort__memdup(data, len)) == NULL)
        return DORT_ENOMEM;
    dort__free(ws->attachment);
    ws->attachment = copy;
    ws->attachment_len = len;
    return 0;
}

dort_slice_t dort_ws_attachment(const dort_ws_t *ws)
{
    dort_slice_t s = {ws->attachment, ws->attachment_len};
    return s;
}

size_t dort_ws_tags(const dort_ws_t *ws, const char *const **out)
{
    if (out != NULL)
        *out = (const char *const *)ws->tags;
    return ws->ntags;
}

int64_t dort_ws_auto_response_timestamp(const dort_ws_t *ws)
{
    return ws->auto_ts;
}

static int has_tag(const dort_ws_t *ws, const char *tag)
{
    for (uint8_t i = 0; i < ws->ntags; i++)
        if (strcmp(ws->tags[i], tag) == 0)
            return 1;
    return 0;
}

int dort_actor_websockets(dort_actor_t *self, const char *tag, int (*cb)(void *data, dort_ws_t *ws),
                          void *data)
{
    if (self == NULL || cb == NULL)
        return DORT_EINVAL;
    dort__ws_group_t *g = dort__ws_group(self->ns->rt, self->ns, &self->id, 0);
    for (dort_ws_t *ws = g ? g->head : NULL, *next; ws != NULL; ws = next) {
        next = ws->next;
        if (ws->state == DORT_WS_CLOSED || (tag != NULL && !has_tag(ws, tag)))
            continue;
        int rc = cb(data, ws);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int dort_actor_set_ws_auto_response(dort_actor_t *self, const char *request, const char *response)
{
    if (self == NULL || (request == NULL) != (response == NULL))
        return DORT_EINVAL;
    dort_rt_t *rt = self->ns->rt;
    dort__ws_group_t *g = dort__ws_group(rt, self->ns, &self->id, request != NULL);
    if (request == NULL) {
        if (g != NULL) {
            dort__free(g->auto_req);
            dort__free(g->auto_res);
            g->auto_req = g->auto_res = NULL;
            g->auto_req_len = g->auto_res_len = 0;
            dort__ws_group_trim(rt, g);
        }
        return 0;
    }
    size_t qlen = strlen(request), slen = strlen(response);
    int rc = qlen == 0 ? DORT_EINVAL : 0;
    if (rc == 0 && (qlen > DORT_WS_MAX_AUTO_RESPONSE || slen > DORT_WS_MAX_AUTO_RESPONSE))
        rc = DORT_ELIMIT;
    char *q = NULL, *s = NULL;
    if (rc == 0 && g == NULL)
        rc = DORT_ENOMEM;
    if (rc == 0 &&
        ((q = dort__strndup(request, qlen)) == NULL || (s = dort__strndup(response, slen)) == NULL))
        rc = DORT_ENOMEM;
    if (rc != 0) {
        dort__free(q);
        if (g != NULL)
            dort__ws_group_trim(rt, g);
        return rc;
    }
    dort__free(g->auto_req);
    dort__free(g->auto_res);
    g->auto_req = q;
    g->auto_res = s;
    g->auto_req_len = qlen;
    g->auto_res_len = slen;
    return 0;
}

/* ---- stop ---- */

void dort__ws_rt_stop(dort_rt_t *rt)
{
    dort__ws_rt_t *w = rt->ws;
    if (w == NULL)
        return;
    w->stopping = 1;
    for (size_t i = 0; i <= w->mask; i++) {
        dort__ws_group_t *g = w->buckets[i];
        while (g != NULL) {
            dort__ws_group_t *next_group = g->chain;
            dort_ws_t *ws = g->head;
            /* Leaving frees an emptied group: walk with saved links. */
            while (ws != NULL) {
                dort_ws_t *next = ws->next;
                if (ws->conn != NULL && !ws->finished && ws->state < DORT_WS_CLOSING)
                    dort__ws_conn_close(ws->conn, 1001, "going away", 10);
                dort__ws_finish(ws, 1001, "", 0, 0, 0);
                ws = next;
            }
            g = next_group;
        }
    }
}

void dort__ws_rt_free(dort_rt_t *rt)
{
    dort__ws_rt_t *w = rt->ws;
    if (w == NULL)
        return;
    w->stopping = 1;
    for (size_t i = 0; i <= w->mask; i++) {
        while (w->buckets[i] != NULL) {
            dort__ws_group_t *g = w->buckets[i];
            /* Without an auto-response the group goes with its last socket. */
            dort__free(g->auto_req);
            g->auto_req = NULL;
            if (g->head == NULL) {
                group_free(rt, g);
                continue;
            }
            while (g->head->next != NULL)
                leave_group(g->head);
            leave_group(g->head);
        }
    }
    dort__free(w->buckets);
    dort__free(w);
    rt->ws = NULL;
}
