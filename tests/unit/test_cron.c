/* test_cron.c - cron syntax and next fire times (runtime/cron_parse.c,
 * runtime/cron_next.c).
 *
 * Expected times in the tables were not produced by the code under test:
 * each case was written as a Python predicate over datetime (e.g. "minute 0,
 * hour 0, day == calendar.monthrange(y, m)[1]" for "0 0 L * *") and scanned
 * minute by minute with python3 3.x while writing this file; a few were
 * checked by hand against a calendar (2025-02-01 is a Saturday, so 1W is
 * Monday the 3rd; 2025-08-31 is a Sunday, so 31W and LW are Friday the 29th).
 * Times are converted here with timegm()/gmtime_r(), not with dort's own
 * calendar code. The sequence tests compare dort_cron_next() with a
 * brute-force minute scan written below, again on libc's calendar. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <dort/alloc.h>
#include <dort/cron.h>
#include <dort/errors.h>

#include "cron_internal.h"

#define MIN_MS INT64_C(60000)
#define DAY_MS (1440 * MIN_MS)

/* "YYYY-MM-DD HH:MM[:SS]" UTC to Unix ms, through libc. */
static int64_t ms_of(const char *s)
{
    struct tm tm = {0};
    int sec = 0;
    int n = sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &sec);
    assert_true(n >= 5);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_sec = sec;
    return (int64_t)timegm(&tm) * 1000;
}

static void fmt_ms(int64_t ms, char out[40])
{
    struct tm tm;
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    gmtime_r(&t, &tm);
    snprintf(out, 40, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static dort_cron_t *parse_ok(const char *expr)
{
    char err[256] = "";
    dort_cron_t *c = NULL;
    int rc = dort_cron_parse(expr, &c, err, sizeof(err));
    if (rc != 0)
        print_error("parse '%s' failed: %d %s\n", expr, rc, err);
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

/* ---- tables of expected fire times -------------------------------------- */

typedef struct {
    const char *expr;
    const char *from;
    const char *want[9]; /* each next() starts from the previous result */
} chain_t;

static void run_chains(const chain_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dort_cron_t *c = parse_ok(cases[i].expr);
        int64_t t = ms_of(cases[i].from);
        for (size_t k = 0; k < 9 && cases[i].want[k] != NULL; k++) {
            int64_t got = -1, want = ms_of(cases[i].want[k]);
            int rc = dort_cron_next(c, t, &got);
            if (rc != 0 || got != want) {
                char g[40], w[40];
                fmt_ms(got, g);
                fmt_ms(want, w);
                print_error("'%s' step %zu: rc %d, got %s, want %s\n", cases[i].expr, k, rc, g, w);
            }
            assert_int_equal(rc, 0);
            assert_true(got == want);
            t = got;
        }
        dort_cron_free(c);
    }
}

#define RUN(cases) run_chains(cases, sizeof(cases) / sizeof(cases[0]))

static void test_basic_steps(void **state)
{
    (void)state;
    static const chain_t cases[] = {
        {"*/15 * * * *",
         "2025-03-10 10:07:30",
         {"2025-03-10 10:15", "2025-03-10 10:30", "2025-03-10 10:45", "2025-03-10 11:00",
          "2025-03-10 11:15"}},
        {"0 0 * * *", "2025-12-31 12:00", {"2026-01-01 00:00", "2026-01-02 00:00"}},
        {"1-30/5 * * * *",
         "2025-01-01 00:00",
         {"2025-01-01 00:01", "2025-01-01 00:06", "2025-01-01 00:11", "2025-01-01 00:16",
          "2025-01-01 00:21", "2025-01-01 00:26", "2025-01-01 01:01"}},
        {"5/20 * * * *",
         "2025-01-01 00:50",
         {"2025-01-01 01:05", "2025-01-01 01:25", "2025-01-01 01:45", "2025-01-01 02:05"}},
        {"0 */6 * * *",
         "2025-02-01 05:59:59",
         {"2025-02-01 06:00", "2025-02-01 12:00", "2025-02-01 18:00"}},
        {"0 0 1 */3 *",
         "2025-02-01 00:00",
         {"2025-04-01 00:00", "2025-07-01 00:00", "2025-10-01 00:00", "2026-01-01 00:00"}},
        /* an exact fire time as the start is not returned again */
        {"0 0 * * *", "2026-01-01 00:00", {"2026-01-02 00:00"}},
    };
    RUN(cases);
}

static void test_leap_years_and_month_ends(void **state)
{
    (void)state;
    static const chain_t cases[] = {
        {"0 0 29 2 *",
         "2025-01-01 00:00",
         {"2028-02-29 00:00", "2032-02-29 00:00", "2036-02-29 00:00"}},
        /* 2100 is not a leap year */
        {"0 0 29 2 *", "2096-03-01 00:00", {"2104-02-29 00:00", "2108-02-29 00:00"}},
        /* 30-day months and February are skipped */
        {"0 0 31 * *",
         "2025-01-31 00:00",
         {"2025-03-31 00:00", "2025-05-31 00:00", "2025-07-31 00:00", "2025-08-31 00:00"}},
        {"0 0 L * *",
         "2024-01-15 00:00",
         {"2024-01-31 00:00", "2024-02-29 00:00", "2024-03-31 00:00", "2024-04-30 00:00",
          "2024-05-31 00:00"}},
        {"0 0 L 2 *",
         "2023-03-01 00:00",
         {"2024-02-29 00:00", "2025-02-28 00:00", "2026-02-28 00:00"}},
    };
    RUN(cases);
}

static void test_weekday_of_month(void **state)
{
    (void)state;
    static const chain_t cases[] = {
        /* May 31 2025 is a Saturday, Aug 31 a Sunday */
        {"0 0 LW * *",
         "2025-05-01 00:00",
         {"2025-05-30 00:00", "2025-06-30 00:00", "2025-07-31 00:00", "2025-08-29 00:00",
          "2025-09-30 00:00", "2025-10-31 00:00"}},
        /* Cloudflare's documented example */
        {"59 23 LW * *",
         "2025-08-01 00:00",
         {"2025-08-29 23:59", "2025-09-30 23:59", "2025-10-31 23:59"}},
        /* Feb and Mar 15 2025 are Saturdays (back to Friday), Jun 15 a Sunday */
        {"0 0 15W * *",
         "2025-01-20 00:00",
         {"2025-02-14 00:00", "2025-03-14 00:00", "2025-04-15 00:00", "2025-05-15 00:00",
          "2025-06-16 00:00", "2025-07-15 00:00", "2025-08-15 00:00", "2025-09-15 00:00"}},
        /* a Saturday 1st may not go back into the previous month: Monday 3rd */
        {"0 0 1W * *",
         "2025-01-10 00:00",
         {"2025-02-03 00:00", "2025-03-03 00:00", "2025-04-01 00:00", "2025-05-01 00:00",
          "2025-06-02 00:00", "2025-07-01 00:00"}},
        /* a Sunday 31st may not go on into the next month; 30-day months skip */
        {"0 0 31W * *",
         "2025-06-01 00:00",
         {"2025-07-31 00:00", "2025-08-29 00:00", "2025-10-31 00:00", "2025-12-31 00:00",
          "2026-01-30 00:00"}},
    };
    RUN(cases);
}

static void test_weekday_specials(void **state)
{
    (void)state;
    static const chain_t cases[] = {
        {"0 0 * * 6L",
         "2025-01-01 00:00",
         {"2025-01-31 00:00", "2025-02-28 00:00", "2025-03-28 00:00", "2025-04-25 00:00"}},
        {"0 0 * * FRIL",
         "2025-01-01 00:00",
         {"2025-01-31 00:00", "2025-02-28 00:00", "2025-03-28 00:00", "2025-04-25 00:00"}},
        {"0 18 * * friL",
         "2025-01-31 18:00",
         {"2025-02-28 18:00", "2025-03-28 18:00", "2025-04-25 18:00"}},
        {"0 0 * * 2#1",
         "2025-01-01 00:00",
         {"2025-01-06 00:00", "2025-02-03 00:00", "2025-03-03 00:00", "2025-04-07 00:00"}},
        {"0 0 * * MON#1", "2025-01-01 00:00", {"2025-01-06 00:00", "2025-02-03 00:00"}},
        /* fifth Sundays: months without one are skipped */
        {"0 0 * * 1#5",
         "2025-01-01 00:00",
         {"2025-03-30 00:00", "2025-06-29 00:00", "2025-08-31 00:00", "2025-11-30 00:00"}},
        /* plain L in day-of-week is Saturday, as in Quartz */
        {"0 0 * * L", "2025-03-05 00:00", {"2025-03-08 00:00", "2025-03-15 00:00"}},
        {"0 0 * * */2",
         "2025-03-05 00:00",
         {"2025-03-06 00:00", "2025-03-08 00:00", "2025-03-09 00:00", "2025-03-11 00:00",
          "2025-03-13 00:00"}},
    };
    RUN(cases);
}

static void test_names(void **state)
{
    (void)state;
    static const chain_t cases[] = {
        {"30 9 * * MON-FRI",
         "2025-03-07 10:00",
         {"2025-03-10 09:30", "2025-03-11 09:30", "2025-03-12 09:30", "2025-03-13 09:30"}},
        {"30 9 * * 2-6", "2025-03-07 10:00", {"2025-03-10 09:30", "2025-03-11 09:30"}},
        {"0 12 1 JAN,JUL *",
         "2025-01-01 12:00",
         {"2025-07-01 12:00", "2026-01-01 12:00", "2026-07-01 12:00"}},
        {"0 12 1 jan,Jul *", "2025-01-01 12:00", {"2025-07-01 12:00", "2026-01-01 12:00"}},
        /* Cloudflare's documented examples: 1 = Sunday */
        {"0 17 * * sun",
         "2025-03-05 00:00",
         {"2025-03-09 17:00", "2025-03-16 17:00", "2025-03-23 17:00"}},
        {"0 17 * * 1", "2025-03-05 00:00", {"2025-03-09 17:00", "2025-03-16 17:00"}},
    };
    RUN(cases);
}

static void test_dom_or_dow(void **state)
{
    (void)state;
    /* Both restricted: the 13th OR a Friday (Jun 13 2025 is both, Jul 13 a
     * Sunday). */
    static const chain_t cases[] = {
        {"0 0 13 * FRI",
         "2025-06-01 00:00",
         {"2025-06-06 00:00", "2025-06-13 00:00", "2025-06-20 00:00", "2025-06-27 00:00",
          "2025-07-04 00:00", "2025-07-11 00:00", "2025-07-13 00:00", "2025-07-18 00:00"}},
        /* Only one restricted: that one alone decides. */
        {"0 0 13 * *", "2025-06-01 00:00", {"2025-06-13 00:00", "2025-07-13 00:00"}},
        {"0 0 * * FRI", "2025-06-01 00:00", {"2025-06-06 00:00", "2025-06-13 00:00"}},
    };
    RUN(cases);
}

static void test_beyond_28_years(void **state)
{
    (void)state;
    /* A fifth Thursday in February needs a leap year starting on Thursday:
     * 2052, 2080, then 2120 (2100 is not a leap year), 40 years later. A
     * search bounded at 28 years would wrongly say "never". */
    static const chain_t cases[] = {
        {"0 0 * 2 5#5", "2025-01-01 00:00", {"2052-02-29 00:00", "2080-02-29 00:00"}},
        {"0 0 * 2 5#5", "2080-03-01 00:00", {"2120-02-29 00:00"}},
    };
    RUN(cases);
}

static void test_never(void **state)
{
    (void)state;
    static const char *const never[] = {
        "0 0 30 2 *",  "0 0 31 4 *",    "0 0 31 4,6,9,11 *", "0 0 30,31 FEB *",
        "0 0 31W 4 *", "* * 30-31 2 *", "0 0 31 2,4 *",      "0 0 30W 2 *",
    };
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        dort_cron_t *c = parse_ok(never[i]);
        int64_t got = 12345;
        assert_int_equal(dort_cron_next(c, ms_of("2025-01-01 00:00"), &got), DORT_ENOENT);
        assert_int_equal(dort_cron_next(c, -ms_of("2025-01-01 00:00"), &got), DORT_ENOENT);
        assert_true(got == 12345); /* untouched */
        dort_cron_free(c);
    }
}

/* Before 1970, exact minute boundaries, the ends of int64_t. */
static void test_edges(void **state)
{
    (void)state;
    dort_cron_t *every = parse_ok("* * * * *");
    dort_cron_t *yearly = parse_ok("0 0 1 1 *");
    int64_t got = 0;

    assert_int_equal(dort_cron_next(every, -1, &got), 0);
    assert_true(got == 0);
    assert_int_equal(dort_cron_next(every, 0, &got), 0);
    assert_true(got == MIN_MS);
    assert_int_equal(dort_cron_next(every, MIN_MS - 1, &got), 0);
    assert_true(got == MIN_MS);
    assert_int_equal(dort_cron_next(every, -MIN_MS - 1, &got), 0);
    assert_true(got == -MIN_MS);
    assert_int_equal(dort_cron_next(yearly, ms_of("1969-06-01 00:00"), &got), 0);
    assert_true(got == 0);
    assert_int_equal(dort_cron_next(yearly, ms_of("1900-01-01 00:00"), &got), 0);
    assert_true(got == ms_of("1901-01-01 00:00"));

    assert_int_equal(dort_cron_next(every, INT64_MAX, &got), DORT_ENOENT);
    /* INT64_MAX ms is in August of year 292278994: the next New Year does
     * not fit, though one 400 years earlier does. */
    assert_int_equal(dort_cron_next(yearly, INT64_MAX - 100 * DAY_MS, &got), DORT_ENOENT);
    assert_int_equal(dort_cron_next(yearly, INT64_MAX - 400 * 366 * DAY_MS, &got), 0);
    assert_true(got > INT64_MAX - 400 * 366 * DAY_MS && got % DAY_MS == 0);
    assert_int_equal(dort_cron_next(every, INT64_MIN, &got), 0);
    assert_true(got > INT64_MIN && got % MIN_MS == 0 && got - INT64_MIN <= MIN_MS);
    assert_int_equal(dort_cron_next(yearly, INT64_MIN, &got), 0);
    assert_true(got % DAY_MS == 0);

    assert_int_equal(dort_cron_next(NULL, 0, &got), DORT_EINVAL);
    assert_int_equal(dort_cron_next(every, 0, NULL), DORT_EINVAL);
    dort_cron_free(every);
    dort_cron_free(yearly);
}

/* ---- the brute-force matcher -------------------------------------------- */

/* Days in the month of `tm`: day 0 of the next month, normalised by libc
 * (remembered, as timegm() is slow and the scan asks once per day). */
static int month_days(const struct tm *tm)
{
    static int year = -1, mon = -1, days;
    if (tm->tm_year != year || tm->tm_mon != mon) {
        struct tm x = {0};
        x.tm_year = tm->tm_year;
        x.tm_mon = tm->tm_mon + 1;
        x.tm_mday = 0;
        x.tm_hour = 12;
        timegm(&x);
        year = tm->tm_year;
        mon = tm->tm_mon;
        days = x.tm_mday;
    }
    return days;
}

/* Weekday (0 = Sunday) of day `d` in the month of `tm`. */
static int wday_of(const struct tm *tm, int d)
{
    return ((tm->tm_wday + d - tm->tm_mday) % 7 + 7) % 7;
}

static int is_mon_fri(const struct tm *tm, int d)
{
    int w = wday_of(tm, d);
    return w >= 1 && w <= 5;
}

static int brute_dom(const dort_cron_t *c, const struct tm *tm)
{
    int dim = month_days(tm), d = tm->tm_mday, n = c->dom_day;
    switch (c->dom_kind) {
    case DORT__DOM_SET:
        return (c->dom >> d) & 1;
    case DORT__DOM_LAST:
        return d == dim;
    case DORT__DOM_LAST_WEEKDAY: {
        int last = dim;
        while (!is_mon_fri(tm, last))
            last--;
        return d == last;
    }
    case DORT__DOM_NEAREST: {
        /* Quartz's rule restated: the Monday-Friday day of this month
         * closest to n (there are never two at the same distance). */
        int best = 0;
        if (n > dim)
            return 0;
        for (int x = 1; x <= dim; x++) {
            if (is_mon_fri(tm, x) && (best == 0 || abs(x - n) < abs(best - n)))
                best = x;
        }
        return d == best;
    }
    default:
        return 1;
    }
}

static int brute_dow(const dort_cron_t *c, const struct tm *tm)
{
    int same_before = 0, same_after = 0, dim = month_days(tm);
    for (int d = 1; d <= dim; d++) {
        if (wday_of(tm, d) != tm->tm_wday)
            continue;
        if (d < tm->tm_mday)
            same_before++;
        else if (d > tm->tm_mday)
            same_after++;
    }
    switch (c->dow_kind) {
    case DORT__DOW_SET:
        return (c->dow >> tm->tm_wday) & 1;
    case DORT__DOW_LAST:
        return tm->tm_wday == c->dow_day && same_after == 0;
    case DORT__DOW_NTH:
        return tm->tm_wday == c->dow_day && same_before + 1 == c->dow_nth;
    default:
        return 1;
    }
}

static int brute_day(const dort_cron_t *c, const struct tm *tm)
{
    if (!((c->months >> (tm->tm_mon + 1)) & 1))
        return 0;
    if (c->dom_kind == DORT__DOM_STAR)
        return brute_dow(c, tm);
    if (c->dow_kind == DORT__DOW_STAR)
        return brute_dom(c, tm);
    return brute_dom(c, tm) || brute_dow(c, tm);
}

/* Scans minute by minute; a day whose date cannot match is skipped whole. */
static int64_t brute_next(const dort_cron_t *c, int64_t after_ms)
{
    int64_t t = (after_ms >= 0 ? after_ms / MIN_MS : -((-after_ms + MIN_MS - 1) / MIN_MS)) + 1;
    for (int64_t day = 0; day < 500 * 366; day++) {
        time_t s = (time_t)(t * 60);
        struct tm tm;
        gmtime_r(&s, &tm);
        int tod = tm.tm_hour * 60 + tm.tm_min;
        int date_ok = brute_day(c, &tm);
        for (int m = tod; m < 1440 && date_ok; m++) {
            if (((c->hours >> (m / 60)) & 1) && ((c->minutes >> (m % 60)) & 1))
                return (t + (m - tod)) * MIN_MS;
        }
        t += 1440 - tod;
    }
    return -1;
}

static const char *const seq_exprs[] = {
    "*/7 * * * *",          "0 0 29 2 *",      "0 0 L * *",    "0 0 LW * *",     "0 0 15W * *",
    "30 2 1W * *",          "0 0 31W * *",     "0 0 * * 6L",   "0 0 * * 2#1",    "0 0 * * 1#5",
    "0 9-17/4 * * MON-FRI", "0 0 13 * FRI",    "0 0 L * 2#2",  "0 0 15W * 6L",   "15 3 31 * *",
    "0 0 1,15 JAN,JUL *",   "0 0 * * L",       "59 23 LW * *", "0 0 1 */3 *",    "0 12 * * */2",
    "*/30 */12 L 2 *",      "0 0 28-31 * 1#1", "0 0 29W 2 *",  "45 23 1W 3 SAT",
};

static void check_against_brute(const dort_cron_t *c, int64_t from, int64_t *got_out)
{
    int64_t got = 0, want = brute_next(c, from);
    int rc = dort_cron_next(c, from, &got);
    if (rc != 0 || got != want) {
        char f[40], g[40], w[40];
        fmt_ms(from, f);
        fmt_ms(got, g);
        fmt_ms(want, w);
        print_error("'%s' after %s: rc %d, got %s, brute force %s\n", dort_cron_expr(c), f, rc, g,
                    w);
    }
    assert_int_equal(rc, 0);
    assert_true(got == want);
    assert_true(got > from);
    assert_true(got % MIN_MS == 0);
    *got_out = got;
}

static void test_sequence_vs_brute_force(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(seq_exprs) / sizeof(seq_exprs[0]); i++) {
        dort_cron_t *c = parse_ok(seq_exprs[i]);
        int64_t t = ms_of("1999-12-31 23:59:30");
        for (int k = 0; k < 1000; k++)
            check_against_brute(c, t, &t);
        dort_cron_free(c);
    }
}

/* xorshift64*: a fixed seed makes every failure reproducible. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dULL;
}

static void test_random_starts_vs_brute_force(void **state)
{
    (void)state;
    int64_t lo = ms_of("1890-01-01 00:00"), hi = ms_of("2430-01-01 00:00");
    for (size_t i = 0; i < sizeof(seq_exprs) / sizeof(seq_exprs[0]); i++) {
        dort_cron_t *c = parse_ok(seq_exprs[i]);
        for (int k = 0; k < 200; k++) {
            int64_t from = lo + (int64_t)(rnd() % (uint64_t)(hi - lo)), got;
            check_against_brute(c, from, &got);
        }
        dort_cron_free(c);
    }
}

/* ---- parsing ------------------------------------------------------------ */

typedef struct {
    const char *expr;
    const char *field;  /* must appear in the message */
    const char *detail; /* must appear too, or NULL */
} bad_t;

static const bad_t bad_cases[] = {
    {"", "minute", "expected 5 fields"},
    {"   \t ", "day-of-week", "found 0"},
    {"* * * *", "day-of-month", "found 4"},
    {"0 * * * * *", "minute", "no seconds or year field"},
    {"0 0 * * * 2025 x", "month", "found 7"},
    {"60 * * * *", "minute", "60 is out of range 0-59"},
    {"* 24 * * *", "hour", "24 is out of range 0-23"},
    {"* * 0 * *", "day-of-month", "0 is out of range 1-31"},
    {"* * 32 * *", "day-of-month", "'32'"},
    {"* * * 13 *", "month", "13 is out of range 1-12"},
    {"* * * 0 *", "month", "out of range"},
    {"* * * * 8", "day-of-week", "8 is out of range 1-7"},
    {"99999999999999999999 * * * *", "minute", "too large"},
    /* weekday 0, however it is written */
    {"* * * * 0", "day-of-week", "not Vixie cron's 0 = Sunday"},
    {"* * * * 0-4", "day-of-week", "'0-4': weekdays are 1-7 with 1 = Sunday"},
    {"* * * * 2,0", "day-of-week", "'0': weekdays are 1-7"},
    {"* * * * 0L", "day-of-week", "use 1 or SUN"},
    {"* * * * 0#1", "day-of-week", "use 1 or SUN"},
    {"* * * * */2,0", "day-of-week", "1 = Sunday"},
    /* ranges and steps */
    {"5-1 * * * *", "minute", "range start 5 is after its end 1"},
    {"* * * * FRI-MON", "day-of-week", "range start 6 is after its end 2"},
    {"* * * DEC-JAN *", "month", "after its end"},
    {"0 22-2 * * *", "hour", "ranges do not wrap around, write 22-23,0-2"},
    {"*/0 * * * *", "minute", "step 0 is out of range 1-59"},
    {"*/60 * * * *", "minute", "step 60"},
    {"* */24 * * *", "hour", "step 24 is out of range 1-23"},
    {"* * */31 * *", "day-of-month", "step 31 is out of range 1-30"},
    {"* * * */12 *", "month", "step 12 is out of range 1-11"},
    {"* * * * */7", "day-of-week", "step 7 is out of range 1-6"},
    {"1-10/0 * * * *", "minute", "step 0"},
    {"*/ * * * *", "minute", "'/' must be followed by a step"},
    {"5- * * * *", "minute", "'-' must be followed by a value"},
    {"1-2-3 * * * *", "minute", "unexpected '-3'"},
    {"*,5 * * * *", "minute", "'*' must be the whole field"},
    {"1,,2 * * * *", "minute", "empty item"},
    {"1, * * * *", "minute", "empty item"},
    {"** * * * *", "minute", "unexpected"},
    /* characters Cloudflare does not take */
    {"* * ? * *", "day-of-month", "'?' is not supported"},
    {"* * * * ?", "day-of-week", "'?' is not supported"},
    {"* * l * *", "day-of-month", "upper case"},
    {"* * 15w * *", "day-of-month", "upper case"},
    {"* * * * fril", "day-of-week", "upper case"},
    {"abc * * * *", "minute", "unexpected 'abc'"},
    {"L * * * *", "minute", "'L' is not allowed here"},
    {"* 1W * * *", "hour", "'W' is not allowed here"},
    {"* * * L *", "month", "'L' is not allowed here"},
    {"0 0 * * *\n", "day-of-week", "\\x0a"},
    {"0 0 * * MONDAY", "day-of-week", "unexpected 'DAY'"},
    {"0 0 * FOO *", "month", "unknown name 'FOO' (use JAN-DEC)"},
    {"0 0 * * XYZ", "day-of-week", "unknown name 'XYZ' (use SUN-SAT)"},
    {"0 0 * * JAN", "day-of-week", "unknown name"},
    {"0 0 MON * *", "day-of-month", "unexpected 'MON'"},
    /* L, W and # stand alone */
    {"* * L-3 * *", "day-of-month", "L-n"},
    {"* * L,15 * *", "day-of-month", "whole field"},
    {"* * 1W,15 * *", "day-of-month", "whole field"},
    {"* * 1-5W * *", "day-of-month", "whole field"},
    {"* * W * *", "day-of-month", "whole field"},
    {"* * 32W * *", "day-of-month", "32 is out of range 1-31"},
    {"* * 0W * *", "day-of-month", "0 is out of range"},
    {"* * LL * *", "day-of-month", "whole field"},
    {"* * * * 6L,2", "day-of-week", "whole field"},
    {"* * * * MON-FRIL", "day-of-week", "whole field"},
    {"* * * * 2#6", "day-of-week", "occurrence 6 is out of range 1-5"},
    {"* * * * 2#0", "day-of-week", "occurrence 0"},
    {"* * * * 2#", "day-of-week", "'#' must be followed"},
    {"* * * * 2#1,3", "day-of-week", "'#' must be followed"},
    {"* * * * #1", "day-of-week", "'#' is not allowed here"},
    {"* * * * LW", "day-of-week", "'L' is not allowed here"},
    {"* * * * 8L", "day-of-week", "8 is out of range"},
};

static void test_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_t *b = &bad_cases[i];
        char err[512] = "";
        dort_cron_t *c = (dort_cron_t *)&err; /* must be reset to NULL */
        int rc = dort_cron_parse(b->expr, &c, err, sizeof(err));
        if (rc != DORT_ECRON || strstr(err, b->field) == NULL ||
            (b->detail != NULL && strstr(err, b->detail) == NULL))
            print_error("'%s': rc %d, message \"%s\"; wanted %s / %s\n", b->expr, rc, err, b->field,
                        b->detail ? b->detail : "-");
        assert_int_equal(rc, DORT_ECRON);
        assert_null(c);
        assert_non_null(strstr(err, b->field));
        if (b->detail != NULL)
            assert_non_null(strstr(err, b->detail));
        /* no message buffer at all is fine too */
        assert_int_equal(dort_cron_parse(b->expr, &c, NULL, 0), DORT_ECRON);
    }
}

/* The message the design asks for, word for word. */
static void test_weekday_zero_message(void **state)
{
    (void)state;
    char err[256];
    dort_cron_t *c;
    assert_int_equal(dort_cron_parse("0 0 * * 0", &c, err, sizeof(err)), DORT_ECRON);
    assert_string_equal(err, "day-of-week field '0': weekdays are 1-7 with 1 = Sunday "
                             "(Cloudflare/Quartz numbering, not Vixie cron's 0 = Sunday); use "
                             "1 or SUN");
}

static void test_error_buffer(void **state)
{
    (void)state;
    char err[8];
    dort_cron_t *c;

    memset(err, 'x', sizeof(err));
    assert_int_equal(dort_cron_parse("61 * * * *", &c, err, sizeof(err)), DORT_ECRON);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_memory_equal(err, "minute ", 7);

    memset(err, 'x', sizeof(err));
    assert_int_equal(dort_cron_parse("61 * * * *", &c, err, 0), DORT_ECRON);
    assert_int_equal(err[0], 'x');

    /* long hostile text is cut and escaped */
    char big[600], msg[512];
    memset(big, 'z', sizeof(big));
    memcpy(big, "0 0 * * \x01", 9);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(dort_cron_parse(big, &c, msg, sizeof(msg)), DORT_ECRON);
    assert_non_null(strstr(msg, "\\x01zzz"));
    assert_non_null(strstr(msg, "..."));
    assert_true(strlen(msg) < 300);
}

static void test_api(void **state)
{
    (void)state;
    char err[64] = "";
    dort_cron_t *c = NULL;

    assert_int_equal(dort_cron_parse(NULL, &c, err, sizeof(err)), DORT_EINVAL);
    assert_null(c);
    assert_true(err[0] != '\0');
    assert_int_equal(dort_cron_parse("* * * * *", NULL, NULL, 0), DORT_EINVAL);
    dort_cron_free(NULL);
    assert_null(dort_cron_expr(NULL));

    const char *text = " \t*/5  1 * *\tMON-FRI  ";
    c = parse_ok(text);
    assert_string_equal(dort_cron_expr(c), text);
    assert_true(dort_cron_expr(c) != text); /* a copy */
    dort_cron_free(c);
}

/* Spellings that must mean exactly the same schedule. */
static void test_equivalent_spellings(void **state)
{
    (void)state;
    static const char *const pairs[][2] = {
        {"0 9 * * MON-FRI", " \t0\t9 * *   2-6 \t"},
        {"0 0 1 JAN,jul *", "0 0 1 1,7 *"},
        {"0 0 * * fRiL", "0 0 * * 6L"},
        {"0 0 * * L", "0 0 * * 7"},
        {"0 0 * * SAT", "0 0 * * 7"},
        {"0 0 * * MON#2", "0 0 * * 2#2"},
        {"*/15 * * * *", "0,15,30,45 * * * *"},
        {"0/15 * * * *", "0-59/15 * * * *"},
        {"1-30/5 * * * *", "1,6,11,16,21,26 * * * *"},
        {"0 0 1 FEB-APR/2 *", "0 0 1 2,4 *"},
        {"0 0 * * MON/2", "0 0 * * 2,4,6"},
        {"07 007 1 1 *", "7 7 1 1 *"},
        {"0 0 * * */1", "0 0 * * *"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        dort_cron_t *a = parse_ok(pairs[i][0]);
        dort_cron_t *b = parse_ok(pairs[i][1]);
        int64_t ta = ms_of("2024-12-30 23:59"), tb = ta;
        for (int k = 0; k < 200; k++) {
            assert_int_equal(dort_cron_next(a, ta, &ta), 0);
            assert_int_equal(dort_cron_next(b, tb, &tb), 0);
            if (ta != tb)
                print_error("'%s' and '%s' differ at step %d\n", pairs[i][0], pairs[i][1], k);
            assert_true(ta == tb);
        }
        dort_cron_free(a);
        dort_cron_free(b);
    }
}

static void *failing_malloc(size_t n)
{
    (void)n;
    return NULL;
}

static void test_out_of_memory(void **state)
{
    (void)state;
    char err[64];
    dort_cron_t *c = (dort_cron_t *)&err;
    assert_int_equal(dort_replace_allocator(failing_malloc, realloc, calloc, free), 0);
    int rc = dort_cron_parse("* * * * *", &c, err, sizeof(err));
    assert_int_equal(dort_replace_allocator(malloc, realloc, calloc, free), 0);
    assert_int_equal(rc, DORT_ENOMEM);
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_steps),
        cmocka_unit_test(test_leap_years_and_month_ends),
        cmocka_unit_test(test_weekday_of_month),
        cmocka_unit_test(test_weekday_specials),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_dom_or_dow),
        cmocka_unit_test(test_beyond_28_years),
        cmocka_unit_test(test_never),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_sequence_vs_brute_force),
        cmocka_unit_test(test_random_starts_vs_brute_force),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_weekday_zero_message),
        cmocka_unit_test(test_error_buffer),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_equivalent_spellings),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
