/* id.c - actor ids derived as workerd derives Durable Object ids. */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "rt_internal.h"

/* First 16 bytes of HMAC-SHA256(ns key, data). */
static int mac16(const dort_ns_t *ns, const void *data, size_t len, unsigned char out[16])
{
    unsigned char full[EVP_MAX_MD_SIZE];
    unsigned int full_len = 0;
    if (HMAC(EVP_sha256(), ns->key, sizeof ns->key, data, len, full, &full_len) == NULL ||
        full_len < 16)
        return DORT_ECRYPTO;
    memcpy(out, full, 16);
    return 0;
}

static int finish(const dort_ns_t *ns, dort_id_t *out)
{
    return mac16(ns, out->bytes, 16, out->bytes + 16);
}

int dort_id_from_name(const dort_ns_t *ns, const void *name, size_t len, dort_id_t *out)
{
    if (ns == NULL || out == NULL || (name == NULL && len != 0))
        return DORT_EINVAL;
    int rc = mac16(ns, len ? name : "", len, out->bytes);
    return rc != 0 ? rc : finish(ns, out);
}

int dort_id_unique(const dort_ns_t *ns, dort_id_t *out)
{
    if (ns == NULL || out == NULL)
        return DORT_EINVAL;
    if (RAND_bytes(out->bytes, 16) != 1)
        return DORT_ECRYPTO;
    return finish(ns, out);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int dort_id_from_string(const dort_ns_t *ns, const char *str, size_t len, dort_id_t *out)
{
    if (ns == NULL || out == NULL || (str == NULL && len != 0))
        return DORT_EINVAL;
    if (len != DORT_ID_HEX_LEN)
        return DORT_EIDLEN;
    dort_id_t id;
    for (size_t i = 0; i < DORT_ID_SIZE; i++) {
        int hi = hexval(str[2 * i]), lo = hexval(str[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return DORT_EIDHEX;
        id.bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    unsigned char check[16];
    int rc = mac16(ns, id.bytes, 16, check);
    if (rc != 0)
        return rc;
    /* Not secret material: a plain comparison is fine. */
    if (memcmp(check, id.bytes + 16, 16) != 0)
        return DORT_EIDNS;
    *out = id;
    return 0;
}

void dort_id_to_string(const dort_id_t *id, char out[DORT_ID_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < DORT_ID_SIZE; i++) {
        out[2 * i] = digits[id->bytes[i] >> 4];
        out[2 * i + 1] = digits[id->bytes[i] & 15];
    }
    out[DORT_ID_HEX_LEN] = '\0';
}

int dort_id_equal(const dort_id_t *a, const dort_id_t *b)
{
    return memcmp(a->bytes, b->bytes, DORT_ID_SIZE) == 0;
}
