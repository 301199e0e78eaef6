/* stream.c - streaming responses: a producer (worker or actor) writes
 * chunks over time; the HTTP layer writes them once the answer reaches the
 * head of its connection, and tells the producer when the client leaves.
 *
 * Chunks written in an actor's turn are outputs of that turn: they leave
 * through its output gate like any answer. An actor with an open stream is
 * kept in memory (streams do not hibernate; WebSockets do). */
#include <string.h>

#include "alloc_internal.h"
#include "http_internal.h"
#include "rt_internal.h"

typedef struct chunk_s {
    struct chunk_s *next;
    size_t len;
    char data[];
} chunk_t;

struct dort_stream_s {
    int refs;               /* producer, response, and each gated output */
    dort_rt_t *rt;
    dort_exchange_t *ex;    /* set while attached to its connection */
    chunk_t *head, *tail;   /* written before the answer reached the wire */
    uint8_t closed;         /* the client is gone */
    uint8_t ended;          /* the producer ended it */
    uint8_t producer_done;  /* the producer's reference was released */
    uint8_t notified;
    dort_actor_t *owner;    /* the actor that created it, or NULL */
    uint32_t owner_gen;
    dort_stream_close_cb close_cb;
    void *close_data;
    dort_stream_t *prev, *next; /* the runtime's open streams */
};

/* An output of an actor's turn: a chunk (len > 0) or the end (is_end). */
typedef struct stream_out_s {
    dort__out_custom_t out;
    dort_stream_t *s;
    uint8_t is_end;
    size_t len;
    char data[];
} stream_out_t;

static void unref(dort_stream_t *s)
{
    if (--s->refs > 0)
        return;
    chunk_t *c = s->head;
    while (c != NULL) {
        chunk_t *next = c->next;
        dort__free(c);
        c = next;
    }
    dort__free(s);
}

static void unlink_stream(dort_stream_t *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else if (s->rt->streams == s)
        s->rt->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

int dort_response_new_stream(dort_response_t **out, int status, dort_stream_t **stream)
{
    if (stream == NULL)
        return DORT_EINVAL;
    dort_response_t *res;
    int rc = dort_response_new(&res, status);
    if (rc != 0)
        return rc;
    dort_stream_t *s = dort__calloc(1, sizeof *s);
    if (s == NULL) {
        dort_response_free(res);
        return DORT_ENOMEM;
    }
    s->refs = 2;
    res->stream = s;
    *out = res;
    *stream = s;
    return 0;
}

/* Binds a new stream to the runtime and, inside a turn, to its actor. Done
 * lazily at the first call that knows the runtime. */
static void bind_rt(dort_stream_t *s, dort_rt_t *rt)
{
    if (s->rt != NULL)
        return;
    s->rt = rt;
    /* The list holds streams whose producer is still at work; it is left in
     * release_producer. A stream ended before its answer was given (all of
     * it written at once) has been through that already and never joins,
     * else the list would keep it after it is freed. */
    if (s->producer_done)
        return;
    s->next = rt->streams;
    if (rt->streams != NULL)
        rt->streams->prev = s;
    rt->streams = s;
}

void dort__stream_bind(dort_rt_t *rt, dort_stream_t *s)
{
    bind_rt(s, rt);
    if (s->owner == NULL && rt->turn.actor != NULL && !s->producer_done) {
        s->owner = rt->turn.actor;
        s->owner_gen = s->owner->gen;
        s->owner->holds++;
    }
}

typedef struct close_task_s {
    dort__task_t task;
    dort_stream_t *s;
} close_task_t;

static int close_task(dort_actor_t *self, void *data)
{
    close_task_t *ct = data;
    dort_stream_t *s = ct->s;
    int rc = 0;
    if (s->close_cb != NULL && !s->producer_done)
        rc = s->close_cb(self, s, s->close_data);
    unref(s);
    dort__free(ct);
    return rc;
}

static void close_task_cancel(void *data, int status)
{
    close_task_t *ct = data;
    (void)status;
    unref(ct->s);
    dort__free(ct);
}

static void notify_closed(dort_stream_t *s)
{
    if (s->notified || s->producer_done || s->close_cb == NULL)
        return;
    s->notified = 1;
    if (s->owner == NULL) {
        s->close_cb(NULL, s, s->close_data);
        return;
    }
    close_task_t *ct = dort__calloc(1, sizeof *ct);
    if (ct == NULL)
        return;
    ct->task.fn = close_task;
    ct->task.cancel = close_task_cancel;
    ct->task.data = ct;
    ct->s = s;
    s->refs++;
    dort__actor_post_task(s->owner, &ct->task);
}

static void write_now(dort_stream_t *s, const char *data, size_t len)
{
    if (s->closed || s->ended)
        return;
    if (s->ex != NULL) {
        if (dort__http_write_chunk(s->ex, data, len) == DORT_ECLOSED)
            s->closed = 1;
        return;
    }
    chunk_t *c = dort__malloc(sizeof *c + len);
    if (c == NULL)
        return;
    c->next = NULL;
    c->len = len;
    memcpy(c->data, data, len);
    if (s->tail != NULL)
        s->tail->next = c;
    else
        s->head = c;
    s->tail = c;
}

static void release_producer(dort_stream_t *s)
{
    if (s->producer_done)
        return;
    s->producer_done = 1;
    if (s->owner != NULL) {
        s->owner->holds--;
        dort__actor_maybe_idle(s->owner);
    }
    if (s->rt != NULL)
        unlink_stream(s);
    unref(s);
}

static void end_now(dort_stream_t *s)
{
    if (!s->ended) {
        s->ended = 1;
        if (s->ex != NULL && !s->closed)
            dort__http_end_stream(s->ex);
    }
}

static void out_release(void *data)
{
    stream_out_t *o = data;
    if (o->is_end)
        end_now(o->s);
    else
        write_now(o->s, o->data, o->len);
    unref(o->s);
    dort__free(o);
}

static void out_fail(void *data, int status)
{
    stream_out_t *o = data;
    (void)status;
    unref(o->s);
    dort__free(o);
}

/* Inside the owner's turn, queue as an output of the turn. */
static int gated(dort_stream_t *s, const void *data, size_t len, int is_end)
{
    dort_rt_t *rt = s->rt;
    if (rt == NULL || s->owner == NULL || rt->turn.actor != s->owner)
        return 0;
    stream_out_t *o = dort__malloc(sizeof *o + len);
    if (o == NULL)
        return DORT_ENOMEM;
    o->out.out.kind = DORT__OUT_CUSTOM;
    o->out.release = out_release;
    o->out.fail = out_fail;
    o->out.data = o;
    o->s = s;
    o->is_end = (uint8_t)is_end;
    o->len = len;
    if (len)
        memcpy(o->data, data, len);
    s->refs++;
    dort__turn_add_output(rt, &o->out.out);
    return 1;
}

int dort_stream_write(dort_stream_t *s, const void *data, size_t len)
{
    if (s == NULL || (data == NULL && len != 0) || s->producer_done)
        return DORT_EINVAL;
    if (s->closed)
        return DORT_ECLOSED;
    if (s->ended)
        return DORT_EINVAL;
    int rc = gated(s, data, len, 0);
    if (rc < 0)
        return rc;
    if (rc == 0)
        write_now(s, data, len);
    return s->closed ? DORT_ECLOSED : 0;
}

int dort_stream_closed(const dort_stream_t *s)
{
    return s->closed;
}

void dort_stream_end(dort_stream_t *s)
{
    if (s == NULL || s->producer_done)
        return;
    if (gated(s, NULL, 0, 1) != 1)
        end_now(s);
    release_producer(s);
}

void dort_stream_on_close(dort_stream_t *s, dort_stream_close_cb cb, void *data)
{
    s->close_cb = cb;
    s->close_data = data;
    if (s->closed)
        notify_closed(s);
}

void dort__stream_attach(dort_response_t *res, dort_exchange_t *ex)
{
    dort_stream_t *s = res->stream;
    bind_rt(s, ex->srv->rt);
    s->ex = ex;
    chunk_t *c = s->head;
    s->head = s->tail = NULL;
    while (c != NULL) {
        chunk_t *next = c->next;
        if (!s->closed && dort__http_write_chunk(ex, c->data, c->len) == DORT_ECLOSED)
            s->closed = 1;
        dort__free(c);
        c = next;
    }
    if (s->ended && !s->closed)
        dort__http_end_stream(ex);
}

void dort__stream_detach(dort_response_t *res)
{
    dort_stream_t *s = res->stream;
    s->ex = NULL;
    if (!s->ended) {
        s->closed = 1;
        notify_closed(s);
    }
}

void dort__stream_response_free(dort_response_t *res)
{
    dort_stream_t *s = res->stream;
    res->stream = NULL;
    s->ex = NULL;
    if (!s->ended) {
        /* The answer never reached a client (dropped, or the client left). */
        s->closed = 1;
        notify_closed(s);
    }
    unref(s);
}

/* The actor is being reset: its state no longer knows its streams. */
void dort__streams_actor_reset(dort_rt_t *rt, dort_actor_t *a);
void dort__streams_actor_reset(dort_rt_t *rt, dort_actor_t *a)
{
    dort_stream_t *s = rt->streams;
    while (s != NULL) {
        dort_stream_t *next = s->next;
        if (s->owner == a) {
            s->close_cb = NULL;
            end_now(s);
            release_producer(s);
        }
        s = next;
    }
}
