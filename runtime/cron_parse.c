/* cron_parse.c - turns Cloudflare cron syntax into bit sets (see dort/cron.h).
 *
 * The grammar follows what Cloudflare documents for Cron Triggers and what
 * its parser (saffron) accepts, minus saffron's undocumented extras (L-n
 * offsets, wrap-around ranges), which are refused with a message rather
 * than silently given some meaning. Every refusal names the field and
 * quotes the text, because the usual author of a bad expression is a person
 * editing a config file who needs to see which part to fix.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <dort/cron.h>
#include <dort/errors.h>

#include "alloc_internal.h"
#include "cron_internal.h"

/* Quoted text is cut after this many bytes so messages stay readable. */
#define QUOTE_MAX 40
/* Numbers are capped here while reading: out of range, but no overflow. */
#define NUMBER_CAP 1000

enum { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, NFIELDS };

/* The rules of one field. */
typedef struct {
    const char *name;         /* as it appears in messages */
    int min;                  /* smallest value in the syntax */
    int max;                  /* largest value in the syntax */
    const char *const *names; /* 3-letter names for min..max, or NULL */
} field_t;

/* A piece of the expression; not NUL-terminated. */
typedef struct {
    const char *p;
    size_t n;
} span_t;

/* Where messages go: the caller's buffer, possibly NULL or empty. */
typedef struct {
    char *buf;
    size_t len;
} errbuf_t;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static const field_t fields[NFIELDS] = {
    {"minute", 0, 59, NULL},          {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},    {"month", 1, 12, month_names},
    {"day-of-week", 1, 7, dow_names},
};

static const char weekday_zero_msg[] =
    "weekdays are 1-7 with 1 = Sunday (Cloudflare/Quartz numbering, not Vixie cron's "
    "0 = Sunday); use 1 or SUN";

/* Copies `s` for a message: printable ASCII as is, other bytes as \xNN so
 * that an expression from an untrusted source cannot put control characters
 * into logs; long text is cut with "...". `out` holds QUOTE_MAX * 4 + 4. */
static void quote(char *out, span_t s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (i == QUOTE_MAX) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (ch >= 0x20 && ch < 0x7f) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

__attribute__((format(printf, 4, 5))) static int fail(errbuf_t *e, const field_t *f, span_t text,
                                                      const char *fmt, ...)
{
    char q[QUOTE_MAX * 4 + 4];
    char msg[384];
    va_list ap;

    if (e->buf == NULL || e->len == 0)
        return DORT_ECRON;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    quote(q, text);
    if (f != NULL)
        snprintf(e->buf, e->len, "%s field '%s': %s", f->name, q, msg);
    else
        snprintf(e->buf, e->len, "cron expression '%s': %s", q, msg);
    return DORT_ECRON;
}

static int span_is(span_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* ASCII only: the C library's toupper() would follow the locale. */
static char upper(char ch)
{
    return ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
}

/* Explains why the text of `item` at `i` cannot be read. */
static int unexpected(errbuf_t *e, const field_t *f, span_t item, size_t i)
{
    char q[QUOTE_MAX * 4 + 4];
    if (i >= item.n) {
        char prev = i > 0 ? item.p[i - 1] : ' ';
        return fail(e, f, item, "'%c' must be followed by %s", prev,
                    prev == '/' ? "a step" : "a value");
    }
    char ch = item.p[i];
    if (ch == '?')
        return fail(e, f, item,
                    "'?' is not supported (Cloudflare cron triggers do not accept "
                    "it); use '*'");
    if (ch == 'l' || ch == 'w')
        return fail(e, f, item, "write '%c' in upper case (Cloudflare only accepts L and W)",
                    upper(ch));
    if (ch == 'L' || ch == 'W' || ch == '#')
        return fail(e, f, item,
                    "'%c' is not allowed here; L, W and # stand alone in the "
                    "day-of-month field (L, LW, 15W) or the day-of-week field "
                    "(L, 6L, FRIL, 2#1)",
                    ch);
    quote(q, (span_t){item.p + i, item.n - i});
    return fail(e, f, item, "unexpected '%s'", q);
}

/* Reads decimal digits at *i into *v (capped at NUMBER_CAP). Returns 1 when
 * there was at least one digit. */
static int read_number(span_t s, size_t *i, int *v)
{
    size_t start = *i;
    int n = 0;
    for (; *i < s.n && is_digit(s.p[*i]); (*i)++) {
        n = n * 10 + (s.p[*i] - '0');
        if (n > NUMBER_CAP)
            n = NUMBER_CAP;
    }
    *v = n;
    return *i > start;
}

/* Reads a value of `f` at *i: digits, or a 3-letter name in any case when
 * the field has names. Checks the range. */
static int read_value(errbuf_t *e, const field_t *f, span_t item, size_t *i, int *v)
{
    if (!read_number(item, i, v)) {
        if (f->names == NULL || *i + 3 > item.n)
            return unexpected(e, f, item, *i);
        char name[4] = {upper(item.p[*i]), upper(item.p[*i + 1]), upper(item.p[*i + 2]), '\0'};
        int k = 0;
        while (k <= f->max - f->min && strcmp(name, f->names[k]) != 0)
            k++;
        if (k > f->max - f->min) {
            if (name[0] < 'A' || name[0] > 'Z')
                return unexpected(e, f, item, *i);
            return fail(e, f, item, "unknown name '%.3s' (use %s-%s)", item.p + *i, f->names[0],
                        f->names[f->max - f->min]);
        }
        *i += 3;
        *v = f->min + k;
        return 0;
    }
    if (f == &fields[F_DOW] && *v == 0)
        return fail(e, f, item, "%s", weekday_zero_msg);
    if (*v >= NUMBER_CAP)
        return fail(e, f, item, "number too large (range %d-%d)", f->min, f->max);
    if (*v < f->min || *v > f->max)
        return fail(e, f, item, "%d is out of range %d-%d", *v, f->min, f->max);
    return 0;
}

/* Reads "/n" at *i if present; a step is 1 up to the width of the field. */
static int read_step(errbuf_t *e, const field_t *f, span_t item, size_t *i, int *step)
{
    *step = 1;
    if (*i >= item.n || item.p[*i] != '/')
        return 0;
    (*i)++;
    if (!read_number(item, i, step))
        return unexpected(e, f, item, *i);
    if (*step >= NUMBER_CAP)
        return fail(e, f, item, "step too large (range 1-%d)", f->max - f->min);
    if (*step < 1 || *step > f->max - f->min)
        return fail(e, f, item, "step %d is out of range 1-%d", *step, f->max - f->min);
    return 0;
}

/* Parses one list item: `*`/n, v, v-w, v/n or v-w/n; sets bit v for each
 * value it selects. */
static int parse_item(errbuf_t *e, const field_t *f, span_t item, uint64_t *bits)
{
    size_t i = 0;
    int lo = f->min, hi = f->max, step;
    int rc;

    if (item.p[0] == '*') {
        i = 1;
        if (i == item.n)
            return fail(e, f, item, "'*' must be the whole field, not part of a list");
        if (item.p[i] != '/')
            return unexpected(e, f, item, i);
    } else {
        if ((rc = read_value(e, f, item, &i, &lo)) != 0)
            return rc;
        if (i < item.n && item.p[i] == '-') {
            i++;
            if ((rc = read_value(e, f, item, &i, &hi)) != 0)
                return rc;
            /* Cloudflare's parser would wrap around (FRI-MON); refusing is
             * safer than a meaning nobody documented. */
            if (lo > hi)
                return fail(e, f, item,
                            "range start %d is after its end %d; ranges do not wrap around, "
                            "write %d-%d,%d-%d",
                            lo, hi, lo, f->max, f->min, hi);
        } else if (i == item.n || item.p[i] != '/') {
            hi = lo;
        }
    }
    if ((rc = read_step(e, f, item, &i, &step)) != 0)
        return rc;
    if (i != item.n)
        return unexpected(e, f, item, i);
    for (int v = lo; v <= hi; v += step)
        *bits |= UINT64_C(1) << v;
    return 0;
}

/* Parses a comma-separated list (or a lone `*`) into bits min..max. */
static int parse_list(errbuf_t *e, const field_t *f, span_t s, uint64_t *bits)
{
    size_t start = 0;
    *bits = 0;
    if (span_is(s, "*")) {
        for (int v = f->min; v <= f->max; v++)
            *bits |= UINT64_C(1) << v;
        return 0;
    }
    for (size_t i = 0; i <= s.n; i++) {
        if (i < s.n && s.p[i] != ',')
            continue;
        span_t item = {s.p + start, i - start};
        if (item.n == 0)
            return fail(e, f, s, "empty item in the list");
        int rc = parse_item(e, f, item, bits);
        if (rc != 0)
            return rc;
        start = i + 1;
    }
    return 0;
}

/* Day of month: `*`, L, LW, nW, or a list. */
static int parse_dom(errbuf_t *e, span_t s, dort_cron_t *c)
{
    const field_t *f = &fields[F_DOM];
    uint64_t bits;
    size_t i = 0;
    int day, rc;

    if (span_is(s, "*")) {
        c->dom_kind = DORT__DOM_STAR;
        return 0;
    }
    if (span_is(s, "L") || span_is(s, "LW")) {
        c->dom_kind = s.n == 1 ? DORT__DOM_LAST : DORT__DOM_LAST_WEEKDAY;
        return 0;
    }
    if (s.n >= 2 && s.p[s.n - 1] == 'W' && read_number(s, &i, &day) && i == s.n - 1) {
        i = 0; /* again, for the range check and its message */
        if ((rc = read_value(e, f, s, &i, &day)) != 0)
            return rc;
        c->dom_kind = DORT__DOM_NEAREST;
        c->dom_day = (uint8_t)day;
        return 0;
    }
    if (s.n >= 2 && s.p[0] == 'L' && s.p[1] == '-')
        return fail(e, f, s,
                    "offsets from the last day (L-n) are not supported; Cloudflare "
                    "documents L, LW and nW");
    if (memchr(s.p, 'L', s.n) != NULL || memchr(s.p, 'W', s.n) != NULL)
        return fail(e, f, s,
                    "L, LW and nW (e.g. 15W) must be the whole field, not part of a "
                    "list, range or step");
    if ((rc = parse_list(e, f, s, &bits)) != 0)
        return rc;
    c->dom_kind = DORT__DOM_SET;
    c->dom = (uint32_t)bits;
    return 0;
}

/* Day of week nL or n#k (the whole field). */
static int parse_dow_special(errbuf_t *e, span_t s, dort_cron_t *c)
{
    const field_t *f = &fields[F_DOW];
    size_t i = 0;
    int day, nth, rc;

    if ((rc = read_value(e, f, s, &i, &day)) != 0)
        return rc;
    if (i + 1 == s.n && s.p[i] == 'L') {
        c->dow_kind = DORT__DOW_LAST;
        c->dow_day = (uint8_t)(day - 1);
        return 0;
    }
    if (i < s.n && s.p[i] == '#') {
        i++;
        if (!read_number(s, &i, &nth) || i != s.n)
            return fail(e, f, s,
                        "'#' must be followed by the occurrence 1-5 (2#1 = first "
                        "Monday)");
        if (nth < 1 || nth > 5)
            return fail(e, f, s, "occurrence %d is out of range 1-5", nth);
        c->dow_kind = DORT__DOW_NTH;
        c->dow_day = (uint8_t)(day - 1);
        c->dow_nth = (uint8_t)nth;
        return 0;
    }
    return fail(e, f, s,
                "nL and n#k (e.g. 6L, FRIL, 2#1) must be the whole field, not part of "
                "a list, range or step");
}

/* Day of week: `*`, L (Saturday, as Quartz), nL, n#k, or a list. */
static int parse_dow(errbuf_t *e, span_t s, dort_cron_t *c)
{
    const field_t *f = &fields[F_DOW];
    uint64_t bits;
    int rc;

    if (span_is(s, "*")) {
        c->dow_kind = DORT__DOW_STAR;
        return 0;
    }
    if (span_is(s, "L")) {
        c->dow_kind = DORT__DOW_SET;
        c->dow = 1u << 6;
        return 0;
    }
    /* No weekday name contains an upper-case L, so any L or # is a special. */
    if (memchr(s.p, '#', s.n) != NULL || memchr(s.p, 'L', s.n) != NULL)
        return parse_dow_special(e, s, c);
    if ((rc = parse_list(e, f, s, &bits)) != 0)
        return rc;
    c->dow_kind = DORT__DOW_SET;
    c->dow = (uint8_t)(bits >> 1); /* syntax 1-7 to bits 0-6 */
    return 0;
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Splits at runs of blanks; stores up to NFIELDS fields, counts all. */
static size_t split(const char *expr, span_t out[NFIELDS])
{
    size_t count = 0;
    const char *p = expr;
    for (;;) {
        while (is_blank(*p))
            p++;
        if (*p == '\0')
            return count;
        const char *start = p;
        while (*p != '\0' && !is_blank(*p))
            p++;
        if (count < NFIELDS)
            out[count] = (span_t){start, (size_t)(p - start)};
        count++;
    }
}

static int parse_fields(errbuf_t *e, const char *expr, dort_cron_t *c)
{
    span_t fs[NFIELDS];
    uint64_t bits;
    int rc;

    size_t n = split(expr, fs);
    if (n != NFIELDS)
        return fail(e, NULL, (span_t){expr, strlen(expr)},
                    "expected 5 fields (minute hour day-of-month month day-of-week), found %zu%s",
                    n, n == 6 || n == 7 ? "; Cloudflare cron has no seconds or year field" : "");
    if ((rc = parse_list(e, &fields[F_MINUTE], fs[F_MINUTE], &bits)) != 0)
        return rc;
    c->minutes = bits;
    if ((rc = parse_list(e, &fields[F_HOUR], fs[F_HOUR], &bits)) != 0)
        return rc;
    c->hours = (uint32_t)bits;
    if ((rc = parse_dom(e, fs[F_DOM], c)) != 0)
        return rc;
    if ((rc = parse_list(e, &fields[F_MONTH], fs[F_MONTH], &bits)) != 0)
        return rc;
    c->months = (uint16_t)bits;
    return parse_dow(e, fs[F_DOW], c);
}

int dort_cron_parse(const char *expr, dort_cron_t **out, char *err, size_t err_len)
{
    errbuf_t e = {err, err_len};
    dort_cron_t parsed = {0};
    dort_cron_t *c;
    size_t len;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (expr == NULL || out == NULL) {
        if (err != NULL && err_len > 0)
            snprintf(err, err_len, "%s", expr == NULL ? "cron expression is NULL" : "out is NULL");
        return DORT_EINVAL;
    }
    if ((rc = parse_fields(&e, expr, &parsed)) != 0)
        return rc;
    len = strlen(expr);
    c = dort__malloc(sizeof(*c) + len + 1);
    if (c == NULL) {
        if (err != NULL && err_len > 0)
            snprintf(err, err_len, "out of memory");
        return DORT_ENOMEM;
    }
    *c = parsed;
    memcpy(c->expr, expr, len + 1);
    *out = c;
    return 0;
}

void dort_cron_free(dort_cron_t *c)
{
    dort__free(c);
}

const char *dort_cron_expr(const dort_cron_t *c)
{
    return c != NULL ? c->expr : NULL;
}
