/* http_internal.h - the HTTP server's internal types.
 *
 * Follow a request: http_server.c accepts the connection -> http_conn.c
 * parses with llhttp (limits, timeouts) and makes an exchange per request ->
 * the worker answers it (exchange.c) -> http_write.c writes answers strictly
 * in request order -> the connection is kept alive, or closed.
 */
#ifndef DORT_HTTP_INTERNAL_H
#define DORT_HTTP_INTERNAL_H

#include <llhttp.h>
#include <uv.h>

#include <dort/http.h>
#include <dort/worker.h>

#include "message_internal.h"

typedef struct dort__http_conn_s dort__http_conn_t;
typedef struct dort__ws_conn_s dort__ws_conn_t;

/* Counters for /__dort/metrics. */
typedef struct dort__http_stats_s {
    uint64_t requests_by_class[6]; /* 1xx..5xx, [0] other */
    uint64_t latency_hist[14];     /* <=0.1,0.25,0.5,1,2.5,5,10,25,50,100,250,500,1000 ms, more */
    double latency_sum_ms;
    uint64_t connections_total;
    uint64_t connections_refused;
    uint32_t connections_open;
    uint32_t websockets_open;
    uint64_t bytes_in, bytes_out;
} dort__http_stats_t;

struct dort_http_server_s {
    dort_rt_t *rt;
    dort_http_options_t opts;
    char *ip;
    uv_tcp_t listener;
    int listening;
    int listener_closing;
    int port;
    dort_worker_t *worker;
    dort__http_conn_t *conns; /* doubly linked */
    dort__http_stats_t stats;
    struct dort_http_server_s *next; /* the runtime's list */
    int closing;
    int closed;               /* listener closed and every connection gone */
    /* The Date header, formatted once per second. */
    char date[40];
    int64_t date_sec;
    /* One read buffer for all connections: reads are handled to the end
     * (everything kept is copied) before the next read can happen. */
    char readbuf[65536];
    int readbuf_busy;
};

typedef enum {
    DORT__EX_PENDING = 0,  /* with the worker */
    DORT__EX_ANSWERED = 1, /* answer ready, waiting for its turn to be written */
    DORT__EX_STREAMING = 2,/* head written, chunks flowing */
    DORT__EX_WRITTEN = 3,  /* last write issued */
} dort__ex_state_t;

struct dort_exchange_s {
    dort_http_server_t *srv;
    dort__http_conn_t *conn;  /* NULL once the client went away */
    dort_exchange_t *next;    /* the connection's queue, in request order */
    dort_request_t *req;      /* NULL after forwarding */
    dort_response_t *res;
    dort__msgpart_t extra;    /* response headers added by the worker */
    uint64_t start_ns;
    uint64_t bytes_out;       /* a stream's head and chunks written so far */
    uint8_t state;
    uint8_t head;             /* HEAD: headers only */
    uint8_t keep_alive;
    uint8_t http10;           /* an HTTP/1.0 request: keep-alive must be said */
    uint8_t upgrade;          /* a WebSocket upgrade request */
    uint8_t dispatched;       /* handed to the worker */
    uint8_t answering;        /* forwarded: the actor's answer will come */
    int *taken;               /* see dort__exchange_dispatch */
    char method[16];
    char *path;               /* copy for the access log and metrics */
    size_t path_len;
};

struct dort__http_conn_s {
    uv_tcp_t tcp;
    uv_timer_t timer;
    dort_http_server_t *srv;
    dort__http_conn_t *prev, *next;
    llhttp_t parser;
    /* The request being parsed. */
    dort_request_t *cur;
    char *tok;                /* url / header field / header value being assembled */
    size_t tok_len, tok_cap;
    size_t name_off, name_len;/* the header name inside tok while its value arrives */
    size_t header_bytes;      /* request line + headers so far (431) */
    char *body;
    size_t body_len, body_cap;
    uint8_t in_message;
    uint8_t expect_continue;
    uint8_t continue_due;     /* 100 Continue owed once the answers before it left */
    uint8_t is_upgrade;
    /* Answers in request order. */
    dort_exchange_t *head, *tail;
    uint32_t queued;
    /* Unparsed bytes kept while parsing is paused (pipeline full). */
    char *pending;
    size_t pending_len;
    uint8_t paused;
    uint8_t reading;
    uint8_t closing;          /* uv_close issued */
    uint8_t close_after;      /* close once the queue is written */
    uint8_t lingering;        /* shut down, draining the client's leftovers */
    uint8_t in_execute;
    uint8_t wrote_sync;       /* an answer went out in uv_try_write: see flush */
    uint32_t writes_pending;
    char peer[48];
    dort__ws_conn_t *ws;      /* set after a WebSocket upgrade */
};

/* http_server.c */
void dort__http_server_unlink_conn(dort_http_server_t *s, dort__http_conn_t *c);
const char *dort__http_date(dort_http_server_t *s);
/* Stops accepting and lets connections drain; *done when all are closed. */
void dort__http_servers_drain(dort_rt_t *rt);
int dort__http_servers_idle(dort_rt_t *rt);
/* Closes every connection and listener; returns how many of them will call
 * dort__rt_handle_closed when their close completes. */
int dort__http_servers_close_all(dort_rt_t *rt);
void dort__rt_handle_closed(dort_rt_t *rt);
void dort__http_servers_free(dort_rt_t *rt);

/* http_conn.c */
void dort__http_conn_start(dort_http_server_t *s, uv_tcp_t *accepted_into, dort__http_conn_t *c);
void dort__http_conn_close(dort__http_conn_t *c);
/* The queue moved (an answer was written): resume parsing if it was paused. */
void dort__http_conn_queue_shrank(dort__http_conn_t *c);
/* Answers an error directly (outside the worker) and closes after it. */
void dort__http_conn_fail(dort__http_conn_t *c, int status, const char *code, const char *msg);

/* http_write.c */
/* Writes every answer at the head of the queue that is ready. */
void dort__http_flush(dort__http_conn_t *c);
/* Writes a chunk of a streaming answer (the exchange is at the head). */
int dort__http_write_chunk(dort_exchange_t *ex, const void *data, size_t len);
void dort__http_end_stream(dort_exchange_t *ex);
const char *dort__http_reason(int status);
/* dort's JSON error response. */
int dort__http_error_response(dort_response_t **out, int status, const char *code,
                              const char *message);

/* exchange.c */
dort_exchange_t *dort__exchange_new(dort__http_conn_t *c, dort_request_t *req);
void dort__exchange_free(dort_exchange_t *ex);
void dort__exchange_dispatch(dort_exchange_t *ex);
/* The client is gone: orphan what the worker still holds, free the rest. */
void dort__exchange_orphan_all(dort__http_conn_t *c);
void dort__exchange_log(dort_exchange_t *ex, int status, uint64_t bytes_out);

/* stream.c */
/* Ties a stream to its runtime and, inside a turn, to that actor (which
 * then stays resident until the stream ends). Called when the response
 * carrying it is answered. */
void dort__stream_bind(dort_rt_t *rt, dort_stream_t *s);
/* The answer carrying `res`'s stream reached the head of its connection. */
void dort__stream_attach(dort_response_t *res, dort_exchange_t *ex);
/* The exchange of a stream is gone (client left or connection closed). */
void dort__stream_detach(dort_response_t *res);
void dort__stream_response_free(dort_response_t *res);

/* metrics.c */
int dort__metrics_response(dort_http_server_t *s, dort_response_t **out);

/* ws_conn.c: a 101 answer `res` (res->ws set) was written on `c`; the
 * connection becomes that socket. `leftover` holds bytes the client sent
 * after its upgrade request (already frames). Returns 0, or an error after
 * closing the connection. */
int dort__ws_take_over(dort__http_conn_t *c, dort_response_t *res, const char *leftover,
                       size_t len);
/* Bytes read on a connection taken over by a socket / its end. */
void dort__ws_on_read(dort__http_conn_t *c, const char *data, size_t len);
void dort__ws_on_eof(dort__http_conn_t *c);
/* 1 when nothing the socket queued waits to be written (stop waits for it,
 * until its deadline, so the close frame 1001 is not cut off). */
int dort__ws_conn_flushed(const dort__ws_conn_t *wc);
/* A 101 answer that never reached its client (dropped): close its socket. */
void dort__ws_response_free(dort_response_t *res);

#endif
