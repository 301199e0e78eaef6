/* ws_echo.c - the WebSocket actor of the integration tests (class "WsEcho",
 * bound as "WS"; the test app forwards GET /ws/:name to actor :name).
 *
 * An upgrade request is accepted with the tags of its query
 * (`?tag=a&tag=b`), and the socket gets an attachment
 * {"name":"NAME","join":N} (N counts the sockets this actor accepted, kept
 * in storage). A refused handshake is answered 426 with
 * Sec-WebSocket-Version: 13 (no upgrade, or another version) or 400.
 *
 * Messages are echoed (text as text, binary as binary) except these text
 * commands, answered on the same socket:
 *   attachment        the socket's attachment ("(none)" without one)
 *   attach:X          sets the attachment to X; "ok"
 *   tags              the socket's tags, comma-separated
 *   count             how many sockets the actor has; count:TAG with TAG
 *   broadcast:X       sends X to every socket of the actor (this one too)
 *   inits             how many times init ran for this actor (in storage)
 *   last              the last close and error events the actor saw
 *                     ("close CODE CLEAN REASON;error NAME", in storage)
 *   close:CODE:REASON the actor closes the socket (dort_ws_close)
 * init sets the auto-response "ping" -> "pong". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testapp.h"

#define MAX_QUERY_TAGS 16
#define TAG_BUF 4096

typedef struct echo_s {
    long inits; /* the stored counter after this activation's init */
} echo_t;

/* ---- small helpers ---- */

static long stored_long(dort_actor_t *self, const char *key)
{
    dort_slice_t v;
    char buf[24] = {0};
    if (dort_storage_get(self, key, strlen(key), &v) != 0)
        return 0;
    memcpy(buf, v.ptr, v.len < sizeof buf - 1 ? v.len : sizeof buf - 1);
    return strtol(buf, NULL, 10);
}

static int store_long(dort_actor_t *self, const char *key, long n)
{
    char buf[24];
    int len = snprintf(buf, sizeof buf, "%ld", n);
    return dort_storage_put(self, key, strlen(key), buf, (size_t)len);
}

static int send_str(dort_ws_t *ws, const char *s)
{
    return dort_ws_send(ws, s, strlen(s), 0);
}

static int starts(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

static int is(const char *s, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(s, word, len) == 0;
}

/* ---- the handshake ---- */

/* Collects every `tag=` value of the query of `path`, percent-decoded, into
 * `buf`. Returns the number of tags, or -1 on a malformed or too long one. */
static long query_tags(dort_slice_t path, char *buf, size_t cap, const char **tags, size_t max)
{
    const char *q = memchr(path.ptr, '?', path.len);
    const char *end = path.ptr + path.len;
    size_t n = 0, used = 0;
    for (const char *p = q ? q + 1 : end; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if (pe - p >= 4 && memcmp(p, "tag=", 4) == 0) {
            if (n == max)
                return -1;
            long len = dort_url_decode((dort_slice_t){p + 4, (size_t)(pe - p - 4)}, buf + used,
                                       cap - used);
            if (len < 0)
                return -1;
            tags[n++] = buf + used;
            used += (size_t)len + 1;
        }
        p = pe + 1;
    }
    return (long)n;
}

/* The actor's name: the last path segment before the query. */
static dort_slice_t path_name(dort_slice_t path)
{
    const char *q = memchr(path.ptr, '?', path.len);
    size_t end = q ? (size_t)(q - path.ptr) : path.len, start = end;
    while (start > 0 && path.ptr[start - 1] != '/')
        start--;
    return (dort_slice_t){path.ptr + start, end - start};
}

/* 426 when the client asked for no upgrade or another version, else 400. */
static int refuse(dort_call_t *call, int rc)
{
    const dort_request_t *req = dort_call_request(call);
    dort_slice_t v;
    int no_upgrade = dort_request_header(req, "upgrade", &v) != 0;
    int other_version = dort_request_header(req, "sec-websocket-version", &v) == 0 &&
                        !(v.len == 2 && memcmp(v.ptr, "13", 2) == 0);
    int want_426 = rc == DORT_EPROTO && (no_upgrade || other_version);
    const char *msg = dort_err_name(rc);
    dort_response_t *res;
    int err = dort_response_new_body(&res, want_426 ? 426 : 400, "text/plain", msg, strlen(msg));
    if (err != 0)
        return err;
    if (want_426)
        dort_response_add_header(res, "Sec-WebSocket-Version", 21, "13", 2);
    return dort_call_respond(call, res);
}

static int echo_fetch(dort_actor_t *self, dort_call_t *call)
{
    dort_slice_t path = dort_request_path(dort_call_request(call));
    char buf[TAG_BUF];
    const char *tags[MAX_QUERY_TAGS];
    long ntags = query_tags(path, buf, sizeof buf, tags, MAX_QUERY_TAGS);
    if (ntags < 0)
        return dort_call_respond_body(call, 400, "text/plain", "bad tags", 8);
    dort_ws_t *ws;
    int rc = dort_ws_accept(self, call, tags, (size_t)ntags, &ws);
    if (rc != 0)
        return refuse(call, rc);
    long join = stored_long(self, "joins") + 1;
    if ((rc = store_long(self, "joins", join)) != 0)
        return rc;
    dort_slice_t name = path_name(path);
    char att[512];
    int n = snprintf(att, sizeof att, "{\"name\":\"%.*s\",\"join\":%ld}",
                     (int)(name.len < 256 ? name.len : 256), name.ptr, join);
    return dort_ws_set_attachment(ws, att, (size_t)n);
}

/* ---- messages ---- */

typedef struct walk_s {
    int count;
    const char *data;
    size_t len;
} walk_t;

static int count_cb(void *data, dort_ws_t *ws)
{
    (void)ws;
    ((walk_t *)data)->count++;
    return 0;
}

static int broadcast_cb(void *data, dort_ws_t *ws)
{
    walk_t *w = data;
    if (dort_ws_send(ws, w->data, w->len, 0) == 0)
        w->count++;
    return 0;
}

static int reply_count(dort_actor_t *self, dort_ws_t *ws, const char *s, size_t len)
{
    char tag[DORT_WS_MAX_TAG_LEN + 1], out[32];
    walk_t w = {0};
    int with_tag = len > 5; /* "count:TAG" */
    if (with_tag)
        snprintf(tag, sizeof tag, "%.*s", (int)(len - 6), s + 6);
    int rc = dort_actor_websockets(self, with_tag ? tag : NULL, count_cb, &w);
    if (rc != 0)
        return rc;
    snprintf(out, sizeof out, "%d", w.count);
    return send_str(ws, out);
}

static int reply_tags(dort_ws_t *ws)
{
    const char *const *tags;
    size_t n = dort_ws_tags(ws, &tags), o = 0;
    char out[DORT_WS_MAX_TAGS * (DORT_WS_MAX_TAG_LEN + 1) + 1];
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%s", i ? "," : "", tags[i]);
    return send_str(ws, out);
}

static int do_close(dort_ws_t *ws, const char *s, size_t len)
{
    char arg[256];
    snprintf(arg, sizeof arg, "%.*s", (int)(len - 6), s + 6); /* after "close:" */
    char *reason = strchr(arg, ':');
    if (reason != NULL)
        *reason++ = '\0';
    int rc = dort_ws_close(ws, atoi(arg), reason);
    if (rc != 0) {
        char out[64];
        snprintf(out, sizeof out, "close failed: %s", dort_err_name(rc));
        return send_str(ws, out);
    }
    return 0;
}

static int reply_last(dort_actor_t *self, dort_ws_t *ws)
{
    dort_slice_t c = {NULL, 0}, e = {NULL, 0};
    dort_storage_get(self, "last_close", 10, &c);
    dort_storage_get(self, "last_error", 10, &e);
    char out[512];
    snprintf(out, sizeof out, "%.*s;%.*s", (int)c.len, c.ptr ? c.ptr : "", (int)e.len,
             e.ptr ? e.ptr : "");
    return send_str(ws, out);
}

static int echo_message(dort_actor_t *self, dort_ws_t *ws, const void *data, size_t len, int binary)
{
    const char *s = data;
    echo_t *st = dort_actor_state(self);
    char out[64];
    if (binary)
        return dort_ws_send(ws, data, len, 1);
    if (is(s, len, "attachment")) {
        dort_slice_t a = dort_ws_attachment(ws);
        return a.len ? dort_ws_send(ws, a.ptr, a.len, 0) : send_str(ws, "(none)");
    }
    if (starts(s, len, "attach:")) {
        int rc = dort_ws_set_attachment(ws, s + 7, len - 7);
        return send_str(ws, rc == 0 ? "ok" : dort_err_name(rc));
    }
    if (is(s, len, "tags"))
        return reply_tags(ws);
    if (is(s, len, "count") || starts(s, len, "count:"))
        return reply_count(self, ws, s, len);
    if (starts(s, len, "broadcast:")) {
        walk_t w = {0, s + 10, len - 10};
        return dort_actor_websockets(self, NULL, broadcast_cb, &w);
    }
    if (is(s, len, "inits")) {
        snprintf(out, sizeof out, "%ld", st->inits);
        return send_str(ws, out);
    }
    if (is(s, len, "last"))
        return reply_last(self, ws);
    if (starts(s, len, "close:"))
        return do_close(ws, s, len);
    return dort_ws_send(ws, data, len, 0);
}

/* ---- the end of a socket, and init ---- */

static int echo_close(dort_actor_t *self, dort_ws_t *ws, int code, const char *reason,
                      size_t reason_len, int was_clean)
{
    (void)ws;
    char out[256];
    int n = snprintf(out, sizeof out, "close %d %d %.*s", code, was_clean,
                     (int)(reason_len < 128 ? reason_len : 128), reason);
    return dort_storage_put(self, "last_close", 10, out, (size_t)n);
}

static int echo_error(dort_actor_t *self, dort_ws_t *ws, int err)
{
    (void)ws;
    char out[64];
    int n = snprintf(out, sizeof out, "error %s", dort_err_name(err));
    return dort_storage_put(self, "last_error", 10, out, (size_t)n);
}

static int echo_init(dort_actor_t *self)
{
    echo_t *st = dort_actor_state(self);
    st->inits = stored_long(self, "inits") + 1;
    int rc = store_long(self, "inits", st->inits);
    if (rc == 0)
        rc = dort_actor_set_ws_auto_response(self, "ping", "pong");
    return rc;
}

const dort_class_t ws_echo_class = {
    .name = "WsEcho",
    .state_size = sizeof(echo_t),
    .init = echo_init,
    .fetch = echo_fetch,
    .websocket_message = echo_message,
    .websocket_close = echo_close,
    .websocket_error = echo_error,
};
