/* router.c - method + path patterns (see dort/router.h). */
#include <string.h>

#include <dort/errors.h>
#include <dort/router.h>

#include "alloc_internal.h"

enum { SEG_LIT, SEG_PARAM, SEG_REST };

typedef struct seg_s {
    uint8_t kind;
    const char *text; /* literal text or param name, into the pattern */
    size_t len;
} seg_t;

typedef struct croute_s {
    const dort_route_t *route;
    seg_t *segs;
    size_t nsegs;
    size_t nparams;
} croute_t;

struct dort_router_s {
    croute_t *routes;
    size_t n;
};

static int compile(const dort_route_t *r, croute_t *c)
{
    const char *p = r->pattern;
    if (p == NULL || p[0] != '/' || r->method == NULL || r->fn == NULL)
        return DORT_EINVAL;
    size_t max = 1;
    for (const char *q = p; *q; q++)
        max += *q == '/';
    c->segs = dort__calloc(max, sizeof *c->segs);
    if (c->segs == NULL)
        return DORT_ENOMEM;
    c->route = r;
    p++;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        seg_t *s = &c->segs[c->nsegs++];
        if (p[0] == ':' || p[0] == '*') {
            if (len < 2 || c->nparams == DORT_ROUTE_MAX_PARAMS || (p[0] == '*' && end != NULL))
                return DORT_EINVAL; /* unnamed, too many, or rest not last */
            s->kind = p[0] == ':' ? SEG_PARAM : SEG_REST;
            s->text = p + 1;
            s->len = len - 1;
            c->nparams++;
        } else {
            s->kind = SEG_LIT;
            s->text = p;
            s->len = len;
        }
        p += len + (end != NULL);
    }
    return 0;
}

void dort_router_free(dort_router_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        dort__free(r->routes[i].segs);
    dort__free(r->routes);
    dort__free(r);
}

int dort_router_new(dort_router_t **out, const dort_route_t *routes, size_t n, size_t *bad_index)
{
    if (out == NULL || (routes == NULL && n != 0))
        return DORT_EINVAL;
    dort_router_t *r = dort__calloc(1, sizeof *r);
    if (r == NULL || (r->routes = dort__calloc(n ? n : 1, sizeof *r->routes)) == NULL) {
        dort__free(r);
        return DORT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = compile(&routes[i], &r->routes[i]);
        r->n = i + 1;
        if (rc != 0) {
            if (bad_index != NULL)
                *bad_index = i;
            dort_router_free(r);
            return rc;
        }
    }
    *out = r;
    return 0;
}

static int method_ok(const char *want, dort_slice_t got)
{
    if (want[0] == '*' && want[1] == '\0')
        return 1;
    if (strlen(want) == got.len && memcmp(want, got.ptr, got.len) == 0)
        return 1;
    /* HEAD is GET without the body (RFC 9110 9.3.2); the server drops the
     * body, so a GET route serves it. */
    return strcmp(want, "GET") == 0 && got.len == 4 && memcmp(got.ptr, "HEAD", 4) == 0;
}

/* Matches the path (without query) against one compiled route. */
static int match_path(const croute_t *c, const char *p, size_t len, dort_route_match_t *m)
{
    size_t pos = 0, np = 0;
    if (len == 0 || p[0] != '/')
        return 0;
    pos = 1;
    for (size_t i = 0; i < c->nsegs; i++) {
        const seg_t *s = &c->segs[i];
        if (s->kind == SEG_REST) {
            m->names[np] = s->text;
            m->values[np].ptr = p + pos;
            m->values[np].len = len - pos;
            np++;
            pos = len;
            break;
        }
        if (pos > len)
            return 0;
        const char *slash = memchr(p + pos, '/', len - pos);
        size_t seglen = slash ? (size_t)(slash - (p + pos)) : len - pos;
        if (s->kind == SEG_LIT) {
            if (seglen != s->len || memcmp(p + pos, s->text, seglen) != 0)
                return 0;
        } else {
            if (seglen == 0)
                return 0;
            m->names[np] = s->text;
            m->values[np].ptr = p + pos;
            m->values[np].len = seglen;
            np++;
        }
        pos += seglen + 1;
    }
    /* Every path segment must have been consumed ("/a" does not match "/a/b";
     * a trailing slash is its own, empty, segment and does not match either). */
    if (pos < len || (pos == len && c->nsegs != 0 && c->segs[c->nsegs - 1].kind != SEG_REST &&
                      p[len - 1] == '/' && len > 1))
        return 0;
    if (c->nsegs == 0 && len != 1)
        return 0;
    m->nparams = np;
    return 1;
}

int dort_router_match(const dort_router_t *r, dort_slice_t method, dort_slice_t path,
                      dort_route_match_t *m)
{
    const char *q = memchr(path.ptr, '?', path.len);
    size_t len = q ? (size_t)(q - path.ptr) : path.len;
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < r->n; i++) {
        dort_route_match_t tmp;
        memset(&tmp, 0, sizeof tmp);
        if (!match_path(&r->routes[i], path.ptr, len, &tmp))
            continue;
        if (!method_ok(r->routes[i].route->method, method)) {
            m->method_mismatch = 1;
            continue;
        }
        *m = tmp;
        m->route = r->routes[i].route;
        return 0;
    }
    return DORT_ENOENT;
}

int dort_router_dispatch(const dort_router_t *r, dort_slice_t method, dort_slice_t path,
                         void *ctx, dort_route_match_t *m)
{
    int rc = dort_router_match(r, method, path, m);
    if (rc != 0)
        return rc;
    return m->route->fn(ctx, m);
}

dort_slice_t dort_route_param(const dort_route_match_t *m, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < m->nparams; i++)
        if (strlen(m->names[i]) >= len && strncmp(m->names[i], name, len) == 0 &&
            (m->names[i][len] == '\0' || m->names[i][len] == '/'))
            return m->values[i];
    dort_slice_t none = {NULL, 0};
    return none;
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long dort_url_decode(dort_slice_t in, char *buf, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        if (c == '%') {
            if (i + 2 >= in.len)
                return -1;
            int hi = hexv(in.ptr[i + 1]), lo = hexv(in.ptr[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (o + 1 >= cap)
            return -2;
        buf[o++] = c;
    }
    if (cap == 0)
        return -2;
    buf[o] = '\0';
    return (long)o;
}

long dort_query_get(dort_slice_t path, const char *key, char *buf, size_t cap)
{
    const char *q = memchr(path.ptr, '?', path.len);
    if (q == NULL)
        return -1;
    const char *p = q + 1, *end = path.ptr + path.len;
    size_t klen = strlen(key);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - p) == klen && memcmp(p, key, klen) == 0) {
            dort_slice_t v = {eq ? eq + 1 : pe, eq ? (size_t)(pe - eq - 1) : 0};
            return dort_url_decode(v, buf, cap);
        }
        p = pe + 1;
    }
    return -1;
}
