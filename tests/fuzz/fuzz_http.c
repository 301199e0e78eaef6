/* fuzz_http.c - libFuzzer target for the HTTP server's request path.
 *
 * LLVMFuzzerInitialize starts one runtime (memory durability) with a small
 * worker on the router (health, echo, streams, answers that come later, a
 * failing handler) and one actor class (storage, streams, a failing
 * handler), and a server on 127.0.0.1 port 0 with small limits so that
 * every limit is reachable (header 1 KiB, body 4 KiB, request timeout
 * 40 ms, pipeline 4).
 *
 * Each input is sent over a real loopback socket. Its first byte chooses
 * how: bits 0-1 the split (one write; pieces whose sizes come from the
 * next bytes; single bytes; pieces ending at each '\n'), bit 2 a half-close
 * after the last byte, bit 3 a reset instead of waiting, bit 4 waiting
 * until the server closes (timeouts, up to 150 ms) rather than until it is
 * idle, bit 5 reading nothing until everything was sent. Between writes the
 * loop runs, so the server parses every piece on its own. Then the loop runs
 * until the server closed the connection, or has nothing left to answer.
 *
 * Checks beyond ASan/UBSan/LSan: whatever the server sends starts with
 * "HTTP/1.1 "; for inputs without "HEAD" (whose answers have no body to
 * frame by), the bytes received are a sequence of well-framed responses
 * (status line, headers, then a Content-Length or chunked body, none for
 * 1xx/204/304, or everything up to the close); and after each input every
 * connection is gone, so nothing is left behind.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined ... fuzz_http.c (meson
 * option fuzz). With -DDORT_FUZZ_REPLAY it is a plain program instead: it
 * replays each file named on the command line, or every file in a directory
 * argument, so the committed corpus runs as a regression test without
 * libFuzzer. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dort/dort.h>

#include "http_internal.h"
#include "rt_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RECV_CAP (1 << 20)

static dort_rt_t *rt;
static dort_http_server_t *srv;
static uv_loop_t *loop;
static uv_timer_t tick; /* keeps UV_RUN_ONCE from sleeping long */
static char *rbuf;      /* what the server sent for the current input */
static size_t rlen;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_http: %s\n", what);
    abort();
}

/* ---- the actor ---- */

static int actor_fetch(dort_actor_t *self, dort_call_t *call)
{
    const dort_request_t *req = dort_call_request(call);
    dort_slice_t m = dort_request_method(req), p = dort_request_path(req);
    dort_slice_t body = dort_request_body(req);
    if (p.len >= 5 && memcmp(p.ptr + p.len - 5, "/fail", 5) == 0)
        return -1;
    if (p.len >= 7 && memcmp(p.ptr + p.len - 7, "/stream", 7) == 0) {
        dort_response_t *res;
        dort_stream_t *s;
        int rc = dort_response_new_stream(&res, 200, &s);
        if (rc != 0)
            return rc;
        dort_stream_write(s, "data: a\n\n", 9);
        dort_stream_write(s, "data: b\n\n", 9);
        dort_stream_end(s);
        return dort_call_respond(call, res);
    }
    if (m.len == 4 && memcmp(m.ptr, "POST", 4) == 0) {
        int rc = dort_storage_put(self, "k", 1, body.ptr, body.len);
        if (rc != 0)
            return rc;
        return dort_call_respond_body(call, 201, "text/plain", body.ptr, body.len);
    }
    dort_slice_t v;
    int rc = dort_storage_get(self, "k", 1, &v);
    if (rc == DORT_ENOENT)
        return dort_call_respond_body(call, 404, "text/plain", "none", 4);
    if (rc != 0)
        return rc;
    return dort_call_respond_body(call, 200, "application/octet-stream", v.ptr, v.len);
}

static const dort_class_t fz_class = {.name = "Fz", .fetch = actor_fetch};

/* ---- the worker ---- */

typedef struct later_s {
    uv_timer_t timer;
    dort_exchange_t *ex;
    dort_stream_t *stream;
    int left;
} later_t;

static void free_later(uv_handle_t *h)
{
    free(h->data);
}

static void on_later(uv_timer_t *t)
{
    later_t *l = t->data;
    if (l->stream != NULL) {
        if (dort_stream_write(l->stream, "tick\n", 5) == 0 && --l->left > 0)
            return;
        dort_stream_end(l->stream);
    } else {
        dort_exchange_respond_body(l->ex, 200, "text/plain", "late", 4);
    }
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, free_later);
}

static int start_later(dort_exchange_t *ex, dort_stream_t *stream)
{
    later_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return DORT_ENOMEM;
    l->ex = ex;
    l->stream = stream;
    l->left = 3;
    uv_timer_init(loop, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, on_later, 1, 1);
    return 0;
}

static int r_health(void *ctx, const dort_route_match_t *m)
{
    (void)m;
    return dort_exchange_respond_body(ctx, 200, "text/plain", "ok", 2);
}

static int r_echo(void *ctx, const dort_route_match_t *m)
{
    (void)m;
    dort_slice_t b = dort_request_body(dort_exchange_request(ctx));
    return dort_exchange_respond_body(ctx, 200, "application/octet-stream", b.ptr, b.len);
}

static int r_late(void *ctx, const dort_route_match_t *m)
{
    (void)m;
    return start_later(ctx, NULL);
}

static int r_stream(void *ctx, const dort_route_match_t *m)
{
    dort_response_t *res;
    dort_stream_t *s;
    (void)m;
    int rc = dort_response_new_stream(&res, 200, &s);
    if (rc != 0)
        return rc;
    dort_stream_write(s, "first\n", 6);
    if ((rc = start_later(ctx, s)) != 0) {
        dort_stream_end(s);
        dort_response_free(res);
        return rc;
    }
    return dort_exchange_respond(ctx, res);
}

static int r_fail(void *ctx, const dort_route_match_t *m)
{
    (void)ctx, (void)m;
    return -1;
}

static int r_actor(void *ctx, const dort_route_match_t *m)
{
    static const char *const names[] = {"a", "b", "c", "d"};
    dort_exchange_t *ex = ctx;
    dort_slice_t name = dort_route_param(m, "name");
    const char *n = names[name.len ? (unsigned char)name.ptr[0] % 4 : 0];
    dort_ns_t *ns = dort_rt_namespace(dort_exchange_rt(ex), "FZ");
    dort_id_t id;
    int rc = dort_id_from_name(ns, n, 1, &id);
    if (rc != 0)
        return rc;
    dort_stub_t stub;
    dort_stub_init(&stub, ns, &id);
    dort_exchange_add_header(ex, "X-Fuzz", "1");
    dort_exchange_forward(ex, &stub);
    return 0;
}

static const dort_route_t routes[] = {
    {"GET", "/health", r_health},  {"POST", "/echo", r_echo},       {"PUT", "/echo", r_echo},
    {"GET", "/late", r_late},      {"GET", "/stream", r_stream},    {"GET", "/fail", r_fail},
    {"*", "/a/:name", r_actor},    {"*", "/a/:name/*rest", r_actor},
};

static dort_router_t *router;

static int fz_fetch(dort_exchange_t *ex)
{
    const dort_request_t *req = dort_exchange_request(ex);
    dort_route_match_t m;
    dort_exchange_add_response_header(ex, "X-Server", "fuzz");
    int rc = dort_router_dispatch(router, dort_request_method(req), dort_request_path(req), ex, &m);
    if (rc == DORT_ENOENT)
        return dort_exchange_respond_error(ex, m.method_mismatch ? 405 : 404, "nope", "no route");
    return rc;
}

static const dort_worker_class_t fz_worker = {.name = "fz", .fetch = fz_fetch};

/* ---- setup ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* A client that resets makes the server's next write EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    dort_rt_options_t o;
    dort_rt_options_init(&o);
    o.durability = DORT_DURABILITY_MEMORY;
    o.map_size = (uint64_t)64 << 20;
    o.idle_timeout_ms = 50;
    if (getenv("FUZZ_HTTP_LOG") != NULL) {
        o.log_fn = dort_log_stderr;
        o.log_level = DORT_LOG_DEBUG;
    }
    dort_worker_t *w = NULL;
    if (dort_rt_new(&rt, &o) != 0 || dort_rt_register_class(rt, &fz_class) != 0 ||
        dort_rt_bind_namespace(rt, "FZ", "Fz", NULL, NULL) != 0 ||
        dort_rt_add_worker(rt, &fz_worker, &w) != 0 || dort_rt_start(rt) != 0)
        die("cannot start the runtime");
    if (dort_router_new(&router, routes, sizeof routes / sizeof routes[0], NULL) != 0)
        die("cannot build the router");
    dort_http_options_t ho;
    dort_http_options_init(&ho);
    ho.port = 0;
    ho.max_header_bytes = 1024;
    ho.max_body_bytes = 4096;
    ho.request_timeout_ms = 40;
    ho.keepalive_timeout_ms = 60;
    ho.max_connections = 16;
    ho.max_pipeline = 4;
    ho.metrics = 1;
    if (dort_http_listen(rt, &ho, w, &srv) != 0)
        die("cannot listen");
    loop = dort_rt_loop(rt);
    uv_timer_init(loop, &tick);
    rbuf = malloc(RECV_CAP);
    if (rbuf == NULL)
        die("out of memory");
    return 0;
}

/* ---- one input ---- */

static int64_t now_ms(void)
{
    uv_update_time(loop);
    return (int64_t)uv_now(loop);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop for one iteration, never sleeping more than 1 ms. */
static void spin(void)
{
    uv_timer_start(&tick, on_tick, 1, 0);
    uv_run(loop, UV_RUN_ONCE);
}

/* Reads what is there; returns 1 once the server closed (or reset). */
static int drain(int fd)
{
    for (;;) {
        char tmp[16384];
        ssize_t n = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (n > 0) {
            size_t k = (size_t)n;
            if (rlen + k > RECV_CAP)
                k = RECV_CAP - rlen;
            memcpy(rbuf + rlen, tmp, k);
            rlen += k;
            continue;
        }
        if (n == 0)
            return 1;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno == EINTR)
            continue;
        return 1; /* ECONNRESET */
    }
}

/* 1 when the server holds nothing more to send on any connection. */
static int server_idle(void)
{
    for (dort__http_conn_t *c = srv->conns; c != NULL; c = c->next)
        if (c->head != NULL || c->writes_pending != 0 || (c->paused && c->pending_len))
            return 0;
    return 1;
}

static int send_piece(int fd, const uint8_t *p, size_t len, int read_while)
{
    int64_t deadline = now_ms() + 500;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1; /* the server closed on us */
        if (now_ms() > deadline)
            return -1; /* the server stopped reading (paused, or lingering) */
        spin();
        if (read_while && drain(fd))
            return -1;
    }
    return 0;
}

/* Bytes [i, end) of a well-framed response sequence: returns the offset
 * after one response, or (size_t)-1 if malformed; `more` is set when the
 * data ends inside the response. */
static size_t frame_one(const char *b, size_t n, size_t i, int closed, int *more)
{
    const char *end = memmem(b + i, n - i, "\r\n\r\n", 4);
    *more = 0;
    if (n - i < 9 || memcmp(b + i, "HTTP/1.1 ", 9) != 0) {
        if (n - i < 9 && memcmp(b + i, "HTTP/1.1 ", n - i) == 0) {
            *more = 1;
            return i;
        }
        return (size_t)-1;
    }
    if (end == NULL) {
        *more = 1;
        return i;
    }
    size_t head_end = (size_t)(end - b) + 4;
    if (n - i < 13 || b[i + 12] != ' ' || b[i + 9] < '1' || b[i + 9] > '5')
        return (size_t)-1;
    int status = (b[i + 9] - '0') * 100 + (b[i + 10] - '0') * 10 + (b[i + 11] - '0');
    /* Headers: find Content-Length / Transfer-Encoding (dort writes them
     * with this exact case). */
    long clen = -1;
    int chunked = 0;
    for (size_t k = i; k < head_end; k++) {
        if (b[k] != '\n')
            continue;
        if (head_end - k > 17 && memcmp(b + k + 1, "Content-Length: ", 16) == 0)
            clen = strtol(b + k + 17, NULL, 10);
        if (head_end - k > 27 && memcmp(b + k + 1, "Transfer-Encoding: chunked", 26) == 0)
            chunked = 1;
    }
    if (status < 200 || status == 204 || status == 304)
        return head_end;
    if (chunked) {
        size_t k = head_end;
        for (;;) {
            const char *eol = memmem(b + k, n - k, "\r\n", 2);
            if (eol == NULL) {
                *more = 1;
                return i;
            }
            char *e;
            unsigned long sz = strtoul(b + k, &e, 16);
            if (e == b + k || e != eol)
                return (size_t)-1;
            k = (size_t)(eol - b) + 2;
            if (n - k < sz + 2) {
                *more = 1;
                return i;
            }
            if (memcmp(b + k + sz, "\r\n", 2) != 0)
                return (size_t)-1;
            k += sz + 2;
            if (sz == 0)
                return k;
        }
    }
    if (clen >= 0) {
        if (n - head_end < (size_t)clen) {
            *more = 1;
            return i;
        }
        return head_end + (size_t)clen;
    }
    /* No length: the body runs to the close. */
    if (!closed) {
        *more = 1;
        return i;
    }
    return n;
}

static void check_answers(const uint8_t *data, size_t size, int closed)
{
    if (rlen == 0)
        return;
    if (rlen < 9 ? memcmp(rbuf, "HTTP/1.1 ", rlen) != 0 : memcmp(rbuf, "HTTP/1.1 ", 9) != 0)
        die("the answer does not start with \"HTTP/1.1 \"");
    if (memmem(data, size, "HEAD", 4) != NULL || rlen == RECV_CAP)
        return;
    size_t i = 0;
    while (i < rlen) {
        int more;
        size_t next = frame_one(rbuf, rlen, i, closed, &more);
        if (next == (size_t)-1) {
            fprintf(stderr, "fuzz_http: malformed answer at byte %zu of %zu:\n%.*s\n", i, rlen,
                    (int)(rlen - i < 400 ? rlen - i : 400), rbuf + i);
            abort();
        }
        if (more) {
            /* Cut short: only acceptable while the connection is still open
             * (the server may still be writing) or reset. */
            break;
        }
        i = next;
    }
}

/* Piece lengths for mode 1: taken from the input after the first byte. */
static size_t piece_len(const uint8_t *data, size_t size, size_t *cursor)
{
    size_t k = *cursor;
    *cursor = k + 1;
    return k < size ? 1 + (data[k] % 64) : 64;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    const uint8_t *msg = data + 1;
    size_t len = size - 1;
    int split = mode & 3, half_close = mode & 4, reset = mode & 8, until_close = mode & 16;
    int read_while = !(mode & 32);
    rlen = 0;

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)dort_http_server_port(srv));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)
        die("connect");
    /* Let the server accept before the first byte. */
    for (int i = 0; i < 4; i++)
        spin();

    int closed = 0;
    size_t off = 0, cursor = 1;
    while (off < len && !closed) {
        size_t n = len - off;
        if (split == 1)
            n = piece_len(data, size, &cursor);
        else if (split == 2)
            n = 1;
        else if (split == 3) {
            const uint8_t *nl = memchr(msg + off, '\n', len - off);
            n = nl ? (size_t)(nl - (msg + off)) + 1 : len - off;
        }
        if (n > len - off)
            n = len - off;
        if (send_piece(fd, msg + off, n, read_while) != 0)
            break;
        off += n;
        spin();
        if (read_while)
            closed = drain(fd);
    }
    if (half_close)
        shutdown(fd, SHUT_WR);
    if (reset) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    } else {
        int64_t deadline = now_ms() + (until_close ? 150 : 60);
        int idle_rounds = 0;
        while (!closed && now_ms() < deadline) {
            spin();
            closed = drain(fd);
            /* Idle: nothing queued on the server after a few quiet rounds. */
            idle_rounds = server_idle() ? idle_rounds + 1 : 0;
            if (!until_close && idle_rounds > 3)
                break;
        }
        closed |= drain(fd);
        check_answers(data, size, closed);
    }
    close(fd);
    /* Every connection must go away once its client has: run until then. */
    int64_t deadline = now_ms() + 3000;
    while (srv->conns != NULL && now_ms() < deadline)
        spin();
    if (srv->conns != NULL)
        die("a connection outlived its client by 3 s");
    return 0;
}

#ifdef DORT_FUZZ_REPLAY
#include <dirent.h>
#include <sys/stat.h>

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long len;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)len + 1)) == NULL ||
        fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "fuzz_http: cannot read %s\n", path);
        if (f != NULL)
            fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)len);
    free(buf);
    return 0;
}

static int replay(const char *path, int *count)
{
    struct stat st;
    struct dirent *e;
    DIR *d;
    int rc = 0;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz_http: no such file %s\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return replay_file(path);
    }
    if ((d = opendir(path)) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char sub[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (stat(sub, &st) == 0 && S_ISREG(st.st_mode)) {
            (*count)++;
            rc |= replay_file(sub);
        }
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0, count = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++)
        rc |= replay(argv[i], &count);
    printf("fuzz_http: replayed %d input(s)\n", count);
    return rc != 0 || count == 0;
}
#endif
