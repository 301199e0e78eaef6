/* crash_check.h - check mode's internals: the expectations read from stdin
 * (crash_expect.c) and the parsed /list answer of one actor
 * (crash_listing.c), shared with the verdicts in crash_check.c. */
#ifndef CRASH_CHECK_H
#define CRASH_CHECK_H

#include "crash.h"

/* The folded expectation for one key: its last line wins. Strings point
 * into the checker's input buffer (not NUL-terminated). */
typedef struct ckey_s {
    uint64_t hash;
    uint64_t ctr;    /* the request counter of the key's token */
    const char *key; /* the full key token, +<len> included */
    const char *val; /* the value token of a P line; NULL after D */
    size_t key_len, base_len, val_len;
    uint32_t actor;
    char state;     /* 'P' or 'D' */
    uint8_t got;    /* /get: 0 absent, 1 the expected value, 2 other bytes */
    uint8_t marker; /* /get: the key's delete marker is present */
} ckey_t;

typedef struct cactor_s {
    uint64_t hash;
    char name[48];
    int scratch;
    uint64_t clear_acked; /* highest acknowledged delete_all (C line) */
    uint64_t clear_db;    /* #clear as /get found it */
    uint32_t *keys;       /* indices into checker_t.keys, in first-seen order */
    uint32_t nkeys, cap;
} cactor_t;

/* Open addressing: 0 is empty, else index + 1. */
typedef struct imap_s {
    uint32_t *slots;
    size_t mask;
} imap_t;

typedef struct checker_s {
    char *input;
    size_t input_len;
    cactor_t *actors;
    uint32_t nactors, actors_cap;
    ckey_t *keys;
    uint32_t nkeys, keys_cap;
    uint32_t nclears;
    imap_t actor_map, key_map;
    char *xbuf; /* CRASH_EXPAND_MAX bytes: expansions to compare against */
    dort_rt_t *rt;
    dort_ns_t *ns;
    uint64_t missing, wrong;
    uint64_t listed, extra, unacked_deletes, unacked_clears;
    unsigned reported;
} checker_t;

/* Zeroes `c`, allocates its buffers and adds the regular actors a000..a199
 * (they are listed even when no line names them). Returns 0 or -1. */
int checker_init(checker_t *c);
void checker_release(checker_t *c);

/* Reads every expectation line from `in`. Returns 0, or -1 with the
 * offending line on stderr. */
int checker_read(checker_t *c, FILE *in);

/* The expected key (actor, base token), or UINT32_MAX. */
uint32_t checker_find_key(const checker_t *c, uint32_t actor, const char *base, size_t base_len);

/* What /list returned for one actor, beyond the per-entry checks. */
typedef struct listing_s {
    dort_slice_t *set; /* base tokens of present data keys */
    size_t set_mask, set_count;
    uint64_t *ctrs; /* scratch actors: counters of present data keys */
    size_t nctrs, ctrs_cap;
    uint64_t clear; /* #clear, 0 when absent */
} listing_t;

/* Parses and checks one /list answer of actor `idx`, counting problems in
 * `c`. Returns 0, or -1 when the answer itself is malformed. */
int listing_parse(checker_t *c, cactor_t *a, uint32_t idx, dort_slice_t body, listing_t *ls);
int listing_has(const listing_t *ls, const char *base, size_t base_len);
void listing_release(listing_t *ls);

/* Counts a problem and reports the first few on stderr (crash_check.c). */
void checker_problem(checker_t *c, uint64_t *counter, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
