/* id.c - actor ids derived as workerd derives Durable Object ids. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "rt_internal.h"

/* HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)). The two pad blocks do
 * not depend on m, so their hash states are computed once per namespace and
 * copied for each id: OpenSSL's one-shot HMAC() would look the digest up,
 * take locks and set up a MAC context every time (about 5 us; this is well
 * under 1 us), and ids are derived on every routed request. */
int dort__ns_mac_init(dort_ns_t *ns)
{
    unsigned char ipad[64], opad[64];
    memset(ipad, 0x36, sizeof ipad);
    memset(opad, 0x5c, sizeof opad);
    for (size_t i = 0; i < sizeof ns->key; i++) {
        ipad[i] ^= ns->key[i];
        opad[i] ^= ns->key[i];
    }
    ns->mac_inner = EVP_MD_CTX_new();
    ns->mac_outer = EVP_MD_CTX_new();
    ns->mac_scratch = EVP_MD_CTX_new();
    int ok = ns->mac_inner && ns->mac_outer && ns->mac_scratch &&
             EVP_DigestInit_ex(ns->mac_inner, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ns->mac_inner, ipad, sizeof ipad) == 1 &&
             EVP_DigestInit_ex(ns->mac_outer, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ns->mac_outer, opad, sizeof opad) == 1;
    OPENSSL_cleanse(ipad, sizeof ipad);
    OPENSSL_cleanse(opad, sizeof opad);
    if (!ok) {
        dort__ns_mac_release(ns);
        return DORT_ECRYPTO;
    }
    return 0;
}

void dort__ns_mac_release(dort_ns_t *ns)
{
    EVP_MD_CTX_free(ns->mac_inner);
    EVP_MD_CTX_free(ns->mac_outer);
    EVP_MD_CTX_free(ns->mac_scratch);
    ns->mac_inner = ns->mac_outer = ns->mac_scratch = NULL;
}

/* First 16 bytes of HMAC-SHA256(ns key, data). Loop thread only: it uses
 * the namespace's scratch context. */
static int mac16(const dort_ns_t *ns, const void *data, size_t len, unsigned char out[16])
{
    unsigned char inner[EVP_MAX_MD_SIZE], full[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *c = ns->mac_scratch;
    if (c == NULL || EVP_MD_CTX_copy_ex(c, ns->mac_inner) != 1 ||
        EVP_DigestUpdate(c, data, len) != 1 || EVP_DigestFinal_ex(c, inner, NULL) != 1 ||
        EVP_MD_CTX_copy_ex(c, ns->mac_outer) != 1 || EVP_DigestUpdate(c, inner, 32) != 1 ||
        EVP_DigestFinal_ex(c, full, NULL) != 1)
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
