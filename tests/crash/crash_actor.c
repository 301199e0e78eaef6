/* crash_actor.c - the CrashKV actor class: it turns the words of a request
 * into storage calls (see crash.h for the protocol). It keeps no in-memory
 * state, so eviction and restarts change nothing about what it answers. */
#include "crash.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A token's expansion in a heap buffer. */
typedef struct exp_s {
    char *ptr;
    size_t len;
} exp_t;

static int expand_word(dort_slice_t w, exp_t *e)
{
    e->len = crash_expand_len(w.ptr, w.len);
    e->ptr = e->len ? malloc(e->len) : NULL;
    if (e->ptr == NULL)
        return -1;
    crash_expand(w.ptr, w.len, e->ptr);
    return 0;
}

static int path_is(dort_slice_t path, const char *want)
{
    return path.len == strlen(want) && memcmp(path.ptr, want, path.len) == 0;
}

static int bad_request(dort_call_t *call, const char *why)
{
    return dort_call_respond_body(call, 400, "text/plain", why, strlen(why));
}

static int ok(dort_call_t *call)
{
    return dort_call_respond_body(call, 200, "text/plain", "ok", 2);
}

static int do_put(dort_actor_t *self, dort_call_t *call, dort_slice_t body)
{
    dort_slice_t kw, vw;
    exp_t k = {0}, v = {0};
    if (crash_next_word(&body, &kw) != 0 || crash_next_word(&body, &vw) != 0)
        return bad_request(call, "put: want KEY VALUE");
    int rc = -1;
    if (expand_word(kw, &k) == 0 && expand_word(vw, &v) == 0)
        rc = dort_storage_put(self, k.ptr, k.len, v.ptr, v.len);
    free(k.ptr);
    free(v.ptr);
    return rc == 0 ? ok(call) : rc;
}

static int do_batch(dort_actor_t *self, dort_call_t *call, dort_slice_t body)
{
    exp_t e[2 * CRASH_BATCH_MAX] = {{0}};
    dort_kv_t kvs[CRASH_BATCH_MAX];
    size_t n = 0, nexp = 0;
    int rc = 0;
    dort_slice_t kw, vw;
    while (rc == 0 && crash_next_word(&body, &kw) == 0) {
        if (n == CRASH_BATCH_MAX || crash_next_word(&body, &vw) != 0) {
            rc = 1;
            break;
        }
        if (expand_word(kw, &e[nexp]) != 0 || expand_word(vw, &e[nexp + 1]) != 0) {
            rc = -1;
            nexp += 2;
            break;
        }
        kvs[n] = (dort_kv_t){e[nexp].ptr, e[nexp].len, e[nexp + 1].ptr, e[nexp + 1].len};
        nexp += 2;
        n++;
    }
    if (rc == 0 && n == 0)
        rc = 1;
    if (rc == 0)
        rc = dort_storage_put_batch(self, kvs, n);
    for (size_t i = 0; i < nexp; i++)
        free(e[i].ptr);
    if (rc == 1)
        return bad_request(call, "batch: want 1..10 KEY VALUE pairs");
    return rc == 0 ? ok(call) : rc;
}

/* The key and its marker go in one turn: after a crash the checker finds
 * either both effects or neither. */
static int do_delete(dort_actor_t *self, dort_call_t *call, dort_slice_t body)
{
    dort_slice_t kw, cw;
    crash_tok_t t;
    if (crash_next_word(&body, &kw) != 0 || crash_next_word(&body, &cw) != 0 ||
        crash_tok_parse(kw.ptr, kw.len, &t) != 0 || t.kind == '~' || t.kind == '#')
        return bad_request(call, "del: want KEY CTR");
    exp_t k = {0};
    char marker[64];
    if (t.base_len + 1 >= sizeof marker)
        return bad_request(call, "del: key token too long");
    marker[0] = '~';
    memcpy(marker + 1, kw.ptr, t.base_len);
    int rc = expand_word(kw, &k);
    if (rc == 0)
        rc = dort_storage_delete(self, k.ptr, k.len, NULL);
    if (rc == 0)
        rc = dort_storage_put(self, marker, t.base_len + 1, cw.ptr, cw.len);
    free(k.ptr);
    return rc == 0 ? ok(call) : rc;
}

static int do_clear(dort_actor_t *self, dort_call_t *call, dort_slice_t body)
{
    dort_slice_t cw;
    if (crash_next_word(&body, &cw) != 0)
        return bad_request(call, "clear: want CTR");
    int rc = dort_storage_delete_all(self);
    if (rc == 0)
        rc = dort_storage_put(self, "#clear", 6, cw.ptr, cw.len);
    return rc == 0 ? ok(call) : rc;
}

static int do_get(dort_actor_t *self, dort_call_t *call, dort_slice_t body)
{
    crash_buf_t out = {0};
    dort_slice_t w;
    int rc = 0;
    while (rc == 0 && crash_next_word(&body, &w) == 0) {
        exp_t k = {0};
        dort_slice_t v;
        if (expand_word(w, &k) != 0) {
            rc = 1;
            break;
        }
        rc = dort_storage_get(self, k.ptr, k.len, &v);
        free(k.ptr);
        if (rc == DORT_ENOENT) {
            rc = crash_buf_add(&out, "-\n", 2);
        } else if (rc == 0) {
            rc = crash_buf_printf(&out, "=%zu\n", v.len);
            if (rc == 0)
                rc = crash_buf_add(&out, v.ptr, v.len);
            if (rc == 0)
                rc = crash_buf_add(&out, "\n", 1);
        }
    }
    if (rc == 0)
        rc = dort_call_respond_body(call, 200, NULL, out.ptr, out.len);
    else if (rc == 1)
        rc = bad_request(call, "get: bad token");
    crash_buf_release(&out);
    return rc;
}

typedef struct list_out_s {
    crash_buf_t buf;
    int failed;
} list_out_t;

static int list_entry(void *data, dort_slice_t key, dort_slice_t value)
{
    list_out_t *out = data;
    size_t head = value.len < CRASH_LIST_HEAD ? value.len : CRASH_LIST_HEAD;
    if (crash_buf_printf(&out->buf, "%zu %zu %016" PRIx64 " %zu\n", key.len, value.len,
                         crash_hash64(value.ptr, value.len), head) != 0 ||
        crash_buf_add(&out->buf, key.ptr, key.len) != 0 ||
        crash_buf_add(&out->buf, value.ptr, head) != 0 || crash_buf_add(&out->buf, "\n", 1) != 0)
        out->failed = 1;
    return out->failed;
}

static int do_list(dort_actor_t *self, dort_call_t *call)
{
    list_out_t out = {{0}, 0};
    dort_list_options_t o;
    dort_list_options_init(&o);
    int rc = dort_storage_list(self, &o, list_entry, &out);
    /* A listing cut short by out-of-memory would look like lost data: fail
     * the turn instead of answering with it. */
    if (rc == 0 && out.failed)
        rc = DORT_ENOMEM;
    if (rc == 0)
        rc = dort_call_respond_body(call, 200, NULL, out.buf.ptr, out.buf.len);
    crash_buf_release(&out.buf);
    return rc;
}

static int crash_fetch(dort_actor_t *self, dort_call_t *call)
{
    const dort_request_t *req = dort_call_request(call);
    dort_slice_t path = dort_request_path(req);
    dort_slice_t body = dort_request_body(req);
    if (path_is(path, "/put"))
        return do_put(self, call, body);
    if (path_is(path, "/batch"))
        return do_batch(self, call, body);
    if (path_is(path, "/del"))
        return do_delete(self, call, body);
    if (path_is(path, "/clear"))
        return do_clear(self, call, body);
    if (path_is(path, "/get"))
        return do_get(self, call, body);
    if (path_is(path, "/list"))
        return do_list(self, call);
    return dort_call_respond_body(call, 404, "text/plain", "no such path", 12);
}

const dort_class_t crash_class = {
    .name = CRASH_CLASS,
    .fetch = crash_fetch,
};
