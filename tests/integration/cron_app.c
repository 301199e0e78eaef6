/* cron_app.c - a worker with a scheduled handler, for tests/integration/
 * test_scheduled.py. Each run is written to actor CronLog "log", and read
 * back over HTTP, so a test sees that the handler ran and what it was given:
 *
 *   scheduled        POSTs "<cron>\n<scheduled ms>" to CronLog "log" and
 *                    finishes when that write is committed; the trigger
 *                    "59 23 31 12 *" fails instead, without writing
 *   GET /health      "ok"
 *   GET /cron/log    {"runs":N,"cron":"...","time":T} of the last run
 *
 * Config: workers {fetch, scheduled} = "crontest", binding CRONLOG ->
 * class CronLog. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron_app.h"

#define FAILING_CRON "59 23 31 12 *"

/* ---- the actor: runs, last cron, last time ---- */

static long get_long(dort_actor_t *self, const char *key)
{
    dort_slice_t v;
    char buf[32] = {0};
    if (dort_storage_get(self, key, strlen(key), &v) != 0)
        return 0;
    memcpy(buf, v.ptr, v.len < sizeof buf - 1 ? v.len : sizeof buf - 1);
    return strtol(buf, NULL, 10);
}

static int record(dort_actor_t *self, dort_call_t *call)
{
    dort_slice_t body = dort_request_body(dort_call_request(call));
    const char *nl = memchr(body.ptr, '\n', body.len);
    if (nl == NULL)
        return dort_call_respond_body(call, 400, "text/plain", "bad record", 10);
    size_t cron_len = (size_t)(nl - body.ptr);
    char runs[32];
    int n = snprintf(runs, sizeof runs, "%ld", get_long(self, "runs") + 1);
    int rc = dort_storage_put(self, "runs", 4, runs, (size_t)n);
    if (rc == 0)
        rc = dort_storage_put(self, "cron", 4, body.ptr, cron_len);
    if (rc == 0)
        rc = dort_storage_put(self, "time", 4, nl + 1, body.len - cron_len - 1);
    return rc != 0 ? rc : dort_call_respond_body(call, 200, "text/plain", "ok", 2);
}

static int cron_log_fetch(dort_actor_t *self, dort_call_t *call)
{
    dort_slice_t m = dort_request_method(dort_call_request(call));
    if (m.len == 4 && memcmp(m.ptr, "POST", 4) == 0)
        return record(self, call);
    dort_slice_t cron = {"", 0};
    dort_storage_get(self, "cron", 4, &cron);
    char out[512];
    /* Cron expressions hold no quotes or backslashes (the parser refuses
     * them), so the text goes into the JSON as it is. */
    int n = snprintf(out, sizeof out, "{\"runs\":%ld,\"cron\":\"%.*s\",\"time\":%ld}",
                     get_long(self, "runs"), (int)(cron.len < 400 ? cron.len : 400), cron.ptr,
                     get_long(self, "time"));
    return dort_call_respond_body(call, 200, "application/json", out, (size_t)n);
}

const dort_class_t cron_log_class = {.name = "CronLog", .fetch = cron_log_fetch};

/* ---- the worker ---- */

static int log_stub(dort_rt_t *rt, dort_stub_t *stub)
{
    dort_ns_t *ns = dort_rt_namespace(rt, "CRONLOG");
    if (ns == NULL)
        return DORT_ENONS;
    dort_id_t id;
    int rc = dort_id_from_name(ns, "log", 3, &id);
    if (rc == 0)
        dort_stub_init(stub, ns, &id);
    return rc;
}

static int on_logged(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)self;
    int ok = status == 0 && dort_response_status(res) == 200;
    dort_response_free(res);
    dort_scheduled_finish(data, ok ? 0 : (status != 0 ? status : -1));
    return 0;
}

static int crontest_scheduled(dort_scheduled_event_t *ev)
{
    const char *cron = dort_scheduled_cron(ev);
    if (strcmp(cron, FAILING_CRON) == 0)
        return -1;
    dort_stub_t stub;
    int rc = log_stub(dort_scheduled_rt(ev), &stub);
    if (rc != 0)
        return rc;
    char body[512];
    int n = snprintf(body, sizeof body, "%s\n%" PRId64, cron, dort_scheduled_time(ev));
    dort_request_t *req;
    if ((rc = dort_request_new(&req, "POST", "/record")) != 0)
        return rc;
    if ((rc = dort_request_set_body(req, body, (size_t)n, DORT_BUF_COPY)) != 0) {
        dort_request_free(req);
        return rc;
    }
    rc = dort_stub_fetch(&stub, NULL, req, on_logged, ev);
    return rc != 0 ? rc : DORT_EPENDING;
}

static int crontest_fetch(dort_exchange_t *ex)
{
    dort_slice_t p = dort_request_path(dort_exchange_request(ex));
    if (p.len == 7 && memcmp(p.ptr, "/health", 7) == 0)
        return dort_exchange_respond_body(ex, 200, "text/plain", "ok", 2);
    if (p.len != 9 || memcmp(p.ptr, "/cron/log", 9) != 0)
        return dort_exchange_respond_error(ex, 404, "not_found", "no such route");
    dort_stub_t stub;
    int rc = log_stub(dort_exchange_rt(ex), &stub);
    if (rc != 0)
        return rc;
    return dort_exchange_forward(ex, &stub);
}

const dort_worker_class_t crontest_worker = {
    .name = "crontest",
    .fetch = crontest_fetch,
    .scheduled = crontest_scheduled,
};
