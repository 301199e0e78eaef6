/* crash_common.c - tokens, their expansion, and small helpers (see crash.h). */
#include "crash.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_lower_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

/* Reads a decimal number without overflow; advances *p past it. */
static int read_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s == end || !is_digit(*s))
        return -1;
    while (s < end && is_digit(*s)) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return 0;
}

/* Reads ".<decimal>" with the number below `limit`. */
static int read_dot_u32(const char **p, const char *end, uint64_t limit, uint32_t *out)
{
    uint64_t v;
    if (*p == end || **p != '.')
        return -1;
    (*p)++;
    if (read_u64(p, end, &v) != 0 || v >= limit)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int crash_tok_parse(const char *s, size_t n, crash_tok_t *t)
{
    memset(t, 0, sizeof *t);
    if (s == NULL || n < 2)
        return -1;
    t->kind = s[0];
    t->tok_len = t->base_len = t->len = n;
    /* Markers are literal keys; a '+' in one would be a writer bug. */
    if (t->kind == '~' || t->kind == '#')
        return memchr(s, '+', n) == NULL ? 0 : -1;
    if (strchr("kbsv", t->kind) == NULL)
        return -1;
    const char *p = s + 1, *end = s + n;
    t->run = p;
    while (p < end && is_lower_hex(*p))
        p++;
    t->run_len = (size_t)(p - t->run);
    if (t->run_len == 0 || t->run_len > 16 || p == end || *p != '.')
        return -1;
    p++;
    if (read_u64(&p, end, &t->ctr) != 0)
        return -1;
    if (t->kind == 'b' || t->kind == 'v') {
        if (read_dot_u32(&p, end, CRASH_BATCH_MAX, &t->i) != 0)
            return -1;
    }
    if (t->kind == 'b') {
        if (read_dot_u32(&p, end, CRASH_BATCH_MAX + 1, &t->n) != 0 || t->i >= t->n)
            return -1;
    }
    t->base_len = (size_t)(p - s);
    if (p < end) {
        uint64_t len;
        if (*p != '+')
            return -1;
        p++;
        if (read_u64(&p, end, &len) != 0 || p != end || len > CRASH_EXPAND_MAX)
            return -1;
        if (len > n)
            t->len = (size_t)len;
    }
    return 0;
}

size_t crash_expand_len(const char *s, size_t n)
{
    crash_tok_t t;
    return crash_tok_parse(s, n, &t) == 0 ? t.len : 0;
}

uint64_t crash_hash64(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325u;
    size_t i = 0;
    /* Eight bytes per step: values reach 128 KiB and the checker hashes
     * every one of them after every kill. */
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h ^= w;
        h *= 0x100000001b3u;
        h ^= h >> 29;
    }
    for (; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3u;
    }
    return h;
}

void crash_expand(const char *s, size_t n, char *out)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz012345";
    size_t len = crash_expand_len(s, n);
    memcpy(out, s, n);
    if (len <= n)
        return;
    out[n] = '/';
    /* Filler depends on the whole token, so two tokens never expand to
     * bytes that could be mistaken for each other past their heads. Twelve
     * 5-bit characters per step of the generator. */
    uint64_t x = crash_hash64(s, n) | 1;
    for (size_t i = n + 1; i < len;) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t bits = x;
        for (int j = 0; j < 12 && i < len; j++, i++, bits >>= 5)
            out[i] = alphabet[bits & 31];
    }
}

size_t crash_token_head(const char *bytes, size_t len)
{
    const char *slash = memchr(bytes, '/', len);
    return slash != NULL ? (size_t)(slash - bytes) : len;
}

int crash_buf_add(crash_buf_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->ptr, cap);
        if (np == NULL)
            return -1;
        b->ptr = np;
        b->cap = cap;
    }
    if (n)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

int crash_buf_printf(crash_buf_t *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof small)
        return crash_buf_add(b, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (big == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = crash_buf_add(b, big, (size_t)n);
    free(big);
    return rc;
}

void crash_buf_release(crash_buf_t *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

int crash_next_word(dort_slice_t *rest, dort_slice_t *word)
{
    size_t i = 0;
    while (i < rest->len && is_space(rest->ptr[i]))
        i++;
    size_t j = i;
    while (j < rest->len && !is_space(rest->ptr[j]))
        j++;
    if (j == i)
        return -1;
    word->ptr = rest->ptr + i;
    word->len = j - i;
    rest->ptr += j;
    rest->len -= j;
    return 0;
}
