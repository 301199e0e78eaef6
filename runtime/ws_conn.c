/* ws_conn.c - a WebSocket connection: the HTTP connection after its 101
 * answer, framed with wslay's event API.
 *
 * Reads are fed to wslay, which answers pings and close frames itself and
 * fails the connection on protocol errors (1002, 1007) and oversized
 * messages (1009); whole messages go to ws_actor.c. Writes: wslay's send
 * callback appends every frame to one buffer, written with uv_try_write and
 * what is left with uv_write; while more than HIGH_WATER bytes wait in
 * libuv, wslay keeps queued messages to itself. Because the send callback
 * never takes a frame halfway, the output is always at a frame boundary
 * between calls, so a close frame of our own can be written after wslay
 * gave up (its own would carry no status code).
 *
 * Ending: after the closing handshake, or a failure, the runtime sends FIN
 * (uv_shutdown, after pending writes) and drains the client until it closes
 * or LINGER_MS pass; a client that does not answer our close frame within
 * CLOSE_WAIT_MS is cut off. The HTTP connection's close (from any side)
 * ends here in dort__ws_on_eof, which detaches this object; it is freed
 * when its last libuv request has called back. */
#include <string.h>

#include <wslay/wslay.h>

#include "alloc_internal.h"
#include "ws_internal.h"

#define CLOSE_WAIT_MS 5000
#define LINGER_MS 2000
#define HIGH_WATER ((size_t)1 << 20)
#define DEFAULT_MAX_MESSAGE ((size_t)32 << 20)

struct dort__ws_conn_s {
    dort__http_conn_t *c; /* NULL once the connection is gone */
    dort_ws_t *ws;        /* NULL once the connection is gone */
    wslay_event_context_ptr ctx;
    const char *in; /* bytes being fed to wslay */
    size_t in_len;
    char *obuf; /* frames wslay produced, not yet written */
    size_t olen, ocap;
    uint32_t busy;     /* libuv requests in flight + callers on the stack */
    uint8_t in_recv;   /* inside wslay_event_recv: no wslay_event_send */
    uint8_t failed;    /* wslay gave up: no more calls into it */
    uint8_t shutting;  /* FIN issued */
    uint8_t lingering; /* FIN sent: dropping what the client still sends */
    uint8_t paused;    /* reading stopped: too many events at the actor */
};

typedef struct wreq_s {
    uv_write_t req;
    dort__ws_conn_t *wc;
    char *buf;
} wreq_t;

static void progress(dort__ws_conn_t *wc, int force);

static void hold(dort__ws_conn_t *wc)
{
    wc->busy++;
}

static void release(dort__ws_conn_t *wc)
{
    if (--wc->busy == 0 && wc->c == NULL) {
        dort__free(wc->obuf);
        dort__free(wc);
    }
}

static uv_stream_t *stream_of(dort__ws_conn_t *wc)
{
    return (uv_stream_t *)&wc->c->tcp;
}

/* ---- writing ---- */

static int obuf_append(dort__ws_conn_t *wc, const void *data, size_t len)
{
    if (wc->olen + len > wc->ocap) {
        size_t cap = wc->ocap ? wc->ocap : 4096;
        while (cap < wc->olen + len)
            cap *= 2;
        char *b = dort__realloc(wc->obuf, cap);
        if (b == NULL)
            return DORT_ENOMEM;
        wc->obuf = b;
        wc->ocap = cap;
    }
    memcpy(wc->obuf + wc->olen, data, len);
    wc->olen += len;
    return 0;
}

static void on_written(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    dort__ws_conn_t *wc = w->wc;
    dort__free(w->buf);
    dort__free(w);
    if (wc->c != NULL && status < 0)
        dort__http_conn_close(wc->c);
    else if (wc->c != NULL)
        progress(wc, 0); /* below the high-water mark again, maybe */
    release(wc);
}

/* Writes the buffered frames: as much as the socket takes now, the rest
 * through a write request that takes the buffer over (libuv keeps order). */
static void flush(dort__ws_conn_t *wc)
{
    if (wc->olen == 0 || wc->c == NULL)
        return;
    uv_buf_t b = uv_buf_init(wc->obuf, (unsigned)wc->olen);
    int n = uv_try_write(stream_of(wc), &b, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS)
        n = 0;
    if (n < 0) {
        wc->olen = 0;
        dort__http_conn_close(wc->c);
        return;
    }
    wc->c->srv->stats.bytes_out += wc->olen;
    if ((size_t)n == wc->olen) {
        wc->olen = 0;
        return;
    }
    wreq_t *w = dort__malloc(sizeof *w);
    if (w == NULL) {
        wc->olen = 0;
        dort__http_conn_close(wc->c);
        return;
    }
    w->wc = wc;
    w->buf = wc->obuf;
    uv_buf_t rest = uv_buf_init(wc->obuf + n, (unsigned)(wc->olen - (size_t)n));
    wc->obuf = NULL;
    wc->olen = wc->ocap = 0;
    hold(wc);
    if (uv_write(&w->req, stream_of(wc), &rest, 1, on_written) != 0) {
        dort__free(w->buf);
        dort__free(w);
        dort__http_conn_close(wc->c);
        release(wc);
    }
}

/* Lets wslay write what it has queued. */
static void pump(dort__ws_conn_t *wc, int force)
{
    if (wc->c == NULL || wc->failed || wc->in_recv)
        return;
    if (!force && uv_stream_get_write_queue_size(stream_of(wc)) >= HIGH_WATER)
        return; /* on_written comes back here */
    int rc = wslay_event_send(wc->ctx);
    flush(wc);
    if (rc < 0 && wc->c != NULL)
        dort__http_conn_close(wc->c); /* out of memory, or the connection broke */
}

/* ---- ending ---- */

static void on_timer(uv_timer_t *t)
{
    dort__http_conn_t *c = t->data;
    /* The client did not answer our close frame, or did not leave after
     * our FIN: cut it off. */
    if (c->ws != NULL)
        dort__http_conn_close(c);
}

static void start_reading(dort__ws_conn_t *wc);

static void on_shutdown(uv_shutdown_t *req, int status)
{
    dort__ws_conn_t *wc = req->data;
    dort__free(req);
    if (wc->c != NULL && status < 0) {
        dort__http_conn_close(wc->c);
    } else if (wc->c != NULL) {
        wc->lingering = 1;
        start_reading(wc); /* to see the client's EOF, even if paused */
        uv_timer_start(&wc->c->timer, on_timer, LINGER_MS, 0);
    }
    release(wc);
}

static void begin_shutdown(dort__ws_conn_t *wc)
{
    if (wc->shutting || wc->c == NULL)
        return;
    wc->shutting = 1;
    uv_timer_stop(&wc->c->timer);
    uv_shutdown_t *req = dort__malloc(sizeof *req);
    if (req == NULL) {
        dort__http_conn_close(wc->c);
        return;
    }
    req->data = wc;
    hold(wc);
    if (uv_shutdown(req, stream_of(wc), on_shutdown) != 0) {
        dort__free(req);
        dort__http_conn_close(wc->c);
        release(wc);
    }
}

/* wslay gave up on the input (a malformed frame, or out of memory) without
 * a status code: send ours, tell the actor, and end the connection. */
static void fail_raw(dort__ws_conn_t *wc, int code, int err)
{
    wc->failed = 1;
    if (!wslay_event_get_close_sent(wc->ctx)) {
        unsigned char frame[4] = {0x88, 0x02, (unsigned char)(code >> 8),
                                  (unsigned char)(code & 0xff)};
        wslay_event_shutdown_write(wc->ctx);
        if (obuf_append(wc, frame, sizeof frame) == 0)
            flush(wc);
    }
    if (wc->c == NULL)
        return;
    if (wc->ws != NULL)
        dort__ws_finish(wc->ws, code, "", 0, 0, err);
    begin_shutdown(wc);
}

/* After input or output: write, and move towards the end when wslay says
 * the conversation is over. */
static void progress(dort__ws_conn_t *wc, int force)
{
    if (wc->c == NULL || wc->failed || wc->in_recv)
        return;
    int reading = wslay_event_get_read_enabled(wc->ctx);
    int got_close = wslay_event_get_close_received(wc->ctx);
    /* A failure's close frame goes out even above the high-water mark. */
    pump(wc, force || !reading);
    if (wc->c == NULL)
        return;
    if (!reading && !got_close) {
        /* wslay failed the connection and sent 1002, 1007 or 1009. */
        int code = wslay_event_get_status_code_sent(wc->ctx);
        if (wc->ws != NULL)
            dort__ws_finish(wc->ws, code, "", 0, 0, code == 1009 ? DORT_ETOOLARGE : DORT_EPROTO);
        begin_shutdown(wc);
    } else if (got_close && wslay_event_get_close_sent(wc->ctx)) {
        begin_shutdown(wc); /* the closing handshake is complete */
    }
}

/* ---- wslay callbacks ---- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    dort__ws_conn_t *wc = user;
    (void)flags;
    if (wc->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < wc->in_len ? len : wc->in_len;
    memcpy(buf, wc->in, n);
    wc->in += n;
    wc->in_len -= n;
    return (ssize_t)n;
}

/* Takes every byte: see the top of the file. */
static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    dort__ws_conn_t *wc = user;
    (void)flags;
    if (wc->c == NULL || obuf_append(wc, data, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user)
{
    dort__ws_conn_t *wc = user;
    (void)ctx;
    if (wc->ws == NULL)
        return;
    if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME) {
        dort__ws_on_message(wc->ws, arg->msg, arg->msg_length, arg->opcode == WSLAY_BINARY_FRAME);
    } else if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        /* wslay has queued the answering close frame already. */
        const char *reason = "";
        size_t rlen = 0;
        if (arg->msg_length > 2) {
            reason = (const char *)arg->msg + 2;
            rlen = arg->msg_length - 2;
        }
        dort__ws_finish(wc->ws, arg->status_code ? arg->status_code : 1005, reason, rlen, 1, 0);
    }
    /* Pings were answered by wslay; pongs need nothing. */
}

/* RFC 6455 5.5.1: a close body starts with a two-byte code. wslay takes a
 * one-byte body for "no code" and answers with an empty close; fail it. */
static void on_frame_start(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
    dort__ws_conn_t *wc = user;
    (void)ctx;
    if (arg->opcode == WSLAY_CONNECTION_CLOSE && arg->payload_length == 1 && !wc->failed &&
        wc->c != NULL)
        fail_raw(wc, 1002, DORT_EPROTO);
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .on_frame_recv_start_callback = on_frame_start,
    .on_msg_recv_callback = on_msg,
};

/* ---- reading ---- */

static void feed(dort__ws_conn_t *wc, const char *data, size_t len)
{
    wc->in = data;
    wc->in_len = len;
    wc->in_recv = 1;
    int rc = wslay_event_recv(wc->ctx);
    wc->in_recv = 0;
    wc->in_len = 0; /* what wslay did not want (it stopped reading) is dropped */
    if (wc->c == NULL)
        return;
    if (rc < 0)
        fail_raw(wc, rc == WSLAY_ERR_NOMEM ? 1011 : 1002,
                 rc == WSLAY_ERR_NOMEM ? DORT_ENOMEM : DORT_EPROTO);
    else
        progress(wc, 0);
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

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    dort__http_conn_t *c = st->data;
    dort__ws_conn_t *wc = c->ws;
    if (wc != NULL) {
        hold(wc);
        if (nread < 0) {
            dort__http_conn_close(c); /* the client left; dort__ws_on_eof follows */
        } else if (nread > 0) {
            c->srv->stats.bytes_in += (uint64_t)nread;
            if (!wc->lingering && !wc->failed)
                feed(wc, buf->base, (size_t)nread);
        }
        release(wc);
    }
    if (buf->base == c->srv->readbuf)
        c->srv->readbuf_busy = 0;
    else
        dort__free(buf->base);
}

/* The HTTP layer stopped reading when it paused at the upgrade; from now on
 * this file's callbacks read the connection. */
static void start_reading(dort__ws_conn_t *wc)
{
    dort__http_conn_t *c = wc->c;
    if (c == NULL || c->reading || c->closing)
        return;
    if (uv_read_start(stream_of(wc), on_alloc, on_read) == 0)
        c->reading = 1;
}

void dort__ws_conn_pause(dort__ws_conn_t *wc)
{
    wc->paused = 1;
    if (wc->c != NULL && wc->c->reading && !wc->lingering) {
        uv_read_stop(stream_of(wc));
        wc->c->reading = 0;
    }
}

void dort__ws_conn_resume(dort__ws_conn_t *wc)
{
    wc->paused = 0;
    start_reading(wc);
}

/* ---- the actor's side ---- */

void dort__ws_conn_send(dort__ws_conn_t *wc, const void *data, size_t len, int binary)
{
    if (wc->c == NULL || wc->failed)
        return;
    struct wslay_event_msg m = {binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, data, len};
    if (wslay_event_queue_msg(wc->ctx, &m) != 0)
        return; /* a close frame is queued: nothing may follow it */
    hold(wc);
    progress(wc, 0);
    release(wc);
}

void dort__ws_conn_close(dort__ws_conn_t *wc, int code, const char *reason, size_t len)
{
    if (wc->c == NULL || wc->failed)
        return;
    if (wslay_event_queue_close(wc->ctx, (uint16_t)code, (const uint8_t *)reason, len) != 0)
        return;
    if (!wc->shutting)
        uv_timer_start(&wc->c->timer, on_timer, CLOSE_WAIT_MS, 0);
    hold(wc);
    progress(wc, 1);
    release(wc);
}

/* ---- the HTTP layer's hooks ---- */

int dort__ws_conn_flushed(const dort__ws_conn_t *wc)
{
    return wc->c == NULL ||
           (wc->olen == 0 && uv_stream_get_write_queue_size((uv_stream_t *)&wc->c->tcp) == 0);
}

int dort__ws_take_over(dort__http_conn_t *c, dort_response_t *res, const char *leftover, size_t len)
{
    dort_ws_t *ws = res->ws;
    res->ws = NULL;
    dort_response_free(res);
    dort__ws_conn_t *wc = dort__calloc(1, sizeof *wc);
    if (wc == NULL || wslay_event_context_server_init(&wc->ctx, &callbacks, wc) != 0) {
        dort__free(wc);
        dort__ws_finish(ws, 1006, "", 0, 0, DORT_ENOMEM);
        dort__ws_unref(ws);
        dort__http_conn_close(c);
        return DORT_ENOMEM;
    }
    size_t max = c->srv->opts.ws_max_message_bytes;
    wslay_event_config_set_max_recv_msg_length(wc->ctx, max ? max : DEFAULT_MAX_MESSAGE);
    wc->c = c;
    wc->ws = ws;
    c->ws = wc;
    c->srv->stats.websockets_open++;
    uv_timer_stop(&c->timer);
    hold(wc);
    dort__ws_attach(ws, wc); /* the connection's reference */
    if (ws->finished)        /* the runtime began to stop meanwhile */
        dort__ws_conn_close(wc, 1001, "going away", 10);
    dort__ws_unref(ws); /* the answer's */
    start_reading(wc);
    if (len != 0 && wc->c != NULL)
        feed(wc, leftover, len);
    release(wc);
    return 0;
}

void dort__ws_on_read(dort__http_conn_t *c, const char *data, size_t len)
{
    /* Only reached if the HTTP layer's own read callback is active. */
    dort__ws_conn_t *wc = c->ws;
    if (wc == NULL)
        return;
    hold(wc);
    if (!wc->lingering && !wc->failed)
        feed(wc, data, len);
    release(wc);
}

void dort__ws_on_eof(dort__http_conn_t *c)
{
    dort__ws_conn_t *wc = c->ws;
    if (!c->closing) {
        dort__http_conn_close(c); /* comes back here */
        return;
    }
    if (wc == NULL)
        return;
    hold(wc);
    c->ws = NULL;
    c->srv->stats.websockets_open--;
    dort_ws_t *ws = wc->ws;
    wc->ws = NULL;
    wc->c = NULL;
    wslay_event_context_free(wc->ctx);
    wc->ctx = NULL;
    if (ws != NULL) {
        dort__ws_finish(ws, 1006, "", 0, 0, 0); /* no-op after a close or failure */
        dort__ws_detach(ws);
    }
    release(wc);
}

void dort__ws_response_free(dort_response_t *res)
{
    dort_ws_t *ws = res->ws;
    res->ws = NULL;
    /* The 101 never reached its client: the socket ends before it began. */
    dort__ws_finish(ws, 1006, "", 0, 0, 0);
    dort__ws_unref(ws);
}
