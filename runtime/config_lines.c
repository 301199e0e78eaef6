/* config_lines.c - JSON paths and where they are in the text, errors, and the
 * lexical checks (name syntax, dates, byte sizes, duplicate names) the loader
 * applies.
 *
 * jansson keeps no positions for values, so when the loader finds a problem
 * it names the offending member by a structured path and this file rescans
 * the text to find the line and column of that member's key or value. The
 * scan happens only on the error path, runs in one pass without allocating,
 * and is tolerant: on text it does not understand it just reports "not found"
 * (it is only ever given text jansson has accepted, but fuzzers give it
 * everything). */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dort/errors.h>

#include "alloc_internal.h"
#include "config_internal.h"

/* ---- path formatting ---- */

typedef struct {
    char *buf;
    size_t cap;
    size_t len;
    int truncated;
} sbuf_t;

static void sb_put(sbuf_t *sb, const char *s, size_t n)
{
    if (sb->truncated)
        return;
    if (sb->len + n >= sb->cap) {
        n = sb->cap - 1 - sb->len;
        sb->truncated = 1;
    }
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

static int is_plain_key(const char *k)
{
    /* Keys that read unambiguously after a dot; everything else is bracketed. */
    if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_' || *k == '$'))
        return 0;
    for (k++; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
              *k == '_' || *k == '$'))
            return 0;
    return 1;
}

static void sb_put_quoted(sbuf_t *sb, const char *k)
{
    char tmp[8];
    sb_put(sb, "[\"", 2);
    for (; *k; k++) {
        unsigned char c = (unsigned char)*k;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            sb_put(sb, tmp, 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            sb_put(sb, tmp, 6);
        } else {
            sb_put(sb, k, 1);
        }
    }
    sb_put(sb, "\"]", 2);
}

void dort__cpath_format(const dort__cpath_t *p, char *buf, size_t len)
{
    sbuf_t sb = {buf, len, 0, 0};
    char idx[32];
    if (len == 0)
        return;
    buf[0] = '\0';
    sb_put(&sb, "$", 1);
    for (int i = 0; i < p->depth; i++) {
        const dort__cpath_seg_t *s = &p->seg[i];
        if (s->key == NULL) {
            int n = snprintf(idx, sizeof idx, "[%zu]", s->index);
            sb_put(&sb, idx, (size_t)n);
        } else if (is_plain_key(s->key)) {
            sb_put(&sb, ".", 1);
            sb_put(&sb, s->key, strlen(s->key));
        } else {
            sb_put_quoted(&sb, s->key);
        }
    }
    if (sb.truncated && len >= 4) {
        /* Do not leave half a UTF-8 sequence before the ellipsis. */
        size_t end = len - 4;
        while (end > 0 && ((unsigned char)buf[end] & 0xC0) == 0x80)
            end--;
        memcpy(buf + end, "...", 4);
    }
}

/* ---- the scanner ---- */

typedef struct {
    const char *s;
    size_t len;
    size_t pos;
    int line;
    int col;
} scan_t;

static int cur(const scan_t *sc)
{
    return sc->pos < sc->len ? (unsigned char)sc->s[sc->pos] : -1;
}

static void adv(scan_t *sc)
{
    unsigned char c;
    if (sc->pos >= sc->len)
        return;
    c = (unsigned char)sc->s[sc->pos++];
    /* Columns count characters like jansson's do: UTF-8 continuation bytes
     * do not start a new one. */
    if (c == '\n') {
        sc->line++;
        sc->col = 1;
    } else if ((c & 0xC0) != 0x80) {
        sc->col++;
    }
}

static void skip_ws(scan_t *sc)
{
    int c;
    while ((c = cur(sc)) == ' ' || c == '\t' || c == '\r' || c == '\n')
        adv(sc);
}

static void skip_string(scan_t *sc)
{
    int c;
    adv(sc); /* opening quote */
    while ((c = cur(sc)) >= 0) {
        adv(sc);
        if (c == '\\')
            adv(sc);
        else if (c == '"')
            return;
    }
}

static void skip_value(scan_t *sc)
{
    int c = cur(sc), depth = 0;
    if (c == '"') {
        skip_string(sc);
        return;
    }
    if (c != '{' && c != '[') {
        while ((c = cur(sc)) >= 0 && c != ',' && c != '}' && c != ']' && c != ' ' && c != '\t' &&
               c != '\r' && c != '\n')
            adv(sc);
        return;
    }
    /* Containers are skipped by counting brackets rather than recursing, so
     * deeply nested input cannot exhaust the stack. */
    while ((c = cur(sc)) >= 0) {
        if (c == '"') {
            skip_string(sc);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        adv(sc);
        if (depth == 0)
            return;
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static long read_hex4(scan_t *sc)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(cur(sc));
        if (h < 0)
            return -1;
        v = v * 16 + h;
        adv(sc);
    }
    return v;
}

/* Reads a \u escape (after the "\u") and its low surrogate, if any, as UTF-8
 * into out[4]; returns the byte count or 0 when malformed. */
static size_t read_u_escape(scan_t *sc, unsigned char *out)
{
    long cp = read_hex4(sc), lo;
    if (cp < 0)
        return 0;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (cur(sc) != '\\')
            return 0;
        adv(sc);
        if (cur(sc) != 'u')
            return 0;
        adv(sc);
        lo = read_hex4(sc);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return 0;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static int simple_escape(int c)
{
    switch (c) {
    case '"':
    case '\\':
    case '/':
        return c;
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    default:
        return -1;
    }
}

/* Reads the string at the cursor and says whether it decodes to `key`
 * (jansson hands the loader decoded keys, the text has escapes). */
static int match_string(scan_t *sc, const char *key)
{
    const unsigned char *k = (const unsigned char *)key;
    unsigned char dec[4];
    int ok = 1, c;
    adv(sc);
    while ((c = cur(sc)) >= 0 && c != '"') {
        size_t n = 1;
        adv(sc);
        dec[0] = (unsigned char)c;
        if (c == '\\') {
            int e = cur(sc);
            adv(sc);
            if (e == 'u') {
                n = read_u_escape(sc, dec);
            } else {
                e = simple_escape(e);
                dec[0] = (unsigned char)e;
                n = e < 0 ? 0 : 1;
            }
            if (n == 0)
                ok = 0;
        }
        for (size_t i = 0; i < n && ok; i++, k++)
            ok = *k != '\0' && *k == dec[i];
    }
    adv(sc); /* closing quote */
    return ok && *k == '\0';
}

/* Moves the cursor into `seg` of the container at the cursor: to the value,
 * recording the key's position in *kline and *kcol. Returns 0 or -1. */
static int enter(scan_t *sc, const dort__cpath_seg_t *seg, int *kline, int *kcol)
{
    size_t n = 0;
    int open = seg->key ? '{' : '[', close = seg->key ? '}' : ']';
    if (cur(sc) != open)
        return -1;
    adv(sc);
    for (;;) {
        int found;
        skip_ws(sc);
        if (cur(sc) < 0 || cur(sc) == close)
            return -1;
        *kline = sc->line;
        *kcol = sc->col;
        if (seg->key) {
            if (cur(sc) != '"')
                return -1;
            found = match_string(sc, seg->key);
            skip_ws(sc);
            if (cur(sc) != ':')
                return -1;
            adv(sc);
            skip_ws(sc);
        } else {
            found = n++ == seg->index;
        }
        if (found)
            return 0;
        skip_value(sc);
        skip_ws(sc);
        if (cur(sc) != ',')
            return -1;
        adv(sc);
    }
}

int dort__config_locate(const char *text, size_t len, const dort__cpath_t *p, dort__at_t at,
                        int *line, int *col, size_t *value_off)
{
    scan_t sc = {text, len, 0, 1, 1};
    int kline = 0, kcol = 0;
    if (text == NULL)
        return -1;
    skip_ws(&sc);
    for (int i = 0; i < p->depth; i++) {
        if (enter(&sc, &p->seg[i], &kline, &kcol) < 0)
            return -1;
    }
    if (at == DORT__AT_KEY && p->depth > 0 && p->seg[p->depth - 1].key != NULL) {
        *line = kline;
        *col = kcol;
    } else {
        *line = sc.line;
        *col = sc.col;
    }
    if (value_off)
        *value_off = sc.pos;
    return 0;
}

size_t dort__config_number_len(const char *text, size_t len, size_t off)
{
    size_t n = 0;
    while (off + n < len && strchr("+-0123456789.eE", text[off + n]) != NULL && text[off + n])
        n++;
    return n;
}

/* ---- errors ---- */

int dort__config_fail(dort_config_error_t *err, const char *text, size_t len,
                      const dort__cpath_t *p, dort__at_t at, const char *fmt, ...)
{
    va_list ap;
    memset(err, 0, sizeof *err);
    dort__cpath_format(p, err->path, sizeof err->path);
    dort__config_locate(text, len, p, at, &err->line, &err->column, NULL);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return DORT_ECONFIG;
}

int dort__config_fail_at(dort_config_error_t *err, int line, int col, const char *fmt, ...)
{
    va_list ap;
    memset(err, 0, sizeof *err);
    err->line = line;
    err->column = col;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return DORT_ECONFIG;
}

int dort_config_error_format(const dort_config_error_t *err, const char *file, char *buf,
                             size_t len)
{
    char loc[48] = "";
    int n, plen, mlen;
    if (err == NULL || (buf == NULL && len > 0))
        return DORT_EINVAL;
    if (err->line > 0 && err->column > 0)
        snprintf(loc, sizeof loc, "%d:%d", err->line, err->column);
    else if (err->line > 0)
        snprintf(loc, sizeof loc, "%d", err->line);
    /* The arrays may come from a caller's struct: never read past them. */
    plen = (int)strnlen(err->path, sizeof err->path);
    mlen = (int)strnlen(err->message, sizeof err->message);
    n = snprintf(buf, len, "%s%s%s%s%.*s%s%.*s", file ? file : "", file && loc[0] ? ":" : "", loc,
                 file || loc[0] ? ": " : "", plen, err->path, plen ? ": " : "", mlen, err->message);
    return n < 0 ? DORT_EINVAL : n;
}

/* ---- lexical checks ---- */

/* Copies `s` for a message: at most 60 bytes, control characters as '?'. */
const char *dort__config_shown(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 4 < len && i < 60; i++)
        buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s[i])
        memcpy(buf + i, "...", 4);
    else
        buf[i] = '\0';
    return buf;
}

int dort__config_is_ip(const char *s)
{
    unsigned char addr[16];
    return strcmp(s, "localhost") == 0 || inet_pton(AF_INET, s, addr) == 1 ||
           inet_pton(AF_INET6, s, addr) == 1;
}

int dort__config_is_ident(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

int dort__config_is_short_name(const char *s, int upper)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              (upper && c >= 'A' && c <= 'Z')))
            return 0;
    }
    return n >= 1 && n <= 63;
}

int dort__config_is_date(const char *s)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? s[i] != '-' : !(s[i] >= '0' && s[i] <= '9'))
            return 0;
    if (s[10] != '\0')
        return 0;
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    return !(m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
}

static int digit(char c)
{
    return c >= '0' && c <= '9';
}

int dort_config_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"kb", 1000},
                 {"mb", 1000000},
                 {"gb", 1000000000},
                 {"tb", 1000000000000},
                 {"kib", 1ull << 10},
                 {"mib", 1ull << 20},
                 {"gib", 1ull << 30},
                 {"tib", 1ull << 40}};
    uint64_t whole = 0, frac = 0, scale = 1, mult = 0, fm;
    const char *p = s;
    if (s == NULL || out == NULL || !digit(*p))
        return DORT_EINVAL;
    for (; digit(*p); p++) {
        if (whole > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return DORT_EINVAL;
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        if (!digit(*++p))
            return DORT_EINVAL;
        /* Six fraction digits keep frac * mult (< 10^6 * 2^40) inside 64 bits;
         * further digits can only be zeros. */
        for (; digit(*p); p++) {
            if (scale < 1000000) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                scale *= 10;
            } else if (*p != '0') {
                return DORT_EINVAL;
            }
        }
    }
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < sizeof units / sizeof units[0] && mult == 0; i++)
        if (strcasecmp(p, units[i].unit) == 0)
            mult = units[i].mult;
    if (mult == 0 || whole > UINT64_MAX / mult)
        return DORT_EINVAL;
    fm = frac * mult;
    if (fm % scale != 0 || whole * mult > UINT64_MAX - fm / scale)
        return DORT_EINVAL;
    *out = whole * mult + fm / scale;
    return 0;
}

typedef struct {
    const char *name;
    size_t index;
} named_t;

static int cmp_named(const void *a, const void *b)
{
    const named_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : (x->index > y->index) - (x->index < y->index);
}

int dort__config_first_duplicate(const char *const *names, size_t n, size_t *later, size_t *first)
{
    named_t *v;
    int found = 0;
    if (n < 2)
        return 0;
    /* Sorting keeps this O(n log n): configs are small, fuzz inputs are not. */
    if ((v = dort__malloc(n * sizeof *v)) == NULL)
        return DORT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = (named_t){names[i], i};
    qsort(v, n, sizeof *v, cmp_named);
    for (size_t i = 1; i < n; i++) {
        /* In a run of equal names the first two are the first use and the
         * first reuse; report the reuse that comes earliest. */
        if (strcmp(v[i].name, v[i - 1].name) == 0 && v[i - 1].index < v[i].index &&
            (i < 2 || strcmp(v[i - 2].name, v[i].name) != 0) && (!found || v[i].index < *later)) {
            *later = v[i].index;
            *first = v[i - 1].index;
            found = 1;
        }
    }
    dort__free(v);
    return found;
}
