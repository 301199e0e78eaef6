/* th.c - see th.h. */
#include "th.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t completions;

char *th_mkdtemp(void)
{
    const char *tmp = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/dort-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(tmpl) == NULL)
        return NULL;
    return strdup(tmpl);
}

void th_rmdir(char *dir)
{
    if (dir == NULL)
        return;
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[4400];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

void th_options(dort_rt_options_t *o, const char *dir)
{
    dort_rt_options_init(o);
    o->durability = dir ? DORT_DURABILITY_FULL : DORT_DURABILITY_MEMORY;
    o->data_dir = dir;
    o->map_size = (uint64_t)64 << 20;
    if (getenv("DORT_TEST_LOG") != NULL) {
        o->log_fn = dort_log_stderr;
        o->log_level = DORT_LOG_DEBUG;
    }
}

dort_rt_t *th_start(const dort_rt_options_t *o, const dort_class_t *const *classes)
{
    dort_rt_t *rt = NULL;
    if (dort_rt_new(&rt, o) != 0)
        return NULL;
    for (size_t i = 0; classes != NULL && classes[i] != NULL; i++) {
        if (dort_rt_register_class(rt, classes[i]) != 0 ||
            dort_rt_bind_namespace(rt, classes[i]->name, classes[i]->name, NULL, NULL) != 0) {
            dort_rt_free(rt);
            return NULL;
        }
    }
    if (dort_rt_start(rt) != 0) {
        dort_rt_free(rt);
        return NULL;
    }
    return rt;
}

static void on_stopped(dort_rt_t *rt, void *data)
{
    (void)rt;
    *(int *)data = 1;
}

static int flag_set(void *data)
{
    return *(int *)data;
}

void th_stop(dort_rt_t *rt)
{
    if (rt == NULL)
        return;
    int stopped = 0;
    if (dort_rt_stop(rt, on_stopped, &stopped) == 0)
        th_run_until(rt, flag_set, &stopped, 30000);
    dort_rt_free(rt);
}

static void on_deadline(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

int th_run_until(dort_rt_t *rt, int (*cond)(void *data), void *data, int timeout_ms)
{
    uv_loop_t *loop = dort_rt_loop(rt);
    uv_timer_t timer;
    int expired = 0;
    uv_timer_init(loop, &timer);
    timer.data = &expired;
    uv_timer_start(&timer, on_deadline, (uint64_t)timeout_ms, 0);
    int ok = cond(data);
    while (!ok && !expired) {
        uv_run(loop, UV_RUN_ONCE);
        ok = cond(data);
    }
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static int never(void *data)
{
    (void)data;
    return 0;
}

void th_run_for(dort_rt_t *rt, int ms)
{
    th_run_until(rt, never, NULL, ms);
}

static int on_answer(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)self;
    th_result_t *r = data;
    r->status = status;
    if (res != NULL) {
        r->http_status = dort_response_status(res);
        dort_slice_t b = dort_response_body(res);
        r->body_len = b.len < sizeof r->body - 1 ? b.len : sizeof r->body - 1;
        if (b.len)
            memcpy(r->body, b.ptr, r->body_len);
        r->body[r->body_len] = '\0';
        dort_response_free(res);
    }
    r->order = ++completions;
    r->done = 1;
    /* An answer can land in the prepare phase, just before the loop would
     * sleep in poll until the next timer: make that iteration not sleep. */
    if (r->loop != NULL)
        uv_stop(r->loop);
    return 0;
}

int th_send(dort_rt_t *rt, const char *binding, const char *name, const char *method,
            const char *path, const char *body, th_result_t *r)
{
    memset(r, 0, sizeof *r);
    dort_ns_t *ns = dort_rt_namespace(rt, binding);
    if (ns == NULL)
        return DORT_ENONS;
    dort_id_t id;
    int rc = dort_id_from_name(ns, name, strlen(name), &id);
    if (rc != 0)
        return rc;
    dort_request_t *req;
    rc = dort_request_new(&req, method, path);
    if (rc != 0)
        return rc;
    if (body != NULL && (rc = dort_request_set_body(req, body, strlen(body), DORT_BUF_COPY)) != 0) {
        dort_request_free(req);
        return rc;
    }
    dort_stub_t stub;
    dort_stub_init(&stub, ns, &id);
    r->loop = dort_rt_loop(rt);
    return dort_stub_fetch(&stub, NULL, req, on_answer, r);
}

static int result_done(void *data)
{
    return ((th_result_t *)data)->done;
}

int th_fetch(dort_rt_t *rt, const char *binding, const char *name, const char *method,
             const char *path, const char *body, th_result_t *r)
{
    int rc = th_send(rt, binding, name, method, path, body, r);
    if (rc != 0)
        return rc;
    if (!th_run_until(rt, result_done, r, 10000))
        return DORT_ETIMEDOUT;
    return r->status;
}

int th_path_is(const dort_call_t *call, const char *path)
{
    dort_slice_t p = dort_request_path(dort_call_request(call));
    return p.len == strlen(path) && memcmp(p.ptr, path, p.len) == 0;
}

size_t th_body(const dort_call_t *call, char *buf, size_t cap)
{
    dort_slice_t b = dort_request_body(dort_call_request(call));
    size_t n = b.len < cap - 1 ? b.len : cap - 1;
    if (n)
        memcpy(buf, b.ptr, n);
    buf[n] = '\0';
    return n;
}
