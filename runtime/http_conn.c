/* http_conn.c - one client connection: reading, parsing with llhttp under
 * the server's limits, timeouts, and turning each complete request into an
 * exchange queued in arrival order. */
#include <string.h>

#include "alloc_internal.h"
#include "http_internal.h"
#include "rt_internal.h"

#define LINGER_MS 2000

static dort__http_conn_t *conn_of(llhttp_t *p)
{
    return p->data;
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t);

static void arm(dort__http_conn_t *c, int64_t ms)
{
    if (ms > 0)
        uv_timer_start(&c->timer, on_timer, (uint64_t)ms, 0);
    else
        uv_timer_stop(&c->timer);
}

static void on_timer(uv_timer_t *t)
{
    dort__http_conn_t *c = t->data;
    if (c->lingering || c->closing) {
        dort__http_conn_close(c);
        return;
    }
    if (c->in_message) {
        /* Slowloris: the request did not arrive in time. */
        dort__http_conn_fail(c, 408, "request_timeout",
                             "the request headers and body did not arrive in time");
        return;
    }
    if (c->head == NULL && c->ws == NULL)
        dort__http_conn_close(c); /* idle keep-alive connection */
}

/* ---- token assembly (url, header names and values may arrive in pieces) ---- */

static int tok_append(dort__http_conn_t *c, const char *at, size_t len)
{
    dort_http_server_t *s = c->srv;
    c->header_bytes += len;
    if (c->header_bytes > s->opts.max_header_bytes) {
        dort__http_conn_fail(c, 431, "headers_too_large",
                             "the request line and headers exceed the server's limit");
        return -1;
    }
    if (c->tok_len + len > c->tok_cap) {
        size_t cap = c->tok_cap ? c->tok_cap : 256;
        while (cap < c->tok_len + len)
            cap *= 2;
        char *n = dort__realloc(c->tok, cap);
        if (n == NULL) {
            dort__http_conn_fail(c, 500, "out_of_memory", "out of memory");
            return -1;
        }
        c->tok = n;
        c->tok_cap = cap;
    }
    memcpy(c->tok + c->tok_len, at, len);
    c->tok_len += len;
    return 0;
}

/* ---- llhttp callbacks ---- */

static int on_message_begin(llhttp_t *p)
{
    dort__http_conn_t *c = conn_of(p);
    c->in_message = 1;
    c->header_bytes = 0;
    c->tok_len = 0;
    c->body_len = 0;
    c->expect_continue = 0;
    c->continue_due = 0;
    c->is_upgrade = 0;
    arm(c, c->srv->opts.request_timeout_ms);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    return tok_append(conn_of(p), at, len);
}

static int on_url_complete(llhttp_t *p)
{
    dort__http_conn_t *c = conn_of(p);
    const char *m = llhttp_method_name((llhttp_method_t)p->method);
    if (dort_request_new2(&c->cur, m, strlen(m), c->tok, c->tok_len) != 0) {
        dort__http_conn_fail(c, 500, "out_of_memory", "out of memory");
        return -1;
    }
    c->tok_len = 0;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    return tok_append(conn_of(p), at, len);
}

static int on_header_field_complete(llhttp_t *p)
{
    dort__http_conn_t *c = conn_of(p);
    c->name_len = c->tok_len;
    /* Outside its strict mode llhttp passes "Name :" on as "Name "; RFC 9112
     * 5.1 requires a 400 (such names smuggle headers past proxies). */
    if (c->name_len != 0 && (c->tok[c->name_len - 1] == ' ' || c->tok[c->name_len - 1] == '\t')) {
        dort__http_conn_fail(c, 400, "bad_request", "whitespace between a header name and colon");
        return -1;
    }
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    return tok_append(conn_of(p), at, len);
}

static int ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (char)(y + 32);
        if (x != y)
            return 0;
    }
    return 1;
}

static int on_header_value_complete(llhttp_t *p)
{
    dort__http_conn_t *c = conn_of(p);
    const char *name = c->tok, *value = c->tok + c->name_len;
    size_t vlen = c->tok_len - c->name_len;
    if (ieq(name, c->name_len, "expect") && ieq(value, vlen, "100-continue"))
        c->expect_continue = 1;
    if (dort_request_add_header(c->cur, name, c->name_len, value, vlen) != 0) {
        dort__http_conn_fail(c, 500, "out_of_memory", "out of memory");
        return -1;
    }
    c->tok_len = 0;
    return 0;
}

static void write_continue(dort__http_conn_t *c)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_buf_t b = uv_buf_init((char *)msg, sizeof msg - 1);
    /* Tiny and first on the wire for this request: try the fast path; a
     * partial write is not worth queueing (the client sends anyway after its
     * own timeout, per RFC 9110). */
    uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
}

static int queue_exchange(dort__http_conn_t *c);

static int on_headers_complete(llhttp_t *p)
{
    dort__http_conn_t *c = conn_of(p);
    dort_http_server_t *s = c->srv;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > s->opts.max_body_bytes) {
        dort__http_conn_fail(c, 413, "body_too_large",
                             "the request body exceeds the server's limit");
        return -1;
    }
    if (p->upgrade && p->http_major == 1 && p->http_minor == 0)
        p->upgrade = 0; /* RFC 7230 6.7: ignored in HTTP/1.0 */
    if (p->upgrade) {
        /* Only WebSocket upgrades are served; the worker decides. The bytes
         * after the headers belong to the new protocol. */
        c->is_upgrade = 1;
        if (queue_exchange(c) != 0)
            return -1;
        return 2;
    }
    if (c->expect_continue && (p->flags & (F_CONTENT_LENGTH | F_CHUNKED))) {
        /* The interim answer belongs to this request: it may not overtake
         * the answers of the requests before it on the connection. */
        if (c->head == NULL && c->writes_pending == 0)
            write_continue(c);
        else
            c->continue_due = 1;
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    dort__http_conn_t *c = conn_of(p);
    if (c->body_len + len > c->srv->opts.max_body_bytes) {
        dort__http_conn_fail(c, 413, "body_too_large",
                             "the request body exceeds the server's limit");
        return -1;
    }
    if (c->body_len + len > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 4096;
        while (cap < c->body_len + len)
            cap *= 2;
        if (cap > c->srv->opts.max_body_bytes)
            cap = c->srv->opts.max_body_bytes;
        char *n = dort__realloc(c->body, cap);
        if (n == NULL) {
            dort__http_conn_fail(c, 500, "out_of_memory", "out of memory");
            return -1;
        }
        c->body = n;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    return 0;
}

static int queue_exchange(dort__http_conn_t *c)
{
    dort_request_t *req = c->cur;
    c->cur = NULL;
    if (c->body_len != 0) {
        /* The body buffer moves into the request: no copy. */
        dort_request_set_body(req, c->body, c->body_len, DORT_BUF_TAKE);
        c->body = NULL;
        c->body_len = c->body_cap = 0;
    }
    dort_exchange_t *ex = dort__exchange_new(c, req);
    if (ex == NULL) {
        dort_request_free(req);
        dort__http_conn_fail(c, 500, "out_of_memory", "out of memory");
        return -1;
    }
    ex->keep_alive = (uint8_t)llhttp_should_keep_alive(&c->parser);
    ex->http10 = c->parser.http_major == 1 && c->parser.http_minor == 0;
    ex->upgrade = c->is_upgrade;
    c->in_message = 0;
    c->continue_due = 0;
    uv_timer_stop(&c->timer);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    dort__http_conn_t *c = conn_of(p);
    if (c->is_upgrade)
        return 0; /* queued at headers complete */
    if (queue_exchange(c) != 0)
        return -1;
    /* Too many answers outstanding: stop parsing (and reading) here. */
    return c->queued >= c->srv->opts.max_pipeline ? HPE_PAUSED : 0;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- reading ---- */

static void keep_pending(dort__http_conn_t *c, const char *from, const char *end)
{
    size_t n = (size_t)(end - from);
    char *buf = dort__malloc(n);
    if (buf == NULL && n != 0) {
        dort__http_conn_close(c);
        return;
    }
    if (n)
        memcpy(buf, from, n);
    dort__free(c->pending);
    c->pending = buf;
    c->pending_len = n;
    c->paused = 1;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static void dispatch_new(dort__http_conn_t *c)
{
    /* A handler that answers at once gets its exchange written, unlinked
     * and freed inside the dispatch; that answer may also resume a paused
     * parser, whose nested dispatch_new dispatches (and frees) later
     * exchanges too. So hold no pointer across a dispatch: look for the
     * first exchange not yet dispatched from the head again. */
    while (!c->closing) {
        dort_exchange_t *ex = c->head;
        while (ex != NULL && ex->dispatched)
            ex = ex->next;
        if (ex == NULL)
            break;
        ex->dispatched = 1;
        dort__exchange_dispatch(ex);
    }
}

static void execute(dort__http_conn_t *c, const char *data, size_t len)
{
    if (c->close_after)
        return; /* answering the last request; nothing more is read */
    c->in_execute = 1;
    llhttp_errno_t err = llhttp_execute(&c->parser, data, len);
    c->in_execute = 0;
    if (c->closing || c->close_after) {
        dispatch_new(c);
        return;
    }
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        keep_pending(c, llhttp_get_error_pos(&c->parser), data + len);
    } else if (err != HPE_OK && err != HPE_USER) {
        dort__http_conn_fail(c, 400, "bad_request", llhttp_get_error_reason(&c->parser));
    }
    dispatch_new(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    dort__http_conn_t *c = h->data;
    dort_http_server_t *s = c->srv;
    (void)suggested;
    if (!s->readbuf_busy) {
        s->readbuf_busy = 1;
        *buf = uv_buf_init(s->readbuf, sizeof s->readbuf);
        return;
    }
    char *b = dort__malloc(16384);
    *buf = uv_buf_init(b, b ? 16384 : 0);
}

static void release_buf(dort__http_conn_t *c, const uv_buf_t *buf)
{
    if (buf->base == c->srv->readbuf)
        c->srv->readbuf_busy = 0;
    else
        dort__free(buf->base);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    dort__http_conn_t *c = st->data;
    if (nread < 0) {
        if (c->ws != NULL)
            dort__ws_on_eof(c);
        else
            dort__http_conn_close(c); /* client gone, mid-request or not */
    } else if (nread > 0 && !c->closing) {
        c->srv->stats.bytes_in += (uint64_t)nread;
        if (c->lingering)
            ; /* draining the client's leftovers before closing */
        else if (c->ws != NULL)
            dort__ws_on_read(c, buf->base, (size_t)nread);
        else
            execute(c, buf->base, (size_t)nread);
    }
    release_buf(c, buf);
}

static void start_reading(dort__http_conn_t *c)
{
    if (!c->reading && !c->closing &&
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
}

void dort__http_conn_queue_shrank(dort__http_conn_t *c)
{
    if (c->closing)
        return;
    if (c->continue_due && c->in_message && c->head == NULL && c->writes_pending == 0) {
        c->continue_due = 0;
        write_continue(c);
    }
    if (c->head == NULL && !c->in_message && c->ws == NULL) {
        if (c->close_after) {
            dort__http_conn_close(c);
            return;
        }
        arm(c, c->srv->opts.keepalive_timeout_ms);
    }
    if (!c->paused || c->parser.upgrade || c->queued >= c->srv->opts.max_pipeline)
        return;
    /* Resume where parsing stopped, then read again. */
    char *data = c->pending;
    size_t len = c->pending_len;
    c->pending = NULL;
    c->pending_len = 0;
    c->paused = 0;
    llhttp_resume(&c->parser);
    if (len != 0)
        execute(c, data, len);
    dort__free(data);
    if (!c->paused)
        start_reading(c);
}

void dort__http_conn_start(dort_http_server_t *s, uv_tcp_t *listener, dort__http_conn_t *c)
{
    c->tcp.data = c;
    uv_timer_init(listener->loop, &c->timer);
    c->timer.data = c;
    llhttp_init(&c->parser, HTTP_REQUEST, &settings);
    c->parser.data = c;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->stats.connections_open++;
    s->stats.connections_total++;
    if (uv_accept((uv_stream_t *)listener, (uv_stream_t *)&c->tcp) != 0) {
        dort__http_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage peer;
    int len = sizeof peer;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &len) == 0) {
        if (peer.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&peer, c->peer, sizeof c->peer);
        else
            uv_ip4_name((struct sockaddr_in *)&peer, c->peer, sizeof c->peer);
    }
    start_reading(c);
    arm(c, s->opts.keepalive_timeout_ms);
}

/* ---- closing ---- */

static void on_closed(uv_handle_t *h)
{
    dort__http_conn_t *c = h->data;
    if (h == (uv_handle_t *)&c->tcp) {
        uv_close((uv_handle_t *)&c->timer, on_closed);
        return;
    }
    dort_http_server_t *s = c->srv;
    dort__http_server_unlink_conn(s, c);
    s->stats.connections_open--;
    dort_request_free(c->cur);
    dort__free(c->tok);
    dort__free(c->body);
    dort__free(c->pending);
    dort__free(c);
    if (s->rt->state == DORT__RT_FINISHING)
        dort__rt_handle_closed(s->rt);
}

void dort__http_conn_close(dort__http_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_timer_stop(&c->timer);
    dort__exchange_orphan_all(c);
    if (c->ws != NULL)
        dort__ws_on_eof(c);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    dort__http_conn_t *c = req->data;
    dort__free(req);
    if (status != 0 || c->closing) {
        dort__http_conn_close(c);
        return;
    }
    /* Keep reading (and dropping) what the client still sends so our answer
     * is not lost to a reset, then close. */
    c->lingering = 1;
    start_reading(c);
    arm(c, LINGER_MS);
}

/* Called by http_write.c when the last answer before a close was written. */
void dort__http_conn_shutdown(dort__http_conn_t *c);
void dort__http_conn_shutdown(dort__http_conn_t *c)
{
    if (c->closing || c->lingering)
        return;
    uv_shutdown_t *req = dort__malloc(sizeof *req);
    if (req == NULL) {
        dort__http_conn_close(c);
        return;
    }
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        dort__free(req);
        dort__http_conn_close(c);
    }
}

void dort__http_conn_fail(dort__http_conn_t *c, int status, const char *code, const char *msg)
{
    if (c->closing || c->close_after)
        return;
    c->close_after = 1;
    c->in_message = 0;
    uv_timer_stop(&c->timer);
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    dort_response_t *res;
    dort_exchange_t *ex = NULL;
    if (dort__http_error_response(&res, status, code, msg) == 0) {
        ex = dort__exchange_new(c, c->cur);
        c->cur = NULL;
    }
    if (ex == NULL) {
        dort__http_conn_close(c);
        return;
    }
    /* Not the worker's: already answered, written after what precedes it. */
    ex->dispatched = 1;
    ex->keep_alive = 0;
    ex->res = res;
    ex->state = DORT__EX_ANSWERED;
    dort__http_flush(c);
}
