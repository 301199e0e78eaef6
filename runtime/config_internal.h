/* config_internal.h - the config object and the helpers its three files share:
 * config_load.c (JSON -> struct), config_lines.c (JSON path -> line/column,
 * error filling and formatting), config_vars.c (.dev.vars, var lookup,
 * name checks). */
#ifndef DORT_CONFIG_INTERNAL_H
#define DORT_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include <dort/config.h>

/* Deepest path the loader ever builds is `$.queues.consumers[i].key` (4
 * segments): it never descends into keys it does not know. */
#define DORT__CPATH_MAX 8

/* One step of a JSON path: an object key (key != NULL) or an array index. */
typedef struct {
    const char *key;
    size_t index;
} dort__cpath_seg_t;

typedef struct {
    dort__cpath_seg_t seg[DORT__CPATH_MAX];
    int depth;
} dort__cpath_t;

/* Where in the text to point: at a member's key, or at the value. */
typedef enum { DORT__AT_VALUE = 0, DORT__AT_KEY = 1 } dort__at_t;

typedef struct {
    char *name;
    char *value;
} dort__kv_t;

typedef struct {
    dort__kv_t *items;
    size_t n;
} dort__kvlist_t;

struct dort_config_s {
    /* The source text, kept so that errors found after loading
     * (dort_config_check_names) can still point at a line. */
    char *text;
    size_t text_len;
    char *dir;
    char *name;
    char *compat_date;
    char *fetch_worker;
    char *scheduled_worker;
    dort_config_do_binding_t *do_bindings;
    size_t n_do_bindings;
    dort_config_producer_t *producers;
    size_t n_producers;
    dort_config_consumer_t *consumers;
    size_t n_consumers;
    char **crons;
    size_t n_crons;
    dort_config_json_var_t *vars;
    size_t n_vars;
    char **secrets;
    size_t n_secrets;
    char *dev_ip;
    dort_config_dev_t dev;
    char *persist_to;
    dort_config_storage_t storage;
    dort_config_limits_t limits;
    dort__kvlist_t dev_vars;  /* from .dev.vars */
    dort__kvlist_t overrides; /* from dort_config_set_var */
};

/* Writes `p` as `$.a.b[1]["odd key"]`, truncated with "..." to fit `len`. */
void dort__cpath_format(const dort__cpath_t *p, char *buf, size_t len);

/* Finds the member or element `p` names in the (valid JSON) `text` and stores
 * the 1-based line and column (in characters) of its key (DORT__AT_KEY; falls
 * back to the value for array elements and the root) or value, and the value's
 * byte offset. Returns 0, or -1 when the path is not in the text (positions
 * left untouched). Never allocates; tolerant of malformed text. */
int dort__config_locate(const char *text, size_t len, const dort__cpath_t *p, dort__at_t at,
                        int *line, int *col, size_t *value_off);

/* Length of the JSON number token starting at `off` in `text`. */
size_t dort__config_number_len(const char *text, size_t len, size_t off);

/* Fills `err` for path `p` in `text` (which may be NULL: no position) with a
 * printf-style message. Returns DORT_ECONFIG so callers can `return` it. */
int dort__config_fail(dort_config_error_t *err, const char *text, size_t len,
                      const dort__cpath_t *p, dort__at_t at, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Fills `err` with no path: `line`/`col` as given (0 = unknown). Returns
 * DORT_ECONFIG. */
int dort__config_fail_at(dort_config_error_t *err, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Name syntax. Binding names: [A-Za-z_][A-Za-z0-9_]*. Short names (config
 * name, queues): [a-z0-9-_]{1,63}, with `upper` also A-Z (workers). Dates:
 * YYYY-MM-DD that exist in the calendar. Each returns 1 or 0. */
int dort__config_is_ident(const char *s);
int dort__config_is_short_name(const char *s, int upper);
int dort__config_is_date(const char *s);
/* IPv4 or IPv6 literal, or "localhost". */
int dort__config_is_ip(const char *s);

/* Copies `s` into `buf` for a message: at most 60 bytes (then "..."),
 * control characters as '?'. Returns buf. */
const char *dort__config_shown(const char *s, char *buf, size_t len);

/* Parses and validates cfg->text into `cfg`, whose defaults are already set
 * (config_load.c). Returns 0, DORT_ECONFIG or DORT_ENOMEM with `err` filled;
 * on failure `cfg` holds partial results that dort_config_free releases. */
int dort__config_parse(dort_config_t *cfg, dort_config_error_t *err);

/* Fails on the second use of a name in the binding namespace (durable object
 * bindings, queue producers, vars, secrets). Returns 0 or DORT_ECONFIG. */
int dort__config_check_bindings(const dort_config_t *cfg, dort_config_error_t *err);

/* Finds the earliest name in `names` that repeats an earlier one: stores its
 * index in *later and the earlier one's in *first. Returns 1 when found, 0
 * when all names differ, or DORT_ENOMEM. */
int dort__config_first_duplicate(const char *const *names, size_t n, size_t *later, size_t *first);

/* Reads a whole file of at most `max` bytes into a new NUL-terminated buffer
 * (*data, free with dort__free). Returns 0, DORT_ENOENT, DORT_ESYS,
 * DORT_ECONFIG (too large) or DORT_ENOMEM, with `err` filled on failure. */
int dort__config_read_file(const char *path, size_t max, char **data, size_t *len,
                           dort_config_error_t *err);

void dort__config_kv_clear(dort__kvlist_t *l);

#endif
