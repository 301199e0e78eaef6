/* ws_conn.c - placeholder until the WebSocket layer lands: an accepted
 * upgrade is closed. */
#include <dort/errors.h>

#include "http_internal.h"

int dort__ws_take_over(dort__http_conn_t *c, dort_response_t *res, const char *leftover,
                       size_t len)
{
    (void)leftover, (void)len;
    dort_response_free(res);
    dort__http_conn_close(c);
    return DORT_ENOTSUP;
}

void dort__ws_on_read(dort__http_conn_t *c, const char *data, size_t len)
{
    (void)c, (void)data, (void)len;
}

void dort__ws_on_eof(dort__http_conn_t *c)
{
    (void)c;
}

void dort__ws_response_free(dort_response_t *res)
{
    res->ws = NULL;
}
