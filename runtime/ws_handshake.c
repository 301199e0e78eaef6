/* ws_handshake.c - the server side of RFC 6455's opening handshake: the
 * checks on the upgrade request, Sec-WebSocket-Accept, and dort_ws_accept,
 * which answers an actor's call with 101 and creates the socket. */
#include <string.h>

#include <openssl/evp.h>

#include "alloc_internal.h"
#include "ws_internal.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* Header values may carry optional whitespace around them. */
static dort_slice_t trim(dort_slice_t s)
{
    while (s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

static int lower(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

/* 1 when the comma-separated list `v` holds `token` (case-insensitive). */
static int has_token(dort_slice_t v, const char *token)
{
    size_t tlen = strlen(token);
    size_t i = 0;
    while (i < v.len) {
        size_t j = i;
        while (j < v.len && v.ptr[j] != ',')
            j++;
        dort_slice_t item = trim((dort_slice_t){v.ptr + i, j - i});
        if (item.len == tlen) {
            size_t k = 0;
            while (k < tlen && lower((unsigned char)item.ptr[k]) == token[k])
                k++;
            if (k == tlen)
                return 1;
        }
        i = j + 1;
    }
    return 0;
}

static int is_b64(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '+' || ch == '/';
}

/* Base64 of 16 bytes is 22 characters and "==". */
static int key_valid(dort_slice_t k)
{
    if (k.len != 24 || k.ptr[22] != '=' || k.ptr[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(k.ptr[i]))
            return 0;
    return 1;
}

int dort__ws_check_request(const dort_request_t *req, dort_slice_t *key)
{
    dort_slice_t m = dort_request_method(req), v;
    if (m.len != 3 || memcmp(m.ptr, "GET", 3) != 0)
        return DORT_EPROTO;
    if (dort_request_header(req, "upgrade", &v) != 0 || !has_token(v, "websocket"))
        return DORT_EPROTO;
    if (dort_request_header(req, "sec-websocket-version", &v) != 0)
        return DORT_EPROTO;
    v = trim(v);
    if (v.len != 2 || memcmp(v.ptr, "13", 2) != 0)
        return DORT_EPROTO;
    if (dort_request_header(req, "sec-websocket-key", &v) != 0)
        return DORT_EPROTO;
    v = trim(v);
    if (!key_valid(v))
        return DORT_EPROTO;
    *key = v;
    return 0;
}

int dort__ws_accept_key(const char *key, size_t len, char out[29])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int rc = DORT_ECRYPTO;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, key, len) == 1 &&
        EVP_DigestUpdate(ctx, ws_guid, sizeof ws_guid - 1) == 1 &&
        EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20 &&
        EVP_EncodeBlock((unsigned char *)out, md, 20) == 28)
        rc = 0;
    EVP_MD_CTX_free(ctx);
    return rc;
}

static int check_tags(const char *const *tags, size_t ntags)
{
    if (ntags > DORT_WS_MAX_TAGS)
        return DORT_ELIMIT;
    for (size_t i = 0; i < ntags; i++) {
        if (tags[i] == NULL)
            return DORT_EINVAL;
        size_t n = strlen(tags[i]);
        if (n == 0 || n > DORT_WS_MAX_TAG_LEN)
            return DORT_ELIMIT;
    }
    return 0;
}

static int switching_response(dort_slice_t key, dort_response_t **out)
{
    char accept[29];
    int rc = dort__ws_accept_key(key.ptr, key.len, accept);
    if (rc != 0)
        return rc;
    dort_response_t *res;
    if ((rc = dort_response_new(&res, 101)) != 0)
        return rc;
    if ((rc = dort_response_add_header(res, "Upgrade", 7, "websocket", 9)) != 0 ||
        (rc = dort_response_add_header(res, "Sec-WebSocket-Accept", 20, accept, 28)) != 0) {
        dort_response_free(res);
        return rc;
    }
    *out = res;
    return 0;
}

/* Checks everything that can refuse the socket before anything is made. */
static int accept_checks(dort_actor_t *self, dort_call_t *call, const char *const *tags,
                         size_t ntags, dort_slice_t *key)
{
    dort_rt_t *rt = self->ns->rt;
    if (!dort__in_turn_of(rt, self))
        return DORT_ENOTINTURN;
    if (call->target != self || !call->is_open || call->req == NULL)
        return DORT_EINVAL;
    if (rt->state != DORT__RT_RUNNING)
        return DORT_ESTOPPED;
    int rc = check_tags(tags, ntags);
    if (rc == 0)
        rc = dort__ws_check_request(call->req, key);
    return rc;
}

int dort_ws_accept(dort_actor_t *self, dort_call_t *call, const char *const *tags, size_t ntags,
                   dort_ws_t **out)
{
    if (self == NULL || call == NULL || (tags == NULL && ntags != 0))
        return DORT_EINVAL;
    dort_rt_t *rt = self->ns->rt;
    dort_slice_t key;
    int rc = accept_checks(self, call, tags, ntags, &key);
    if (rc != 0)
        return rc;
    dort__ws_group_t *g = dort__ws_group(rt, self->ns, &self->id, 1);
    if (g == NULL)
        return DORT_ENOMEM;
    dort_response_t *res = NULL;
    dort_ws_t *ws = NULL;
    if (g->count >= DORT_WS_MAX_PER_ACTOR)
        rc = DORT_ELIMIT;
    if (rc == 0)
        rc = switching_response(key, &res);
    if (rc == 0)
        rc = dort__ws_new(rt, g, tags, ntags, &ws);
    if (rc != 0) {
        dort_response_free(res);
        dort__ws_group_trim(rt, g);
        return rc;
    }
    /* The answer carries the socket until the HTTP layer takes it over (or
     * drops it, which closes the socket: dort__ws_response_free). */
    dort__ws_ref(ws);
    res->ws = ws;
    rc = dort_call_respond(call, res);
    DORT_ASSERT(rc == 0); /* checked above: in turn, call open */
    if (out != NULL)
        *out = ws;
    return 0;
}
