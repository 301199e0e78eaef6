/* http_write.c - writing answers in request order: the head of the queue is
 * written as soon as it is answered; later answers wait for it. Bodies are
 * written from the response's own buffer (no copy). */
#include <stdio.h>
#include <string.h>

#include "alloc_internal.h"
#include "http_internal.h"
#include "rt_internal.h"

void dort__http_conn_shutdown(dort__http_conn_t *c);

typedef struct wreq_s {
    uv_write_t req;
    dort__http_conn_t *conn;
    dort_exchange_t *ex;      /* logged and freed when written; NULL for chunks */
    dort_response_t *res;
    uint64_t bytes;
    char data[];              /* the serialized head, or a whole chunk */
} wreq_t;

const char *dort__http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    default: return "Status";
    }
}

static int no_body_status(int status)
{
    return status < 200 || status == 204 || status == 304;
}

/* Headers dort sets itself; a worker's copies are dropped. */
static int reserved_header(const char *name, size_t len)
{
    static const char *const names[] = {"content-length", "transfer-encoding", "connection",
                                        "date", "keep-alive"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i]);
        if (n != len)
            continue;
        size_t j = 0;
        while (j < n && (name[j] | 0x20) == names[i][j])
            j++;
        if (j == n)
            return 1;
    }
    return 0;
}

static size_t part_headers_size(const dort__msgpart_t *p)
{
    size_t n = 0;
    for (uint32_t i = 0; i < p->nhdrs; i++)
        n += p->hdrs[i].name_len + p->hdrs[i].value_len + 4;
    return n;
}

static char *put(char *o, const char *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

static char *put_headers(char *o, const dort__msgpart_t *p)
{
    for (uint32_t i = 0; i < p->nhdrs; i++) {
        const dort__hdr_t *h = &p->hdrs[i];
        if (reserved_header(p->text + h->name_off, h->name_len))
            continue;
        o = put(o, p->text + h->name_off, h->name_len);
        o = put(o, ": ", 2);
        o = put(o, p->text + h->value_off, h->value_len);
        o = put(o, "\r\n", 2);
    }
    return o;
}

/* Serializes the status line and headers into a new write request. */
static wreq_t *head_request(dort__http_conn_t *c, dort_exchange_t *ex, int streaming, int closing)
{
    dort_response_t *res = ex->res;
    size_t cap = 256 + part_headers_size(&res->part) + part_headers_size(&ex->extra);
    wreq_t *w = dort__malloc(sizeof *w + cap);
    if (w == NULL)
        return NULL;
    char *o = w->data;
    int status = res->status;
    o += snprintf(o, 96, "HTTP/1.1 %d %s\r\nDate: ", status, dort__http_reason(status));
    /* Refresh first: the order in which arguments are evaluated is unspecified. */
    const char *date = dort__http_date(c->srv);
    o = put(o, date, strlen(date));
    o = put(o, "\r\n", 2);
    if (streaming)
        o = put(o, "Transfer-Encoding: chunked\r\n", 28);
    else if (!no_body_status(status))
        o += snprintf(o, 48, "Content-Length: %zu\r\n", res->part.body_len);
    if (status == 101)
        o = put(o, "Connection: Upgrade\r\n", 21);
    else if (closing)
        o = put(o, "Connection: close\r\n", 19);
    else if (ex->http10)
        o = put(o, "Connection: keep-alive\r\n", 24);
    o = put_headers(o, &res->part);
    o = put_headers(o, &ex->extra);
    o = put(o, "\r\n", 2);
    w->conn = c;
    w->ex = NULL;
    w->res = NULL;
    w->bytes = (uint64_t)(o - w->data);
    return w;
}

static void record(dort_http_server_t *s, dort_exchange_t *ex, int status, uint64_t bytes)
{
    static const double bounds[13] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000};
    double ms = (double)(uv_hrtime() - ex->start_ns) / 1e6;
    int cls = status / 100;
    s->stats.requests_by_class[cls >= 1 && cls <= 5 ? cls : 0]++;
    size_t i = 0;
    while (i < 13 && ms > bounds[i])
        i++;
    s->stats.latency_hist[i]++;
    s->stats.latency_sum_ms += ms;
    s->stats.bytes_out += bytes;
    dort__exchange_log(ex, status, bytes);
}

/* The bookkeeping of a finished write, without anything that may re-enter
 * the parser (that is after_writes). */
static void written(dort__http_conn_t *c, wreq_t *w)
{
    if (w->ex != NULL) {
        record(c->srv, w->ex, w->res ? w->res->status : 0, w->ex->bytes_out + w->bytes);
        dort__exchange_free(w->ex);
    }
    if (w->res != NULL)
        dort_response_free(w->res);
    dort__free(w);
}

/* An answer left: close if that was the last before a close, else let the
 * connection read and parse again. */
static void after_writes(dort__http_conn_t *c)
{
    if (c->close_after && c->head == NULL && c->writes_pending == 0 && c->ws == NULL)
        dort__http_conn_shutdown(c);
    else
        dort__http_conn_queue_shrank(c);
}

static void on_written(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    dort__http_conn_t *c = w->conn;
    c->writes_pending--;
    written(c, w);
    if (status != 0) {
        dort__http_conn_close(c);
        return;
    }
    after_writes(c);
}

static int issue(dort__http_conn_t *c, wreq_t *w, const char *body, size_t body_len)
{
    uv_buf_t bufs[2];
    unsigned n = 1;
    bufs[0] = uv_buf_init(w->data, (unsigned)w->bytes);
    if (body_len != 0) {
        bufs[1] = uv_buf_init((char *)(uintptr_t)body, (unsigned)body_len);
        n = 2;
        w->bytes += body_len;
    }
    uv_buf_t *b = bufs;
    if (c->writes_pending == 0) {
        /* Nothing queued before it: try the socket directly. A write that
         * goes out whole needs no request, no callback and, unlike
         * uv_write, no epoll_ctl to re-arm the watcher afterwards. */
        int done = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
        if (done == (int)w->bytes) {
            if (w->ex != NULL)
                c->wrote_sync = 1;
            written(c, w);
            return 0;
        }
        /* A hard error (reset, EPIPE) goes the way it went before this fast
         * path: uv_write below fails too and its callback closes the
         * connection, outside whatever producer is writing now. Returning
         * it here leaves the connection open with nobody to close it
         * (dort__http_write_chunk only tells the stream). */
        if (done < 0)
            done = 0;
        for (size_t left = done > 0 ? (size_t)done : 0; left > 0;) {
            size_t k = left < b->len ? left : b->len;
            b->base += k;
            b->len -= (unsigned)k;
            left -= k;
            if (b->len == 0) {
                b++;
                n--;
            }
        }
    }
    c->writes_pending++;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, b, n, on_written);
    if (rc != 0) {
        c->writes_pending--;
        return rc;
    }
    return 0;
}

static void pop_head(dort__http_conn_t *c)
{
    dort_exchange_t *ex = c->head;
    c->head = ex->next;
    if (c->head == NULL)
        c->tail = NULL;
    ex->next = NULL;
    c->queued--;
}

/* Writes one answered exchange at the head. Returns 1 to go on with the
 * next one, 0 to stop (streaming, upgrade, closing or failure). */
static int write_one(dort__http_conn_t *c, dort_exchange_t *ex)
{
    dort_response_t *res = ex->res;
    /* A HEAD answer carrying a stream gets the stream's head, then the
     * stream is dropped (its producer sees the client gone). */
    int streaming = res->stream != NULL && !ex->head;
    int upgraded = ex->upgrade && res->status == 101 && res->ws != NULL;
    /* A connection marked to close (an error answer queued behind this one,
     * or draining at stop) closes after its last answer, not this one. */
    int closing = !ex->keep_alive || (ex->upgrade && !upgraded) ||
                  (c->close_after && ex->next == NULL);
    if (closing)
        c->close_after = 1;
    wreq_t *w = head_request(c, ex, res->stream != NULL, closing && !upgraded);
    if (w == NULL) {
        dort__http_conn_close(c);
        return 0;
    }
    if (streaming) {
        ex->state = DORT__EX_STREAMING;
        ex->bytes_out = w->bytes;
        if (issue(c, w, NULL, 0) != 0) {
            dort__free(w);
            dort__http_conn_close(c);
            return 0;
        }
        dort__stream_attach(res, ex);
        return 0;
    }
    pop_head(c);
    ex->state = DORT__EX_WRITTEN;
    ex->res = NULL;
    w->res = res;
    int head_only = ex->head || no_body_status(res->status);
    if (upgraded && res->ws != NULL) {
        /* The socket layer takes the connection; the exchange ends here. */
        w->ex = NULL;
        w->res = NULL;
        record(c->srv, ex, 101, w->bytes);
        dort__exchange_free(ex);
        if (issue(c, w, NULL, 0) != 0) {
            dort__free(w);
            dort_response_free(res);
            dort__http_conn_close(c);
            return 0;
        }
        char *left = c->pending;
        size_t left_len = c->pending_len;
        c->pending = NULL;
        c->pending_len = 0;
        dort__ws_take_over(c, res, left, left_len);
        dort__free(left);
        return 0;
    }
    w->ex = ex;
    if (issue(c, w, head_only ? NULL : res->part.body, head_only ? 0 : res->part.body_len) != 0) {
        dort_response_free(res);
        dort__exchange_free(ex);
        dort__free(w);
        dort__http_conn_close(c);
        return 0;
    }
    return !closing;
}

void dort__http_flush(dort__http_conn_t *c)
{
    while (!c->closing && c->head != NULL && c->head->state == DORT__EX_ANSWERED) {
        if (!write_one(c, c->head))
            break;
    }
    if (c->wrote_sync && !c->closing) {
        c->wrote_sync = 0;
        after_writes(c);
    }
}

int dort__http_write_chunk(dort_exchange_t *ex, const void *data, size_t len)
{
    dort__http_conn_t *c = ex->conn;
    if (c == NULL || c->closing)
        return DORT_ECLOSED;
    if (len == 0)
        return 0; /* an empty chunk would end the body */
    wreq_t *w = dort__malloc(sizeof *w + len + 24);
    if (w == NULL)
        return DORT_ENOMEM;
    int n = snprintf(w->data, 24, "%zx\r\n", len);
    memcpy(w->data + n, data, len);
    memcpy(w->data + n + len, "\r\n", 2);
    w->conn = c;
    w->ex = NULL;
    w->res = NULL;
    w->bytes = (uint64_t)n + len + 2;
    ex->bytes_out += w->bytes;
    if (issue(c, w, NULL, 0) != 0) {
        dort__free(w);
        return DORT_ECLOSED;
    }
    return 0;
}

void dort__http_end_stream(dort_exchange_t *ex)
{
    dort__http_conn_t *c = ex->conn;
    if (c == NULL || c->closing)
        return;
    wreq_t *w = dort__malloc(sizeof *w + 8);
    if (w == NULL) {
        dort__http_conn_close(c);
        return;
    }
    memcpy(w->data, "0\r\n\r\n", 5);
    w->conn = c;
    w->bytes = 5;
    w->res = ex->res;
    ex->res = NULL;
    w->ex = ex;
    pop_head(c);
    ex->state = DORT__EX_WRITTEN;
    if (issue(c, w, NULL, 0) != 0) {
        dort__free(w);
        dort__http_conn_close(c);
        return;
    }
    dort__http_flush(c);
}

int dort__http_error_response(dort_response_t **out, int status, const char *code,
                              const char *message)
{
    char body[768];
    char msg[512];
    /* Messages come from dort or llhttp: escape what JSON needs anyway. */
    size_t o = 0;
    for (const char *p = message; *p && o + 7 < sizeof msg; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') {
            msg[o++] = '\\';
            msg[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(msg + o, 7, "\\u%04x", ch);
        } else {
            msg[o++] = (char)ch;
        }
    }
    msg[o] = '\0';
    int n = snprintf(body, sizeof body, "{\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
                     code, msg);
    return dort_response_new_body(out, status, "application/json", body, (size_t)n);
}
