/* crash_check.c - check mode: after any number of killed write runs, is
 * every acknowledged write still there, and is nothing half-applied?
 *
 * The expectation lines (stdin) are folded into one record per key, the last
 * line winning. Then, actor by actor, two kinds of request go through the
 * runtime: /get for every expected key and its delete marker (point reads),
 * and /list for everything the actor holds (a scan). The verdicts:
 *
 * - last line P: the key holds exactly that value. It may be absent only if
 *   its delete marker is present (a delete the writer sent but whose answer
 *   the kill swallowed) or, in a scratch actor, if a durable delete_all came
 *   after it. Anything else absent is *missing*: a lost acknowledged write.
 * - last line D: the key is absent and its marker present.
 * - C <ctr>: the actor's #clear marker is at least <ctr>.
 * - every listed entry is well-formed: key bytes and value bytes are the
 *   exact expansions of their tokens, the value belongs to the key;
 * - atomicity of turns, acknowledged or not: no key beside its own delete
 *   marker, every batch complete or absent, nothing in a scratch actor older
 *   than its last delete_all;
 * - /get and /list agree on every expected key.
 * A failure of any of these besides *missing* counts as *wrong*. */
#include "crash_check.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define GET_CHUNK 256
#define REPORT_MAX 40
#define TIMEOUT_MS 60000

void checker_problem(checker_t *c, uint64_t *counter, const char *fmt, ...)
{
    (*counter)++;
    if (c->reported++ >= REPORT_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("check: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- the loop ---- */

typedef struct req_s {
    uv_loop_t *loop;
    uint32_t *pending;
    int status;
    dort_response_t *res;
} req_t;

static int on_answer(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    req_t *r = data;
    r->status = status;
    r->res = res;
    /* The answer arrives from the runtime's prepare or check callback: stop
     * the loop, or uv_run would block in poll until some timer fires. */
    if (--*r->pending == 0)
        uv_stop(r->loop);
    return 0;
}

static int send_req(dort_stub_t *stub, const char *method, const char *path,
                    const crash_buf_t *body, req_t *r)
{
    dort_request_t *req;
    int rc = dort_request_new(&req, method, path);
    if (rc == 0 && body != NULL &&
        (rc = dort_request_set_body(req, body->ptr, body->len, DORT_BUF_COPY)) != 0)
        dort_request_free(req);
    if (rc == 0)
        rc = dort_stub_fetch(stub, NULL, req, on_answer, r);
    if (rc == 0)
        (*r->pending)++;
    return rc;
}

static void on_deadline(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

static int run_until_zero(dort_rt_t *rt, const uint32_t *pending)
{
    uv_loop_t *loop = dort_rt_loop(rt);
    uv_timer_t timer;
    int expired = 0;
    uv_timer_init(loop, &timer);
    timer.data = &expired;
    uv_timer_start(&timer, on_deadline, TIMEOUT_MS, 0);
    while (*pending != 0 && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *pending == 0 ? 0 : -1;
}

/* ---- /get answers ---- */

static int read_dec(const char **p, const char *end, char stop, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    if (s == end || *s < '0' || *s > '9')
        return -1;
    while (s < end && *s >= '0' && *s <= '9' && v < UINT64_MAX / 10)
        v = v * 10 + (uint64_t)(*s++ - '0');
    if (s == end || *s != stop)
        return -1;
    *p = s + 1;
    *out = v;
    return 0;
}

/* One item of a /get answer: "-\n" or "=<len>\n<bytes>\n". */
static int read_item(const char **p, const char *end, int *present, dort_slice_t *bytes)
{
    uint64_t len;
    if (end - *p >= 2 && (*p)[0] == '-' && (*p)[1] == '\n') {
        *present = 0;
        *p += 2;
        return 0;
    }
    if (*p == end || **p != '=')
        return -1;
    (*p)++;
    if (read_dec(p, end, '\n', &len) != 0 || (uint64_t)(end - *p) < len + 1 || (*p)[len] != '\n')
        return -1;
    *present = 1;
    bytes->ptr = *p;
    bytes->len = (size_t)len;
    *p += len + 1;
    return 0;
}

/* #clear's value: a decimal counter, nothing else. */
static int parse_clear_value(dort_slice_t v, uint64_t *out)
{
    char buf[32];
    const char *p = buf;
    if (v.len == 0 || v.len >= sizeof buf - 1)
        return -1;
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = '\n';
    return read_dec(&p, buf + v.len + 1, '\n', out);
}

static int value_is(checker_t *c, const ckey_t *k, dort_slice_t got)
{
    size_t len = crash_expand_len(k->val, k->val_len);
    if (len != got.len)
        return 0;
    crash_expand(k->val, k->val_len, c->xbuf);
    return memcmp(c->xbuf, got.ptr, len) == 0;
}

static int parse_get(checker_t *c, cactor_t *a, uint32_t first, uint32_t count, int with_clear,
                     dort_slice_t body)
{
    const char *p = body.ptr, *end = body.ptr + body.len;
    dort_slice_t v;
    int present;
    if (with_clear) {
        if (read_item(&p, end, &present, &v) != 0)
            return -1;
        a->clear_db = 0;
        if (present && parse_clear_value(v, &a->clear_db) != 0)
            checker_problem(c, &c->wrong, "%s: #clear holds %.*s", a->name, (int)v.len, v.ptr);
    }
    for (uint32_t i = first; i < first + count; i++) {
        ckey_t *k = &c->keys[a->keys[i]];
        if (read_item(&p, end, &present, &v) != 0)
            return -1;
        k->got = !present ? 0 : (k->state == 'P' && value_is(c, k, v)) ? 1 : 2;
        if (a->scratch)
            continue;
        if (read_item(&p, end, &present, &v) != 0)
            return -1;
        k->marker = (uint8_t)present;
    }
    return p == end ? 0 : -1;
}

static int build_get(const checker_t *c, const cactor_t *a, uint32_t first, uint32_t count,
                     int with_clear, crash_buf_t *b)
{
    int rc = with_clear ? crash_buf_add(b, "#clear\n", 7) : 0;
    for (uint32_t i = first; rc == 0 && i < first + count; i++) {
        const ckey_t *k = &c->keys[a->keys[i]];
        rc = crash_buf_add(b, k->key, k->key_len);
        if (rc == 0)
            rc = crash_buf_add(b, "\n", 1);
        if (rc == 0 && !a->scratch)
            rc = crash_buf_printf(b, "~%.*s\n", (int)k->base_len, k->key);
    }
    return rc;
}

/* ---- verdicts on expected keys ---- */

static void judge_key(checker_t *c, const cactor_t *a, const ckey_t *k, const listing_t *ls)
{
    int in_list = listing_has(ls, k->key, k->base_len);
    int cleared = a->scratch && k->ctr < a->clear_db;
    const char *name = a->name;
    int kl = (int)k->key_len;
    if ((k->got != 0) != in_list)
        checker_problem(c, &c->wrong, "%s %.*s: /get says %s, /list says %s", name, kl, k->key,
                        k->got ? "present" : "absent", in_list ? "present" : "absent");
    if (k->state == 'P') {
        if (k->got == 1 && !k->marker && !cleared)
            return;
        if (k->got == 0 && k->marker) {
            c->unacked_deletes++;
            return;
        }
        if (k->got == 0 && cleared)
            return;
        if (k->got == 0)
            checker_problem(c, &c->missing, "MISSING %s %.*s (acknowledged with %.*s)", name, kl,
                            k->key, (int)k->val_len, k->val);
        else if (k->got == 2)
            checker_problem(c, &c->wrong, "WRONG %s %.*s: value is not %.*s", name, kl, k->key,
                            (int)k->val_len, k->val);
        else
            checker_problem(c, &c->wrong, "WRONG %s %.*s: present although %s", name, kl, k->key,
                            k->marker ? "its delete marker is too"
                                      : "a later delete_all is durable");
        return;
    }
    if (k->got == 0 && (k->marker || cleared))
        return;
    if (k->got != 0)
        checker_problem(c, &c->wrong, "WRONG %s %.*s: acknowledged delete, key still present", name,
                        kl, k->key);
    else
        checker_problem(c, &c->missing,
                        "MISSING %s ~%.*s: acknowledged delete, its marker is absent", name,
                        (int)k->base_len, k->key);
}

static void judge_actor(checker_t *c, cactor_t *a, const listing_t *ls)
{
    for (uint32_t i = 0; i < a->nkeys; i++)
        judge_key(c, a, &c->keys[a->keys[i]], ls);
    if (!a->scratch)
        return;
    if (ls->clear != a->clear_db)
        checker_problem(c, &c->wrong, "%s: /get says #clear=%" PRIu64 ", /list says %" PRIu64,
                        a->name, a->clear_db, ls->clear);
    if (a->clear_acked > a->clear_db)
        checker_problem(c, &c->missing,
                        "MISSING %s: delete_all %" PRIu64 " acknowledged, #clear is %" PRIu64,
                        a->name, a->clear_acked, a->clear_db);
    else if (a->clear_db > a->clear_acked)
        c->unacked_clears++;
    for (size_t i = 0; i < ls->nctrs; i++)
        if (ls->ctrs[i] < a->clear_db)
            checker_problem(c, &c->wrong,
                            "WRONG %s: a key of request %" PRIu64 " survived delete_all %" PRIu64,
                            a->name, ls->ctrs[i], a->clear_db);
}

/* ---- one actor ---- */

/* An answer's body; never a NULL pointer, even when empty. */
static dort_slice_t body_of(const req_t *r)
{
    dort_slice_t b = dort_response_body(r->res);
    if (b.ptr == NULL)
        b.ptr = "";
    return b;
}

static int answer_ok(checker_t *c, const cactor_t *a, const req_t *r)
{
    if (r->status == 0 && r->res != NULL && dort_response_status(r->res) == 200)
        return 0;
    fprintf(stderr, "check: request to %s failed: %s (http %d)\n", a->name,
            r->status ? dort_strerror(r->status) : "-",
            r->res != NULL ? dort_response_status(r->res) : 0);
    return -1;
}

/* Sends /get chunks and one /list, runs the loop until all are answered. */
static int query_actor(checker_t *c, cactor_t *a, req_t *reqs, uint32_t nget, uint32_t *pending)
{
    dort_stub_t stub;
    dort_id_t id;
    int rc = dort_id_from_name(c->ns, a->name, strlen(a->name), &id);
    if (rc != 0)
        return rc;
    dort_stub_init(&stub, c->ns, &id);
    for (uint32_t i = 0; rc == 0 && i <= nget; i++) {
        reqs[i].pending = pending;
        reqs[i].loop = dort_rt_loop(c->rt);
        if (i == nget) {
            rc = send_req(&stub, "GET", "/list", NULL, &reqs[i]);
            break;
        }
        crash_buf_t body = {0};
        uint32_t first = i * GET_CHUNK;
        uint32_t count = a->nkeys - first < GET_CHUNK ? a->nkeys - first : GET_CHUNK;
        rc = build_get(c, a, first, count, a->scratch && i == 0, &body);
        if (rc == 0)
            rc = send_req(&stub, "POST", "/get", &body, &reqs[i]);
        crash_buf_release(&body);
    }
    if (rc != 0)
        fprintf(stderr, "check: cannot send to %s: %s\n", a->name, dort_strerror(rc));
    /* Even after a send error, wait for what was sent: its callbacks point
     * into reqs. */
    if (run_until_zero(c->rt, pending) != 0) {
        fprintf(stderr, "check: %s did not answer in %d ms\n", a->name, TIMEOUT_MS);
        exit(2);
    }
    return rc;
}

static int check_actor(checker_t *c, uint32_t idx)
{
    cactor_t *a = &c->actors[idx];
    uint32_t nget = (a->nkeys + GET_CHUNK - 1) / GET_CHUNK;
    if (a->scratch && nget == 0)
        nget = 1; /* #clear must be read even without keys */
    req_t *reqs = calloc(nget + 1, sizeof *reqs);
    uint32_t pending = 0;
    listing_t ls;
    memset(&ls, 0, sizeof ls);
    int rc = reqs != NULL ? query_actor(c, a, reqs, nget, &pending) : -1;
    for (uint32_t i = 0; rc == 0 && i <= nget; i++)
        rc = answer_ok(c, a, &reqs[i]);
    for (uint32_t i = 0; rc == 0 && i < nget; i++) {
        uint32_t first = i * GET_CHUNK;
        uint32_t count = a->nkeys - first < GET_CHUNK ? a->nkeys - first : GET_CHUNK;
        rc = parse_get(c, a, first, count, a->scratch && i == 0, body_of(&reqs[i]));
        if (rc != 0)
            fprintf(stderr, "check: malformed /get answer from %s\n", a->name);
    }
    if (rc == 0)
        rc = listing_parse(c, a, idx, body_of(&reqs[nget]), &ls);
    if (rc == 0)
        judge_actor(c, a, &ls);
    listing_release(&ls);
    for (uint32_t i = 0; reqs != NULL && i <= nget; i++)
        dort_response_free(reqs[i].res);
    free(reqs);
    return rc;
}

/* ---- the runtime ---- */

static void on_stopped(dort_rt_t *rt, void *data)
{
    *(int *)data = 1;
}

static int verify(checker_t *c, const char *dir)
{
    dort_rt_t *rt = NULL;
    dort_rt_options_t o;
    dort_rt_options_init(&o);
    o.durability = DORT_DURABILITY_FULL;
    o.data_dir = dir;
    o.log_fn = dort_log_stderr;
    o.log_level = DORT_LOG_WARN;
    int rc = dort_rt_new(&rt, &o);
    if (rc == 0)
        rc = dort_rt_register_class(rt, &crash_class);
    if (rc == 0)
        rc = dort_rt_bind_namespace(rt, CRASH_BINDING, CRASH_CLASS, NULL, &c->ns);
    if (rc == 0)
        rc = dort_rt_start(rt);
    if (rc != 0) {
        fprintf(stderr, "check: cannot start a runtime on %s: %s\n", dir, dort_strerror(rc));
        dort_rt_free(rt);
        return -1;
    }
    c->rt = rt;
    for (uint32_t i = 0; rc == 0 && i < c->nactors; i++)
        rc = check_actor(c, i);
    int stopped = 0;
    if (dort_rt_stop(rt, on_stopped, &stopped) == 0)
        while (!stopped && uv_run(dort_rt_loop(rt), UV_RUN_ONCE) != 0)
            ;
    if (!stopped) {
        fprintf(stderr, "check: the runtime did not stop\n");
        return -1;
    }
    dort_rt_free(rt);
    c->rt = NULL;
    return rc;
}

int crash_check(const char *dir, FILE *in)
{
    checker_t c;
    int rc = checker_init(&c);
    if (rc == 0)
        rc = checker_read(&c, in);
    if (rc != 0)
        rc = 2;
    if (rc == 0 && crash_lmdb_walk(dir, c.nkeys > 0 || c.nclears > 0) != 0) {
        printf("lmdb: %s/data.mdb is not clean\n", dir);
        rc = 1;
    }
    if (rc == 0 && verify(&c, dir) != 0)
        rc = 2;
    if (rc == 0) {
        printf("listed %" PRIu64 " entries in %u actors: %" PRIu64 " durable but unacknowledged "
               "keys, %" PRIu64 " unacknowledged deletes and %" PRIu64
               " unacknowledged delete_alls found applied\n",
               c.listed, c.nactors, c.extra, c.unacked_deletes, c.unacked_clears);
        printf("checked %u keys, %" PRIu64 " missing, %" PRIu64 " wrong\n", c.nkeys, c.missing,
               c.wrong);
        rc = c.missing || c.wrong ? 1 : 0;
    }
    fflush(stdout);
    checker_release(&c);
    return rc;
}
