/* dort/websocket.h - WebSockets accepted by actors, with the semantics of
 * Cloudflare's WebSocket Hibernation API.
 *
 * A socket belongs to the actor that accepted it, named by (namespace, id)
 * rather than by the in-memory instance: the runtime keeps the connection,
 * its tags and its attachment while the actor is evicted (hibernation), and
 * the next event activates the actor again (init runs first) and hands the
 * handler the same dort_ws_t. Open sockets do not keep an actor in memory.
 *
 * Events reach the actor through its class handlers (dort/actor.h), each as
 * a turn of its own, in the order they happened on one socket:
 *   websocket_message  a text or binary message from the client;
 *   websocket_error    the runtime failed the socket (protocol error:
 *                      DORT_EPROTO, message too big: DORT_ETOOLARGE, out of
 *                      memory: DORT_ENOMEM); websocket_close follows;
 *   websocket_close    always the last event of a socket, delivered exactly
 *                      once: the client's close code and reason with
 *                      was_clean 1 after a closing handshake (also one the
 *                      actor started with dort_ws_close; 1005 when the client
 *                      sent no code), the code the runtime sent with
 *                      was_clean 0 after websocket_error, and 1006 with
 *                      was_clean 0 when the connection dropped without a
 *                      close frame or the 101 answer never reached the client.
 * A failing handler fails its turn (writes and sends dropped); the socket
 * stays open. An event for which the class has no handler does not wake the
 * actor. If the actor's init fails when an event activates it, that event is
 * lost (later ones activate it again). Sockets survive an actor reset, as
 * hibernated sockets survive it on Cloudflare. Once the runtime stops, every
 * socket is closed with 1001 and no further event is delivered.
 *
 * The runtime answers pings with pongs itself, and the auto-response (see
 * dort_actor_set_ws_auto_response) without activating the actor.
 *
 * Lifetime: a dort_ws_t stays valid until the turn that delivers its
 * websocket_close event ends (or, if the runtime stops first, until the
 * runtime stops). Do not keep the pointer past that turn; an actor without a
 * websocket_close handler should look sockets up again with
 * dort_actor_websockets rather than keep pointers across turns.
 *
 * Every function here runs on the loop thread.
 */
#ifndef DORT_WEBSOCKET_H
#define DORT_WEBSOCKET_H

#include <dort/common.h>
#include <dort/message.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Ready states, numbered as the browser's WebSocket.readyState. */
typedef enum {
    DORT_WS_CONNECTING = 0, /* accepted; the 101 answer has not reached the wire yet */
    DORT_WS_OPEN = 1,
    DORT_WS_CLOSING = 2, /* a close was requested or received; not finished */
    DORT_WS_CLOSED = 3,
} dort_ws_state_t;

/* Limits, as Cloudflare's. */
#define DORT_WS_MAX_TAGS 10
#define DORT_WS_MAX_TAG_LEN 256
#define DORT_WS_MAX_ATTACHMENT 16384
#define DORT_WS_MAX_AUTO_RESPONSE 2048
#define DORT_WS_MAX_PER_ACTOR 32768
#define DORT_WS_MAX_CLOSE_REASON 123

/* Accepts the WebSocket upgrade request of `call` for actor `self` and
 * answers the call with 101 Switching Protocols (Sec-WebSocket-Accept is
 * SHA-1 of the key and RFC 6455's GUID, in base64). Call it in a turn of
 * `self` while `call` is open (typically its fetch turn); the 101 answer
 * leaves through the output gate like any answer, so if the turn fails the
 * socket is closed (websocket_close 1006 follows).
 *
 * The request must be a GET with `Upgrade: websocket`,
 * `Sec-WebSocket-Version: 13` and a `Sec-WebSocket-Key` that is base64 of 16
 * bytes; otherwise nothing is accepted, the call stays open and the caller
 * should answer it (400, or 426 with `Sec-WebSocket-Version: 13`).
 *
 * `tags` (up to DORT_WS_MAX_TAGS strings of 1..DORT_WS_MAX_TAG_LEN bytes
 * each; may be NULL when `ntags` is 0) are copied and kept for the life of
 * the socket (see dort_actor_websockets). `*out` (may be NULL) receives the
 * socket, valid as described in the header comment.
 *
 * Returns 0, DORT_EINVAL (NULL arguments, call not open or not this
 * actor's), DORT_ENOTINTURN (not inside a turn of `self`), DORT_EPROTO (not a
 * valid WebSocket handshake), DORT_ELIMIT (too many tags, a tag empty or too
 * long, or the actor already has DORT_WS_MAX_PER_ACTOR sockets),
 * DORT_ESTOPPED (the runtime is stopping) or DORT_ENOMEM. On any error
 * nothing was accepted and the call was not answered. */
DORT_EXTERN int dort_ws_accept(dort_actor_t *self, dort_call_t *call, const char *const *tags,
                               size_t ntags, dort_ws_t **out);

/* Sends a text (`binary` 0; the bytes should be UTF-8) or binary message of
 * `len` bytes, copied. Inside a turn it is an output of that turn: held by
 * the output gate until the turn's writes are committed and dropped if the
 * turn fails. Outside any turn it is queued at once. Sends made before the
 * 101 answer reached the wire wait for it. Delivery is not confirmed: a
 * connection that breaks later loses what was still queued.
 * Returns 0, DORT_EINVAL (NULL socket, NULL data with len > 0),
 * DORT_ECLOSED (the socket is closing or closed) or DORT_ENOMEM. */
DORT_EXTERN int dort_ws_send(dort_ws_t *ws, const void *data, size_t len, int binary);

/* Starts the closing handshake with `code` (1000 or 3000..4999) and an
 * optional `reason` (NULL or a string of at most DORT_WS_MAX_CLOSE_REASON
 * bytes, copied). Gated like dort_ws_send. The socket is CLOSING from now
 * on (further sends fail with DORT_ECLOSED); websocket_close arrives with
 * the client's answer, or with 1006 if the client does not answer within 5
 * seconds. Returns 0, DORT_EINVAL (bad code or reason), DORT_ECLOSED
 * (already closing or closed) or DORT_ENOMEM. */
DORT_EXTERN int dort_ws_close(dort_ws_t *ws, int code, const char *reason);

/* The ready state (dort_ws_state_t). */
DORT_EXTERN int dort_ws_ready_state(const dort_ws_t *ws);

/* Replaces the socket's attachment with a copy of `len` bytes at `data`
 * (len 0 clears it). The runtime keeps it across hibernation; it is not
 * persisted to storage and does not survive a process restart (neither does
 * the socket). Takes effect at once, not through the output gate. Returns
 * 0, DORT_EINVAL (NULL socket, NULL data with len > 0), DORT_ELIMIT (more
 * than DORT_WS_MAX_ATTACHMENT bytes; the old attachment stays) or
 * DORT_ENOMEM. */
DORT_EXTERN int dort_ws_set_attachment(dort_ws_t *ws, const void *data, size_t len);

/* The attachment: borrowed until it is set again or the socket is gone.
 * {NULL, 0} when there is none. */
DORT_EXTERN dort_slice_t dort_ws_attachment(const dort_ws_t *ws);

/* The tags given to dort_ws_accept: sets `*out` to an array of the returned
 * number of NUL-terminated strings, borrowed for the life of the socket. */
DORT_EXTERN size_t dort_ws_tags(const dort_ws_t *ws, const char *const **out);

/* Calls `cb` for each socket of actor `self` that is not closed, in the
 * order they were accepted; with `tag` not NULL, only for sockets carrying
 * that tag (getWebSockets(tag)). `cb` may send on and close the sockets it
 * is given. A non-zero return from `cb` stops the walk and is returned.
 * Returns 0, the callback's value, or DORT_EINVAL. Usable in or out of the
 * actor's turns while `self` is in memory. */
DORT_EXTERN int dort_actor_websockets(dort_actor_t *self, const char *tag,
                                      int (*cb)(void *data, dort_ws_t *ws), void *data);

/* Sets the actor's auto-response: a text message exactly equal to `request`
 * on any of its sockets is answered with the text `response` by the runtime,
 * without delivering the message and without activating the actor. Both
 * strings are copied (at most DORT_WS_MAX_AUTO_RESPONSE bytes each; the
 * request at least 1). NULL/NULL clears it. The setting is kept by the
 * runtime while the actor is in memory or has sockets, so it survives
 * hibernation and reset; set it in `init` to have it always. Returns 0,
 * DORT_EINVAL (NULL actor, only one string NULL, empty request), DORT_ELIMIT
 * (a string too long) or DORT_ENOMEM. */
DORT_EXTERN int dort_actor_set_ws_auto_response(dort_actor_t *self, const char *request,
                                                const char *response);

/* The last time the runtime sent the auto-response on `ws` (Unix ms, UTC),
 * or -1 if it never did. */
DORT_EXTERN int64_t dort_ws_auto_response_timestamp(const dort_ws_t *ws);

#ifdef __cplusplus
}
#endif
#endif
