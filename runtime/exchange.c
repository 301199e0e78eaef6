/* exchange.c - one HTTP request being answered by a worker: answering it,
 * forwarding it to an actor, and what happens when the client leaves first. */
#include <string.h>

#include "alloc_internal.h"
#include "http_internal.h"
#include "rt_internal.h"
#include "worker_internal.h"

dort_exchange_t *dort__exchange_new(dort__http_conn_t *c, dort_request_t *req)
{
    dort_exchange_t *ex = dort__calloc(1, sizeof *ex);
    if (ex == NULL)
        return NULL;
    ex->srv = c->srv;
    ex->conn = c;
    ex->req = req;
    ex->start_ns = uv_hrtime();
    ex->keep_alive = 1;
    if (req != NULL) {
        dort_slice_t m = dort_request_method(req), p = dort_request_path(req);
        size_t n = m.len < sizeof ex->method - 1 ? m.len : sizeof ex->method - 1;
        memcpy(ex->method, m.ptr, n);
        ex->head = m.len == 4 && memcmp(m.ptr, "HEAD", 4) == 0;
        if (c->srv->opts.log_fn != NULL) {
            ex->path = dort__strndup(p.ptr, p.len);
            ex->path_len = ex->path ? p.len : 0;
        }
    }
    if (c->tail != NULL)
        c->tail->next = ex;
    else
        c->head = ex;
    c->tail = ex;
    c->queued++;
    return ex;
}

void dort__exchange_free(dort_exchange_t *ex)
{
    dort_request_free(ex->req);
    dort_response_free(ex->res);
    dort__msgpart_release(&ex->extra);
    dort__free(ex->path);
    dort__free(ex);
}

void dort__exchange_log(dort_exchange_t *ex, int status, uint64_t bytes_out)
{
    dort_http_server_t *s = ex->srv;
    if (s->opts.log_fn == NULL)
        return;
    dort_http_log_entry_t e;
    e.method.ptr = ex->method;
    e.method.len = strlen(ex->method);
    e.path.ptr = ex->path ? ex->path : "";
    e.path.len = ex->path_len;
    e.status = status;
    e.duration_ms = (double)(uv_hrtime() - ex->start_ns) / 1e6;
    e.peer = ex->conn ? ex->conn->peer : "";
    e.bytes_out = bytes_out;
    s->opts.log_fn(s->opts.log_data, &e);
}

static int is_metrics(dort_exchange_t *ex)
{
    dort_slice_t p = dort_request_path(ex->req);
    return p.len >= 14 && memcmp(p.ptr, "/__dort/metrics", 15 <= p.len ? 15 : p.len) == 0 &&
           (p.len == 15 || p.ptr[15] == '?');
}

void dort__exchange_dispatch(dort_exchange_t *ex)
{
    dort_http_server_t *s = ex->srv;
    if (s->opts.metrics && !ex->upgrade && is_metrics(ex)) {
        dort_response_t *res;
        if (dort__metrics_response(s, &res) == 0)
            dort_exchange_respond(ex, res);
        else
            dort_exchange_respond_error(ex, 500, "metrics_failed", "could not render metrics");
        return;
    }
    /* The handler may answer (and so free) the exchange before it returns:
     * it reports that through this flag, never through `ex`. */
    int taken = 0;
    ex->taken = &taken;
    int rc = dort__worker_class(s->worker)->fetch(ex);
    if (taken)
        return;
    ex->taken = NULL;
    if (rc != 0)
        dort_exchange_respond_error(ex, 500, "handler_failed", "the worker's handler failed");
}

static void mark_taken(dort_exchange_t *ex)
{
    if (ex->taken != NULL) {
        *ex->taken = 1;
        ex->taken = NULL;
    }
}

int dort_exchange_respond(dort_exchange_t *ex, dort_response_t *res)
{
    if (ex == NULL || res == NULL || ex->state != DORT__EX_PENDING || ex->answering) {
        dort_response_free(res);
        return DORT_EINVAL;
    }
    mark_taken(ex);
    if (ex->conn == NULL) {
        /* The client left; nobody reads this answer. */
        dort_response_free(res);
        dort__exchange_free(ex);
        return 0;
    }
    if (res->status == 101 && !(ex->upgrade && res->ws != NULL)) {
        /* A 101 is true only if this connection switches protocols: that
         * needs an upgrade the HTTP layer hands over (Connection: Upgrade,
         * HTTP/1.1) and a socket to hand it to. Freeing the answer closes
         * its socket (websocket_close 1006: the 101 never reached). */
        dort_response_t *err;
        int rc = dort__http_error_response(&err, 400, "bad_upgrade",
                                           "the request is not a WebSocket upgrade");
        dort_response_free(res);
        if (rc != 0)
            return rc;
        res = err;
    }
    if (res->stream != NULL)
        dort__stream_bind(ex->srv->rt, res->stream);
    ex->res = res;
    ex->state = DORT__EX_ANSWERED;
    if (ex->conn->head == ex)
        dort__http_flush(ex->conn);
    return 0;
}

int dort_exchange_respond_body(dort_exchange_t *ex, int status, const char *content_type,
                               const void *body, size_t len)
{
    dort_response_t *res;
    int rc = dort_response_new_body(&res, status, content_type, body, len);
    if (rc != 0)
        return rc;
    return dort_exchange_respond(ex, res);
}

int dort_exchange_respond_error(dort_exchange_t *ex, int status, const char *code,
                                const char *message)
{
    dort_response_t *res;
    int rc = dort__http_error_response(&res, status, code, message);
    if (rc != 0)
        return rc;
    return dort_exchange_respond(ex, res);
}

int dort_http_status_for(int err, const char **code)
{
    const char *c;
    int status;
    switch (err) {
    case DORT_ECOMMIT: status = 503, c = "commit_failed"; break;
    case DORT_EOVERLOADED: status = 503, c = "overloaded"; break;
    case DORT_ESTOPPED: status = 503, c = "shutting_down"; break;
    case DORT_ESTORAGEFULL: status = 507, c = "storage_full"; break;
    case DORT_EHANDLER: status = 500, c = "actor_failed"; break;
    case DORT_ERESET: status = 500, c = "actor_reset"; break;
    case DORT_ETOOLARGE: status = 413, c = "too_large"; break;
    case DORT_EINVAL: status = 400, c = "bad_request"; break;
    default: status = 500, c = "internal_error"; break;
    }
    if (code != NULL)
        *code = c;
    return status;
}

static int forward_done(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    dort_exchange_t *ex = data;
    (void)self;
    ex->answering = 0;
    if (status == 0)
        return dort_exchange_respond(ex, res);
    const char *code;
    int http = dort_http_status_for(status, &code);
    dort_exchange_respond_error(ex, http, code, dort_strerror(status));
    return 0;
}

int dort_exchange_forward(dort_exchange_t *ex, dort_stub_t *stub)
{
    if (ex == NULL || stub == NULL || ex->state != DORT__EX_PENDING || ex->req == NULL ||
        ex->answering)
        return DORT_EINVAL;
    dort_request_t *req = ex->req;
    ex->req = NULL;
    mark_taken(ex);
    /* While the actor has it, the exchange may not be answered another way. */
    ex->answering = 1;
    int rc = dort_stub_fetch(stub, NULL, req, forward_done, ex);
    if (rc != 0) {
        ex->answering = 0;
        const char *code;
        int http = dort_http_status_for(rc, &code);
        dort_exchange_respond_error(ex, http, code, dort_strerror(rc));
    }
    return rc;
}

int dort_exchange_add_header(dort_exchange_t *ex, const char *name, const char *value)
{
    if (ex == NULL || ex->req == NULL || name == NULL || value == NULL)
        return DORT_EINVAL;
    return dort_request_add_header(ex->req, name, strlen(name), value, strlen(value));
}

int dort_exchange_add_response_header(dort_exchange_t *ex, const char *name, const char *value)
{
    if (ex == NULL || name == NULL || value == NULL)
        return DORT_EINVAL;
    return dort__msgpart_add_header(&ex->extra, name, strlen(name), value, strlen(value));
}

const dort_request_t *dort_exchange_request(const dort_exchange_t *ex)
{
    return ex->req;
}

dort_rt_t *dort_exchange_rt(const dort_exchange_t *ex)
{
    return ex->srv->rt;
}

const char *dort_exchange_peer(const dort_exchange_t *ex)
{
    return ex->conn ? ex->conn->peer : "";
}

void dort__exchange_orphan_all(dort__http_conn_t *c)
{
    dort_exchange_t *ex = c->head;
    c->head = c->tail = NULL;
    c->queued = 0;
    while (ex != NULL) {
        dort_exchange_t *next = ex->next;
        ex->next = NULL;
        if (ex->state == DORT__EX_STREAMING && ex->res != NULL) {
            /* A stream ends when its client leaves: log it now, while the
             * peer is still known. */
            dort__exchange_log(ex, ex->res->status, ex->bytes_out);
        }
        ex->conn = NULL;
        if (ex->state == DORT__EX_PENDING && ex->dispatched) {
            /* The worker or an actor still holds it: freed when answered. */
        } else {
            if (ex->state == DORT__EX_STREAMING && ex->res != NULL)
                dort__stream_detach(ex->res);
            dort__exchange_free(ex);
        }
        ex = next;
    }
}
