/* crash_writer.c - the program the SIGKILL crash test kills and restarts.
 *
 *   crash_writer write DIR SEED   writes through actors until killed
 *   crash_writer check DIR        verifies what stdin says was acknowledged
 *
 * In write mode it runs a runtime with full durability on DIR and keeps
 * several requests in flight to each of CRASH_ACTORS regular actors and
 * CRASH_SCRATCH scratch actors of its own: single puts, batch puts, deletes
 * of keys it wrote earlier, and (scratch actors) delete_all. A line goes to
 * stdout only from a response callback that reported success, i.e. after the
 * output gate released the answer, so every line is a promise the runtime
 * made: "this is durable now".
 *
 *   P <actor> <key token> <value token>   the key holds that value
 *   D <actor> <key token>                 the key is gone (its marker is written)
 *   C <actor> <ctr>                       delete_all number <ctr> happened
 *
 * It uses only the public API, as an embedding service would. */
#include "crash.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NACT (CRASH_ACTORS + CRASH_SCRATCH)
#define TOKEN_MAX 96

typedef struct wactor_s {
    char name[48];
    dort_stub_t stub;
    int scratch;
    unsigned idle_slots; /* requests it may send when the pacer lets it */
    int ready;           /* in writer_t.ready */
    /* Acknowledged keys not yet picked for deletion (regular actors). */
    char **live;
    size_t nlive, cap;
} wactor_t;

typedef struct writer_s {
    char run[20];
    uint64_t rng;
    uint64_t ctr;
    uint64_t acked;
    /* Pacing (see pace_tick); rate 0 sends again from each answer. */
    double rate_per_ms;
    double budget;
    uint64_t last_tick_ms;
    uv_timer_t tick;
    wactor_t *ready[NACT]; /* actors with idle slots */
    unsigned nready;
    wactor_t actors[NACT];
} writer_t;

/* One request in flight; freed in its callback. */
typedef struct op_s {
    writer_t *w;
    wactor_t *a;
    char kind; /* 'p' put, 'b' batch, 'd' delete, 'c' delete_all */
    uint64_t ctr;
    unsigned n;
    char *keys[CRASH_BATCH_MAX];
    char *vals[CRASH_BATCH_MAX];
} op_t;

static uint64_t rnd(writer_t *w)
{
    /* xorshift64*: deterministic per seed, good enough to pick operations. */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 0x2545f4914f6cdd1du;
}

static size_t rnd_range(writer_t *w, size_t lo, size_t hi)
{
    return lo + (size_t)(rnd(w) % (hi - lo + 1));
}

static char *token(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *token(const char *fmt, ...)
{
    char buf[TOKEN_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf)
        return NULL;
    return strdup(buf);
}

/* Key lengths: mostly bare tokens, some just under the 455-byte limit of
 * dort's short keys, some long keys (stored split across key and value). */
static size_t pick_key_len(writer_t *w)
{
    uint64_t r = rnd(w) % 100;
    if (r < 3)
        return rnd_range(w, 456, DORT_STORAGE_MAX_KEY);
    if (r < 6)
        return rnd_range(w, 400, 455);
    return 0;
}

/* Value lengths: mostly small, a few spanning LMDB overflow pages, rarely
 * the largest value dort accepts. */
static size_t pick_value_len(writer_t *w)
{
    uint64_t r = rnd(w) % 10000;
    if (r < 2)
        return DORT_STORAGE_MAX_VALUE;
    if (r < 6)
        return rnd_range(w, 40000, DORT_STORAGE_MAX_VALUE);
    if (r < 40)
        return rnd_range(w, 4000, 40000);
    if (r < 200)
        return rnd_range(w, 200, 4000);
    return rnd_range(w, 1, 200);
}

static char *key_token(writer_t *w, char kind, uint64_t ctr, unsigned i, unsigned n)
{
    char len[24] = "";
    size_t kl = pick_key_len(w);
    if (kl != 0)
        snprintf(len, sizeof len, "+%zu", kl);
    if (kind == 'b')
        return token("b%s.%" PRIu64 ".%u.%u%s", w->run, ctr, i, n, len);
    return token("%c%s.%" PRIu64 "%s", kind, w->run, ctr, len);
}

static char *value_token(writer_t *w, uint64_t ctr, unsigned i)
{
    return token("v%s.%" PRIu64 ".%u+%zu", w->run, ctr, i, pick_value_len(w));
}

static void op_free(op_t *op)
{
    for (unsigned i = 0; i < CRASH_BATCH_MAX; i++) {
        free(op->keys[i]);
        free(op->vals[i]);
    }
    free(op);
}

/* Chooses the next operation for `a` and writes its request body. */
static int build_op(writer_t *w, op_t *op, crash_buf_t *body, const char **path)
{
    wactor_t *a = op->a;
    uint64_t r = rnd(w) % 100;
    op->ctr = ++w->ctr;
    if (a->scratch && r >= 90) {
        op->kind = 'c';
        *path = "/clear";
        return crash_buf_printf(body, "%" PRIu64, op->ctr);
    }
    if (!a->scratch && r >= 80 && a->nlive > 0) {
        size_t idx = (size_t)(rnd(w) % a->nlive);
        op->kind = 'd';
        op->n = 1;
        op->keys[0] = a->live[idx];
        a->live[idx] = a->live[--a->nlive];
        *path = "/del";
        return crash_buf_printf(body, "%s %" PRIu64, op->keys[0], op->ctr);
    }
    int batch = r >= 55;
    op->kind = batch ? 'b' : 'p';
    op->n = batch ? (unsigned)rnd_range(w, 2, CRASH_BATCH_MAX) : 1;
    *path = batch ? "/batch" : "/put";
    for (unsigned i = 0; i < op->n; i++) {
        char kind = batch ? 'b' : (a->scratch ? 's' : 'k');
        op->keys[i] = key_token(w, kind, op->ctr, i, op->n);
        op->vals[i] = value_token(w, op->ctr, i);
        if (op->keys[i] == NULL || op->vals[i] == NULL ||
            crash_buf_printf(body, "%s %s\n", op->keys[i], op->vals[i]) != 0)
            return -1;
    }
    return 0;
}

static int on_done(dort_actor_t *self, void *data, int status, dort_response_t *res);

static void send_next(writer_t *w, wactor_t *a)
{
    op_t *op = calloc(1, sizeof *op);
    crash_buf_t body = {0};
    const char *path = NULL;
    dort_request_t *req = NULL;
    int rc = -1;
    if (op != NULL) {
        op->w = w;
        op->a = a;
        rc = build_op(w, op, &body, &path);
    }
    if (rc == 0)
        rc = dort_request_new(&req, "POST", path);
    if (rc == 0 && (rc = dort_request_set_body(req, body.ptr, body.len, DORT_BUF_COPY)) != 0)
        dort_request_free(req);
    /* dort_stub_fetch owns the request from here on, whatever it returns. */
    if (rc == 0)
        rc = dort_stub_fetch(&a->stub, NULL, req, on_done, op);
    crash_buf_release(&body);
    if (rc != 0) {
        fprintf(stderr, "crash_writer: error: cannot send to %s: %s\n", a->name,
                rc == -1 ? "out of memory" : dort_strerror(rc));
        if (op != NULL)
            op_free(op);
    }
}

/* Prints what the acknowledged operation made durable and remembers new
 * keys of regular actors as candidates for later deletes. */
static void record(op_t *op)
{
    wactor_t *a = op->a;
    if (op->kind == 'c') {
        printf("C %s %" PRIu64 "\n", a->name, op->ctr);
        op->w->acked++;
        return;
    }
    if (op->kind == 'd') {
        printf("D %s %s\n", a->name, op->keys[0]);
        op->w->acked++;
        return;
    }
    for (unsigned i = 0; i < op->n; i++) {
        printf("P %s %s %s\n", a->name, op->keys[i], op->vals[i]);
        op->w->acked++;
        if (a->scratch)
            continue;
        if (a->nlive == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 64;
            char **n = realloc(a->live, cap * sizeof *n);
            if (n == NULL)
                continue; /* the key just never gets deleted */
            a->live = n;
            a->cap = cap;
        }
        a->live[a->nlive++] = op->keys[i];
        op->keys[i] = NULL;
    }
}

static int on_done(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    op_t *op = data;
    writer_t *w = op->w;
    wactor_t *a = op->a;
    int http = res != NULL ? dort_response_status(res) : 0;
    if (status == 0 && http == 200)
        record(op);
    else
        fprintf(stderr, "crash_writer: error: op %c #%" PRIu64 " on %s failed: %s (http %d)\n",
                op->kind, op->ctr, a->name, status ? dort_strerror(status) : "-", http);
    /* One write per answer: a line is either wholly in the file when the
     * kill comes, or (as the last, partial line) ignored by the driver. */
    fflush(stdout);
    dort_response_free(res);
    op_free(op);
    if (w->rate_per_ms == 0) {
        send_next(w, a);
    } else {
        a->idle_slots++;
        if (!a->ready) {
            a->ready = 1;
            w->ready[w->nready++] = a;
        }
    }
    return 0;
}

/* Every few milliseconds, spends the budget the rate allows on random
 * actors, each sending all of its idle requests at once: so one group
 * commit carries several turns of the same actor (merged write sets, held
 * answers released in order), and commits keep going most of the time
 * without the data growing so fast that checking it all after every kill
 * becomes slow. */
static void pace_tick(uv_timer_t *t)
{
    writer_t *w = t->data;
    uint64_t now = uv_now(t->loop);
    w->budget += w->rate_per_ms * (double)(now - w->last_tick_ms);
    w->last_tick_ms = now;
    if (w->budget > w->rate_per_ms * 20)
        w->budget = w->rate_per_ms * 20; /* no catch-up storm after a stall */
    while (w->budget >= 1 && w->nready > 0) {
        unsigned j = (unsigned)(rnd(w) % w->nready);
        wactor_t *a = w->ready[j];
        w->ready[j] = w->ready[--w->nready];
        a->ready = 0;
        w->budget -= a->idle_slots;
        for (; a->idle_slots > 0; a->idle_slots--)
            send_next(w, a);
    }
}

/* A non-negative integer from the environment, or `def`. */
static long env_long(const char *name, long def, long max)
{
    const char *s = getenv(name);
    char *end = NULL;
    long v = s != NULL ? strtol(s, &end, 10) : 0;
    return (s != NULL && *s != '\0' && *end == '\0' && v >= 0 && v <= max) ? v : def;
}

static int run_write(const char *dir, uint64_t seed)
{
    static writer_t w;
    dort_rt_t *rt = NULL;
    dort_ns_t *ns = NULL;
    dort_rt_options_t o;
    dort_rt_options_init(&o);
    o.durability = DORT_DURABILITY_FULL;
    o.data_dir = dir;
    /* Start small so that runs also get killed around map growth. */
    o.map_size = (uint64_t)1 << 20;
    o.log_fn = dort_log_stderr;
    o.log_level = DORT_LOG_WARN;
    snprintf(w.run, sizeof w.run, "%" PRIx64, seed);
    w.rng = seed * 0x9e3779b97f4a7c15u + 1;
    int rc = dort_rt_new(&rt, &o);
    if (rc == 0)
        rc = dort_rt_register_class(rt, &crash_class);
    if (rc == 0)
        rc = dort_rt_bind_namespace(rt, CRASH_BINDING, CRASH_CLASS, NULL, &ns);
    if (rc == 0)
        rc = dort_rt_start(rt);
    for (int i = 0; rc == 0 && i < NACT; i++) {
        wactor_t *a = &w.actors[i];
        a->scratch = i >= CRASH_ACTORS;
        if (a->scratch)
            snprintf(a->name, sizeof a->name, "s%s.%d", w.run, i - CRASH_ACTORS);
        else
            snprintf(a->name, sizeof a->name, "a%03d", i);
        dort_id_t id;
        rc = dort_id_from_name(ns, a->name, strlen(a->name), &id);
        if (rc == 0)
            dort_stub_init(&a->stub, ns, &id);
    }
    if (rc != 0) {
        fprintf(stderr, "crash_writer: error: cannot start on %s: %s\n", dir, dort_strerror(rc));
        dort_rt_free(rt);
        return 1;
    }
    /* Requests each actor may have in flight, and requests per second in
     * all (0: no pacing, as fast as the runtime answers). */
    unsigned inflight = (unsigned)env_long("CRASH_INFLIGHT", 3, 64);
    w.rate_per_ms = (double)env_long("CRASH_RATE", 3000, 10000000) / 1000.0;
    if (inflight == 0)
        inflight = 1;
    if (w.rate_per_ms == 0) {
        for (unsigned k = 0; k < inflight; k++)
            for (int i = 0; i < NACT; i++)
                send_next(&w, &w.actors[i]);
    } else {
        for (int i = 0; i < NACT; i++) {
            w.actors[i].idle_slots = inflight;
            w.actors[i].ready = 1;
            w.ready[w.nready++] = &w.actors[i];
        }
        uv_timer_init(dort_rt_loop(rt), &w.tick);
        w.tick.data = &w;
        w.last_tick_ms = uv_now(dort_rt_loop(rt));
        w.budget = w.rate_per_ms * 4;
        uv_timer_start(&w.tick, pace_tick, 0, 4);
    }
    /* Runs until the driver's SIGKILL: nothing ever stops the runtime. */
    dort_rt_run(rt);
    return 1;
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
    if (argc == 4 && strcmp(argv[1], "write") == 0 && parse_seed(argv[3], &seed) == 0) {
        setvbuf(stdout, NULL, _IOFBF, 1 << 16);
        return run_write(argv[2], seed);
    }
    if (argc == 3 && strcmp(argv[1], "check") == 0)
        return crash_check(argv[2], stdin);
    fprintf(stderr, "usage: crash_writer write DIR SEED\n"
                    "       crash_writer check DIR < expectations\n");
    return 2;
}
