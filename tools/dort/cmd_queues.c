/* cmd_queues.c - `dort queues`: inspect and repair the durable queues of an
 * app's persist directory, whether or not its server runs.
 *
 * Reading (list, stats, peek, dlq) opens LMDB read-only beside a running
 * server: LMDB serves a second process's readers from the same file, and
 * nothing is created. Changing (replay-dlq, purge) needs the directory's
 * dort.lock, which a running runtime holds: the runtime keeps sequence
 * numbers, leases and counters in memory, so a change behind its back would
 * be overwritten or delivered twice. With the lock, changes are made in
 * synced write transactions of CHUNK messages each, so a huge queue neither
 * needs one huge transaction nor leaves a message in two places (or none)
 * if interrupted.
 *
 * Exit codes: 0 done, 1 failed or refused, 2 usage or config error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dort/config.h>
#include <dort/dort.h>

#include "cli.h"
#include "queues_db.h"

#define CHUNK 1000      /* messages per write transaction */
#define PEEK_DEFAULT 10 /* messages `peek` shows without --limit */
#define BODY_CHARS 200  /* characters of a text body `peek` shows */

/* A queue the config or the store knows. */
typedef struct qent_s {
    const char *name;                       /* borrowed from the config, or `owned` */
    const dort_config_consumer_t *consumer; /* its consumer in the config, NULL none */
    int in_config;
    char *owned;
} qent_t;

typedef struct qcli_s {
    const char *config, *persist_to, *sub, *queue, *to;
    int json;
    uint64_t limit; /* 0: not given */
    dort_config_t *cfg;
    char dir[PATH_MAX];
    qent_t *qs;
    size_t nq;
    qdb_t db;
    int have_db; /* 0: nothing has run in dir yet (every queue is empty) */
    int64_t now;
} qcli_t;

static const char *const SUBS[] = {"list", "stats", "peek", "dlq", "replay-dlq", "purge"};

void cmd_queues_usage(void)
{
    printf("usage: dort queues [--config FILE] [--persist-to DIR] [--json] COMMAND\n"
           "\n"
           "  list                         every queue: ready, delayed, dead letters, oldest\n"
           "  stats QUEUE                  depth, ages and lifetime counters of one queue\n"
           "  peek QUEUE [--limit N]       the first N messages (default %d), not removed\n"
           "  dlq QUEUE [--limit N]        peek the dead-letter queue of QUEUE's consumer\n"
           "  replay-dlq QUEUE [--limit N] [--to QUEUE]\n"
           "                               move dead letters back to be consumed again:\n"
           "                               QUEUE is a consumed queue (its DLQ is replayed\n"
           "                               into it) or a DLQ (replayed into the queue it\n"
           "                               serves; --to when it serves several)\n"
           "  purge QUEUE                  delete every message of QUEUE\n"
           "\n"
           "  --config FILE     the app's config (default: dort.json in this directory)\n"
           "  --persist-to DIR  where state is kept (default: storage.persist_to, or\n"
           "                    .dort/state beside the config)\n"
           "  --json            machine-readable output\n"
           "\n"
           "Reading works while dort dev/serve runs. replay-dlq and purge need the\n"
           "server stopped; they commit every %d messages and show progress.\n"
           "Exit status: 0 ok, 1 failed or refused, 2 usage or config error.\n",
           PEEK_DEFAULT, CHUNK);
}

/* ---- arguments and config ---- */

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "dort queues: %s%s%s\n(see dort queues --help)\n", msg, arg ? " " : "",
            arg ? arg : "");
    return 2;
}

static int parse_limit(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != '\0' || v == 0)
        return usage_error("--limit takes a positive number, got", s);
    *out = v;
    return 0;
}

static int is_sub(const char *s)
{
    for (size_t i = 0; i < sizeof SUBS / sizeof SUBS[0]; i++)
        if (strcmp(s, SUBS[i]) == 0)
            return 1;
    return 0;
}

static int check_positionals(qcli_t *q, char **pos, int npos)
{
    if (npos == 0)
        return usage_error("which command?", "list, stats, peek, dlq, replay-dlq, purge");
    q->sub = pos[0];
    if (!is_sub(q->sub))
        return usage_error("unknown command", q->sub);
    int wants_queue = strcmp(q->sub, "list") != 0;
    if (npos > 1 + wants_queue)
        return usage_error("unexpected argument", pos[1 + wants_queue]);
    if (wants_queue && npos < 2)
        return usage_error("this command needs a QUEUE:", q->sub);
    q->queue = wants_queue ? pos[1] : NULL;
    int peeks = strcmp(q->sub, "peek") == 0 || strcmp(q->sub, "dlq") == 0;
    if (q->limit != 0 && !peeks && strcmp(q->sub, "replay-dlq") != 0)
        return usage_error("--limit does not apply to", q->sub);
    if (q->to != NULL && strcmp(q->sub, "replay-dlq") != 0)
        return usage_error("--to applies to replay-dlq only, not to", q->sub);
    return 0;
}

static int parse_args(int argc, char **argv, qcli_t *q)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"persist-to", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},         {"limit", required_argument, NULL, 'n'},
        {"to", required_argument, NULL, 't'},     {NULL, 0, NULL, 0}};
    int c, rc = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "c:d:jn:t:", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            q->config = optarg;
            break;
        case 'd':
            q->persist_to = optarg;
            break;
        case 'j':
            q->json = 1;
            break;
        case 't':
            q->to = optarg;
            break;
        case 'n':
            rc = parse_limit(optarg, &q->limit);
            break;
        default:
            rc = 2;
            break;
        }
    }
    /* getopt_long moved the operands behind the options. */
    return rc != 0 ? rc : check_positionals(q, argv + optind, argc - optind);
}

static int load_config(qcli_t *q)
{
    const char *file = q->config ? q->config : "dort.json";
    dort_config_error_t err;
    int rc = dort_config_load_file(file, &q->cfg, &err);
    if (rc == DORT_ENOENT) {
        fprintf(stderr, "dort queues: no config file %s (use --config FILE)\n", file);
        return 2;
    }
    if (rc != 0) {
        char msg[1200];
        dort_config_error_format(&err, file, msg, sizeof msg);
        fprintf(stderr, "dort queues: %s\n", msg);
        return 2;
    }
    const dort_config_storage_t *st = dort_config_storage(q->cfg);
    if (st->durability == DORT_CONFIG_DURABILITY_MEMORY && q->persist_to == NULL) {
        fprintf(stderr,
                "dort queues: %s keeps state in memory only (storage.durability is "
                "\"memory\"): there are no stored queues\n",
                file);
        return 2;
    }
    /* As dort dev/serve find it (cmd_run.c). */
    if (q->persist_to != NULL)
        snprintf(q->dir, sizeof q->dir, "%s", q->persist_to);
    else if (st->persist_to != NULL && st->persist_to[0] == '/')
        snprintf(q->dir, sizeof q->dir, "%s", st->persist_to);
    else
        snprintf(q->dir, sizeof q->dir, "%s/%s", dort_config_dir(q->cfg),
                 st->persist_to ? st->persist_to : ".dort/state");
    return 0;
}

/* ---- the queues: the config's, then any only the store remembers ---- */

static qent_t *find(qcli_t *q, const char *name)
{
    for (size_t i = 0; name != NULL && i < q->nq; i++)
        if (strcmp(q->qs[i].name, name) == 0)
            return &q->qs[i];
    return NULL;
}

static qent_t *add_queue(qcli_t *q, const char *name, int in_config)
{
    qent_t *e = find(q, name);
    if (e != NULL)
        return e;
    qent_t *n = realloc(q->qs, (q->nq + 1) * sizeof *n);
    if (n == NULL) {
        fprintf(stderr, "dort queues: out of memory\n");
        exit(1);
    }
    q->qs = n;
    e = &q->qs[q->nq++];
    memset(e, 0, sizeof *e);
    e->in_config = in_config;
    e->owned = in_config ? NULL : strdup(name);
    e->name = in_config ? name : e->owned;
    if (e->name == NULL) {
        fprintf(stderr, "dort queues: out of memory\n");
        exit(1);
    }
    return e;
}

static void add_stored(void *data, const char *name)
{
    add_queue(data, name, 0);
}

static int catalog(qcli_t *q)
{
    const dort_config_producer_t *p;
    size_t np = dort_config_producers(q->cfg, &p);
    for (size_t i = 0; i < np; i++)
        add_queue(q, p[i].queue, 1);
    const dort_config_consumer_t *c;
    size_t nc = dort_config_consumers(q->cfg, &c);
    for (size_t i = 0; i < nc; i++) {
        add_queue(q, c[i].queue, 1)->consumer = &c[i];
        if (c[i].dead_letter_queue != NULL)
            add_queue(q, c[i].dead_letter_queue, 1);
    }
    MDB_txn *txn;
    if (!q->have_db || qdb_read_begin(&q->db, &txn) != 0)
        return 0;
    int rc = qdb_meta_names(&q->db, txn, add_stored, q);
    mdb_txn_abort(txn);
    return rc;
}

/* The queue named on the command line, or exit status 2 naming the known. */
static qent_t *known(qcli_t *q, const char *name, int *rc)
{
    qent_t *e = find(q, name);
    if (e != NULL)
        return e;
    fprintf(stderr, "dort queues: unknown queue '%s'; known queues:", name);
    for (size_t i = 0; i < q->nq; i++)
        fprintf(stderr, "%s %s", i ? "," : "", q->qs[i].name);
    fprintf(stderr, "%s\n", q->nq ? "" : " (none)");
    *rc = 2;
    return NULL;
}

/* Consumers whose dead-letter queue is `name`: count, names into `out`. */
static size_t dlq_users(qcli_t *q, const char *name, const char **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < q->nq; i++) {
        const dort_config_consumer_t *c = q->qs[i].consumer;
        if (c != NULL && c->dead_letter_queue && strcmp(c->dead_letter_queue, name) == 0) {
            if (n < cap)
                out[n] = c->queue;
            n++;
        }
    }
    return n;
}

/* ---- formatting ---- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ISO 8601 in UTC with milliseconds: 2026-11-23T09:37:37.123Z. */
static const char *iso_time(int64_t ms, char buf[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || gmtime_r(&s, &tm) == NULL)
        return "-";
    size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03dZ", (int)(ms % 1000));
    return buf;
}

/* A duration for people: 850ms, 42s, 3m04s, 2h05m, 3d04h. */
static const char *span(int64_t ms, char buf[32])
{
    if (ms < 0)
        return "-";
    int64_t s = ms / 1000;
    if (s == 0)
        snprintf(buf, 32, "%" PRId64 "ms", ms);
    else if (s < 60)
        snprintf(buf, 32, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, 32, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, 32, "%" PRId64 "h%02" PRId64 "m", s / 3600, s / 60 % 60);
    else
        snprintf(buf, 32, "%" PRId64 "d%02" PRId64 "h", s / 86400, s / 3600 % 24);
    return buf;
}

static const char *content_name(dort_queue_content_t ct)
{
    switch (ct) {
    case DORT_QUEUE_CONTENT_JSON:
        return "json";
    case DORT_QUEUE_CONTENT_TEXT:
        return "text";
    case DORT_QUEUE_CONTENT_BYTES:
        return "bytes";
    case DORT_QUEUE_CONTENT_V8:
        return "v8";
    default:
        return "unknown";
    }
}

static int is_text(dort_queue_content_t ct)
{
    return ct == DORT_QUEUE_CONTENT_JSON || ct == DORT_QUEUE_CONTENT_TEXT;
}

/* Length of the UTF-8 sequence at p (1..4), or 0 when it is not valid. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    size_t n = p[0] < 0x80             ? 1
               : (p[0] & 0xe0) == 0xc0 ? 2
               : (p[0] & 0xf0) == 0xe0 ? 3
               : (p[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (n == 0 || n > left || (n == 2 && p[0] < 0xc2))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* A text body quoted for a terminal: C escapes for quotes, backslashes and
 * control bytes, \xNN for invalid UTF-8, cut after BODY_CHARS characters. */
static void print_text_body(const unsigned char *b, size_t len)
{
    size_t chars = 0, i = 0;
    putchar('"');
    while (i < len && chars < BODY_CHARS) {
        size_t n = utf8_len(b + i, len - i);
        unsigned char c = b[i];
        if (n > 1 || (n == 1 && c >= 0x20 && c != 0x7f && c != '"' && c != '\\'))
            fwrite(b + i, 1, n, stdout);
        else if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n' || c == '\r' || c == '\t')
            printf("\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
        else
            printf("\\x%02x", c);
        i += n ? n : 1;
        chars++;
    }
    putchar('"');
    if (i < len)
        printf("... (%zu bytes)", len);
}

static void print_hex_body(const unsigned char *b, size_t len)
{
    size_t shown = len < BODY_CHARS / 2 ? len : BODY_CHARS / 2;
    printf("hex:");
    for (size_t i = 0; i < shown; i++)
        printf("%02x", b[i]);
    if (shown < len)
        printf("... (%zu bytes)", len);
}

static void hex_id(const unsigned char id[16], char out[33])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[id[i] >> 4];
        out[2 * i + 1] = hex[id[i] & 15];
    }
    out[32] = '\0';
}

static int emit_json(json_t *j)
{
    int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(j);
    return rc == 0 ? 0 : 1;
}

static json_t *json_u64(uint64_t v)
{
    return json_integer((json_int_t)v);
}

/* Milliseconds or null. */
static json_t *json_ms(int64_t v)
{
    return v < 0 ? json_null() : json_integer((json_int_t)v);
}

/* ---- reading ---- */

/* A queue's q_meta record and counts, read in one snapshot. */
typedef struct qview_s {
    qdb_meta_t meta;
    qdb_counts_t counts;
} qview_t;

/* A snapshot of the store, or none (txn NULL) when nothing ran in dir yet. */
static int begin_read(qcli_t *q, MDB_txn **txn)
{
    *txn = NULL;
    if (q->have_db && qdb_read_begin(&q->db, txn) != 0) {
        fprintf(stderr, "dort queues: %s\n", q->db.err);
        return 1;
    }
    return 0;
}

static int view(qcli_t *q, MDB_txn *txn, const char *name, qview_t *v)
{
    memset(v, 0, sizeof *v);
    v->counts.oldest_ms = v->counts.next_visible_ms = -1;
    int rc = txn ? qdb_meta_get(&q->db, txn, name, &v->meta) : 0;
    if (rc == 0 && v->meta.exists)
        rc = qdb_count(&q->db, txn, v->meta.id, q->now, &v->counts);
    if (rc != 0)
        fprintf(stderr, "dort queues: reading queue %s: %s\n", name,
                q->db.err[0] ? q->db.err : dort_strerror(rc));
    return rc == 0 ? 0 : 1;
}

static int64_t age(const qcli_t *q, const qview_t *v)
{
    return v->counts.oldest_ms < 0 ? -1 : q->now - v->counts.oldest_ms;
}

static void list_row(qcli_t *q, const qent_t *e, const qview_t *v, const qview_t *d, int w, int dw,
                     json_t *arr)
{
    const char *dlq = e->consumer ? e->consumer->dead_letter_queue : NULL;
    if (arr != NULL) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(e->name));
        json_object_set_new(o, "ready", json_u64(v->counts.ready));
        json_object_set_new(o, "delayed", json_u64(v->counts.delayed));
        json_object_set_new(o, "dead_letter_queue", dlq ? json_string(dlq) : json_null());
        json_object_set_new(o, "dlq_depth",
                            dlq ? json_u64(d->counts.ready + d->counts.delayed) : json_null());
        json_object_set_new(o, "oldest_age_ms", json_ms(age(q, v)));
        json_object_set_new(o, "in_config", json_boolean(e->in_config));
        json_array_append_new(arr, o);
        return;
    }
    char depth[24] = "-", buf[32];
    if (dlq != NULL)
        snprintf(depth, sizeof depth, "%" PRIu64, d->counts.ready + d->counts.delayed);
    printf("%-*s  %9" PRIu64 "  %9" PRIu64 "  %-*s  %9s  %s%s\n", w, e->name, v->counts.ready,
           v->counts.delayed, dw, dlq ? dlq : "-", depth, span(age(q, v), buf),
           e->in_config ? "" : "  (not in the config)");
}

static int cmd_list(qcli_t *q)
{
    MDB_txn *txn;
    if (begin_read(q, &txn) != 0)
        return 1;
    int w = 5, dw = 3, rc = 0;
    for (size_t i = 0; i < q->nq; i++) {
        const dort_config_consumer_t *c = q->qs[i].consumer;
        int n = (int)strlen(q->qs[i].name),
            dn = c && c->dead_letter_queue ? (int)strlen(c->dead_letter_queue) : 0;
        w = n > w ? n : w;
        dw = dn > dw ? dn : dw;
    }
    json_t *arr = q->json ? json_array() : NULL;
    if (!q->json)
        printf("%-*s  %9s  %9s  %-*s  %9s  %s\n", w, "QUEUE", "READY", "DELAYED", dw, "DLQ",
               "DLQ DEPTH", "OLDEST");
    for (size_t i = 0; rc == 0 && i < q->nq; i++) {
        const qent_t *e = &q->qs[i];
        qview_t v, d;
        const char *dlq = e->consumer ? e->consumer->dead_letter_queue : NULL;
        memset(&d, 0, sizeof d);
        rc = view(q, txn, e->name, &v);
        if (rc == 0 && dlq != NULL)
            rc = view(q, txn, dlq, &d);
        if (rc == 0)
            list_row(q, e, &v, &d, w, dw, arr);
    }
    if (txn != NULL)
        mdb_txn_abort(txn);
    if (arr == NULL)
        return rc;
    json_t *o = json_object();
    json_object_set_new(o, "persist_dir", json_string(q->dir));
    json_object_set_new(o, "queues", arr);
    return rc != 0 ? (json_decref(o), rc) : emit_json(o);
}

static json_t *consumer_json(const dort_config_consumer_t *c)
{
    if (c == NULL)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "worker", json_string(c->worker));
    json_object_set_new(o, "max_batch_size", json_integer(c->max_batch_size));
    json_object_set_new(o, "max_batch_timeout_s", json_integer(c->max_batch_timeout_s));
    json_object_set_new(o, "max_retries", json_integer(c->max_retries));
    json_object_set_new(o, "retry_delay_s", json_integer(c->retry_delay_s));
    return o;
}

static void stats_json(qcli_t *q, const qent_t *e, const qview_t *v, const qview_t *d,
                       const char **users, size_t nusers)
{
    const char *dlq = e->consumer ? e->consumer->dead_letter_queue : NULL;
    char t1[32];
    json_t *o = json_object(), *u = json_array();
    json_object_set_new(o, "name", json_string(e->name));
    json_object_set_new(o, "id", v->meta.exists ? json_integer(v->meta.id) : json_null());
    json_object_set_new(o, "in_config", json_boolean(e->in_config));
    json_object_set_new(o, "ready", json_u64(v->counts.ready));
    json_object_set_new(o, "delayed", json_u64(v->counts.delayed));
    json_object_set_new(o, "oldest_age_ms", json_ms(age(q, v)));
    json_object_set_new(o, "oldest_timestamp",
                        v->counts.oldest_ms < 0 ? json_null()
                                                : json_string(iso_time(v->counts.oldest_ms, t1)));
    json_object_set_new(o, "next_visible",
                        v->counts.next_visible_ms < 0
                            ? json_null()
                            : json_string(iso_time(v->counts.next_visible_ms, t1)));
    json_object_set_new(o, "sent", json_u64(v->meta.sent));
    json_object_set_new(o, "acked", json_u64(v->meta.acked));
    json_object_set_new(o, "retried", json_u64(v->meta.retried));
    json_object_set_new(o, "dead_lettered", json_u64(v->meta.dead_lettered));
    json_object_set_new(o, "dropped", json_u64(v->meta.dropped));
    json_object_set_new(o, "consumer", consumer_json(e->consumer));
    json_object_set_new(o, "dead_letter_queue", dlq ? json_string(dlq) : json_null());
    json_object_set_new(o, "dlq_depth",
                        dlq ? json_u64(d->counts.ready + d->counts.delayed) : json_null());
    for (size_t i = 0; i < nusers; i++)
        json_array_append_new(u, json_string(users[i]));
    json_object_set_new(o, "dead_letter_queue_of", u);
    emit_json(o);
}

static void stats_text(qcli_t *q, const qent_t *e, const qview_t *v, const qview_t *d,
                       const char **users, size_t nusers)
{
    char t1[32], t2[32];
    const dort_config_consumer_t *c = e->consumer;
    printf("queue          %s", e->name);
    if (v->meta.exists)
        printf(" (id %" PRIu32 ")", v->meta.id);
    printf("%s\n", e->in_config ? "" : " - not in the config");
    printf("ready          %" PRIu64 "\n", v->counts.ready);
    printf("delayed        %" PRIu64, v->counts.delayed);
    if (v->counts.next_visible_ms >= 0)
        printf(" (next visible %s)", iso_time(v->counts.next_visible_ms, t1));
    printf("\noldest         %s", span(age(q, v), t1));
    if (v->counts.oldest_ms >= 0)
        printf(" (sent %s)", iso_time(v->counts.oldest_ms, t2));
    printf("\nsent           %" PRIu64 "\nacked          %" PRIu64 "\nretried        %" PRIu64
           "\ndead-lettered  %" PRIu64 "\ndropped        %" PRIu64 "\n",
           v->meta.sent, v->meta.acked, v->meta.retried, v->meta.dead_lettered, v->meta.dropped);
    if (c != NULL)
        printf("consumer       worker %s, batches of %u, timeout %us, %u retries, delay %us\n",
               c->worker, c->max_batch_size, c->max_batch_timeout_s, c->max_retries,
               c->retry_delay_s);
    if (c != NULL && c->dead_letter_queue != NULL)
        printf("dead letters   %s (%" PRIu64 " messages)\n", c->dead_letter_queue,
               d->counts.ready + d->counts.delayed);
    for (size_t i = 0; i < nusers; i++)
        printf("%s%s", i ? ", " : "dead-letter queue of ", users[i]);
    printf("%s", nusers ? "\n" : "");
    printf("(counters are as last committed; while a server runs, messages leased to its\n"
           "consumer count as ready)\n");
}

static int cmd_stats(qcli_t *q, const qent_t *e)
{
    MDB_txn *txn;
    qview_t v, d;
    const char *users[64];
    const char *dlq = e->consumer ? e->consumer->dead_letter_queue : NULL;
    size_t nusers = dlq_users(q, e->name, users, 64);
    nusers = nusers < 64 ? nusers : 64;
    if (begin_read(q, &txn) != 0)
        return 1;
    int rc = view(q, txn, e->name, &v);
    memset(&d, 0, sizeof d);
    if (rc == 0 && dlq != NULL)
        rc = view(q, txn, dlq, &d);
    if (txn != NULL)
        mdb_txn_abort(txn);
    if (rc == 0 && q->json)
        stats_json(q, e, &v, &d, users, nusers);
    else if (rc == 0)
        stats_text(q, e, &v, &d, users, nusers);
    return rc;
}

typedef struct peek_s {
    qcli_t *q;
    uint64_t left;
    json_t *arr;
} peek_t;

static json_t *message_json(const qcli_t *q, const qdb_msg_t *m, const char *id)
{
    char t[32];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "attempts", json_integer(m->attempts));
    json_object_set_new(o, "timestamp", json_string(iso_time(m->timestamp_ms, t)));
    json_object_set_new(o, "timestamp_ms", json_integer(m->timestamp_ms));
    json_object_set_new(o, "content_type", json_string(content_name(m->content_type)));
    int delayed = m->visible_ms > q->now;
    json_object_set_new(o, "state", json_string(delayed ? "delayed" : "ready"));
    json_object_set_new(o, "visible_at",
                        delayed ? json_string(iso_time(m->visible_ms, t)) : json_null());
    json_object_set_new(o, "size", json_integer((json_int_t)m->body_len));
    /* The whole body: text as a string when it is valid UTF-8, else hex. */
    json_t *body =
        is_text(m->content_type) ? json_stringn((const char *)m->body, m->body_len) : NULL;
    if (body != NULL) {
        json_object_set_new(o, "body", body);
    } else {
        char *hex = malloc(2 * m->body_len + 1);
        for (size_t i = 0; hex != NULL && i < m->body_len; i++)
            snprintf(hex + 2 * i, 3, "%02x", m->body[i]);
        if (hex != NULL)
            hex[2 * m->body_len] = '\0';
        json_object_set_new(o, "body_hex", hex ? json_string(hex) : json_null());
        free(hex);
    }
    return o;
}

static int peek_one(void *data, const qdb_msg_t *m)
{
    peek_t *p = data;
    char id[33], t[32], state[40];
    hex_id(m->id, id);
    if (p->arr != NULL) {
        json_array_append_new(p->arr, message_json(p->q, m, id));
    } else {
        if (m->visible_ms > p->q->now)
            snprintf(state, sizeof state, "in %s", span(m->visible_ms - p->q->now, t));
        else
            snprintf(state, sizeof state, "ready");
        printf("%s  %8" PRIu32 "  %s  %-5s  %-9s  ", id, m->attempts, iso_time(m->timestamp_ms, t),
               content_name(m->content_type), state);
        if (is_text(m->content_type))
            print_text_body(m->body, m->body_len);
        else
            print_hex_body(m->body, m->body_len);
        putchar('\n');
    }
    return --p->left == 0;
}

static int peek(qcli_t *q, const char *name)
{
    MDB_txn *txn;
    qview_t v;
    uint64_t corrupt = 0;
    if (begin_read(q, &txn) != 0)
        return 1;
    int rc = view(q, txn, name, &v);
    uint64_t total = v.counts.ready + v.counts.delayed;
    peek_t p = {q, q->limit ? q->limit : PEEK_DEFAULT, q->json ? json_array() : NULL};
    uint64_t shown = total < p.left ? total : p.left;
    if (rc == 0 && !q->json) {
        printf("%s: %" PRIu64 " message%s (%" PRIu64 " ready, %" PRIu64 " delayed)", name, total,
               total == 1 ? "" : "s", v.counts.ready, v.counts.delayed);
        printf(shown < total ? ", the first %" PRIu64 ":\n" : "\n", shown);
        if (shown > 0)
            printf("%-32s  %8s  %-24s  %-5s  %-9s  %s\n", "ID", "ATTEMPTS", "TIMESTAMP", "TYPE",
                   "STATE", "BODY");
    }
    if (rc == 0 && v.meta.exists && shown > 0 &&
        (rc = qdb_scan(&q->db, txn, v.meta.id, peek_one, &p, &corrupt)) != 0)
        fprintf(stderr, "dort queues: reading queue %s: %s\n", name, dort_strerror(rc));
    if (txn != NULL)
        mdb_txn_abort(txn);
    if (corrupt != 0)
        fprintf(stderr, "dort queues: %" PRIu64 " record(s) of %s do not decode (skipped)\n",
                corrupt, name);
    if (p.arr == NULL)
        return rc ? 1 : 0;
    json_t *o = json_object();
    json_object_set_new(o, "queue", json_string(name));
    json_object_set_new(o, "total", json_u64(total));
    json_object_set_new(o, "ready", json_u64(v.counts.ready));
    json_object_set_new(o, "delayed", json_u64(v.counts.delayed));
    json_object_set_new(o, "messages", p.arr);
    return rc != 0 ? (json_decref(o), 1) : emit_json(o);
}

static int cmd_dlq(qcli_t *q, const qent_t *e)
{
    if (e->consumer == NULL || e->consumer->dead_letter_queue == NULL) {
        fprintf(stderr, "dort queues: queue '%s' has no dead-letter queue in the config%s\n",
                e->name, e->consumer ? "" : " (nothing consumes it)");
        return 2;
    }
    return peek(q, e->consumer->dead_letter_queue);
}

/* ---- changing ---- */

/* Reopens the store for writing. Returns 0 (opened), -1 (nothing stored:
 * nothing to change) or an exit status. */
static int open_for_change(qcli_t *q)
{
    if (q->have_db)
        qdb_close(&q->db);
    q->have_db = 0;
    int rc = qdb_open(&q->db, q->dir, QDB_WRITE, dort_config_storage(q->cfg)->max_size);
    if (rc == DORT_EBUSY) {
        char pid[24] = "pid unknown";
        if (q->db.holder_pid > 0)
            snprintf(pid, sizeof pid, "pid %ld", q->db.holder_pid);
        fprintf(stderr,
                "dort queues: stop the server first: dort queues cannot change queues "
                "while dort dev/serve (%s) runs on %s\n",
                pid, q->dir);
        return 1;
    }
    if (rc == DORT_ENOENT)
        return -1;
    if (rc != 0) {
        fprintf(stderr, "dort queues: %s\n", q->db.err);
        return 1;
    }
    q->have_db = 1;
    return 0;
}

typedef struct progress_s {
    const char *what, *name;
} progress_t;

/* Long runs only: a change that fits one transaction needs no progress. */
static void on_progress(void *data, uint64_t done, uint64_t total)
{
    progress_t *p = data;
    if (total > CHUNK)
        fprintf(stderr, "%s %s: %" PRIu64 "/%" PRIu64 " messages (%d%%)\n", p->what, p->name, done,
                total, (int)(done * 100 / total));
}

static int cmd_purge(qcli_t *q, const qent_t *e)
{
    uint64_t done = 0;
    progress_t p = {"purge", e->name};
    int rc = open_for_change(q);
    if (rc > 0)
        return rc;
    if (rc == 0 && (rc = qdb_purge(&q->db, e->name, 0, CHUNK, on_progress, &p, &done)) != 0) {
        fprintf(stderr, "dort queues: purge %s failed after %" PRIu64 " messages: %s\n", e->name,
                done, q->db.err[0] ? q->db.err : dort_strerror(rc));
        return 1;
    }
    if (!q->json) {
        printf("purged %" PRIu64 " message%s from %s\n", done, done == 1 ? "" : "s", e->name);
        return 0;
    }
    json_t *o = json_object();
    json_object_set_new(o, "queue", json_string(e->name));
    json_object_set_new(o, "purged", json_u64(done));
    return emit_json(o);
}

/* Which DLQ to replay into which queue (see the usage). */
static int replay_route(qcli_t *q, const qent_t *e, const char **from, const char **to)
{
    const char *users[16];
    int rc = 0;
    if (e->consumer != NULL && e->consumer->dead_letter_queue != NULL) {
        *from = e->consumer->dead_letter_queue;
        *to = q->to ? q->to : e->name;
    } else {
        size_t n = dlq_users(q, e->name, users, 16);
        if (n == 0 && q->to == NULL) {
            fprintf(stderr,
                    "dort queues: '%s' has no dead-letter queue and is no consumer's "
                    "dead-letter queue; say where to with --to QUEUE\n",
                    e->name);
            return 2;
        }
        if (n > 1 && q->to == NULL) {
            fprintf(stderr, "dort queues: '%s' is the dead-letter queue of several consumers (",
                    e->name);
            for (size_t i = 0; i < n && i < 16; i++)
                fprintf(stderr, "%s%s", i ? ", " : "", users[i]);
            fprintf(stderr, "): say which one gets its messages with --to QUEUE\n");
            return 2;
        }
        *from = e->name;
        *to = q->to ? q->to : users[0];
    }
    if (known(q, *to, &rc) == NULL)
        return rc;
    if (strcmp(*from, *to) == 0) {
        fprintf(stderr, "dort queues: cannot replay '%s' into itself\n", *from);
        return 2;
    }
    return 0;
}

static int cmd_replay(qcli_t *q, const qent_t *e)
{
    const char *from, *to;
    uint64_t done = 0;
    int rc = replay_route(q, e, &from, &to);
    if (rc != 0)
        return rc;
    progress_t p = {"replay-dlq", from};
    int opened = open_for_change(q);
    if (opened > 0)
        return opened;
    if (opened == 0)
        rc = qdb_replay(&q->db, from, to, q->limit, CHUNK, on_progress, &p, &done);
    if (rc != 0) {
        fprintf(stderr, "dort queues: replay of %s into %s failed after %" PRIu64 " messages: %s\n",
                from, to, done, q->db.err[0] ? q->db.err : dort_strerror(rc));
        return 1;
    }
    MDB_txn *txn;
    qview_t v;
    memset(&v, 0, sizeof v);
    if (begin_read(q, &txn) != 0 || view(q, txn, from, &v) != 0)
        rc = 1;
    if (txn != NULL)
        mdb_txn_abort(txn);
    uint64_t left = v.counts.ready + v.counts.delayed;
    if (!q->json) {
        printf("replayed %" PRIu64 " message%s from %s to %s (%" PRIu64 " left in %s)\n", done,
               done == 1 ? "" : "s", from, to, left, from);
        return rc;
    }
    json_t *o = json_object();
    json_object_set_new(o, "from", json_string(from));
    json_object_set_new(o, "to", json_string(to));
    json_object_set_new(o, "replayed", json_u64(done));
    json_object_set_new(o, "remaining", json_u64(left));
    return emit_json(o) || rc;
}

/* ---- the command ---- */

static int open_store(qcli_t *q)
{
    int rc = qdb_open(&q->db, q->dir, QDB_READ, 0);
    if (rc == DORT_ENOENT) {
        /* Nothing has run yet: every queue is empty, which is an answer. */
        if (!q->json)
            fprintf(stderr, "dort queues: %s\n", q->db.err);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "dort queues: %s\n", q->db.err);
        return 1;
    }
    q->have_db = 1;
    return 0;
}

static int run_sub(qcli_t *q)
{
    if (strcmp(q->sub, "list") == 0)
        return cmd_list(q);
    int rc = 0;
    const qent_t *e = known(q, q->queue, &rc);
    if (e == NULL)
        return rc;
    if (strcmp(q->sub, "stats") == 0)
        return cmd_stats(q, e);
    if (strcmp(q->sub, "peek") == 0)
        return peek(q, e->name);
    if (strcmp(q->sub, "dlq") == 0)
        return cmd_dlq(q, e);
    if (strcmp(q->sub, "purge") == 0)
        return cmd_purge(q, e);
    return cmd_replay(q, e);
}

int cmd_queues(int argc, char **argv)
{
    qcli_t q;
    memset(&q, 0, sizeof q);
    q.now = wall_ms();
    int rc = parse_args(argc, argv, &q);
    if (rc == 0)
        rc = load_config(&q);
    if (rc == 0)
        rc = open_store(&q);
    if (rc == 0 && catalog(&q) != 0) {
        fprintf(stderr, "dort queues: cannot read the queue names in %s\n", q.dir);
        rc = 1;
    }
    if (rc == 0)
        rc = run_sub(&q);
    if (q.have_db)
        qdb_close(&q.db);
    for (size_t i = 0; i < q.nq; i++)
        free(q.qs[i].owned);
    free(q.qs);
    dort_config_free(q.cfg);
    fflush(stdout);
    return rc;
}
