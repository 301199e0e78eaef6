/* store.c - opening the LMDB environment and the loop's read snapshot. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dort/errors.h>
#include <dort/version.h>

#include "alloc_internal.h"
#include "records.pb-c.h"
#include "store_internal.h"

int dort__lmdb_err(int rc)
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
    case EINVAL:
        return DORT_EINVAL;
    default:
        return DORT_EIO;
    }
}

int dort__store_want_db(dort__store_t *st, const char *name)
{
    if (st->nextra == DORT__STORE_MAX_EXTRA_DBS)
        return DORT_ELIMIT;
    st->extra_names[st->nextra] = name;
    return (int)st->nextra++;
}

static int make_dir(dort__store_t *st, const char *dir)
{
    if (dir == NULL) {
        const char *tmp = getenv("TMPDIR");
        char tmpl[4096];
        snprintf(tmpl, sizeof tmpl, "%s/dort-mem-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (mkdtemp(tmpl) == NULL)
            return DORT_ESYS;
        st->dir = dort__strdup(tmpl);
        st->remove_dir = 1;
        return st->dir ? 0 : DORT_ENOMEM;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return DORT_ESYS;
    st->dir = dort__strdup(dir);
    return st->dir ? 0 : DORT_ENOMEM;
}

/* One runtime per data directory. LMDB itself would let two processes write
 * one environment, but a runtime keeps queue sequence numbers, leases and
 * the alarm schedule in memory, so a second one would redeliver and
 * overwrite the first one's work. flock() dies with its process, so a crash
 * leaves no stale lock; the pid written inside only names the holder. */
static int lock_dir(dort__store_t *st)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/dort.lock", st->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        DORT_LOG(st->log, DORT_LOG_ERROR, "cannot open %s: %s", path, strerror(errno));
        return DORT_ESYS;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        char buf[24];
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        if (busy)
            DORT_LOG(st->log, DORT_LOG_ERROR,
                     "data directory is in use by another dort process (pid %ld): %s",
                     strtol(buf, NULL, 10), st->dir);
        else
            DORT_LOG(st->log, DORT_LOG_ERROR, "cannot lock %s: %s", path, strerror(errno));
        close(fd);
        return busy ? DORT_EBUSY : DORT_ESYS;
    }
    char pid[24];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    /* Written over the old pid, then cut: a reader never sees an empty file. */
    if (pwrite(fd, pid, (size_t)len, 0) != len || ftruncate(fd, len) != 0)
        DORT_LOG(st->log, DORT_LOG_WARN, "cannot write the pid into %s: %s", path, strerror(errno));
    st->lock_fd = fd;
    st->lock_held = 1;
    return 0;
}

/* meta/"schema": refuse data written by a newer dort, stamp new data. */
static int check_schema(dort__store_t *st, MDB_txn *txn)
{
    MDB_val k = {6, (void *)"schema"}, v;
    int rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        Dort__SchemaRecord rec = DORT__SCHEMA_RECORD__INIT;
        uint8_t buf[128];
        rec.version = DORT__SCHEMA_VERSION;
        rec.written_by = (char *)DORT_VERSION_STRING;
        v.mv_size = dort__schema_record__pack(&rec, buf);
        v.mv_data = buf;
        return dort__lmdb_err(mdb_put(txn, st->meta, &k, &v, 0));
    }
    if (rc != 0)
        return dort__lmdb_err(rc);
    Dort__SchemaRecord *rec = dort__schema_record__unpack(NULL, v.mv_size, v.mv_data);
    if (rec == NULL)
        return DORT_ECORRUPT;
    uint32_t version = rec->version;
    dort__schema_record__free_unpacked(rec, NULL);
    if (version > DORT__SCHEMA_VERSION) {
        DORT_LOG(st->log, DORT_LOG_ERROR, "data directory %s has schema %u; this dort reads <= %u",
                 st->dir, version, DORT__SCHEMA_VERSION);
        return DORT_ESCHEMA;
    }
    return 0;
}

static int open_dbs(dort__store_t *st)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc != 0)
        return dort__lmdb_err(rc);
    rc = mdb_dbi_open(txn, "kv", MDB_CREATE, &st->kv);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "alarms", MDB_CREATE, &st->alarms);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "actor_alarm", MDB_CREATE, &st->actor_alarm);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &st->meta);
    for (unsigned i = 0; rc == 0 && i < st->nextra; i++)
        rc = mdb_dbi_open(txn, st->extra_names[i], MDB_CREATE, &st->extra[i]);
    rc = dort__lmdb_err(rc);
    if (rc == 0)
        rc = check_schema(st, txn);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return dort__lmdb_err(mdb_txn_commit(txn));
}

int dort__store_open(dort__store_t *st, const char *dir, dort_durability_t durability,
                     uint64_t map_size, uint64_t max_size, const dort__logger_t *log)
{
    st->durability = durability;
    st->log = log;
    st->max_size = max_size;
    st->map_size = (max_size && max_size < map_size) ? max_size : map_size;
    int rc = make_dir(st, durability == DORT_DURABILITY_MEMORY ? NULL : dir);
    if (rc != 0) {
        DORT_LOG(log, DORT_LOG_ERROR, "cannot create data directory %s: %s", dir ? dir : "(temp)",
                 strerror(errno));
        return rc;
    }
    if (!st->remove_dir && (rc = lock_dir(st)) != 0) {
        dort__store_close(st);
        return rc;
    }
    /* NOTLS: the read snapshot belongs to the loop, not to an OS thread's
     * slot, so a host may drive the loop from whichever thread it likes. */
    unsigned flags = MDB_NOTLS;
    if (durability != DORT_DURABILITY_FULL)
        flags |= MDB_NOSYNC;
    rc = mdb_env_create(&st->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(st->env, 4 + DORT__STORE_MAX_EXTRA_DBS);
    if (rc == 0)
        rc = mdb_env_set_mapsize(st->env, (size_t)st->map_size);
    if (rc == 0)
        rc = mdb_env_open(st->env, st->dir, flags, 0644);
    if (rc != 0) {
        DORT_LOG(log, DORT_LOG_ERROR, "cannot open LMDB in %s: %s", st->dir, mdb_strerror(rc));
        rc = dort__lmdb_err(rc);
        dort__store_close(st);
        return rc;
    }
    /* An existing environment may already be larger than asked for. */
    MDB_envinfo info;
    if (mdb_env_info(st->env, &info) == 0 && info.me_mapsize > st->map_size)
        st->map_size = info.me_mapsize;
    rc = open_dbs(st);
    if (rc != 0)
        dort__store_close(st);
    return rc;
}

static void remove_temp_dir(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

void dort__store_close(dort__store_t *st)
{
    if (st->rtxn != NULL) {
        mdb_txn_abort(st->rtxn);
        st->rtxn = NULL;
        st->rtxn_live = 0;
    }
    if (st->env != NULL) {
        mdb_env_close(st->env);
        st->env = NULL;
    }
    /* After the environment: nobody may open it while it is still ours. The
     * file stays; removing it would race with a process opening it. */
    if (st->lock_held) {
        close(st->lock_fd);
        st->lock_held = 0;
    }
    if (st->dir != NULL && st->remove_dir)
        remove_temp_dir(st->dir);
    dort__free(st->dir);
    st->dir = NULL;
}

int dort__store_rtxn(dort__store_t *st, MDB_txn **out)
{
    if (st->rtxn_live) {
        *out = st->rtxn;
        return 0;
    }
    int rc;
    if (st->rtxn == NULL)
        rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &st->rtxn);
    else
        rc = mdb_txn_renew(st->rtxn);
    if (rc == MDB_MAP_RESIZED) {
        /* Another process grew the map: adopt its size, then retry. */
        if (st->rtxn != NULL) {
            mdb_txn_abort(st->rtxn);
            st->rtxn = NULL;
        }
        rc = mdb_env_set_mapsize(st->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &st->rtxn);
    }
    if (rc != 0) {
        DORT_LOG(st->log, DORT_LOG_ERROR, "read transaction: %s", mdb_strerror(rc));
        return dort__lmdb_err(rc);
    }
    st->rtxn_live = 1;
    *out = st->rtxn;
    return 0;
}

void dort__store_rtxn_reset(dort__store_t *st)
{
    if (st->rtxn_live) {
        mdb_txn_reset(st->rtxn);
        st->rtxn_live = 0;
    }
}

int dort__store_grow(dort__store_t *st)
{
    uint64_t next = st->map_size * 2;
    if (st->max_size != 0 && next > st->max_size)
        next = st->max_size;
    if (next <= st->map_size)
        return DORT_ESTORAGEFULL;
    dort__store_rtxn_reset(st);
    int rc = mdb_env_set_mapsize(st->env, (size_t)next);
    if (rc != 0)
        return dort__lmdb_err(rc);
    DORT_LOG(st->log, DORT_LOG_INFO, "storage map grown from %llu to %llu bytes",
             (unsigned long long)st->map_size, (unsigned long long)next);
    st->map_size = next;
    return 0;
}

int dort__store_sync(dort__store_t *st)
{
    if (st->env == NULL || st->durability == DORT_DURABILITY_MEMORY)
        return 0;
    return dort__lmdb_err(mdb_env_sync(st->env, 1));
}
