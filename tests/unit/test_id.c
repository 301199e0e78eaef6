/* test_id.c - actor ids (runtime/id.c), derived as workerd derives Durable
 * Object ids: key = SHA-256(namespace unique key); bytes 0-15 =
 * HMAC-SHA256(key, name)[0..16) or random; bytes 16-31 =
 * HMAC-SHA256(key, bytes 0-15)[0..16). Ids cross process and storage
 * boundaries as strings, so parsing must reject anything that is not exactly
 * this namespace's id, each with its own error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dort/dort.h>

#include "th.h"

/* Known answers, computed independently of dort while writing this test:
 *
 * python3 -c "import hashlib,hmac;k=hashlib.sha256(b'RateLimiter').digest();
 *   a=hmac.new(k,b'alice',hashlib.sha256).digest()[:16];
 *   print((a+hmac.new(k,a,hashlib.sha256).digest()[:16]).hex())"
 */
static const char kat_alice[] = "fe9c7593c6bde1afa5f919e9032809e4767a694f8b9b46c2d2167bb8448f3067";
/* The same one-liner with b'' as the name. */
static const char kat_empty[] = "bd1d4d8fa2c226e6327b953262a482e38e19613952baca652019533c9302efe1";
/* Namespace "Other", first half all zero (a hand-made "unique" id):
 * python3 -c "import hashlib,hmac;k=hashlib.sha256(b'Other').digest();a=bytes(16);
 *   print((a+hmac.new(k,a,hashlib.sha256).digest()[:16]).hex())" */
static const char kat_other_zero[] =
    "00000000000000000000000000000000b7600eb868c3acae17f222cc415474ec";

static int noop_fetch(dort_actor_t *self, dort_call_t *call)
{
    (void)self;
    return dort_call_respond_body(call, 200, NULL, NULL, 0);
}

static const dort_class_t rl_class = {.name = "RateLimiter", .fetch = noop_fetch};
static const dort_class_t other_class = {.name = "OtherClass", .fetch = noop_fetch};

typedef struct fix_s {
    dort_rt_t *rt;
    dort_ns_t *rl;    /* unique key "RateLimiter" (explicit) */
    dort_ns_t *other; /* unique key "Other" */
} fix_t;

static int setup(void **state)
{
    fix_t *f = calloc(1, sizeof *f);
    dort_rt_options_t o;
    th_options(&o, NULL);
    /* Ids need only bound namespaces: the runtime is never started. */
    if (f == NULL || dort_rt_new(&f->rt, &o) != 0 ||
        dort_rt_register_class(f->rt, &rl_class) != 0 ||
        dort_rt_register_class(f->rt, &other_class) != 0 ||
        dort_rt_bind_namespace(f->rt, "RATE_LIMITER", "RateLimiter", "RateLimiter", &f->rl) != 0 ||
        dort_rt_bind_namespace(f->rt, "OTHER", "OtherClass", "Other", &f->other) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fix_t *f = *state;
    dort_rt_free(f->rt);
    free(f);
    return 0;
}

static void hex(const dort_id_t *id, char out[DORT_ID_HEX_LEN + 1])
{
    dort_id_to_string(id, out);
}

static void known_answer(void **state)
{
    fix_t *f = *state;
    dort_id_t id;
    char s[DORT_ID_HEX_LEN + 1];
    assert_int_equal(dort_id_from_name(f->rl, "alice", 5, &id), 0);
    hex(&id, s);
    assert_string_equal(s, kat_alice);
    assert_int_equal(dort_id_from_name(f->rl, NULL, 0, &id), 0);
    hex(&id, s);
    assert_string_equal(s, kat_empty);
    assert_int_equal(dort_id_from_name(f->rl, "", 0, &id), 0);
    hex(&id, s);
    assert_string_equal(s, kat_empty);
    /* A hand-made id whose check bytes were computed outside dort parses. */
    assert_int_equal(dort_id_from_string(f->other, kat_other_zero, DORT_ID_HEX_LEN, &id), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(id.bytes[i], 0);
    assert_int_equal(id.bytes[16], 0xb7);
    assert_int_equal(id.bytes[31], 0xec);
}

static void default_unique_key_is_class_name(void **state)
{
    (void)state;
    /* Binding with unique_key NULL keys the namespace by the class name, so
     * the same known answer comes out under a different binding name. */
    dort_rt_t *rt = NULL;
    dort_rt_options_t o;
    th_options(&o, NULL);
    dort_ns_t *ns = NULL;
    assert_int_equal(dort_rt_new(&rt, &o), 0);
    assert_int_equal(dort_rt_register_class(rt, &rl_class), 0);
    assert_int_equal(dort_rt_bind_namespace(rt, "LIMITS", "RateLimiter", NULL, &ns), 0);
    dort_id_t id;
    char s[DORT_ID_HEX_LEN + 1];
    assert_int_equal(dort_id_from_name(ns, "alice", 5, &id), 0);
    hex(&id, s);
    assert_string_equal(s, kat_alice);
    dort_rt_free(rt);
}

static void from_name_deterministic_per_namespace(void **state)
{
    fix_t *f = *state;
    dort_id_t a1, a2, b, other, bin1, bin2;
    assert_int_equal(dort_id_from_name(f->rl, "alice", 5, &a1), 0);
    assert_int_equal(dort_id_from_name(f->rl, "alice", 5, &a2), 0);
    assert_true(dort_id_equal(&a1, &a2));
    assert_memory_equal(a1.bytes, a2.bytes, DORT_ID_SIZE);
    assert_int_equal(dort_id_from_name(f->rl, "bob", 3, &b), 0);
    assert_false(dort_id_equal(&a1, &b));
    /* Only `len` bytes are the name: "alice" and "alic" differ. */
    assert_int_equal(dort_id_from_name(f->rl, "alice", 4, &a2), 0);
    assert_false(dort_id_equal(&a1, &a2));
    /* The same name in another namespace is another id. */
    assert_int_equal(dort_id_from_name(f->other, "alice", 5, &other), 0);
    assert_false(dort_id_equal(&a1, &other));
    assert_memory_not_equal(a1.bytes, other.bytes, 16);
    /* Names are bytes: NUL and 0xff inside a name count. */
    assert_int_equal(dort_id_from_name(f->rl, "a\0b", 3, &bin1), 0);
    assert_int_equal(dort_id_from_name(f->rl, "a\0c", 3, &bin2), 0);
    assert_false(dort_id_equal(&bin1, &bin2));
    assert_int_equal(dort_id_from_name(f->rl, "a", 1, &bin2), 0);
    assert_false(dort_id_equal(&bin1, &bin2));
    /* Every named id validates in its own namespace only. */
    char s[DORT_ID_HEX_LEN + 1];
    dort_id_t back;
    hex(&a1, s);
    assert_int_equal(dort_id_from_string(f->rl, s, DORT_ID_HEX_LEN, &back), 0);
    assert_true(dort_id_equal(&a1, &back));
    assert_int_equal(dort_id_from_string(f->other, s, DORT_ID_HEX_LEN, &back), DORT_EIDNS);
    hex(&other, s);
    assert_int_equal(dort_id_from_string(f->other, s, DORT_ID_HEX_LEN, &back), 0);
    assert_true(dort_id_equal(&other, &back));
    assert_int_equal(dort_id_from_string(f->rl, s, DORT_ID_HEX_LEN, &back), DORT_EIDNS);
}

#define NUNIQUE 200

static void unique_ids_differ_and_validate(void **state)
{
    fix_t *f = *state;
    static dort_id_t ids[NUNIQUE];
    for (int i = 0; i < NUNIQUE; i++) {
        assert_int_equal(dort_id_unique(f->rl, &ids[i]), 0);
        for (int j = 0; j < i; j++)
            assert_false(dort_id_equal(&ids[i], &ids[j]));
        char s[DORT_ID_HEX_LEN + 1];
        hex(&ids[i], s);
        dort_id_t back;
        assert_int_equal(dort_id_from_string(f->rl, s, DORT_ID_HEX_LEN, &back), 0);
        assert_true(dort_id_equal(&ids[i], &back));
        assert_int_equal(dort_id_from_string(f->other, s, DORT_ID_HEX_LEN, &back), DORT_EIDNS);
    }
    /* The random halves are not constant: some byte differs across ids in
     * every position of the first half (a fixed byte would mean a weak RNG
     * or a copy bug). */
    for (int b = 0; b < 16; b++) {
        int varies = 0;
        for (int i = 1; i < NUNIQUE && !varies; i++)
            varies = ids[i].bytes[b] != ids[0].bytes[b];
        assert_true(varies);
    }
}

static void to_string_format(void **state)
{
    fix_t *f = *state;
    dort_id_t id;
    for (int i = 0; i < DORT_ID_SIZE; i++)
        id.bytes[i] = (uint8_t)(i * 8 + 7);
    char s[DORT_ID_HEX_LEN + 8];
    memset(s, 'X', sizeof s);
    dort_id_to_string(&id, s);
    assert_int_equal(strlen(s), DORT_ID_HEX_LEN);
    assert_string_equal(s, "070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff");
    assert_int_equal(s[DORT_ID_HEX_LEN + 1], 'X'); /* nothing written past the NUL */
    /* Round trip through a string for a named id. */
    assert_int_equal(dort_id_from_name(f->rl, "alice", 5, &id), 0);
    dort_id_to_string(&id, s);
    dort_id_t back;
    assert_int_equal(dort_id_from_string(f->rl, s, strlen(s), &back), 0);
    assert_memory_equal(back.bytes, id.bytes, DORT_ID_SIZE);
}

static void from_string_rejects(void **state)
{
    fix_t *f = *state;
    char s[DORT_ID_HEX_LEN + 2];
    dort_id_t out, sentinel;
    memset(sentinel.bytes, 0x5a, DORT_ID_SIZE);

#define EXPECT_REJECT(str, len, code)                                                              \
    do {                                                                                           \
        out = sentinel;                                                                            \
        assert_int_equal(dort_id_from_string(f->rl, (str), (len), &out), (code));                  \
        /* `out` is written only on success */                                                     \
        assert_memory_equal(out.bytes, sentinel.bytes, DORT_ID_SIZE);                              \
    } while (0)

    /* Wrong length, whatever the characters. */
    memcpy(s, kat_alice, DORT_ID_HEX_LEN + 1);
    EXPECT_REJECT(s, 63, DORT_EIDLEN);
    EXPECT_REJECT(s, 0, DORT_EIDLEN);
    EXPECT_REJECT("", 0, DORT_EIDLEN);
    EXPECT_REJECT(s, 32, DORT_EIDLEN);
    s[64] = '0';
    s[65] = '\0';
    EXPECT_REJECT(s, 65, DORT_EIDLEN);
    EXPECT_REJECT("zz", 2, DORT_EIDLEN); /* length is checked before the alphabet */

    /* Uppercase hex is refused: ids have exactly one string form. */
    memcpy(s, kat_alice, DORT_ID_HEX_LEN + 1);
    s[0] = 'F';
    EXPECT_REJECT(s, DORT_ID_HEX_LEN, DORT_EIDHEX);
    memcpy(s, kat_alice, DORT_ID_HEX_LEN + 1);
    s[63] = 'F'; /* last character, inside the check bytes */
    EXPECT_REJECT(s, DORT_ID_HEX_LEN, DORT_EIDHEX);
    /* Non-hex characters anywhere. */
    static const char bad[] = {'g', 'G', ' ', '-', 'x', '\0', ':', '/', '@', '`', '\xff'};
    for (size_t b = 0; b < sizeof bad; b++) {
        memcpy(s, kat_alice, DORT_ID_HEX_LEN + 1);
        s[(b * 13) % DORT_ID_HEX_LEN] = bad[b];
        EXPECT_REJECT(s, DORT_ID_HEX_LEN, DORT_EIDHEX);
    }

    /* Another namespace's id, and an id with a damaged check half. */
    EXPECT_REJECT(kat_other_zero, DORT_ID_HEX_LEN, DORT_EIDNS);
    memcpy(s, kat_alice, DORT_ID_HEX_LEN + 1);
    s[40] = s[40] == '0' ? '1' : '0';
    EXPECT_REJECT(s, DORT_ID_HEX_LEN, DORT_EIDNS);
    /* A changed name half no longer matches its check half either. */
    memcpy(s, kat_alice, DORT_ID_HEX_LEN + 1);
    s[5] = s[5] == 'a' ? 'b' : 'a';
    EXPECT_REJECT(s, DORT_ID_HEX_LEN, DORT_EIDNS);
#undef EXPECT_REJECT

    /* The untouched string parses to the known id. */
    assert_int_equal(dort_id_from_string(f->rl, kat_alice, DORT_ID_HEX_LEN, &out), 0);
    char back[DORT_ID_HEX_LEN + 1];
    dort_id_to_string(&out, back);
    assert_string_equal(back, kat_alice);
}

static void invalid_arguments(void **state)
{
    fix_t *f = *state;
    dort_id_t id;
    assert_int_equal(dort_id_from_name(NULL, "a", 1, &id), DORT_EINVAL);
    assert_int_equal(dort_id_from_name(f->rl, "a", 1, NULL), DORT_EINVAL);
    assert_int_equal(dort_id_from_name(f->rl, NULL, 3, &id), DORT_EINVAL);
    assert_int_equal(dort_id_unique(NULL, &id), DORT_EINVAL);
    assert_int_equal(dort_id_unique(f->rl, NULL), DORT_EINVAL);
    assert_int_equal(dort_id_from_string(NULL, kat_alice, DORT_ID_HEX_LEN, &id), DORT_EINVAL);
    assert_int_equal(dort_id_from_string(f->rl, kat_alice, DORT_ID_HEX_LEN, NULL), DORT_EINVAL);
    assert_int_equal(dort_id_from_string(f->rl, NULL, DORT_ID_HEX_LEN, &id), DORT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(known_answer, setup, teardown),
        cmocka_unit_test(default_unique_key_is_class_name),
        cmocka_unit_test_setup_teardown(from_name_deterministic_per_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(unique_ids_differ_and_validate, setup, teardown),
        cmocka_unit_test_setup_teardown(to_string_format, setup, teardown),
        cmocka_unit_test_setup_teardown(from_string_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
