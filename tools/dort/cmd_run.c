/* cmd_run.c - `dort dev` and `dort serve`: load the config, build the
 * runtime from the built-in classes and workers it names, listen, log one
 * line per request, stop gracefully on SIGINT/SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <dort/config.h>
#include <dort/dort.h>

#include "../apps/apps.h"
#include "cli.h"

typedef struct run_opts_s {
    int serve;
    const char *config;
    const char *ip;
    int port;
    const char *persist_to;
    int json_logs;
    int test_scheduled;
    int metrics;
    long idle_timeout_ms;     /* -2: the runtime's default */
    const char *vars[64];
    int nvars;
} run_opts_t;

typedef struct run_s {
    run_opts_t o;
    dort_config_t *cfg;
    dort_rt_t *rt;
    dort_worker_t *fetch; /* the app's, behind /__scheduled with --test-scheduled */
    uv_signal_t sigint, sigterm;
    uv_timer_t log_flush;
    int stopping;
    int exit_code;
} run_t;

static void usage(const char *cmd)
{
    printf("usage: dort %s [--config FILE] [--port N] [--ip ADDR] [--persist-to DIR]\n"
           "       %*s [--var KEY:VALUE]... [--log-format text|json]%s\n"
           "\n"
           "  --config FILE     the app's config (default: dort.json in this directory)\n"
           "  --port N          port to listen on (default: dev.port, 8787)\n"
           "  --ip ADDR         address to listen on (default: dev.ip, 127.0.0.1)\n"
           "  --persist-to DIR  where state is kept (default: storage.persist_to, or\n"
           "                    .dort/state beside the config)\n"
           "  --var KEY:VALUE   set a var, above .dev.vars and the config (repeatable)\n"
           "  --log-format F    one line per request as text (default) or JSON lines\n"
           "  --actor-idle-timeout MS  evict actors idle this long (default 10000; -1 never)\n"
           "%s",
           cmd, (int)strlen(cmd), "",
           strcmp(cmd, "dev") == 0 ? " [--test-scheduled]" : " [--metrics]",
           strcmp(cmd, "dev") == 0
               ? "  --test-scheduled  serve GET /__scheduled?cron=EXPR to run cron handlers now\n"
                 "\nDurability is relaxed unless the config says otherwise; missing secrets\n"
                 "get generated development values (kept in the persist directory).\n"
               : "  --metrics         serve GET /__dort/metrics (Prometheus text)\n"
                 "\nDurability is full unless the config says otherwise; every secret the\n"
                 "config lists must be set (environment or .dev.vars) or nothing starts.\n");
}

void cmd_dev_usage(void)
{
    usage("dev");
}

void cmd_serve_usage(void)
{
    usage("serve");
}

static int parse_args(int argc, char **argv, run_opts_t *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},     {"port", required_argument, NULL, 'p'},
        {"ip", required_argument, NULL, 'i'},         {"persist-to", required_argument, NULL, 'd'},
        {"var", required_argument, NULL, 'v'},        {"log-format", required_argument, NULL, 'l'},
        {"test-scheduled", no_argument, NULL, 't'},   {"metrics", no_argument, NULL, 'm'},
        {"actor-idle-timeout", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:p:i:d:v:l:tma:", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': {
            char *end;
            long ms = strtol(optarg, &end, 10);
            if (*end != '\0' || ms < -1) {
                fprintf(stderr, "dort: --actor-idle-timeout takes milliseconds (-1: never), "
                                "got '%s'\n",
                        optarg);
                return 2;
            }
            o->idle_timeout_ms = ms;
            break;
        }
        case 'c': o->config = optarg; break;
        case 'i': o->ip = optarg; break;
        case 'd': o->persist_to = optarg; break;
        case 't': o->test_scheduled = 1; break;
        case 'm': o->metrics = 1; break;
        case 'p': {
            char *end;
            long p = strtol(optarg, &end, 10);
            if (*end != '\0' || p < 0 || p > 65535) {
                fprintf(stderr, "dort: --port must be 0..65535, got '%s'\n", optarg);
                return 2;
            }
            o->port = (int)p;
            break;
        }
        case 'v':
            if (strchr(optarg, ':') == NULL || o->nvars == 64) {
                fprintf(stderr, "dort: --var takes KEY:VALUE, got '%s'\n", optarg);
                return 2;
            }
            o->vars[o->nvars++] = optarg;
            break;
        case 'l':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
                fprintf(stderr, "dort: --log-format is text or json, got '%s'\n", optarg);
                return 2;
            }
            o->json_logs = strcmp(optarg, "json") == 0;
            break;
        default:
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dort: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (o->serve && o->test_scheduled) {
        fprintf(stderr, "dort: --test-scheduled is for dort dev only\n");
        return 2;
    }
    return 0;
}

/* ---- config ---- */

static int config_error(const char *file, const dort_config_error_t *err)
{
    char msg[1200];
    dort_config_error_format(err, file, msg, sizeof msg);
    fprintf(stderr, "dort: %s\n", msg);
    return 2;
}

static int names_of(const void *const *items, size_t off, const char **out, size_t cap)
{
    size_t n = 0;
    for (; items[n] != NULL && n + 1 < cap; n++)
        out[n] = *(const char *const *)((const char *)items[n] + off);
    out[n] = NULL;
    return (int)n;
}

static const dort_worker_class_t *builtin_worker(const char *name)
{
    for (size_t i = 0; name != NULL && dort_builtin_workers[i] != NULL; i++)
        if (strcmp(dort_builtin_workers[i]->name, name) == 0)
            return dort_builtin_workers[i];
    return NULL;
}

/* triggers.crons: every expression must parse, and they need a worker with
 * a scheduled handler (workers.scheduled) to run them. */
static int check_crons(run_t *r, const char *file)
{
    const char *const *crons;
    size_t n = dort_config_crons(r->cfg, &crons);
    dort_config_error_t err;
    memset(&err, 0, sizeof err);
    for (size_t i = 0; i < n; i++) {
        char msg[400] = "";
        dort_cron_t *c = NULL;
        if (dort_cron_parse(crons[i], &c, msg, sizeof msg) == 0) {
            dort_cron_free(c);
            continue;
        }
        snprintf(err.path, sizeof err.path, "$.triggers.crons[%zu]", i);
        snprintf(err.message, sizeof err.message, "invalid cron expression \"%.80s\": %s",
                 crons[i], msg);
        return config_error(file, &err);
    }
    const char *wname = dort_config_scheduled_worker(r->cfg);
    const dort_worker_class_t *wc = builtin_worker(wname);
    if (n > 0 && wname == NULL) {
        snprintf(err.path, sizeof err.path, "$.triggers.crons");
        snprintf(err.message, sizeof err.message,
                 "cron triggers need a worker to run them: set workers.scheduled");
        return config_error(file, &err);
    }
    if (wc != NULL && wc->scheduled == NULL) {
        snprintf(err.path, sizeof err.path, "$.workers.scheduled");
        snprintf(err.message, sizeof err.message, "worker %s has no scheduled handler", wname);
        return config_error(file, &err);
    }
    return 0;
}

static int load_config(run_t *r)
{
    const char *file = r->o.config ? r->o.config : "dort.json";
    dort_config_error_t err;
    int rc = dort_config_load_file(file, &r->cfg, &err);
    if (rc == DORT_ENOENT) {
        fprintf(stderr, "dort: no config file %s (use --config FILE)\n", file);
        return 2;
    }
    if (rc != 0)
        return config_error(file, &err);
    const char *classes[64], *workers[64];
    names_of((const void *const *)dort_builtin_classes, offsetof(dort_class_t, name), classes, 64);
    names_of((const void *const *)dort_builtin_workers, offsetof(dort_worker_class_t, name),
             workers, 64);
    if (dort_config_check_names(r->cfg, classes, workers, &err) != 0)
        return config_error(file, &err);
    if (check_crons(r, file) != 0)
        return 2;
    if (dort_config_load_dev_vars(r->cfg, NULL, &err) != 0) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/.dev.vars", dort_config_dir(r->cfg));
        return config_error(path, &err);
    }
    for (int i = 0; i < r->o.nvars; i++) {
        char name[256];
        const char *colon = strchr(r->o.vars[i], ':');
        snprintf(name, sizeof name, "%.*s", (int)(colon - r->o.vars[i]), r->o.vars[i]);
        if (dort_config_set_var(r->cfg, name, colon + 1) != 0) {
            fprintf(stderr, "dort: --var %s: not a valid name\n", r->o.vars[i]);
            return 2;
        }
    }
    return 0;
}

static void persist_dir(run_t *r, char *out, size_t cap)
{
    const dort_config_storage_t *st = dort_config_storage(r->cfg);
    if (r->o.persist_to != NULL)
        snprintf(out, cap, "%s", r->o.persist_to);
    else if (st->persist_to != NULL && st->persist_to[0] == '/')
        snprintf(out, cap, "%s", st->persist_to);
    else
        snprintf(out, cap, "%s/%s", dort_config_dir(r->cfg),
                 st->persist_to ? st->persist_to : ".dort/state");
}

static int mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* dev: a secret nobody set gets a random development value, kept in the
 * persist directory so that data encrypted with it stays readable across
 * restarts. serve: refuse to start. */
static int secrets(run_t *r, const char *dir)
{
    const char *missing[32];
    size_t n = dort_config_missing_secrets(r->cfg, missing, 32);
    if (n == 0)
        return 0;
    if (r->o.serve) {
        fprintf(stderr, "dort serve: missing secret%s:", n > 1 ? "s" : "");
        for (size_t i = 0; i < n && i < 32; i++)
            fprintf(stderr, " %s", missing[i]);
        fprintf(stderr, "\n  set them in the environment or in .dev.vars beside the config\n");
        return 2;
    }
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/generated.dev.vars", dir);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        /* Values generated by an earlier run are reused. */
        char line[4096];
        while (fgets(line, sizeof line, f) != NULL) {
            line[strcspn(line, "\r\n")] = '\0';
            char *eq = strchr(line, '=');
            if (eq == NULL)
                continue;
            *eq = '\0';
            if (dort_config_var(r->cfg, line) == NULL)
                dort_config_set_var(r->cfg, line, eq + 1);
        }
        fclose(f);
    }
    n = dort_config_missing_secrets(r->cfg, missing, 32);
    if (n == 0)
        return 0;
    f = fopen(path, "a");
    for (size_t i = 0; i < n && i < 32; i++) {
        unsigned char raw[32];
        char hex[65];
        RAND_bytes(raw, sizeof raw);
        for (int j = 0; j < 32; j++)
            snprintf(hex + 2 * j, 3, "%02x", raw[j]);
        dort_config_set_var(r->cfg, missing[i], hex);
        if (f != NULL)
            fprintf(f, "%s=%s\n", missing[i], hex);
        fprintf(stderr, "dort dev: generated a development value for secret %s (kept in %s)\n",
                missing[i], path);
    }
    if (f != NULL)
        fclose(f);
    return 0;
}

/* ---- the runtime ---- */

static int durability(run_t *r)
{
    switch (dort_config_storage(r->cfg)->durability) {
    case DORT_CONFIG_DURABILITY_FULL: return DORT_DURABILITY_FULL;
    case DORT_CONFIG_DURABILITY_RELAXED: return DORT_DURABILITY_RELAXED;
    case DORT_CONFIG_DURABILITY_MEMORY: return DORT_DURABILITY_MEMORY;
    default: return r->o.serve ? DORT_DURABILITY_FULL : DORT_DURABILITY_RELAXED;
    }
}

static const dort_class_t *builtin_class(const char *name)
{
    for (size_t i = 0; dort_builtin_classes[i] != NULL; i++)
        if (strcmp(dort_builtin_classes[i]->name, name) == 0)
            return dort_builtin_classes[i];
    return NULL;
}

static void set_vars(run_t *r)
{
    const dort_config_json_var_t *jv;
    size_t n = dort_config_json_vars(r->cfg, &jv);
    for (size_t i = 0; i < n; i++)
        dort_rt_set_var(r->rt, jv[i].name, dort_config_var(r->cfg, jv[i].name));
    const char *const *names;
    n = dort_config_secrets(r->cfg, &names);
    for (size_t i = 0; i < n; i++) {
        const char *v = dort_config_var(r->cfg, names[i]);
        if (v != NULL)
            dort_rt_set_var(r->rt, names[i], v);
    }
    for (int i = 0; i < r->o.nvars; i++) {
        char name[256];
        const char *colon = strchr(r->o.vars[i], ':');
        snprintf(name, sizeof name, "%.*s", (int)(colon - r->o.vars[i]), r->o.vars[i]);
        dort_rt_set_var(r->rt, name, colon + 1);
    }
}

/* queues.producers and queues.consumers of the config. */
static int add_queues(run_t *r)
{
    const dort_config_producer_t *p;
    size_t np = dort_config_producers(r->cfg, &p);
    for (size_t i = 0; i < np; i++) {
        int rc = dort_rt_add_queue_producer(r->rt, p[i].binding, p[i].queue);
        if (rc != 0) {
            fprintf(stderr, "dort: queue producer %s: %s\n", p[i].binding, dort_strerror(rc));
            return rc;
        }
    }
    const dort_config_consumer_t *c;
    size_t nc = dort_config_consumers(r->cfg, &c);
    for (size_t i = 0; i < nc; i++) {
        dort_queue_consumer_options_t o;
        dort_queue_consumer_options_init(&o);
        o.queue = c[i].queue;
        o.worker = dort_rt_worker(r->rt, c[i].worker);
        o.max_batch_size = c[i].max_batch_size;
        o.max_batch_timeout_ms = c[i].max_batch_timeout_s * 1000;
        o.max_retries = c[i].max_retries;
        o.retry_delay_s = c[i].retry_delay_s;
        o.dead_letter_queue = c[i].dead_letter_queue;
        int rc = o.worker == NULL || dort_worker_class(o.worker)->queue == NULL
                     ? DORT_EINVAL
                     : dort_rt_add_queue_consumer(r->rt, &o);
        if (rc != 0) {
            fprintf(stderr, "dort: consumer of queue %s (worker %s): %s\n", c[i].queue,
                    c[i].worker, rc == DORT_EINVAL ? "that worker has no queue handler"
                                                   : dort_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* triggers.crons for workers.scheduled (both checked by check_crons). */
static int add_crons(run_t *r)
{
    const char *const *crons;
    size_t n = dort_config_crons(r->cfg, &crons);
    dort_worker_t *w = dort_rt_worker(r->rt, dort_config_scheduled_worker(r->cfg));
    for (size_t i = 0; i < n; i++) {
        char msg[400] = "";
        int rc = dort_rt_add_cron_trigger(r->rt, crons[i], w, msg, sizeof msg);
        if (rc != 0) {
            fprintf(stderr, "dort: $.triggers.crons[%zu]: %s\n", i,
                    msg[0] ? msg : dort_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* dev --test-scheduled: GET /__scheduled?cron=EXPR runs that trigger's
 * handler now, as wrangler does; every other request goes to the app's
 * fetch worker. */
static void scheduled_done(void *data, int status)
{
    dort_exchange_t *ex = data;
    if (status == 0)
        dort_exchange_respond_body(ex, 200, "text/plain", "Ran scheduled event", 19);
    else
        dort_exchange_respond_error(ex, status == DORT_ESTOPPED ? 503 : 500, "scheduled_failed",
                                    dort_strerror(status));
}

static int test_scheduled_fetch(dort_exchange_t *ex)
{
    run_t *r = dort_rt_data(dort_exchange_rt(ex));
    dort_slice_t path = dort_request_path(dort_exchange_request(ex));
    if (path.len < 12 || memcmp(path.ptr, "/__scheduled", 12) != 0 ||
        (path.len > 12 && path.ptr[12] != '?'))
        return dort_worker_class(r->fetch)->fetch(ex);
    char expr[512];
    const char *const *crons;
    long len = dort_query_get(path, "cron", expr, sizeof expr);
    if (len == -1 && dort_config_crons(r->cfg, &crons) > 0)
        snprintf(expr, sizeof expr, "%s", crons[0]); /* no cron=: the first trigger */
    else if (len < 0)
        return dort_exchange_respond_error(ex, 400, "bad_request", "use /__scheduled?cron=EXPR");
    for (char *p = expr; *p; p++)
        *p = *p == '+' ? ' ' : *p; /* a query's '+' is a space; cron has no '+' */
    int rc = dort_rt_run_scheduled(r->rt, expr, scheduled_done, ex);
    if (rc == DORT_ENOENT)
        return dort_exchange_respond_error(ex, 404, "no_such_trigger",
                                           "no cron trigger has this expression");
    if (rc == DORT_EBUSY)
        return dort_exchange_respond_error(ex, 409, "busy",
                                           "the previous run of this trigger is still going");
    return rc == 0 ? 0 : dort_exchange_respond_error(ex, 503, "unavailable", dort_strerror(rc));
}

static const dort_worker_class_t test_scheduled_worker = {
    .name = "__dort_test_scheduled",
    .fetch = test_scheduled_fetch,
};

static int build_runtime(run_t *r, const char *dir)
{
    dort_rt_options_t o;
    dort_rt_options_init(&o);
    o.durability = (dort_durability_t)durability(r);
    o.data_dir = dir;
    o.max_size = dort_config_storage(r->cfg)->max_size;
    if (r->o.idle_timeout_ms != -2)
        o.idle_timeout_ms = r->o.idle_timeout_ms;
    o.log_fn = dort_log_stderr;
    o.log_level = DORT_LOG_WARN;
    int rc = dort_rt_new(&r->rt, &o);
    for (size_t i = 0; rc == 0 && dort_builtin_classes[i] != NULL; i++)
        rc = dort_rt_register_class(r->rt, dort_builtin_classes[i]);
    for (size_t i = 0; rc == 0 && dort_builtin_workers[i] != NULL; i++)
        rc = dort_rt_add_worker(r->rt, dort_builtin_workers[i], NULL);
    const dort_config_do_binding_t *b;
    size_t nb = dort_config_do_bindings(r->cfg, &b);
    for (size_t i = 0; rc == 0 && i < nb; i++)
        rc = builtin_class(b[i].class_name) ? dort_rt_bind_namespace(r->rt, b[i].name,
                                                                     b[i].class_name, NULL, NULL)
                                            : DORT_ENOCLASS;
    if (rc == 0 && add_queues(r) != 0)
        return 2; /* a config mistake: add_queues said which */
    if (rc == 0 && add_crons(r) != 0)
        return 2;
    if (rc == 0 && r->o.test_scheduled) {
        dort_rt_set_data(r->rt, r);
        r->fetch = dort_rt_worker(r->rt, dort_config_fetch_worker(r->cfg));
        rc = dort_rt_add_worker(r->rt, &test_scheduled_worker, NULL);
    }
    if (rc == 0)
        set_vars(r);
    if (rc == 0)
        rc = dort_rt_start(r->rt);
    if (rc != 0)
        fprintf(stderr, "dort: cannot start the runtime in %s: %s\n", dir, dort_strerror(rc));
    return rc == 0 ? 0 : 1;
}

/* ---- request log ---- */

static void log_request(void *data, const dort_http_log_entry_t *e)
{
    run_t *r = data;
    if (r->o.json_logs) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        char path[2048];
        size_t o = 0;
        for (size_t i = 0; i < e->path.len && o + 7 < sizeof path; i++) {
            unsigned char c = (unsigned char)e->path.ptr[i];
            if (c == '"' || c == '\\') {
                path[o++] = '\\';
                path[o++] = (char)c;
            } else if (c < 0x20) {
                o += (size_t)snprintf(path + o, 7, "\\u%04x", c);
            } else {
                path[o++] = (char)c;
            }
        }
        path[o] = '\0';
        fprintf(stderr,
                "{\"ts\":%lld,\"method\":\"%.*s\",\"path\":\"%s\",\"status\":%d,"
                "\"ms\":%.3f,\"bytes\":%llu,\"peer\":\"%s\"}\n",
                (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, (int)e->method.len,
                e->method.ptr, path, e->status, e->duration_ms, (unsigned long long)e->bytes_out,
                e->peer);
    } else {
        fprintf(stderr, "%.*s %.*s %d %.2fms\n", (int)e->method.len, e->method.ptr,
                (int)e->path.len, e->path.ptr, e->status, e->duration_ms);
    }
}

/* ---- signals and the main loop ---- */

static void on_stopped(dort_rt_t *rt, void *data)
{
    run_t *r = data;
    (void)rt;
    uv_close((uv_handle_t *)&r->sigint, NULL);
    uv_close((uv_handle_t *)&r->sigterm, NULL);
    uv_close((uv_handle_t *)&r->log_flush, NULL);
    fflush(stderr);
}

/* The request log is buffered (one write per request would cost as much as
 * answering a simple request) and flushed every 100 ms. */
static void on_log_flush(uv_timer_t *t)
{
    (void)t;
    fflush(stderr);
}

static void on_signal(uv_signal_t *h, int signum)
{
    run_t *r = h->data;
    if (r->stopping) {
        fprintf(stderr, "dort: second signal, exiting at once\n");
        fflush(stderr);
        exit(1);
    }
    r->stopping = 1;
    fprintf(stderr, "dort: %s, finishing in-flight requests\n",
            signum == SIGINT ? "interrupted" : "terminating");
    dort_rt_stop(r->rt, on_stopped, r);
}

static int listen_http(run_t *r)
{
    const dort_config_dev_t *dev = dort_config_dev(r->cfg);
    const dort_config_limits_t *lim = dort_config_limits(r->cfg);
    const char *wname = dort_config_fetch_worker(r->cfg);
    dort_worker_t *w = wname ? dort_rt_worker(r->rt, wname) : NULL;
    if (w != NULL && r->o.test_scheduled)
        w = dort_rt_worker(r->rt, test_scheduled_worker.name);
    if (w == NULL) {
        fprintf(stderr, "dort: the config names no fetch worker (workers.fetch)\n");
        return 2;
    }
    dort_http_options_t ho;
    dort_http_options_init(&ho);
    ho.ip = r->o.ip ? r->o.ip : dev->ip;
    if (strcmp(ho.ip, "localhost") == 0)
        ho.ip = "127.0.0.1";
    ho.port = r->o.port >= 0 ? r->o.port : dev->port;
    ho.max_body_bytes = lim->max_body_bytes;
    ho.max_header_bytes = lim->max_header_bytes;
    ho.request_timeout_ms = lim->request_timeout_ms;
    ho.max_connections = lim->max_connections;
    ho.ws_max_message_bytes = lim->websocket_max_message_bytes;
    ho.metrics = r->o.serve ? r->o.metrics : 1;
    ho.log_fn = log_request;
    ho.log_data = r;
    dort_http_server_t *srv;
    if (dort_http_listen(r->rt, &ho, w, &srv) != 0) {
        fprintf(stderr, "dort: cannot listen on %s:%d\n", ho.ip, ho.port);
        return 1;
    }
    printf("dort %s: %s listening on http://%s:%d\n", r->o.serve ? "serve" : "dev",
           dort_config_name(r->cfg), strchr(ho.ip, ':') ? "[::1]" : ho.ip,
           dort_http_server_port(srv));
    fflush(stdout);
    return 0;
}

static int run(int argc, char **argv, int serve)
{
    run_t r;
    memset(&r, 0, sizeof r);
    r.o.serve = serve;
    r.o.port = -1;
    r.o.idle_timeout_ms = -2;
    /* A client that resets its connection turns a later write into EPIPE;
     * the default SIGPIPE would kill the whole server for it. */
    signal(SIGPIPE, SIG_IGN);
    int rc = parse_args(argc, argv, &r.o);
    if (rc == 0)
        rc = load_config(&r);
    char dir[PATH_MAX];
    if (rc == 0) {
        persist_dir(&r, dir, sizeof dir);
        if (mkdirs(dir) != 0) {
            fprintf(stderr, "dort: cannot create %s: %s\n", dir, strerror(errno));
            rc = 1;
        }
    }
    if (rc == 0)
        rc = secrets(&r, dir);
    if (rc == 0)
        rc = build_runtime(&r, dir);
    if (rc == 0) {
        uv_loop_t *loop = dort_rt_loop(r.rt);
        uv_signal_init(loop, &r.sigint);
        uv_signal_init(loop, &r.sigterm);
        r.sigint.data = r.sigterm.data = &r;
        uv_signal_start(&r.sigint, on_signal, SIGINT);
        uv_signal_start(&r.sigterm, on_signal, SIGTERM);
        static char logbuf[1 << 16];
        setvbuf(stderr, logbuf, _IOFBF, sizeof logbuf);
        uv_timer_init(loop, &r.log_flush);
        uv_timer_start(&r.log_flush, on_log_flush, 100, 100);
        rc = listen_http(&r);
        if (rc != 0) {
            r.stopping = 1;
            dort_rt_stop(r.rt, on_stopped, &r);
        }
        uv_run(loop, UV_RUN_DEFAULT);
    }
    if (r.rt != NULL)
        dort_rt_free(r.rt);
    dort_config_free(r.cfg);
    return rc;
}

int cmd_dev(int argc, char **argv)
{
    return run(argc, argv, 0);
}

int cmd_serve(int argc, char **argv)
{
    return run(argc, argv, 1);
}
