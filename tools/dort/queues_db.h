/* queues_db.h - `dort queues`' access to the durable queues of a persist
 * directory, from outside the runtime (another process, maybe while a
 * server runs).
 *
 * The layout is the queue engine's (queues/queue_internal.h), read and
 * written here without the runtime:
 *   q_ready  <qid:4 BE><seq:8 BE>                 -> QueueRecord
 *   q_delay  <qid:4 BE><visible_ms:8 BE><seq:8 BE> -> QueueRecord
 *   q_meta   "q:<name>" -> QueueMeta, "next_qid" -> uint32 (host order)
 * A message lives in exactly one of q_ready and q_delay. The runtime keeps
 * sequence numbers and counters in memory while it runs, so writes are only
 * allowed with the directory's dort.lock held (no runtime running).
 *
 * Errors are 0 or a negative DORT_E* code; a sentence for the user is left
 * in db->err. Single-threaded.
 */
#ifndef DORT_CLI_QUEUES_DB_H
#define DORT_CLI_QUEUES_DB_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include <dort/queue.h>

/* The schema (meta/"schema" version) whose queue layout this code knows. */
#define QDB_SCHEMA_VERSION 1

typedef enum {
    QDB_READ = 0,  /* MDB_RDONLY: never creates or changes anything */
    QDB_WRITE = 1, /* takes dort.lock first; refuses while a runtime holds it */
} qdb_mode_t;

typedef struct qdb_s {
    MDB_env *env;
    MDB_dbi ready, delay, meta;
    int have_dbs;      /* 0: no queue was ever opened in this directory */
    int lock_fd;       /* dort.lock, held by a writer; -1 otherwise */
    long holder_pid;   /* who holds dort.lock when opening for writing failed */
    uint64_t max_size; /* bound for map growth (storage.max_size), 0 none */
    char dir[PATH_MAX];
    char err[PATH_MAX + 256];
} qdb_t;

/* A queue's q_meta record. */
typedef struct qdb_meta_s {
    int exists; /* 0: the queue has never been opened by a runtime */
    uint32_t id;
    uint64_t sent, acked, retried, dead_lettered, dropped;
} qdb_meta_t;

/* One stored message, as the callback of qdb_scan sees it. `body` is
 * borrowed from LMDB and valid only during the callback. */
typedef struct qdb_msg_s {
    uint64_t seq;
    int64_t visible_ms; /* -1: in q_ready (deliverable now) */
    unsigned char id[16];
    uint32_t attempts; /* deliveries whose outcome was recorded */
    int64_t timestamp_ms;
    dort_queue_content_t content_type;
    const unsigned char *body;
    size_t body_len;
} qdb_msg_t;

/* Counts of a queue at `now_ms`: a message in q_delay whose time has come
 * counts as ready (only a consumer's dispatch moves it to q_ready). oldest_ms
 * is the earliest send timestamp, -1 when empty; next_visible_ms the
 * earliest visibility still ahead, -1 none. */
typedef struct qdb_counts_s {
    uint64_t ready, delayed;
    int64_t oldest_ms;
    int64_t next_visible_ms;
} qdb_counts_t;

/* Opens the environment in `dir` (borrowed). QDB_READ never creates a file;
 * QDB_WRITE takes dort.lock (writing this pid into it) before opening.
 * Returns 0, DORT_ENOENT (no data.mdb: nothing has run here), DORT_EBUSY
 * (writing while a runtime holds the lock: db->holder_pid says who),
 * DORT_ESCHEMA (a newer layout; writing only), DORT_EIO/DORT_ESYS. On
 * failure everything is released and db->err says why. */
int qdb_open(qdb_t *db, const char *dir, qdb_mode_t mode, uint64_t max_size);
void qdb_close(qdb_t *db);

/* A read transaction (map growth by a running server is adopted). End it
 * with mdb_txn_abort. */
int qdb_read_begin(qdb_t *db, MDB_txn **txn);

/* The q_meta record of `name`. */
int qdb_meta_get(qdb_t *db, MDB_txn *txn, const char *name, qdb_meta_t *out);

/* Calls cb(data, name) for each "q:<name>" in q_meta, in key order; `name`
 * is NUL-terminated and valid during the call. */
int qdb_meta_names(qdb_t *db, MDB_txn *txn, void (*cb)(void *data, const char *name), void *data);

int qdb_count(qdb_t *db, MDB_txn *txn, uint32_t qid, int64_t now_ms, qdb_counts_t *out);

/* Calls cb for the messages of `qid`: q_ready in sequence order, then q_delay
 * in visibility order, until cb returns non-zero. A record that does not
 * decode is skipped and counted in *corrupt (may be NULL). */
int qdb_scan(qdb_t *db, MDB_txn *txn, uint32_t qid, int (*cb)(void *data, const qdb_msg_t *m),
             void *data, uint64_t *corrupt);

/* Progress of a long change: `done` of `total` messages so far. */
typedef void (*qdb_progress_cb)(void *data, uint64_t done, uint64_t total);

/* Deletes up to `limit` (0: all) messages of queue `name` in transactions of
 * `chunk` messages, adding them to its `dropped` counter. QDB_WRITE only.
 * *done gets the number removed, also after a failure part way. */
int qdb_purge(qdb_t *db, const char *name, uint64_t limit, size_t chunk, qdb_progress_cb progress,
              void *data, uint64_t *done);

/* Moves up to `limit` (0: all) messages of queue `from` (a dead-letter
 * queue) to the end of q_ready of queue `to`, with new sequence numbers
 * after `to`'s highest, attempts reset to 0, and id, body, content type and
 * timestamp kept. Counts them as acked by `from` and sent to `to` (so each
 * queue keeps sent = acked + dead_lettered + dropped + depth). `to` gets a
 * queue id if it never had one. QDB_WRITE only; chunked like qdb_purge. */
int qdb_replay(qdb_t *db, const char *from, const char *to, uint64_t limit, size_t chunk,
               qdb_progress_cb progress, void *data, uint64_t *done);

#endif
