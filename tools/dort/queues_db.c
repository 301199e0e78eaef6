/* queues_db.c - the queue databases of a persist directory, read and
 * changed from outside the runtime. See queues_db.h for the layout. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dort/errors.h>

#include "queue.pb-c.h"
#include "queues_db.h"
#include "records.pb-c.h"

#define KEY_READY 12 /* <qid:4><seq:8> */
#define KEY_DELAY 20 /* <qid:4><visible:8><seq:8> */

/* ---- keys ---- */

static void be32_put(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static void be64_put(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (56 - 8 * i));
}

static uint64_t be64_get(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* 1 when `k` is a key of queue `qid` of length `len`. */
static int key_of(const MDB_val *k, const unsigned char prefix[4], size_t len)
{
    return k->mv_size == len && memcmp(k->mv_data, prefix, 4) == 0;
}

/* LMDB's mixed-sign codes stop here (STYLE.md, errors). */
static int lmdb_err(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return DORT_ENOENT;
    case MDB_MAP_FULL:
        return DORT_ESTORAGEFULL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
        return DORT_ECORRUPT;
    case MDB_VERSION_MISMATCH:
        return DORT_ESCHEMA;
    case ENOMEM:
        return DORT_ENOMEM;
    default:
        return DORT_EIO;
    }
}

/* ---- opening ---- */

static int file_exists(const char *dir, const char *name)
{
    char path[PATH_MAX + 32];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0;
}

/* The runtime's lock (runtime/store.c): held here for the whole change so
 * that no server starts on the directory meanwhile. */
static int take_lock(qdb_t *db)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/dort.lock", db->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(db->err, sizeof db->err, "cannot open %s: %s", path, strerror(errno));
        return DORT_ESYS;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        char buf[24];
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        db->holder_pid = strtol(buf, NULL, 10);
        if (!busy)
            snprintf(db->err, sizeof db->err, "cannot lock %s: %s", path, strerror(errno));
        close(fd);
        return busy ? DORT_EBUSY : DORT_ESYS;
    }
    char pid[24];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (pwrite(fd, pid, (size_t)len, 0) == len && ftruncate(fd, len) == 0) {
        /* Only names the holder in a refusal; the lock works without it. */
    }
    db->lock_fd = fd;
    return 0;
}

/* meta/"schema": a newer dort may have changed the queue layout. */
static int check_schema(qdb_t *db, MDB_txn *txn)
{
    MDB_dbi meta;
    MDB_val k = {6, (void *)"schema"}, v;
    int rc = mdb_dbi_open(txn, "meta", 0, &meta);
    if (rc == 0)
        rc = mdb_get(txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return lmdb_err(rc);
    Dort__SchemaRecord *r = dort__schema_record__unpack(NULL, v.mv_size, v.mv_data);
    if (r == NULL)
        return DORT_ECORRUPT;
    uint32_t version = r->version;
    dort__schema_record__free_unpacked(r, NULL);
    if (version <= QDB_SCHEMA_VERSION)
        return 0;
    snprintf(db->err, sizeof db->err, "%s has schema %u; this dort knows %u", db->dir, version,
             QDB_SCHEMA_VERSION);
    return DORT_ESCHEMA;
}

/* Named databases are opened in a read transaction that is committed so the
 * handles stay; without MDB_CREATE a store where no queue ever ran has none. */
static int open_dbs(qdb_t *db)
{
    MDB_txn *txn;
    int rc = qdb_read_begin(db, &txn);
    if (rc != 0)
        return rc;
    rc = check_schema(db, txn);
    if (rc == 0) {
        int l = mdb_dbi_open(txn, "q_ready", 0, &db->ready);
        if (l == 0)
            l = mdb_dbi_open(txn, "q_delay", 0, &db->delay);
        if (l == 0)
            l = mdb_dbi_open(txn, "q_meta", 0, &db->meta);
        db->have_dbs = l == 0;
        rc = l == MDB_NOTFOUND ? 0 : lmdb_err(l);
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return lmdb_err(mdb_txn_commit(txn));
}

static int open_env(qdb_t *db, qdb_mode_t mode)
{
    unsigned flags = 0;
    if (mode == QDB_READ) {
        flags = MDB_RDONLY;
        /* No lock.mdb: no process has the environment open, and creating
         * one is a change a reader must not make. */
        if (!file_exists(db->dir, "lock.mdb"))
            flags |= MDB_NOLOCK;
    }
    int rc = mdb_env_create(&db->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(db->env, 12); /* as the runtime: 4 + 8 extra */
    if (rc == 0)
        rc = mdb_env_open(db->env, db->dir, flags, 0644);
    if (rc != 0) {
        snprintf(db->err, sizeof db->err, "cannot open LMDB in %s: %s", db->dir, mdb_strerror(rc));
        return lmdb_err(rc);
    }
    return 0;
}

int qdb_open(qdb_t *db, const char *dir, qdb_mode_t mode, uint64_t max_size)
{
    memset(db, 0, sizeof *db);
    db->lock_fd = -1;
    db->max_size = max_size;
    snprintf(db->dir, sizeof db->dir, "%s", dir);
    if (!file_exists(dir, "data.mdb")) {
        snprintf(db->err, sizeof db->err,
                 "no data in %s: no dort dev/serve has run with this persist directory", dir);
        return DORT_ENOENT;
    }
    int rc = mode == QDB_WRITE ? take_lock(db) : 0;
    if (rc == 0)
        rc = open_env(db, mode);
    if (rc == 0)
        rc = open_dbs(db);
    if (rc != 0) {
        if (db->err[0] == '\0')
            snprintf(db->err, sizeof db->err, "%s: %s", dir, dort_strerror(rc));
        qdb_close(db);
    }
    return rc;
}

void qdb_close(qdb_t *db)
{
    if (db->env != NULL)
        mdb_env_close(db->env);
    db->env = NULL;
    /* After the environment, as the runtime does. */
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    db->lock_fd = -1;
}

int qdb_read_begin(qdb_t *db, MDB_txn **txn)
{
    int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_MAP_RESIZED) {
        /* A running server grew the map: adopt its size. */
        rc = mdb_env_set_mapsize(db->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, txn);
    }
    if (rc != 0)
        snprintf(db->err, sizeof db->err, "read transaction: %s", mdb_strerror(rc));
    return lmdb_err(rc);
}

/* ---- q_meta ---- */

static size_t meta_key(const char *name, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "q:%s", name);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

int qdb_meta_get(qdb_t *db, MDB_txn *txn, const char *name, qdb_meta_t *out)
{
    memset(out, 0, sizeof *out);
    if (!db->have_dbs)
        return 0;
    char kb[80];
    MDB_val k = {meta_key(name, kb, sizeof kb), kb}, v;
    int rc = mdb_get(txn, db->meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return lmdb_err(rc);
    Dort__QueueMeta *m = dort__queue_meta__unpack(NULL, v.mv_size, v.mv_data);
    if (m == NULL) {
        snprintf(db->err, sizeof db->err, "q_meta record of queue %s is corrupt", name);
        return DORT_ECORRUPT;
    }
    out->exists = 1;
    out->id = m->id;
    out->sent = m->sent;
    out->acked = m->acked;
    out->retried = m->retried;
    out->dead_lettered = m->dead_lettered;
    out->dropped = m->dropped;
    dort__queue_meta__free_unpacked(m, NULL);
    return 0;
}

static int meta_put(qdb_t *db, MDB_txn *txn, const char *name, const qdb_meta_t *q)
{
    Dort__QueueMeta m = DORT__QUEUE_META__INIT;
    m.id = q->id;
    m.sent = q->sent;
    m.acked = q->acked;
    m.retried = q->retried;
    m.dead_lettered = q->dead_lettered;
    m.dropped = q->dropped;
    uint8_t buf[96]; /* six varints: at most 1 + 5 + 5 * (1 + 10) bytes */
    char kb[80];
    MDB_val k = {meta_key(name, kb, sizeof kb), kb};
    MDB_val v = {dort__queue_meta__pack(&m, buf), buf};
    return mdb_put(txn, db->meta, &k, &v, 0);
}

int qdb_meta_names(qdb_t *db, MDB_txn *txn, void (*cb)(void *data, const char *name), void *data)
{
    MDB_cursor *c;
    if (!db->have_dbs)
        return 0;
    int rc = mdb_cursor_open(txn, db->meta, &c);
    if (rc != 0)
        return lmdb_err(rc);
    MDB_val k = {2, (void *)"q:"}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
         rc == 0 && k.mv_size >= 2 && memcmp(k.mv_data, "q:", 2) == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        char name[80];
        if (k.mv_size - 2 >= sizeof name)
            continue; /* not a name the runtime could have written */
        memcpy(name, (const char *)k.mv_data + 2, k.mv_size - 2);
        name[k.mv_size - 2] = '\0';
        cb(data, name);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : lmdb_err(rc);
}

/* ---- reading messages ---- */

static int decode(const MDB_val *k, const MDB_val *v, int delayed, qdb_msg_t *m,
                  Dort__QueueRecord **rec)
{
    Dort__QueueRecord *r = dort__queue_record__unpack(NULL, v->mv_size, v->mv_data);
    if (r == NULL || r->id.len != 16) {
        if (r != NULL)
            dort__queue_record__free_unpacked(r, NULL);
        return DORT_ECORRUPT;
    }
    const unsigned char *kp = k->mv_data;
    m->seq = be64_get(kp + (delayed ? 12 : 4));
    m->visible_ms = delayed ? (int64_t)be64_get(kp + 4) : -1;
    memcpy(m->id, r->id.data, 16);
    m->attempts = r->attempts;
    m->timestamp_ms = r->timestamp_ms;
    m->content_type = (dort_queue_content_t)r->content_type;
    m->body = r->body.data;
    m->body_len = r->body.len;
    *rec = r;
    return 0;
}

/* Walks one index's range of `qid`; returns 1 when cb asked to stop. */
static int scan_index(MDB_txn *txn, MDB_dbi dbi, uint32_t qid, int delayed,
                      int (*cb)(void *data, const qdb_msg_t *m), void *data, uint64_t *corrupt,
                      int *err)
{
    unsigned char prefix[4];
    be32_put(prefix, qid);
    MDB_val k = {4, prefix}, v;
    MDB_cursor *c;
    int stop = 0, rc = mdb_cursor_open(txn, dbi, &c);
    if (rc != 0) {
        *err = lmdb_err(rc);
        return 1;
    }
    size_t len = delayed ? KEY_DELAY : KEY_READY;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && key_of(&k, prefix, len);
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        qdb_msg_t m;
        Dort__QueueRecord *r;
        if (decode(&k, &v, delayed, &m, &r) != 0) {
            if (corrupt != NULL)
                (*corrupt)++;
            continue;
        }
        stop = cb(data, &m);
        dort__queue_record__free_unpacked(r, NULL);
        if (stop)
            break;
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        *err = lmdb_err(rc);
    return stop || *err != 0;
}

int qdb_scan(qdb_t *db, MDB_txn *txn, uint32_t qid, int (*cb)(void *data, const qdb_msg_t *m),
             void *data, uint64_t *corrupt)
{
    int err = 0;
    if (!db->have_dbs || qid == 0)
        return 0;
    if (!scan_index(txn, db->ready, qid, 0, cb, data, corrupt, &err))
        scan_index(txn, db->delay, qid, 1, cb, data, corrupt, &err);
    return err;
}

typedef struct count_ctx_s {
    qdb_counts_t *out;
    int64_t now;
} count_ctx_t;

static int count_one(void *data, const qdb_msg_t *m)
{
    count_ctx_t *c = data;
    qdb_counts_t *o = c->out;
    if (m->visible_ms > c->now) {
        o->delayed++;
        if (o->next_visible_ms < 0 || m->visible_ms < o->next_visible_ms)
            o->next_visible_ms = m->visible_ms;
    } else {
        o->ready++;
    }
    if (o->oldest_ms < 0 || m->timestamp_ms < o->oldest_ms)
        o->oldest_ms = m->timestamp_ms;
    return 0;
}

int qdb_count(qdb_t *db, MDB_txn *txn, uint32_t qid, int64_t now_ms, qdb_counts_t *out)
{
    memset(out, 0, sizeof *out);
    out->oldest_ms = -1;
    out->next_visible_ms = -1;
    count_ctx_t c = {out, now_ms};
    return qdb_scan(db, txn, qid, count_one, &c, NULL);
}

/* ---- changing: chunks of moves in write transactions ---- */

/* One run of purge or replay. Everything a chunk changes is read inside its
 * transaction, except next_seq, which only this process can move while it
 * holds dort.lock and which advances only after a commit. */
typedef struct move_s {
    const char *from, *to; /* to == NULL: purge */
    uint64_t next_seq;     /* of `to` */
    size_t want;           /* messages in this chunk */
    size_t n;              /* moved by this chunk's transaction */
} move_t;

/* The first message of `qid`, ready before delayed; its key is copied into
 * `kbuf` (the page it lives on changes once we write). */
static int first_of(qdb_t *db, MDB_txn *txn, uint32_t qid, unsigned char kbuf[KEY_DELAY],
                    MDB_val *k, MDB_val *v, MDB_dbi *dbi)
{
    unsigned char prefix[4];
    be32_put(prefix, qid);
    const MDB_dbi dbs[2] = {db->ready, db->delay};
    const size_t lens[2] = {KEY_READY, KEY_DELAY};
    for (int i = 0; i < 2; i++) {
        MDB_cursor *c;
        int rc = mdb_cursor_open(txn, dbs[i], &c);
        if (rc != 0)
            return rc;
        k->mv_size = 4;
        k->mv_data = prefix;
        rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
        int found = rc == 0 && key_of(k, prefix, lens[i]);
        if (found)
            memcpy(kbuf, k->mv_data, k->mv_size);
        mdb_cursor_close(c);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
        if (found) {
            k->mv_data = kbuf;
            *dbi = dbs[i];
            return 0;
        }
    }
    return MDB_NOTFOUND;
}

/* Puts the message in `v` at the end of q_ready of queue `to`, as new. */
static int put_replayed(qdb_t *db, MDB_txn *txn, const MDB_val *v, uint32_t to, uint64_t seq)
{
    Dort__QueueRecord *r = dort__queue_record__unpack(NULL, v->mv_size, v->mv_data);
    if (r == NULL)
        return MDB_CORRUPTED;
    r->attempts = 0; /* a fresh start: the consumer gets all its retries again */
    size_t len = dort__queue_record__get_packed_size(r);
    uint8_t *buf = malloc(len ? len : 1);
    int rc = ENOMEM;
    if (buf != NULL) {
        unsigned char key[KEY_READY];
        be32_put(key, to);
        be64_put(key + 4, seq);
        MDB_val nk = {sizeof key, key}, nv = {dort__queue_record__pack(r, buf), buf};
        rc = mdb_put(txn, db->ready, &nk, &nv, MDB_NOOVERWRITE);
        free(buf);
    }
    dort__queue_record__free_unpacked(r, NULL);
    return rc;
}

/* A queue that never ran gets the next id, as the runtime would give it. */
static int assign_id(qdb_t *db, MDB_txn *txn, qdb_meta_t *q)
{
    MDB_val k = {8, (void *)"next_qid"}, v;
    uint32_t max_id = 0;
    int rc = mdb_get(txn, db->meta, &k, &v);
    if (rc == 0 && v.mv_size == 4)
        memcpy(&max_id, v.mv_data, 4);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    q->id = ++max_id;
    q->exists = 1;
    v.mv_data = &max_id;
    v.mv_size = 4;
    return mdb_put(txn, db->meta, &k, &v, 0);
}

static int move_chunk(qdb_t *db, MDB_txn *txn, move_t *mv)
{
    qdb_meta_t src, dst;
    int rc = qdb_meta_get(db, txn, mv->from, &src) != 0 ? MDB_CORRUPTED : 0;
    if (rc == 0 && mv->to != NULL)
        rc = qdb_meta_get(db, txn, mv->to, &dst) != 0 ? MDB_CORRUPTED : 0;
    if (rc != 0 || !src.exists)
        return rc;
    if (mv->to != NULL && !dst.exists)
        rc = assign_id(db, txn, &dst);
    mv->n = 0;
    while (rc == 0 && mv->n < mv->want) {
        unsigned char kbuf[KEY_DELAY];
        MDB_val k, v;
        MDB_dbi dbi;
        rc = first_of(db, txn, src.id, kbuf, &k, &v, &dbi);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc == 0 && mv->to != NULL)
            rc = put_replayed(db, txn, &v, dst.id, mv->next_seq + mv->n);
        if (rc == 0)
            rc = mdb_del(txn, dbi, &k, NULL);
        if (rc == 0)
            mv->n++;
    }
    if (rc != 0 || mv->n == 0)
        return rc;
    if (mv->to == NULL) {
        src.dropped += mv->n;
    } else {
        src.acked += mv->n;
        dst.sent += mv->n;
        rc = meta_put(db, txn, mv->to, &dst);
    }
    return rc == 0 ? meta_put(db, txn, mv->from, &src) : rc;
}

/* Doubles the map after MDB_MAP_FULL, up to storage.max_size. */
static int grow(qdb_t *db)
{
    MDB_envinfo info;
    if (mdb_env_info(db->env, &info) != 0)
        return MDB_MAP_FULL;
    uint64_t next = (uint64_t)info.me_mapsize * 2;
    if (db->max_size != 0 && next > db->max_size)
        next = db->max_size;
    if (next <= info.me_mapsize)
        return MDB_MAP_FULL;
    return mdb_env_set_mapsize(db->env, (size_t)next);
}

/* One chunk in one durable (synced) write transaction, retried after growing
 * the map if it did not fit. */
static int run_chunk(qdb_t *db, move_t *mv)
{
    for (;;) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(db->env, NULL, 0, &txn);
        if (rc == 0) {
            rc = move_chunk(db, txn, mv);
            if (rc == 0)
                rc = mdb_txn_commit(txn);
            else
                mdb_txn_abort(txn);
        }
        if (rc != MDB_MAP_FULL || (rc = grow(db)) != 0) {
            if (rc != 0)
                snprintf(db->err, sizeof db->err, "write transaction in %s: %s", db->dir,
                         mdb_strerror(rc));
            return lmdb_err(rc);
        }
    }
}

/* How many messages queue `name` holds, and where `to` would continue. */
static int prepare(qdb_t *db, move_t *mv, uint64_t *total)
{
    MDB_txn *txn;
    qdb_meta_t src, dst;
    qdb_counts_t c;
    *total = 0;
    mv->next_seq = 1;
    int rc = qdb_read_begin(db, &txn);
    if (rc != 0)
        return rc;
    rc = qdb_meta_get(db, txn, mv->from, &src);
    if (rc == 0 && src.exists && (rc = qdb_count(db, txn, src.id, 0, &c)) == 0)
        *total = c.ready + c.delayed;
    if (rc == 0 && mv->to != NULL)
        rc = qdb_meta_get(db, txn, mv->to, &dst);
    if (rc == 0 && mv->to != NULL && dst.exists) {
        /* As the runtime's next_seq: past the highest in either index. */
        unsigned char prefix[4];
        be32_put(prefix, dst.id);
        MDB_cursor *cur;
        MDB_val k, v;
        const MDB_dbi dbs[2] = {db->ready, db->delay};
        for (int i = 0; rc == 0 && i < 2; i++) {
            if ((rc = lmdb_err(mdb_cursor_open(txn, dbs[i], &cur))) != 0)
                break;
            size_t len = i ? KEY_DELAY : KEY_READY;
            k.mv_size = 4;
            k.mv_data = prefix;
            int l = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            for (; l == 0 && key_of(&k, prefix, len); l = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                uint64_t seq = be64_get((const unsigned char *)k.mv_data + (i ? 12 : 4));
                if (seq + 1 > mv->next_seq)
                    mv->next_seq = seq + 1;
            }
            mdb_cursor_close(cur);
        }
    }
    mdb_txn_abort(txn);
    return rc;
}

static int run_moves(qdb_t *db, move_t *mv, uint64_t limit, size_t chunk, qdb_progress_cb progress,
                     void *data, uint64_t *done)
{
    uint64_t total;
    *done = 0;
    if (db->lock_fd < 0 || chunk == 0)
        return DORT_EINVAL;
    if (!db->have_dbs)
        return 0;
    int rc = prepare(db, mv, &total);
    if (limit != 0 && total > limit)
        total = limit;
    while (rc == 0 && *done < total) {
        mv->want = total - *done < chunk ? (size_t)(total - *done) : chunk;
        rc = run_chunk(db, mv);
        if (rc != 0 || mv->n == 0)
            break;
        *done += mv->n;
        mv->next_seq += mv->n;
        if (progress != NULL)
            progress(data, *done, total);
    }
    return rc;
}

int qdb_purge(qdb_t *db, const char *name, uint64_t limit, size_t chunk, qdb_progress_cb progress,
              void *data, uint64_t *done)
{
    move_t mv = {.from = name};
    return run_moves(db, &mv, limit, chunk, progress, data, done);
}

int qdb_replay(qdb_t *db, const char *from, const char *to, uint64_t limit, size_t chunk,
               qdb_progress_cb progress, void *data, uint64_t *done)
{
    if (strcmp(from, to) == 0)
        return DORT_EINVAL;
    move_t mv = {.from = from, .to = to};
    return run_moves(db, &mv, limit, chunk, progress, data, done);
}
