/* dort/config.h - the wrangler-like JSON config, `.dev.vars` and secrets.
 *
 * A config is loaded once from a JSON file (or buffer), validated completely
 * at load time, and is read-only afterwards except for the two documented
 * mutators (dort_config_load_dev_vars*, dort_config_set_var), which the CLI
 * calls before it shares the config. Every problem the loader finds is
 * reported as DORT_ECONFIG with a dort_config_error_t naming the JSON path
 * (`$.durable_objects.bindings[1].class_name`), the line and column in the
 * file, and a message.
 *
 * Threading: a config has no internal locking. Load and adjust it on one
 * thread; after that the const accessors may be called from any thread.
 * dort_config_var() and dort_config_missing_secrets() read the process
 * environment, so they must not race with setenv().
 *
 * Memory: every pointer an accessor returns is borrowed from the config and
 * stays valid until dort_config_free(), unless said otherwise.
 */
#ifndef DORT_CONFIG_H
#define DORT_CONFIG_H

#include <dort/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque, loaded and validated config. */
typedef struct dort_config_s dort_config_t;

/* Where and why loading failed. Caller-owned (usually on the stack); every
 * function that takes one fills it completely when it fails and leaves it
 * untouched when it succeeds. */
typedef struct dort_config_error_s {
    /* JSON path of the offending key or value, e.g. `$.queues.consumers[0].queue`;
     * "" when the problem has no path (invalid JSON, unreadable file,
     * `.dev.vars`). Truncated with "..." if longer than the buffer. */
    char path[256];
    /* 1-based line of the offending key or value in the file; 0 when unknown. */
    int line;
    /* 1-based column in characters (not bytes); 0 when unknown. */
    int column;
    /* A sentence without a trailing newline. */
    char message[512];
} dort_config_error_t;

/* One `durable_objects.bindings[]` entry. */
typedef struct dort_config_do_binding_s {
    const char *name;       /* binding name, an identifier */
    const char *class_name; /* actor class the binding routes to */
} dort_config_do_binding_t;

/* One `queues.producers[]` entry. */
typedef struct dort_config_producer_s {
    const char *binding; /* binding name, an identifier */
    const char *queue;   /* queue name, [a-z0-9-_]{1,63} */
} dort_config_producer_t;

/* One `queues.consumers[]` entry, defaults filled in (Cloudflare's). */
typedef struct dort_config_consumer_s {
    const char *queue;             /* queue consumed; at most one consumer per queue */
    const char *worker;            /* built-in worker that receives the batches */
    uint32_t max_batch_size;       /* messages per batch, 1..100, default 10 */
    uint32_t max_batch_timeout_s;  /* seconds to wait to fill a batch, 0..60, default 5 */
    uint32_t max_retries;          /* retries before dead-lettering, 0..100, default 3 */
    uint32_t retry_delay_s;        /* seconds before a retry is visible, 0..86400, default 0 */
    const char *dead_letter_queue; /* queue for exhausted messages; NULL = drop them */
} dort_config_consumer_t;

/* One `vars` entry as written in the JSON file. */
typedef struct dort_config_json_var_s {
    const char *name;
    /* Strings as decoded; numbers as their source text (`1.50` stays "1.50");
     * booleans as "true" / "false". */
    const char *value;
    /* 1 when the JSON value was a string, 0 for a number or boolean. */
    int is_string;
} dort_config_json_var_t;

/* `dev`: where `dort dev` listens. */
typedef struct dort_config_dev_s {
    const char *ip; /* IPv4 or IPv6 literal, or "localhost"; default "127.0.0.1" */
    uint16_t port;  /* 1..65535, default 8787 */
} dort_config_dev_t;

/* `storage.durability`. Mapped by the CLI onto dort_durability_t; UNSET lets
 * the CLI choose (dev: relaxed, serve: full). */
typedef enum {
    DORT_CONFIG_DURABILITY_UNSET = 0,
    DORT_CONFIG_DURABILITY_FULL = 1,
    DORT_CONFIG_DURABILITY_RELAXED = 2,
    DORT_CONFIG_DURABILITY_MEMORY = 3,
} dort_config_durability_t;

/* `storage`. */
typedef struct dort_config_storage_s {
    /* Data directory as written (may be relative: resolve it against
     * dort_config_dir()); NULL when absent. */
    const char *persist_to;
    dort_config_durability_t durability;
    /* Upper bound on the store in bytes (1 MiB..16 TiB); 0 when absent. */
    uint64_t max_size;
} dort_config_storage_t;

/* `limits`, defaults filled in. Byte sizes accept an integer or a size
 * string like max_size ("1MiB"). */
typedef struct dort_config_limits_s {
    uint64_t max_body_bytes;              /* 1..4 GiB, default 1048576 (1 MiB) */
    uint32_t max_header_bytes;            /* 1024..1 MiB, default 16384 */
    uint32_t request_timeout_ms;          /* 1..3600000, default 30000 */
    uint32_t max_connections;             /* 1..1000000, default 10000 */
    uint64_t websocket_max_message_bytes; /* 1..1 GiB, default 33554432 (32 MiB) */
} dort_config_limits_t;

/* ---- loading ---- */

/* Reads and validates the JSON config at `path`. On success stores a new
 * config in *out (free it with dort_config_free) and returns 0; the config
 * remembers the directory of `path` (see dort_config_dir). On failure *out is
 * NULL, `err` is filled and the return is DORT_ECONFIG (invalid or
 * inconsistent content, file larger than 16 MiB), DORT_ENOENT (no such file),
 * DORT_ESYS (other read errors), DORT_ENOMEM, or DORT_EINVAL (NULL path, out
 * or err). `path` is borrowed for the call only. */
DORT_EXTERN int dort_config_load_file(const char *path, dort_config_t **out,
                                      dort_config_error_t *err);

/* Like dort_config_load_file, from `len` bytes at `json` (which need not be
 * NUL-terminated and may hold any bytes; they are copied). The config's
 * directory is ".". Returns 0, DORT_ECONFIG, DORT_ENOMEM or DORT_EINVAL
 * (NULL json with len > 0, NULL out or err). */
DORT_EXTERN int dort_config_load_buffer(const char *json, size_t len, dort_config_t **out,
                                        dort_config_error_t *err);

/* Frees `cfg` and everything borrowed from it. NULL is a no-op. */
DORT_EXTERN void dort_config_free(dort_config_t *cfg);

/* Checks the names the loader cannot know: every durable_objects class_name
 * must appear in `known_classes`, and every worker (workers.fetch,
 * workers.scheduled, queues.consumers[].worker) in `known_workers`. Both are
 * NULL-terminated arrays, borrowed for the call; a NULL array skips that
 * check. Returns 0, DORT_ECONFIG with `err` filled like the loader (path,
 * line, column, and a message listing the known names), or DORT_EINVAL
 * (NULL cfg or err). */
DORT_EXTERN int dort_config_check_names(const dort_config_t *cfg, const char *const *known_classes,
                                        const char *const *known_workers, dort_config_error_t *err);

/* Formats `err` as `file:line:column: path: message` into `buf` (always
 * NUL-terminated when len > 0), leaving out the parts that are unknown: no
 * file when `file` is NULL, no column when 0, no line and column when the line
 * is 0, no path when empty. Returns the length of the whole text (like
 * snprintf: a value >= len means it was truncated), or DORT_EINVAL when `err`
 * is NULL, or `buf` is NULL with len > 0. */
DORT_EXTERN int dort_config_error_format(const dort_config_error_t *err, const char *file,
                                         char *buf, size_t len);

/* ---- .dev.vars, vars and secrets ----
 *
 * A name's value comes from the first of these that has it:
 *   1. dort_config_set_var (command-line `--var`, generated dev secrets);
 *   2. the process environment, only for names listed in "secrets" (so that
 *      PATH or HOME can never shadow a var);
 *   3. `.dev.vars`;
 *   4. "vars" in the JSON file.
 */

/* Parses the `.dev.vars` file at `path` (NULL: `.dev.vars` in the config's
 * directory) and makes its values the config's dev vars, replacing any loaded
 * before. The format is dotenv's as wrangler reads it: KEY=VALUE lines
 * (KEY is [A-Za-z0-9_.-]+), blank lines and `#` comments ignored, an optional
 * `export ` prefix, spaces around `=` and unquoted values trimmed, `#` ends an
 * unquoted value, values in single quotes or backticks taken literally, values
 * in double quotes with \n \r \t \" \\ escapes processed; quoted values may
 * span lines; no interpolation; a later line wins over an earlier one with the
 * same KEY. A missing file is not an error (returns 0, dev vars cleared).
 * Returns 0, DORT_ECONFIG (malformed line: `err` has the line and column and
 * an empty path; file larger than 1 MiB), DORT_ESYS (unreadable file),
 * DORT_ENOMEM or DORT_EINVAL. On failure the previous dev vars are kept. */
DORT_EXTERN int dort_config_load_dev_vars(dort_config_t *cfg, const char *path,
                                          dort_config_error_t *err);

/* Like dort_config_load_dev_vars, from `len` bytes at `text` (copied as
 * needed; need not be NUL-terminated). */
DORT_EXTERN int dort_config_load_dev_vars_buffer(dort_config_t *cfg, const char *text, size_t len,
                                                 dort_config_error_t *err);

/* Sets `name` to `value` above every other source (both copied). Returns 0,
 * DORT_ENOMEM, or DORT_EINVAL (NULL argument, or a name that is not an
 * identifier). */
DORT_EXTERN int dort_config_set_var(dort_config_t *cfg, const char *name, const char *value);

/* Returns the value of var or secret `name` by the precedence above, or NULL
 * when no source has it. A value from the environment stays valid until the
 * environment changes; any other until the config is freed or its dev vars are
 * reloaded / the name is set again. */
DORT_EXTERN const char *dort_config_var(const dort_config_t *cfg, const char *name);

/* Counts the names listed in "secrets" that have no value from any source,
 * and writes the first `n` of them, in file order, to `names` (borrowed from
 * the config; `names` may be NULL when n is 0). Returns the count, which may
 * exceed n. */
DORT_EXTERN size_t dort_config_missing_secrets(const dort_config_t *cfg, const char **names,
                                               size_t n);

/* ---- accessors (all borrowed, valid until dort_config_free) ---- */

/* `name` (always set: required). */
DORT_EXTERN const char *dort_config_name(const dort_config_t *cfg);

/* `compatibility_date` as written (YYYY-MM-DD), or NULL when absent. */
DORT_EXTERN const char *dort_config_compatibility_date(const dort_config_t *cfg);

/* Directory of the config file ("." for a buffer, "/" for a file in the
 * root), without a trailing slash; resolve relative paths against it. */
DORT_EXTERN const char *dort_config_dir(const dort_config_t *cfg);

/* `workers.fetch` / `workers.scheduled`, or NULL when absent. */
DORT_EXTERN const char *dort_config_fetch_worker(const dort_config_t *cfg);
DORT_EXTERN const char *dort_config_scheduled_worker(const dort_config_t *cfg);

/* Each of these stores a pointer to the array in *out (NULL when empty) and
 * returns its length; the order is the file's. `out` may be NULL to just
 * count. */
DORT_EXTERN size_t dort_config_do_bindings(const dort_config_t *cfg,
                                           const dort_config_do_binding_t **out);
DORT_EXTERN size_t dort_config_producers(const dort_config_t *cfg,
                                         const dort_config_producer_t **out);
DORT_EXTERN size_t dort_config_consumers(const dort_config_t *cfg,
                                         const dort_config_consumer_t **out);
/* `triggers.crons`, unparsed (the cron module validates them). */
DORT_EXTERN size_t dort_config_crons(const dort_config_t *cfg, const char *const **out);
/* `vars` from the JSON file only (use dort_config_var for the effective value). */
DORT_EXTERN size_t dort_config_json_vars(const dort_config_t *cfg,
                                         const dort_config_json_var_t **out);
/* `secrets`: names of the required secrets. */
DORT_EXTERN size_t dort_config_secrets(const dort_config_t *cfg, const char *const **out);

/* Sections with defaults filled in; never NULL for a loaded config. */
DORT_EXTERN const dort_config_dev_t *dort_config_dev(const dort_config_t *cfg);
DORT_EXTERN const dort_config_storage_t *dort_config_storage(const dort_config_t *cfg);
DORT_EXTERN const dort_config_limits_t *dort_config_limits(const dort_config_t *cfg);

/* Parses a byte size: a non-negative integer, optionally with a fraction and
 * a unit B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of
 * 1024), case-insensitive, space allowed before the unit ("1GiB", "1.5 MB",
 * "512"). Digits after the point beyond the sixth must be zeros, and the
 * result must be a whole number of bytes ("1.5B" is not). `s` is borrowed.
 * Returns 0 and stores the value in *out, or DORT_EINVAL (malformed, not a
 * whole number of bytes, above UINT64_MAX, or a NULL argument). */
DORT_EXTERN int dort_config_parse_size(const char *s, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
