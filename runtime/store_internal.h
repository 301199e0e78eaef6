/* store_internal.h - the LMDB environment: named databases, the loop
 * thread's read transaction, map growth, error translation.
 *
 * Databases: kv (actor storage), alarms (<due BE><prefix> -> empty: the
 * schedule), actor_alarm (<prefix> -> AlarmRecord), meta (schema record),
 * plus any extra databases other modules (queues) ask for before opening.
 */
#ifndef DORT_STORE_INTERNAL_H
#define DORT_STORE_INTERNAL_H

#include <lmdb.h>

#include <dort/runtime.h>

#include "log_internal.h"

#define DORT__SCHEMA_VERSION 1
#define DORT__STORE_MAX_EXTRA_DBS 8

typedef struct dort__store_s {
    MDB_env *env;
    MDB_dbi kv, alarms, actor_alarm, meta;
    MDB_dbi extra[DORT__STORE_MAX_EXTRA_DBS];
    const char *extra_names[DORT__STORE_MAX_EXTRA_DBS];
    unsigned nextra;
    /* The loop thread's read transaction: renewed lazily after each commit
     * so reads see what the writer committed; values read from it stay
     * valid until it is reset, which happens only between turns. */
    MDB_txn *rtxn;
    int rtxn_live;
    char *dir;
    int remove_dir;      /* memory durability: a private temp dir */
    /* <dir>/dort.lock, flock()ed for as long as the environment is open so
     * that a second runtime (or `dort queues` writing) cannot share it;
     * lock_fd is meaningful only while lock_held (a zeroed store holds none). */
    int lock_fd;
    int lock_held;
    uint64_t map_size;   /* current */
    uint64_t max_size;   /* 0: no bound */
    dort_durability_t durability;
    const dort__logger_t *log;
} dort__store_t;

/* Asks for an extra named database; call before dort__store_open. Returns
 * its index for dort__store_extra or DORT_ELIMIT. */
int dort__store_want_db(dort__store_t *st, const char *name);

/* Opens (creating) the environment in `dir` (NULL with memory durability),
 * opens every database and checks or writes the schema record. A persistent
 * `dir` is locked first (dort.lock, pid inside); when another process holds
 * the lock this returns DORT_EBUSY and logs its pid. */
int dort__store_open(dort__store_t *st, const char *dir, dort_durability_t durability,
                     uint64_t map_size, uint64_t max_size, const dort__logger_t *log);
void dort__store_close(dort__store_t *st);

/* The loop's read transaction, (re)started if needed. */
int dort__store_rtxn(dort__store_t *st, MDB_txn **out);
/* Ends the read snapshot so the next read sees newer commits. */
void dort__store_rtxn_reset(dort__store_t *st);

/* Doubles the map (bounded by max_size). Only while no write transaction
 * runs and the loop's read transaction is reset. Returns 0 or
 * DORT_ESTORAGEFULL when the bound is reached. */
int dort__store_grow(dort__store_t *st);

/* Flushes to disk (used at stop and by relaxed durability). */
int dort__store_sync(dort__store_t *st);

/* Translates an LMDB or errno code to a DORT_E* code. */
int dort__lmdb_err(int rc);

#endif
