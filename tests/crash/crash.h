/* crash.h - shared pieces of the SIGKILL crash test (crash_writer): the token
 * format that names every key and value, the actor class that does the
 * storage work, and a growable buffer.
 *
 * Keys and values are never printed in full. A *token* names them, and the
 * stored bytes are the token's expansion, so a line of the writer's output
 * describes a write exactly and a checker can rebuild the bytes:
 *
 *   k<run>.<ctr>[+<len>]             a key written by a single put
 *   b<run>.<ctr>.<i>.<n>[+<len>]     key i (0-based) of a batch put of n keys
 *   s<run>.<ctr>[+<len>]             a key in a scratch actor (one per run)
 *   v<run>.<ctr>.<i>+<len>           the value of the key with the same run, ctr, i
 *   ~<key token without +len>        delete marker: written in the same turn
 *                                    that deletes the key; value = the delete's ctr
 *   #clear                           in a scratch actor: written in the same turn
 *                                    as delete_all; value = that delete_all's ctr
 *
 * <run> is the writer's seed in lowercase hex (unique per write run), <ctr>
 * a decimal counter that grows with every request a run sends, so tokens are
 * unique across all runs. The expansion of a token is the token itself, then,
 * when +<len> asks for more bytes than the token has, a '/' and filler
 * derived from the token up to <len> bytes in all.
 *
 * Everything here runs on one thread (the runtime's loop).
 */
#ifndef CRASH_H
#define CRASH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <dort/dort.h>

/* The class name and namespace binding the writer and checker use. */
#define CRASH_CLASS "CrashKV"
#define CRASH_BINDING "CRASH"
/* Regular actors are named a000..a199 in every run. */
#define CRASH_ACTORS 200
/* Scratch actors s<run>.0 .. s<run>.7 belong to one run each. */
#define CRASH_SCRATCH 8
/* Largest batch put the writer sends. */
#define CRASH_BATCH_MAX 10
/* Bytes of a value's head that /list returns (enough for any value token). */
#define CRASH_LIST_HEAD 64
/* Expansions longer than this are refused while parsing. */
#define CRASH_EXPAND_MAX (DORT_STORAGE_MAX_VALUE)

/* A parsed token. `run` points into the parsed text. */
typedef struct crash_tok_s {
    char kind; /* 'k', 'b', 's', 'v', '~', '#' */
    const char *run;
    size_t run_len;
    uint64_t ctr;
    uint32_t i, n;   /* batch index and size ('b', 'v'); 0 otherwise */
    size_t base_len; /* length without the +<len> suffix */
    size_t tok_len;  /* length of the whole token */
    size_t len;      /* length of the expansion */
} crash_tok_t;

/* Parses the token s[0..n). Returns 0, or -1 when it is not one of the forms
 * above. Markers ('~', '#') are parsed only as far as their kind: their
 * expansion is the token itself. */
int crash_tok_parse(const char *s, size_t n, crash_tok_t *t);

/* Length of the expansion of token s[0..n): max(n, +<len>). Returns 0 for a
 * token that does not parse. */
size_t crash_expand_len(const char *s, size_t n);

/* Writes the expansion of token s[0..n) to `out` (crash_expand_len bytes). */
void crash_expand(const char *s, size_t n, char *out);

/* Length of the token at the head of expanded bytes: up to the first '/'. */
size_t crash_token_head(const char *bytes, size_t len);

/* A 64-bit FNV-style checksum (eight bytes per step): what /list returns for
 * each value and what seeds the filler of an expansion. */
uint64_t crash_hash64(const void *p, size_t n);

/* A growable byte buffer (plain malloc; ptr is NUL-terminated when len > 0). */
typedef struct crash_buf_s {
    char *ptr;
    size_t len, cap;
} crash_buf_t;

/* Appends bytes. Returns 0 or -1 (out of memory, buffer unchanged). */
int crash_buf_add(crash_buf_t *b, const void *p, size_t n);
/* Appends formatted text. Returns 0 or -1. */
int crash_buf_printf(crash_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void crash_buf_release(crash_buf_t *b);

/* Splits the next whitespace-separated word off *rest. Returns 0 with *word
 * set, or -1 when none is left. */
int crash_next_word(dort_slice_t *rest, dort_slice_t *word);

/* The actor class. Its fetch handler understands (body = words):
 *
 *   POST /put    K V           put exp(K) = exp(V)
 *   POST /batch  K V K V ...   one put_batch of 1..CRASH_BATCH_MAX pairs
 *   POST /del    K C           delete exp(K), put "~"+base(K) = C (one turn)
 *   POST /clear  C             delete_all, put "#clear" = C (one turn)
 *   POST /get    T T ...       for each token, in order: "-\n" when exp(T) is
 *                              absent, "=<len>\n<value bytes>\n" when present
 *   GET  /list                 every entry in key order:
 *                              "<klen> <vlen> <hash64 hex> <hlen>\n<key><value head>\n"
 *                              with hlen = min(vlen, CRASH_LIST_HEAD)
 *
 * Writes answer "ok"; malformed requests 400; a storage error fails the turn
 * (the caller sees DORT_EHANDLER and nothing of the turn is applied). */
extern const dort_class_t crash_class;

/* Check mode (crash_check.c): walks the LMDB file in `dir` read-only, then
 * starts a runtime on it and verifies through the actors every expectation
 * line read from `in`. Prints a summary; returns 0 when nothing
 * acknowledged is lost or wrong, 1 when something is, 2 on bad input or a
 * runtime that cannot start. */
int crash_check(const char *dir, FILE *in);

/* Opens DIR/data.mdb read-only with LMDB alone and walks every database
 * (crash_lmdb.c). Prints one line about it; returns 0 when it is clean, -1
 * (with the reason on stderr) when not. `need_dbs`: dort's databases must
 * exist (something was acknowledged). */
int crash_lmdb_walk(const char *dir, int need_dbs);

#endif
