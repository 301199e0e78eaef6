/* dort/router.h - method + path routing, so a route table reads as a list.
 *
 * Patterns are paths whose segments are literal text, ":name" (one segment,
 * captured) or a final "*name" (the rest of the path, captured). Methods are
 * exact ("GET") or "*". Routes are tried in order; the first match wins.
 * Matching ignores the query string and works on the raw (still
 * percent-encoded) path; dort_url_decode decodes a captured value.
 */
#ifndef DORT_ROUTER_H
#define DORT_ROUTER_H

#include <dort/common.h>
#include <dort/message.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DORT_ROUTE_MAX_PARAMS 8

typedef struct dort_route_match_s dort_route_match_t;

/* A route handler; `ctx` is whatever the dispatcher passes (a worker passes
 * its exchange, an actor a struct with itself and its call). */
typedef int (*dort_route_fn)(void *ctx, const dort_route_match_t *m);

typedef struct dort_route_s {
    const char *method;  /* "GET", "POST", ... or "*" */
    const char *pattern; /* e.g. "/users/:id" or "/files/" + "*rest" */
    dort_route_fn fn;
} dort_route_t;

struct dort_route_match_s {
    const dort_route_t *route;
    size_t nparams;
    const char *names[DORT_ROUTE_MAX_PARAMS];   /* borrowed from the pattern table */
    dort_slice_t values[DORT_ROUTE_MAX_PARAMS]; /* borrowed from the request path */
    int method_mismatch; /* no route matched, but a path did with another method */
};

typedef struct dort_router_s dort_router_t;

/* Compiles `routes` (borrowed: the table must outlive the router). Returns 0,
 * DORT_EINVAL (a bad pattern: the log-free way to find it is *bad_index) or
 * DORT_ENOMEM. */
DORT_EXTERN int dort_router_new(dort_router_t **out, const dort_route_t *routes, size_t n,
                                size_t *bad_index);
DORT_EXTERN void dort_router_free(dort_router_t *r);

/* Matches method and path (query ignored). Returns 0 with `m` filled, or
 * DORT_ENOENT (m->method_mismatch tells 405 from 404). Values stay valid as
 * long as the path they point into. */
DORT_EXTERN int dort_router_match(const dort_router_t *r, dort_slice_t method, dort_slice_t path,
                                  dort_route_match_t *m);

/* Matches and calls the route's fn with `ctx`. Returns the fn's value, or
 * DORT_ENOENT when nothing matched (m->method_mismatch: 405, else 404). */
DORT_EXTERN int dort_router_dispatch(const dort_router_t *r, dort_slice_t method,
                                     dort_slice_t path, void *ctx, dort_route_match_t *m);

/* The captured value of `name`, or a slice with ptr NULL. */
DORT_EXTERN dort_slice_t dort_route_param(const dort_route_match_t *m, const char *name);

/* Finds `key` in the query string of `path` and percent-decodes its value
 * into buf (NUL-terminated). Returns the decoded length, or -1 if absent,
 * or -2 if buf is too small. */
DORT_EXTERN long dort_query_get(dort_slice_t path, const char *key, char *buf, size_t cap);

/* Percent-decodes `in` into buf ('+' stays '+'). Returns the length, -1 on
 * a malformed escape, -2 if buf is too small. NUL-terminates. */
DORT_EXTERN long dort_url_decode(dort_slice_t in, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
