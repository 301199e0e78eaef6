/* config_load.c - the JSON config file into a validated dort_config_t.
 *
 * jansson parses (rejecting duplicate keys); this file walks the tree against
 * the schema, overwriting the defaults config_vars.c set, and checks all it
 * can check on its own: unknown keys, types, ranges, name syntax, the one
 * namespace of binding names, one consumer per queue. The walk keeps a
 * structured JSON path so that any error can be pinned to a line by
 * config_lines.c. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include <dort/errors.h>

#include "alloc_internal.h"
#include "config_internal.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define TiB (1024ull * GiB)

typedef struct {
    dort_config_t *cfg;
    dort_config_error_t *err;
    const char *text;
    size_t len;
    dort__cpath_t path;
} loader_t;

/* ---- path and error helpers ---- */

static void push_key(loader_t *L, const char *key)
{
    /* The schema is 4 levels deep and unknown keys are never entered. */
    if (L->path.depth < DORT__CPATH_MAX)
        L->path.seg[L->path.depth] = (dort__cpath_seg_t){key, 0};
    L->path.depth++;
}

static void push_index(loader_t *L, size_t index)
{
    if (L->path.depth < DORT__CPATH_MAX)
        L->path.seg[L->path.depth] = (dort__cpath_seg_t){NULL, index};
    L->path.depth++;
}

static void pop(loader_t *L)
{
    L->path.depth--;
}

static int fail(loader_t *L, dort__at_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(loader_t *L, dort__at_t at, const char *fmt, ...)
{
    char msg[sizeof L->err->message];
    va_list ap;
    dort__cpath_t p = L->path;
    if (p.depth > DORT__CPATH_MAX)
        p.depth = DORT__CPATH_MAX;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dort__config_fail(L->err, L->text, L->len, &p, at, "%s", msg);
}

static int oom(loader_t *L)
{
    dort__config_fail_at(L->err, 0, 0, "out of memory");
    return DORT_ENOMEM;
}

/* A missing key has no position of its own: point at the object that lacks it
 * but name the key in the path. */
static int fail_missing(loader_t *L, const char *key)
{
    int rc = fail(L, DORT__AT_VALUE, "missing required key \"%s\"", key);
    push_key(L, key);
    dort__cpath_format(&L->path, L->err->path, sizeof L->err->path);
    pop(L);
    return rc;
}

static const char *type_name(const json_t *v)
{
    static const char *const names[] = {
        [JSON_OBJECT] = "object",  [JSON_ARRAY] = "array", [JSON_STRING] = "string",
        [JSON_INTEGER] = "number", [JSON_REAL] = "number", [JSON_TRUE] = "boolean",
        [JSON_FALSE] = "boolean",  [JSON_NULL] = "null"};
    return names[json_typeof(v)];
}

static int fail_type(loader_t *L, const char *want, const json_t *v)
{
    if (json_is_real(v) && strcmp(want, "integer") == 0)
        return fail(L, DORT__AT_VALUE, "expected integer, got non-integer number");
    return fail(L, DORT__AT_VALUE, "expected %s, got %s", want, type_name(v));
}

static int check_keys(loader_t *L, json_t *obj, const char *const *allowed)
{
    /* An explicit iterator (not json_object_foreach) keeps clang-format's
     * brace placement; jansson iterates in insertion order, so the first
     * unknown key in the file is the one reported. */
    for (void *it = json_object_iter(obj); it != NULL; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        char list[256] = "", buf[64];
        size_t i = 0, n = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (allowed[i])
            continue;
        for (i = 0; allowed[i] && n < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", allowed[i]);
        push_key(L, key);
        return fail(L, DORT__AT_KEY, "unknown key \"%s\" (allowed: %s)",
                    dort__config_shown(key, buf, sizeof buf), list);
    }
    return 0;
}

/* ---- typed getters: absent keys leave *out alone and return 0 ---- */

enum { ANY = 0, IDENT, QUEUE, WORKER, NONEMPTY, IP };

static int check_syntax(loader_t *L, const char *s, int syntax)
{
    char buf[64];
    if (syntax == IDENT && !dort__config_is_ident(s))
        return fail(L, DORT__AT_VALUE,
                    "\"%s\" is not a valid binding name ([A-Za-z_][A-Za-z0-9_]*)",
                    dort__config_shown(s, buf, sizeof buf));
    if (syntax == QUEUE && !dort__config_is_short_name(s, 0))
        return fail(L, DORT__AT_VALUE, "\"%s\" is not a valid queue name ([a-z0-9-_], 1 to 63)",
                    dort__config_shown(s, buf, sizeof buf));
    if (syntax == WORKER && !dort__config_is_short_name(s, 1))
        return fail(L, DORT__AT_VALUE, "\"%s\" is not a valid worker name ([A-Za-z0-9-_], 1 to 63)",
                    dort__config_shown(s, buf, sizeof buf));
    if (syntax == NONEMPTY && s[0] == '\0')
        return fail(L, DORT__AT_VALUE, "must not be empty");
    if (syntax == IP && !dort__config_is_ip(s))
        return fail(L, DORT__AT_VALUE, "\"%s\" is not an IPv4 or IPv6 address (or \"localhost\")",
                    dort__config_shown(s, buf, sizeof buf));
    return 0;
}

/* Stores a copy of string member `key` in *out; `required` turns absence into
 * an error. */
static int get_str(loader_t *L, json_t *obj, const char *key, int required, int syntax, char **out)
{
    json_t *v = json_object_get(obj, key);
    int rc;
    if (v == NULL)
        return required ? fail_missing(L, key) : 0;
    push_key(L, key);
    if (!json_is_string(v))
        return fail_type(L, "string", v);
    if ((rc = check_syntax(L, json_string_value(v), syntax)) != 0)
        return rc;
    pop(L);
    if ((*out = dort__strdup(json_string_value(v))) == NULL)
        return oom(L);
    return 0;
}

static int get_uint(loader_t *L, json_t *obj, const char *key, uint64_t lo, uint64_t hi,
                    uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    json_int_t n;
    if (v == NULL)
        return 0;
    push_key(L, key);
    if (!json_is_integer(v))
        return fail_type(L, "integer", v);
    n = json_integer_value(v);
    if (n < 0 || (uint64_t)n < lo || (uint64_t)n > hi)
        return fail(L, DORT__AT_VALUE,
                    "%" JSON_INTEGER_FORMAT " is out of range (%" PRIu64 "..%" PRIu64 ")", n, lo,
                    hi);
    pop(L);
    *out = (uint64_t)n;
    return 0;
}

static int get_u32(loader_t *L, json_t *obj, const char *key, uint32_t lo, uint32_t hi,
                   uint32_t *out)
{
    uint64_t v = *out;
    int rc = get_uint(L, obj, key, lo, hi, &v);
    *out = (uint32_t)v;
    return rc;
}

/* A byte count: an integer or a size string such as "1GiB". */
static int get_size(loader_t *L, json_t *obj, const char *key, uint64_t lo, uint64_t hi,
                    uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    uint64_t n;
    char buf[64];
    if (v == NULL || json_is_integer(v))
        return get_uint(L, obj, key, lo, hi, out);
    push_key(L, key);
    if (!json_is_string(v))
        return fail_type(L, "integer or size string", v);
    if (dort_config_parse_size(json_string_value(v), &n) != 0)
        return fail(L, DORT__AT_VALUE,
                    "invalid size \"%s\" (bytes, or a number with B, KB, MB, GB, TB, KiB, MiB, "
                    "GiB, TiB)",
                    dort__config_shown(json_string_value(v), buf, sizeof buf));
    if (n < lo || n > hi)
        return fail(L, DORT__AT_VALUE,
                    "%" PRIu64 " bytes is out of range (%" PRIu64 "..%" PRIu64 ")", n, lo, hi);
    pop(L);
    *out = n;
    return 0;
}

/* Finds member `key` of the given JSON type; *out stays NULL when absent. */
static int get_typed(loader_t *L, json_t *obj, const char *key, json_type type, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (json_typeof(v) != type) {
        push_key(L, key);
        return fail_type(L, type == JSON_OBJECT ? "object" : "array", v);
    }
    *out = v;
    return 0;
}

/* ---- sections ---- */

/* Finds object `key` in `parent`, checks its keys against `keys` and enters
 * it on the path. Returns 1 when present, 0 when absent, or an error. */
static int section(loader_t *L, json_t *parent, const char *key, const char *const *keys,
                   json_t **o)
{
    int rc;
    if ((rc = get_typed(L, parent, key, JSON_OBJECT, o)) != 0 || *o == NULL)
        return rc;
    push_key(L, key);
    return (rc = check_keys(L, *o, keys)) != 0 ? rc : 1;
}

static int parse_workers(loader_t *L, json_t *root)
{
    static const char *const keys[] = {"fetch", "scheduled", NULL};
    json_t *o;
    int rc;
    if ((rc = section(L, root, "workers", keys, &o)) <= 0)
        return rc;
    if ((rc = get_str(L, o, "fetch", 0, WORKER, &L->cfg->fetch_worker)) != 0 ||
        (rc = get_str(L, o, "scheduled", 0, WORKER, &L->cfg->scheduled_worker)) != 0)
        return rc;
    pop(L);
    return 0;
}

/* Checks that element `i` of an array is an object with only `keys`. */
static int array_obj(loader_t *L, json_t *arr, size_t i, const char *const *keys, json_t **out)
{
    *out = json_array_get(arr, i);
    push_index(L, i);
    if (!json_is_object(*out))
        return fail_type(L, "object", *out);
    return check_keys(L, *out, keys);
}

static int parse_do(loader_t *L, json_t *root)
{
    static const char *const keys[] = {"bindings", NULL};
    static const char *const bkeys[] = {"name", "class_name", NULL};
    dort_config_t *cfg = L->cfg;
    json_t *o, *arr, *b;
    int rc;
    if ((rc = section(L, root, "durable_objects", keys, &o)) <= 0)
        return rc;
    if ((rc = get_typed(L, o, "bindings", JSON_ARRAY, &arr)))
        return rc;
    if (arr != NULL && json_array_size(arr) > 0) {
        cfg->do_bindings = dort__calloc(json_array_size(arr), sizeof *cfg->do_bindings);
        if (cfg->do_bindings == NULL)
            return oom(L);
        push_key(L, "bindings");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            dort_config_do_binding_t *d = &cfg->do_bindings[i];
            char *name = NULL, *cls = NULL;
            if ((rc = array_obj(L, arr, i, bkeys, &b)) != 0)
                return rc;
            rc = get_str(L, b, "name", 1, IDENT, &name);
            d->name = name;
            cfg->n_do_bindings = i + 1;
            if (rc != 0 || (rc = get_str(L, b, "class_name", 1, IDENT, &cls)) != 0)
                return rc;
            d->class_name = cls;
            pop(L);
        }
        pop(L);
    }
    pop(L);
    return 0;
}

static int parse_producers(loader_t *L, json_t *arr)
{
    static const char *const keys[] = {"binding", "queue", NULL};
    dort_config_t *cfg = L->cfg;
    json_t *p;
    int rc;
    cfg->producers = dort__calloc(json_array_size(arr), sizeof *cfg->producers);
    if (cfg->producers == NULL)
        return oom(L);
    push_key(L, "producers");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char *binding = NULL, *queue = NULL;
        if ((rc = array_obj(L, arr, i, keys, &p)) != 0)
            return rc;
        rc = get_str(L, p, "binding", 1, IDENT, &binding);
        cfg->producers[i].binding = binding;
        cfg->n_producers = i + 1;
        if (rc != 0 || (rc = get_str(L, p, "queue", 1, QUEUE, &queue)) != 0)
            return rc;
        cfg->producers[i].queue = queue;
        pop(L);
    }
    pop(L);
    return 0;
}

/* Cloudflare Queues' documented defaults and limits (developers.cloudflare.com
 * /queues/configuration and /queues/platform/limits): batch 10 (1..100),
 * timeout 5 s (0..60), retries 3 (0..100), delay 0 s (up to 24 h). */
static int parse_consumer(loader_t *L, json_t *c, dort_config_consumer_t *out)
{
    char *queue = NULL, *worker = NULL, *dlq = NULL;
    int rc;
    out->max_batch_size = 10;
    out->max_batch_timeout_s = 5;
    out->max_retries = 3;
    out->retry_delay_s = 0;
    rc = get_str(L, c, "queue", 1, QUEUE, &queue);
    out->queue = queue;
    if (rc != 0)
        return rc;
    rc = get_str(L, c, "worker", 1, WORKER, &worker);
    out->worker = worker;
    if (rc != 0)
        return rc;
    rc = get_str(L, c, "dead_letter_queue", 0, QUEUE, &dlq);
    out->dead_letter_queue = dlq;
    if (rc != 0 || (rc = get_u32(L, c, "max_batch_size", 1, 100, &out->max_batch_size)) != 0 ||
        (rc = get_u32(L, c, "max_batch_timeout", 0, 60, &out->max_batch_timeout_s)) != 0 ||
        (rc = get_u32(L, c, "max_retries", 0, 100, &out->max_retries)) != 0 ||
        (rc = get_u32(L, c, "retry_delay", 0, 86400, &out->retry_delay_s)) != 0)
        return rc;
    if (dlq != NULL && strcmp(dlq, queue) == 0) {
        push_key(L, "dead_letter_queue");
        return fail(L, DORT__AT_VALUE, "dead_letter_queue must differ from the queue itself");
    }
    return 0;
}

/* Cloudflare allows one consumer per queue. */
static int check_consumer_queues(loader_t *L)
{
    const dort_config_t *cfg = L->cfg;
    const char **queues = dort__malloc(cfg->n_consumers * sizeof *queues);
    size_t later, first;
    int rc;
    if (queues == NULL)
        return oom(L);
    for (size_t i = 0; i < cfg->n_consumers; i++)
        queues[i] = cfg->consumers[i].queue;
    rc = dort__config_first_duplicate(queues, cfg->n_consumers, &later, &first);
    dort__free(queues);
    if (rc <= 0)
        return rc == DORT_ENOMEM ? oom(L) : 0;
    push_index(L, later);
    push_key(L, "queue");
    return fail(L, DORT__AT_VALUE, "queue \"%s\" already has a consumer ($.queues.consumers[%zu])",
                cfg->consumers[later].queue, first);
}

static int parse_consumers(loader_t *L, json_t *arr)
{
    static const char *const keys[] = {
        "queue",       "worker",      "max_batch_size",    "max_batch_timeout",
        "max_retries", "retry_delay", "dead_letter_queue", NULL};
    dort_config_t *cfg = L->cfg;
    json_t *c;
    int rc;
    cfg->consumers = dort__calloc(json_array_size(arr), sizeof *cfg->consumers);
    if (cfg->consumers == NULL)
        return oom(L);
    push_key(L, "consumers");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if ((rc = array_obj(L, arr, i, keys, &c)) != 0)
            return rc;
        cfg->n_consumers = i + 1;
        if ((rc = parse_consumer(L, c, &cfg->consumers[i])) != 0)
            return rc;
        pop(L);
    }
    if ((rc = check_consumer_queues(L)) != 0)
        return rc;
    pop(L);
    return 0;
}

static int parse_queues(loader_t *L, json_t *root)
{
    static const char *const keys[] = {"producers", "consumers", NULL};
    json_t *o, *prod, *cons;
    int rc;
    if ((rc = section(L, root, "queues", keys, &o)) <= 0)
        return rc;
    if ((rc = get_typed(L, o, "producers", JSON_ARRAY, &prod)) != 0 ||
        (rc = get_typed(L, o, "consumers", JSON_ARRAY, &cons)) != 0)
        return rc;
    if (prod != NULL && json_array_size(prod) > 0 && (rc = parse_producers(L, prod)) != 0)
        return rc;
    if (cons != NULL && json_array_size(cons) > 0 && (rc = parse_consumers(L, cons)) != 0)
        return rc;
    pop(L);
    return 0;
}

/* An array of non-empty strings (crons, secrets) copied into *out / *n. */
static int string_array(loader_t *L, json_t *arr, int syntax, char ***out, size_t *n)
{
    int rc;
    if (json_array_size(arr) == 0)
        return 0;
    if ((*out = dort__calloc(json_array_size(arr), sizeof **out)) == NULL)
        return oom(L);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *v = json_array_get(arr, i);
        push_index(L, i);
        if (!json_is_string(v))
            return fail_type(L, "string", v);
        if ((rc = check_syntax(L, json_string_value(v), syntax)) != 0)
            return rc;
        pop(L);
        if (((*out)[i] = dort__strdup(json_string_value(v))) == NULL)
            return oom(L);
        *n = i + 1;
    }
    return 0;
}

static int parse_triggers(loader_t *L, json_t *root)
{
    static const char *const keys[] = {"crons", NULL};
    json_t *o, *arr;
    int rc;
    if ((rc = section(L, root, "triggers", keys, &o)) <= 0)
        return rc;
    if ((rc = get_typed(L, o, "crons", JSON_ARRAY, &arr)))
        return rc;
    if (arr != NULL) {
        push_key(L, "crons");
        if ((rc = string_array(L, arr, NONEMPTY, &L->cfg->crons, &L->cfg->n_crons)) != 0)
            return rc;
        pop(L);
    }
    pop(L);
    return 0;
}

/* A var's value as text: numbers exactly as written (jansson would print 0.1
 * as 0.10000000000000001), so it is cut from the source. */
static char *var_text(loader_t *L, json_t *v)
{
    char buf[64];
    size_t off, n;
    int line, col;
    if (json_is_string(v))
        return dort__strdup(json_string_value(v));
    if (json_is_boolean(v))
        return dort__strdup(json_is_true(v) ? "true" : "false");
    /* Integers print back exactly as JSON allows writing them (but for -0). */
    if (json_is_integer(v) && json_integer_value(v) != 0) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return dort__strdup(buf);
    }
    if (dort__config_locate(L->text, L->len, &L->path, DORT__AT_VALUE, &line, &col, &off) == 0 &&
        (n = dort__config_number_len(L->text, L->len, off)) > 0)
        return dort__strndup(L->text + off, n);
    snprintf(buf, sizeof buf, "%.17g", json_number_value(v));
    return dort__strdup(buf);
}

static int parse_vars(loader_t *L, json_t *root)
{
    dort_config_t *cfg = L->cfg;
    json_t *o;
    char buf[64];
    int rc;
    if ((rc = get_typed(L, root, "vars", JSON_OBJECT, &o)) != 0 || o == NULL ||
        json_object_size(o) == 0)
        return rc;
    if ((cfg->vars = dort__calloc(json_object_size(o), sizeof *cfg->vars)) == NULL)
        return oom(L);
    push_key(L, "vars");
    for (void *it = json_object_iter(o); it != NULL; it = json_object_iter_next(o, it)) {
        const char *key = json_object_iter_key(it);
        json_t *v = json_object_iter_value(it);
        dort_config_json_var_t *var = &cfg->vars[cfg->n_vars];
        push_key(L, key);
        if (!dort__config_is_ident(key))
            return fail(L, DORT__AT_KEY,
                        "\"%s\" is not a valid binding name ([A-Za-z_][A-Za-z0-9_]*)",
                        dort__config_shown(key, buf, sizeof buf));
        if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v))
            return fail_type(L, "string, number or boolean", v);
        var->name = dort__strdup(key);
        var->value = var_text(L, v);
        var->is_string = json_is_string(v);
        cfg->n_vars++;
        if (var->name == NULL || var->value == NULL)
            return oom(L);
        pop(L);
    }
    pop(L);
    return 0;
}

static int parse_dev(loader_t *L, json_t *root)
{
    static const char *const keys[] = {"ip", "port", NULL};
    dort_config_t *cfg = L->cfg;
    json_t *o;
    char *ip = NULL;
    uint64_t port = cfg->dev.port;
    int rc;
    if ((rc = section(L, root, "dev", keys, &o)) <= 0)
        return rc;
    if ((rc = get_str(L, o, "ip", 0, IP, &ip)) != 0)
        return rc;
    if (ip != NULL) {
        dort__free(cfg->dev_ip);
        cfg->dev.ip = cfg->dev_ip = ip;
    }
    if ((rc = get_uint(L, o, "port", 1, 65535, &port)) != 0)
        return rc;
    cfg->dev.port = (uint16_t)port;
    pop(L);
    return 0;
}

static int parse_durability(loader_t *L, json_t *o)
{
    static const char *const names[] = {"full", "relaxed", "memory"};
    static const dort_config_durability_t values[] = {
        DORT_CONFIG_DURABILITY_FULL, DORT_CONFIG_DURABILITY_RELAXED, DORT_CONFIG_DURABILITY_MEMORY};
    json_t *v = json_object_get(o, "durability");
    char buf[64];
    if (v == NULL)
        return 0;
    push_key(L, "durability");
    if (!json_is_string(v))
        return fail_type(L, "string", v);
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(json_string_value(v), names[i]) == 0) {
            L->cfg->storage.durability = values[i];
            pop(L);
            return 0;
        }
    }
    return fail(L, DORT__AT_VALUE, "unknown durability \"%s\" (allowed: full, relaxed, memory)",
                dort__config_shown(json_string_value(v), buf, sizeof buf));
}

static int parse_storage(loader_t *L, json_t *root)
{
    static const char *const keys[] = {"persist_to", "durability", "max_size", NULL};
    dort_config_t *cfg = L->cfg;
    json_t *o;
    int rc;
    if ((rc = section(L, root, "storage", keys, &o)) <= 0)
        return rc;
    if ((rc = get_str(L, o, "persist_to", 0, NONEMPTY, &cfg->persist_to)) != 0 ||
        (rc = parse_durability(L, o)) != 0 ||
        (rc = get_size(L, o, "max_size", MiB, 16 * TiB, &cfg->storage.max_size)) != 0)
        return rc;
    cfg->storage.persist_to = cfg->persist_to;
    pop(L);
    return 0;
}

static int parse_limits(loader_t *L, json_t *root)
{
    static const char *const keys[] = {"max_body_bytes",
                                       "max_header_bytes",
                                       "request_timeout_ms",
                                       "max_connections",
                                       "websocket_max_message_bytes",
                                       NULL};
    dort_config_limits_t *l = &L->cfg->limits;
    uint64_t hdr = l->max_header_bytes;
    json_t *o;
    int rc;
    if ((rc = section(L, root, "limits", keys, &o)) <= 0)
        return rc;
    if ((rc = get_size(L, o, "max_body_bytes", 1, 4 * GiB, &l->max_body_bytes)) != 0 ||
        (rc = get_size(L, o, "max_header_bytes", KiB, MiB, &hdr)) != 0 ||
        (rc = get_u32(L, o, "request_timeout_ms", 1, 3600000, &l->request_timeout_ms)) != 0 ||
        (rc = get_u32(L, o, "max_connections", 1, 1000000, &l->max_connections)) != 0 ||
        (rc = get_size(L, o, "websocket_max_message_bytes", 1, GiB,
                       &l->websocket_max_message_bytes)) != 0)
        return rc;
    l->max_header_bytes = (uint32_t)hdr;
    pop(L);
    return 0;
}

static int parse_secrets(loader_t *L, json_t *root)
{
    json_t *arr;
    int rc;
    if ((rc = get_typed(L, root, "secrets", JSON_ARRAY, &arr)) != 0 || arr == NULL)
        return rc;
    push_key(L, "secrets");
    if ((rc = string_array(L, arr, IDENT, &L->cfg->secrets, &L->cfg->n_secrets)) != 0)
        return rc;
    pop(L);
    return 0;
}

static int parse_root(loader_t *L, json_t *root)
{
    static const char *const keys[] = {"$schema",
                                       "name",
                                       "compatibility_date",
                                       "workers",
                                       "durable_objects",
                                       "queues",
                                       "triggers",
                                       "vars",
                                       "secrets",
                                       "dev",
                                       "storage",
                                       "limits",
                                       NULL};
    dort_config_t *cfg = L->cfg;
    json_t *schema;
    int rc;
    if (!json_is_object(root))
        return fail_type(L, "object", root);
    if ((rc = check_keys(L, root, keys)) != 0)
        return rc;
    /* "$schema" is accepted for editors' sake (wrangler.json has one) and
     * otherwise ignored. */
    if ((schema = json_object_get(root, "$schema")) != NULL && !json_is_string(schema)) {
        push_key(L, "$schema");
        return fail_type(L, "string", schema);
    }
    if ((rc = get_str(L, root, "name", 1, ANY, &cfg->name)) != 0)
        return rc;
    if (!dort__config_is_short_name(cfg->name, 0)) {
        push_key(L, "name");
        return fail(L, DORT__AT_VALUE, "name must be 1 to 63 of [a-z0-9-_]");
    }
    if ((rc = get_str(L, root, "compatibility_date", 0, ANY, &cfg->compat_date)) != 0)
        return rc;
    if (cfg->compat_date != NULL && !dort__config_is_date(cfg->compat_date)) {
        push_key(L, "compatibility_date");
        return fail(L, DORT__AT_VALUE, "expected a date YYYY-MM-DD");
    }
    if ((rc = parse_workers(L, root)) != 0 || (rc = parse_do(L, root)) != 0 ||
        (rc = parse_queues(L, root)) != 0 || (rc = parse_triggers(L, root)) != 0 ||
        (rc = parse_vars(L, root)) != 0 || (rc = parse_secrets(L, root)) != 0 ||
        (rc = parse_dev(L, root)) != 0 || (rc = parse_storage(L, root)) != 0 ||
        (rc = parse_limits(L, root)) != 0)
        return rc;
    return dort__config_check_bindings(cfg, L->err);
}

/* ---- entry point ---- */

int dort__config_parse(dort_config_t *cfg, dort_config_error_t *err)
{
    loader_t L = {.cfg = cfg, .err = err, .text = cfg->text, .len = cfg->text_len};
    json_error_t jerr;
    json_t *root;
    int rc;
    root = json_loadb(cfg->text, cfg->text_len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return oom(&L);
        return dort__config_fail_at(err, jerr.line > 0 ? jerr.line : 0,
                                    jerr.column > 0 ? jerr.column : 0, "invalid JSON: %s",
                                    jerr.text);
    }
    rc = parse_root(&L, root);
    json_decref(root);
    return rc;
}
