/* cron_next.c - the next fire time of a parsed cron expression.
 *
 * The search walks months, then days, then looks up the first hour and
 * minute in the bit sets, so a yearly expression costs a few hundred steps,
 * not half a million minutes. It is bounded by one 400-year Gregorian cycle
 * (146097 days, exactly 20871 weeks): after that every combination of month,
 * day, weekday and leap year has been seen, so an expression without a match
 * in the cycle never fires and DORT_ENOENT is exact. Shorter bounds guess
 * wrong: "0 0 * 2 5#5" (a fifth Thursday in February) can be 40 years away.
 *
 * Calendar arithmetic is done here (Howard Hinnant's civil-date algorithms)
 * rather than with timegm()/gmtime_r(), which use time_t and would be
 * limited to its range on some platforms.
 */
#include <dort/cron.h>
#include <dort/errors.h>

#include "cron_internal.h"

#define MS_PER_MINUTE INT64_C(60000)
#define MINUTES_PER_DAY INT64_C(1440)
/* The partial month we start in plus one full 400-year cycle. */
#define SEARCH_MONTHS (400 * 12 + 1)

/* a / b rounded towards minus infinity (b > 0): -1 ms is 1969, not 1970. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b < 0)
        q--;
    return q;
}

/* Days since 1970-01-01 of year y, month m (1-12), day d. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* 0-399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0-365, from March */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0-146096 */
    return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil(). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
        return 29;
    return dim[m];
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int weekday(int64_t days)
{
    int64_t w = (days + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

/* The lowest set bit of `mask` at or above `from`, or -1. */
static int next_bit(uint64_t mask, int from)
{
    if (from >= 64)
        return -1;
    mask &= ~UINT64_C(0) << from;
    return mask != 0 ? __builtin_ctzll(mask) : -1;
}

/* Quartz's nW: the Monday-Friday nearest `day` without leaving the month. A
 * Saturday moves back to Friday, except the 1st, which moves on to Monday
 * the 3rd; a Sunday moves on to Monday, except the last day, which moves back
 * to Friday. `w1` is the weekday of the 1st. LW is this rule applied to the
 * last day. */
static int nearest_weekday(int day, int dim, int w1)
{
    int w = (w1 + day - 1) % 7;
    if (w == 6)
        return day == 1 ? 3 : day - 1;
    if (w == 0)
        return day == dim ? day - 2 : day + 1;
    return day;
}

static int dom_matches(const dort_cron_t *c, int day, int dim, int w1)
{
    switch (c->dom_kind) {
    case DORT__DOM_SET:
        return (c->dom >> day) & 1;
    case DORT__DOM_LAST:
        return day == dim;
    case DORT__DOM_LAST_WEEKDAY:
        return day == nearest_weekday(dim, dim, w1);
    case DORT__DOM_NEAREST:
        /* 31W in a 30-day month has no nearest weekday: the 31st is not
         * there to be near to (Quartz skips such months too). */
        return c->dom_day <= dim && day == nearest_weekday(c->dom_day, dim, w1);
    default:
        return 1;
    }
}

static int dow_matches(const dort_cron_t *c, int day, int dim, int w)
{
    switch (c->dow_kind) {
    case DORT__DOW_SET:
        return (c->dow >> w) & 1;
    case DORT__DOW_LAST:
        return w == c->dow_day && day + 7 > dim;
    case DORT__DOW_NTH:
        return w == c->dow_day && (day - 1) / 7 + 1 == c->dow_nth;
    default:
        return 1;
    }
}

/* When both day fields are restricted either may match (see dort/cron.h). */
static int day_matches(const dort_cron_t *c, int day, int dim, int w1)
{
    int w = (w1 + day - 1) % 7;
    if (c->dom_kind == DORT__DOM_STAR)
        return dow_matches(c, day, dim, w);
    if (c->dow_kind == DORT__DOW_STAR)
        return dom_matches(c, day, dim, w1);
    return dom_matches(c, day, dim, w1) || dow_matches(c, day, dim, w);
}

/* The first minute of the day at or after h0:mi0 allowed by the hour and
 * minute sets, in minutes since midnight, or -1. */
static int time_of_day(const dort_cron_t *c, int h0, int mi0)
{
    for (int h = next_bit(c->hours, h0); h >= 0; h = next_bit(c->hours, h + 1)) {
        int mi = next_bit(c->minutes, h == h0 ? mi0 : 0);
        if (mi >= 0)
            return h * 60 + mi;
    }
    return -1;
}

/* Searches month y-m from day d, starting `tod` minutes into that day.
 * Sets *found and returns the fire time in minutes since the epoch. */
static int64_t search_month(const dort_cron_t *c, int64_t y, int m, int d, int tod, int *found)
{
    int dim = days_in_month(y, m);
    int64_t day1 = days_from_civil(y, m, 1);
    int w1 = weekday(day1);

    for (int day = d; day <= dim; day++, tod = 0) {
        if (!day_matches(c, day, dim, w1))
            continue;
        int t = time_of_day(c, tod / 60, tod % 60);
        if (t >= 0) {
            *found = 1;
            return (day1 + day - 1) * MINUTES_PER_DAY + t;
        }
    }
    *found = 0;
    return 0;
}

int dort_cron_next(const dort_cron_t *c, int64_t after_ms, int64_t *next_ms)
{
    int64_t y, minutes = 0;
    int m, d, found = 0;

    if (c == NULL || next_ms == NULL)
        return DORT_EINVAL;
    /* Fire times are whole minutes, so the first candidate is the minute
     * boundary strictly after after_ms. */
    int64_t t = floor_div(after_ms, MS_PER_MINUTE) + 1;
    int64_t days = floor_div(t, MINUTES_PER_DAY);
    int tod = (int)(t - days * MINUTES_PER_DAY);
    civil_from_days(days, &y, &m, &d);

    for (int i = 0; i < SEARCH_MONTHS; i++) {
        if ((c->months >> m) & 1) {
            minutes = search_month(c, y, m, d, tod, &found);
            if (found)
                break;
        }
        d = 1;
        tod = 0;
        if (++m > 12) {
            m = 1;
            y++;
        }
    }
    if (!found || minutes > INT64_MAX / MS_PER_MINUTE)
        return DORT_ENOENT;
    *next_ms = minutes * MS_PER_MINUTE;
    return 0;
}
