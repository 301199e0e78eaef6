/* dort/cron.h - cron expressions as Cloudflare Workers Cron Triggers read them.
 *
 * An expression has five fields separated by one or more spaces or tabs
 * (leading and trailing blanks are ignored). All times are UTC.
 *
 *   field         values                         also accepted
 *   minute        0-59                           * , - /
 *   hour          0-23                           * , - /
 *   day-of-month  1-31                           * , - /  L  LW  nW
 *   month         1-12, JAN-DEC (any case)       * , - /
 *   day-of-week   1-7 with 1 = Sunday, SUN-SAT   * , - /  L  nL  n#k
 *
 * Lists `a,b`, ranges `a-b`, steps `*`/n, `a-b/n` and `a/n` (a, a+n, ... up
 * to the field maximum). A step is 1 up to the width of the field (59, 23,
 * 30, 11, 6), as Cloudflare's parser allows.
 *
 * Day-of-month specials stand alone in their field: `L` is the last day of
 * the month, `LW` the last weekday (Monday-Friday) of the month, `15W` the
 * weekday nearest the 15th without leaving the month (Quartz: a Saturday 1st
 * gives Monday the 3rd, a Sunday last day gives the Friday before; a day the
 * month does not have never matches).
 *
 * Day-of-week specials stand alone too: `6L` or `FRIL` is the last Friday of
 * the month, `2#1` or `MON#1` the first Monday (k is 1-5; a month without a
 * fifth Monday has no match for `2#5`), and `L` by itself means Saturday (7),
 * as in Quartz and Cloudflare.
 *
 * WEEKDAY NUMBERING: 1 = Sunday ... 7 = Saturday (Quartz), not Vixie cron's
 * 0 = Sunday. A 0 in the day-of-week field is rejected with an explanation;
 * "1-5" means Sunday-Thursday, write "MON-FRI" or "2-6" for weekdays.
 *
 * DAY-OF-MONTH AND DAY-OF-WEEK TOGETHER: when both fields are restricted
 * (neither is exactly `*`), a day matches when EITHER field matches, as in
 * Vixie cron and as Cloudflare's own parser (saffron) evaluates it. So
 * "0 0 13 * FRI" fires on every 13th and on every Friday, not only on Friday
 * the 13th. A field counts as unrestricted only when it is the single
 * character `*`; `*`/1 is a restriction that happens to allow every day.
 *
 * Rejected (DORT_ECRON): anything but five fields (no seconds, no year), `?`
 * (Cloudflare does not document it and its parser refuses it), lowercase
 * `l`/`w` (Cloudflare's parser only takes upper case L and W), values out of
 * range, ranges whose start is after their end (no wrap-around such as
 * FRI-MON), steps of 0 or wider than the field, a bare `*` inside a list,
 * `L`/`W`/`#` combined with lists or ranges, `L-n` offsets, and any other
 * character. The message names the field (minute, hour, day-of-month, month,
 * day-of-week) and quotes the offending text.
 */
#ifndef DORT_CRON_H
#define DORT_CRON_H

#include <dort/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A parsed cron expression. Immutable after dort_cron_parse(), so one value
 * may be read from any number of threads at once. */
typedef struct dort_cron_s dort_cron_t;

/* Parses the NUL-terminated expression `expr` into a new dort_cron_t and
 * stores it in `*out`; the caller owns it and releases it with
 * dort_cron_free(). The text is copied, `expr` is not retained.
 *
 * Returns 0 on success; DORT_ECRON when the expression is invalid; DORT_EINVAL
 * when `expr` or `out` is NULL; DORT_ENOMEM when the allocator failed. On any
 * error `*out` (when `out` is not NULL) is set to NULL and, when `err` is not
 * NULL and `err_len` > 0, a message is written into `err`: truncated to
 * `err_len` bytes and always NUL-terminated. For DORT_ECRON it names the bad
 * field and quotes the offending text, e.g. "day-of-week field '0': weekdays
 * are 1-7 with 1 = Sunday (...); use 1 or SUN". On success `err` is left as
 * it was.
 *
 * Allocates through the dort allocator. Thread-safe (no shared state). */
DORT_EXTERN int dort_cron_parse(const char *expr, dort_cron_t **out, char *err, size_t err_len);

/* Releases `c`. NULL is ignored. No other thread may be using `c`. */
DORT_EXTERN void dort_cron_free(dort_cron_t *c);

/* Returns the text `c` was parsed from, exactly as given (blanks included).
 * The string is borrowed: it stays valid until dort_cron_free(c). Returns
 * NULL when `c` is NULL. Thread-safe. */
DORT_EXTERN const char *dort_cron_expr(const dort_cron_t *c);

/* Computes the first fire time strictly after `after_ms` (Unix time in
 * milliseconds, UTC; any int64_t, negative values are before 1970). Fire
 * times are whole minutes, so the result is a multiple of 60000 and
 * `*next_ms > after_ms`.
 *
 * Returns 0 and stores the time in `*next_ms`; DORT_ENOENT when the
 * expression never fires again ("0 0 30 2 *", "0 0 31 4 *") or the next fire
 * time would not fit in an int64_t; DORT_EINVAL when `c` or `next_ms` is
 * NULL. `*next_ms` is written only on success.
 *
 * "Never" is exact, not a guess: the Gregorian calendar repeats every 400
 * years (146097 days, a whole number of weeks), so the search stops after one
 * full cycle of months and a pattern without a match in it has none at all.
 * The cost is bounded by that cycle (at most a few thousand month steps).
 *
 * Does not allocate. Thread-safe: `c` is only read. */
DORT_EXTERN int dort_cron_next(const dort_cron_t *c, int64_t after_ms, int64_t *next_ms);

#ifdef __cplusplus
}
#endif
#endif
