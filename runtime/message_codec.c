/* message_codec.c - protobuf wire form of requests and responses
 * (proto/message.proto). */
#include <string.h>

#include <dort/alloc.h>
#include <dort/errors.h>

#include "alloc_internal.h"
#include "message_internal.h"
#include "message.pb-c.h"

/* protobuf-c allocates through this, so decoding obeys dort's allocator. */
static void *pb_alloc(void *data, size_t size)
{
    (void)data;
    return dort__malloc(size);
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    dort__free(ptr);
}

static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

/* Fills `hdrs`/`ptrs` (both sized p->nhdrs) with views of p's headers. */
static int headers_out(const dort__msgpart_t *p, Dort__Header *hdrs, Dort__Header **ptrs)
{
    for (uint32_t i = 0; i < p->nhdrs; i++) {
        dort__header__init(&hdrs[i]);
        hdrs[i].name.data = (uint8_t *)(p->text + p->hdrs[i].name_off);
        hdrs[i].name.len = p->hdrs[i].name_len;
        hdrs[i].value.data = (uint8_t *)(p->text + p->hdrs[i].value_off);
        hdrs[i].value.len = p->hdrs[i].value_len;
        ptrs[i] = &hdrs[i];
    }
    return 0;
}

static int pack(const ProtobufCMessage *m, void **out, size_t *out_len)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = dort__malloc(len);
    if (buf == NULL)
        return DORT_ENOMEM;
    protobuf_c_message_pack(m, buf);
    *out = buf;
    *out_len = len;
    return 0;
}

/* Points the header and body fields of message `m` at `p` and packs it. The
 * header views live only for the call. */
static int encode_part(const dort__msgpart_t *p, ProtobufCMessage *m, size_t *n_headers,
                       Dort__Header ***headers, ProtobufCBinaryData *body, void **out,
                       size_t *out_len)
{
    Dort__Header *hdrs = dort__calloc(p->nhdrs, sizeof *hdrs);
    Dort__Header **ptrs = dort__calloc(p->nhdrs, sizeof *ptrs);
    int rc = hdrs != NULL && ptrs != NULL ? headers_out(p, hdrs, ptrs) : DORT_ENOMEM;
    if (rc == 0) {
        *n_headers = p->nhdrs;
        *headers = ptrs;
        body->data = (uint8_t *)(uintptr_t)p->body;
        body->len = p->body_len;
        rc = pack(m, out, out_len);
    }
    dort__free(hdrs);
    dort__free(ptrs);
    return rc;
}

int dort_request_encode(const dort_request_t *req, void **out, size_t *out_len)
{
    if (req == NULL || out == NULL || out_len == NULL)
        return DORT_EINVAL;
    const dort__msgpart_t *p = &req->part;
    Dort__Request m = DORT__REQUEST__INIT;
    m.method.data = (uint8_t *)(p->text + req->method_off);
    m.method.len = req->method_len;
    m.path.data = (uint8_t *)(p->text + req->path_off);
    m.path.len = req->path_len;
    return encode_part(p, &m.base, &m.n_headers, &m.headers, &m.body, out, out_len);
}

/* Copies decoded headers and body into `p`. */
static int decode_part(dort__msgpart_t *p, Dort__Header **hdrs, size_t n,
                       const ProtobufCBinaryData *body)
{
    for (size_t i = 0; i < n; i++) {
        int rc = dort__msgpart_add_header(p, (const char *)hdrs[i]->name.data, hdrs[i]->name.len,
                                          (const char *)hdrs[i]->value.data, hdrs[i]->value.len);
        if (rc != 0)
            return rc == DORT_EINVAL ? DORT_ECORRUPT : rc;
    }
    return dort__msgpart_set_body(p, body->data, body->len, DORT_BUF_COPY);
}

int dort_request_decode(const void *data, size_t len, dort_request_t **out)
{
    if ((data == NULL && len != 0) || out == NULL)
        return DORT_EINVAL;
    Dort__Request *m = dort__request__unpack(&pb_allocator, len, data);
    if (m == NULL)
        return DORT_ECORRUPT;
    dort_request_t *r = NULL;
    int rc = DORT_ECORRUPT;
    if (m->method.len != 0) {
        rc = dort_request_new2(&r, (const char *)m->method.data, m->method.len,
                               m->path.data ? (const char *)m->path.data : "", m->path.len);
        if (rc == DORT_EINVAL)
            rc = DORT_ECORRUPT;
    }
    if (rc == 0)
        rc = decode_part(&r->part, m->headers, m->n_headers, &m->body);
    dort__request__free_unpacked(m, &pb_allocator);
    if (rc != 0) {
        dort_request_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int dort_response_encode(const dort_response_t *res, void **out, size_t *out_len)
{
    if (res == NULL || out == NULL || out_len == NULL)
        return DORT_EINVAL;
    Dort__Response m = DORT__RESPONSE__INIT;
    m.status = (uint32_t)res->status;
    return encode_part(&res->part, &m.base, &m.n_headers, &m.headers, &m.body, out, out_len);
}

int dort_response_decode(const void *data, size_t len, dort_response_t **out)
{
    if ((data == NULL && len != 0) || out == NULL)
        return DORT_EINVAL;
    Dort__Response *m = dort__response__unpack(&pb_allocator, len, data);
    if (m == NULL)
        return DORT_ECORRUPT;
    dort_response_t *r = NULL;
    int rc = dort_response_new(&r, (int)m->status);
    if (rc == DORT_EINVAL)
        rc = DORT_ECORRUPT;
    if (rc == 0)
        rc = decode_part(&r->part, m->headers, m->n_headers, &m->body);
    dort__response__free_unpacked(m, &pb_allocator);
    if (rc != 0) {
        dort_response_free(r);
        return rc;
    }
    *out = r;
    return 0;
}
