/* dort/message.h - requests and responses: the one envelope used for HTTP
 * ingress, worker-to-actor and actor-to-actor messages.
 *
 * Both are opaque, heap-allocated objects with a single owner. Functions that
 * hand a request or response to dort (dort_stub_fetch, dort_call_respond)
 * take ownership; every other holder frees it with the matching _free.
 * Strings returned by getters are borrowed: valid until the object is freed
 * or the same field is changed. Header names compare case-insensitively.
 */
#ifndef DORT_MESSAGE_H
#define DORT_MESSAGE_H

#include <dort/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How a body buffer passed in is owned (SQLite's static/transient idea). */
typedef enum {
    DORT_BUF_COPY = 0,   /* dort copies the bytes now; the caller keeps its buffer */
    DORT_BUF_TAKE = 1,   /* dort takes the buffer (allocated with dort's allocator) and frees it */
    DORT_BUF_STATIC = 2, /* dort borrows the buffer; it must outlive the message */
} dort_buf_mode_t;

/* A borrowed view of bytes. */
typedef struct dort_slice_s {
    const char *ptr;
    size_t len;
} dort_slice_t;

/* ---- requests ---- */

/* Creates a request. `method` (e.g. "GET") and `path` (path and query, e.g.
 * "/counter/a?x=1") are copied. Returns 0, DORT_EINVAL or DORT_ENOMEM. */
DORT_EXTERN int dort_request_new(dort_request_t **out, const char *method, const char *path);

/* Like dort_request_new with lengths instead of NUL-terminated strings. */
DORT_EXTERN int dort_request_new2(dort_request_t **out, const char *method, size_t method_len,
                                  const char *path, size_t path_len);

/* Frees the request and everything it owns. NULL is accepted. */
DORT_EXTERN void dort_request_free(dort_request_t *req);

/* Appends a header (both strings copied; duplicates are kept in order).
 * Returns 0, DORT_EINVAL or DORT_ENOMEM. */
DORT_EXTERN int dort_request_add_header(dort_request_t *req, const char *name, size_t name_len,
                                        const char *value, size_t value_len);

/* Replaces the body. With DORT_BUF_TAKE the buffer is owned by the request
 * even when this function fails. Returns 0, DORT_EINVAL or DORT_ENOMEM. */
DORT_EXTERN int dort_request_set_body(dort_request_t *req, const void *data, size_t len,
                                      dort_buf_mode_t mode);

DORT_EXTERN dort_slice_t dort_request_method(const dort_request_t *req);
DORT_EXTERN dort_slice_t dort_request_path(const dort_request_t *req);
DORT_EXTERN dort_slice_t dort_request_body(const dort_request_t *req);
DORT_EXTERN size_t dort_request_header_count(const dort_request_t *req);
/* Header `i` (0-based, in arrival order). Returns 0 or DORT_ENOENT. */
DORT_EXTERN int dort_request_header_at(const dort_request_t *req, size_t i, dort_slice_t *name,
                                       dort_slice_t *value);
/* First header named `name` (case-insensitive). Returns 0 or DORT_ENOENT. */
DORT_EXTERN int dort_request_header(const dort_request_t *req, const char *name,
                                    dort_slice_t *value);

/* ---- responses ---- */

/* Creates a response with `status` (100-999). Returns 0, DORT_EINVAL or
 * DORT_ENOMEM. */
DORT_EXTERN int dort_response_new(dort_response_t **out, int status);

/* Creates a response with a copied body and, when `content_type` is not
 * NULL, a Content-Type header: the short form of a typical answer. */
DORT_EXTERN int dort_response_new_body(dort_response_t **out, int status, const char *content_type,
                                       const void *body, size_t len);

/* Frees the response and everything it owns. NULL is accepted. */
DORT_EXTERN void dort_response_free(dort_response_t *res);

DORT_EXTERN int dort_response_add_header(dort_response_t *res, const char *name, size_t name_len,
                                         const char *value, size_t value_len);
DORT_EXTERN int dort_response_set_body(dort_response_t *res, const void *data, size_t len,
                                       dort_buf_mode_t mode);
DORT_EXTERN int dort_response_status(const dort_response_t *res);
DORT_EXTERN void dort_response_set_status(dort_response_t *res, int status);
DORT_EXTERN dort_slice_t dort_response_body(const dort_response_t *res);
DORT_EXTERN size_t dort_response_header_count(const dort_response_t *res);
DORT_EXTERN int dort_response_header_at(const dort_response_t *res, size_t i, dort_slice_t *name,
                                        dort_slice_t *value);
DORT_EXTERN int dort_response_header(const dort_response_t *res, const char *name,
                                     dort_slice_t *value);

/* ---- wire form ----
 * The protobuf encoding (proto/message.proto) used where a message is stored
 * or crosses a process boundary. Encoders return a buffer the caller frees
 * with dort_free. Decoders return DORT_ECORRUPT for bytes that are not a valid
 * message. */
DORT_EXTERN int dort_request_encode(const dort_request_t *req, void **out, size_t *out_len);
DORT_EXTERN int dort_request_decode(const void *data, size_t len, dort_request_t **out);
DORT_EXTERN int dort_response_encode(const dort_response_t *res, void **out, size_t *out_len);
DORT_EXTERN int dort_response_decode(const void *data, size_t len, dort_response_t **out);

#ifdef __cplusplus
}
#endif
#endif
