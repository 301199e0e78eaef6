/* sse_room.c - an actor holding Server-Sent Events subscribers.
 *
 * GET answers with a stream and keeps it; POST stores the body as the
 * room's last event and writes it to every subscriber in the same turn, so
 * the events leave only once the write is durable (output gate). A client
 * that leaves is dropped from the list in a turn of the actor. */
#include <stdio.h>
#include <string.h>

#include "testapp.h"

#define MAX_SUBS 256

typedef struct room_s {
    dort_stream_t *subs[MAX_SUBS];
    int nsubs;
} room_t;

static int on_client_gone(dort_actor_t *self, dort_stream_t *s, void *data)
{
    room_t *r = dort_actor_state(self);
    (void)data;
    for (int i = 0; i < r->nsubs; i++) {
        if (r->subs[i] == s) {
            r->subs[i] = r->subs[--r->nsubs];
            break;
        }
    }
    dort_stream_end(s);
    return 0;
}

static int is_method(const dort_call_t *call, const char *m)
{
    dort_slice_t s = dort_request_method(dort_call_request(call));
    return s.len == strlen(m) && memcmp(s.ptr, m, s.len) == 0;
}

static int ends_with(const dort_call_t *call, const char *suffix)
{
    dort_slice_t p = dort_request_path(dort_call_request(call));
    size_t n = strlen(suffix);
    return p.len >= n && memcmp(p.ptr + p.len - n, suffix, n) == 0;
}

static int subscribe(dort_actor_t *self, dort_call_t *call)
{
    room_t *r = dort_actor_state(self);
    if (r->nsubs == MAX_SUBS)
        return dort_call_respond_body(call, 503, "text/plain", "room full", 9);
    dort_response_t *res;
    dort_stream_t *s;
    int rc = dort_response_new_stream(&res, 200, &s);
    if (rc != 0)
        return rc;
    dort_response_add_header(res, "Content-Type", 12, "text/event-stream", 17);
    dort_response_add_header(res, "Cache-Control", 13, "no-cache", 8);
    dort_stream_on_close(s, on_client_gone, NULL);
    /* A comment line first, so the client sees the stream open at once. */
    dort_stream_write(s, ": connected\n\n", 13);
    r->subs[r->nsubs++] = s;
    return dort_call_respond(call, res);
}

static int publish(dort_actor_t *self, dort_call_t *call)
{
    room_t *r = dort_actor_state(self);
    dort_slice_t body = dort_request_body(dort_call_request(call));
    int rc = dort_storage_put(self, "last", 4, body.ptr, body.len);
    if (rc != 0)
        return rc;
    char event[4200];
    int n = snprintf(event, sizeof event, "data: %.*s\n\n", (int)(body.len < 4096 ? body.len : 4096),
                     body.ptr);
    int delivered = 0;
    for (int i = 0; i < r->nsubs; i++)
        if (dort_stream_write(r->subs[i], event, (size_t)n) == 0)
            delivered++;
    char out[64];
    int len = snprintf(out, sizeof out, "{\"delivered\":%d}", delivered);
    return dort_call_respond_body(call, 200, "application/json", out, (size_t)len);
}

static int room_fetch(dort_actor_t *self, dort_call_t *call)
{
    room_t *r = dort_actor_state(self);
    if (is_method(call, "GET") && ends_with(call, "/count")) {
        char out[32];
        int n = snprintf(out, sizeof out, "%d", r->nsubs);
        return dort_call_respond_body(call, 200, "text/plain", out, (size_t)n);
    }
    if (is_method(call, "GET"))
        return subscribe(self, call);
    if (is_method(call, "POST"))
        return publish(self, call);
    return dort_call_respond_body(call, 405, "text/plain", "method not allowed", 18);
}

static void room_evict(dort_actor_t *self)
{
    room_t *r = dort_actor_state(self);
    for (int i = 0; i < r->nsubs; i++)
        dort_stream_end(r->subs[i]);
    r->nsubs = 0;
}

const dort_class_t sse_room_class = {
    .name = "SseRoom", .state_size = sizeof(room_t), .fetch = room_fetch, .evict = room_evict};
