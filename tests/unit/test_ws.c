/* test_ws.c - WebSockets with the semantics of the Hibernation API: the
 * handshake, then over a real loopback connection (a worker forwards
 * upgrades to the "Room" class below; the client is plain sockets): echo,
 * tags, attachments and auto-responses across eviction, ping/pong without
 * waking the actor, close codes for oversized and malformed input, the
 * closing handshake from either side, the output gate, limits, and stop. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rt_internal.h"
#include "th.h"
#include "ws_internal.h"

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
/* RFC 6455, section 1.3. */
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define MAX_MSG 4096

/* ---- what the actor saw ---- */

static struct {
    int inits, messages, closes, errors;
    int accept_rc;
    int close_code, close_clean, close_state;
    char close_reason[128];
    int error;
    int send_after_close;
    int attach_over, attach_max, auto_over, auto_max;
    dort_ws_t *last; /* the last socket accepted */
} g;

/* ---- the actor class ---- */

static int room_init(dort_actor_t *self)
{
    g.inits++;
    return dort_actor_set_ws_auto_response(self, "auto-ping", "auto-pong");
}

/* Splits a comma-separated header value into tags (in `buf`). */
static size_t split_tags(dort_slice_t v, char *buf, size_t cap, const char **tags, size_t max)
{
    size_t n = v.len < cap - 1 ? v.len : cap - 1, count = 0;
    memcpy(buf, v.ptr, n);
    buf[n] = '\0';
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && count < max;
         t = strtok_r(NULL, ",", &save))
        tags[count++] = t;
    return count;
}

static int relay_done(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)self, (void)status;
    dort_response_free(res);
    return dort_call_respond_body(data, 200, "text/plain", "relayed", 7);
}

/* A plain request answered a few turns later: ?relay asks another actor
 * first. */
static int plain_fetch(dort_actor_t *self, dort_call_t *call)
{
    dort_slice_t p = dort_request_path(dort_call_request(call));
    if (p.len < 6 || memcmp(p.ptr + p.len - 6, "?relay", 6) != 0)
        return dort_call_respond_body(call, 200, "text/plain", "plain", 5);
    dort_id_t id;
    dort_id_from_name(dort_actor_ns(self), "target", 6, &id);
    dort_stub_t stub;
    dort_stub_init(&stub, dort_actor_ns(self), &id);
    dort_request_t *req;
    dort_request_new(&req, "GET", "/room/target");
    return dort_stub_fetch(&stub, self, req, relay_done, call);
}

static int room_fetch(dort_actor_t *self, dort_call_t *call)
{
    const dort_request_t *req = dort_call_request(call);
    dort_slice_t v;
    if (dort_request_header(req, "upgrade", &v) != 0)
        return plain_fetch(self, call);
    char buf[8192];
    const char *tags[16];
    size_t ntags = 0;
    if (dort_request_header(req, "x-tags", &v) == 0)
        ntags = split_tags(v, buf, sizeof buf, tags, 16);
    dort_ws_t *ws;
    g.accept_rc = dort_ws_accept(self, call, tags, ntags, &ws);
    if (g.accept_rc != 0)
        return dort_call_respond_body(call, 400, "text/plain", "refused", 7);
    g.last = ws;
    if (dort_request_header(req, "x-attach", &v) == 0)
        dort_ws_set_attachment(ws, v.ptr, v.len);
    if (dort_request_header(req, "x-hello", &v) == 0)
        dort_ws_send(ws, "hello", 5, 0); /* before the 101 reached the wire */
    if (dort_request_header(req, "x-fail", &v) == 0)
        return -1; /* the 101 is dropped with the turn's outputs */
    return 0;
}

static int count_cb(void *data, dort_ws_t *ws)
{
    (void)ws;
    (*(int *)data)++;
    return 0;
}

static int starts(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

static int send_str(dort_ws_t *ws, const char *s)
{
    return dort_ws_send(ws, s, strlen(s), 0);
}

static void run_limits(dort_actor_t *self, dort_ws_t *ws)
{
    static char big[DORT_WS_MAX_ATTACHMENT + 1];
    memset(big, 'a', sizeof big);
    g.attach_over = dort_ws_set_attachment(ws, big, DORT_WS_MAX_ATTACHMENT + 1);
    g.attach_max = dort_ws_set_attachment(ws, big, DORT_WS_MAX_ATTACHMENT);
    char req[DORT_WS_MAX_AUTO_RESPONSE + 2];
    memset(req, 'q', sizeof req - 1);
    req[sizeof req - 1] = '\0'; /* 2,049 bytes */
    g.auto_over = dort_actor_set_ws_auto_response(self, req, "x");
    req[DORT_WS_MAX_AUTO_RESPONSE] = '\0';
    g.auto_max = dort_actor_set_ws_auto_response(self, req, req);
    dort_actor_set_ws_auto_response(self, "auto-ping", "auto-pong");
}

/* Text commands; anything else is echoed. */
static int room_message(dort_actor_t *self, dort_ws_t *ws, const void *data, size_t len, int binary)
{
    g.messages++;
    const char *s = data;
    char out[256];
    if (binary)
        return dort_ws_send(ws, data, len, 1);
    if (starts(s, len, "attach?")) {
        dort_slice_t a = dort_ws_attachment(ws);
        return a.len ? dort_ws_send(ws, a.ptr, a.len, 0) : send_str(ws, "(none)");
    }
    if (starts(s, len, "tags?")) {
        const char *const *tags;
        size_t n = dort_ws_tags(ws, &tags), o = 0;
        out[0] = '\0';
        for (size_t i = 0; i < n; i++)
            o += (size_t)snprintf(out + o, sizeof out - o, "%s%s", i ? "," : "", tags[i]);
        return send_str(ws, out);
    }
    if (starts(s, len, "count:")) {
        char tag[64];
        snprintf(tag, sizeof tag, "%.*s", (int)(len - 6), s + 6);
        int n = 0;
        dort_actor_websockets(self, tag[0] ? tag : NULL, count_cb, &n);
        snprintf(out, sizeof out, "%d", n);
        return send_str(ws, out);
    }
    if (starts(s, len, "fail:")) {
        dort_ws_send(ws, s + 5, len - 5, 0);
        return -1;
    }
    if (starts(s, len, "close:")) {
        snprintf(out, sizeof out, "%.*s", (int)(len - 6), s + 6);
        char *reason = strchr(out, ':');
        *reason++ = '\0';
        dort_ws_close(ws, atoi(out), reason);
        g.send_after_close = send_str(ws, "too late");
        return 0;
    }
    if (starts(s, len, "ts?")) {
        snprintf(out, sizeof out, "%lld", (long long)dort_ws_auto_response_timestamp(ws));
        return send_str(ws, out);
    }
    if (starts(s, len, "big:")) {
        size_t n = (size_t)atol(s + 4);
        char *b = malloc(n);
        for (size_t i = 0; i < n; i++)
            b[i] = (char)(i % 251);
        int rc = dort_ws_send(ws, b, n, 1);
        free(b);
        return rc;
    }
    if (starts(s, len, "limits")) {
        run_limits(self, ws);
        return send_str(ws, "done");
    }
    return dort_ws_send(ws, data, len, 0);
}

static int room_close(dort_actor_t *self, dort_ws_t *ws, int code, const char *reason,
                      size_t reason_len, int was_clean)
{
    (void)self;
    g.closes++;
    g.close_code = code;
    g.close_clean = was_clean;
    g.close_state = dort_ws_ready_state(ws);
    snprintf(g.close_reason, sizeof g.close_reason, "%.*s", (int)reason_len, reason);
    return 0;
}

static int room_error(dort_actor_t *self, dort_ws_t *ws, int err)
{
    (void)self, (void)ws;
    g.errors++;
    g.error = err;
    return 0;
}

static const dort_class_t room_class = {
    .name = "Room",
    .init = room_init,
    .fetch = room_fetch,
    .websocket_message = room_message,
    .websocket_close = room_close,
    .websocket_error = room_error,
};

/* ---- the worker: /room/NAME goes to actor NAME ---- */

static int worker_fetch(dort_exchange_t *ex)
{
    dort_slice_t p = dort_request_path(dort_exchange_request(ex));
    if (p.len < 7 || memcmp(p.ptr, "/room/", 6) != 0)
        return dort_exchange_respond_body(ex, 404, NULL, NULL, 0);
    size_t n = 6;
    while (n < p.len && p.ptr[n] != '?')
        n++;
    dort_ns_t *ns = dort_rt_namespace(dort_exchange_rt(ex), "Room");
    dort_id_t id;
    dort_id_from_name(ns, p.ptr + 6, n - 6, &id);
    dort_stub_t stub;
    dort_stub_init(&stub, ns, &id);
    return dort_exchange_forward(ex, &stub);
}

static const dort_worker_class_t worker_class = {.name = "rooms", .fetch = worker_fetch};

/* ---- a runtime with the server ---- */

typedef struct env_s {
    dort_rt_t *rt;
    int port;
} env_t;

static void env_start(env_t *e, int64_t idle_ms)
{
    memset(&g, 0, sizeof g);
    dort_rt_options_t o;
    th_options(&o, NULL);
    o.idle_timeout_ms = idle_ms;
    dort_worker_t *w;
    assert_int_equal(dort_rt_new(&e->rt, &o), 0);
    assert_int_equal(dort_rt_register_class(e->rt, &room_class), 0);
    assert_int_equal(dort_rt_bind_namespace(e->rt, "Room", "Room", NULL, NULL), 0);
    assert_int_equal(dort_rt_add_worker(e->rt, &worker_class, &w), 0);
    assert_int_equal(dort_rt_start(e->rt), 0);
    dort_http_options_t ho;
    dort_http_options_init(&ho);
    ho.port = 0;
    ho.metrics = 1;
    ho.ws_max_message_bytes = MAX_MSG;
    dort_http_server_t *srv;
    assert_int_equal(dort_http_listen(e->rt, &ho, w, &srv), 0);
    e->port = dort_http_server_port(srv);
}

static uint64_t live(env_t *e)
{
    dort_rt_stats_t st;
    dort_rt_stats(e->rt, &st);
    return st.actors_live;
}

static int evicted(void *data)
{
    return live(data) == 0;
}

/* ---- a minimal client: non-blocking socket, the loop runs while waiting ---- */

typedef struct cl_s {
    int fd;
    env_t *env;
    int eof;
    size_t len;
    unsigned char buf[1 << 20];
} cl_t;

static cl_t *cl_connect(env_t *e)
{
    cl_t *cl = calloc(1, sizeof *cl);
    assert_non_null(cl);
    cl->env = e;
    cl->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(cl->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)e->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(cl->fd, (struct sockaddr *)&a, sizeof a), 0);
    fcntl(cl->fd, F_SETFL, fcntl(cl->fd, F_GETFL) | O_NONBLOCK);
    return cl;
}

static void cl_free(cl_t *cl)
{
    if (cl->fd >= 0)
        close(cl->fd);
    free(cl);
}

static void cl_fill(cl_t *cl)
{
    while (!cl->eof && cl->len < sizeof cl->buf) {
        ssize_t n = recv(cl->fd, cl->buf + cl->len, sizeof cl->buf - cl->len, 0);
        if (n > 0)
            cl->len += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            cl->eof = 1;
        else
            return;
    }
}

static void cl_write(cl_t *cl, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(cl->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else {
            assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
            th_run_for(cl->env->rt, 1);
        }
    }
}

/* Sends one frame; client frames are masked unless `masked` is 0. */
static void cl_frame_send(cl_t *cl, int fin, int op, const void *data, size_t len, int masked)
{
    unsigned char *f = malloc(len + 14), key[4] = {0x12, 0x34, 0x56, 0x78};
    size_t h = 0;
    f[h++] = (unsigned char)((fin ? 0x80 : 0) | op);
    unsigned char m = masked ? 0x80 : 0;
    if (len < 126) {
        f[h++] = (unsigned char)(m | len);
    } else if (len < 65536) {
        f[h++] = m | 126;
        f[h++] = (unsigned char)(len >> 8);
        f[h++] = (unsigned char)len;
    } else {
        f[h++] = m | 127;
        for (int i = 7; i >= 0; i--)
            f[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    if (masked) {
        memcpy(f + h, key, 4);
        h += 4;
    }
    for (size_t i = 0; i < len; i++)
        f[h + i] = (unsigned char)(((const unsigned char *)data)[i] ^ (masked ? key[i % 4] : 0));
    cl_write(cl, f, h + len);
    free(f);
}

static void cl_text(cl_t *cl, const char *s)
{
    cl_frame_send(cl, 1, 0x1, s, strlen(s), 1);
}

/* A complete server frame at the head of the buffer: its header and
 * payload sizes. */
static int frame_ready(const cl_t *cl, size_t *hdr, size_t *plen)
{
    const unsigned char *b = cl->buf;
    if (cl->len < 2)
        return 0;
    size_t h = 2, l = b[1] & 0x7f;
    if (l == 126) {
        if (cl->len < 4)
            return 0;
        l = (size_t)b[2] << 8 | b[3];
        h = 4;
    } else if (l == 127) {
        if (cl->len < 10)
            return 0;
        l = 0;
        for (int i = 2; i < 10; i++)
            l = l << 8 | b[i];
        h = 10;
    }
    if (cl->len < h + l)
        return 0;
    *hdr = h;
    *plen = l;
    return 1;
}

static int cl_has_frame(void *data)
{
    cl_t *cl = data;
    size_t h, l;
    cl_fill(cl);
    return frame_ready(cl, &h, &l) || cl->eof;
}

/* Waits for the next frame; returns its opcode (payload NUL-terminated in
 * `out`), or -1 on timeout or end of stream. */
static int cl_frame(cl_t *cl, char *out, size_t cap, size_t *out_len)
{
    size_t h, l;
    th_run_until(cl->env->rt, cl_has_frame, cl, 5000);
    if (!frame_ready(cl, &h, &l))
        return -1;
    int op = cl->buf[0] & 0x0f;
    size_t n = l < cap - 1 ? l : cap - 1;
    memcpy(out, cl->buf + h, n);
    out[n] = '\0';
    if (out_len != NULL)
        *out_len = l;
    memmove(cl->buf, cl->buf + h + l, cl->len - h - l);
    cl->len -= h + l;
    return op;
}

/* Expects a text frame equal to `want`. */
static void expect_text(cl_t *cl, const char *want)
{
    char got[1024];
    assert_int_equal(cl_frame(cl, got, sizeof got, NULL), 0x1);
    assert_string_equal(got, want);
}

/* Expects a close frame; returns its code (reason into `reason`). */
static int expect_close(cl_t *cl, char *reason, size_t cap)
{
    char p[256];
    size_t len;
    assert_int_equal(cl_frame(cl, p, sizeof p, &len), 0x8);
    assert_true(len >= 2);
    if (reason != NULL)
        snprintf(reason, cap, "%.*s", (int)(len - 2), p + 2);
    return (unsigned char)p[0] << 8 | (unsigned char)p[1];
}

static int cl_has_head(void *data)
{
    cl_t *cl = data;
    cl_fill(cl);
    return cl->eof || memmem(cl->buf, cl->len, "\r\n\r\n", 4) != NULL;
}

/* Reads the head of the next answer; returns its status and consumes the
 * head (the body stays in the buffer). */
static int cl_head(cl_t *cl)
{
    th_run_until(cl->env->rt, cl_has_head, cl, 5000);
    unsigned char *end = memmem(cl->buf, cl->len, "\r\n\r\n", 4);
    assert_non_null(end);
    int status = atoi((char *)cl->buf + 9);
    if (status == 101) {
        *end = '\0';
        assert_non_null(strstr((char *)cl->buf, "Sec-WebSocket-Accept: " RFC_ACCEPT));
    }
    size_t used = (size_t)(end + 4 - cl->buf);
    memmove(cl->buf, cl->buf + used, cl->len - used);
    cl->len -= used;
    return status;
}

/* Formats an upgrade request for actor `name` with extra header lines. */
static int upgrade_request(char *req, size_t cap, const char *name, const char *key,
                           const char *version, const char *extra)
{
    int n = snprintf(req, cap,
                     "GET /room/%s HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\n",
                     name);
    if (key != NULL)
        n += snprintf(req + n, cap - (size_t)n, "Sec-WebSocket-Key: %s\r\n", key);
    if (version != NULL)
        n += snprintf(req + n, cap - (size_t)n, "Sec-WebSocket-Version: %s\r\n", version);
    n += snprintf(req + n, cap - (size_t)n, "%s\r\n", extra ? extra : "");
    return n;
}

/* Sends an upgrade request and returns the answer's status. */
static int cl_upgrade(cl_t *cl, const char *name, const char *key, const char *version,
                      const char *extra)
{
    char req[8192];
    int n = upgrade_request(req, sizeof req, name, key, version, extra);
    cl_write(cl, req, (size_t)n);
    return cl_head(cl);
}

/* A client with an open socket to actor `name`. */
static cl_t *cl_open(env_t *e, const char *name, const char *extra)
{
    cl_t *cl = cl_connect(e);
    assert_int_equal(cl_upgrade(cl, name, RFC_KEY, "13", extra), 101);
    return cl;
}

static int closes_at_least(void *data)
{
    return g.closes >= *(int *)data;
}

static void wait_closes(env_t *e, int n)
{
    assert_true(th_run_until(e->rt, closes_at_least, &n, 5000));
}

/* ---- tests ---- */

static void handshake_known_answer(void **state)
{
    (void)state;
    char out[29];
    assert_int_equal(dort__ws_accept_key(RFC_KEY, strlen(RFC_KEY), out), 0);
    assert_string_equal(out, RFC_ACCEPT);

    static const struct {
        const char *method, *upgrade, *version, *key;
        int rc;
    } cases[] = {
        {"GET", "websocket", "13", RFC_KEY, 0},
        {"GET", "h2c, WebSocket", " 13 ", " " RFC_KEY, 0},
        {"GET", "websocket", "13", NULL, DORT_EPROTO},
        {"GET", "websocket", "13", "dGhlIHNhbXBsZSBub25jZQ=", DORT_EPROTO},
        {"GET", "websocket", "13", "dGhlIHNhbXBsZSBub25j*Q==", DORT_EPROTO},
        {"GET", "websocket", "13", "dGhlIHNhbXBsZSBub25jZQo=", DORT_EPROTO},
        {"GET", "websocket", "8", RFC_KEY, DORT_EPROTO},
        {"GET", "websocket", NULL, RFC_KEY, DORT_EPROTO},
        {"GET", NULL, "13", RFC_KEY, DORT_EPROTO},
        {"POST", "websocket", "13", RFC_KEY, DORT_EPROTO},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dort_request_t *req;
        assert_int_equal(dort_request_new(&req, cases[i].method, "/"), 0);
        if (cases[i].upgrade)
            dort_request_add_header(req, "Upgrade", 7, cases[i].upgrade, strlen(cases[i].upgrade));
        if (cases[i].version)
            dort_request_add_header(req, "Sec-WebSocket-Version", 21, cases[i].version,
                                    strlen(cases[i].version));
        if (cases[i].key)
            dort_request_add_header(req, "Sec-WebSocket-Key", 17, cases[i].key,
                                    strlen(cases[i].key));
        dort_slice_t key;
        assert_int_equal(dort__ws_check_request(req, &key), cases[i].rc);
        if (cases[i].rc == 0)
            assert_int_equal(key.len, 24);
        dort_request_free(req);
    }
}

static void bad_handshakes_refused(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    cl_t *cl = cl_connect(&e);
    assert_int_equal(cl_upgrade(cl, "r", NULL, "13", NULL), 400);
    assert_int_equal(g.accept_rc, DORT_EPROTO);
    cl_free(cl);
    cl = cl_connect(&e);
    assert_int_equal(cl_upgrade(cl, "r", RFC_KEY, "12", NULL), 400);
    assert_int_equal(g.accept_rc, DORT_EPROTO);
    cl_free(cl);
    cl = cl_connect(&e);
    assert_int_equal(cl_upgrade(cl, "r", "c2hvcnQ=", "13", NULL), 400);
    cl_free(cl);
    th_stop(e.rt);
}

static int has_metric(void *data)
{
    cl_t *cl = data;
    cl_fill(cl);
    return cl->eof || memmem(cl->buf, cl->len, "dort_websockets_open 1", 22) != NULL;
}

static void echo_text_and_binary(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    cl_t *cl = cl_open(&e, "echo", NULL);
    cl_text(cl, "hi there");
    expect_text(cl, "hi there");
    unsigned char bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)i;
    cl_frame_send(cl, 1, 0x2, bin, sizeof bin, 1);
    char got[512];
    size_t len;
    assert_int_equal(cl_frame(cl, got, sizeof got, &len), 0x2);
    assert_int_equal(len, sizeof bin);
    assert_memory_equal(got, bin, sizeof bin);
    /* A fragmented message arrives whole. */
    cl_frame_send(cl, 0, 0x1, "frag", 4, 1);
    cl_frame_send(cl, 1, 0x0, "mented", 6, 1);
    expect_text(cl, "fragmented");
    /* The open socket shows in the metrics. */
    cl_t *m = cl_connect(&e);
    const char get[] = "GET /__dort/metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    cl_write(m, get, sizeof get - 1);
    th_run_until(e.rt, has_metric, m, 5000);
    assert_non_null(memmem(m->buf, m->len, "dort_websockets_open 1", 22));
    cl_free(m);
    /* Outside any turn a send goes at once. */
    assert_int_equal(dort_ws_send(g.last, "direct", 6, 0), 0);
    expect_text(cl, "direct");
    /* A large message from the actor goes out whole. */
    cl_text(cl, "big:600000");
    static char bigbuf[600001];
    assert_int_equal(cl_frame(cl, bigbuf, sizeof bigbuf, &len), 0x2);
    assert_int_equal(len, 600000);
    for (size_t i = 0; i < len; i += 9973)
        assert_int_equal((unsigned char)bigbuf[i], i % 251);
    assert_int_equal(g.inits, 1);
    cl_free(cl);
    th_stop(e.rt);
}

static void send_in_accept_turn_follows_101(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    cl_t *cl = cl_open(&e, "hello", "X-Hello: 1\r\n");
    expect_text(cl, "hello");
    cl_free(cl);
    th_stop(e.rt);
}

static int has_bytes(void *data)
{
    cl_t *cl = data;
    cl_fill(cl);
    return cl->eof || cl->len >= 7;
}

/* The upgrade is pipelined behind a request answered a few turns later: the
 * actor's send waits for its 101, which waits for the answer before it. */
static void send_waits_for_late_101(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    cl_t *cl = cl_connect(&e);
    char req[8192];
    int n = snprintf(req, sizeof req, "GET /room/slow?relay HTTP/1.1\r\nHost: t\r\n\r\n");
    n += upgrade_request(req + n, sizeof req - (size_t)n, "late", RFC_KEY, "13", "X-Hello: 1\r\n");
    cl_write(cl, req, (size_t)n);
    assert_int_equal(cl_head(cl), 200);
    th_run_until(e.rt, has_bytes, cl, 5000);
    assert_memory_equal(cl->buf, "relayed", 7);
    memmove(cl->buf, cl->buf + 7, cl->len - 7);
    cl->len -= 7;
    assert_int_equal(cl_head(cl), 101);
    expect_text(cl, "hello");
    cl_text(cl, "still here");
    expect_text(cl, "still here");
    cl_free(cl);
    th_stop(e.rt);
}

/* Thousands of messages in one burst: delivered in order (reading pauses
 * while too many wait at the actor, then resumes). */
static void burst_in_order(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    cl_t *cl = cl_open(&e, "burst", NULL);
    enum { N = 3000 };
    unsigned char *frames = malloc(N * 16), *o = frames;
    for (int i = 0; i < N; i++) {
        char msg[8];
        int n = snprintf(msg, sizeof msg, "m%d", i);
        *o++ = 0x81;
        *o++ = (unsigned char)(0x80 | n);
        memset(o, 0, 4); /* a zero mask leaves the payload as is */
        o += 4;
        memcpy(o, msg, (size_t)n);
        o += n;
    }
    cl_write(cl, frames, (size_t)(o - frames));
    free(frames);
    for (int i = 0; i < N; i++) {
        char want[8];
        snprintf(want, sizeof want, "m%d", i);
        expect_text(cl, want);
    }
    assert_int_equal(g.messages, N);
    cl_free(cl);
    th_stop(e.rt);
}

static void tags_and_filtering(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    cl_t *a = cl_open(&e, "tags", "X-Tags: red,blue\r\n");
    cl_t *b = cl_open(&e, "tags", "X-Tags: blue\r\n");
    cl_t *c = cl_open(&e, "tags", NULL);
    cl_t *other = cl_open(&e, "elsewhere", "X-Tags: blue\r\n");
    cl_text(a, "tags?");
    expect_text(a, "red,blue");
    cl_text(c, "tags?");
    expect_text(c, "");
    cl_text(a, "count:blue");
    expect_text(a, "2");
    cl_text(a, "count:red");
    expect_text(a, "1");
    cl_text(a, "count:green");
    expect_text(a, "0");
    cl_text(b, "count:");
    expect_text(b, "3");
    /* A socket that closed is no longer listed. */
    cl_free(c);
    wait_closes(&e, 1);
    cl_text(a, "count:");
    expect_text(a, "2");
    cl_free(a);
    cl_free(b);
    cl_free(other);
    th_stop(e.rt);
}

static void attachment_survives_eviction(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, 100);
    cl_t *cl = cl_open(&e, "hib", "X-Attach: user=42\r\nX-Tags: t1\r\n");
    assert_true(th_run_until(e.rt, evicted, &e, 5000));
    int inits = g.inits;
    cl_text(cl, "attach?");
    expect_text(cl, "user=42");
    assert_int_equal(g.inits, inits + 1); /* woke from hibernation: init ran */
    cl_text(cl, "tags?");
    expect_text(cl, "t1");
    cl_free(cl);
    th_stop(e.rt);
}

static void auto_response_without_waking(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, 100);
    cl_t *cl = cl_open(&e, "auto", NULL);
    assert_true(th_run_until(e.rt, evicted, &e, 5000));
    int inits = g.inits, messages = g.messages;
    int64_t before = dort__wall_ms();
    cl_text(cl, "auto-ping");
    expect_text(cl, "auto-pong");
    cl_text(cl, "auto-ping");
    expect_text(cl, "auto-pong");
    assert_int_equal(live(&e), 0);
    assert_int_equal(g.inits, inits);
    assert_int_equal(g.messages, messages);
    /* The timestamp was kept for the socket; asking wakes the actor. */
    cl_text(cl, "ts?");
    char got[64];
    assert_int_equal(cl_frame(cl, got, sizeof got, NULL), 0x1);
    long long ts = atoll(got);
    assert_true(ts >= before && ts <= dort__wall_ms());
    assert_int_equal(g.inits, inits + 1);
    cl_free(cl);
    th_stop(e.rt);
}

static void ping_answered_without_waking(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, 100);
    cl_t *cl = cl_open(&e, "ping", NULL);
    assert_true(th_run_until(e.rt, evicted, &e, 5000));
    int inits = g.inits;
    cl_frame_send(cl, 1, 0x9, "p1", 2, 1);
    char got[64];
    assert_int_equal(cl_frame(cl, got, sizeof got, NULL), 0xA);
    assert_string_equal(got, "p1");
    assert_int_equal(live(&e), 0);
    assert_int_equal(g.inits, inits);
    assert_int_equal(g.messages, 0);
    cl_free(cl);
    th_stop(e.rt);
}

static void oversize_message_closes_1009(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    cl_t *cl = cl_open(&e, "big", NULL);
    char *big = calloc(1, MAX_MSG + 1);
    cl_frame_send(cl, 1, 0x2, big, MAX_MSG, 1); /* at the limit: fine */
    char got[64];
    size_t len;
    assert_int_equal(cl_frame(cl, got, sizeof got, &len), 0x2);
    assert_int_equal(len, MAX_MSG);
    cl_frame_send(cl, 1, 0x2, big, MAX_MSG + 1, 1);
    free(big);
    assert_int_equal(expect_close(cl, NULL, 0), 1009);
    wait_closes(&e, 1);
    assert_int_equal(g.close_code, 1009);
    assert_int_equal(g.close_clean, 0);
    assert_int_equal(g.errors, 1);
    assert_int_equal(g.error, DORT_ETOOLARGE);
    assert_int_equal(g.close_state, DORT_WS_CLOSED);
    cl_free(cl);
    th_stop(e.rt);
}

/* Sends `frame` (raw bytes) and expects the runtime to close with 1002. */
static void expect_1002(env_t *e, const char *name, const void *frame, size_t len)
{
    int closes = g.closes, errors = g.errors;
    cl_t *cl = cl_open(e, name, NULL);
    cl_write(cl, frame, len);
    assert_int_equal(expect_close(cl, NULL, 0), 1002);
    wait_closes(e, closes + 1);
    assert_int_equal(g.close_code, 1002);
    assert_int_equal(g.close_clean, 0);
    assert_int_equal(g.errors, errors + 1);
    assert_int_equal(g.error, DORT_EPROTO);
    cl_free(cl);
}

static void malformed_frames_close_1002(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    /* A client frame without a mask. */
    expect_1002(&e, "m1", "\x81\x02hi", 4);
    /* A reserved opcode (0x3), masked. */
    expect_1002(&e, "m2", "\x83\x80\x01\x02\x03\x04", 6);
    /* A fragmented ping: wslay rejects it at the frame level. */
    expect_1002(&e, "m3", "\x09\x80\x01\x02\x03\x04", 6);
    /* Reserved bits without an extension. */
    expect_1002(&e, "m4", "\xC1\x80\x01\x02\x03\x04", 6);
    assert_int_equal(g.messages, 0);
    th_stop(e.rt);
}

static void client_close_reaches_handler(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    cl_t *cl = cl_open(&e, "bye", NULL);
    cl_frame_send(cl, 1, 0x8,
                  "\x0f\xa1"
                  "bye",
                  5, 1); /* 4001 */
    char reason[64];
    assert_int_equal(expect_close(cl, reason, sizeof reason), 4001);
    wait_closes(&e, 1);
    assert_int_equal(g.close_code, 4001);
    assert_string_equal(g.close_reason, "bye");
    assert_int_equal(g.close_clean, 1);
    assert_int_equal(g.errors, 0);
    /* The runtime ends the TCP connection after the handshake. */
    char tmp[8];
    assert_int_equal(cl_frame(cl, tmp, sizeof tmp, NULL), -1);
    assert_true(cl->eof);
    cl_free(cl);
    th_stop(e.rt);
}

static void server_close_handshake(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    cl_t *cl = cl_open(&e, "srv", NULL);
    cl_text(cl, "close:4000:done");
    char reason[64];
    assert_int_equal(expect_close(cl, reason, sizeof reason), 4000);
    assert_string_equal(reason, "done");
    assert_int_equal(g.send_after_close, DORT_ECLOSED);
    assert_int_equal(g.closes, 0); /* waits for the client's answer */
    cl_frame_send(cl, 1, 0x8, "\x0f\xa0", 2, 1);
    wait_closes(&e, 1);
    assert_int_equal(g.close_code, 4000);
    assert_int_equal(g.close_clean, 1);
    cl_free(cl);
    th_stop(e.rt);
}

static void dropped_connection_gives_1006(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    cl_t *cl = cl_open(&e, "drop", NULL);
    cl_free(cl);
    wait_closes(&e, 1);
    assert_int_equal(g.close_code, 1006);
    assert_int_equal(g.close_clean, 0);
    th_stop(e.rt);
}

static void failed_turn_drops_sends(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    cl_t *cl = cl_open(&e, "gate", NULL);
    cl_text(cl, "fail:secret");
    cl_text(cl, "after");
    expect_text(cl, "after");
    dort_rt_stats_t st;
    dort_rt_stats(e.rt, &st);
    assert_true(st.turns_failed >= 1);
    cl_free(cl);
    th_stop(e.rt);
}

static void accept_in_failed_turn_closes_socket(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    cl_t *cl = cl_connect(&e);
    assert_int_equal(cl_upgrade(cl, "lost", RFC_KEY, "13", "X-Fail: 1\r\n"), 500);
    wait_closes(&e, 1); /* the dropped 101 closed its socket */
    assert_int_equal(g.close_code, 1006);
    assert_int_equal(g.close_clean, 0);
    cl_free(cl);
    th_stop(e.rt);
}

static void limits_refused(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    char hdr[4096];
    /* 11 tags. */
    cl_t *cl = cl_connect(&e);
    assert_int_equal(cl_upgrade(cl, "lim", RFC_KEY, "13", "X-Tags: a,b,c,d,e,f,g,h,i,j,k\r\n"),
                     400);
    assert_int_equal(g.accept_rc, DORT_ELIMIT);
    cl_free(cl);
    /* A tag of 257 characters. */
    char tag[258];
    memset(tag, 't', 257);
    tag[257] = '\0';
    snprintf(hdr, sizeof hdr, "X-Tags: ok,%s\r\n", tag);
    cl = cl_connect(&e);
    assert_int_equal(cl_upgrade(cl, "lim", RFC_KEY, "13", hdr), 400);
    assert_int_equal(g.accept_rc, DORT_ELIMIT);
    cl_free(cl);
    /* Ten tags of 256 characters are fine. */
    size_t o = (size_t)snprintf(hdr, sizeof hdr, "X-Tags: ");
    for (int i = 0; i < 10; i++) {
        memset(hdr + o, 'a' + i, 256);
        o += 256;
        hdr[o++] = i < 9 ? ',' : '\r';
    }
    memcpy(hdr + o, "\n", 2);
    cl = cl_open(&e, "lim", hdr);
    /* Attachment 16 KiB + 1 and auto-response 2,049 bytes; the maxima pass. */
    cl_text(cl, "limits");
    expect_text(cl, "done");
    assert_int_equal(g.attach_over, DORT_ELIMIT);
    assert_int_equal(g.attach_max, 0);
    assert_int_equal(g.auto_over, DORT_ELIMIT);
    assert_int_equal(g.auto_max, 0);
    cl_free(cl);
    th_stop(e.rt);
}

static int readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 2000) > 0;
}

static void stop_closes_with_1001(void **state)
{
    (void)state;
    env_t e;
    env_start(&e, -1);
    cl_t *cl = cl_open(&e, "stop", NULL);
    th_stop(e.rt);
    /* The runtime is gone; what it sent waits in the socket. */
    while (readable(cl->fd) && !cl->eof) {
        size_t h, l;
        cl_fill(cl);
        if (frame_ready(cl, &h, &l))
            break;
    }
    size_t h, l;
    assert_true(frame_ready(cl, &h, &l));
    assert_int_equal(cl->buf[0] & 0x0f, 0x8);
    assert_int_equal(cl->buf[h] << 8 | cl->buf[h + 1], 1001);
    assert_int_equal(g.closes, 0); /* nothing reaches actors once stopping */
    cl_free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshake_known_answer),
        cmocka_unit_test(bad_handshakes_refused),
        cmocka_unit_test(echo_text_and_binary),
        cmocka_unit_test(send_in_accept_turn_follows_101),
        cmocka_unit_test(send_waits_for_late_101),
        cmocka_unit_test(burst_in_order),
        cmocka_unit_test(tags_and_filtering),
        cmocka_unit_test(attachment_survives_eviction),
        cmocka_unit_test(auto_response_without_waking),
        cmocka_unit_test(ping_answered_without_waking),
        cmocka_unit_test(oversize_message_closes_1009),
        cmocka_unit_test(malformed_frames_close_1002),
        cmocka_unit_test(client_close_reaches_handler),
        cmocka_unit_test(server_close_handshake),
        cmocka_unit_test(dropped_connection_gives_1006),
        cmocka_unit_test(failed_turn_drops_sends),
        cmocka_unit_test(accept_in_failed_turn_closes_socket),
        cmocka_unit_test(limits_refused),
        cmocka_unit_test(stop_closes_with_1001),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
