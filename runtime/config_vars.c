/* config_vars.c - where values come from: `.dev.vars`, overrides and the
 * environment; the binding namespace and the names only the application
 * knows; plus loading entry points, file I/O, accessors and teardown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dort/errors.h>

#include "alloc_internal.h"
#include "config_internal.h"

#define MAX_CONFIG_BYTES ((size_t)16 << 20)
#define MAX_DEV_VARS_BYTES ((size_t)1 << 20)

/* ---- name/value lists ---- */

void dort__config_kv_clear(dort__kvlist_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        dort__free(l->items[i].name);
        dort__free(l->items[i].value);
    }
    dort__free(l->items);
    l->items = NULL;
    l->n = 0;
}

static dort__kv_t *kv_find(const dort__kvlist_t *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].name, name) == 0)
            return &l->items[i];
    return NULL;
}

/* Takes ownership of `name` and `value` (both freed on failure); a later set
 * of the same name replaces the value. Returns 0 or DORT_ENOMEM. */
static int kv_set(dort__kvlist_t *l, char *name, char *value)
{
    dort__kv_t *kv = kv_find(l, name), *items;
    if (kv != NULL) {
        dort__free(name);
        dort__free(kv->value);
        kv->value = value;
        return 0;
    }
    if ((items = dort__realloc(l->items, (l->n + 1) * sizeof *items)) == NULL) {
        dort__free(name);
        dort__free(value);
        return DORT_ENOMEM;
    }
    l->items = items;
    l->items[l->n++] = (dort__kv_t){name, value};
    return 0;
}

/* ---- .dev.vars ---- */

typedef struct {
    const char *s; /* normalized text: every line ends in '\n' or at len */
    size_t len;
    size_t pos;
    size_t line_start;
    int line;
    dort_config_error_t *err;
} dv_t;

static int dv_fail(dv_t *d, size_t at, int line, const char *msg)
{
    int col = 1;
    for (size_t i = d->line_start; i < at && i < d->len; i++)
        col += ((unsigned char)d->s[i] & 0xC0) != 0x80;
    return dort__config_fail_at(d->err, line, col, "%s", msg);
}

static int is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static void skip_blank(dv_t *d)
{
    while (d->pos < d->len && (d->s[d->pos] == ' ' || d->s[d->pos] == '\t'))
        d->pos++;
}

/* A quoted value starting at the quote under the cursor; may span lines.
 * Double quotes process escapes, single quotes and backticks do not. */
static int dv_quoted(dv_t *d, char **out)
{
    char q = d->s[d->pos], *v, *w;
    size_t end = ++d->pos;
    int line = d->line;
    while (end < d->len && d->s[end] != q)
        end += (d->s[end] == '\\' && q == '"' && end + 1 < d->len) ? 2 : 1;
    if (end >= d->len) {
        char msg[64];
        snprintf(msg, sizeof msg, "unterminated %c-quoted value", q);
        return dv_fail(d, d->pos - 1, line, msg);
    }
    if ((v = w = dort__malloc(end - d->pos + 1)) == NULL)
        return DORT_ENOMEM;
    while (d->pos < end) {
        char c = d->s[d->pos++], e;
        if (c == '\\' && q == '"') {
            e = d->s[d->pos++];
            if (e == 'n' || e == 'r' || e == 't') {
                *w++ = e == 'n' ? '\n' : e == 'r' ? '\r' : '\t';
                continue;
            }
            if (e != '"' && e != '\\')
                *w++ = '\\'; /* unknown escapes stay as written */
            c = e;
        }
        if (c == '\n') {
            d->line++;
            d->line_start = d->pos;
        }
        *w++ = c;
    }
    *w = '\0';
    d->pos++;
    skip_blank(d);
    if (d->pos < d->len && d->s[d->pos] != '\n' && d->s[d->pos] != '#') {
        dort__free(v);
        return dv_fail(d, d->pos, d->line, "unexpected text after the closing quote");
    }
    *out = v;
    return 0;
}

static int dv_unquoted(dv_t *d, char **out)
{
    size_t start = d->pos, end;
    /* As dotenv: `#` ends an unquoted value, surrounding blanks are trimmed. */
    while (d->pos < d->len && d->s[d->pos] != '\n' && d->s[d->pos] != '#')
        d->pos++;
    end = d->pos;
    while (end > start && (d->s[end - 1] == ' ' || d->s[end - 1] == '\t'))
        end--;
    *out = dort__strndup(d->s + start, end - start);
    return *out == NULL ? DORT_ENOMEM : 0;
}

/* One KEY=VALUE entry at the cursor (not blank, not a comment). */
static int dv_entry(dv_t *d, dort__kvlist_t *out)
{
    size_t k0;
    char *name, *value = NULL;
    int rc;
    if (d->len - d->pos > 7 && memcmp(d->s + d->pos, "export", 6) == 0 &&
        (d->s[d->pos + 6] == ' ' || d->s[d->pos + 6] == '\t')) {
        size_t save = d->pos;
        d->pos += 6;
        skip_blank(d);
        /* `export = 1` assigns a variable named export, as in dotenv. */
        if (d->pos < d->len && d->s[d->pos] == '=')
            d->pos = save;
    }
    for (k0 = d->pos; d->pos < d->len && is_key_char(d->s[d->pos]);)
        d->pos++;
    if (d->pos == k0)
        return dv_fail(d, d->pos, d->line, "expected KEY=VALUE");
    if ((name = dort__strndup(d->s + k0, d->pos - k0)) == NULL)
        return DORT_ENOMEM;
    skip_blank(d);
    if (d->pos >= d->len || d->s[d->pos] != '=') {
        dort__free(name);
        return dv_fail(d, d->pos, d->line, "expected '=' after the name");
    }
    d->pos++;
    skip_blank(d);
    if (d->pos < d->len && strchr("\"'`", d->s[d->pos]) != NULL && d->s[d->pos] != '\0')
        rc = dv_quoted(d, &value);
    else
        rc = dv_unquoted(d, &value);
    if (rc != 0) {
        dort__free(name);
        return rc;
    }
    return kv_set(out, name, value);
}

/* dotenv reads "\r\n" and lone "\r" as line ends: normalize to "\n" first. */
static char *normalize_eol(const char *s, size_t len, size_t *out_len)
{
    char *t = dort__malloc(len + 1);
    size_t n = 0;
    if (t == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\r') {
            t[n++] = '\n';
            if (i + 1 < len && s[i + 1] == '\n')
                i++;
        } else {
            t[n++] = s[i];
        }
    }
    t[n] = '\0';
    *out_len = n;
    return t;
}

static int parse_dev_vars(dv_t *d, dort__kvlist_t *out)
{
    const char *nul = memchr(d->s, '\0', d->len);
    int rc;
    if (nul != NULL) {
        for (size_t i = 0; i < (size_t)(nul - d->s); i++)
            if (d->s[i] == '\n') {
                d->line++;
                d->line_start = i + 1;
            }
        return dv_fail(d, (size_t)(nul - d->s), d->line, "NUL byte in .dev.vars");
    }
    while (d->pos < d->len) {
        skip_blank(d);
        if (d->pos < d->len && d->s[d->pos] != '\n' && d->s[d->pos] != '#' &&
            (rc = dv_entry(d, out)) != 0)
            return rc;
        /* Rest of the line is a comment (or nothing, dv_entry made sure). */
        while (d->pos < d->len && d->s[d->pos] != '\n')
            d->pos++;
        if (d->pos < d->len) {
            d->pos++;
            d->line++;
            d->line_start = d->pos;
        }
    }
    return 0;
}

int dort_config_load_dev_vars_buffer(dort_config_t *cfg, const char *text, size_t len,
                                     dort_config_error_t *err)
{
    dort__kvlist_t list = {NULL, 0};
    dv_t d = {NULL, 0, 0, 0, 1, err};
    char *norm;
    int rc;
    if (cfg == NULL || err == NULL || (text == NULL && len > 0))
        return DORT_EINVAL;
    if ((norm = normalize_eol(text ? text : "", len, &d.len)) == NULL) {
        dort__config_fail_at(err, 0, 0, "out of memory");
        return DORT_ENOMEM;
    }
    d.s = norm;
    rc = parse_dev_vars(&d, &list);
    dort__free(norm);
    if (rc == DORT_ENOMEM)
        dort__config_fail_at(err, 0, 0, "out of memory");
    if (rc != 0) {
        dort__config_kv_clear(&list);
        return rc;
    }
    dort__config_kv_clear(&cfg->dev_vars);
    cfg->dev_vars = list;
    return 0;
}

int dort_config_load_dev_vars(dort_config_t *cfg, const char *path, dort_config_error_t *err)
{
    dort_config_error_t read_err;
    char *data = NULL, *own = NULL;
    size_t len = 0;
    int rc;
    if (cfg == NULL || err == NULL)
        return DORT_EINVAL;
    if (path == NULL) {
        size_t n = strlen(cfg->dir) + sizeof "/.dev.vars";
        if ((own = dort__malloc(n)) == NULL) {
            dort__config_fail_at(err, 0, 0, "out of memory");
            return DORT_ENOMEM;
        }
        snprintf(own, n, "%s/.dev.vars", cfg->dir);
        path = own;
    }
    /* A missing file succeeds, and success leaves `err` untouched. */
    rc = dort__config_read_file(path, MAX_DEV_VARS_BYTES, &data, &len, &read_err);
    if (rc == DORT_ENOENT) {
        dort__config_kv_clear(&cfg->dev_vars);
        rc = 0;
    } else if (rc != 0) {
        *err = read_err;
    } else {
        rc = dort_config_load_dev_vars_buffer(cfg, data, len, err);
    }
    dort__free(data);
    dort__free(own);
    return rc;
}

/* ---- lookups ---- */

int dort_config_set_var(dort_config_t *cfg, const char *name, const char *value)
{
    char *n, *v;
    if (cfg == NULL || name == NULL || value == NULL || !dort__config_is_ident(name))
        return DORT_EINVAL;
    n = dort__strdup(name);
    v = dort__strdup(value);
    if (n == NULL || v == NULL) {
        dort__free(n);
        dort__free(v);
        return DORT_ENOMEM;
    }
    return kv_set(&cfg->overrides, n, v);
}

static int is_secret(const dort_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_secrets; i++)
        if (strcmp(cfg->secrets[i], name) == 0)
            return 1;
    return 0;
}

const char *dort_config_var(const dort_config_t *cfg, const char *name)
{
    const dort__kv_t *kv;
    const char *env;
    if (cfg == NULL || name == NULL)
        return NULL;
    if ((kv = kv_find(&cfg->overrides, name)) != NULL)
        return kv->value;
    if (is_secret(cfg, name) && (env = getenv(name)) != NULL)
        return env;
    if ((kv = kv_find(&cfg->dev_vars, name)) != NULL)
        return kv->value;
    for (size_t i = 0; i < cfg->n_vars; i++)
        if (strcmp(cfg->vars[i].name, name) == 0)
            return cfg->vars[i].value;
    return NULL;
}

size_t dort_config_missing_secrets(const dort_config_t *cfg, const char **names, size_t n)
{
    size_t count = 0;
    if (cfg == NULL)
        return 0;
    for (size_t i = 0; i < cfg->n_secrets; i++) {
        if (dort_config_var(cfg, cfg->secrets[i]) != NULL)
            continue;
        if (names != NULL && count < n)
            names[count] = cfg->secrets[i];
        count++;
    }
    return count;
}

/* ---- names ---- */

/* The k-th name of the one namespace a worker's env exposes: durable object
 * bindings, queue producers, vars, secrets, in that order; *p is set to where
 * it is written. */
static const char *binding_at(const dort_config_t *cfg, size_t k, dort__cpath_t *p, dort__at_t *at)
{
    *at = DORT__AT_VALUE;
    if (k < cfg->n_do_bindings) {
        *p = (dort__cpath_t){{{"durable_objects", 0}, {"bindings", 0}, {NULL, k}, {"name", 0}}, 4};
        return cfg->do_bindings[k].name;
    }
    k -= cfg->n_do_bindings;
    if (k < cfg->n_producers) {
        *p = (dort__cpath_t){{{"queues", 0}, {"producers", 0}, {NULL, k}, {"binding", 0}}, 4};
        return cfg->producers[k].binding;
    }
    k -= cfg->n_producers;
    if (k < cfg->n_vars) {
        *at = DORT__AT_KEY;
        *p = (dort__cpath_t){{{"vars", 0}, {cfg->vars[k].name, 0}}, 2};
        return cfg->vars[k].name;
    }
    k -= cfg->n_vars;
    *p = (dort__cpath_t){{{"secrets", 0}, {NULL, k}}, 2};
    return cfg->secrets[k];
}

int dort__config_check_bindings(const dort_config_t *cfg, dort_config_error_t *err)
{
    size_t n = cfg->n_do_bindings + cfg->n_producers + cfg->n_vars + cfg->n_secrets, i, j;
    const char **names, *name;
    dort__cpath_t pi, pj;
    dort__at_t at;
    char first[128];
    int rc;
    if (n < 2)
        return 0;
    if ((names = dort__malloc(n * sizeof *names)) == NULL) {
        dort__config_fail_at(err, 0, 0, "out of memory");
        return DORT_ENOMEM;
    }
    for (i = 0; i < n; i++)
        names[i] = binding_at(cfg, i, &pi, &at);
    rc = dort__config_first_duplicate(names, n, &i, &j);
    dort__free(names);
    if (rc == DORT_ENOMEM)
        dort__config_fail_at(err, 0, 0, "out of memory");
    if (rc <= 0)
        return rc;
    binding_at(cfg, j, &pj, &at);
    dort__cpath_format(&pj, first, sizeof first);
    name = binding_at(cfg, i, &pi, &at);
    return dort__config_fail(err, cfg->text, cfg->text_len, &pi, at,
                             "duplicate binding name \"%s\" (already used at %s)", name, first);
}

static int known(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (strcmp(*list, name) == 0)
            return 1;
    return 0;
}

/* Fails for `name` at `p` unless it is in `list` (NULL: not checked). */
static int check_known(const dort_config_t *cfg, const char *const *list, const char *what,
                       const char *name, const dort__cpath_t *p, dort_config_error_t *err)
{
    char names[300] = "";
    size_t n = 0;
    if (list == NULL || name == NULL || known(list, name))
        return 0;
    for (size_t i = 0; list[i] && n < sizeof names; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", list[i]);
    if (n >= sizeof names)
        memcpy(names + sizeof names - 4, "...", 4);
    return dort__config_fail(err, cfg->text, cfg->text_len, p, DORT__AT_VALUE,
                             "unknown %s \"%s\" (%s%s)", what, name,
                             names[0] ? "known: " : "none registered", names);
}

int dort_config_check_names(const dort_config_t *cfg, const char *const *known_classes,
                            const char *const *known_workers, dort_config_error_t *err)
{
    dort__cpath_t p;
    int rc = 0;
    if (cfg == NULL || err == NULL)
        return DORT_EINVAL;
    for (size_t i = 0; i < cfg->n_do_bindings && rc == 0; i++) {
        p = (dort__cpath_t){{{"durable_objects", 0}, {"bindings", 0}, {NULL, i}, {"class_name", 0}},
                            4};
        rc = check_known(cfg, known_classes, "class", cfg->do_bindings[i].class_name, &p, err);
    }
    p = (dort__cpath_t){{{"workers", 0}, {"fetch", 0}}, 2};
    if (rc == 0)
        rc = check_known(cfg, known_workers, "worker", cfg->fetch_worker, &p, err);
    p.seg[1].key = "scheduled";
    if (rc == 0)
        rc = check_known(cfg, known_workers, "worker", cfg->scheduled_worker, &p, err);
    for (size_t i = 0; i < cfg->n_consumers && rc == 0; i++) {
        p = (dort__cpath_t){{{"queues", 0}, {"consumers", 0}, {NULL, i}, {"worker", 0}}, 4};
        rc = check_known(cfg, known_workers, "worker", cfg->consumers[i].worker, &p, err);
    }
    return rc;
}

/* ---- files ---- */

int dort__config_read_file(const char *path, size_t max, char **data, size_t *len,
                           dort_config_error_t *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL, *nb;
    size_t n = 0, cap = 0, got = 1;
    int rc = 0;
    if (f == NULL) {
        int e = errno;
        dort__config_fail_at(err, 0, 0, "cannot open %s: %s", path, strerror(e));
        return e == ENOENT ? DORT_ENOENT : DORT_ESYS;
    }
    while (rc == 0 && got > 0) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            if ((nb = dort__realloc(buf, cap + 1)) == NULL) {
                rc = DORT_ENOMEM;
                dort__config_fail_at(err, 0, 0, "out of memory");
                break;
            }
            buf = nb;
        }
        n += got = fread(buf + n, 1, cap - n, f);
        if (n > max)
            rc = dort__config_fail_at(err, 0, 0, "%s is larger than %zu bytes", path, max);
        else if (got == 0 && ferror(f)) {
            dort__config_fail_at(err, 0, 0, "cannot read %s", path);
            rc = DORT_ESYS;
        }
    }
    fclose(f);
    if (rc != 0) {
        dort__free(buf);
        return rc;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

static void set_defaults(dort_config_t *cfg)
{
    cfg->dev.ip = cfg->dev_ip;
    cfg->dev.port = 8787;
    cfg->storage.durability = DORT_CONFIG_DURABILITY_UNSET;
    cfg->limits.max_body_bytes = 1048576;
    cfg->limits.max_header_bytes = 16384;
    cfg->limits.request_timeout_ms = 30000;
    cfg->limits.max_connections = 10000;
    cfg->limits.websocket_max_message_bytes = 33554432;
}

/* Makes a config of `len` bytes of JSON whose directory is `dir`. */
static int load(const char *json, size_t len, const char *dir, dort_config_t **out,
                dort_config_error_t *err)
{
    int rc;
    dort_config_t *cfg = dort__calloc(1, sizeof *cfg);
    if (cfg == NULL || (cfg->text = dort__strndup(json ? json : "", len)) == NULL ||
        (cfg->dir = dort__strdup(dir)) == NULL ||
        (cfg->dev_ip = dort__strdup("127.0.0.1")) == NULL) {
        dort_config_free(cfg);
        dort__config_fail_at(err, 0, 0, "out of memory");
        return DORT_ENOMEM;
    }
    cfg->text_len = len;
    set_defaults(cfg);
    if ((rc = dort__config_parse(cfg, err)) != 0) {
        dort_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

int dort_config_load_buffer(const char *json, size_t len, dort_config_t **out,
                            dort_config_error_t *err)
{
    if (out == NULL || err == NULL || (json == NULL && len > 0))
        return DORT_EINVAL;
    *out = NULL;
    return load(json, len, ".", out, err);
}

int dort_config_load_file(const char *path, dort_config_t **out, dort_config_error_t *err)
{
    char *data = NULL, *dir = NULL;
    const char *slash;
    size_t len = 0;
    int rc;
    if (path == NULL || out == NULL || err == NULL)
        return DORT_EINVAL;
    *out = NULL;
    if ((rc = dort__config_read_file(path, MAX_CONFIG_BYTES, &data, &len, err)) != 0)
        return rc;
    /* The directory resolves persist_to and finds .dev.vars beside the file. */
    slash = strrchr(path, '/');
    dir = slash == NULL ? dort__strdup(".")
                        : dort__strndup(path, slash == path ? 1 : (size_t)(slash - path));
    if (dir == NULL) {
        rc = DORT_ENOMEM;
        dort__config_fail_at(err, 0, 0, "out of memory");
    } else {
        rc = load(data, len, dir, out, err);
    }
    dort__free(dir);
    dort__free(data);
    return rc;
}

/* ---- teardown and accessors ---- */

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dort__free(v[i]);
    dort__free(v);
}

void dort_config_free(dort_config_t *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n_do_bindings; i++) {
        dort__free((void *)cfg->do_bindings[i].name);
        dort__free((void *)cfg->do_bindings[i].class_name);
    }
    for (size_t i = 0; i < cfg->n_producers; i++) {
        dort__free((void *)cfg->producers[i].binding);
        dort__free((void *)cfg->producers[i].queue);
    }
    for (size_t i = 0; i < cfg->n_consumers; i++) {
        dort__free((void *)cfg->consumers[i].queue);
        dort__free((void *)cfg->consumers[i].worker);
        dort__free((void *)cfg->consumers[i].dead_letter_queue);
    }
    for (size_t i = 0; i < cfg->n_vars; i++) {
        dort__free((void *)cfg->vars[i].name);
        dort__free((void *)cfg->vars[i].value);
    }
    dort__free(cfg->do_bindings);
    dort__free(cfg->producers);
    dort__free(cfg->consumers);
    dort__free(cfg->vars);
    free_strings(cfg->crons, cfg->n_crons);
    free_strings(cfg->secrets, cfg->n_secrets);
    dort__config_kv_clear(&cfg->dev_vars);
    dort__config_kv_clear(&cfg->overrides);
    dort__free(cfg->text);
    dort__free(cfg->dir);
    dort__free(cfg->name);
    dort__free(cfg->compat_date);
    dort__free(cfg->fetch_worker);
    dort__free(cfg->scheduled_worker);
    dort__free(cfg->dev_ip);
    dort__free(cfg->persist_to);
    dort__free(cfg);
}

const char *dort_config_name(const dort_config_t *cfg)
{
    return cfg->name;
}

const char *dort_config_compatibility_date(const dort_config_t *cfg)
{
    return cfg->compat_date;
}

const char *dort_config_dir(const dort_config_t *cfg)
{
    return cfg->dir;
}

const char *dort_config_fetch_worker(const dort_config_t *cfg)
{
    return cfg->fetch_worker;
}

const char *dort_config_scheduled_worker(const dort_config_t *cfg)
{
    return cfg->scheduled_worker;
}

#define ARRAY_ACCESSOR(fn, type, field, count)                                                     \
    size_t fn(const dort_config_t *cfg, type out)                                                  \
    {                                                                                              \
        if (out != NULL)                                                                           \
            *out = cfg->count ? (void *)cfg->field : NULL;                                         \
        return cfg->count;                                                                         \
    }

ARRAY_ACCESSOR(dort_config_do_bindings, const dort_config_do_binding_t **, do_bindings,
               n_do_bindings)
ARRAY_ACCESSOR(dort_config_producers, const dort_config_producer_t **, producers, n_producers)
ARRAY_ACCESSOR(dort_config_consumers, const dort_config_consumer_t **, consumers, n_consumers)
ARRAY_ACCESSOR(dort_config_crons, const char *const **, crons, n_crons)
ARRAY_ACCESSOR(dort_config_json_vars, const dort_config_json_var_t **, vars, n_vars)
ARRAY_ACCESSOR(dort_config_secrets, const char *const **, secrets, n_secrets)

const dort_config_dev_t *dort_config_dev(const dort_config_t *cfg)
{
    return &cfg->dev;
}

const dort_config_storage_t *dort_config_storage(const dort_config_t *cfg)
{
    return &cfg->storage;
}

const dort_config_limits_t *dort_config_limits(const dort_config_t *cfg)
{
    return &cfg->limits;
}
