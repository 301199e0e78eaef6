/* call.c - requests to actors and their answers. */
#include <string.h>

#include "alloc_internal.h"
#include "http_internal.h"
#include "rt_internal.h"

void dort_stub_init(dort_stub_t *stub, dort_ns_t *ns, const dort_id_t *id)
{
    stub->ns = ns;
    stub->id = *id;
}

void dort__call_free(dort_call_t *c)
{
    dort_rt_t *rt = c->ns->rt;
    dort_request_free(c->req);
    dort__free(c);
    rt->calls_pending--;
}

void dort__call_open_remove(dort_actor_t *a, dort_call_t *c)
{
    if (!c->is_open)
        return;
    if (c->open_prev != NULL)
        c->open_prev->open_next = c->open_next;
    else
        a->open_calls = c->open_next;
    if (c->open_next != NULL)
        c->open_next->open_prev = c->open_prev;
    c->open_prev = c->open_next = NULL;
    c->is_open = 0;
}

static void open_add(dort_actor_t *a, dort_call_t *c)
{
    c->open_prev = NULL;
    c->open_next = a->open_calls;
    if (a->open_calls != NULL)
        a->open_calls->open_prev = c;
    a->open_calls = c;
    c->is_open = 1;
}

/* Puts the call into its target's mailbox; returns an error (without
 * completing the call) when that is impossible. */
static int enqueue(dort_rt_t *rt, dort_call_t *c)
{
    int err = 0;
    dort_actor_t *a = dort__actor_get(rt, c->ns, &c->id, &err);
    if (a == NULL)
        return err;
    if (a->inbox_len >= rt->opts.mailbox_limit) {
        dort__actor_maybe_idle(a); /* it may have just been activated */
        return DORT_EOVERLOADED;
    }
    c->target = a;
    c->msg.kind = DORT__MSG_CALL;
    dort__actor_push_inbox(a, &c->msg);
    rt->stats.messages++;
    return 0;
}

void dort__call_deliver(dort_rt_t *rt, dort_call_t *c)
{
    int rc = rt->stop_deadline_passed ? DORT_ESTOPPED : enqueue(rt, c);
    if (rc != 0)
        dort__call_complete(rt, c, rc, NULL);
}

int dort_stub_fetch(dort_stub_t *stub, dort_actor_t *self, dort_request_t *req, dort_fetch_cb cb,
                    void *data)
{
    if (stub == NULL || stub->ns == NULL || req == NULL || cb == NULL) {
        dort_request_free(req);
        return DORT_EINVAL;
    }
    dort_rt_t *rt = stub->ns->rt;
    int rc = 0;
    if (self != NULL && !dort__in_turn_of(rt, self))
        rc = DORT_ENOTINTURN;
    else if (self == NULL && rt->turn.actor != NULL)
        rc = DORT_EINVAL; /* inside a turn the caller must say who it is */
    else if (rt->state != DORT__RT_RUNNING &&
             (rt->state != DORT__RT_STOPPING || self == NULL || rt->stop_deadline_passed))
        rc = DORT_ESTOPPED;
    dort_call_t *c = rc == 0 ? dort__calloc(1, sizeof *c) : NULL;
    if (rc == 0 && c == NULL)
        rc = DORT_ENOMEM;
    if (rc != 0) {
        dort_request_free(req);
        return rc;
    }
    rt->calls_pending++;
    c->ns = stub->ns;
    c->id = stub->id;
    c->caller = self;
    c->caller_gen = self ? self->gen : 0;
    c->cb = cb;
    c->cb_data = data;
    c->req = req;
    if (self != NULL) {
        self->outstanding++;
        c->out.kind = DORT__OUT_SEND;
        dort__turn_add_output(rt, &c->out);
        return 0;
    }
    rc = enqueue(rt, c);
    if (rc != 0) {
        c->req = NULL; /* freed below with the call; the caller's req is gone either way */
        dort_request_free(req);
        dort__call_free(c);
    }
    return rc;
}

void dort__call_complete(dort_rt_t *rt, dort_call_t *c, int status, dort_response_t *res)
{
    dort_request_free(c->req);
    c->req = NULL;
    if (c->caller == NULL) {
        rt->woke_external = 1;
        c->cb(NULL, c->cb_data, status, res);
        dort__call_free(c);
        return;
    }
    dort_actor_t *caller = c->caller;
    if (caller->gen != c->caller_gen) {
        /* The caller was reset since it sent this: nobody is waiting. */
        dort_response_free(res);
        caller->outstanding--;
        dort__call_free(c);
        dort__actor_maybe_idle(caller);
        return;
    }
    c->status = status;
    c->res = res;
    c->msg.kind = DORT__MSG_REPLY;
    dort__actor_push_reply(caller, &c->msg);
}

void dort__call_run_fetch(dort_rt_t *rt, dort_actor_t *a, dort_call_t *c)
{
    c->target_gen = a->gen;
    open_add(a, c);
    dort__turn_begin(rt, a, DORT__TURN_FETCH);
    rt->turn.call = c;
    int rc = a->ns->cls->fetch(a, c);
    dort__turn_end(rt, rc);
}

void dort__call_run_reply(dort_rt_t *rt, dort_actor_t *a, dort_call_t *c)
{
    a->outstanding--;
    dort_response_t *res = c->res;
    c->res = NULL;
    dort__turn_begin(rt, a, DORT__TURN_REPLY);
    int rc = c->cb(a, c->cb_data, c->status, res);
    dort__turn_end(rt, rc);
    dort__call_free(c);
}

const dort_request_t *dort_call_request(const dort_call_t *call)
{
    return call->req;
}

int dort_call_respond(dort_call_t *call, dort_response_t *res)
{
    if (call == NULL || res == NULL) {
        dort_response_free(res);
        return DORT_EINVAL;
    }
    dort_actor_t *a = call->target;
    if (!call->is_open || !dort__in_turn_of(a->ns->rt, a)) {
        dort_response_free(res);
        return DORT_ENOTINTURN;
    }
    dort__call_open_remove(a, call);
    if (res->stream != NULL)
        dort__stream_bind(a->ns->rt, res->stream);
    call->res = res;
    call->out.kind = DORT__OUT_RESPOND;
    dort__turn_add_output(a->ns->rt, &call->out);
    return 0;
}

int dort_call_respond_body(dort_call_t *call, int status, const char *content_type,
                           const void *body, size_t len)
{
    dort_response_t *res;
    int rc = dort_response_new_body(&res, status, content_type, body, len);
    if (rc != 0)
        return rc;
    return dort_call_respond(call, res);
}
