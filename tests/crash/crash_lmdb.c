/* crash_lmdb.c - proves that the LMDB file a killed writer left behind opens
 * clean: read-only, with LMDB itself and no dort code in the way, every
 * database is walked with a cursor, every byte of every key and value is
 * read (so overflow pages are visited too), keys must come in strictly
 * increasing order and the count must match LMDB's own statistics. */
#include "crash.h"

#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_DBS 16

/* The databases every started dort environment has (store_internal.h). */
static const char *const required[] = {"kv", "alarms", "actor_alarm", "meta"};

typedef struct walk_s {
    size_t entries;
    size_t bytes;
    uint64_t sum; /* keeps the reads from being optimised away */
} walk_t;

static int walk_db(MDB_txn *txn, MDB_dbi dbi, const char *name, walk_t *w)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v, prev = {0, NULL};
    MDB_stat st;
    memset(w, 0, sizeof *w);
    int rc = mdb_cursor_open(txn, dbi, &cur);
    while (rc == 0 && (rc = mdb_cursor_get(cur, &k, &v, w->entries ? MDB_NEXT : MDB_FIRST)) == 0) {
        if (w->entries > 0 && mdb_cmp(txn, dbi, &prev, &k) >= 0) {
            fprintf(stderr, "lmdb: %s: entry %zu is not above its predecessor\n", name, w->entries);
            mdb_cursor_close(cur);
            return -1;
        }
        w->sum += crash_hash64(k.mv_data, k.mv_size) ^ crash_hash64(v.mv_data, v.mv_size);
        w->bytes += k.mv_size + v.mv_size;
        w->entries++;
        prev = k; /* valid while the read transaction lives */
    }
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        fprintf(stderr, "lmdb: %s: cursor walk failed: %s\n", name, mdb_strerror(rc));
        return -1;
    }
    if ((rc = mdb_stat(txn, dbi, &st)) != 0 || st.ms_entries != w->entries) {
        fprintf(stderr, "lmdb: %s: walked %zu entries, mdb_stat says %zu (%s)\n", name, w->entries,
                rc ? (size_t)0 : st.ms_entries, mdb_strerror(rc));
        return -1;
    }
    return 0;
}

/* Reads the names of the named databases from the main database. */
static int list_names(MDB_txn *txn, char names[MAX_DBS][64], size_t *n)
{
    MDB_dbi main_dbi;
    walk_t w;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
    if (rc != 0) {
        fprintf(stderr, "lmdb: cannot open the main database: %s\n", mdb_strerror(rc));
        return -1;
    }
    if (walk_db(txn, main_dbi, "(main)", &w) != 0)
        return -1;
    MDB_cursor *cur;
    MDB_val k, v;
    *n = 0;
    if ((rc = mdb_cursor_open(txn, main_dbi, &cur)) != 0)
        return -1;
    while ((rc = mdb_cursor_get(cur, &k, &v, *n ? MDB_NEXT : MDB_FIRST)) == 0) {
        if (*n == MAX_DBS || k.mv_size == 0 || k.mv_size >= sizeof names[0] ||
            memchr(k.mv_data, '\0', k.mv_size) != NULL) {
            fprintf(stderr, "lmdb: unexpected entry in the main database\n");
            mdb_cursor_close(cur);
            return -1;
        }
        memcpy(names[*n], k.mv_data, k.mv_size);
        names[(*n)++][k.mv_size] = '\0';
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : -1;
}

static int walk_all(MDB_env *env, const char *path, int need_dbs)
{
    char names[MAX_DBS][64];
    walk_t w[MAX_DBS];
    size_t n = 0;
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        fprintf(stderr, "lmdb: read transaction on %s: %s\n", path, mdb_strerror(rc));
        return -1;
    }
    int bad = list_names(txn, names, &n);
    for (size_t i = 0; !bad && i < n; i++) {
        MDB_dbi dbi;
        rc = mdb_dbi_open(txn, names[i], 0, &dbi);
        if (rc != 0)
            fprintf(stderr, "lmdb: cannot open database %s: %s\n", names[i], mdb_strerror(rc));
        bad = rc != 0 || walk_db(txn, dbi, names[i], &w[i]) != 0;
    }
    size_t found = 0;
    for (size_t r = 0; r < sizeof required / sizeof required[0]; r++)
        for (size_t i = 0; i < n; i++)
            found += strcmp(names[i], required[r]) == 0;
    if (!bad && found != sizeof required / sizeof required[0] && (need_dbs || n != 0)) {
        fprintf(stderr, "lmdb: %s lacks some of kv, alarms, actor_alarm, meta\n", path);
        bad = 1;
    }
    MDB_envinfo info;
    MDB_stat est;
    if (!bad && mdb_env_info(env, &info) == 0 && mdb_env_stat(env, &est) == 0) {
        printf("lmdb: %s opened read-only, last page %zu of %u bytes, %zu databases walked:", path,
               info.me_last_pgno, est.ms_psize, n);
        for (size_t i = 0; i < n; i++)
            printf(" %s=%zu", names[i], w[i].entries);
        printf("\n");
    }
    mdb_txn_abort(txn);
    return bad ? -1 : 0;
}

int crash_lmdb_walk(const char *dir, int need_dbs)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    /* A writer killed before dort_rt_start created the file leaves nothing
     * (or an empty file): fine as long as nothing was acknowledged. */
    if (stat(path, &st) != 0 || st.st_size == 0) {
        printf("lmdb: %s has no data yet\n", path);
        if (need_dbs)
            fprintf(stderr, "lmdb: %s missing although writes were acknowledged\n", path);
        return need_dbs ? -1 : 0;
    }
    MDB_env *env = NULL;
    int rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(env, MAX_DBS);
    if (rc == 0)
        rc = mdb_env_open(env, dir, MDB_RDONLY, 0644);
    if (rc != 0) {
        fprintf(stderr, "lmdb: cannot open %s read-only: %s\n", path, mdb_strerror(rc));
        mdb_env_close(env);
        return -1;
    }
    rc = walk_all(env, path, need_dbs);
    /* Closed before the runtime opens it: one process must not have the
     * same environment open twice. */
    mdb_env_close(env);
    return rc;
}
