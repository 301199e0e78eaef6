/* cron_internal.h - the parsed form of a cron expression, shared by
 * cron_parse.c (which builds it) and cron_next.c (which searches with it).
 *
 * Every field is reduced to a bit set so that matching is a shift and a
 * mask; the day fields also carry a kind for the specials (L, W, #) that
 * depend on the month and cannot be a fixed set of days.
 */
#ifndef DORT_CRON_INTERNAL_H
#define DORT_CRON_INTERNAL_H

#include <stdint.h>

#include <dort/cron.h>

/* How the day-of-month field selects days. */
enum {
    DORT__DOM_STAR = 0,     /* exactly "*": unrestricted */
    DORT__DOM_SET,          /* `dom` bits 1-31 */
    DORT__DOM_LAST,         /* L: the last day of the month */
    DORT__DOM_LAST_WEEKDAY, /* LW: the last Monday-Friday of the month */
    DORT__DOM_NEAREST,      /* nW: the weekday nearest day `dom_day` */
};

/* How the day-of-week field selects days. */
enum {
    DORT__DOW_STAR = 0, /* exactly "*": unrestricted */
    DORT__DOW_SET,      /* `dow` bits 0-6, 0 = Sunday (syntax value - 1) */
    DORT__DOW_LAST,     /* nL: the last `dow_day` of the month */
    DORT__DOW_NTH,      /* n#k: the `dow_nth`-th `dow_day` of the month */
};

struct dort_cron_s {
    uint64_t minutes; /* bit m: minute m, 0-59 */
    uint32_t hours;   /* bit h: hour h, 0-23 */
    uint32_t dom;     /* DOM_SET: bit d for day d, 1-31 */
    uint16_t months;  /* bit m: month m, 1-12 */
    uint8_t dow;      /* DOW_SET: bit w for weekday w, 0 = Sunday */
    uint8_t dom_kind; /* DORT__DOM_* */
    uint8_t dom_day;  /* DOM_NEAREST: the day, 1-31 */
    uint8_t dow_kind; /* DORT__DOW_* */
    uint8_t dow_day;  /* DOW_LAST, DOW_NTH: the weekday, 0 = Sunday */
    uint8_t dow_nth;  /* DOW_NTH: 1-5 */
    char expr[];      /* the text as given, NUL-terminated */
};

#endif
