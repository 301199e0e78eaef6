/* dort/http.h - the HTTP/1.1 server (llhttp on libuv TCP) that hands
 * requests to a worker's fetch handler.
 *
 * Keep-alive and pipelining (answers strictly in request order), chunked
 * request bodies, Expect: 100-continue, HEAD, streaming responses, WebSocket
 * upgrades. Every limit has its status: request line + headers too large
 * 431, body too large 413 (from Content-Length before reading, or while
 * reading a chunked body), not received in time 408 and close, malformed 400
 * and close; connections beyond the limit get 503 and are closed without
 * disturbing the others. Errors are JSON:
 * {"ok":false,"error":{"code":"...","message":"..."}}.
 *
 * A program that serves HTTP must ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)),
 * as libuv asks: a client that resets its connection turns the next write
 * into EPIPE, and the default action of SIGPIPE ends the process. dort does
 * not change the process's signal dispositions itself.
 */
#ifndef DORT_HTTP_H
#define DORT_HTTP_H

#include <dort/common.h>
#include <dort/worker.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dort_http_server_s dort_http_server_t;

/* One finished request, for access logs. Strings are borrowed for the call. */
typedef struct dort_http_log_entry_s {
    dort_slice_t method;
    dort_slice_t path;
    int status;
    double duration_ms;
    const char *peer;
    uint64_t bytes_out;
} dort_http_log_entry_t;

typedef void (*dort_http_log_fn)(void *data, const dort_http_log_entry_t *e);

typedef struct dort_http_options_s {
    const char *ip;                  /* default "127.0.0.1" */
    int port;                        /* default 8787; 0 picks a free port */
    size_t max_header_bytes;         /* request line + headers; default 32768 */
    size_t max_body_bytes;           /* default 1 MiB */
    int64_t request_timeout_ms;      /* headers and body must arrive within; default 30000 */
    int64_t keepalive_timeout_ms;    /* idle keep-alive connections close after; default 60000 */
    uint32_t max_connections;        /* default 10000 */
    uint32_t max_pipeline;           /* requests queued per connection before reading pauses; 64 */
    size_t ws_max_message_bytes;     /* default 32 MiB, as Cloudflare */
    int metrics;                     /* 1: serve GET /__dort/metrics */
    dort_http_log_fn log_fn;         /* one call per finished request; NULL: none */
    void *log_data;
} dort_http_options_t;

DORT_EXTERN void dort_http_options_init(dort_http_options_t *o);

/* Listens on ip:port and serves `worker` (its fetch handler must be set).
 * Call after dort_rt_start. The server belongs to the runtime: dort_rt_stop
 * first stops accepting, lets in-flight requests finish within the stop
 * timeout, then closes every connection. Returns 0, DORT_EINVAL,
 * DORT_ESTATE (runtime not running) or DORT_ESYS (cannot bind; the log says
 * why). */
DORT_EXTERN int dort_http_listen(dort_rt_t *rt, const dort_http_options_t *o,
                                 dort_worker_t *worker, dort_http_server_t **out);

/* The port actually bound (useful with port 0). */
DORT_EXTERN int dort_http_server_port(const dort_http_server_t *s);

#ifdef __cplusplus
}
#endif
#endif
