/* message.c - requests and responses. */
#include <strings.h>
#include <string.h>

#include <dort/errors.h>

#include "alloc_internal.h"
#include "message_internal.h"

int dort__msgpart_add_text(dort__msgpart_t *p, const char *s, size_t len, uint32_t *off)
{
    if (len > UINT32_MAX - p->text_len)
        return DORT_EINVAL;
    if (p->text == NULL) {
        p->text = p->inline_text;
        p->text_cap = DORT__MSG_INLINE_TEXT;
    }
    if (p->text_len + len > p->text_cap) {
        size_t cap = p->text_cap * 2;
        while (cap < p->text_len + len)
            cap *= 2;
        if (cap > UINT32_MAX)
            return DORT_EINVAL;
        char *n;
        if (p->text == p->inline_text) {
            n = dort__malloc(cap);
            if (n != NULL)
                memcpy(n, p->text, p->text_len);
        } else {
            n = dort__realloc(p->text, cap);
        }
        if (n == NULL)
            return DORT_ENOMEM;
        p->text = n;
        p->text_cap = (uint32_t)cap;
    }
    if (len)
        memcpy(p->text + p->text_len, s, len);
    *off = p->text_len;
    p->text_len += (uint32_t)len;
    return 0;
}

int dort__msgpart_add_header(dort__msgpart_t *p, const char *name, size_t name_len,
                             const char *value, size_t value_len)
{
    if (name == NULL || name_len == 0 || (value == NULL && value_len != 0))
        return DORT_EINVAL;
    if (p->hdrs == NULL) {
        p->hdrs = p->inline_hdrs;
        p->hdrs_cap = DORT__MSG_INLINE_HDRS;
    }
    if (p->nhdrs == p->hdrs_cap) {
        uint32_t cap = p->hdrs_cap * 2;
        dort__hdr_t *n;
        if (p->hdrs == p->inline_hdrs) {
            n = dort__malloc((size_t)cap * sizeof *n);
            if (n != NULL)
                memcpy(n, p->hdrs, p->nhdrs * sizeof *n);
        } else {
            n = dort__realloc(p->hdrs, (size_t)cap * sizeof *n);
        }
        if (n == NULL)
            return DORT_ENOMEM;
        p->hdrs = n;
        p->hdrs_cap = cap;
    }
    dort__hdr_t h;
    int rc = dort__msgpart_add_text(p, name, name_len, &h.name_off);
    if (rc == 0)
        rc = dort__msgpart_add_text(p, value, value_len, &h.value_off);
    if (rc != 0)
        return rc;
    h.name_len = (uint32_t)name_len;
    h.value_len = (uint32_t)value_len;
    p->hdrs[p->nhdrs++] = h;
    return 0;
}

int dort__msgpart_set_body(dort__msgpart_t *p, const void *data, size_t len, dort_buf_mode_t mode)
{
    if (data == NULL && len != 0) {
        if (mode == DORT_BUF_TAKE)
            dort__free((void *)(uintptr_t)data);
        return DORT_EINVAL;
    }
    const char *body = data;
    if (mode == DORT_BUF_COPY && len != 0) {
        body = dort__memdup(data, len);
        if (body == NULL)
            return DORT_ENOMEM;
    }
    if (p->body_owned)
        dort__free((void *)(uintptr_t)p->body);
    p->body = body;
    p->body_len = len;
    p->body_owned = (mode == DORT_BUF_TAKE) || (mode == DORT_BUF_COPY && len != 0);
    return 0;
}

void dort__msgpart_release(dort__msgpart_t *p)
{
    if (p->text != p->inline_text)
        dort__free(p->text);
    if (p->hdrs != p->inline_hdrs)
        dort__free(p->hdrs);
    if (p->body_owned)
        dort__free((void *)(uintptr_t)p->body);
}

int dort__msgpart_header_at(const dort__msgpart_t *p, size_t i, dort_slice_t *name,
                            dort_slice_t *value)
{
    if (i >= p->nhdrs)
        return DORT_ENOENT;
    const dort__hdr_t *h = &p->hdrs[i];
    if (name != NULL) {
        name->ptr = p->text + h->name_off;
        name->len = h->name_len;
    }
    if (value != NULL) {
        value->ptr = p->text + h->value_off;
        value->len = h->value_len;
    }
    return 0;
}

int dort__msgpart_header(const dort__msgpart_t *p, const char *name, dort_slice_t *value)
{
    size_t len = strlen(name);
    for (uint32_t i = 0; i < p->nhdrs; i++) {
        const dort__hdr_t *h = &p->hdrs[i];
        if (h->name_len == len && strncasecmp(p->text + h->name_off, name, len) == 0)
            return dort__msgpart_header_at(p, i, NULL, value);
    }
    return DORT_ENOENT;
}

static dort_slice_t slice(const dort__msgpart_t *p, uint32_t off, uint32_t len)
{
    dort_slice_t s = {p->text + off, len};
    return s;
}

/* ---- requests ---- */

int dort_request_new2(dort_request_t **out, const char *method, size_t method_len,
                      const char *path, size_t path_len)
{
    if (out == NULL || method == NULL || method_len == 0 || path == NULL)
        return DORT_EINVAL;
    dort_request_t *r = dort__calloc(1, sizeof *r);
    if (r == NULL)
        return DORT_ENOMEM;
    int rc = dort__msgpart_add_text(&r->part, method, method_len, &r->method_off);
    if (rc == 0)
        rc = dort__msgpart_add_text(&r->part, path, path_len, &r->path_off);
    if (rc != 0) {
        dort_request_free(r);
        return rc;
    }
    r->method_len = (uint32_t)method_len;
    r->path_len = (uint32_t)path_len;
    *out = r;
    return 0;
}

int dort_request_new(dort_request_t **out, const char *method, const char *path)
{
    if (method == NULL || path == NULL)
        return DORT_EINVAL;
    return dort_request_new2(out, method, strlen(method), path, strlen(path));
}

void dort_request_free(dort_request_t *req)
{
    if (req == NULL)
        return;
    dort__msgpart_release(&req->part);
    dort__free(req);
}

int dort_request_add_header(dort_request_t *req, const char *name, size_t name_len,
                            const char *value, size_t value_len)
{
    if (req == NULL)
        return DORT_EINVAL;
    return dort__msgpart_add_header(&req->part, name, name_len, value, value_len);
}

int dort_request_set_body(dort_request_t *req, const void *data, size_t len, dort_buf_mode_t mode)
{
    if (req == NULL) {
        if (mode == DORT_BUF_TAKE)
            dort__free((void *)(uintptr_t)data);
        return DORT_EINVAL;
    }
    return dort__msgpart_set_body(&req->part, data, len, mode);
}

dort_slice_t dort_request_method(const dort_request_t *req)
{
    return slice(&req->part, req->method_off, req->method_len);
}

dort_slice_t dort_request_path(const dort_request_t *req)
{
    return slice(&req->part, req->path_off, req->path_len);
}

dort_slice_t dort_request_body(const dort_request_t *req)
{
    dort_slice_t s = {req->part.body, req->part.body_len};
    return s;
}

size_t dort_request_header_count(const dort_request_t *req)
{
    return req->part.nhdrs;
}

int dort_request_header_at(const dort_request_t *req, size_t i, dort_slice_t *name,
                           dort_slice_t *value)
{
    return dort__msgpart_header_at(&req->part, i, name, value);
}

int dort_request_header(const dort_request_t *req, const char *name, dort_slice_t *value)
{
    return dort__msgpart_header(&req->part, name, value);
}

/* ---- responses ---- */

int dort_response_new(dort_response_t **out, int status)
{
    if (out == NULL || status < 100 || status > 999)
        return DORT_EINVAL;
    dort_response_t *r = dort__calloc(1, sizeof *r);
    if (r == NULL)
        return DORT_ENOMEM;
    r->status = status;
    *out = r;
    return 0;
}

int dort_response_new_body(dort_response_t **out, int status, const char *content_type,
                           const void *body, size_t len)
{
    dort_response_t *r;
    int rc = dort_response_new(&r, status);
    if (rc != 0)
        return rc;
    if (content_type != NULL)
        rc = dort_response_add_header(r, "Content-Type", 12, content_type, strlen(content_type));
    if (rc == 0 && len != 0)
        rc = dort_response_set_body(r, body, len, DORT_BUF_COPY);
    if (rc != 0) {
        dort_response_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void dort__stream_response_free(dort_response_t *res);
void dort__ws_response_free(dort_response_t *res);

void dort_response_free(dort_response_t *res)
{
    if (res == NULL)
        return;
    if (res->stream != NULL)
        dort__stream_response_free(res);
    if (res->ws != NULL)
        dort__ws_response_free(res);
    dort__msgpart_release(&res->part);
    dort__free(res);
}

int dort_response_add_header(dort_response_t *res, const char *name, size_t name_len,
                             const char *value, size_t value_len)
{
    if (res == NULL)
        return DORT_EINVAL;
    return dort__msgpart_add_header(&res->part, name, name_len, value, value_len);
}

int dort_response_set_body(dort_response_t *res, const void *data, size_t len,
                           dort_buf_mode_t mode)
{
    if (res == NULL) {
        if (mode == DORT_BUF_TAKE)
            dort__free((void *)(uintptr_t)data);
        return DORT_EINVAL;
    }
    return dort__msgpart_set_body(&res->part, data, len, mode);
}

int dort_response_status(const dort_response_t *res)
{
    return res->status;
}

void dort_response_set_status(dort_response_t *res, int status)
{
    res->status = status;
}

dort_slice_t dort_response_body(const dort_response_t *res)
{
    dort_slice_t s = {res->part.body, res->part.body_len};
    return s;
}

size_t dort_response_header_count(const dort_response_t *res)
{
    return res->part.nhdrs;
}

int dort_response_header_at(const dort_response_t *res, size_t i, dort_slice_t *name,
                            dort_slice_t *value)
{
    return dort__msgpart_header_at(&res->part, i, name, value);
}

int dort_response_header(const dort_response_t *res, const char *name, dort_slice_t *value)
{
    return dort__msgpart_header(&res->part, name, value);
}
