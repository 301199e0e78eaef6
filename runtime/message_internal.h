/* message_internal.h - layout of requests and responses.
 *
 * Header names and values, and a request's method and path, live in one
 * growable byte buffer addressed by offsets, so a message with a handful of
 * headers costs three allocations at most (struct, text buffer, header
 * table) and copying it out to the wire is a walk over one buffer. */
#ifndef DORT_MESSAGE_INTERNAL_H
#define DORT_MESSAGE_INTERNAL_H

#include <dort/message.h>

typedef struct dort__hdr_s {
    uint32_t name_off, name_len, value_off, value_len;
} dort__hdr_t;

/* A typical request or answer fits here without further allocations. */
#define DORT__MSG_INLINE_TEXT 192
#define DORT__MSG_INLINE_HDRS 6

typedef struct dort__msgpart_s {
    char *text; /* header (and method/path) bytes: inline_text until it outgrows it */
    uint32_t text_len, text_cap;
    dort__hdr_t *hdrs; /* inline_hdrs until they are outgrown */
    uint32_t nhdrs, hdrs_cap;
    const char *body;
    size_t body_len;
    uint8_t body_owned; /* free body with dort__free */
    char inline_text[DORT__MSG_INLINE_TEXT];
    dort__hdr_t inline_hdrs[DORT__MSG_INLINE_HDRS];
} dort__msgpart_t;

struct dort_request_s {
    dort__msgpart_t part;
    uint32_t method_off, method_len, path_off, path_len;
};

struct dort_response_s {
    dort__msgpart_t part;
    int status;
    /* A streaming response (SSE): its stream; NULL otherwise. */
    struct dort_stream_s *stream;
    /* A 101 answer accepting a WebSocket: the socket it opens. */
    struct dort_ws_s *ws;
};

int dort__msgpart_add_text(dort__msgpart_t *p, const char *s, size_t len, uint32_t *off);
int dort__msgpart_add_header(dort__msgpart_t *p, const char *name, size_t name_len,
                             const char *value, size_t value_len);
int dort__msgpart_set_body(dort__msgpart_t *p, const void *data, size_t len, dort_buf_mode_t mode);
void dort__msgpart_release(dort__msgpart_t *p);
int dort__msgpart_header(const dort__msgpart_t *p, const char *name, dort_slice_t *value);
int dort__msgpart_header_at(const dort__msgpart_t *p, size_t i, dort_slice_t *name,
                            dort_slice_t *value);

#endif
