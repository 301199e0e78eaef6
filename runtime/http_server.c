/* http_server.c - listening, accepting, the connection limit, and draining
 * at stop. */
#include <string.h>
#include <time.h>

#include "alloc_internal.h"
#include "http_internal.h"
#include "rt_internal.h"

void dort_http_options_init(dort_http_options_t *o)
{
    memset(o, 0, sizeof *o);
    o->ip = "127.0.0.1";
    o->port = 8787;
    o->max_header_bytes = 32768;
    o->max_body_bytes = 1 << 20;
    o->request_timeout_ms = 30000;
    o->keepalive_timeout_ms = 60000;
    o->max_connections = 10000;
    o->max_pipeline = 64;
    o->ws_max_message_bytes = (size_t)32 << 20;
}

const char *dort__http_date(dort_http_server_t *s)
{
    time_t now = time(NULL);
    if ((int64_t)now != s->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_sec = (int64_t)now;
    }
    return s->date;
}

/* Beyond the limit a connection is accepted only to be told 503 and closed:
 * refusing in the kernel backlog would leave the client hanging instead. */
static void refuse(dort_http_server_t *s)
{
    dort__http_conn_t *c = dort__calloc(1, sizeof *c);
    if (c == NULL)
        return;
    c->srv = s;
    uv_tcp_init(s->listener.loop, &c->tcp);
    s->stats.connections_refused++;
    dort__http_conn_start(s, &s->listener, c);
    dort__http_conn_fail(c, 503, "too_many_connections",
                         "the server is at its connection limit; retry later");
}

static void on_connection(uv_stream_t *l, int status)
{
    dort_http_server_t *s = l->data;
    if (status != 0 || s->closing)
        return;
    if (s->stats.connections_open >= s->opts.max_connections) {
        refuse(s);
        return;
    }
    dort__http_conn_t *c = dort__calloc(1, sizeof *c);
    if (c == NULL)
        return;
    c->srv = s;
    uv_tcp_init(l->loop, &c->tcp);
    dort__http_conn_start(s, &s->listener, c);
}

void dort__http_server_unlink_conn(dort_http_server_t *s, dort__http_conn_t *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (s->conns == c)
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

int dort_http_listen(dort_rt_t *rt, const dort_http_options_t *o, dort_worker_t *worker,
                     dort_http_server_t **out)
{
    if (rt == NULL || o == NULL || worker == NULL || o->ip == NULL || o->port < 0 ||
        o->port > 65535 || o->max_connections == 0 || o->max_pipeline == 0 ||
        o->max_header_bytes < 256 || dort_worker_class(worker)->fetch == NULL)
        return DORT_EINVAL;
    if (rt->state != DORT__RT_RUNNING)
        return DORT_ESTATE;
    dort_http_server_t *s = dort__calloc(1, sizeof *s);
    if (s == NULL || (s->ip = dort__strdup(o->ip)) == NULL) {
        dort__free(s);
        return DORT_ENOMEM;
    }
    s->rt = rt;
    s->opts = *o;
    s->opts.ip = s->ip;
    s->worker = worker;
    struct sockaddr_storage addr;
    int rc = strchr(o->ip, ':') ? uv_ip6_addr(o->ip, o->port, (struct sockaddr_in6 *)&addr)
                                : uv_ip4_addr(o->ip, o->port, (struct sockaddr_in *)&addr);
    uv_tcp_init(rt->loop, &s->listener);
    s->listener.data = s;
    if (rc == 0)
        rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (rc != 0) {
        DORT_LOG(&rt->log, DORT_LOG_ERROR, "cannot listen on %s:%d: %s", o->ip, o->port,
                 uv_strerror(rc));
        s->closed = 1;
        uv_close((uv_handle_t *)&s->listener, NULL);
        s->next = rt->http_servers; /* freed with the runtime, after the close */
        rt->http_servers = s;
        return DORT_ESYS;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    s->listening = 1;
    s->next = rt->http_servers;
    rt->http_servers = s;
    if (out != NULL)
        *out = s;
    return 0;
}

int dort_http_server_port(const dort_http_server_t *s)
{
    return s->port;
}

static void on_listener_closed(uv_handle_t *h)
{
    dort_http_server_t *s = h->data;
    s->listening = 0;
    s->listener_closing = 0;
    if (s->rt->state == DORT__RT_FINISHING)
        dort__rt_handle_closed(s->rt);
}

void dort__http_servers_drain(dort_rt_t *rt)
{
    for (dort_http_server_t *s = rt->http_servers; s != NULL; s = s->next) {
        if (s->closing)
            continue;
        s->closing = 1;
        if (s->listening && !s->listener_closing) {
            s->listener_closing = 1;
            uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        }
        /* Idle keep-alive connections have nothing to finish. */
        dort__http_conn_t *c = s->conns;
        while (c != NULL) {
            dort__http_conn_t *next = c->next;
            if (c->head == NULL && !c->in_message && c->ws == NULL)
                dort__http_conn_close(c);
            else
                c->close_after = 1;
            c = next;
        }
    }
}

/* 1 when no server has a request in flight (streams and sockets aside,
 * which stop only by closing). */
int dort__http_servers_idle(dort_rt_t *rt)
{
    for (dort_http_server_t *s = rt->http_servers; s != NULL; s = s->next)
        for (dort__http_conn_t *c = s->conns; c != NULL; c = c->next)
            if ((c->head != NULL && c->head->state != DORT__EX_STREAMING && c->ws == NULL) ||
                (c->ws != NULL && !dort__ws_conn_flushed(c->ws)))
                return 0;
    return 1;
}

int dort__http_servers_close_all(dort_rt_t *rt)
{
    int pending = 0;
    for (dort_http_server_t *s = rt->http_servers; s != NULL; s = s->next) {
        if (s->listening && !s->listener_closing) {
            s->listener_closing = 1;
            uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        }
        pending += s->listener_closing;
        for (dort__http_conn_t *c = s->conns; c != NULL; c = c->next)
            pending++;
        dort__http_conn_t *c = s->conns;
        while (c != NULL) {
            dort__http_conn_t *next = c->next;
            dort__http_conn_close(c);
            c = next;
        }
    }
    return pending;
}

void dort__http_servers_free(dort_rt_t *rt)
{
    dort_http_server_t *s = rt->http_servers;
    while (s != NULL) {
        dort_http_server_t *next = s->next;
        dort__free(s->ip);
        dort__free(s);
        s = next;
    }
    rt->http_servers = NULL;
}
