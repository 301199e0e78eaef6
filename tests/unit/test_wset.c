/* test_wset.c - the write set (runtime/wset.c): the one structure behind every
 * layer of the read overlay, so lookups, tombstones, clear and merge must be
 * exact, and insertion order must hold because the writer applies entries in
 * that order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dort/errors.h>

#include "hash_internal.h"
#include "wset_internal.h"

static const dort__wentry_t *find(const dort__wset_t *ws, const void *key, size_t len)
{
    return dort__wset_lookup(ws, key, len, dort__hash_bytes(key, len));
}

static const dort__wentry_t *finds(const dort__wset_t *ws, const char *key)
{
    return find(ws, key, strlen(key));
}

static void put(dort__wset_t *ws, const char *key, const char *val)
{
    assert_int_equal(dort__wset_write(ws, key, strlen(key), val, (uint32_t)strlen(val)), 0);
}

static void del(dort__wset_t *ws, const char *key)
{
    assert_int_equal(dort__wset_write(ws, key, strlen(key), NULL, DORT__TOMBSTONE), 0);
}

/* Asserts that `key` maps to the value `val` (NULL: a tombstone). */
static void expect(const dort__wset_t *ws, const char *key, const char *val)
{
    const dort__wentry_t *e = finds(ws, key);
    assert_non_null(e);
    assert_int_equal(e->key_len, strlen(key));
    assert_memory_equal(dort__wentry_key(e), key, e->key_len);
    if (val == NULL) {
        assert_int_equal(e->val_len, DORT__TOMBSTONE);
        return;
    }
    assert_int_equal(e->val_len, strlen(val));
    if (e->val_len)
        assert_memory_equal(dort__wentry_val(e), val, e->val_len);
}

/* Asserts the entries, in insertion order, are exactly `keys`. */
static void expect_order(const dort__wset_t *ws, const char *const *keys, uint32_t n)
{
    assert_int_equal(ws->count, n);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(ws->entries[i]->key_len, strlen(keys[i]));
        assert_memory_equal(dort__wentry_key(ws->entries[i]), keys[i], strlen(keys[i]));
    }
}

static void write_lookup_overwrite_tombstone(void **state)
{
    (void)state;
    dort__wset_t ws;
    dort__wset_init(&ws);
    assert_false(dort__wset_dirty(&ws));
    assert_null(finds(&ws, "a")); /* lookup on a set that never had an index */

    put(&ws, "a", "1");
    put(&ws, "ab", "2"); /* "a" is a prefix of "ab": distinct keys */
    assert_int_equal(ws.count, 2);
    assert_true(dort__wset_dirty(&ws));
    expect(&ws, "a", "1");
    expect(&ws, "ab", "2");
    assert_null(finds(&ws, "abc"));
    assert_null(finds(&ws, "b"));

    /* Overwrite replaces in place: one entry, new value. */
    put(&ws, "a", "one");
    assert_int_equal(ws.count, 2);
    expect(&ws, "a", "one");

    /* A tombstone is an entry too (it hides older layers), not a removal. */
    del(&ws, "ab");
    assert_int_equal(ws.count, 2);
    expect(&ws, "ab", NULL);

    /* An empty value is not a tombstone. */
    assert_int_equal(dort__wset_write(&ws, "e", 1, NULL, 0), 0);
    expect(&ws, "e", "");

    /* Binary keys: NUL and 0xff bytes are part of the key. */
    static const unsigned char k0[] = {0x00}, k00[] = {0x00, 0x00}, kff[] = {0xff, 0x00};
    assert_int_equal(dort__wset_write(&ws, k0, 1, "z", 1), 0);
    assert_int_equal(dort__wset_write(&ws, k00, 2, "zz", 2), 0);
    assert_int_equal(dort__wset_write(&ws, kff, 2, "f", 1), 0);
    assert_int_equal(ws.count, 6);
    const dort__wentry_t *e = find(&ws, k00, 2);
    assert_non_null(e);
    assert_int_equal(e->val_len, 2);
    assert_memory_equal(dort__wentry_val(e), "zz", 2);
    e = find(&ws, k0, 1);
    assert_non_null(e);
    assert_memory_equal(dort__wentry_val(e), "z", 1);
    /* A tombstone can be overwritten by a put again. */
    put(&ws, "ab", "back");
    expect(&ws, "ab", "back");
    assert_int_equal(ws.count, 6);
    dort__wset_release(&ws);
    assert_int_equal(ws.count, 0);
    assert_null(ws.entries);
}

static void clear_and_reset(void **state)
{
    (void)state;
    dort__wset_t *ws = dort__wset_new();
    assert_non_null(ws);
    put(ws, "a", "1");
    put(ws, "b", "2");
    dort__wset_clear(ws);
    assert_int_equal(ws->count, 0);
    assert_int_equal(ws->cleared, 1);
    /* A cleared set with no entries still changes storage. */
    assert_true(dort__wset_dirty(ws));
    assert_null(finds(ws, "a"));
    assert_null(finds(ws, "b"));

    /* Writes after the clear are kept alongside the flag. */
    put(ws, "c", "3");
    assert_int_equal(ws->count, 1);
    assert_int_equal(ws->cleared, 1);
    expect(ws, "c", "3");
    assert_null(finds(ws, "a"));

    /* reset forgets entries, the flag, the alarm and raw records. */
    ws->alarm_op = DORT__ALARM_SET;
    assert_int_equal(dort__wset_add_raw(ws, 1, 0, "q", 1, "r", 1), 0);
    dort__wset_reset(ws);
    assert_int_equal(ws->count, 0);
    assert_int_equal(ws->cleared, 0);
    assert_int_equal(ws->alarm_op, DORT__ALARM_NONE);
    assert_null(ws->raw_head);
    assert_false(dort__wset_dirty(ws));
    assert_null(finds(ws, "c"));

    /* And the set is fully usable after reset. */
    put(ws, "c", "33");
    put(ws, "d", "4");
    expect(ws, "c", "33");
    expect(ws, "d", "4");
    assert_int_equal(ws->count, 2);
    dort__wset_free(ws);
    dort__wset_free(NULL); /* accepted */
}

static void merge_src_wins(void **state)
{
    (void)state;
    dort__wset_t dst, src;
    dort__wset_init(&dst);
    dort__wset_init(&src);
    put(&dst, "a", "1");
    put(&dst, "b", "2");
    put(&dst, "c", "3");
    del(&dst, "x");
    put(&src, "d", "4");
    put(&src, "b", "20");
    del(&src, "c");
    put(&src, "x", "back");
    assert_int_equal(dort__wset_merge(&dst, &src), 0);

    expect(&dst, "a", "1");
    expect(&dst, "b", "20");
    expect(&dst, "c", NULL);
    expect(&dst, "d", "4");
    expect(&dst, "x", "back");
    /* Keys already in dst keep their position; new keys are appended. */
    static const char *const order[] = {"a", "b", "c", "x", "d"};
    expect_order(&dst, order, 5);
    assert_int_equal(dst.cleared, 0);

    /* src is empty and reusable. */
    assert_int_equal(src.count, 0);
    assert_false(dort__wset_dirty(&src));
    assert_null(finds(&src, "d"));
    assert_null(finds(&src, "b"));
    put(&src, "b", "200");
    expect(&src, "b", "200");
    assert_int_equal(src.count, 1);
    /* The entries moved to dst are not shared with src any more. */
    expect(&dst, "b", "20");

    /* Merging an empty set changes nothing. */
    dort__wset_t empty;
    dort__wset_init(&empty);
    assert_int_equal(dort__wset_merge(&dst, &empty), 0);
    expect_order(&dst, order, 5);
    /* Merging into an empty set that never had arrays. */
    dort__wset_t fresh;
    dort__wset_init(&fresh);
    assert_int_equal(dort__wset_merge(&fresh, &src), 0);
    expect(&fresh, "b", "200");
    assert_int_equal(fresh.count, 1);

    dort__wset_release(&fresh);
    dort__wset_release(&empty);
    dort__wset_release(&src);
    dort__wset_release(&dst);
}

static void merge_cleared(void **state)
{
    (void)state;
    dort__wset_t dst, src;
    dort__wset_init(&dst);
    dort__wset_init(&src);
    put(&dst, "a", "1");
    put(&dst, "b", "2");
    put(&src, "old", "x");
    dort__wset_clear(&src); /* delete_all, then a write after it */
    put(&src, "b", "new");
    assert_int_equal(dort__wset_merge(&dst, &src), 0);
    assert_int_equal(dst.cleared, 1);
    assert_null(finds(&dst, "a"));
    assert_null(finds(&dst, "old"));
    expect(&dst, "b", "new");
    assert_int_equal(dst.count, 1);
    assert_int_equal(src.cleared, 0);
    assert_false(dort__wset_dirty(&src));

    /* A cleared dst stays cleared when an uncleared src lands on it. */
    put(&src, "c", "3");
    assert_int_equal(dort__wset_merge(&dst, &src), 0);
    assert_int_equal(dst.cleared, 1);
    expect(&dst, "b", "new");
    expect(&dst, "c", "3");
    assert_int_equal(dst.count, 2);

    /* A cleared src with no entries empties a dst with entries. */
    dort__wset_clear(&src);
    assert_int_equal(dort__wset_merge(&dst, &src), 0);
    assert_int_equal(dst.count, 0);
    assert_int_equal(dst.cleared, 1);
    assert_true(dort__wset_dirty(&dst));
    dort__wset_release(&src);
    dort__wset_release(&dst);
}

static void merge_alarm(void **state)
{
    (void)state;
    dort__wset_t dst, src;
    dort__wset_init(&dst);
    dort__wset_init(&src);

    src.alarm_op = DORT__ALARM_SET;
    src.alarm_due_ms = 1000;
    src.alarm_scheduled_ms = 900;
    src.alarm_retry = 3;
    assert_true(dort__wset_dirty(&src)); /* an alarm alone is a change */
    assert_int_equal(dort__wset_merge(&dst, &src), 0);
    assert_int_equal(dst.alarm_op, DORT__ALARM_SET);
    assert_int_equal(dst.alarm_due_ms, 1000);
    assert_int_equal(dst.alarm_scheduled_ms, 900);
    assert_int_equal(dst.alarm_retry, 3);
    assert_int_equal(src.alarm_op, DORT__ALARM_NONE);
    assert_true(dort__wset_dirty(&dst));

    /* A src that does not touch the alarm leaves dst's operation alone. */
    put(&src, "k", "v");
    assert_int_equal(dort__wset_merge(&dst, &src), 0);
    assert_int_equal(dst.alarm_op, DORT__ALARM_SET);
    assert_int_equal(dst.alarm_due_ms, 1000);

    /* delete_all does not touch the alarm either (as Cloudflare). */
    dort__wset_clear(&src);
    assert_int_equal(dort__wset_merge(&dst, &src), 0);
    assert_int_equal(dst.alarm_op, DORT__ALARM_SET);

    /* A later delete replaces the earlier set. */
    src.alarm_op = DORT__ALARM_DELETE;
    assert_int_equal(dort__wset_merge(&dst, &src), 0);
    assert_int_equal(dst.alarm_op, DORT__ALARM_DELETE);

    /* And a later set replaces the delete with its own values. */
    src.alarm_op = DORT__ALARM_SET;
    src.alarm_due_ms = 5000;
    src.alarm_scheduled_ms = 4000;
    src.alarm_retry = 0;
    assert_int_equal(dort__wset_merge(&dst, &src), 0);
    assert_int_equal(dst.alarm_op, DORT__ALARM_SET);
    assert_int_equal(dst.alarm_due_ms, 5000);
    assert_int_equal(dst.alarm_scheduled_ms, 4000);
    assert_int_equal(dst.alarm_retry, 0);
    dort__wset_release(&src);
    dort__wset_release(&dst);
}

static void expect_raw(const dort__rawop_t *op, unsigned dbi, int isdel, const char *key,
                       const char *val)
{
    assert_non_null(op);
    assert_int_equal(op->dbi_index, dbi);
    assert_int_equal(op->del, isdel);
    assert_int_equal(op->key_len, strlen(key));
    assert_memory_equal(op->key, key, op->key_len);
    assert_int_equal(op->val_len, strlen(val));
    if (op->val_len)
        assert_memory_equal(op->val, val, op->val_len);
}

static void merge_raw_in_order(void **state)
{
    (void)state;
    dort__wset_t dst, src;
    dort__wset_init(&dst);
    dort__wset_init(&src);
    char kbuf[8] = "k1";
    assert_int_equal(dort__wset_add_raw(&dst, 0, 0, kbuf, 2, "v1", 2), 0);
    /* Copied: changing the caller's buffer afterwards changes nothing. */
    kbuf[1] = '9';
    assert_int_equal(dort__wset_add_raw(&dst, 1, 1, "k2", 2, "", 0), 0);
    assert_true(dort__wset_dirty(&dst));
    assert_int_equal(dort__wset_add_raw(&src, 2, 0, "k3", 2, "v3", 2), 0);
    assert_int_equal(dort__wset_add_raw(&src, 0, 0, "k4", 2, "v4", 2), 0);
    assert_int_equal(dort__wset_merge(&dst, &src), 0);
    const dort__rawop_t *op = dst.raw_head;
    expect_raw(op, 0, 0, "k1", "v1");
    expect_raw(op = op->next, 1, 1, "k2", "");
    expect_raw(op = op->next, 2, 0, "k3", "v3");
    expect_raw(op = op->next, 0, 0, "k4", "v4");
    assert_null(op->next);
    assert_ptr_equal(dst.raw_tail, op);
    assert_null(src.raw_head);
    assert_null(src.raw_tail);
    assert_false(dort__wset_dirty(&src));

    /* Appending after a merge continues at the moved tail. */
    assert_int_equal(dort__wset_add_raw(&dst, 3, 0, "k5", 2, "v5", 2), 0);
    expect_raw(op->next, 3, 0, "k5", "v5");

    /* Raw records survive a delete_all: they belong to other databases. */
    dort__wset_clear(&dst);
    assert_non_null(dst.raw_head);

    /* A dst without records takes src's list whole. */
    dort__wset_t empty;
    dort__wset_init(&empty);
    assert_int_equal(dort__wset_add_raw(&src, 4, 0, "k6", 2, "v6", 2), 0);
    assert_int_equal(dort__wset_merge(&empty, &src), 0);
    expect_raw(empty.raw_head, 4, 0, "k6", "v6");
    assert_ptr_equal(empty.raw_head, empty.raw_tail);
    dort__wset_release(&empty);
    dort__wset_release(&src);
    dort__wset_release(&dst);
}

#define BIG 100000u

static size_t big_key(char *buf, uint32_t i)
{
    return (size_t)snprintf(buf, 32, "key-%07u", i);
}

static void growth_100k(void **state)
{
    (void)state;
    dort__wset_t ws;
    dort__wset_init(&ws);
    char k[32], v[32];
    for (uint32_t i = 0; i < BIG; i++) {
        size_t kl = big_key(k, i);
        int vl = snprintf(v, sizeof v, "v%u", i);
        assert_int_equal(dort__wset_write(&ws, k, kl, v, (uint32_t)vl), 0);
    }
    assert_int_equal(ws.count, BIG);
    /* The index stays at most half full, or probes could run forever. */
    assert_true((uint64_t)ws.index_mask + 1 >= 2 * (uint64_t)ws.count);
    for (uint32_t i = 0; i < BIG; i++) {
        size_t kl = big_key(k, i);
        const dort__wentry_t *e = find(&ws, k, kl);
        assert_non_null(e);
        int vl = snprintf(v, sizeof v, "v%u", i);
        assert_int_equal(e->val_len, (uint32_t)vl);
        assert_memory_equal(dort__wentry_val(e), v, (size_t)vl);
        /* Insertion order: entry i is the i-th key written. */
        assert_int_equal(ws.entries[i]->key_len, kl);
        assert_memory_equal(dort__wentry_key(ws.entries[i]), k, kl);
    }
    assert_null(find(&ws, "key-0100000", 11));

    /* Overwrite every odd key, delete every tenth: count and order hold. */
    for (uint32_t i = 1; i < BIG; i += 2) {
        size_t kl = big_key(k, i);
        assert_int_equal(dort__wset_write(&ws, k, kl, "odd", 3), 0);
    }
    for (uint32_t i = 0; i < BIG; i += 10) {
        size_t kl = big_key(k, i);
        assert_int_equal(dort__wset_write(&ws, k, kl, NULL, DORT__TOMBSTONE), 0);
    }
    assert_int_equal(ws.count, BIG);
    for (uint32_t i = 0; i < BIG; i++) {
        size_t kl = big_key(k, i);
        assert_memory_equal(dort__wentry_key(ws.entries[i]), k, kl);
        uint32_t want = (uint32_t)snprintf(v, sizeof v, "v%u", i);
        if (i % 10 == 0)
            want = DORT__TOMBSTONE;
        else if (i % 2)
            want = 3;
        assert_int_equal(ws.entries[i]->val_len, want);
    }

    /* Merge the whole set into a small one: 100k entries move at once. */
    dort__wset_t dst;
    dort__wset_init(&dst);
    put(&dst, "key-0000001", "first");
    put(&dst, "zzz", "last");
    assert_int_equal(dort__wset_merge(&dst, &ws), 0);
    assert_int_equal(dst.count, BIG + 1);
    assert_int_equal(ws.count, 0);
    /* key-0000001 kept its slot 0, zzz slot 1, then src's order without it. */
    assert_memory_equal(dort__wentry_key(dst.entries[0]), "key-0000001", 11);
    assert_int_equal(dst.entries[0]->val_len, 3);
    assert_memory_equal(dort__wentry_key(dst.entries[1]), "zzz", 3);
    assert_memory_equal(dort__wentry_key(dst.entries[2]), "key-0000000", 11);
    assert_memory_equal(dort__wentry_key(dst.entries[3]), "key-0000002", 11);
    assert_memory_equal(dort__wentry_key(dst.entries[BIG]), "key-0099999", 11);
    for (uint32_t i = 0; i < BIG; i += 997) {
        size_t kl = big_key(k, i);
        assert_non_null(find(&dst, k, kl));
    }
    expect(&dst, "zzz", "last");
    dort__wset_release(&dst);
    dort__wset_release(&ws);
}

static void insertion_order_interleaved(void **state)
{
    (void)state;
    dort__wset_t ws;
    dort__wset_init(&ws);
    put(&ws, "m", "1");
    put(&ws, "c", "2");
    del(&ws, "x");
    put(&ws, "a", "3");
    put(&ws, "m", "4"); /* overwrite: stays first */
    put(&ws, "x", "5"); /* tombstone then put: stays third */
    put(&ws, "b", "6");
    static const char *const order[] = {"m", "c", "x", "a", "b"};
    expect_order(&ws, order, 5);
    expect(&ws, "m", "4");
    expect(&ws, "x", "5");
    /* After a clear, order restarts from the new writes. */
    dort__wset_clear(&ws);
    put(&ws, "z", "1");
    put(&ws, "m", "2");
    static const char *const order2[] = {"z", "m"};
    expect_order(&ws, order2, 2);
    dort__wset_release(&ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(write_lookup_overwrite_tombstone),
        cmocka_unit_test(clear_and_reset),
        cmocka_unit_test(merge_src_wins),
        cmocka_unit_test(merge_cleared),
        cmocka_unit_test(merge_alarm),
        cmocka_unit_test(merge_raw_in_order),
        cmocka_unit_test(growth_100k),
        cmocka_unit_test(insertion_order_interleaved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
