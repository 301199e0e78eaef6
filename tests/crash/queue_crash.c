/* queue_crash.c - the program the queue crash test kills and restarts
 * (README.md, "The queue crash test").
 *
 *   queue_crash produce-consume DIR SEED   produces and consumes until killed
 *   queue_crash drain DIR SEED             consumes until the queue is empty
 *
 * Both first walk DIR/data.mdb read-only with LMDB alone (crash_lmdb.c): a
 * killed run must leave a file that opens clean. Then a runtime with full
 * durability on DIR runs queue "crashq" and its consumer.
 *
 * produce-consume keeps sends in flight: external batches of 1..10
 * messages (dort_queue_send outside any actor), and batches sent from
 * inside turns of producer actors P0..P3 (transactional outbox, with a
 * storage write in the same turn). Some sends are delayed by a second.
 * Every message body is a unique token q<run>.<ctr>, then '/' and filler
 * derived from the token (checked on receipt). The consumer varies what it
 * does per batch: succeed (with occasional explicit retries, some delayed),
 * fail, finish later from a timer (DORT_EPENDING), or forward each message
 * to an applier actor that writes and acks it in the same turn.
 *
 * Lines on stdout, each flushed before anything it describes can commit:
 *
 *   S <token>              the send of <token> completed (commit callback, or
 *                          the producer actor's successful answer)
 *   R <token> <attempts>   the consumer received <token>
 *   T <token>              the consumer asked for that delivery to be retried
 *
 * drain acks everything it receives, stops once dort_rt_queue_stats shows
 * the queue empty, and prints "drained ..." with the queue's counters. It
 * uses only the public API, as an embedding service would. */
#include "crash.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QNAME "crashq"
#define QBINDING "CRASHQ"
#define NPRODUCERS 4
#define NAPPLIERS 4
#define EXT_INFLIGHT 2
#define ACT_INFLIGHT 2
#define MAX_SEND 10
#define MAX_BATCH 20
#define TOKEN_MAX 40
#define DRAIN_LIMIT_MS 60000

typedef struct app_s {
    dort_rt_t *rt;
    dort_queue_t *q;
    dort_ns_t *producers, *appliers;
    char run[20];
    uint64_t rng;
    uint64_t ctr;
    int drain;
    unsigned ext_inflight, act_inflight;
    uv_timer_t tick;
    /* The batch with the consumer when it returned DORT_EPENDING. */
    dort_queue_batch_t *pending;
    uv_timer_t finish_timer;
    size_t answers_left;
    int forward_failed[MAX_BATCH];
    dort_queue_message_t *slots[MAX_BATCH];
    /* drain */
    uint64_t drained;
    int empty_polls;
    int64_t drain_started;
    int exit_code;
    int timers_open;
    int direct_finish; /* QUEUE_CRASH_DIRECT_FINISH=1 */
} app_t;

static app_t app;

static uint64_t rnd(void)
{
    app.rng ^= app.rng >> 12;
    app.rng ^= app.rng << 25;
    app.rng ^= app.rng >> 27;
    return app.rng * 0x2545f4914f6cdd1du;
}

static unsigned rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* ---- bodies: token, '/', filler derived from the token ---- */

static char filler(uint64_t h, size_t i)
{
    return (char)('a' + (h + i * 7) % 26);
}

static size_t pick_len(size_t tok_len)
{
    unsigned r = rnd_below(100);
    if (r < 70)
        return tok_len;
    if (r < 95)
        return tok_len + 1 + rnd_below(2000);
    return tok_len + 1 + 2000 + rnd_below(18000);
}

/* A malloc'd body of `len` bytes for `tok`. */
static char *make_body(const char *tok, size_t len)
{
    size_t tl = strlen(tok);
    char *b = malloc(len ? len : 1);
    if (b == NULL)
        return NULL;
    memcpy(b, tok, tl);
    if (len > tl) {
        uint64_t h = crash_hash64(tok, tl);
        b[tl] = '/';
        for (size_t i = tl + 1; i < len; i++)
            b[i] = filler(h, i);
    }
    return b;
}

/* Copies the token of a received body into tok; -1 when the body is not a
 * whole expansion of its token. */
static int body_token(dort_slice_t body, char tok[TOKEN_MAX])
{
    const char *slash = memchr(body.ptr, '/', body.len);
    size_t tl = slash ? (size_t)(slash - body.ptr) : body.len;
    if (tl < 3 || tl >= TOKEN_MAX || body.ptr[0] != 'q')
        return -1;
    memcpy(tok, body.ptr, tl);
    tok[tl] = '\0';
    uint64_t h = crash_hash64(tok, tl);
    for (size_t i = tl + 1; i < body.len; i++)
        if (body.ptr[i] != filler(h, i))
            return -1;
    return 0;
}

static void msg_token(dort_queue_message_t *m, char tok[TOKEN_MAX])
{
    if (body_token(dort_queue_message_body(m), tok) != 0) {
        fprintf(stderr, "queue_crash: error: message %s has a corrupt body (%zu bytes)\n",
                dort_queue_message_id(m), dort_queue_message_body(m).len);
        snprintf(tok, TOKEN_MAX, "corrupt");
    }
}

static void next_token(char tok[TOKEN_MAX])
{
    snprintf(tok, TOKEN_MAX, "q%s.%" PRIu64, app.run, ++app.ctr);
}

/* ---- producing from outside any actor ---- */

typedef struct ext_op_s {
    unsigned n;
    char tok[MAX_SEND][TOKEN_MAX];
} ext_op_t;

static void ext_done(void *data, int status)
{
    ext_op_t *op = data;
    app.ext_inflight--;
    if (status == 0)
        for (unsigned i = 0; i < op->n; i++)
            printf("S %s\n", op->tok[i]);
    else
        fprintf(stderr, "queue_crash: error: external send failed: %s\n", dort_strerror(status));
    fflush(stdout);
    free(op);
}

static void ext_send(void)
{
    ext_op_t *op = calloc(1, sizeof *op);
    dort_queue_send_t msgs[MAX_SEND];
    char *bodies[MAX_SEND] = {0};
    int rc = op ? 0 : -1;
    if (op != NULL)
        op->n = 1 + rnd_below(MAX_SEND);
    for (unsigned i = 0; rc == 0 && i < op->n; i++) {
        next_token(op->tok[i]);
        size_t len = pick_len(strlen(op->tok[i]));
        bodies[i] = make_body(op->tok[i], len);
        msgs[i] = (dort_queue_send_t){.body = bodies[i],
                                      .len = len,
                                      .content_type = DORT_QUEUE_CONTENT_BYTES,
                                      .delay_s = rnd_below(100) < 5 ? 1 : 0};
        rc = bodies[i] ? 0 : -1;
    }
    if (rc == 0)
        rc = dort_queue_send(app.q, NULL, msgs, op->n, ext_done, op);
    for (unsigned i = 0; op != NULL && i < op->n; i++)
        free(bodies[i]);
    if (rc != 0) {
        fprintf(stderr, "queue_crash: error: cannot send: %s\n",
                rc == -1 ? "out of memory" : dort_strerror(rc));
        free(op);
        return;
    }
    app.ext_inflight++;
}

/* ---- producing from inside actor turns (class QProducer) ----
 * /send body: one "<token> <len> <delay>" line per message. The turn writes
 * "last" = its request's first token and sends the messages with `self`. */

static int producer_fetch(dort_actor_t *self, dort_call_t *call)
{
    dort_slice_t rest = dort_request_body(dort_call_request(call)), w;
    dort_queue_send_t msgs[MAX_SEND];
    char *bodies[MAX_SEND] = {0};
    char first[TOKEN_MAX] = "";
    size_t n = 0;
    int rc = 0;
    while (rc == 0 && n < MAX_SEND && crash_next_word(&rest, &w) == 0) {
        char tok[TOKEN_MAX], num[24], del[8];
        dort_slice_t wl, wd;
        if (w.len >= TOKEN_MAX || crash_next_word(&rest, &wl) != 0 || wl.len >= sizeof num ||
            crash_next_word(&rest, &wd) != 0 || wd.len >= sizeof del) {
            rc = -1;
            break;
        }
        memcpy(tok, w.ptr, w.len);
        tok[w.len] = '\0';
        memcpy(num, wl.ptr, wl.len);
        num[wl.len] = '\0';
        memcpy(del, wd.ptr, wd.len);
        del[wd.len] = '\0';
        if (n == 0)
            snprintf(first, sizeof first, "%s", tok);
        size_t len = (size_t)strtoull(num, NULL, 10);
        bodies[n] = make_body(tok, len);
        msgs[n] = (dort_queue_send_t){.body = bodies[n],
                                      .len = len,
                                      .content_type = DORT_QUEUE_CONTENT_BYTES,
                                      .delay_s = (uint32_t)atoi(del)};
        rc = bodies[n++] ? 0 : -1;
    }
    if (rc == 0 && n > 0)
        rc = dort_storage_put(self, "last", 4, first, strlen(first));
    if (rc == 0 && n > 0)
        rc = dort_queue_send(dort_rt_queue(dort_actor_rt(self), QBINDING), self, msgs, n, NULL,
                             NULL);
    for (size_t i = 0; i < n; i++)
        free(bodies[i]);
    if (rc != 0 || n == 0)
        return -1; /* the caller gets DORT_EHANDLER; nothing of the turn is kept */
    return dort_call_respond_body(call, 200, "text/plain", "ok", 2);
}

static const dort_class_t producer_class = {.name = "QProducer", .fetch = producer_fetch};

typedef struct act_op_s {
    unsigned n;
    char tok[MAX_SEND][TOKEN_MAX];
} act_op_t;

static int act_done(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)self;
    act_op_t *op = data;
    int http = res ? dort_response_status(res) : 0;
    app.act_inflight--;
    if (status == 0 && http == 200)
        for (unsigned i = 0; i < op->n; i++)
            printf("S %s\n", op->tok[i]);
    else
        fprintf(stderr, "queue_crash: error: actor send failed: %s (http %d)\n",
                status ? dort_strerror(status) : "-", http);
    fflush(stdout);
    dort_response_free(res);
    free(op);
    return 0;
}

static int stub_for(dort_ns_t *ns, const char *name, dort_stub_t *stub)
{
    dort_id_t id;
    int rc = dort_id_from_name(ns, name, strlen(name), &id);
    if (rc == 0)
        dort_stub_init(stub, ns, &id);
    return rc;
}

static void act_send(void)
{
    act_op_t *op = calloc(1, sizeof *op);
    crash_buf_t body = {0};
    char name[8];
    dort_stub_t stub;
    dort_request_t *req = NULL;
    int rc = op ? 0 : -1;
    if (op != NULL)
        op->n = 1 + rnd_below(MAX_SEND);
    for (unsigned i = 0; rc == 0 && i < op->n; i++) {
        next_token(op->tok[i]);
        rc = crash_buf_printf(&body, "%s %zu %u\n", op->tok[i], pick_len(strlen(op->tok[i])),
                              rnd_below(100) < 5 ? 1u : 0u);
    }
    snprintf(name, sizeof name, "P%u", rnd_below(NPRODUCERS));
    if (rc == 0)
        rc = stub_for(app.producers, name, &stub);
    if (rc == 0)
        rc = dort_request_new(&req, "POST", "/send");
    if (rc == 0 && (rc = dort_request_set_body(req, body.ptr, body.len, DORT_BUF_COPY)) != 0)
        dort_request_free(req);
    if (rc == 0)
        rc = dort_stub_fetch(&stub, NULL, req, act_done, op);
    crash_buf_release(&body);
    if (rc != 0) {
        fprintf(stderr, "queue_crash: error: cannot send to %s: %s\n", name,
                rc == -1 ? "out of memory" : dort_strerror(rc));
        free(op);
        return;
    }
    app.act_inflight++;
}

static void pace_tick(uv_timer_t *t)
{
    (void)t;
    if (app.ext_inflight < EXT_INFLIGHT)
        ext_send();
    if (app.act_inflight < ACT_INFLIGHT)
        act_send();
}

/* ---- consuming ---- */

/* An applier actor (class QApplier): /apply <slot> writes "last" = the
 * message's token and acks the message in the same turn. */
static int applier_fetch(dort_actor_t *self, dort_call_t *call)
{
    char arg[16], tok[TOKEN_MAX];
    dort_slice_t b = dort_request_body(dort_call_request(call));
    size_t n = b.len < sizeof arg - 1 ? b.len : sizeof arg - 1;
    memcpy(arg, b.ptr, n);
    arg[n] = '\0';
    unsigned slot = (unsigned)atoi(arg);
    if (slot >= MAX_BATCH || app.slots[slot] == NULL)
        return -1;
    dort_queue_message_t *m = app.slots[slot];
    msg_token(m, tok);
    int rc = dort_storage_put(self, "last", 4, tok, strlen(tok));
    if (rc == 0)
        rc = dort_queue_message_ack(m, self);
    if (rc != 0) {
        fprintf(stderr, "queue_crash: error: in-turn ack of %s: %s\n", tok, dort_strerror(rc));
        return -1;
    }
    return dort_call_respond_body(call, 200, "text/plain", "ok", 2);
}

static const dort_class_t applier_class = {.name = "QApplier", .fetch = applier_fetch};

static void print_retry(dort_queue_message_t *m)
{
    char tok[TOKEN_MAX];
    msg_token(m, tok);
    printf("T %s\n", tok);
}

/* Ends the pending batch: forwarded messages whose actor failed follow
 * the failure (retried), the others were acked in their turns. */
static void finish_pending(int status)
{
    dort_queue_batch_t *b = app.pending;
    app.pending = NULL;
    if (status != 0)
        for (size_t i = 0; i < dort_queue_batch_size(b); i++)
            if (app.forward_failed[i])
                print_retry(dort_queue_batch_message(b, i));
    fflush(stdout);
    memset(app.slots, 0, sizeof app.slots);
    dort_queue_batch_finish(b, status);
}

static void on_finish_timer(uv_timer_t *t)
{
    (void)t;
    finish_pending(0);
}

static void on_forward_done(uv_timer_t *t)
{
    (void)t;
    int failed = 0;
    for (size_t i = 0; i < MAX_BATCH; i++)
        failed |= app.forward_failed[i];
    finish_pending(failed ? -1 : 0);
}

static int on_applied(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)self;
    size_t slot = (size_t)(uintptr_t)data;
    int http = res ? dort_response_status(res) : 0;
    dort_response_free(res);
    if (status != 0 || http != 200) {
        app.forward_failed[slot] = 1;
        fprintf(stderr, "queue_crash: error: applier failed: %s (http %d)\n",
                status ? dort_strerror(status) : "-", http);
    }
    if (--app.answers_left > 0)
        return 0;
    /* Finishing right here, inside the runtime's completion of the group
     * commit that released this answer, trips an engine bug (see
     * tests/unit/test_queue_reentry.c): by default the finish waits for the
     * next loop phase. QUEUE_CRASH_DIRECT_FINISH=1 finishes here. */
    if (app.direct_finish)
        on_forward_done(NULL);
    else
        uv_timer_start(&app.finish_timer, on_forward_done, 0, 0);
    return 0;
}

static int forward(dort_queue_batch_t *b)
{
    size_t n = dort_queue_batch_size(b);
    app.pending = b;
    app.answers_left = n;
    memset(app.forward_failed, 0, sizeof app.forward_failed);
    for (size_t i = 0; i < n; i++) {
        char name[16], arg[24];
        dort_stub_t stub;
        dort_request_t *req = NULL;
        app.slots[i] = dort_queue_batch_message(b, i);
        snprintf(name, sizeof name, "C%u", rnd_below(NAPPLIERS));
        snprintf(arg, sizeof arg, "%zu", i);
        int rc = stub_for(app.appliers, name, &stub);
        if (rc == 0)
            rc = dort_request_new(&req, "POST", "/apply");
        if (rc == 0 && (rc = dort_request_set_body(req, arg, strlen(arg), DORT_BUF_COPY)) != 0)
            dort_request_free(req);
        if (rc == 0)
            rc = dort_stub_fetch(&stub, NULL, req, on_applied, (void *)(uintptr_t)i);
        if (rc != 0) {
            fprintf(stderr, "queue_crash: error: cannot forward: %s\n", dort_strerror(rc));
            app.forward_failed[i] = 1;
            app.answers_left--;
        }
    }
    if (app.answers_left == 0)
        finish_pending(-1);
    return DORT_EPENDING;
}

static int consume(dort_queue_batch_t *b)
{
    size_t n = dort_queue_batch_size(b);
    char tok[TOKEN_MAX];
    for (size_t i = 0; i < n; i++) {
        dort_queue_message_t *m = dort_queue_batch_message(b, i);
        msg_token(m, tok);
        printf("R %s %" PRIu32 "\n", tok, dort_queue_message_attempts(m));
    }
    app.drained += app.drain ? n : 0;
    unsigned r = app.drain ? 0 : rnd_below(100);
    int rc = 0;
    if (r < 70) {
        /* Success, with a few explicit retries (some delayed a second). */
        for (size_t i = 0; !app.drain && i < n; i++) {
            dort_queue_message_t *m = dort_queue_batch_message(b, i);
            if (rnd_below(100) >= 5)
                continue;
            int32_t delay = dort_queue_message_attempts(m) == 1 && rnd_below(4) == 0 ? 1 : 0;
            if (dort_queue_message_retry(m, delay) == 0)
                print_retry(m);
        }
    } else if (r < 80) {
        for (size_t i = 0; i < n; i++)
            print_retry(dort_queue_batch_message(b, i));
        rc = -1;
    } else if (r < 90) {
        app.pending = b;
        memset(app.forward_failed, 0, sizeof app.forward_failed);
        uv_timer_start(&app.finish_timer, on_finish_timer, 1 + rnd_below(20), 0);
        rc = DORT_EPENDING;
    } else {
        rc = forward(b);
    }
    fflush(stdout);
    return rc;
}

static const dort_worker_class_t consumer_class = {.name = "crash-consumer", .queue = consume};

/* ---- the runtime ---- */

static int setup(const char *dir, uint64_t seed)
{
    dort_rt_options_t o;
    dort_rt_options_init(&o);
    o.durability = DORT_DURABILITY_FULL;
    o.data_dir = dir;
    o.map_size = (uint64_t)1 << 20; /* grows during runs: kills land around that too */
    o.log_fn = dort_log_stderr;
    o.log_level = DORT_LOG_WARN;
    o.idle_timeout_ms = -1;
    snprintf(app.run, sizeof app.run, "%" PRIx64, seed);
    app.rng = seed * 0x9e3779b97f4a7c15u + 1;
    dort_worker_t *w = NULL;
    int rc = dort_rt_new(&app.rt, &o);
    if (rc == 0)
        rc = dort_rt_register_class(app.rt, &producer_class);
    if (rc == 0)
        rc = dort_rt_bind_namespace(app.rt, "PRODUCERS", "QProducer", NULL, &app.producers);
    if (rc == 0)
        rc = dort_rt_register_class(app.rt, &applier_class);
    if (rc == 0)
        rc = dort_rt_bind_namespace(app.rt, "APPLIERS", "QApplier", NULL, &app.appliers);
    if (rc == 0)
        rc = dort_rt_add_worker(app.rt, &consumer_class, &w);
    if (rc == 0)
        rc = dort_rt_add_queue_producer(app.rt, QBINDING, QNAME);
    if (rc == 0) {
        dort_queue_consumer_options_t co;
        dort_queue_consumer_options_init(&co);
        co.queue = QNAME;
        co.worker = w;
        co.max_batch_size = 1 + (uint32_t)rnd_below(MAX_BATCH);
        co.max_batch_timeout_ms = rnd_below(50);
        co.max_retries = 100; /* nothing may be dropped: every send must arrive */
        rc = dort_rt_add_queue_consumer(app.rt, &co);
    }
    if (rc == 0) {
        /* Before the start: the consumer may get its first batch inside it. */
        uv_timer_init(dort_rt_loop(app.rt), &app.finish_timer);
        uv_timer_init(dort_rt_loop(app.rt), &app.tick);
        app.timers_open = 1;
        rc = dort_rt_start(app.rt);
    }
    if (rc != 0) {
        fprintf(stderr, "queue_crash: error: cannot start on %s: %s\n", dir, dort_strerror(rc));
        return -1;
    }
    app.q = dort_rt_queue(app.rt, QBINDING);
    return 0;
}

static void on_stopped(dort_rt_t *rt, void *data)
{
    (void)rt;
    (void)data;
    uv_close((uv_handle_t *)&app.finish_timer, NULL);
    uv_close((uv_handle_t *)&app.tick, NULL);
}

/* drain: polls the queue's figures; two empty polls in a row end it. */
static void drain_tick(uv_timer_t *t)
{
    dort_queue_stats_t st;
    if (dort_rt_queue_stats(app.rt, QNAME, &st) != 0)
        return;
    app.empty_polls = st.ready + st.delayed + st.in_flight == 0 ? app.empty_polls + 1 : 0;
    int64_t waited = (int64_t)uv_now(t->loop) - app.drain_started;
    if (app.empty_polls < 2 && waited < DRAIN_LIMIT_MS)
        return;
    if (app.empty_polls < 2) {
        fprintf(stderr,
                "queue_crash: error: queue not empty after %d ms: %" PRIu64 " ready, %" PRIu64
                " delayed, %" PRIu64 " in flight\n",
                DRAIN_LIMIT_MS, st.ready, st.delayed, st.in_flight);
        app.exit_code = 1;
    }
    printf("drained %" PRIu64 " messages in this run; queue totals: sent %" PRIu64 " acked %" PRIu64
           " retried %" PRIu64 " dropped %" PRIu64 "\n",
           app.drained, st.sent, st.acked, st.retried, st.dropped);
    fflush(stdout);
    uv_timer_stop(t);
    dort_rt_stop(app.rt, on_stopped, NULL);
}

static int run(const char *dir, uint64_t seed, int drain)
{
    if (crash_lmdb_walk(dir, 0) != 0)
        return 1;
    fflush(stdout);
    app.drain = drain;
    const char *direct = getenv("QUEUE_CRASH_DIRECT_FINISH");
    app.direct_finish = direct != NULL && strcmp(direct, "1") == 0;
    if (setup(dir, seed) != 0) {
        if (app.timers_open) {
            uv_close((uv_handle_t *)&app.finish_timer, NULL);
            uv_close((uv_handle_t *)&app.tick, NULL);
            uv_run(dort_rt_loop(app.rt), UV_RUN_NOWAIT);
        }
        dort_rt_free(app.rt);
        return 1;
    }
    if (drain) {
        app.drain_started = (int64_t)uv_now(dort_rt_loop(app.rt));
        uv_timer_start(&app.tick, drain_tick, 50, 50);
    } else {
        uv_timer_start(&app.tick, pace_tick, 0, 3);
    }
    /* produce-consume runs until the driver's SIGKILL. */
    dort_rt_run(app.rt);
    dort_rt_free(app.rt);
    return drain ? app.exit_code : 1;
}

static int parse_seed(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 0);
    if (*s == '\0' || *s == '-' || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t seed;
    if (argc == 4 && parse_seed(argv[3], &seed) == 0) {
        setvbuf(stdout, NULL, _IOFBF, 1 << 16);
        if (strcmp(argv[1], "produce-consume") == 0)
            return run(argv[2], seed, 0);
        if (strcmp(argv[1], "drain") == 0)
            return run(argv[2], seed, 1);
    }
    fprintf(stderr, "usage: queue_crash produce-consume DIR SEED\n"
                    "       queue_crash drain DIR SEED\n");
    return 2;
}
