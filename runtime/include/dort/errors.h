/* dort/errors.h - error codes shared by every dort function.
 *
 * Every fallible function returns an int: 0 on success or one of the negative
 * DORT_E* codes below. The codes are generated from one X-macro so that the
 * enum, dort_err_name() and dort_strerror() can never drift apart. Codes are
 * stable: a code keeps its number forever, new codes get new numbers.
 */
#ifndef DORT_ERRORS_H
#define DORT_ERRORS_H

#include <dort/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message). */
#define DORT_ERRNO_MAP(X)                                                                          \
    X(EINVAL, -4001, "invalid argument")                                                           \
    X(ENOMEM, -4002, "out of memory")                                                              \
    X(ENOENT, -4003, "no such entry")                                                              \
    X(EEXIST, -4004, "already exists")                                                             \
    X(EKEYTOOLONG, -4005, "storage key longer than 2048 bytes")                                    \
    X(EVALTOOBIG, -4006, "storage value larger than 131072 bytes")                                 \
    X(ETOOMANYKEYS, -4007, "more than 128 keys in one batch")                                      \
    X(ENOTINTURN, -4008, "storage used outside a turn of this actor")                              \
    X(EIDLEN, -4009, "actor id string is not 64 characters long")                                  \
    X(EIDHEX, -4010, "actor id string is not lowercase hexadecimal")                               \
    X(EIDNS, -4011, "actor id belongs to another namespace")                                       \
    X(ECOMMIT, -4012, "storage commit failed; nothing from the batch was applied (safe to retry)") \
    X(ESTORAGEFULL, -4013, "storage is full (map bound reached); nothing was applied")             \
    X(EIO, -4014, "storage I/O error")                                                             \
    X(EHANDLER, -4015, "actor handler failed; its writes and outputs were dropped (safe to retry)") \
    X(ERESET, -4016, "actor was reset before it answered (outcome unknown)")                       \
    X(ESTOPPED, -4017, "runtime is stopping or stopped")                                           \
    X(EBUSY, -4018, "resource busy")                                                               \
    X(ETIMEDOUT, -4019, "timed out")                                                               \
    X(EOVERLOADED, -4020, "actor overloaded: too many queued messages")                            \
    X(ENOCLASS, -4021, "no such actor class")                                                      \
    X(ENONS, -4022, "no such namespace binding")                                                   \
    X(ESTATE, -4023, "operation not allowed in the current state")                                 \
    X(ETXN, -4024, "storage transaction misused (not open, or left open at end of turn)")         \
    X(ESCHEMA, -4025, "data directory has an unsupported schema version")                          \
    X(ECORRUPT, -4026, "stored record is corrupt")                                                 \
    X(ECRYPTO, -4027, "cryptographic library failure")                                             \
    X(ECONFIG, -4028, "configuration error")                                                       \
    X(ECRON, -4029, "invalid cron expression")                                                     \
    X(ETOOLARGE, -4030, "payload too large")                                                       \
    X(ELIMIT, -4031, "limit exceeded")                                                             \
    X(EPROTO, -4032, "protocol error")                                                             \
    X(ECLOSED, -4033, "connection or socket closed")                                               \
    X(ESYS, -4034, "system call failed")                                                           \
    X(ENOTSUP, -4035, "operation not supported")                                                   \
    X(EQUEUE, -4036, "queue error")                                                                \
    X(EPENDING, -4037, "operation continues; completion is reported later")

typedef enum {
#define DORT_ERRNO_ENUM(name, value, msg) DORT_##name = (value),
    DORT_ERRNO_MAP(DORT_ERRNO_ENUM)
#undef DORT_ERRNO_ENUM
} dort_errno_t;

/* Returns a static, human-readable sentence for `code` (never NULL). Unknown
 * codes give "unknown error". Safe from any thread. */
DORT_EXTERN const char *dort_strerror(int code);

/* Returns the code's symbolic name, e.g. "DORT_EINVAL" (never NULL; "0" for
 * success, "DORT_UNKNOWN" for codes dort does not define). Safe from any
 * thread. */
DORT_EXTERN const char *dort_err_name(int code);

/* Returns 1 when an operation that failed with `code` left no effect behind,
 * so the caller may safely send it again (commit failures, handler failures,
 * overload); 0 when the outcome is unknown or retrying cannot help. */
DORT_EXTERN int dort_err_retryable(int code);

#ifdef __cplusplus
}
#endif
#endif
