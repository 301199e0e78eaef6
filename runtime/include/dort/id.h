/* dort/id.h - actor ids, built the way workerd builds Durable Object ids.
 *
 * An id is 32 bytes. The namespace key is SHA-256 of the namespace's unique
 * key. Bytes 0-15 are the first 16 bytes of HMAC-SHA256(key, name) for an id
 * made from a name, or 16 random bytes for a unique id. Bytes 16-31 are the
 * first 16 bytes of HMAC-SHA256(key, bytes 0-15), so an id given as a string
 * can be checked against the namespace it is used with.
 */
#ifndef DORT_ID_H
#define DORT_ID_H

#include <dort/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DORT_ID_SIZE 32
/* Characters in the hex form of an id, without the terminating NUL. */
#define DORT_ID_HEX_LEN 64

/* A value type: copy it freely. */
typedef struct dort_id_s {
    uint8_t bytes[DORT_ID_SIZE];
} dort_id_t;

/* Derives the id for `name` (any bytes, `len` of them) in namespace `ns`.
 * The same name gives the same id in the same namespace and a different id in
 * any other. Returns 0, DORT_EINVAL (NULL argument) or DORT_ECRYPTO. */
DORT_EXTERN int dort_id_from_name(const dort_ns_t *ns, const void *name, size_t len, dort_id_t *out);

/* Makes a new random id in namespace `ns`. Returns 0, DORT_EINVAL or
 * DORT_ECRYPTO (no randomness available). */
DORT_EXTERN int dort_id_unique(const dort_ns_t *ns, dort_id_t *out);

/* Parses the 64-character lowercase hex form of an id and checks that it was
 * made for namespace `ns`. Returns 0, DORT_EIDLEN (not 64 characters),
 * DORT_EIDHEX (a character that is not 0-9 or a-f) or DORT_EIDNS (the check
 * bytes belong to another namespace). `out` is written only on success. */
DORT_EXTERN int dort_id_from_string(const dort_ns_t *ns, const char *str, size_t len,
                                    dort_id_t *out);

/* Writes the 64 lowercase hex characters of `id` and a NUL into `out`. */
DORT_EXTERN void dort_id_to_string(const dort_id_t *id, char out[DORT_ID_HEX_LEN + 1]);

/* Returns 1 when both ids have the same bytes, else 0. */
DORT_EXTERN int dort_id_equal(const dort_id_t *a, const dort_id_t *b);

#ifdef __cplusplus
}
#endif
#endif
