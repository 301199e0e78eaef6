/* embed_counter.c - embedding dort in a program that owns its libuv loop.
 *
 * The host creates its loop, runs a timer of its own, and hands the loop to
 * dort. Each tick sends an increment to a Counter actor; the actor keeps the
 * count in durable storage. After 20 ticks the host reads the count back,
 * stops dort gracefully and closes its own loop.
 *
 *   cc embed_counter.c $(pkg-config --cflags --libs dort) -o embed_counter
 *   ./embed_counter [DATA_DIR]      (no dir: in-memory durability)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dort/dort.h>

#define TICKS 20

/* ---- the actor ---- */

static int counter_fetch(dort_actor_t *self, dort_call_t *call)
{
    long n = 0;
    dort_slice_t v;
    int rc = dort_storage_get(self, "n", 1, &v);
    if (rc == 0) {
        char buf[32] = {0};
        memcpy(buf, v.ptr, v.len < sizeof buf - 1 ? v.len : sizeof buf - 1);
        n = strtol(buf, NULL, 10);
    } else if (rc != DORT_ENOENT) {
        return rc;
    }
    dort_slice_t method = dort_request_method(dort_call_request(call));
    if (method.len == 4 && memcmp(method.ptr, "POST", 4) == 0) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%ld", ++n);
        if ((rc = dort_storage_put(self, "n", 1, buf, (size_t)len)) != 0)
            return rc;
    }
    char out[32];
    int len = snprintf(out, sizeof out, "%ld", n);
    return dort_call_respond_body(call, 200, "text/plain", out, (size_t)len);
}

static const dort_class_t counter_class = {.name = "Counter", .fetch = counter_fetch};

/* ---- the host ---- */

typedef struct host_s {
    uv_loop_t loop;
    uv_timer_t timer;
    dort_rt_t *rt;
    dort_ns_t *ns;
    int ticks, acked;
    long final_count;
    int failed;
} host_t;

static void send_request(host_t *h, const char *method, dort_fetch_cb cb)
{
    dort_id_t id;
    dort_id_from_name(h->ns, "example", 7, &id);
    dort_stub_t stub;
    dort_stub_init(&stub, h->ns, &id);
    dort_request_t *req;
    if (dort_request_new(&req, method, "/") != 0 || dort_stub_fetch(&stub, NULL, req, cb, h) != 0)
        h->failed = 1;
}

static void on_stopped(dort_rt_t *rt, void *data)
{
    host_t *h = data;
    (void)rt;
    uv_close((uv_handle_t *)&h->timer, NULL);
}

static int on_read(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    host_t *h = data;
    (void)self;
    if (status != 0) {
        h->failed = 1;
    } else {
        dort_slice_t b = dort_response_body(res);
        char buf[32] = {0};
        memcpy(buf, b.ptr, b.len < sizeof buf - 1 ? b.len : sizeof buf - 1);
        h->final_count = strtol(buf, NULL, 10);
    }
    dort_response_free(res);
    dort_rt_stop(h->rt, on_stopped, h);
    return 0;
}

static int on_increment(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    host_t *h = data;
    (void)self;
    dort_response_free(res);
    if (status != 0)
        h->failed = 1;
    if (++h->acked == TICKS)
        send_request(h, "GET", on_read);
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    host_t *h = t->data;
    if (++h->ticks == TICKS)
        uv_timer_stop(t);
    send_request(h, "POST", on_increment);
}

int main(int argc, char **argv)
{
    host_t h;
    memset(&h, 0, sizeof h);
    uv_loop_init(&h.loop);
    uv_timer_init(&h.loop, &h.timer);
    h.timer.data = &h;

    dort_rt_options_t o;
    dort_rt_options_init(&o);
    o.loop = &h.loop;
    if (argc > 1)
        o.data_dir = argv[1];
    else
        o.durability = DORT_DURABILITY_MEMORY;
    int rc = dort_rt_new(&h.rt, &o);
    if (rc == 0)
        rc = dort_rt_register_class(h.rt, &counter_class);
    if (rc == 0)
        rc = dort_rt_bind_namespace(h.rt, "COUNTER", "Counter", NULL, &h.ns);
    if (rc == 0)
        rc = dort_rt_start(h.rt);
    if (rc != 0) {
        fprintf(stderr, "embed_counter: %s\n", dort_strerror(rc));
        return 1;
    }
    uv_timer_start(&h.timer, on_tick, 5, 5);
    uv_run(&h.loop, UV_RUN_DEFAULT); /* returns when dort and the timer are closed */
    dort_rt_free(h.rt);
    int closed = uv_loop_close(&h.loop);
    printf("ticks=%d acked=%d count=%ld loop_closed=%s\n", h.ticks, h.acked, h.final_count,
           closed == 0 ? "yes" : "no");
    return h.failed || h.acked != TICKS || closed != 0 ? 1 : 0;
}
