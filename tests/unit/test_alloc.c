/* test_alloc.c - every allocation of the library goes through the
 * replaceable allocator, and a full runtime life frees all it took. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "kv_actor.h"
#include "th.h"

static long live, total;

static void *c_malloc(size_t n)
{
    void *p = malloc(n);
    if (p) {
        live++;
        total++;
    }
    return p;
}

static void *c_realloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q && !p) {
        live++;
        total++;
    }
    return q;
}

static void *c_calloc(size_t a, size_t b)
{
    void *p = calloc(a, b);
    if (p) {
        live++;
        total++;
    }
    return p;
}

static void c_free(void *p)
{
    if (p)
        live--;
    free(p);
}

static void allocations_balance(void **state)
{
    (void)state;
    assert_int_equal(dort_replace_allocator(NULL, c_realloc, c_calloc, c_free), DORT_EINVAL);
    assert_int_equal(dort_replace_allocator(c_malloc, c_realloc, c_calloc, c_free), 0);
    static const dort_class_t *const classes[] = {&th_kv_class, NULL};
    dort_rt_options_t o;
    th_options(&o, NULL);
    dort_rt_t *rt = th_start(&o, classes);
    assert_non_null(rt);
    char out[256];
    assert_int_equal(th_kv(rt, "a", "put k v\nput j w\nlist\ndel k\nsetalarm 1", out, sizeof out),
                     0);
    th_run_for(rt, 100);
    th_stop(rt);
    assert_true(total > 20);
    assert_int_equal(live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(allocations_balance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
