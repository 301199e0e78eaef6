/* kv_actor.c - see kv_actor.h. */
#include "kv_actor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "th.h"

int th_kv_inits, th_kv_evicts, th_kv_alarms, th_kv_alarm_fail;
uint32_t th_kv_last_retry;
int64_t th_kv_last_alarm_ms;

typedef struct out_s {
    char buf[8192];
    size_t len;
} out_t;

static void emit(out_t *o, const char *s, size_t n)
{
    if (o->len + n + 1 >= sizeof o->buf)
        return;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len++] = '\n';
}

static void emits(out_t *o, const char *s)
{
    emit(o, s, strlen(s));
}

static void emit_rc(out_t *o, int rc)
{
    char line[128];
    snprintf(line, sizeof line, "ERR %s", dort_err_name(rc));
    emits(o, line);
}

static int list_cb(void *data, dort_slice_t k, dort_slice_t v)
{
    out_t *o = data;
    char line[8192];
    int n = snprintf(line, sizeof line, "%.*s=%.*s", (int)k.len, k.ptr, (int)v.len, v.ptr);
    emit(o, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    return 0;
}

static int run_list(dort_actor_t *self, char **save, out_t *o)
{
    dort_list_options_t lo;
    dort_list_options_init(&lo);
    char *w;
    while ((w = strtok_r(NULL, " ", save)) != NULL) {
        char *arg = NULL;
        if (strcmp(w, "reverse") == 0) {
            lo.reverse = 1;
            continue;
        }
        arg = strtok_r(NULL, " ", save);
        if (arg == NULL)
            break;
        if (strcmp(w, "prefix") == 0) {
            lo.prefix = arg;
            lo.prefix_len = strlen(arg);
        } else if (strcmp(w, "start") == 0) {
            lo.start = arg;
            lo.start_len = strlen(arg);
        } else if (strcmp(w, "after") == 0) {
            lo.start_after = arg;
            lo.start_after_len = strlen(arg);
        } else if (strcmp(w, "end") == 0) {
            lo.end = arg;
            lo.end_len = strlen(arg);
        } else if (strcmp(w, "limit") == 0) {
            lo.limit = (size_t)atoi(arg);
        }
    }
    return dort_storage_list(self, &lo, list_cb, o);
}

static int run_line(dort_actor_t *self, char *line, out_t *o)
{
    char *save = NULL;
    char *op = strtok_r(line, " ", &save);
    char *a1 = NULL, *a2 = NULL;
    int rc = 0;
    if (op == NULL)
        return 0;
    if (strcmp(op, "list") == 0) {
        rc = run_list(self, &save, o);
        goto done;
    }
    a1 = strtok_r(NULL, " ", &save);
    a2 = strtok_r(NULL, " ", &save);
    if (strcmp(op, "put") == 0 && a1 && a2) {
        rc = dort_storage_put(self, a1, strlen(a1), a2, strlen(a2));
    } else if (strcmp(op, "get") == 0 && a1) {
        dort_slice_t v;
        rc = dort_storage_get(self, a1, strlen(a1), &v);
        if (rc == DORT_ENOENT) {
            emits(o, "(none)");
            rc = 0;
        } else if (rc == 0) {
            emit(o, v.ptr, v.len);
        }
    } else if (strcmp(op, "del") == 0 && a1) {
        int existed = 0;
        rc = dort_storage_delete(self, a1, strlen(a1), &existed);
        if (rc == 0)
            emits(o, existed ? "deleted" : "absent");
    } else if (strcmp(op, "delall") == 0) {
        rc = dort_storage_delete_all(self);
    } else if (strcmp(op, "begin") == 0) {
        rc = dort_storage_txn_begin(self);
    } else if (strcmp(op, "commit") == 0) {
        rc = dort_storage_txn_commit(self);
    } else if (strcmp(op, "rollback") == 0) {
        rc = dort_storage_txn_rollback(self);
    } else if (strcmp(op, "setalarm") == 0 && a1) {
        rc = dort_storage_set_alarm(self, strtoll(a1, NULL, 10));
    } else if (strcmp(op, "getalarm") == 0) {
        int64_t when;
        rc = dort_storage_get_alarm(self, &when);
        char b[64];
        if (rc == 0) {
            snprintf(b, sizeof b, "%lld", (long long)when);
            emits(o, b);
        } else if (rc == DORT_ENOENT) {
            emits(o, "(none)");
            rc = 0;
        }
    } else if (strcmp(op, "delalarm") == 0) {
        rc = dort_storage_delete_alarm(self);
    } else if (strcmp(op, "fail") == 0) {
        return -1;
    } else if (strcmp(op, "block") == 0) {
        rc = dort_actor_block(self);
    } else if (strcmp(op, "unblock") == 0) {
        rc = dort_actor_unblock(self);
    } else if (strcmp(op, "init_count") == 0) {
        char b[32];
        snprintf(b, sizeof b, "%d", th_kv_inits);
        emits(o, b);
    } else {
        emits(o, "ERR bad command");
    }
done:
    if (rc != 0)
        emit_rc(o, rc);
    return 0;
}

static int kv_fetch(dort_actor_t *self, dort_call_t *call)
{
    static char script[300000];
    th_body(call, script, sizeof script);
    out_t *o = calloc(1, sizeof *o);
    int rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(script, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save))
        rc = run_line(self, line, o);
    if (rc == 0)
        rc = dort_call_respond_body(call, 200, "text/plain", o->buf, o->len);
    free(o);
    return rc;
}

static int kv_init(dort_actor_t *self)
{
    (void)self;
    th_kv_inits++;
    return 0;
}

static void kv_evict(dort_actor_t *self)
{
    (void)self;
    th_kv_evicts++;
}

static int kv_alarm(dort_actor_t *self, const dort_alarm_info_t *info)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    th_kv_last_alarm_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    th_kv_alarms++;
    th_kv_last_retry = info->retry_count;
    /* Record the run in storage too, so atomicity with the handler's writes
     * can be observed. */
    char v[32];
    snprintf(v, sizeof v, "%d", th_kv_alarms);
    dort_storage_put(self, "alarm_ran", 9, v, strlen(v));
    if (th_kv_alarm_fail > 0) {
        th_kv_alarm_fail--;
        return -1;
    }
    return 0;
}

const dort_class_t th_kv_class = {
    .name = "KV",
    .init = kv_init,
    .fetch = kv_fetch,
    .alarm = kv_alarm,
    .evict = kv_evict,
};

int th_kv(dort_rt_t *rt, const char *name, const char *script, char *out, size_t cap)
{
    th_result_t r;
    int rc = th_fetch(rt, "KV", name, "POST", "/", script, &r);
    if (rc == 0 && out != NULL) {
        size_t n = r.body_len < cap - 1 ? r.body_len : cap - 1;
        memcpy(out, r.body, n);
        out[n] = '\0';
    }
    return rc;
}
