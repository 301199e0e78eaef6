/* test_message.c - requests and responses (runtime/message.c) and their
 * protobuf wire form (runtime/message_codec.c).
 *
 * The whole file runs under a counting allocator installed through
 * dort_replace_allocator, so every test also checks that the ownership rules
 * of dort/message.h hold: COPY copies, TAKE frees the caller's buffer (even on
 * failure), STATIC never frees, and nothing is left allocated at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dort/dort.h>

#include "alloc_internal.h"

/* ---- a counting allocator ---- */

static long live_allocs;

static void *count_malloc(size_t n)
{
    void *p = malloc(n);
    live_allocs += p != NULL;
    return p;
}

static void *count_calloc(size_t c, size_t n)
{
    void *p = calloc(c, n);
    live_allocs += p != NULL;
    return p;
}

static void *count_realloc(void *old, size_t n)
{
    void *p = realloc(old, n);
    if (old == NULL)
        live_allocs += p != NULL;
    return p;
}

static void count_free(void *p)
{
    live_allocs -= p != NULL;
    free(p);
}

static int check_leaks(void **state)
{
    (void)state;
    long left = live_allocs;
    live_allocs = 0;
    /* Reported as a failed teardown, which fails the test. */
    if (left != 0)
        print_error("%ld dort allocations left behind\n", left);
    return left == 0 ? 0 : -1;
}

/* ---- helpers ---- */

static void expect_slice(dort_slice_t s, const void *want, size_t len)
{
    assert_int_equal(s.len, len);
    if (len)
        assert_memory_equal(s.ptr, want, len);
}

static void expect_str(dort_slice_t s, const char *want)
{
    expect_slice(s, want, strlen(want));
}

static void add_req_header(dort_request_t *r, const char *n, const char *v)
{
    assert_int_equal(dort_request_add_header(r, n, strlen(n), v, strlen(v)), 0);
}

static void add_res_header(dort_response_t *r, const char *n, const char *v)
{
    assert_int_equal(dort_response_add_header(r, n, strlen(n), v, strlen(v)), 0);
}

/* ---- requests ---- */

static void request_basics(void **state)
{
    (void)state;
    dort_request_t *r = NULL;
    assert_int_equal(dort_request_new(&r, "GET", "/counter/a?x=1"), 0);
    expect_str(dort_request_method(r), "GET");
    expect_str(dort_request_path(r), "/counter/a?x=1");
    assert_int_equal(dort_request_header_count(r), 0);
    assert_int_equal(dort_request_body(r).len, 0);
    dort_request_free(r);

    /* Lengths, not NUL terminators, bound method and path. */
    assert_int_equal(dort_request_new2(&r, "POSTX", 4, "/p?q", 2), 0);
    expect_str(dort_request_method(r), "POST");
    expect_str(dort_request_path(r), "/p");
    dort_request_free(r);

    /* An empty path is allowed, an empty method is not. */
    assert_int_equal(dort_request_new(&r, "GET", ""), 0);
    expect_str(dort_request_path(r), "");
    dort_request_free(r);

    dort_request_t *untouched = (dort_request_t *)(uintptr_t)0x1;
    r = untouched;
    assert_int_equal(dort_request_new(&r, "", "/"), DORT_EINVAL);
    assert_int_equal(dort_request_new(&r, NULL, "/"), DORT_EINVAL);
    assert_int_equal(dort_request_new(&r, "GET", NULL), DORT_EINVAL);
    assert_int_equal(dort_request_new2(&r, "GET", 0, "/", 1), DORT_EINVAL);
    assert_ptr_equal(r, untouched);
    assert_int_equal(dort_request_new(NULL, "GET", "/"), DORT_EINVAL);
    dort_request_free(NULL);
}

static void headers_order_duplicates_case(void **state)
{
    (void)state;
    dort_request_t *r;
    assert_int_equal(dort_request_new(&r, "GET", "/"), 0);
    add_req_header(r, "Content-Type", "text/plain");
    add_req_header(r, "X-Dup", "first");
    add_req_header(r, "Accept", "");
    add_req_header(r, "x-dup", "second");
    add_req_header(r, "X-DUP", "third");
    assert_int_equal(dort_request_header_count(r), 5);

    /* Arrival order, duplicates kept, names as given. */
    static const char *const names[] = {"Content-Type", "X-Dup", "Accept", "x-dup", "X-DUP"};
    static const char *const values[] = {"text/plain", "first", "", "second", "third"};
    for (size_t i = 0; i < 5; i++) {
        dort_slice_t n, v;
        assert_int_equal(dort_request_header_at(r, i, &n, &v), 0);
        expect_str(n, names[i]);
        expect_str(v, values[i]);
    }
    dort_slice_t n, v;
    assert_int_equal(dort_request_header_at(r, 5, &n, &v), DORT_ENOENT);
    assert_int_equal(dort_request_header_at(r, (size_t)-1, &n, &v), DORT_ENOENT);

    /* Case-insensitive lookup returns the first match. */
    assert_int_equal(dort_request_header(r, "x-dup", &v), 0);
    expect_str(v, "first");
    assert_int_equal(dort_request_header(r, "X-DUP", &v), 0);
    expect_str(v, "first");
    assert_int_equal(dort_request_header(r, "content-type", &v), 0);
    expect_str(v, "text/plain");
    assert_int_equal(dort_request_header(r, "CONTENT-TYPE", &v), 0);
    expect_str(v, "text/plain");
    assert_int_equal(dort_request_header(r, "accept", &v), 0);
    expect_str(v, "");
    /* Whole names only: no prefix or extension matches. */
    assert_int_equal(dort_request_header(r, "Content", &v), DORT_ENOENT);
    assert_int_equal(dort_request_header(r, "Content-Type-X", &v), DORT_ENOENT);
    assert_int_equal(dort_request_header(r, "X-Du", &v), DORT_ENOENT);
    assert_int_equal(dort_request_header(r, "", &v), DORT_ENOENT);

    /* Invalid headers are refused and change nothing. */
    assert_int_equal(dort_request_add_header(r, "", 0, "v", 1), DORT_EINVAL);
    assert_int_equal(dort_request_add_header(r, NULL, 3, "v", 1), DORT_EINVAL);
    assert_int_equal(dort_request_add_header(r, "N", 1, NULL, 2), DORT_EINVAL);
    assert_int_equal(dort_request_add_header(NULL, "N", 1, "v", 1), DORT_EINVAL);
    assert_int_equal(dort_request_header_count(r), 5);
    /* A NULL value of length 0 is an empty value. */
    assert_int_equal(dort_request_add_header(r, "Empty", 5, NULL, 0), 0);
    assert_int_equal(dort_request_header(r, "empty", &v), 0);
    assert_int_equal(v.len, 0);
    dort_request_free(r);
}

static void many_headers_and_binary_values(void **state)
{
    (void)state;
    dort_response_t *r;
    assert_int_equal(dort_response_new(&r, 200), 0);
    char name[32], value[64];
    /* Enough headers to grow both the text buffer and the header table
     * several times; every earlier header must survive the moves. */
    for (int i = 0; i < 300; i++) {
        int nl = snprintf(name, sizeof name, "H-%03d", i);
        int vl = snprintf(value, sizeof value, "value %d with bytes", i);
        value[0] = (char)(i & 0xff); /* binary, including NUL */
        assert_int_equal(dort_response_add_header(r, name, (size_t)nl, value, (size_t)vl), 0);
    }
    assert_int_equal(dort_response_header_count(r), 300);
    for (int i = 0; i < 300; i++) {
        int nl = snprintf(name, sizeof name, "H-%03d", i);
        int vl = snprintf(value, sizeof value, "value %d with bytes", i);
        value[0] = (char)(i & 0xff);
        dort_slice_t n, v;
        assert_int_equal(dort_response_header_at(r, (size_t)i, &n, &v), 0);
        expect_slice(n, name, (size_t)nl);
        expect_slice(v, value, (size_t)vl);
        name[0] = 'h'; /* lookup by a differently cased name */
        assert_int_equal(dort_response_header(r, name, &v), 0);
        expect_slice(v, value, (size_t)vl);
    }
    dort_response_free(r);
}

static void body_modes(void **state)
{
    (void)state;
    dort_request_t *r;
    assert_int_equal(dort_request_new(&r, "PUT", "/"), 0);
    long base = live_allocs;

    /* COPY: dort has its own bytes; the caller's buffer may change. */
    char buf[16] = "hello\0world";
    assert_int_equal(dort_request_set_body(r, buf, 11, DORT_BUF_COPY), 0);
    assert_int_equal(live_allocs, base + 1);
    memset(buf, 'X', sizeof buf);
    dort_slice_t b = dort_request_body(r);
    expect_slice(b, "hello\0world", 11);
    assert_ptr_not_equal(b.ptr, buf);

    /* STATIC: borrowed as is, the copy above is freed. */
    static const char fixed[] = "static body";
    assert_int_equal(dort_request_set_body(r, fixed, sizeof fixed - 1, DORT_BUF_STATIC), 0);
    assert_int_equal(live_allocs, base);
    b = dort_request_body(r);
    assert_ptr_equal(b.ptr, fixed);
    assert_int_equal(b.len, sizeof fixed - 1);

    /* TAKE: the request owns the buffer and frees it when replaced. */
    char *owned = dort__malloc(5);
    memcpy(owned, "taken", 5);
    assert_int_equal(live_allocs, base + 1);
    assert_int_equal(dort_request_set_body(r, owned, 5, DORT_BUF_TAKE), 0);
    b = dort_request_body(r);
    assert_ptr_equal(b.ptr, owned);
    expect_slice(b, "taken", 5);
    assert_int_equal(live_allocs, base + 1);
    /* Replacing the taken body frees it (the STATIC body was not freed:
     * freeing a static array would have crashed). */
    assert_int_equal(dort_request_set_body(r, NULL, 0, DORT_BUF_COPY), 0);
    assert_int_equal(live_allocs, base);
    assert_int_equal(dort_request_body(r).len, 0);

    /* An empty COPY body allocates nothing. */
    assert_int_equal(dort_request_set_body(r, "x", 0, DORT_BUF_COPY), 0);
    assert_int_equal(live_allocs, base);
    assert_int_equal(dort_request_body(r).len, 0);

    /* TAKE hands the buffer over even when the call fails. */
    owned = dort__malloc(4);
    assert_int_equal(live_allocs, base + 1);
    assert_int_equal(dort_request_set_body(NULL, owned, 4, DORT_BUF_TAKE), DORT_EINVAL);
    assert_int_equal(live_allocs, base);
    /* NULL data with a length is refused and keeps the old body. */
    assert_int_equal(dort_request_set_body(r, fixed, 3, DORT_BUF_STATIC), 0);
    assert_int_equal(dort_request_set_body(r, NULL, 3, DORT_BUF_COPY), DORT_EINVAL);
    expect_slice(dort_request_body(r), "sta", 3);

    /* Freeing the request frees a taken body. */
    owned = dort__malloc(3);
    assert_int_equal(dort_request_set_body(r, owned, 3, DORT_BUF_TAKE), 0);
    dort_request_free(r);
    /* The struct and the body are gone (short text lives inside the struct). */
    assert_int_equal(live_allocs, base - 1);

    /* The same rules for responses. */
    dort_response_t *res;
    base = live_allocs;
    assert_int_equal(dort_response_new(&res, 200), 0);
    owned = dort__malloc(2);
    assert_int_equal(dort_response_set_body(res, owned, 2, DORT_BUF_TAKE), 0);
    assert_int_equal(dort_response_set_body(res, fixed, 6, DORT_BUF_STATIC), 0);
    expect_slice(dort_response_body(res), "static", 6);
    assert_ptr_equal(dort_response_body(res).ptr, fixed);
    owned = dort__malloc(2);
    assert_int_equal(dort_response_set_body(NULL, owned, 2, DORT_BUF_TAKE), DORT_EINVAL);
    dort_response_free(res);
    assert_int_equal(live_allocs, base);
}

/* ---- responses ---- */

static void response_status_and_body(void **state)
{
    (void)state;
    dort_response_t *r = NULL, *untouched = (dort_response_t *)(uintptr_t)0x1;
    r = untouched;
    assert_int_equal(dort_response_new(&r, 99), DORT_EINVAL);
    assert_int_equal(dort_response_new(&r, 1000), DORT_EINVAL);
    assert_int_equal(dort_response_new(&r, 0), DORT_EINVAL);
    assert_int_equal(dort_response_new(&r, -200), DORT_EINVAL);
    assert_int_equal(dort_response_new_body(&r, 42, "text/plain", "x", 1), DORT_EINVAL);
    assert_ptr_equal(r, untouched);
    assert_int_equal(dort_response_new(NULL, 200), DORT_EINVAL);

    assert_int_equal(dort_response_new(&r, 100), 0);
    assert_int_equal(dort_response_status(r), 100);
    dort_response_set_status(r, 404);
    assert_int_equal(dort_response_status(r), 404);
    dort_response_free(r);
    assert_int_equal(dort_response_new(&r, 999), 0);
    assert_int_equal(dort_response_status(r), 999);
    assert_int_equal(dort_response_body(r).len, 0);
    assert_int_equal(dort_response_header_count(r), 0);
    dort_response_free(r);

    char body[] = "{\"ok\":true}";
    assert_int_equal(dort_response_new_body(&r, 201, "application/json", body, 11), 0);
    body[0] = 'X'; /* copied */
    assert_int_equal(dort_response_status(r), 201);
    expect_str(dort_response_body(r), "{\"ok\":true}");
    dort_slice_t v;
    assert_int_equal(dort_response_header(r, "content-type", &v), 0);
    expect_str(v, "application/json");
    assert_int_equal(dort_response_header_count(r), 1);
    dort_response_free(r);

    /* No content type: no header; no body: empty. */
    assert_int_equal(dort_response_new_body(&r, 204, NULL, NULL, 0), 0);
    assert_int_equal(dort_response_header_count(r), 0);
    assert_int_equal(dort_response_body(r).len, 0);
    assert_int_equal(dort_response_header(r, "Content-Type", &v), DORT_ENOENT);
    dort_response_free(r);
    dort_response_free(NULL);
}

/* ---- wire form ---- */

static void request_roundtrip(void **state)
{
    (void)state;
    dort_request_t *r;
    assert_int_equal(dort_request_new(&r, "PATCH", "/users/42?fields=a,b"), 0);
    add_req_header(r, "Host", "example.test");
    add_req_header(r, "X-Dup", "1");
    add_req_header(r, "x-dup", "2");
    add_req_header(r, "Empty", "");
    static const char binval[] = {'a', '\0', '\xff', '\x80', 'z'};
    assert_int_equal(dort_request_add_header(r, "Bin", 3, binval, sizeof binval), 0);
    /* A body with every byte value. */
    static unsigned char body[70000];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (unsigned char)(i * 31 + 7);
    assert_int_equal(dort_request_set_body(r, body, sizeof body, DORT_BUF_STATIC), 0);

    void *wire = NULL;
    size_t wire_len = 0;
    assert_int_equal(dort_request_encode(r, &wire, &wire_len), 0);
    assert_non_null(wire);
    assert_true(wire_len > sizeof body);
    dort_request_free(r);

    dort_request_t *d = NULL;
    assert_int_equal(dort_request_decode(wire, wire_len, &d), 0);
    /* The decoded request owns its bytes: scribble over and free the wire
     * before reading (ASan would catch a borrowed pointer). */
    memset(wire, 0, wire_len);
    dort_free(wire);
    expect_str(dort_request_method(d), "PATCH");
    expect_str(dort_request_path(d), "/users/42?fields=a,b");
    assert_int_equal(dort_request_header_count(d), 5);
    static const char *const names[] = {"Host", "X-Dup", "x-dup", "Empty"};
    static const char *const values[] = {"example.test", "1", "2", ""};
    dort_slice_t n, v;
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(dort_request_header_at(d, i, &n, &v), 0);
        expect_str(n, names[i]);
        expect_str(v, values[i]);
    }
    assert_int_equal(dort_request_header_at(d, 4, &n, &v), 0);
    expect_str(n, "Bin");
    expect_slice(v, binval, sizeof binval);
    assert_int_equal(dort_request_header(d, "x-DUP", &v), 0);
    expect_str(v, "1");
    expect_slice(dort_request_body(d), body, sizeof body);
    dort_request_free(d);

    /* The smallest request: method only, empty path, no headers, no body. */
    assert_int_equal(dort_request_new(&r, "GET", ""), 0);
    assert_int_equal(dort_request_encode(r, &wire, &wire_len), 0);
    dort_request_free(r);
    assert_int_equal(dort_request_decode(wire, wire_len, &d), 0);
    dort_free(wire);
    expect_str(dort_request_method(d), "GET");
    expect_str(dort_request_path(d), "");
    assert_int_equal(dort_request_header_count(d), 0);
    assert_int_equal(dort_request_body(d).len, 0);
    dort_request_free(d);
}

static void response_roundtrip(void **state)
{
    (void)state;
    static const int statuses[] = {100, 200, 204, 429, 503, 999};
    for (size_t s = 0; s < sizeof statuses / sizeof statuses[0]; s++) {
        dort_response_t *r;
        assert_int_equal(dort_response_new(&r, statuses[s]), 0);
        add_res_header(r, "Retry-After", "30");
        add_res_header(r, "Set-Cookie", "a=1");
        add_res_header(r, "set-cookie", "b=2");
        char body[32];
        int bl = snprintf(body, sizeof body, "status %d\n", statuses[s]);
        if (statuses[s] != 204)
            assert_int_equal(dort_response_set_body(r, body, (size_t)bl, DORT_BUF_COPY), 0);
        void *wire;
        size_t wire_len;
        assert_int_equal(dort_response_encode(r, &wire, &wire_len), 0);
        dort_response_free(r);
        dort_response_t *d = NULL;
        assert_int_equal(dort_response_decode(wire, wire_len, &d), 0);
        memset(wire, 0xee, wire_len);
        dort_free(wire);
        assert_int_equal(dort_response_status(d), statuses[s]);
        assert_int_equal(dort_response_header_count(d), 3);
        dort_slice_t n, v;
        assert_int_equal(dort_response_header_at(d, 2, &n, &v), 0);
        expect_str(n, "set-cookie");
        expect_str(v, "b=2");
        assert_int_equal(dort_response_header(d, "SET-COOKIE", &v), 0);
        expect_str(v, "a=1");
        assert_int_equal(dort_response_header(d, "retry-after", &v), 0);
        expect_str(v, "30");
        if (statuses[s] == 204)
            assert_int_equal(dort_response_body(d).len, 0);
        else
            expect_slice(dort_response_body(d), body, (size_t)bl);
        dort_response_free(d);
    }
}

static void expect_corrupt_request(const void *data, size_t len)
{
    dort_request_t *d = (dort_request_t *)(uintptr_t)0x1;
    assert_int_equal(dort_request_decode(data, len, &d), DORT_ECORRUPT);
    assert_ptr_equal(d, (dort_request_t *)(uintptr_t)0x1);
}

static void expect_corrupt_response(const void *data, size_t len)
{
    dort_response_t *d = (dort_response_t *)(uintptr_t)0x1;
    assert_int_equal(dort_response_decode(data, len, &d), DORT_ECORRUPT);
    assert_ptr_equal(d, (dort_response_t *)(uintptr_t)0x1);
}

static void decode_garbage(void **state)
{
    (void)state;
    /* Field 1 (method), length 5, but only 1 byte follows. */
    static const unsigned char short_len[] = {0x0a, 0x05, 'G'};
    expect_corrupt_request(short_len, sizeof short_len);
    /* A varint that never ends. */
    static const unsigned char endless[] = {0x08, 0xff, 0xff, 0xff};
    expect_corrupt_request(endless, sizeof endless);
    expect_corrupt_response(endless, sizeof endless);
    /* Wire types 6 and 7 do not exist. */
    static const unsigned char wt7[] = {0x0f, 0x00};
    static const unsigned char wt6[] = {0x0e, 0x00};
    expect_corrupt_request(wt7, sizeof wt7);
    expect_corrupt_response(wt6, sizeof wt6);
    /* Valid protobuf, invalid message: no method. */
    static const unsigned char no_method[] = {0x12, 0x01, '/'};
    expect_corrupt_request(no_method, sizeof no_method);
    static const unsigned char empty_method[] = {0x0a, 0x00, 0x12, 0x01, '/'};
    expect_corrupt_request(empty_method, sizeof empty_method);
    expect_corrupt_request("", 0); /* everything defaulted: no method */
    /* Responses whose status is out of 100..999: 0 (absent), 1000, 2^32-1. */
    expect_corrupt_response("", 0);
    static const unsigned char st1000[] = {0x08, 0xe8, 0x07};
    expect_corrupt_response(st1000, sizeof st1000);
    static const unsigned char st99[] = {0x08, 0x63};
    expect_corrupt_response(st99, sizeof st99);
    static const unsigned char stmax[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0x0f};
    expect_corrupt_response(stmax, sizeof stmax);
    /* A header with an empty name cannot be represented. */
    static const unsigned char empty_name[] = {0x0a, 0x03, 'G',  'E',  'T',
                                               0x1a, 0x03, 0x12, 0x01, 'v'};
    expect_corrupt_request(empty_name, sizeof empty_name);

    /* A real encoding cut inside its body. */
    dort_request_t *r;
    assert_int_equal(dort_request_new(&r, "POST", "/x"), 0);
    assert_int_equal(dort_request_set_body(r, "0123456789", 10, DORT_BUF_COPY), 0);
    void *wire;
    size_t wire_len;
    assert_int_equal(dort_request_encode(r, &wire, &wire_len), 0);
    dort_request_free(r);
    expect_corrupt_request(wire, wire_len - 1);
    expect_corrupt_request(wire, wire_len - 5);
    /* ...while the whole of it decodes, so the cut is what failed. */
    dort_request_t *d;
    assert_int_equal(dort_request_decode(wire, wire_len, &d), 0);
    expect_str(dort_request_body(d), "0123456789");
    dort_request_free(d);
    dort_free(wire);

    /* A minimal valid response by hand: status 200. */
    static const unsigned char st200[] = {0x08, 0xc8, 0x01};
    dort_response_t *res;
    assert_int_equal(dort_response_decode(st200, sizeof st200, &res), 0);
    assert_int_equal(dort_response_status(res), 200);
    dort_response_free(res);

    /* Argument errors are not corruption. */
    assert_int_equal(dort_request_decode(NULL, 3, &d), DORT_EINVAL);
    assert_int_equal(dort_request_decode(st200, sizeof st200, NULL), DORT_EINVAL);
    assert_int_equal(dort_response_decode(NULL, 3, &res), DORT_EINVAL);
    assert_int_equal(dort_request_encode(NULL, &wire, &wire_len), DORT_EINVAL);
    assert_int_equal(dort_response_encode(NULL, &wire, &wire_len), DORT_EINVAL);
}

/* Header names are byte strings with a length everywhere in the API; the
 * wire form must not cut one at an embedded NUL (protobuf strings carry a
 * length too). Either add_header refuses such a name or it survives the
 * round trip unchanged: silently turning "X-A\0B" into "X-A" would merge it
 * with a different header. */
static void header_name_with_nul_not_truncated(void **state)
{
    (void)state;
    dort_request_t *r;
    assert_int_equal(dort_request_new(&r, "GET", "/"), 0);
    int rc = dort_request_add_header(r, "X-A\0B", 5, "v", 1);
    if (rc == DORT_EINVAL) {
        dort_request_free(r);
        return;
    }
    assert_int_equal(rc, 0);
    void *wire;
    size_t wire_len;
    assert_int_equal(dort_request_encode(r, &wire, &wire_len), 0);
    dort_request_free(r);
    dort_request_t *d = NULL;
    rc = dort_request_decode(wire, wire_len, &d);
    dort_free(wire);
    assert_int_equal(rc, 0);
    dort_slice_t n, v;
    assert_int_equal(dort_request_header_at(d, 0, &n, &v), 0);
    dort_request_free(d);
    assert_int_equal(n.len, 5);
}

/* The same for a request's method and path, which dort_request_new2 also
 * takes with lengths: refused, or carried whole through the wire form. */
static void path_with_nul_not_truncated(void **state)
{
    (void)state;
    dort_request_t *r = NULL;
    int rc = dort_request_new2(&r, "GET", 3, "/a\0b", 4);
    if (rc == DORT_EINVAL)
        return;
    assert_int_equal(rc, 0);
    expect_slice(dort_request_path(r), "/a\0b", 4);
    void *wire;
    size_t wire_len;
    assert_int_equal(dort_request_encode(r, &wire, &wire_len), 0);
    dort_request_free(r);
    dort_request_t *d = NULL;
    rc = dort_request_decode(wire, wire_len, &d);
    dort_free(wire);
    assert_int_equal(rc, 0);
    dort_slice_t path = dort_request_path(d);
    size_t len = path.len;
    dort_request_free(d);
    assert_int_equal(len, 4);
}

int main(void)
{
    assert_int_equal(dort_replace_allocator(count_malloc, count_realloc, count_calloc, count_free),
                     0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(request_basics, check_leaks),
        cmocka_unit_test_teardown(headers_order_duplicates_case, check_leaks),
        cmocka_unit_test_teardown(many_headers_and_binary_values, check_leaks),
        cmocka_unit_test_teardown(body_modes, check_leaks),
        cmocka_unit_test_teardown(response_status_and_body, check_leaks),
        cmocka_unit_test_teardown(request_roundtrip, check_leaks),
        cmocka_unit_test_teardown(response_roundtrip, check_leaks),
        cmocka_unit_test_teardown(decode_garbage, check_leaks),
        cmocka_unit_test_teardown(header_name_with_nul_not_truncated, check_leaks),
        cmocka_unit_test_teardown(path_with_nul_not_truncated, check_leaks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
